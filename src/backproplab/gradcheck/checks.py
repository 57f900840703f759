"""The per-experiment gradient checks: every variant of an experiment, at its initial and
trained parameters, against central differences (:mod:`.differences`); and the gate that
fails the stage naming where.

:func:`check_experiment` checks every variant of one experiment at its initial and
trained parameters, read from the state tables, for the first ``validation.seeds`` seeds,
on the training data (a fixed subsample if larger than ``validation.max_samples``). The
stage's table, ``results/validation/gradcheck.parquet``, has one row per experiment,
variant, seed, checkpoint (``initial``/``trained``), layer and tensor (``W``/``b``), plus
per run and checkpoint a row with layer -1 and tensor ``all`` for the random directions.
Columns: ``n_entries`` (entries or directions), ``n_kinked``, ``n_failed``,
``max_abs_error`` and ``max_rel_error`` (over entries away from kinks),
``max_rel_error_kinked``, ``worst_i``/``worst_j``/``worst_analytic``/``worst_numeric``
(the worst entry), ``cosine`` (between the analytic and numeric tensors), ``grad_norm``
(of the numeric one), the thresholds, ``step``, ``n_samples`` and ``passed``. An entry
fails when its relative error ``|a - n| / max(1e-12, |a| + |n|)`` exceeds
``validation.max_relative_error`` and its absolute error exceeds
``validation.max_absolute_error``; :func:`gate` then fails the job with a message naming
the experiment, variant, seed, checkpoint, layer and tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import datasets, traces
from ..engine.mlp import MLP, Params
from ..settings import Model
from .differences import check_gradients, direction_row, relative_error, tensor_row

__all__ = [
    "CHECKPOINTS",
    "GradcheckError",
    "check_experiment",
    "check_rows",
    "choose_runs",
    "describe_failure",
    "gate",
    "initial_parameters",
    "read_parameters",
    "subsample",
]

CHECKPOINTS = ("initial", "trained")


class GradcheckError(AssertionError):
    """Backpropagation disagrees with central differences; names where."""


def subsample(X: np.ndarray, Y: np.ndarray, size: int, seed: int):
    """A fixed subsample of at most ``size`` samples, in data-set order.

    Returns
    -------
    X : ndarray, shape ``(min(n, size), d)``
    Y : ndarray, shape ``(min(n, size), k)``
    """
    if len(X) <= size:
        return X, Y
    keep = np.sort(np.random.default_rng(seed).choice(len(X), size, replace=False))
    return X[keep], Y[keep]


def choose_runs(runs, seeds: list[int], learning_rates: list[float], count: int) -> list[dict]:
    """The runs a variant is checked on: the first ``count`` seeds that have a run which did
    not diverge, each with its first such learning rate.

    Parameters
    ----------
    runs : pandas.DataFrame
        The variant's rows of the run table (``run_id``, ``seed``, ``lr``, ``status``).

    Returns
    -------
    list of dict
        ``run_id``, ``seed``, ``lr`` and ``trained`` (whether its final parameters are
        checked too). If every run diverged, the first seeds' initial parameters only.
    """
    chosen = []
    for seed in seeds:
        for lr in learning_rates:
            row = runs[(runs.seed == seed) & np.isclose(runs.lr, lr)]
            if len(row) and row.status.iloc[0] == "ok":
                chosen.append({"run_id": row.run_id.iloc[0], "seed": seed, "lr": lr})
                break
        if len(chosen) == count:
            return [{**c, "trained": True} for c in chosen]
    if chosen:
        return [{**c, "trained": True} for c in chosen]
    first = runs[np.isclose(runs.lr, learning_rates[0])].set_index("seed")
    return [
        {"run_id": first.run_id[s], "seed": s, "lr": learning_rates[0], "trained": False}
        for s in seeds[:count]
    ]


def read_parameters(state_paths, run_ids: list[str], epoch: int, sizes) -> Params:
    """The weights and biases of ``run_ids`` at ``epoch`` from state tables
    (:func:`backproplab.traces.read_params`).

    Returns
    -------
    list of (W, b)
        ``W`` of shape ``(len(run_ids), n_in, n_out)``, in the order of ``run_ids``.

    Raises
    ------
    GradcheckError
        Naming each run and layer the state tables lack.
    """
    try:
        return traces.read_params(state_paths, run_ids, sizes, epoch)
    except traces.MissingParamsError as exc:
        missing = [f"{run} layer {layer}" for run, _, layer in exc.missing]
        raise GradcheckError(
            f"the state tables lack W or b at epoch {epoch} for {', '.join(missing)}; "
            f"rerun the training jobs (snakemake --forcerun train)"
        ) from None


def initial_parameters(state_paths, runs, run_ids: list[str], sizes) -> Params:
    """The initial parameters of ``run_ids``: from the state tables (as
    :func:`read_parameters`), or, if a run froze at epoch 0 (its initial parameters broke
    the divergence bound before the first record, so its trace holds no state), drawn
    again from the blocks' specs (the traces' ``block`` metadata) as the training jobs
    drew them.

    Raises
    ------
    GradcheckError
        Naming each run and layer the state tables lack, if a run that lacks them did
        not freeze at epoch 0.
    """
    try:
        return traces.read_params(state_paths, run_ids, sizes, 0)
    except traces.MissingParamsError as exc:
        lacking = {run for run, _, _ in exc.missing}
        frozen = runs[(runs.status != "ok") & (runs.diverged_epoch == 0)]
        if not lacking <= set(frozen.run_id.astype(str)):
            return read_parameters(state_paths, run_ids, 0, sizes)  # raises, naming them
    from ..training.job import initial_params

    drawn = {}
    for path in [state_paths] if isinstance(state_paths, str | Path) else state_paths:
        spec = traces.read_metadata(path)["block"]
        ids = [r["run_id"] for r in spec["runs"]]
        if any(run in lacking or run in run_ids for run in ids):
            params = initial_params(spec)
            for k, run in enumerate(ids):
                drawn[run] = [(np.asarray(W[k], float), np.asarray(b[k], float)) for W, b in params]
    missing = [run for run in run_ids if run not in drawn]
    if missing:
        raise GradcheckError(
            f"no block spec in the state tables' metadata holds {', '.join(missing)}; "
            f"rerun the training jobs (snakemake --forcerun train)"
        )
    return [
        (
            np.stack([drawn[r][layer][0] for r in run_ids]),
            np.stack([drawn[r][layer][1] for r in run_ids]),
        )
        for layer in range(len(sizes) - 1)
    ]


def check_rows(
    model: MLP, params: Params, X: np.ndarray, Y: np.ndarray, grads: Params, settings: dict
) -> list[list[dict]]:
    """Check ``grads`` against central differences with the config's ``validation``
    settings; for each run (block position) a row per tensor and one for the directions."""
    tensors, directions = check_gradients(
        model,
        params,
        X,
        Y,
        grads,
        settings["step"],
        settings["directions"],
        settings["random_seed"],
    )
    tol = (settings["max_relative_error"], settings["max_absolute_error"])
    extra = {"step": settings["step"], "n_samples": len(X)}
    return [
        [{**tensor_row(t, r, *tol), **extra} for t in tensors]
        + [{**direction_row(directions, r, *tol), **extra}]
        for r in range(params[0][0].shape[0])
    ]


def check_experiment(spec: dict, dataset_path, runs_paths, state_paths):
    """Check one experiment's every variant at the initial and trained parameters.

    Parameters
    ----------
    spec : dict
        From :func:`backproplab.gradcheck.plan.experiment_spec`.
    dataset_path : path
        The experiment's data set; the check uses its training split (subsampled to
        ``validation.max_samples``).
    runs_paths, state_paths : list of path
        The experiment's run and state tables (all blocks).

    Returns
    -------
    pandas.DataFrame
        One row per variant, seed, checkpoint, layer and tensor (and per variant, seed and
        checkpoint a row with layer -1, tensor ``all``: the directional check).
    """
    settings = spec["validation"]
    X, Y = datasets.read_parquet(dataset_path).part("train")
    X, Y = subsample(X, Y, settings["max_samples"], settings["random_seed"])
    runs = pd.concat([traces.read_frame(p) for p in runs_paths], ignore_index=True)
    frames = []
    for variant in spec["variants"]:
        model = Model.from_mapping(variant["model"]).mlp()
        mine = runs[runs.variant == variant["name"]]
        if mine.empty:
            raise GradcheckError(
                f"experiment {spec['experiment']!r}: the run tables hold no run of variant "
                f"{variant['name']!r}; rerun its training jobs"
            )
        chosen = choose_runs(mine, spec["seeds"], spec["learning_rates"], settings["seeds"])
        for checkpoint, epoch in zip(CHECKPOINTS, (0, variant["epochs"]), strict=True):
            picked = [c for c in chosen if checkpoint == "initial" or c["trained"]]
            if not picked:
                continue
            ids = [c["run_id"] for c in picked]
            if checkpoint == "initial":
                params = initial_parameters(state_paths, mine, ids, model.sizes)
            else:
                params = read_parameters(state_paths, ids, epoch, model.sizes)
            _, grads = model.loss_and_grads(params, X, Y)
            for run, rows in zip(
                picked, check_rows(model, params, X, Y, grads, settings), strict=True
            ):
                head = {
                    "experiment": spec["experiment"],
                    "variant": variant["name"],
                    "seed": run["seed"],
                    "lr": run["lr"],
                    "run_id": run["run_id"],
                    "checkpoint": checkpoint,
                    "epoch": epoch,
                }
                frames.append(pd.DataFrame([{**head, **row} for row in rows]))
    return pd.concat(frames, ignore_index=True)


def describe_failure(row) -> str:
    """One line naming where a failed row is and by how much."""
    if row["layer"] < 0:
        where, at = "all layers along random directions", f"direction {row['worst_j']}"
    else:
        where = f"layer {row['layer']}, tensor {row['tensor']}"
        index = f"{row['worst_i']}, {row['worst_j']}" if row["tensor"] == "W" else row["worst_j"]
        at = f"{row['tensor']}[{row['layer']}][{index}]"
    return (
        f"experiment {row['experiment']!r}, variant {row['variant']!r}, seed {row['seed']}, "
        f"{row['checkpoint']} parameters, {where}: {row['n_failed']} of {row['n_entries']} "
        f"entries off by more than relative {row['max_relative_error']:.3g} and absolute "
        f"{row['max_absolute_error']:.3g}; worst at {at}: backpropagation "
        f"{row['worst_analytic']:.10g}, central difference {row['worst_numeric']:.10g} "
        f"(relative error {relative_error(row['worst_analytic'], row['worst_numeric']):.3g}, "
        f"step {row['step']:g})"
    )


def gate(table) -> None:
    """Raise :class:`GradcheckError` naming every failed row of ``table``."""
    failed = table[~table.passed]
    if len(failed):
        lines = "\n  ".join(describe_failure(row) for _, row in failed.iterrows())
        raise GradcheckError(
            f"backpropagation disagrees with central differences ({len(failed)} of "
            f"{len(table)} checks):\n  {lines}"
        )
