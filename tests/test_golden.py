"""Golden digests: the numbers of config/test.yaml, to the bit, in tests/golden/.

``tests/golden/test-config.compiled.json`` holds ``backproplab.digests.digest_tree`` of
the results of the real pipeline on config/test.yaml (trained by the compiled trainer, the
config's default engine): one sha256 per column of every trace table, data set and
validation table (writer details such as compression, row groups, metadata and row order
do not enter it). ``tests/golden/test-config.numpy.json`` holds the same for the NumPy
engine (``engine: numpy``), from the replay. The two engines agree to rounding, not to
the bit, so each has its own digests. The tests here check

- the digests themselves (row order, compression, blocks and metadata do not change a
  digest; one ulp of one value does; NaNs are canonical; ``diff`` names table and column);
- the pipeline (Snakemake, in a scratch copy of the repository) against the golden file
  (``slow``);
- the in-process replay (``python -m backproplab.replay``, with either engine) against
  every golden digest, and against the pipeline of this session: replay == pipeline is
  what the cross-CPU test (tests/cross_cpu, under qemu) relies on.

When a change alters numbers on purpose, regenerate the golden file with::

    BACKPROPLAB_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

(it runs the pipeline on config/test.yaml, with the canonical numerics, writes its
digests to tests/golden/test-config.compiled.json, and the NumPy engine's replay's to
test-config.numpy.json, and checks the replays against them), then
``git diff tests/golden/`` shows which tables and columns changed; see
tests/golden/README.md for what the commit must say.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backproplab import digests, numerics, traces

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = {
    engine: ROOT / "tests" / "golden" / f"test-config.{engine}.json"
    for engine in ("compiled", "numpy")
}
CONFIG = "config/test.yaml"
UPDATE = os.environ.get("BACKPROPLAB_UPDATE_GOLDEN", "") not in ("", "0")


def golden(engine: str = "compiled") -> dict:
    path = GOLDEN[engine]
    if not path.exists():
        pytest.fail(f"{path} is missing; regenerate it: see {Path(__file__).name}'s docstring")
    return json.loads(path.read_text())


def assert_same(expected: dict, actual: dict, what: str) -> None:
    differences = digests.diff(expected, actual)
    assert not differences, f"{what}: {len(differences)} difference(s):\n" + "\n".join(differences)


# -- (a) the digests ----------------------------------------------------------------------

STATE = traces.STATE_SCHEMA


def _state_table(seed=0, runs=3) -> pa.Table:
    """A small state table in the writer's order (run, epoch, layer, tensor, i, j)."""
    rng = np.random.default_rng(seed)
    rows = [
        (f"run-{r}", e, layer, t, i, j)
        for r in range(runs)
        for e in (0, 10)
        for layer in (0, 1)
        for t in ("W", "b")
        for i in range(2)
        for j in range(3)
    ]
    cols = list(zip(*rows))
    return pa.table(
        {
            "run_id": pa.array(cols[0]).dictionary_encode(),
            "epoch": pa.array(cols[1], pa.int32()),
            "layer": pa.array(cols[2], pa.int16()),
            "tensor": pa.array(cols[3]).dictionary_encode(),
            "i": pa.array(cols[4], pa.int32()),
            "j": pa.array(cols[5], pa.int32()),
            "value": rng.standard_normal(len(rows)),
        }
    )


def _runs_table() -> pa.Table:
    return pa.table(
        {
            "run_id": ["a", "b", "c"],
            "lr": [0.1, 0.2, 0.3],
            "seed": pa.array([0, 1, 2], pa.int64()),
            "shuffle": [True, False, True],
            "diverged_epoch": pa.array([None, 7, None], pa.int64()),
            "clip": pa.array([None, None, 1.0], pa.float64()),
            "status": ["ok", "diverged", "ok"],
        }
    )


def _tree(base: Path, tables: dict[str, list[pa.Table]], **write_options) -> Path:
    """A results tree: ``{"traces/e/state": [block tables], "datasets/d": [table]}``."""
    for name, blocks in tables.items():
        if name.startswith("traces/"):
            for k, block in enumerate(blocks):
                path = base / name / f"block-c{k}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(block, path, **write_options)
        else:
            path = base / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(blocks), path, **write_options)
    return base


def _shuffled(table: pa.Table, seed=1) -> pa.Table:
    return table.take(np.random.default_rng(seed).permutation(table.num_rows))


def test_row_order_blocks_compression_and_metadata_do_not_change_a_digest(tmp_path):
    state, runs = _state_table(), _runs_table()
    dataset = pa.table({"x0": [0.5, -1.0, 2.0], "y0": [1.0, 0.0, 1.0], "split": ["train"] * 3})
    first = _tree(
        tmp_path / "a",
        {"traces/e/state": [state], "traces/e/runs": [runs], "datasets/d": [dataset]},
        compression="zstd",
    )
    # The same numbers: shuffled rows, split into other blocks, plain strings instead of
    # dictionaries, wider integers, other compression, tiny row groups, other metadata.
    shuffled = _shuffled(state)
    plain = shuffled.cast(
        pa.schema(
            [
                ("run_id", pa.string()),
                ("epoch", pa.int64()),
                ("layer", pa.int64()),
                ("tensor", pa.large_string()),
                ("i", pa.int64()),
                ("j", pa.int64()),
                ("value", pa.float64()),
            ]
        )
    ).replace_schema_metadata({b"backproplab.provenance": b'{"git_commit": "other"}'})
    second = _tree(
        tmp_path / "b",
        {
            "traces/e/state": [plain.slice(0, 20), plain.slice(20)],
            "traces/e/runs": [_shuffled(runs, 3).select(list(reversed(runs.column_names)))],
            "datasets/d": [dataset],
        },
        compression="gzip",
        row_group_size=7,
        use_dictionary=False,
    )
    a, b = digests.digest_tree(first), digests.digest_tree(second)
    assert set(a) == {"traces/e/state", "traces/e/runs", "datasets/d"}
    assert a["traces/e/state"]["rows"] == state.num_rows
    assert a == b, digests.diff(a, b)


def test_one_ulp_of_one_value_changes_that_column_only(tmp_path):
    state = _state_table()
    values = state.column("value").to_numpy().copy()
    values[17] = np.nextafter(values[17], np.inf)
    nudged = state.set_column(6, "value", pa.array(values))
    a = digests.digest_tree(_tree(tmp_path / "a", {"traces/e/state": [state]}))
    b = digests.digest_tree(_tree(tmp_path / "b", {"traces/e/state": [nudged]}))
    assert a["traces/e/state"]["columns"]["value"] != b["traces/e/state"]["columns"]["value"]
    (line,) = digests.diff(a, b)
    assert line.startswith("traces/e/state: column value differs"), line


def _floats(bits: list[int]) -> pa.Array:
    return pa.array(np.array(bits, dtype="<u8").view("<f8"))


def test_every_nan_is_one_nan_but_signed_zeros_and_nulls_are_distinct():
    quiet, payload, negative, signalling = (
        0x7FF8000000000000,
        0x7FF8000000000001,
        0xFFF8000000000000,
        0x7FF0000000000001,
    )
    one = 0x3FF0000000000000
    canonical = digests.column_digest(_floats([one, quiet]))
    for nan in (payload, negative, signalling):
        assert digests.column_digest(_floats([one, nan])) == canonical
    assert digests.column_digest(pa.array([1.0, float("nan")])) == canonical
    assert digests.column_digest(pa.array([0.0])) != digests.column_digest(pa.array([-0.0]))
    assert digests.column_digest(pa.array([1.0, None])) != canonical
    assert digests.column_digest(pa.array([1.0, None])) != digests.column_digest(
        pa.array([1.0, 0.0])
    )
    # Nulls are marked in every kind of column.
    assert digests.column_digest(pa.array([1, None])) != digests.column_digest(pa.array([1, 0]))
    assert digests.column_digest(pa.array(["a", None])) != digests.column_digest(
        pa.array(["a", ""])
    )
    assert digests.column_digest(pa.array([True, None])) != digests.column_digest(
        pa.array([True, False])
    )
    # The kind is part of a digest: 1 and 1.0 are not the same value.
    assert digests.column_digest(pa.array([1])) != digests.column_digest(pa.array([1.0]))
    # float32 is digested as the float64 it widens to; dictionaries as their values.
    assert digests.column_digest(pa.array([0.5], pa.float32())) == digests.column_digest(
        pa.array([0.5])
    )
    assert digests.column_digest(pa.array(["x", "y", "x"]).dictionary_encode()) == (
        digests.column_digest(pa.array(["x", "y", "x"]))
    )


def test_a_data_set_keeps_its_row_order(tmp_path):
    dataset = pa.table({"x0": [0.5, -1.0, 2.0], "split": ["train", "train", "test"]})
    a = digests.digest_tree(_tree(tmp_path / "a", {"datasets/d": [dataset]}))
    b = digests.digest_tree(_tree(tmp_path / "b", {"datasets/d": [_shuffled(dataset, 2)]}))
    assert {line.split(":")[0] for line in digests.diff(a, b)} == {"datasets/d"}


def test_validation_tables_are_sorted_and_other_files_skipped(tmp_path):
    table = pa.table(
        {
            "reference": ["seed001", "seed001", "seed003"],
            "quantity": ["w1", "w2", "w1"],
            "computed": [0.25, float("nan"), 1.5],
            "agrees": [True, False, True],
        }
    )
    results = _tree(tmp_path / "a", {"validation/references": [table]})
    (results / "validation" / "summary.md").write_text("# not Parquet\n")
    for skipped in ("figures/e/weights.parquet", "report/x.parquet", "traces/e/state/.b.parquet"):
        (results / skipped).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, results / skipped)
    a = digests.digest_tree(results)
    assert set(a) == {"validation/references"}
    b = digests.digest_tree(_tree(tmp_path / "b", {"validation/references": [_shuffled(table)]}))
    assert a == b


def test_diff_names_tables_and_columns():
    expected = {
        "traces/e/state": {"rows": 3, "columns": {"value": "aa", "epoch": "bb"}},
        "traces/e/runs": {"rows": 1, "columns": {"lr": "cc"}},
        "datasets/d": {"rows": 2, "columns": {"x0": "dd"}},
    }
    actual = {
        "traces/e/state": {"rows": 4, "columns": {"value": "ab", "epoch": "bb", "extra": "ee"}},
        "datasets/d": {"rows": 2, "columns": {}},
        "validation/new": {"rows": 0, "columns": {}},
    }
    lines = digests.diff(expected, actual)
    assert digests.diff(expected, expected) == []
    assert any(line.startswith("traces/e/runs: missing") for line in lines)
    assert any(line.startswith("validation/new: extra table") for line in lines)
    assert any(line.startswith("traces/e/state: 4 rows, expected 3") for line in lines)
    assert any(line.startswith("traces/e/state: column value differs") for line in lines)
    assert any(line.startswith("traces/e/state: column extra extra") for line in lines)
    assert any(line.startswith("datasets/d: column x0 missing") for line in lines)
    assert not any("epoch" in line for line in lines)
    assert set(digests.select(expected, ["traces"])) == {"traces/e/state", "traces/e/runs"}


def test_the_command_line_prints_writes_and_checks(tmp_path, capsys):
    import argparse

    results = _tree(tmp_path / "results", {"traces/e/state": [_state_table()]})
    parser = argparse.ArgumentParser()
    digests.add_arguments(parser)

    def run(*argv):
        args = parser.parse_args([str(a) for a in argv])
        return args.run(args)

    assert run(results) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed) == digests.digest_tree(results)
    assert printed == json.dumps(json.loads(printed), sort_keys=True, indent=2) + "\n"
    out = tmp_path / "golden.json"
    assert run(results, "--write", out) == 0
    assert json.loads(out.read_text()) == digests.digest_tree(results)
    assert run(results, "--check", out) == 0
    other = _tree(tmp_path / "other", {"traces/e/state": [_state_table(seed=5)]})
    capsys.readouterr()
    assert run(other, "--check", out) == 1
    assert "traces/e/state: column value differs" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        run(results, "--write", out, "--check", out)


def test_the_dispatcher_runs_the_digest_command(tmp_path, capsys):
    pytest.importorskip("backproplab.compare", reason="backproplab.compare (the dispatcher's)")
    from backproplab.__main__ import main

    results = _tree(tmp_path / "results", {"traces/e/state": [_state_table()]})
    assert main(["digest", str(results)]) == 0
    assert json.loads(capsys.readouterr().out) == digests.digest_tree(results)


def test_the_modules_import_no_numpy():
    """The replay must pin the numerics before numpy loads: importing it (or the
    digests, which the command-line dispatcher imports) must not load numpy."""
    code = (
        "import sys, backproplab.replay, backproplab.digests; "
        "print(sorted(m for m in ('numpy', 'pyarrow', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- (b) the pipeline ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline_results(tmp_path_factory, copy_workflow) -> Path:
    """config/test.yaml through the real pipeline (Snakemake) in a scratch copy, as a user
    runs it (the Snakefile pins the config's numerics for every job)."""
    work = copy_workflow(tmp_path_factory.mktemp("golden-pipeline"))
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", CONFIG]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}")
    return work / "results"


@pytest.fixture(scope="module")
def pipeline_digests(pipeline_results) -> dict:
    return digests.digest_tree(pipeline_results)


def update(engine: str, tree: dict) -> None:
    """Write ``tree`` as ``engine``'s golden digests (``BACKPROPLAB_UPDATE_GOLDEN=1``)."""
    supported, why = numerics.canonical_supported()
    path = GOLDEN[engine]
    assert supported, f"not regenerating {path.name}: no canonical numerics here ({why})"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(digests.dumps(tree))
    print(f"wrote {path} ({len(tree)} tables)")


@pytest.mark.slow
def test_the_pipeline_computes_the_golden_numbers(pipeline_digests, pipeline_results):
    assert digests.select(pipeline_digests, ["traces"]), "the pipeline wrote no traces"
    engines = {
        engine
        for path in pipeline_results.glob("traces/*/runs/*.parquet")
        for engine in pq.read_table(path, columns=["engine"]).column("engine").to_pylist()
    }
    assert engines == {"compiled"}, f"config/test.yaml's runs were trained by {engines}"
    if UPDATE:
        update("compiled", pipeline_digests)
        return
    name = GOLDEN["compiled"].name
    assert_same(golden(), pipeline_digests, f"pipeline on {CONFIG} vs {name}")


# -- (c) the replay -----------------------------------------------------------------------


def run_replay(results: Path, *options) -> dict:
    """``python -m backproplab.replay config/test.yaml RESULTS`` in a subprocess; its
    summary line (kernels, CPU features, seconds)."""
    cmd = [sys.executable, "-m", "backproplab.replay", CONFIG, str(results), *options]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def replay_tree(tmp_path_factory, engine: str) -> dict:
    results = tmp_path_factory.mktemp(f"replay-{engine}") / "results"
    summary = run_replay(results, "--engine", engine)
    assert summary["numerics"]["profile"] in ("canonical", "native")
    return digests.digest_tree(results)


@pytest.fixture(scope="module")
def replay_digests(tmp_path_factory) -> dict:
    return replay_tree(tmp_path_factory, "compiled")


def test_the_replay_computes_the_golden_training_numbers(replay_digests):
    expected = golden()
    assert set(replay_digests) == set(expected), "the replay wrote other tables"
    assert_same(expected, replay_digests, f"replay of {CONFIG} vs {GOLDEN['compiled'].name}")


def test_the_numpy_engine_computes_its_golden_numbers(tmp_path_factory, replay_digests):
    """The NumPy engine's replay: its own digests, which differ from the compiled
    trainer's in the float columns of the traces (rounding), never in their shape."""
    ours = replay_tree(tmp_path_factory, "numpy")
    if UPDATE:
        update("numpy", ours)
    expected = golden("numpy")
    assert set(ours) == set(expected) == set(replay_digests), "other tables"
    assert_same(expected, ours, f"NumPy engine replay of {CONFIG} vs {GOLDEN['numpy'].name}")
    for table, entry in ours.items():
        assert entry["rows"] == replay_digests[table]["rows"], table


@pytest.mark.slow
def test_the_replay_computes_the_pipelines_numbers(replay_digests, pipeline_digests):
    """Replay == pipeline, whatever the golden file says (it may be stale mid-change)."""
    assert_same(pipeline_digests, replay_digests, "replay vs pipeline")
