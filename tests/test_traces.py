"""Reading parameters back from state rows (``traces.read_params``): several runs at one
epoch, one run at several epochs, and what is missing named layer by layer; files that
appear whole or not at all; provenance without a host or a path; and the one message for
a damaged file, whoever reads it. The tables of config/test.yaml (trained in-process by
the replay): one schema per table kind in every experiment, as documented; each run's
identity in every table; names as plain text; the config hash the report shows; and the
README's pandas, DuckDB and Polars examples, run as written."""

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backproplab import traces

SIZES = [3, 4, 2]


def _state(runs=("a", "b"), epochs=(0, 5)):
    """State rows of random parameters (and a dW the reader must skip), and the truth."""
    rng = np.random.default_rng(0)
    rows, truth = [], {}
    for run in runs:
        for epoch in epochs:
            pairs = []
            for layer, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
                W, b = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
                pairs.append((W, b))
                for (i, j), v in np.ndenumerate(W):
                    rows.append((run, epoch, layer, "W", i, j, v))
                    rows.append((run, epoch, layer, "dW", i, j, 0.0))
                rows += [(run, epoch, layer, "b", 0, j, v) for j, v in enumerate(b)]
            truth[run, epoch] = pairs
    frame = pd.DataFrame(rows, columns=["run_id", "epoch", "layer", "tensor", "i", "j", "value"])
    return frame.iloc[::-1].reset_index(drop=True), truth


def _assert_stacked(params, truth, positions):
    for layer, (W, b) in enumerate(params):
        assert W.shape == (len(positions), SIZES[layer], SIZES[layer + 1])
        for k, key in enumerate(positions):
            np.testing.assert_array_equal(W[k], truth[key][layer][0])
            np.testing.assert_array_equal(b[k], truth[key][layer][1])


def test_runs_at_one_epoch_from_files(tmp_path):
    frame, truth = _state()
    schema = pa.schema([traces.STATE_SCHEMA.field(c) for c in frame.columns])
    table = pa.Table.from_pandas(frame, preserve_index=False).cast(schema)
    pq.write_table(table.slice(0, 40), tmp_path / "one.parquet")
    pq.write_table(table.slice(40), tmp_path / "two.parquet")
    paths = [tmp_path / "one.parquet", tmp_path / "two.parquet"]
    params = traces.read_params(paths, ["b", "a"], SIZES, 5)
    _assert_stacked(params, truth, [("b", 5), ("a", 5)])


def test_one_run_at_epochs_from_a_frame_repeats_allowed():
    frame, truth = _state()
    params = traces.read_params(frame, "a", SIZES, [5, 0, 5])
    _assert_stacked(params, truth, [("a", 5), ("a", 0), ("a", 5)])


def test_what_is_missing_is_named_layer_by_layer():
    frame, _ = _state()
    gone = (frame.run_id == "b") & (frame.layer == 0) & (frame.tensor == "b") & (frame.j == 1)
    with pytest.raises(traces.MissingParamsError) as failure:
        traces.read_params(frame[~gone], ["b", "a"], SIZES, [0, 7])
    assert failure.value.missing == [("b", 0, 0), ("a", 7, 0), ("a", 7, 1)]


def test_a_file_appears_whole_or_not_at_all(tmp_path):
    """Writers write under a hidden per-process ``.partial`` name and rename when done:
    an aborted write leaves nothing, a partial file that a killed writer left behind is
    removed by the next writer of that file, and two writers never share a partial."""
    path = tmp_path / "runs" / "b-c0.parquet"
    schema = pa.schema([("x", pa.float64())])
    with pytest.raises(RuntimeError, match="stop"):
        with traces.TraceWriter(path, schema, {}) as writer:
            writer.write({"x": np.arange(3.0)})
            raise RuntimeError("stop")
    assert list(path.parent.iterdir()) == []
    stale = path.with_name(f".{path.name}.999999.partial")
    stale.write_bytes(b"half a file")
    with traces.atomic_path(path) as tmp:
        assert not stale.exists() and tmp.name == f".{path.name}.{os.getpid()}.partial"
        tmp.write_bytes(b"whole")
        assert not path.exists()
    assert path.read_bytes() == b"whole"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_provenance_holds_no_time_host_or_path():
    import json
    import platform

    record = traces.provenance("abc")
    assert set(record) == {"python", "packages", "numerics", "config_hash", "git_commit"}
    text = json.dumps(record)
    assert os.getcwd() not in text

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        elif isinstance(value, list):
            for v in value:
                yield from leaves(v)
        else:
            yield value

    assert platform.node() not in set(leaves(record))


def test_every_reader_names_a_damaged_file_and_the_fix(tmp_path):
    """One message from the one reader, whatever reads the file: trace tables, data sets,
    validation tables and their metadata alike."""
    from backproplab import datasets

    path = tmp_path / "datasets" / "d.parquet"
    traces.write_table(path, pa.table({"x0": [1.0], "y0": [0.0], "split": ["train"]}), {})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    messages = []
    for read in (
        traces.read_table,
        traces.read_frame,
        traces.read_metadata,
        datasets.read_parquet,
        lambda p: traces.read_params([p], "r", [1, 1], 0),
    ):
        with pytest.raises(traces.TraceError) as info:
            read(path)
        messages.append(str(info.value))
    assert len(set(messages)) == 1
    assert messages[0].startswith(f"cannot read {path}: the file is truncated or corrupt (")
    assert messages[0].endswith(
        f"Delete it and run the same snakemake command again, or add `--forcerun {path}` "
        f"to that command: either remakes it, and what depends on it"
    )
    missing = tmp_path / "none.parquet"
    with pytest.raises(traces.TraceError, match=f"cannot read {missing}: the file does not"):
        traces.read_table(missing)


_PEAK_RSS = """
import resource, sys
from pathlib import Path
from backproplab import numerics
numerics.apply("canonical")
from backproplab import config as cfg, datasets
from backproplab.experiments import plan
from backproplab.training import job
root, out, epochs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
config = cfg.load(root / "config" / "test.yaml")
config["experiments"] = {"encoder": config["experiments"]["encoder"]}
config["experiments"]["encoder"]["train"]["epochs"] = epochs
config["experiments"]["encoder"]["trace"].update(state_every=10, norms_every=10)
p = plan(cfg.validate(config))
datasets.make(p.config["datasets"]["encoder8"], out / "d.parquet")
block = p.experiments["encoder"].blocks[0].name
tables = {t: out / f"{t}.parquet" for t in ("runs", "metrics", "state", "norms")}
job.train_block(p.block_spec("encoder", block), out / "d.parquet", tables)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_a_training_job_streams_its_state(root, tmp_path):
    """Ten times the epochs, ten times the state rows (2.4 million, some 60 MB as Arrow
    columns), and the job's peak resident memory grows by less than 30 MB: state rows go
    to Parquet in row groups as they are recorded, never held whole."""
    import subprocess
    import sys

    peak, rows = {}, {}
    for epochs in (2000, 20000):
        out = tmp_path / str(epochs)
        out.mkdir()
        cmd = [sys.executable, "-c", _PEAK_RSS, str(root), str(out), str(epochs)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        peak[epochs] = int(proc.stdout.split()[-1]) / 1024  # MB (ru_maxrss is in KiB)
        rows[epochs] = pq.ParquetFile(out / "state.parquet").metadata.num_rows
    assert rows[20000] > 2_000_000 and rows[20000] > 9 * rows[2000]
    assert pq.ParquetFile(tmp_path / "20000" / "state.parquet").metadata.num_row_groups > 10
    assert peak[20000] - peak[2000] < 30, peak


# -- the tables of config/test.yaml, as any tool reads them -------------------------------

TABLES = ("runs", "metrics", "state", "norms")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """``results/`` of config/test.yaml's data sets and traces (the replay: the train
    job of every block, in one process), in a directory of its own."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    work = tmp_path_factory.mktemp("replayed")
    cmd = [sys.executable, "-m", "backproplab.replay", "config/test.yaml"]
    cmd += [str(work / "results"), "--no-validation"]
    subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True)
    return work


def _files(work, table):
    files = sorted((work / "results" / "traces").glob(f"*/{table}/*.parquet"))
    assert files, table
    return files


def test_the_documented_schemas_are_the_written_ones(root):
    """traces.schema.yaml lists every column of traces.SCHEMAS, in its order."""
    import yaml

    from backproplab.settings import Model, Train

    doc = yaml.safe_load((root / "workflow/schemas/traces.schema.yaml").read_text())["$defs"]
    settings = [Model.setting(k).column or k for k in Model.keys()]
    settings += [Train.setting(k).column or k for k in Train.keys()]
    for table, schema in traces.SCHEMAS.items():
        documented = list(doc[table]["columns"])
        if "<setting>" in documented:
            at = documented.index("<setting>")
            documented[at : at + 1] = settings
        assert documented == schema.names, table
    assert [c for c in doc["metrics"]["columns"] if c in traces.METRIC_COLUMNS] == list(
        traces.METRIC_COLUMNS
    )


@pytest.mark.parametrize("table", TABLES)
def test_every_table_of_a_kind_has_one_schema(replayed, table):
    """Whatever the experiment, its loss, metrics and data set: the same columns, in the
    same order, of the same types; so DuckDB reads them all with one glob, keeping every
    column, and Polars reads them with no SchemaError."""
    import duckdb
    import polars as pl

    for path in _files(replayed, table):
        assert pq.read_schema(path).remove_metadata() == traces.SCHEMAS[table], path
    glob = str(replayed / "results" / "traces" / "*" / table / "*.parquet")
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in _files(replayed, table))
    duck = duckdb.sql(f"SELECT * FROM '{glob}'")
    assert duck.columns == traces.SCHEMAS[table].names
    assert duckdb.sql(f"SELECT count(DISTINCT experiment) FROM '{glob}'").fetchall() == [(3,)]
    frame = pl.read_parquet(glob)
    assert frame.columns == traces.SCHEMAS[table].names and frame.height == rows


def test_a_metric_a_block_does_not_record_is_a_typed_null(replayed):
    """encoder records mse and has no test split; moons has a test split and no extra
    metric. The columns are there in both, nulls where nothing was recorded; the
    project's pandas reader leaves those out."""
    tables = {
        (e, t): pa.concat_tables(
            [traces.read_table(p) for p in _files(replayed, t) if p.parts[-3] == e]
        )
        for e in ("encoder", "moons")
        for t in ("runs", "metrics")
    }
    recorded = {"encoder": {"loss", "accuracy", "mse"}}
    recorded["moons"] = {"loss", "accuracy", "test_loss", "test_accuracy"}
    for (experiment, table), data in tables.items():
        prefix = "final_" if table == "runs" else ""
        for metric in traces.METRIC_COLUMNS:
            column = data[prefix + metric]
            assert column.type == pa.float64()
            nulls = 0 if metric in recorded[experiment] else len(column)
            assert column.null_count == nulls, (experiment, table, metric)
        for path in _files(replayed, table):
            if path.parts[-3] == experiment:
                frame = traces.read_frame(path)
                kept = {c.removeprefix(prefix) for c in frame.columns}
                assert kept & set(traces.METRIC_COLUMNS) == recorded[experiment], path
                meta = traces.read_metadata(path)["metric_columns"]
                assert set(meta) == recorded[experiment]


@pytest.mark.parametrize("table", ["metrics", "state", "norms"])
def test_every_table_names_its_runs_experiment_variant_lr_and_seed(replayed, table):
    runs = pd.concat([pd.read_parquet(p) for p in _files(replayed, "runs")])
    runs = runs.set_index("run_id")[list(traces.IDENTITY_COLUMNS)]
    for path in _files(replayed, table):
        frame = pd.read_parquet(path)
        assert str(frame.experiment.dtype) == "category"
        ids = frame.run_id.astype(str)
        for column in traces.IDENTITY_COLUMNS:
            expected = runs.loc[ids, column].to_numpy()
            got = frame[column].astype(str if column in ("experiment", "variant") else None)
            np.testing.assert_array_equal(got.to_numpy(), expected, err_msg=f"{path} {column}")


def test_the_identity_columns_cost_bytes_per_row_group_not_per_row(replayed):
    """Dictionary-encoded and constant within a run, the four columns add well under a
    byte per row to a state table (their column chunks' footers, mostly)."""
    for path in _files(replayed, "state"):
        meta = pq.ParquetFile(path).metadata
        group = meta.row_group(0)
        sizes = {
            group.column(k).path_in_schema: group.column(k).total_compressed_size
            for k in range(group.num_columns)
        }
        identity = sum(sizes[c] for c in traces.IDENTITY_COLUMNS)
        assert identity < 600 + 0.05 * group.num_rows, (path, sizes)


def test_an_init_that_is_a_name_is_plain_text(replayed):
    """``init: he_normal`` reads he_normal, not "he_normal"; an init with options or
    explicit values stays JSON; both read back to the settings the run was trained with."""
    import json

    from backproplab.settings import Model

    runs = pd.concat([pd.read_parquet(p) for p in _files(replayed, "runs")], ignore_index=True)
    init = dict(zip(runs.variant, runs.init, strict=False))
    assert init["sound"] == "he_normal"
    assert json.loads(init["literal"]) == {"name": "normal", "mean": -1, "std": 1}
    assert json.loads(init["base"])["name"] == "explicit"
    for path in _files(replayed, "runs"):
        spec = traces.read_metadata(path)["block"]
        row = pd.read_parquet(path).iloc[0]
        assert Model.from_row(row) == Model.from_mapping(spec["model"])


def test_the_report_shows_the_config_hash_the_traces_hold(replayed, test_config):
    """A trace's config hash is the digest of the block spec stored beside it, the one the
    workflow gives its job; the report lists that same hash for each training job."""
    from backproplab import config as cfg
    from backproplab.experiments import plan
    from backproplab.report import page
    from backproplab.settings import digest

    the_plan = plan(cfg.validate(test_config))
    for table in TABLES:
        for path in _files(replayed, table):
            meta = traces.read_metadata(path)
            experiment, block = path.parts[-3], path.stem
            assert meta["provenance"]["config_hash"] == digest(meta["block"])
            assert meta["block"] == the_plan.block_spec(experiment, block)
    for experiment in the_plan.experiments:
        files = [p for p in _files(replayed, "runs") if p.parts[-3] == experiment]
        hashes = page._config_hashes(files)
        assert hashes == {
            b.name: digest(the_plan.block_spec(experiment, b.name))
            for b in the_plan.experiments[experiment].blocks
        }
        text = page._with_hashes("x: 1\n", hashes)
        assert all(f"#   {b}: {h}" in text for b, h in hashes.items())


def _readme_examples(root) -> dict[str, str]:
    """The README's code blocks that read results/traces, by the library they import."""
    import re

    blocks = re.findall(r"```python\n(.*?)```", (root / "README.md").read_text(), re.S)
    examples = {}
    for code in blocks:
        if "results/traces/" in code:
            library = re.match(r"import (\w+)", code).group(1)
            assert library not in examples, library
            examples[library] = code
    return examples


@pytest.mark.parametrize("library", ["pandas", "duckdb", "polars"])
def test_the_readme_examples_run(root, replayed, library, monkeypatch):
    """Each of the README's three examples, as written, in a directory holding the
    results of config/test.yaml: what it computes is there and right."""
    examples = _readme_examples(root)
    assert set(examples) == {"pandas", "duckdb", "polars"}
    monkeypatch.chdir(replayed)
    names: dict = {}
    exec(compile(examples[library], f"README.md ({library})", "exec"), names)
    if library == "pandas":
        final = names["final"]
        assert list(final.index.get_level_values("variant")) == ["literal", "sound"]
        assert final.test_accuracy.between(0.5, 1).all() and (final.loss > 0).all()
    elif library == "duckdb":
        runs = names["runs"]
        assert set(runs.experiment) == {"encoder", "moons", "mazur"}
        assert runs.runs.sum() == 13
        moons = runs[runs.experiment == "moons"]
        assert moons.test_accuracy.notna().all()
        assert runs[runs.experiment != "moons"].test_accuracy.isna().all()
    else:
        weights = names["weights"]
        published = [0.149780716, 0.24975114, 0.19956143, 0.29950229]
        published += [0.35891648, 0.511301270, 0.408666186, 0.561370121]
        assert weights["value"].round(8).to_list() == pytest.approx(published, abs=1e-8)
