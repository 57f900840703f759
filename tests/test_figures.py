"""Figures from traces: every kind renders from config/test.yaml's traces into a PNG that
decodes, a PDF and a caption; the same inputs give the same bytes; options are checked
against the experiment when the workflow is parsed; and diverged runs are marked, never
a crash, whether their values are huge, infinite or NaN."""

import copy
import io
import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
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
    record = figures.render(catalog.figure_spec(exp, kind, p.config), inputs, out)
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


def test_one_job_draws_an_experiments_figures_reading_each_file_once(
    rendered, tmp_path, monkeypatch
):
    """figures.render_experiment (the workflow's job per experiment) draws the bytes that
    one job per figure draws, each into its own files, and reads each trace file once."""
    p, base, drawn = rendered
    exp = p.experiments["encoder"]
    kinds = exp.spec["figures"]
    inputs = {
        t: [base / f"traces/encoder/{t}/{b.name}.parquet" for b in exp.blocks]
        for t in ("runs", "metrics", "state", "norms")
    }
    inputs["dataset"] = base / f"datasets/{exp.dataset}.parquet"
    out = {f"{k}_{s}": tmp_path / f"{k}.{s}" for k in kinds for s in ("png", "pdf", "json")}
    reads = []
    read_frame = figures.traces.read_frame

    def counting(path, *args, **kwargs):
        reads.append(path)
        return read_frame(path, *args, **kwargs)

    monkeypatch.setattr(figures.traces, "read_frame", counting)
    specs = {k: catalog.figure_spec(exp, k, p.config) for k in kinds}
    records = figures.render_experiment(specs, inputs, out)
    assert [r["figure"] for r in records] == list(kinds) and len(kinds) > 5
    for kind in kinds:
        alone, _ = drawn[("encoder", kind)]
        for suffix in ("png", "pdf", "json"):
            assert out[f"{kind}_{suffix}"].read_bytes() == alone[suffix].read_bytes(), kind
    tables = ("runs", "metrics", "state", "norms")
    assert len(reads) == len(set(reads)) == 1 + sum(len(inputs[t]) for t in tables)


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


# Figure options that draw a single run: the run at lr 1e20 (its loss reaches 1e280
# before it overflows and is frozen).
_ONE_RUN = (
    "weights",
    "biases",
    "hidden_code",
    "gradient_flow",
    "ulp_fanout",
    "loss_comparison",
    "composite",
)
_ONE_RUN_PER_VARIANT = ("decision_boundary", "boundary_epochs", "predictions")


def _astronomic(test_config) -> dict:
    """config/test.yaml with the divergence rules off and learning rates up to 1e150:
    recorded losses reach 1e280, weights 1e150, and runs overflow to inf or NaN."""
    config = copy.deepcopy(test_config)
    for exp in config["experiments"].values():
        exp["train"].update(diverge_above=None, diverge_factor=None)
    encoder, moons, mazur = (config["experiments"][e] for e in ("encoder", "moons", "mazur"))
    encoder["model"]["activations"] = ["relu", "identity"]
    moons["train"]["batch_size"] = None
    for exp in (encoder, moons):
        exp["learning_rates"] = [0.2, 1.0e3, 1.0e20, 1.0e150]
        for kind, options in exp["figures"].items():
            if kind in _ONE_RUN + _ONE_RUN_PER_VARIANT:
                options["lr"] = 1.0e20
    mazur["learning_rates"] = [1.0e150]
    # The encoder's variants train different losses: the sweep compares them on mse, a
    # metric both record, whose values go off the scale.
    encoder["figures"]["lr_sensitivity"] = {"metric": "mse"}
    return config


def _doctor(base, experiment):
    """Replace recorded values by inf and NaN, as no training run writes them (the engine
    freezes a run at its first non-finite loss): in every float column of the metrics and
    norms tables from the second record on, and in the run table's final metrics, inf for
    the lr 1e3 runs and NaN for the lr 1e20 runs; in the state, the lr 1e20 runs' last
    record alternates inf, -inf and NaN."""
    from backproplab import traces

    runs = pd.read_parquet(base / f"traces/{experiment}/runs")
    to_inf = set(runs.run_id[runs.lr == 1.0e3].astype(str))
    to_nan = set(runs.run_id[runs.lr == 1.0e20].astype(str))
    for path in sorted((base / f"traces/{experiment}").glob("*/*.parquet")):
        table = traces.read_table(path)
        frame = table.to_pandas()
        run = frame["run_id"].astype(str)
        later = frame["epoch"] > frame["epoch"].min() if "epoch" in frame else True
        if path.parent.name == "state":
            last = frame["epoch"] == frame.groupby("run_id", observed=True)["epoch"].transform(
                "max"
            )
            where = (run.isin(to_nan) & last).to_numpy()
            frame.loc[where, "value"] = np.resize([np.inf, -np.inf, np.nan], where.sum())
        else:
            floats = [c for c in frame.columns if frame[c].dtype == float]
            if path.parent.name == "runs":  # the final metrics, not the settings
                floats = [c for c in floats if c.startswith("final_")]
            frame.loc[run.isin(to_inf) & later, floats] = np.inf
            frame.loc[run.isin(to_nan) & later, floats] = np.nan
        meta = traces.read_metadata(path)
        new = pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False)
        traces.write_table(path, new, meta)


def test_every_kind_draws_runs_diverged_to_huge_inf_and_nan(test_config, tmp_path):
    """A diverged run never crashes a figure: every kind drawn on runs whose recorded
    values reach 1e280 (no figure can place them; the learning-curves figure crashed with
    matplotlib's OverflowError on a loss of 2.3e277) and on the same traces with inf and
    NaN in every float column; what cannot be drawn is marked and the caption says so."""
    p = _plan(_astronomic(test_config))
    natural, doctored = tmp_path / "natural", tmp_path / "doctored"
    _train(p, natural)
    metrics = pd.read_parquet(natural / "traces/encoder/metrics")
    assert metrics["loss"].max() > 1e250 and np.isfinite(metrics["loss"]).all()
    runs = pd.read_parquet(natural / "traces/encoder/runs")
    assert (runs[runs.lr == 1.0e20].status == "diverged").all()  # overflowed, then frozen
    shutil.copytree(natural, doctored)
    for experiment in ("encoder", "moons"):
        _doctor(doctored, experiment)
    assert np.isinf(pd.read_parquet(doctored / "traces/encoder/state")["value"]).any()
    records = {}
    for base in (natural, doctored):
        for exp in p.experiments.values():
            for kind in exp.spec["figures"]:
                out, record = _render(p, base, exp.name, kind, base / "figures")
                image = Image.open(io.BytesIO(out["png"].read_bytes()))
                image.load()
                assert np.asarray(image.convert("L"), dtype=float).std() > 5, (base, kind)
                assert out["pdf"].read_bytes().startswith(b"%PDF")
                assert json.loads(out["json"].read_text()) == record
                records[(base.name, exp.name, kind)] = record
    assert {k for _, _, k in records} == set(catalog.KINDS)
    curves = records[("natural", "encoder", "learning_curves")]
    assert curves["facts"]["off_scale_marks"]["not_diverged"] > 0
    assert "triangle on the top edge" in curves["caption"]
    assert "beyond \u00b11e100 or not finite" in curves["caption"]
    for name in ("natural", "doctored"):
        sensitivity = records[(name, "encoder", "lr_sensitivity")]["facts"]
        assert sensitivity["off_scale_runs"] > 0 and sensitivity["diverged_runs"] > 0
        heatmap = records[(name, "encoder", "sweep_heatmap")]["facts"]
        assert heatmap["off_scale_runs"] > 0
    weights = records[("doctored", "encoder", "weights")]["caption"]
    assert "diverged at epoch" in weights and "are not drawn" in weights


# -- what the figures say, read as a reviewer reads them ------------------------------------


def test_sweeps_compare_different_losses_on_a_common_metric_and_say_so(rendered):
    """The encoder's variants train half_sse and mse: lr_sensitivity ({}) compares them on
    accuracy, which every run records, and says so; no "Best" across losses."""
    _, _, drawn = rendered
    record = drawn[("encoder", "lr_sensitivity")][1]
    assert record["facts"]["metric"] == "accuracy"
    assert "compared on training accuracy" in record["caption"]
    heat = drawn[("encoder", "sweep_heatmap")][1]  # metric: mse, a common metric
    assert heat["facts"]["metric"] == "mse" and "Best" not in heat["caption"]


@pytest.mark.parametrize(
    ("experiment", "figure", "message"),
    [
        ("encoder", {"sweep_heatmap": {"metric": "loss"}}, "sweep_heatmap.metric: loss would"),
        ("encoder", {"lr_sensitivity": {"metric": "loss"}}, "on one axis"),
        ("moons", {"boundary_epochs": {"max_panels": 3}}, "boundary_epochs.spacing: log"),
        ("moons", {"composite": {"panels": [["dataset"], ["loss", "accuracy"]]}}, "as many"),
        ("moons", {"composite": {"panels": [["dataset", "weights"]]}}, "['weights'] are"),
        (
            "moons",
            {"composite": {"panels": [["loss", "accuracy"], ["accuracy", "loss"]]}},
            "one rectangle",
        ),
        ("encoder", {"composite": {"panels": [["dataset", "loss"]]}}, "two needed"),
    ],
)
def test_figures_that_would_mislead_are_refused_at_plan_time(
    test_config, experiment, figure, message
):
    test_config["experiments"][experiment]["figures"] = figure
    with pytest.raises(ConfigError) as err:
        _plan(test_config)
    assert message in str(err.value)


def test_a_sweep_of_one_loss_compares_that_loss(test_config):
    """The variants' losses agree when the figure selects variants of one loss."""
    enc = test_config["experiments"]["encoder"]
    enc["figures"] = {"sweep_heatmap": {"metric": "loss", "variants": ["loss-mse"]}}
    _plan(test_config)  # accepted
    assert catalog.sweep_metric(None, ["bce", "bce"]) == "loss"
    assert catalog.sweep_metric(None, ["bce", "mse"]) == "accuracy"


def test_gradient_flow_shows_the_seeds_printed_values_beside_ours(rendered, tmp_path, root):
    """The default config's seed 001 figure gets the printed numbers from the config
    (validation.references.seed001), not retyped; drawn, they sit beside ours, layers
    numbered from 1 as the seed numbers them."""
    default = _plan(cfg.load(root / "config" / "config.yaml"))
    spec = catalog.figure_spec(
        default.experiments["spiral_legacy"], "gradient_flow", default.config
    )
    ref = default.config["validation"]["references"]["seed001"]
    assert spec["printed"]["weight_norms"] == ref["weight_norms"]
    assert spec["printed"]["gradient_norms"] == ref["gradient_norms"]
    assert "printed" not in catalog.figure_spec(
        default.experiments["spiral_seeds"], "learning_curves", default.config
    )
    p, base, drawn = rendered
    plain = drawn[("encoder", "gradient_flow")][1]
    assert "numbered from 1" in plain["caption"] and "printed" not in plain["facts"]
    exp = p.experiments["encoder"]
    spec = catalog.figure_spec(exp, "gradient_flow", p.config)
    spec["printed"] = {
        "seed": "001",
        "sizes": [8, 3, 8],
        "lr": 0.2,
        "epochs": 30,
        "weight_norms": ["4.1", "3.8"],
        "gradient_norms": ["0.024", "0.16"],
    }
    inputs = {
        t: [base / f"traces/encoder/{t}/{b.name}.parquet" for b in exp.blocks]
        for t in ("runs", "norms")
    }
    out = {s: tmp_path / f"flow.{s}" for s in ("png", "pdf", "json")}
    record = figures.render(spec, inputs, out)
    assert record["facts"]["printed"]["weight_norms"] == ["4.1", "3.8"]
    assert "beside the values seed 001 printed" in record["caption"]
    spec["printed"]["epochs"] = 1000
    record = figures.render(spec, inputs, out)
    assert "printed" not in record["facts"] and "not shown" in record["caption"]


def test_boundary_epochs_are_chosen_where_the_boundary_moves():
    from backproplab.figures.boundaries import _log_spaced, _where_accuracy_changes

    recorded = list(range(0, 1001, 50))
    assert _log_spaced(recorded, 6) == [0, 50, 100, 200, 450, 1000]
    assert _log_spaced([0, 10, 20], 6) == [0, 10, 20]
    assert len(set(_log_spaced(list(range(0, 21)), 12))) == 12
    change = np.zeros(len(recorded))
    change[[2, 3, 5]] = [0.3, 0.1, 0.05]  # epochs 100, 150, 250
    assert _where_accuracy_changes(recorded, change, 4) == [0, 100, 150, 1000]
    assert _where_accuracy_changes(recorded, np.zeros(len(recorded)), 6) == [0, 1000]


def test_boundary_epochs_facts_hold_one_row_per_run(rendered, tmp_path, test_config):
    p, base, drawn = rendered
    facts = drawn[("moons", "boundary_epochs")][1]["facts"]
    assert [r["run_id"].split("/")[1] for r in facts["rows"]] == ["literal", "sound"]
    assert all(len(r["train_accuracy"]) == len(facts["epochs"]) for r in facts["rows"])
    assert facts["spacing"] == "log"
    test_config["experiments"]["moons"]["figures"] = {
        "boundary_epochs": {"spacing": "accuracy", "max_panels": 2, "resolution": 20}
    }
    record = _render(_plan(test_config), base, "moons", "boundary_epochs", tmp_path)[1]
    assert record["facts"]["spacing"] == "accuracy"
    assert "where the training accuracy changes most" in record["caption"]


def test_ulp_fanout_numbers_its_marks_and_reads_changes_as_percentages(rendered):
    from backproplab.figures.style import relative_text

    assert relative_text(9.1) == "910%" and relative_text(0.024) == "2.4%"
    assert relative_text(1.2e-10) == "1.2e-10"
    _, _, drawn = rendered
    record = drawn[("encoder", "ulp_fanout")][1]
    assert set(record["facts"]["max_relative_difference"]) == {"10", "30"}
    assert "910% being 9.1 times the loss" in record["caption"]
    assert "calls epoch k \u2212 1 'Epoch k'" in record["caption"]


def test_the_composite_figure_draws_seed_001s_four_panels(rendered):
    _, _, drawn = rendered
    record = drawn[("moons", "composite")][1]
    panels = record["facts"]["panels"]
    assert set(panels) == {"dataset", "decision_boundary", "loss", "accuracy"}
    assert panels["decision_boundary"]["epoch"] == 20
    assert "as a seed draws it" in record["caption"]


def test_legends_use_the_plans_labels(rendered):
    p, _, drawn = rendered
    spec = catalog.figure_spec(p.experiments["moons"], "decision_boundary")
    assert spec["labels"]["literal"].startswith("literal: init normal(-1, 1)")
    assert spec["experiment_label"] == "moons (seed 002)"
    assert spec["legend_title"] == "variant"


def test_accuracy_axes_are_chosen_from_the_data():
    from backproplab.figures.curves import accuracy_limits

    trained = np.concatenate([np.linspace(0.3, 0.9, 10), np.full(990, 0.97)])
    bottom, top = accuracy_limits(trained)
    assert 0.85 <= bottom <= 0.95 and 1 < top < 1.01
    assert accuracy_limits(np.linspace(0, 1, 100)) == (-0.03, 1.03)
    assert accuracy_limits(np.ones(50)) == (-0.03, 1.03)


def test_early_divergence_gets_a_log_epoch_axis(test_config, tmp_path):
    """Runs that diverge in the first epochs of 1000 would pile their marks on epoch 0."""
    config = copy.deepcopy(test_config)
    enc = config["experiments"]["encoder"]
    enc["learning_rates"] = [0.2, 1.0e7]
    enc["train"]["epochs"] = 1000
    enc["trace"] = {"state": ["W", "b"], "state_every": 500, "norms_every": 500}
    enc["figures"] = {"learning_curves": {"metrics": ["loss", "accuracy"]}}
    config["experiments"] = {"encoder": enc}
    p = _plan(config)
    _train(p, tmp_path)
    record = _render(p, tmp_path, "encoder", "learning_curves", tmp_path)[1]
    assert record["facts"]["epoch_scale"] == "log"
    assert "logarithmic above epoch 1" in record["caption"]


def test_a_single_run_is_not_called_a_mean_over_seeds(rendered, tmp_path, test_config):
    _, base, _ = rendered
    test_config["experiments"]["mazur"]["figures"] = {"norms": {}}
    record = _render(_plan(test_config), base, "mazur", "norms", tmp_path)[1]
    assert "one run (seed 0)" in record["caption"] and "1 seeds" not in record["caption"]
    assert "layer 1 maps the inputs" in record["caption"]


def test_no_legend_covers_a_curve_of_the_bias_figure(rendered):
    """The bias legends sit beside their panels (one covered a curve inside the panel)."""
    from backproplab.figures import parameters, style
    from backproplab.figures.data import Context, Data

    p, base, _ = rendered
    exp = p.experiments["encoder"]
    spec = catalog.figure_spec(exp, "biases")
    files = {
        t: [base / f"traces/encoder/{t}/{b.name}.parquet" for b in exp.blocks]
        for t in ("runs", "state")
    }
    ctx = Context("encoder", "biases", spec["options"], spec["variants"], spec["labels"])
    with style.style():
        fig, _, _ = parameters.biases(Data(files, None, ctx), ctx)
        fig.canvas.draw()
        for ax in fig.axes:
            legend = ax.get_legend()
            assert legend is not None
            assert not legend.get_window_extent().overlaps(ax.get_window_extent())


def test_the_readme_names_a_target_of_the_default_config_for_every_seed_figure(root):
    import re

    text = (root / "README.md").read_text()
    section = text.split("## Figures and the report", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| 00")]
    assert {row.split("|")[1].strip() for row in rows} == {"000", "001", "002", "003"}
    p = _plan(cfg.load(root / "config" / "config.yaml"))
    targets = {
        f"results/figures/{e.name}/{kind}.png"
        for e in p.experiments.values()
        for kind in e.spec["figures"]
    }
    named = [m for row in rows for m in re.findall(r"`(results/figures/[^`]+)`", row)]
    assert len(named) == len(rows)
    assert not (missing := [n for n in named if n not in targets]), missing
