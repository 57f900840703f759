"""Parquet traces: table schemas, a streaming writer, a checked reader, provenance.

Four tidy tables per training block (documented in ``workflow/schemas/traces.schema.yaml``):

- ``runs``: one row per run: its settings, status and final metrics;
- ``metrics``: one row per run and recorded epoch;
- ``state``: one row per run, epoch, layer, tensor and entry ``(i, j)``;
- ``norms``: one row per run, recorded epoch and layer: weight and gradient norms.

Every table of a kind has one schema, in every experiment (:data:`SCHEMAS`), so that any
reader can open all of them at once (``results/traces/*/metrics/*.parquet``): the metric
columns are all those the config schema allows (:data:`METRIC_COLUMNS`), a metric the
block does not record being a typed null column, and the metrics, state and norms tables
repeat each run's ``experiment``, ``variant``, ``lr`` and ``seed`` beside its ``run_id``
(dictionary-encoded: they cost a few bytes per row group, not per row).
:func:`read_frame`, the project's pandas view, leaves out the metric columns a file
does not record.

:func:`read_params` turns state rows back into the engine's parameters.

Files are written to a temporary name and renamed when complete, so a file under its
final name is always whole. Float columns use Parquet's BYTE_STREAM_SPLIT encoding with
zstd (float64 weights barely compress under zstd alone). Nothing time- or host-dependent
is stored: provenance holds package versions, the config hash and the git commit. The
config hash of a file is :func:`~backproplab.settings.digest` of the spec stored beside
it (a trace's ``backproplab.block``: the block spec, all that its training job was given),
and the report shows the same hash for each training job.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import platform
import re
import subprocess
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import numerics
from .engine.losses import LOSS_NAMES
from .settings import Model, Train

__all__ = [
    "IDENTITY_COLUMNS",
    "METRICS_SCHEMA",
    "METRIC_COLUMNS",
    "NORMS_SCHEMA",
    "RUNS_SCHEMA",
    "SCHEMAS",
    "STATE_SCHEMA",
    "MissingParamsError",
    "TraceError",
    "TraceWriter",
    "atomic_path",
    "damaged",
    "provenance",
    "read_frame",
    "read_metadata",
    "read_params",
    "read_table",
]

ROW_GROUP_ROWS = 1 << 17
_RUN_ID = pa.dictionary(pa.int32(), pa.string())
_NAME = pa.dictionary(pa.int32(), pa.string())

# The data sets a run is evaluated on besides its training data (the train job's
# ``eval_sets``): a data set with a test split gives test_loss and test_accuracy.
EVAL_SETS = ("test",)
# Every metric column a metrics table may have, in its order: the training loss and
# accuracy, each extra loss the config schema allows (``metrics``, in its enum order),
# then each evaluation set's loss and accuracy. The run table's final_* columns follow
# the same order. A metric a block does not record is a column of typed nulls.
METRIC_COLUMNS = (
    "loss",
    "accuracy",
    *LOSS_NAMES,
    *(f"{name}_{m}" for name in EVAL_SETS for m in ("loss", "accuracy")),
)
# Columns of the metrics, state and norms tables that repeat the run's identity (the run
# table's), so that a table reads on its own, with no join to the run table.
IDENTITY_COLUMNS = ("experiment", "variant", "lr", "seed")
_IDENTITY = [
    ("run_id", _RUN_ID),
    ("experiment", _NAME),
    ("variant", _NAME),
    ("lr", pa.float64()),
    ("seed", pa.int64()),
]
# Columns Parquet stores dictionary-encoded besides the strings: constant within a run,
# they then cost a few bytes per row group (floats are otherwise BYTE_STREAM_SPLIT).
_DICTIONARY_NUMBERS = ("lr", "seed")

STATE_SCHEMA = pa.schema(
    [
        *_IDENTITY,
        ("epoch", pa.int32()),
        ("layer", pa.int16()),
        ("tensor", pa.dictionary(pa.int8(), pa.string())),
        ("i", pa.int32()),
        ("j", pa.int32()),
        ("value", pa.float64()),
    ]
)
NORMS_SCHEMA = pa.schema(
    [
        *_IDENTITY,
        ("epoch", pa.int32()),
        ("layer", pa.int16()),
        ("weight_norm", pa.float64()),
        ("grad_norm", pa.float64()),
    ]
)
METRICS_SCHEMA = pa.schema(
    [*_IDENTITY, ("epoch", pa.int32()), *((m, pa.float64()) for m in METRIC_COLUMNS)]
)


def _setting_fields(settings) -> list[tuple[str, pa.DataType]]:
    """The run-table columns of a settings class (``Model.columns``' names and types)."""
    types = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
    return [
        (settings.setting(k).column or k, types.get(settings.setting(k).arrow, pa.string()))
        for k in settings.keys()
    ]


RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("experiment", pa.string()),
        ("variant", pa.string()),
        ("block", pa.string()),
        ("dataset", pa.string()),
        ("lr", pa.float64()),
        ("seed", pa.int64()),
        *_setting_fields(Model),
        *_setting_fields(Train),
        ("rng", pa.string()),
        ("engine", pa.string()),
        ("status", pa.string()),
        ("diverged_epoch", pa.int64()),
        *((f"final_{m}", pa.float64()) for m in METRIC_COLUMNS),
    ]
)
# The one schema of each table kind, in every experiment.
SCHEMAS = {
    "runs": RUNS_SCHEMA,
    "metrics": METRICS_SCHEMA,
    "state": STATE_SCHEMA,
    "norms": NORMS_SCHEMA,
}


class TraceError(RuntimeError):
    """A results file that cannot be read, with what to do about it.

    A workflow script that fails with it prints the message alone, no traceback (which
    goes to the rule's log; :func:`backproplab.logs.to_file`): the message says it all.
    """

    brief = True


class MissingParamsError(TraceError):
    """State rows that do not hold a whole ``W`` and ``b`` where they were asked for.

    Attributes
    ----------
    missing : list of (run_id, epoch, layer)
        Each stack position and layer whose ``W`` or ``b`` lacks an entry, layer by layer
        and, within a layer, in stack order.
    """

    def __init__(self, missing: list[tuple[str, int, int]]):
        self.missing = missing
        where = ", ".join(f"run {r} epoch {e} layer {layer}" for r, e, layer in missing)
        super().__init__(f"the state rows lack W or b of {where}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    The temporary name holds the writer's process id (``.{name}.{pid}.partial``), so
    that two writers of one file never write into the same file: a job left running by
    a Snakemake that was killed with SIGKILL goes on writing while the next run remakes
    its outputs, and whichever renames last publishes a whole file. Partial files that
    earlier writers of ``path`` left behind (a job killed mid-write) are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*partial"):
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@functools.cache
def _git_commit() -> str:
    """The commit of the working directory's repository (the workflow's), if any."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(config_hash: str) -> dict:
    """Versions, numerics, config hash and git commit: what made a file, never when or
    where (host details go to the job's log)."""
    packages = {}
    for name in (
        "backproplab",
        "numpy",
        "scipy",
        "pandas",
        "pyarrow",
        "scikit-learn",
        "matplotlib",
        "numba",
        "llvmlite",
    ):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "python": platform.python_version(),
        "packages": packages,
        "numerics": numerics.provenance(),
        "config_hash": config_hash,
        "git_commit": _git_commit(),
    }


def _with_metadata(schema: pa.Schema, metadata: dict) -> pa.Schema:
    encoded = {
        f"backproplab.{k}".encode(): json.dumps(v, sort_keys=True).encode()
        for k, v in metadata.items()
    }
    return schema.with_metadata(encoded)


class TraceWriter:
    """Stream one table to Parquet in row groups; use as a context manager.

    Parameters
    ----------
    path : path
        Final file name; the data go to a hidden ``.partial`` file until :meth:`close`.
    schema : pyarrow.Schema
    metadata : dict
        Stored as JSON under ``backproplab.<key>`` in the file's key-value metadata.
    """

    def __init__(self, path: str | Path, schema: pa.Schema, metadata: dict):
        self._atomic = atomic_path(path)
        self._tmp = self._atomic.__enter__()
        self.schema = _with_metadata(schema, metadata)
        dictionary = [
            f.name
            for f in schema
            if pa.types.is_dictionary(f.type)
            or pa.types.is_string(f.type)
            or f.name in _DICTIONARY_NUMBERS
        ]
        floats = [
            f.name for f in schema if pa.types.is_floating(f.type) and f.name not in dictionary
        ]
        # Min/max statistics on the integer columns only (epoch, layer, i, j, seed: what
        # a reader skips row groups by); on the float values and the dictionary-encoded
        # names they cost a third of a state table's write time.
        integers = [f.name for f in schema if pa.types.is_integer(f.type)]
        self._writer = pq.ParquetWriter(
            self._tmp,
            self.schema,
            compression="zstd",
            use_dictionary=dictionary,
            use_byte_stream_split=floats,
            write_statistics=integers,
        )
        self._pending: list[pa.RecordBatch] = []
        self._rows = 0

    def write(self, columns: dict[str, np.ndarray | pa.Array]) -> None:
        """Append rows given as equal-length columns (in schema order)."""
        batch = pa.record_batch([columns[f.name] for f in self.schema], schema=self.schema)
        self._pending.append(batch)
        self._rows += batch.num_rows
        if self._rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(
                pa.Table.from_batches(self._pending, self.schema), row_group_size=max(self._rows, 1)
            )
        self._pending, self._rows = [], 0

    def close(self) -> None:
        """Write what is pending and publish the file under its final name."""
        self._flush()
        self._writer.close()
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        """Discard the partial file."""
        with contextlib.suppress(Exception):
            self._writer.close()
        self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_table(path: str | Path, table: pa.Table, metadata: dict) -> None:
    """Write a whole table at once, with the same encodings and metadata as a stream."""
    with TraceWriter(path, table.schema, metadata) as writer:
        for batch in table.to_batches(max_chunksize=ROW_GROUP_ROWS):
            writer.write(dict(zip(table.schema.names, batch.columns, strict=True)))


def damaged(path: str | Path, exc: BaseException) -> TraceError:
    """The one error for a results file that exists but cannot be read: which file, what
    is wrong with it, and how to remake it."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    # pyarrow names the file again ("Could not open Parquet input source '...': ...").
    detail = re.sub(r"^Could not open Parquet input source '[^']*': ", "", detail)
    detail = detail if len(detail) <= 200 else detail[:200] + "..."
    return TraceError(
        f"cannot read {path}: the file is truncated or corrupt ({type(exc).__name__}"
        f"{': ' + detail if detail else ''}). Delete it and run the same snakemake command "
        f"again, or add `--forcerun {path}` to that command: either remakes it, and what "
        f"depends on it"
    )


def _missing(path: str | Path) -> TraceError:
    return TraceError(
        f"cannot read {path}: the file does not exist; run the pipeline (snakemake) to make it"
    )


def read_table(path: str | Path, columns: list[str] | None = None, filters=None) -> pa.Table:
    """Read a Parquet file the pipeline wrote (a trace table, a data set, a validation
    table): the one reader of every stage, so that a damaged file is reported the same
    way wherever it is read.

    Parameters
    ----------
    path : path
    columns : list of str, optional
        Only these columns.
    filters : optional
        Row filters, as :func:`pyarrow.parquet.read_table` takes them.

    Raises
    ------
    TraceError
        Naming the file and the fix, if it is missing, truncated or corrupt
        (:func:`damaged`).
    """
    try:
        return pq.read_table(path, columns=columns, filters=filters)
    except FileNotFoundError as exc:
        raise _missing(path) from exc
    except (pa.ArrowException, OSError) as exc:
        raise damaged(path, exc) from exc


def read_frame(path: str | Path, columns: list[str] | None = None):
    """:func:`read_table` as a pandas DataFrame (what ``pandas.read_parquet`` gives), less
    the metric columns the file does not record.

    A trace's metrics and run tables have a column for every metric of
    :data:`METRIC_COLUMNS` (``final_<metric>`` in the run table), typed nulls where the
    block does not record it (an extra loss the experiment does not ask for, test metrics
    without a test split); the file's ``backproplab.metric_columns`` metadata lists those
    it records. The frame leaves the others out, so that a column is there exactly when
    the experiment records it. Other files are read whole.
    """
    table = read_table(path, columns)
    raw = table.schema.metadata or {}
    if b"backproplab.metric_columns" in raw:
        recorded = set(json.loads(raw[b"backproplab.metric_columns"]))
        absent = {m for m in METRIC_COLUMNS if m not in recorded}
        absent |= {f"final_{m}" for m in absent}
        table = table.drop_columns([c for c in table.column_names if c in absent])
    return table.to_pandas()


def read_metadata(path: str | Path) -> dict:
    """The ``backproplab.*`` key-value metadata of a Parquet file the pipeline wrote,
    decoded.

    Raises
    ------
    TraceError
        As :func:`read_table` does.
    """
    try:
        raw = pq.read_schema(path).metadata or {}
    except FileNotFoundError as exc:
        raise _missing(path) from exc
    except (pa.ArrowException, OSError) as exc:
        raise damaged(path, exc) from exc
    return {
        k.decode().removeprefix("backproplab."): json.loads(v)
        for k, v in raw.items()
        if k.startswith(b"backproplab.")
    }


def read_params(
    state,
    run_ids: str | Sequence[str],
    sizes: Sequence[int],
    epochs: int | Sequence[int],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The weights and biases of runs at epochs, from state-table rows, stacked along
    axis 0 as the engine wants them.

    Stack position ``k`` holds run ``run_ids[k]`` at epoch ``epochs[k]``; a single run id
    (several epochs of one run) or a single epoch (several runs at one epoch) stands for
    every position.

    Parameters
    ----------
    state : pandas.DataFrame or path or sequence of path
        State rows (columns ``run_id``, ``epoch``, ``layer``, ``tensor``, ``i``, ``j``,
        ``value``; see :data:`STATE_SCHEMA`), or the state Parquet files to read them
        from (only the rows at ``epochs`` are read).
    run_ids : str or sequence of str
    sizes : sequence of int
        The network's layer sizes, ``[n_0, ..., n_L]``.
    epochs : int or sequence of int

    Returns
    -------
    list of (W, b)
        One pair per layer ``l``: ``W`` of shape ``(K, sizes[l], sizes[l + 1])``, ``b``
        of shape ``(K, sizes[l + 1])``, float64, with ``K`` the number of positions.

    Raises
    ------
    MissingParamsError
        Naming each position and layer whose ``W`` or ``b`` lacks an entry.
    """
    single_run, single_epoch = isinstance(run_ids, str), isinstance(epochs, int | np.integer)
    runs = [run_ids] if single_run else [str(r) for r in run_ids]
    at = [int(epochs)] if single_epoch else [int(e) for e in epochs]
    if single_run:
        runs = runs * len(at)
    if single_epoch:
        at = at * len(runs)
    if len(runs) != len(at):
        raise ValueError(f"{len(runs)} run ids against {len(at)} epochs")
    pairs = list(zip(runs, at, strict=True))
    # Each distinct (run, epoch) is read once; ``order`` maps the positions onto them.
    unique = {pair: u for u, pair in enumerate(dict.fromkeys(pairs))}
    order = [unique[pair] for pair in pairs]
    frame = _state_rows(state, sorted(set(at)))
    frame = frame[(frame["epoch"].isin(set(at)) & frame["tensor"].isin(["W", "b"])).to_numpy()]
    frame = frame[frame["run_id"].astype(str).isin(set(runs)).to_numpy()]
    keys = zip(frame["run_id"].astype(str).tolist(), frame["epoch"].tolist(), strict=True)
    position = np.array([unique.get(key, -1) for key in keys], dtype=np.intp)
    known = position >= 0
    layer_of = frame["layer"].to_numpy()
    tensor_of = frame["tensor"].astype(str).to_numpy()
    i_of, j_of, value_of = (frame[c].to_numpy() for c in ("i", "j", "value"))
    params, missing = [], []
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        W = np.empty((len(unique), n_in, n_out))
        b = np.empty((len(unique), n_out))
        has_W = np.zeros(W.shape, bool)
        has_b = np.zeros(b.shape, bool)
        here = known & (layer_of == layer)
        w = here & (tensor_of == "W")
        W[position[w], i_of[w], j_of[w]] = value_of[w]
        has_W[position[w], i_of[w], j_of[w]] = True
        c = here & (tensor_of == "b")
        b[position[c], j_of[c]] = value_of[c]
        has_b[position[c], j_of[c]] = True
        whole = has_W.all(axis=(1, 2)) & has_b.all(axis=1)
        missing += [(r, e, layer) for (r, e), u in zip(pairs, order, strict=True) if not whole[u]]
        params.append((W[order], b[order]))
    if missing:
        raise MissingParamsError(missing)
    return params


def _state_rows(state, epochs: list[int]):
    """``state`` as a pandas DataFrame: as given, or read from its files at ``epochs``."""
    if hasattr(state, "columns"):
        return state
    import pandas as pd

    paths = [state] if isinstance(state, str | os.PathLike) else list(state)
    columns = ["run_id", "epoch", "layer", "tensor", "i", "j", "value"]
    tables = [read_table(p, columns, filters=[("epoch", "in", epochs)]) for p in paths]
    if not tables:
        return pd.DataFrame({c: [] for c in columns})
    # Each file has its own run-id dictionary: unify them before concatenating.
    return pa.concat_tables(tables, promote_options="permissive").to_pandas()
