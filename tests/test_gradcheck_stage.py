"""The gradient-check stage: what the rule runs, on traces trained from config/test.yaml;
a broken engine makes it fail with a message naming the experiment, variant, layer and
tensor; and, through Snakemake, a failed check publishes neither summary nor report."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from backproplab import config as cfg
from backproplab import datasets
from backproplab.engine.activations import Sigmoid
from backproplab.experiments import plan
from backproplab.gradcheck import checks as gc
from backproplab.gradcheck import job
from backproplab.gradcheck import plan as stage
from backproplab.gradcheck import references as refs
from backproplab.gradcheck import seed_formulas as sf
from backproplab.gradcheck.summary import write_summary
from backproplab.gradcheck.tables import write_frame
from backproplab.training import job as train_job


@pytest.fixture(scope="module")
def trained(root, tmp_path_factory):
    """config/test.yaml's data sets and traces, made by the pipeline's own functions, and
    the gradcheck rule's inputs (as ``gradcheck_inputs`` in common.smk names them)."""
    work = tmp_path_factory.mktemp("gradcheck")
    the_plan = plan(cfg.validate(cfg.load(root / "config" / "test.yaml")))
    for name in {e.dataset for e in the_plan.experiments.values()}:
        datasets.make(the_plan.config["datasets"][name], work / f"{name}.parquet")
    inputs = {}
    for name, exp in the_plan.experiments.items():
        inputs[f"{name}_dataset"] = str(work / f"{exp.dataset}.parquet")
        for table in ("runs", "state"):
            inputs[f"{name}_{table}"] = [
                str(work / name / table / f"{b.name}.parquet") for b in exp.blocks
            ]
        for block in exp.blocks:
            out = {
                t: work / name / t / f"{block.name}.parquet"
                for t in ("runs", "metrics", "state", "norms")
            }
            train_job.train_block(
                the_plan.block_spec(name, block.name), inputs[f"{name}_dataset"], out
            )
    return the_plan, inputs, work


@pytest.fixture
def broken_sigmoid_derivative(monkeypatch):
    """The engine with a wrong sigmoid derivative: a instead of a (1 - a)."""

    def backward(self, z, a, grad_a, out=None):
        return np.multiply(grad_a, a, out=out)

    monkeypatch.setattr(Sigmoid, "backward", backward)


def test_the_stage_checks_every_variant_seed_checkpoint_layer_and_tensor(trained):
    the_plan, inputs, work = trained
    out = work / "gradcheck.parquet"
    job.gradcheck(stage.stage_spec(the_plan), inputs, {"gradcheck": out})
    table = pd.read_parquet(out)
    assert table.passed.all()
    expected = 0
    for exp in the_plan.experiments.values():
        seeds = min(len(exp.spec["seeds"]), the_plan.config["validation"]["seeds"])
        for v in exp.variants:
            expected += seeds * 2 * (2 * (len(v.model.sizes) - 1) + 1)
    assert len(table) == expected
    key = ["experiment", "variant", "seed", "checkpoint", "layer", "tensor"]
    assert not table.duplicated(key).any()
    assert set(table.checkpoint) == {"initial", "trained"}
    trained_rows = table[table.checkpoint == "trained"]
    assert (trained_rows.epoch > 0).all() and (
        table[table.checkpoint == "initial"].epoch == 0
    ).all()
    directions = table[table.tensor == "all"]
    assert (directions.layer == -1).all()
    assert (directions.n_entries == the_plan.config["validation"]["directions"]).all()
    weights = table[(table.tensor == "W") & (table.experiment == "encoder")]
    assert set(weights.n_entries) == {24}  # 8 x 3 and 3 x 8
    assert (table.step == the_plan.config["validation"]["step"]).all()
    assert (table.max_rel_error < 1e-6).all()


def test_a_broken_engine_fails_the_stage_naming_where(trained, broken_sigmoid_derivative):
    the_plan, inputs, work = trained
    out = work / "broken.parquet"
    pattern = (
        r"experiment 'encoder', variant 'loss-half_sse', seed 0, initial parameters, "
        r"layer 0, tensor W: \d+ of 24 entries off"
    )
    with pytest.raises(gc.GradcheckError, match=pattern) as failure:
        job.gradcheck(stage.stage_spec(the_plan), inputs, {"gradcheck": out})
    message = str(failure.value)
    # Every variant that differentiates a sigmoid fails, in every layer; moons, whose
    # sigmoid output is fused with bce and whose hidden layers are leaky ReLUs, does not.
    assert "variant 'loss-mse'" in message
    assert (
        "experiment 'mazur', variant 'base', seed 0, trained parameters, layer 1, tensor b"
        in message
    )
    assert "experiment 'moons'" not in message
    assert "all layers along random directions" in message
    assert not out.exists()


def test_runs_that_diverged_are_not_checked_at_their_end():
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d", "e", "f"],
            "seed": [0, 0, 1, 1, 2, 2],
            "lr": [5.0, 0.1, 5.0, 0.1, 5.0, 0.1],
            "status": ["diverged", "ok", "diverged", "diverged", "ok", "ok"],
        }
    )
    chosen = gc.choose_runs(runs, [0, 1, 2], [5.0, 0.1], 2)
    assert [(c["run_id"], c["trained"]) for c in chosen] == [("b", True), ("e", True)]
    everything = runs.assign(status="diverged")
    chosen = gc.choose_runs(everything, [0, 1, 2], [5.0, 0.1], 2)
    assert [(c["run_id"], c["trained"]) for c in chosen] == [("a", False), ("c", False)]


def test_runs_frozen_at_epoch_0_are_checked_at_their_initial_parameters_drawn_again(
    trained, tmp_path
):
    """A run frozen at epoch 0 (initial weights past the bound) has no state rows at all;
    the check draws its initial parameters again from the block spec in the state file's
    metadata, bit for bit what the trace would have recorded. A missing run that did not
    freeze at epoch 0 is still an error."""
    from backproplab import traces

    the_plan, inputs, _ = trained
    for name in the_plan.experiments:
        empty = []
        for original in inputs[f"{name}_state"]:
            path = tmp_path / name / Path(original).name
            meta = traces.read_metadata(original)
            traces.write_table(path, traces.STATE_SCHEMA.empty_table(), meta)
            empty.append(str(path))
        runs = pd.concat([pd.read_parquet(p) for p in inputs[f"{name}_runs"]])
        ids = runs.run_id.astype(str).tolist()
        sizes = json.loads(runs.sizes.iloc[0])
        recorded = traces.read_params(inputs[f"{name}_state"], ids, sizes, 0)
        frozen = runs.assign(status="diverged", diverged_epoch=0)
        drawn = gc.initial_parameters(empty, frozen, ids, sizes)
        for (W, b), (Wd, bd) in zip(recorded, drawn, strict=True):
            np.testing.assert_array_equal(W, Wd)
            np.testing.assert_array_equal(b, bd)
        with pytest.raises(gc.GradcheckError, match="the state tables lack W or b at epoch 0"):
            gc.initial_parameters(empty, runs, ids, sizes)


def test_the_subsample_is_fixed_and_in_data_set_order():
    X = np.arange(20.0)[:, None]
    a, _ = gc.subsample(X, X, 8, seed=0)
    b, _ = gc.subsample(X, X, 8, seed=0)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 8 and np.all(np.diff(a[:, 0]) > 0)
    assert gc.subsample(X, X, 50, seed=0)[0] is X


def test_the_summary_reports_the_three_tables(trained):
    the_plan, inputs, work = trained
    settings = the_plan.config["validation"]
    job.gradcheck(stage.stage_spec(the_plan), inputs, {"gradcheck": work / "gradcheck.parquet"})
    write_frame(refs.compute_references(settings["references"]), work / "refs.parquet", {})
    formulas = sf.check_seed_formulas(settings)
    write_frame(formulas, work / "formulas.parquet", {})
    write_summary(
        work / "gradcheck.parquet", work / "formulas.parquet", work / "refs.parquet", work / "s.md"
    )
    text = (work / "s.md").read_text()
    for heading in (
        "Backpropagation against central differences",
        "seeds' own gradient",
        "Worked examples",
    ):
        assert heading in text
    assert re.search(r"\*\*All \d+ checks pass\*\*", text)
    for name in formulas.formula.unique():
        assert re.search(rf"\| {name} \| \d+ \| .* \| yes \|", text), name
    assert "mazur: published numbers against the engine's" in text
    assert "| total error after one step | as computed" in text


@pytest.mark.slow
def test_through_snakemake_a_failed_check_publishes_nothing(root, tmp_path, copy_workflow):
    """The mazur experiment alone, with thresholds no float64 gradient can meet: the
    gradcheck job fails naming where, and neither the summary nor the report is built."""
    copy_workflow(tmp_path)
    config = yaml.safe_load((root / "config" / "test.yaml").read_text())
    config["experiments"] = {"mazur": config["experiments"]["mazur"]}
    config["datasets"] = {"mazur": config["datasets"]["mazur"]}
    config["validation"].update(max_relative_error=1e-15, max_absolute_error=0.0)
    (tmp_path / "config" / "strict.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/strict.yaml"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "validation" / "gradcheck.log").read_text()
    assert (
        "experiment 'mazur', variant 'base', seed 0, initial parameters, layer 0, tensor W" in log
    )
    assert "GradcheckError" in proc.stdout + proc.stderr
    assert not (tmp_path / "results" / "validation" / "gradcheck.parquet").exists()
    assert not (tmp_path / "results" / "validation" / "summary.md").exists()
    assert not (tmp_path / "results" / "report").exists()
