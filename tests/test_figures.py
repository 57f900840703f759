"""Figures from traces: every kind renders from config/test.yaml's traces into a PNG that
decodes, a PDF and a caption; the same inputs give the same bytes; options are checked
against the experiment when the workflow is parsed; and diverged runs are marked."""

import copy
import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from backproplab import config as cfg
from backproplab import datasets, figures
from backproplab.config import ConfigError
from backproplab.experiments import plan
from backproplab.figures import catalog
from backproplab.figures.perturbation import nudge
from backproplab.training import job as train_job


def _plan(config):
    p = plan(cfg.validate(config))
    catalog.check(p)
    return p


def _train(p, base):
    """Generate the data sets and train every block of plan ``p`` under ``base``."""
    for name in {e.dataset for e in p.experiments.values()}:
        datasets.make(p.config["datasets"][name], base / f"datasets/{name}.parquet")
    for exp in p.experiments.values():
        for block in exp.blocks:
            out = {
                t: base / f"traces/{exp.name}/{t}/{block.name}.parquet"
                for t in ("runs", "metrics", "state", "norms")
            }
            spec = p.block_spec(exp.name, block.name)
            train_job.train_block(spec, base / f"datasets/{exp.dataset}.parquet", out)


def _render(p, base, experiment, kind, out_dir):
    exp = p.experiments[experiment]
    kind_info = catalog.KINDS[kind]
    inputs = {
        t: [base / f"traces/{experiment}/{t}/{b.name}.parquet" for b in exp.blocks]
        for t in kind_info.tables
    }
    if kind_info.dataset:
        inputs["dataset"] = base / f"datasets/{exp.dataset}.parquet"
    out = {s: out_dir / f"{experiment}-{kind}.{s}" for s in ("png", "pdf", "json")}
    record = figures.render(catalog.figure_spec(exp, kind), inputs, out)
    return out, record


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, root):
    """config/test.yaml trained in-process, and every figure it asks for drawn."""
    base = tmp_path_factory.mktemp("figures")
    p = _plan(cfg.load(root / "config" / "test.yaml"))
    _train(p, base)
    out_dir = base / "figures"
    drawn = {}
    for exp in p.experiments.values():
        for kind in exp.spec["figures"]:
            drawn[(exp.name, kind)] = _render(p, base, exp.name, kind, out_dir)
    return p, base, drawn


def test_the_test_config_draws_every_kind(test_config):
    kinds = {k for e in test_config["experiments"].values() for k in e.get("figures", {})}
    assert kinds == set(catalog.KINDS)


def test_every_figure_is_a_decodable_png_a_pdf_and_a_caption(rendered):
    _, _, drawn = rendered
    for (experiment, kind), (out, record) in drawn.items():
        image = Image.open(io.BytesIO(out["png"].read_bytes()))
        image.load()
        assert image.size[0] > 300 and image.size[1] > 200, (experiment, kind)
        assert round(image.info["dpi"][0]) == 150
        pixels = np.asarray(image.convert("L"), dtype=float)
        assert pixels.std() > 5, f"{experiment}/{kind} looks blank"
        pdf = out["pdf"].read_bytes()
        assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf
        saved = json.loads(out["json"].read_text())
        assert saved == record and len(saved["caption"]) > 40
        assert saved["experiment"] == experiment and saved["figure"] == kind


def test_the_same_traces_give_the_same_bytes(rendered, tmp_path):
    p, base, drawn = rendered
    for experiment, kind in [("encoder", "learning_curves"), ("moons", "decision_boundary")]:
        again, _ = _render(p, base, experiment, kind, tmp_path)
        first, _ = drawn[(experiment, kind)]
        for suffix in ("png", "pdf", "json"):
            assert again[suffix].read_bytes() == first[suffix].read_bytes(), suffix


def test_figures_report_what_the_traces_hold(rendered):
    _, _, drawn = rendered
    diagram = drawn[("mazur", "network_diagram")][1]["facts"]
    published = [0.149780716, 0.19956143, 0.24975114, 0.29950229, 0.35891648, 0.408666186]
    assert diagram["weights_after"][:6] == pytest.approx(published, abs=1e-8)
    assert diagram["loss_before"] == pytest.approx(0.298371109, abs=1e-9)
    fan = drawn[("encoder", "ulp_fanout")][1]["facts"]
    assert fan["unperturbed_copy_reproduces_trace"] is True
    assert len(fan["nudged"]) == 3
    code = drawn[("encoder", "hidden_code")][1]["facts"]
    assert code["patterns"] == 8 and len(code["final_codes"]) == 8
    boundary = drawn[("moons", "decision_boundary")][1]["facts"]
    assert [panel["run_id"].split("/")[1] for panel in boundary["panels"]] == ["literal", "sound"]


def test_one_figure_params_do_not_depend_on_another_figures_options(test_config):
    before = _plan(test_config).experiments["encoder"]
    changed = copy.deepcopy(test_config)
    changed["experiments"]["encoder"]["figures"]["learning_curves"]["band"] = "std"
    after = _plan(changed).experiments["encoder"]
    assert catalog.figure_spec(before, "weights") == catalog.figure_spec(after, "weights")
    assert catalog.figure_spec(before, "learning_curves") != catalog.figure_spec(
        after, "learning_curves"
    )


@pytest.mark.parametrize(
    ("experiment", "figure", "message"),
    [
        ("moons", {"predictions": {"variants": ["literal", "bold"]}}, "predictions.variants"),
        ("moons", {"decision_boundary": {"seed": 7}}, "decision_boundary.seed: 7"),
        ("moons", {"hidden_code": {}}, "needs ['a']"),
        ("encoder", {"dataset": {}}, "has 8 features (two needed)"),
        ("encoder", {"learning_curves": {"metrics": ["loss", "test_loss"]}}, "not recorded"),
        ("mazur", {"loss_comparison": {}}, "compares variants"),
        ("mazur", {"network_diagram": {"epoch": 5}}, "epoch(s) [5] are not recorded"),
        ("encoder", {"weights": {"layers": [2]}}, "out of range"),
    ],
)
def test_figure_options_are_checked_against_the_experiment(
    test_config, experiment, figure, message
):
    test_config["experiments"][experiment]["figures"] = figure
    with pytest.raises(ConfigError, match=None) as err:
        _plan(test_config)
    assert f"experiments.{experiment}.figures." in str(err.value)
    assert message in str(err.value)


def test_unknown_figure_kinds_and_options_are_rejected_by_the_schema(test_config):
    test_config["experiments"]["moons"]["figures"] = {"scatter": {}}
    with pytest.raises(ConfigError, match="experiments.moons.figures: unknown key 'scatter'"):
        cfg.validate(test_config)
    test_config["experiments"]["moons"]["figures"] = {"dataset": {"colour": "red"}}
    with pytest.raises(ConfigError, match="figures.dataset: unknown key 'colour'"):
        cfg.validate(test_config)


def test_diverged_runs_are_marked(test_config, tmp_path):
    config = copy.deepcopy(test_config)
    enc = config["experiments"]["encoder"]
    enc["learning_rates"] = [0.2, 1.0e7]
    enc["train"]["epochs"] = 5
    enc["trace"] = {"state": ["W", "b"], "state_every": 5, "norms_every": 1}
    enc["figures"] = {
        "lr_sensitivity": {},
        "sweep_heatmap": {},
        "learning_curves": {"metrics": ["loss", "accuracy"]},
    }
    config["experiments"] = {"encoder": enc}
    p = _plan(config)
    _train(p, tmp_path)
    sens = _render(p, tmp_path, "encoder", "lr_sensitivity", tmp_path)[1]
    heat = _render(p, tmp_path, "encoder", "sweep_heatmap", tmp_path)[1]
    curves = _render(p, tmp_path, "encoder", "learning_curves", tmp_path)[1]
    runs = pd.read_parquet(tmp_path / "traces/encoder/runs")
    gone = int((runs.status == "diverged").sum())
    assert gone > 0 and set(runs[runs.status == "diverged"].lr) == {1.0e7}
    assert sens["facts"]["diverged_runs"] == gone == heat["facts"]["diverged_runs"]
    assert f"{gone} of {len(runs)} runs diverged" in sens["caption"]
    assert curves["facts"]["diverged_runs"] == gone
    assert "diverged" in curves["caption"]


def test_nudge_moves_by_units_in_the_last_place():
    assert nudge(1.0, 1) == np.nextafter(1.0, 2.0)
    assert nudge(1.0, -2) == np.nextafter(np.nextafter(1.0, 0.0), 0.0)
    assert nudge(-0.5, 1) > -0.5


def test_a_single_run_is_drawn_as_itself(rendered, tmp_path, test_config):
    _, base, _ = rendered
    test_config["experiments"]["mazur"]["figures"] = {"learning_curves": {}}
    p = _plan(test_config)
    record = _render(p, base, "mazur", "learning_curves", tmp_path)[1]
    assert "one run, mazur/base/lr=0.5/seed=0" in record["caption"]
    assert "band" not in record["caption"]


def test_ulp_fanout_retrains_with_the_runs_own_divergence_rules(test_config, tmp_path):
    """A parameter bound tighter than the default freezes seed 3's run at epoch 30 of 60:
    the figure's copies must be retrained with that bound too (the run table does not
    hold it; the block spec in the trace's metadata does)."""
    config = copy.deepcopy(test_config)
    exp = config["experiments"]["encoder"]
    config["experiments"] = {"encoder": exp}
    exp["model"]["loss"] = "half_sse"
    exp["seeds"], exp["learning_rates"] = [0, 3], [20.0]
    exp["train"].update(epochs=60, diverge_above=4.0)
    exp["figures"] = {"ulp_fanout": {"nudges": 2, "marks": [5, 45], "seed": 3}}
    p = _plan(config)
    _train(p, tmp_path)
    runs = pd.read_parquet(tmp_path / "traces" / "encoder" / "runs").set_index("seed")
    assert runs.loc[3, "status"] == "diverged" and runs.loc[3, "diverged_epoch"] == 30
    _, record = _render(p, tmp_path, "encoder", "ulp_fanout", tmp_path)
    facts = record["facts"]
    assert facts["unperturbed_copy_reproduces_trace"] is True
    # The copies freeze where the run froze (retrained without its bound, they went on
    # to a final loss of 0.15 the run never had).
    assert facts["max_relative_difference"]["45"] is None and facts["final_loss"] is None
