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
from ..engine import TraceState, train
from ..experiments import digest
from ..settings import TENSORS, Model, Schedule, Trace, Train

__all__ = ["train_block"]

log = logging.getLogger(__name__)


class _StateRecorder:
    """The trace hook: writes the tensors and per-layer norms the schedule asks for."""

    def __init__(
        self,
        schedule: Schedule,
        run_ids: list[str],
        state: traces.TraceWriter,
        norms: traces.TraceWriter,
    ):
        self.schedule = schedule
        self.run_dictionary = pa.array(run_ids, pa.string())
        self.state, self.norms = state, norms
        self._grids: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def _run_ids(self, runs: np.ndarray, repeat: int) -> pa.DictionaryArray:
        indices = pa.array(np.repeat(runs.astype(np.int32), repeat))
        return pa.DictionaryArray.from_arrays(indices, self.run_dictionary)

    def _grid(self, shape: tuple[int, int, int]):
        """The i and j of every entry of an ``(R, rows, cols)`` array, in C order."""
        if shape not in self._grids:
            runs, rows, cols = shape
            i = np.tile(np.repeat(np.arange(rows, dtype=np.int32), cols), runs)
            j = np.tile(np.arange(cols, dtype=np.int32), runs * rows)
            self._grids[shape] = (i, j)
        return self._grids[shape]

    def __call__(self, st: TraceState) -> None:
        if len(st.runs) == 0:
            return  # every run of the block is frozen: nothing left to record
        tensors = self.schedule.tensors_at(st.epoch)
        if tensors:
            for layer in range(len(st.params)):
                arrays = {
                    "W": st.params[layer][0],
                    "b": st.params[layer][1][:, None, :],
                    "dW": st.grads[layer][0],
                    "db": st.grads[layer][1][:, None, :],
                    "z": st.z[layer],
                    "a": st.a[layer + 1],
                }
                for tensor in tensors:
                    self._write_tensor(st, layer, tensor, arrays[tensor])
        if st.epoch in self.schedule.norms:
            R, L = st.weight_norms.shape
            self.norms.write(
                {
                    "run_id": self._run_ids(st.runs, L),
                    "epoch": np.full(R * L, st.epoch, np.int32),
                    "layer": np.tile(np.arange(L, dtype=np.int16), R),
                    "weight_norm": st.weight_norms.ravel(),
                    "grad_norm": st.grad_norms.ravel(),
                }
            )

    def _write_tensor(self, st: TraceState, layer: int, tensor: str, values: np.ndarray):
        i, j = self._grid(values.shape)
        n = values.size
        per_run = n // values.shape[0]
        self.state.write(
            {
                "run_id": self._run_ids(st.runs, per_run),
                "epoch": np.full(n, st.epoch, np.int32),
                "layer": np.full(n, layer, np.int16),
                "tensor": pa.DictionaryArray.from_arrays(
                    pa.array(np.full(n, TENSORS.index(tensor), np.int8)), pa.array(TENSORS)
                ),
                "i": i,
                "j": j,
                # A copy: Arrow wraps numpy memory, and the loop updates its arrays in place.
                "value": np.array(values, dtype=np.float64, copy=True).ravel(),
            }
        )


def _init_params(spec: dict, model: Model) -> list:
    prefix = None
    if spec["legacy_replay_dataset"]:
        d = spec["dataset_spec"]

        def prefix(rs):  # the notebook drew its data from the stream first
            return datasets.spiral_draws(rs, d["n_samples"], d["noise"])

    seeds = [r["seed"] for r in spec["runs"]]
    return model.init_params(seeds, spec["rng"], legacy_prefix=prefix)


def _run_rows(spec: dict, model: Model, tr: Train, result) -> pa.Table:
    """The run table: the runs' identity and settings, status, and final metrics."""
    runs = spec["runs"]
    n = len(runs)
    final = {k: v[:, -1] for k, v in result.history.items() if k != "epoch"}
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
        "status": result.status,
        "diverged_epoch": pa.array(result.diverged_epoch, pa.int64()),
        **{f"final_{k}": v for k, v in final.items()},
    }
    return pa.table(columns)


def _metrics_table(run_ids: list[str], history: dict, diverged: list) -> pa.Table:
    """Long metrics table; a diverged run's rows stop before its divergence epoch."""
    epochs = history["epoch"]
    R, T = history["loss"].shape
    alive = np.ones((R, T), bool)
    for r, e in enumerate(diverged):
        if e is not None:
            alive[r] = epochs < e
    run_index, step = np.nonzero(alive)
    columns = {
        "run_id": pa.DictionaryArray.from_arrays(
            pa.array(run_index.astype(np.int32)), pa.array(run_ids, pa.string())
        ),
        "epoch": epochs[step].astype(np.int32),
    }
    for name, values in history.items():
        if name != "epoch":
            columns[name] = values[run_index, step]
    return pa.table(columns)


def train_block(spec: dict, dataset_path: str | Path, out: dict[str, str | Path]) -> None:
    """Train one block of runs and write its four trace tables.

    Parameters
    ----------
    spec : dict
        The block spec (``Plan.block_spec``).
    dataset_path : path
        The block's data set (``results/datasets/{name}.parquet``).
    out : dict
        Paths for ``runs``, ``metrics``, ``state`` and ``norms``.
    """
    ds = datasets.read_parquet(dataset_path)
    X, Y = ds.part("train")
    eval_sets = {"test": ds.part("test")} if (ds.split == "test").any() else {}
    model, tr = Model.from_mapping(spec["model"]), Train.from_mapping(spec["train"])
    schedule = Trace.from_mapping(spec["trace"]).schedule(tr.epochs)
    mlp = model.mlp()
    params = _init_params(spec, model)
    run_ids = [r["run_id"] for r in spec["runs"]]
    meta = {"provenance": traces.provenance(digest(spec)), "block": spec}
    log.info(
        "training %d runs of %s for %d epochs on %d samples", len(run_ids), mlp, tr.epochs, len(X)
    )
    started = time.perf_counter()
    state_schema, norms_schema = traces.STATE_SCHEMA, traces.NORMS_SCHEMA
    # One BLAS thread: results then do not depend on the machine's core count.
    with (
        threadpoolctl.threadpool_limits(1),
        traces.TraceWriter(out["state"], state_schema, meta) as state,
        traces.TraceWriter(out["norms"], norms_schema, meta) as norms,
    ):
        recorder = _StateRecorder(schedule, run_ids, state, norms)
        result = train(
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
            **tr.engine_args(),
        )
    log.info(
        "trained in %.2f s; status: %s",
        time.perf_counter() - started,
        {s: result.status.count(s) for s in sorted(set(result.status))},
    )
    for run_id, status, epoch in zip(run_ids, result.status, result.diverged_epoch, strict=True):
        if status != "ok":
            log.warning("run %s diverged at epoch %s", run_id, epoch)
    traces.write_table(
        out["metrics"], _metrics_table(run_ids, result.history, result.diverged_epoch), meta
    )
    traces.write_table(out["runs"], _run_rows(spec, model, tr, result), meta)
