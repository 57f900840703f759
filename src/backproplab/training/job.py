"""The train job: one block of runs trained into its four Parquet trace tables.

:func:`train_block` takes plain data (the block spec that ``experiments.Plan.block_spec``
builds, which is also the job's ``params``) and paths, so it runs the same from
Snakemake (rule ``train``), from a test, or by hand.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import threadpoolctl

from .. import datasets, traces
from ..engine import TraceState
from ..experiments import digest
from ..settings import TENSORS, Model, Schedule, Trace, Train
from . import trainer as trainers

__all__ = ["initial_params", "train_block"]

log = logging.getLogger(__name__)


class _StateRecorder:
    """The trace hook: writes the tensors and per-layer norms the schedule asks for."""

    def __init__(
        self,
        schedule: Schedule,
        spec: dict,
        state: traces.TraceWriter,
        norms: traces.TraceWriter,
    ):
        self.schedule = schedule
        self.identity = _Identity(spec)
        self.state, self.norms = state, norms
        self._grids: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def _identity(self, runs: np.ndarray, repeat: int) -> dict:
        """The identity columns of the runs ``runs`` (block indices), each repeated."""
        return self.identity(np.repeat(runs, repeat))

    def __call__(self, st: TraceState) -> None:
        if len(st.runs) == 0:
            return  # every run of the block is frozen: nothing left to record
        tensors = self.schedule.tensors_at(st.epoch)
        if tensors:
            self._write_state(st, tensors)
        if st.epoch in self.schedule.norms:
            R, L = st.weight_norms.shape
            self.norms.write(
                {
                    **self._identity(st.runs, L),
                    "epoch": np.full(R * L, st.epoch, np.int32),
                    "layer": np.tile(np.arange(L, dtype=np.int16), R),
                    "weight_norm": st.weight_norms.ravel(),
                    "grad_norm": st.grad_norms.ravel(),
                }
            )

    def _write_state(self, st: TraceState, tensors) -> None:
        """Every tensor of every layer at this epoch, in that order, in as few batches
        of rows as the row groups allow: a batch per tensor costs more in Arrow calls
        than the tensors of a small network do in bytes."""
        batch, rows = [], 0
        for layer in range(len(st.params)):
            for tensor in tensors:
                values = _tensor(st, layer, tensor)
                batch.append((layer, TENSORS.index(tensor), values))
                rows += values.size
                if rows >= traces.ROW_GROUP_ROWS:
                    self._write_batch(st, batch)
                    batch, rows = [], 0
        if batch:
            self._write_batch(st, batch)

    def _write_batch(self, st: TraceState, batch: list) -> None:
        """Rows of ``(layer, tensor code, values (R, rows, cols))`` pieces, in order."""
        sizes = [values.size for _, _, values in batch]
        runs = np.concatenate(
            [np.repeat(st.runs, values.size // values.shape[0]) for _, _, values in batch]
        )
        grids = [self._grid(values.shape) for _, _, values in batch]
        codes = np.repeat(np.array([code for _, code, _ in batch], np.int8), sizes)
        self.state.write(
            {
                **self.identity(runs),
                "epoch": np.full(len(runs), st.epoch, np.int32),
                "layer": np.repeat(np.array([layer for layer, _, _ in batch], np.int16), sizes),
                "tensor": pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(TENSORS)),
                "i": np.concatenate([i for i, _ in grids]),
                "j": np.concatenate([j for _, j in grids]),
                # A copy (concatenate makes one): Arrow wraps numpy memory, and the loop
                # updates its arrays in place.
                "value": np.concatenate(
                    [np.asarray(values, np.float64).ravel() for _, _, values in batch]
                ),
            }
        )

    def _grid(self, shape: tuple[int, int, int]):
        """The i and j of every entry of an ``(R, rows, cols)`` array, in C order."""
        if shape not in self._grids:
            runs, rows, cols = shape
            i = np.tile(np.repeat(np.arange(rows, dtype=np.int32), cols), runs)
            j = np.tile(np.arange(cols, dtype=np.int32), runs * rows)
            self._grids[shape] = (i, j)
        return self._grids[shape]


def _tensor(st: TraceState, layer: int, tensor: str) -> np.ndarray:
    """One recorded tensor of a layer, ``(R, rows, cols)``; only the tensors asked for
    are read (the compiled trainer computes ``z`` and ``a`` when they are first read)."""
    match tensor:
        case "W":
            return st.params[layer][0]
        case "b":
            return st.params[layer][1][:, None, :]
        case "dW":
            return st.grads[layer][0]
        case "db":
            return st.grads[layer][1][:, None, :]
        case "z":
            return st.z[layer]
        case "a":
            return st.a[layer + 1]
    raise ValueError(f"tensor {tensor!r} is not one of {TENSORS}")


def initial_params(spec: dict) -> list:
    """The initial parameters of the block ``spec`` (its trace's ``block`` metadata), as
    its training job drew them: for runs frozen at epoch 0, whose trace holds no state
    (their initial parameters already broke the divergence bound)."""
    return _init_params(spec, Model.from_mapping(spec["model"]))


def _init_params(spec: dict, model: Model) -> list:
    prefix = None
    if spec["legacy_replay_dataset"]:
        d = spec["dataset_spec"]

        def prefix(rs):  # the notebook drew its data from the stream first
            return datasets.spiral_draws(rs, d["n_samples"], d["noise"])

    seeds = [r["seed"] for r in spec["runs"]]
    return model.init_params(seeds, spec["rng"], legacy_prefix=prefix)


class _Identity:
    """The identity columns of a block's rows (``traces.IDENTITY_COLUMNS`` and
    ``run_id``): called with the block index of each row's run, dictionary-encoded where
    they are strings."""

    def __init__(self, spec: dict):
        runs = spec["runs"]
        self.run_ids = pa.array([r["run_id"] for r in runs], pa.string())
        self.experiment = pa.array([spec["experiment"]], pa.string())
        self.variant = pa.array([spec["variant"]], pa.string())
        self.lr = np.array([r["lr"] for r in runs], np.float64)
        self.seed = np.array([r["seed"] for r in runs], np.int64)

    def __call__(self, runs: np.ndarray) -> dict:
        runs = np.asarray(runs, dtype=np.int32)
        first = pa.array(np.zeros(len(runs), np.int32))
        return {
            "run_id": pa.DictionaryArray.from_arrays(pa.array(runs), self.run_ids),
            "experiment": pa.DictionaryArray.from_arrays(first, self.experiment),
            "variant": pa.DictionaryArray.from_arrays(first, self.variant),
            "lr": self.lr[runs],
            "seed": self.seed[runs],
        }


def _recorded(history: dict) -> list[str]:
    """The metric columns a training result holds, checked against the schema's."""
    names = [k for k in history if k != "epoch"]
    if unknown := [k for k in names if k not in traces.METRIC_COLUMNS]:
        raise ValueError(f"metrics {unknown} are not in traces.METRIC_COLUMNS")
    return names


def _metric_columns(values: dict, n: int, prefix: str = "") -> dict:
    """Every metric column of the schema: the recorded ones, the rest typed nulls."""
    return {
        f"{prefix}{m}": values[m] if m in values else pa.nulls(n, pa.float64())
        for m in traces.METRIC_COLUMNS
    }


def _run_rows(spec: dict, model: Model, tr: Train, engine: str, result) -> pa.Table:
    """The run table: the runs' identity and settings, status, and final metrics."""
    runs = spec["runs"]
    n = len(runs)
    final = {k: result.history[k][:, -1] for k in _recorded(result.history)}
    columns = {
        "run_id": [r["run_id"] for r in runs],
        "experiment": [spec["experiment"]] * n,
        "variant": [spec["variant"]] * n,
        "block": [spec["block"]] * n,
        "dataset": [spec["dataset"]] * n,
        "lr": [r["lr"] for r in runs],
        "seed": [r["seed"] for r in runs],
        **model.columns(n),
        **tr.columns(n),
        "rng": [spec["rng"]] * n,
        "engine": [engine] * n,
        "status": result.status,
        "diverged_epoch": pa.array(result.diverged_epoch, pa.int64()),
        **_metric_columns(final, n, "final_"),
    }
    return _table(columns, traces.RUNS_SCHEMA)


def _table(columns: dict, schema: pa.Schema) -> pa.Table:
    """The columns as a table of ``schema``: every column, in its order, of its type."""
    if extra := sorted(set(columns) - set(schema.names)):
        raise ValueError(f"columns {extra} are not in the schema")
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _metrics_table(spec: dict, history: dict, diverged: list) -> pa.Table:
    """Long metrics table; a diverged run's rows stop before its divergence epoch."""
    epochs = history["epoch"]
    R, T = history["loss"].shape
    alive = np.ones((R, T), bool)
    for r, e in enumerate(diverged):
        if e is not None:
            alive[r] = epochs < e
    run_index, step = np.nonzero(alive)
    recorded = {name: history[name][run_index, step] for name in _recorded(history)}
    columns = {
        **_Identity(spec)(run_index),
        "epoch": epochs[step].astype(np.int32),
        **_metric_columns(recorded, len(run_index)),
    }
    return _table(columns, traces.METRICS_SCHEMA)


def train_block(
    spec: dict, dataset_path: str | Path, out: dict[str, str | Path], threads: int = 1
) -> None:
    """Train one block of runs and write its four trace tables.

    Parameters
    ----------
    spec : dict
        The block spec (``Plan.block_spec``).
    dataset_path : path
        The block's data set (``results/datasets/{name}.parquet``).
    out : dict
        Paths for ``runs``, ``metrics``, ``state`` and ``norms``.
    threads : int
        The compiled trainer's threads (the NumPy engine always uses one BLAS thread);
        no thread count changes a bit.
    """
    ds = datasets.read_parquet(dataset_path)
    X, Y = ds.part("train")
    eval_sets = {"test": ds.part("test")} if (ds.split == "test").any() else {}
    model, tr = Model.from_mapping(spec["model"]), Train.from_mapping(spec["train"])
    schedule = Trace.from_mapping(spec["trace"]).schedule(tr.epochs)
    mlp = model.mlp()
    params = _init_params(spec, model)
    engine_args = tr.engine_args()
    trainer = trainers.select(
        spec["engine"], mlp, params, X, Y, threads=threads, eval_sets=eval_sets, **engine_args
    )
    if trainer.fallback:
        log.warning(
            "the compiled trainer does not cover this block (%s): training with the NumPy engine",
            trainer.fallback,
        )
    run_ids = [r["run_id"] for r in spec["runs"]]
    # The metric columns this block records (the rest are typed nulls; traces.read_frame
    # leaves them out), in the schema's order.
    recorded = ["loss", "accuracy", *spec["metrics"]]
    recorded += [f"{name}_{m}" for name in eval_sets for m in ("loss", "accuracy")]
    meta = {
        "provenance": traces.provenance(digest(spec)),
        "block": spec,
        "trainer": trainer.provenance(),
        "metric_columns": [m for m in traces.METRIC_COLUMNS if m in recorded],
    }
    log.info(
        "training %d runs of %s for %d epochs on %d samples with the %s engine",
        len(run_ids),
        mlp,
        tr.epochs,
        len(X),
        trainer.engine,
    )
    started = time.perf_counter()
    state_schema, norms_schema = traces.STATE_SCHEMA, traces.NORMS_SCHEMA
    # One BLAS thread: results then do not depend on the machine's core count.
    with (
        threadpoolctl.threadpool_limits(1),
        traces.TraceWriter(out["state"], state_schema, meta) as state,
        traces.TraceWriter(out["norms"], norms_schema, meta) as norms,
    ):
        recorder = _StateRecorder(schedule, spec, state, norms)
        result = trainer.train(
            mlp,
            params,
            X,
            Y,
            lr=[r["lr"] for r in spec["runs"]],
            seeds=[r["seed"] for r in spec["runs"]],
            metrics=spec["metrics"],
            eval_sets=eval_sets,
            metrics_every=schedule.trace.metrics_every,
            trace_at=schedule.hook_epochs(),
            on_trace=recorder,
            **engine_args,
        )
    log.info(
        "trained in %.2f s; status: %s",
        time.perf_counter() - started,
        {s: result.status.count(s) for s in sorted(set(result.status))},
    )
    for run_id, status, epoch in zip(run_ids, result.status, result.diverged_epoch, strict=True):
        if status != "ok":
            log.warning("run %s diverged at epoch %s", run_id, epoch)
    if sorted(_recorded(result.history)) != sorted(meta["metric_columns"]):
        raise RuntimeError(
            f"the engine recorded {_recorded(result.history)}, the metadata says "
            f"{meta['metric_columns']}"
        )
    traces.write_table(
        out["metrics"], _metrics_table(spec, result.history, result.diverged_epoch), meta
    )
    traces.write_table(out["runs"], _run_rows(spec, model, tr, trainer.engine, result), meta)
