"""``python -m backproplab compare``: two results trees, run by run.

The trees are written here as small Parquet files with the trace tables' real schemas
(``backproplab.traces``), so each case changes exactly one thing; one test also trains a
real block twice. Verdicts: identical, rounding (1 ulp), chaotic (agrees first, parts
later, passes), different (parts at epoch 0 or 1, or missing; fails)."""

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backproplab import compare, traces
from backproplab.__main__ import main

EXPERIMENT = "toy"
RUNS = [f"toy/base/lr=0.5/seed={s}" for s in range(3)]
EPOCHS = 10
STATE_EPOCHS = (0, 5, 10)


def _frames() -> dict[str, pd.DataFrame]:
    """A 2-2-1 network's traces for three runs: smooth, distinct, deterministic numbers."""
    metrics, state, norms = [], [], []
    for r, run in enumerate(RUNS):
        for e in range(EPOCHS + 1):
            loss = 0.7 * np.exp(-0.1 * (r + 1) * e) + 0.01 * r
            metrics.append((run, e, loss, min(1.0, 0.5 + 0.05 * e), loss / 2))
        for e in STATE_EPOCHS:
            for layer, (rows, cols) in enumerate(((2, 2), (2, 1))):
                for tensor, shape in (("W", (rows, cols)), ("b", (1, cols))):
                    for i in range(shape[0]):
                        for j in range(shape[1]):
                            value = np.sin(1.0 + r + 0.1 * e + layer + 0.3 * i + 0.7 * j)
                            state.append((run, e, layer, tensor, i, j, value))
        for e in STATE_EPOCHS:
            for layer in (0, 1):
                norms.append((run, e, layer, 1.0 + 0.1 * e + r, 0.5 / (1 + e + layer)))
    metrics = pd.DataFrame(metrics, columns=["run_id", "epoch", "loss", "accuracy", "mse"])
    for name in traces.METRIC_COLUMNS:  # the metrics this toy does not record: nulls
        if name not in metrics:
            metrics[name] = np.nan
    final = metrics[metrics.epoch == EPOCHS].set_index("run_id")
    runs = pd.DataFrame(
        {
            "run_id": RUNS,
            "experiment": EXPERIMENT,
            "variant": "base",
            "block": "base-c0",
            "lr": 0.5,
            "seed": np.arange(len(RUNS), dtype=np.int64),
            "epochs": np.int64(EPOCHS),
            "status": "ok",
            "diverged_epoch": pd.array([None] * len(RUNS), dtype="Int64"),
            "final_loss": final.loc[RUNS, "loss"].to_numpy(),
            "final_accuracy": final.loc[RUNS, "accuracy"].to_numpy(),
        }
    )
    state_columns = ["run_id", "epoch", "layer", "tensor", "i", "j", "value"]
    norms_columns = ["run_id", "epoch", "layer", "weight_norm", "grad_norm"]
    return {
        "runs": runs,
        "metrics": _identified(metrics),
        "state": _identified(pd.DataFrame(state, columns=state_columns)),
        "norms": _identified(pd.DataFrame(norms, columns=norms_columns)),
    }


def _identified(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the run's experiment, variant, lr and seed after its run_id, as the
    metrics, state and norms tables hold them."""
    seed = frame.run_id.str.rsplit("=", n=1).str[1].astype(np.int64)
    identity = {"experiment": EXPERIMENT, "variant": "base", "lr": 0.5, "seed": seed}
    out = frame[["run_id"]].assign(**identity)
    return pd.concat([out, frame.drop(columns="run_id")], axis=1)


def _schema(table: str, frame: pd.DataFrame) -> pa.Schema | None:
    """The trace table's real schema (``traces.SCHEMAS``), for the columns ``frame`` has."""
    if table == "runs":
        return None
    schema = traces.SCHEMAS[table]
    return pa.schema([schema.field(c) for c in frame.columns])


def write_tree(root, frames: dict[str, pd.DataFrame], blocks: int = 1):
    """``root/results`` with the trace tables split into ``blocks`` files, a data set and a
    validation table; returns the results directory."""
    results = root / "results"
    for table, frame in frames.items():
        out = results / "traces" / EXPERIMENT / table
        out.mkdir(parents=True, exist_ok=True)
        parts = np.array_split(np.arange(len(frame)), blocks)
        for n, rows in enumerate(parts):
            part = frame.iloc[rows].reset_index(drop=True)
            pq.write_table(
                pa.Table.from_pandas(part, schema=_schema(table, part), preserve_index=False),
                out / f"base-c{n}.parquet",
            )
    (results / "datasets").mkdir(parents=True, exist_ok=True)
    data = pd.DataFrame({"x0": [0.0, 1.0, 0.5], "y0": [1.0, 0.0, 1.0], "split": "train"})
    pq.write_table(pa.Table.from_pandas(data), results / "datasets" / "toy.parquet")
    (results / "validation").mkdir(parents=True, exist_ok=True)
    check = pd.DataFrame(
        {
            "run_id": [RUNS[0]] * 4,
            "tensor": ["W", "W", "b", "b"],
            "layer": [0, 1, 0, 1],
            "max_rel_error": [1e-9, 2e-9, 3e-10, 4e-10],
            "passed": True,
        }
    )
    pq.write_table(pa.Table.from_pandas(check), results / "validation" / "gradcheck.parquet")
    return results


@pytest.fixture
def tree_a(tmp_path):
    return write_tree(tmp_path / "a", _frames())


def _verdicts(comparison) -> dict[str, str]:
    return dict(zip(comparison.runs["run_id"], comparison.runs["verdict"]))


def _row(comparison, run):
    return comparison.runs.set_index("run_id").loc[run]


def _scale(frame, run, column, since, factor=1.1):
    rows = (frame.run_id == run) & (frame.epoch >= since)
    frame.loc[rows, column] = frame.loc[rows, column] * factor


# ----------------------------------------------------------------------------- verdicts


def test_identical_trees_pass_with_every_run_identical(tree_a, tmp_path):
    b = write_tree(tmp_path / "b", _frames())
    result = compare.compare_trees(tree_a, b)
    assert result.passed, result.problems
    assert _verdicts(result) == dict.fromkeys(RUNS, "identical")
    assert list(result.runs.columns[:5]) == [
        "experiment",
        "run_id",
        "verdict",
        "first_parting_epoch",
        "final_loss_rel_diff",
    ]
    assert (result.summary["max_abs_diff"].fillna(0) == 0).all()
    assert set(result.summary["table"]) >= {
        "runs",
        "metrics",
        "state",
        "norms",
        "datasets/toy",
        "validation/gradcheck",
    }
    state = result.summary.query("table == 'state' and column == 'value'").iloc[0]
    assert state["rows"] == len(_frames()["state"])
    counts = result.counts().set_index("experiment").loc[EXPERIMENT]
    assert counts["identical"] == 3 and counts["runs"] == 3


def test_rows_are_aligned_by_key_not_by_file_order(tree_a, tmp_path):
    frames = {t: f.sample(frac=1.0, random_state=1) for t, f in _frames().items()}
    b = write_tree(tmp_path / "b", frames, blocks=2)  # other order, other file split
    # The other split names a second file B has and A has not: that alone is reported.
    result = compare.compare_trees(tree_a, b)
    assert _verdicts(result) == dict.fromkeys(RUNS, "identical")
    assert {path for path, side in result.missing_files if side == "B"} == {
        f"traces/{EXPERIMENT}/{t}/base-c1.parquet" for t in ("runs", "metrics", "state", "norms")
    }
    assert not result.passed
    same_files = write_tree(tmp_path / "c", frames)
    assert compare.compare_trees(tree_a, same_files).passed


def test_one_ulp_in_one_state_value_is_rounding_and_passes(tree_a, tmp_path):
    frames = _frames()
    state = frames["state"]
    k = state.index[(state.run_id == RUNS[1]) & (state.epoch == 5)][0]
    state.loc[k, "value"] = np.nextafter(state.loc[k, "value"], np.inf)
    result = compare.compare_trees(tree_a, write_tree(tmp_path / "b", frames))
    assert result.passed, result.problems
    assert _verdicts(result) == {RUNS[0]: "identical", RUNS[1]: "rounding", RUNS[2]: "identical"}
    row = result.summary.query("table == 'state' and column == 'value'").iloc[0]
    assert row["unequal"] == 1 and row["beyond"] == 0
    assert 0 < row["max_rel_diff"] < 1e-15
    # With no tolerance at all, the same ulp parts the run at epoch 5: chaotic, not rounding.
    strict = compare.compare_trees(tree_a, tmp_path / "b", rtol=0, atol=0)
    assert _verdicts(strict)[RUNS[1]] == "chaotic"
    assert _row(strict, RUNS[1])["first_parting_epoch"] == 5


def test_a_trajectory_that_parts_later_is_chaotic_listed_and_passes(tree_a, tmp_path):
    frames = _frames()
    _scale(frames["metrics"], RUNS[2], "loss", since=6)
    _scale(frames["state"], RUNS[2], "value", since=6)
    _scale(frames["norms"], RUNS[2], "weight_norm", since=6)
    frames["runs"].loc[2, "final_loss"] *= 1.1
    result = compare.compare_trees(tree_a, write_tree(tmp_path / "b", frames))
    assert result.passed, result.problems
    row = _row(result, RUNS[2])
    assert row["verdict"] == "chaotic"
    assert row["first_parting_epoch"] == 6
    assert row["final_loss_rel_diff"] == pytest.approx(0.1 / 1.1)
    assert _verdicts(result)[RUNS[0]] == "identical"
    report = compare.format_report(result)
    listed = [line for line in report.splitlines() if RUNS[2] in line]
    assert len(listed) == 1 and "chaotic" in listed[0] and " 6 " in listed[0]
    assert "PASSED" in report


def test_a_run_that_diverges_on_one_side_after_agreeing_is_chaotic(tree_a, tmp_path):
    frames = _frames()
    run = RUNS[1]
    m = frames["metrics"]
    frames["metrics"] = m[~((m.run_id == run) & (m.epoch >= 8))]  # rows stop at divergence
    _scale(frames["metrics"], run, "loss", since=7, factor=3.0)
    s = frames["state"]
    frames["state"] = s[~((s.run_id == run) & (s.epoch == 10))]
    n = frames["norms"]
    frames["norms"] = n[~((n.run_id == run) & (n.epoch == 10))]
    runs = frames["runs"]
    runs.loc[1, ["status", "final_loss"]] = ["diverged", np.nan]
    runs["diverged_epoch"] = pd.array([None, 8, None], dtype="Int64")
    result = compare.compare_trees(tree_a, write_tree(tmp_path / "b", frames))
    assert result.passed, result.problems
    row = _row(result, run)
    assert row["verdict"] == "chaotic"
    assert row["first_parting_epoch"] == 7
    assert "diverged at epoch 8" in row["note"]
    metrics = result.summary.query("table == 'metrics' and column == 'loss'").iloc[0]
    assert (metrics["only_a"], metrics["only_b"]) == (3, 0)


def test_other_initial_weights_are_different_and_fail(tree_a, tmp_path):
    frames = _frames()
    state = frames["state"]
    state.loc[(state.run_id == RUNS[0]) & (state.tensor == "W"), "value"] += 0.01
    b = write_tree(tmp_path / "b", frames)
    result = compare.compare_trees(tree_a, b)
    assert not result.passed
    row = _row(result, RUNS[0])
    assert row["verdict"] == "different" and row["first_parting_epoch"] == 0
    assert any("different" in p for p in result.problems)
    assert main(["compare", str(tree_a), str(b)]) == 1


def test_parting_at_the_first_epoch_after_0_is_different(tree_a, tmp_path):
    frames = _frames()
    _scale(frames["metrics"], RUNS[1], "loss", since=1)
    result = compare.compare_trees(tree_a, write_tree(tmp_path / "b", frames))
    row = _row(result, RUNS[1])
    assert (row["verdict"], row["first_parting_epoch"]) == ("different", 1)
    assert not result.passed


def test_a_run_missing_on_one_side_fails(tree_a, tmp_path):
    frames = {t: f[f.run_id != RUNS[2]] for t, f in _frames().items()}
    result = compare.compare_trees(tree_a, write_tree(tmp_path / "b", frames))
    assert not result.passed
    row = _row(result, RUNS[2])
    assert row["verdict"] == "different" and row["note"] == "only in A"
    assert pd.isna(row["first_parting_epoch"])
    runs = result.summary.query("table == 'runs'").iloc[0]
    assert (runs["only_a"], runs["only_b"]) == (1, 0)


def test_rows_missing_without_a_divergence_fail(tree_a, tmp_path):
    frames = _frames()
    m = frames["metrics"]
    frames["metrics"] = m[~((m.run_id == RUNS[0]) & (m.epoch == EPOCHS))]
    result = compare.compare_trees(tree_a, write_tree(tmp_path / "b", frames))
    row = _row(result, RUNS[0])
    assert (row["verdict"], row["first_parting_epoch"]) == ("different", EPOCHS)
    assert not result.passed


def test_a_missing_file_fails(tree_a, tmp_path):
    b = write_tree(tmp_path / "b", _frames())
    (b / "traces" / EXPERIMENT / "norms" / "base-c0.parquet").unlink()
    result = compare.compare_trees(tree_a, b)
    assert not result.passed
    assert (f"traces/{EXPERIMENT}/norms/base-c0.parquet", "A") in result.missing_files
    assert set(_verdicts(result).values()) == {"different"}  # their norms rows are in A only
    (b / "validation" / "gradcheck.parquet").unlink()
    shutil.rmtree(b / "traces")
    result = compare.compare_trees(tree_a, b)
    assert ("validation/gradcheck.parquet", "A") in result.missing_files
    assert set(_verdicts(result).values()) == {"different"}


def test_data_set_and_validation_values_count(tree_a, tmp_path):
    b = write_tree(tmp_path / "b", _frames())
    data = pd.read_parquet(b / "datasets" / "toy.parquet")
    data.loc[1, "x0"] = 1.0 + 1e-6
    pq.write_table(pa.Table.from_pandas(data), b / "datasets" / "toy.parquet")
    check = pd.read_parquet(b / "validation" / "gradcheck.parquet").iloc[::-1]  # other order
    pq.write_table(pa.Table.from_pandas(check), b / "validation" / "gradcheck.parquet")
    result = compare.compare_trees(tree_a, b)
    assert _verdicts(result) == dict.fromkeys(RUNS, "identical")
    assert result.problems == ["datasets/toy.x0: 1 of 3 value(s) beyond tolerance"]
    row = result.summary.query("table == 'datasets/toy' and column == 'x0'").iloc[0]
    assert row["max_abs_diff"] == pytest.approx(1e-6)
    grad = result.summary.query("table == 'validation/gradcheck'")
    assert (grad["unequal"] == 0).all()  # aligned by run_id, tensor, layer: not by order
    assert compare.compare_trees(tree_a, b, rtol=1e-5).passed


def test_validation_tables_fail_on_their_verdicts_only(tree_a, tmp_path):
    """Finite-difference errors are rounding noise (reported); a verdict that flips fails."""
    b = write_tree(tmp_path / "b", _frames())
    path = b / "validation" / "gradcheck.parquet"
    check = pd.read_parquet(path)
    check["max_rel_error"] *= 1.5
    pq.write_table(pa.Table.from_pandas(check), path)
    result = compare.compare_trees(tree_a, b)
    assert result.passed, result.problems
    row = result.summary.query("table == 'validation/gradcheck' and column == 'max_rel_error'")
    assert row.iloc[0]["beyond"] == 4
    check.loc[2, "passed"] = False
    pq.write_table(pa.Table.from_pandas(check), path)
    result = compare.compare_trees(tree_a, b)
    assert result.problems == ["validation/gradcheck.passed: 1 of 4 value(s) beyond tolerance"]


def test_value_diffs_nan_inf_and_signed_zero_without_warnings():
    other_nan = np.array([0x7FF8000000000001], dtype=np.int64).view(np.float64)[0]  # payload
    a = np.array([np.nan, np.inf, np.inf, 1.0, 0.0, 0.0, -0.0, 1e308, 2.0])
    b = np.array([other_nan, np.inf, -np.inf, np.nan, 0.0, 1e-13, 0.0, -1e308, 2.0 + 4e-9])
    same, within, absdiff, reldiff = compare.value_diffs(a, b, rtol=1e-9, atol=1e-12)
    assert same.tolist() == [True, True, False, False, True, False, False, False, False]
    assert within.tolist() == [True, True, False, False, True, True, True, False, False]
    assert absdiff[:3].tolist() == [0, 0, np.inf] and reldiff[3] == np.inf
    assert reldiff[5] == 1.0 and reldiff[6] == 0.0 and reldiff[7] == pytest.approx(2.0)
    assert reldiff[8] == pytest.approx(2e-9)


# ----------------------------------------------------------------------------- command line


def test_cli_exit_codes_report_and_json(tree_a, tmp_path, capsys):
    b = write_tree(tmp_path / "b", _frames())
    out = tmp_path / "out" / "cmp.json"
    # The parent of results/ is accepted as well.
    assert main(["compare", str(tree_a.parent), str(b), "--json", str(out)]) == 0
    report = capsys.readouterr().out
    assert "Runs per experiment" in report and "PASSED" in report
    counts = [line.split() for line in report.splitlines() if line.startswith(EXPERIMENT + " ")]
    assert counts == [[EXPERIMENT, "3", "3", "0", "0", "0"]]
    data = json.loads(out.read_text())
    assert data["passed"] is True
    assert {r["verdict"] for r in data["runs"]} == {"identical"}
    assert {"summary", "counts", "problems", "missing_files"} <= set(data)

    frames = {t: f[f.run_id != RUNS[0]] for t, f in _frames().items()}
    c = write_tree(tmp_path / "c", frames)
    assert main(["compare", str(tree_a), str(c)]) == 1
    report = capsys.readouterr().out
    assert "FAILED" in report and RUNS[0] in report


def test_cli_path_that_is_not_a_results_tree_is_exit_2(tree_a, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compare", str(tree_a), str(empty)]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "results" in err and "Traceback" not in err
    assert main(["compare", str(tmp_path / "nowhere"), str(tree_a)]) == 2
    assert str(tmp_path / "nowhere") in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(tree_a), str(tree_a), "--rtol", "-1"])
    assert exc.value.code == 2


def test_cli_unreadable_trace_file_is_exit_2(tree_a, tmp_path, capsys):
    b = write_tree(tmp_path / "b", _frames())
    broken = b / "traces" / EXPERIMENT / "state" / "base-c0.parquet"
    broken.write_bytes(broken.read_bytes()[:100])
    assert main(["compare", str(tree_a), str(b)]) == 2
    assert str(broken) in capsys.readouterr().err


# ----------------------------------------------------------------------------- real traces


def test_real_training_twice_is_identical_and_one_ulp_is_rounding(tmp_path, test_config):
    from backproplab import config as cfg
    from backproplab import datasets
    from backproplab.experiments import plan
    from backproplab.training import job as train_job

    test_config["experiments"] = {"encoder": test_config["experiments"]["encoder"]}
    p = plan(cfg.validate(test_config))
    exp = p.experiments["encoder"]
    for side in ("a", "b"):
        base = tmp_path / side / "results"
        data = base / "datasets" / f"{exp.dataset}.parquet"
        datasets.make(p.config["datasets"][exp.dataset], data)
        for block in exp.blocks:
            out = {
                t: base / f"traces/encoder/{t}/{block.name}.parquet"
                for t in ("runs", "metrics", "state", "norms")
            }
            train_job.train_block(p.block_spec("encoder", block.name), data, out)
    a, b = tmp_path / "a" / "results", tmp_path / "b" / "results"
    result = compare.compare_trees(a, b)
    assert result.passed, result.problems
    assert set(_verdicts(result).values()) == {"identical"} and len(result.runs) == len(exp.runs)

    path = b / "traces" / "encoder" / "state" / f"{exp.blocks[0].name}.parquet"
    table = pq.read_table(path)
    values = table.column("value").to_numpy().copy()
    last = table.column("epoch").to_numpy() == table.column("epoch").to_numpy().max()
    k = np.flatnonzero(last)[-1]
    values[k] = np.nextafter(values[k], -np.inf)
    table = table.set_column(table.schema.get_field_index("value"), "value", pa.array(values))
    pq.write_table(table, path)
    result = compare.compare_trees(a, b)
    assert result.passed, result.problems
    verdicts = result.runs["verdict"].value_counts().to_dict()
    assert verdicts == {"identical": len(exp.runs) - 1, "rounding": 1}
