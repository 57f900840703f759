"""Parquet traces: table schemas, a streaming writer, a checked reader, provenance.

Four tidy tables per training block (documented in ``workflow/schemas/traces.schema.yaml``):

- ``runs``: one row per run: its settings, status and final metrics;
- ``metrics``: one row per run and recorded epoch;
- ``state``: one row per run, epoch, layer, tensor and entry ``(i, j)``;
- ``norms``: one row per run, recorded epoch and layer: weight and gradient norms.

:func:`read_params` turns state rows back into the engine's parameters.

Files are written to a temporary name and renamed when complete, so a file under its
final name is always whole. Float columns use Parquet's BYTE_STREAM_SPLIT encoding with
zstd (float64 weights barely compress under zstd alone). Nothing time- or host-dependent
is stored: provenance holds package versions, the config hash and the git commit.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import subprocess
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import numerics

__all__ = [
    "METRICS_BASE",
    "NORMS_SCHEMA",
    "STATE_SCHEMA",
    "MissingParamsError",
    "TraceError",
    "TraceWriter",
    "atomic_path",
    "provenance",
    "read_params",
    "read_table",
]

ROW_GROUP_ROWS = 1 << 17
_RUN_ID = pa.dictionary(pa.int32(), pa.string())

STATE_SCHEMA = pa.schema(
    [
        ("run_id", _RUN_ID),
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
        ("run_id", _RUN_ID),
        ("epoch", pa.int32()),
        ("layer", pa.int16()),
        ("weight_norm", pa.float64()),
        ("grad_norm", pa.float64()),
    ]
)
METRICS_BASE = [("run_id", _RUN_ID), ("epoch", pa.int32())]


class TraceError(RuntimeError):
    """A trace file that cannot be read, with what to do about it."""


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
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
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
        floats = [f.name for f in schema if pa.types.is_floating(f.type)]
        strings = [
            f.name for f in schema if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)
        ]
        self._writer = pq.ParquetWriter(
            self._tmp,
            self.schema,
            compression="zstd",
            use_dictionary=strings,
            use_byte_stream_split=floats,
            write_statistics=True,
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


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Read a trace table, turning a damaged file into an error that says what to do.

    Raises
    ------
    TraceError
        Naming the file, if it is missing, truncated or corrupt.
    """
    path = Path(path)
    try:
        return pq.read_table(path, columns=columns)
    except FileNotFoundError as exc:
        raise TraceError(f"trace file {path} does not exist; run the pipeline first") from exc
    except (pa.ArrowException, OSError) as exc:
        raise TraceError(
            f"trace file {path} is truncated or corrupt ({type(exc).__name__}: {exc}). "
            f"Delete it and run snakemake again, or rerun its job with "
            f"`snakemake --forcerun {path}`"
        ) from exc


def read_metadata(path: str | Path) -> dict:
    """The ``backproplab.*`` key-value metadata of a trace file, decoded."""
    try:
        raw = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as exc:
        raise TraceError(f"trace file {path} is truncated or corrupt: {exc}") from exc
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
    import pyarrow.dataset as pds

    paths = [state] if isinstance(state, str | os.PathLike) else list(state)
    return (
        pds.dataset([str(p) for p in paths], format="parquet")
        .to_table(
            columns=["run_id", "epoch", "layer", "tensor", "i", "j", "value"],
            filter=pds.field("epoch").isin(epochs),
        )
        .to_pandas()
    )
