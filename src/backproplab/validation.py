"""The validation stage: every trained configuration's gradients against central
differences (see :mod:`backproplab.gradcheck` for the numerics).

The stage (:func:`run`, rule ``gradcheck``) checks every variant of every experiment at
its initial and trained parameters, read from the state tables, for the first
``validation.seeds`` seeds, on the training data (a fixed subsample if larger than
``validation.max_samples``). Its table, ``results/validation/gradcheck.parquet``, has
one row per experiment, variant, seed, checkpoint (``initial``/``trained``), layer and
tensor (``W``/``b``), plus per run and checkpoint a row with layer -1 and tensor ``all``
for the random directions. Columns: ``n_entries`` (entries or directions), ``n_kinked``,
``n_failed``, ``max_abs_error`` and ``max_rel_error`` (over entries away from kinks),
``max_rel_error_kinked``, ``worst_i``/``worst_j``/``worst_analytic``/``worst_numeric``
(the worst entry), ``cosine`` (between the analytic and numeric tensors), ``grad_norm``
(of the numeric one), the thresholds, ``step``, ``n_samples`` and ``passed``. An entry
fails when its relative error ``|a - n| / max(1e-12, |a| + |n|)`` exceeds
``validation.max_relative_error`` and its absolute error exceeds
``validation.max_absolute_error``; any failure fails the job with a message naming the
experiment, variant, seed, checkpoint, layer and tensor.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pds
import threadpoolctl

from . import datasets
from .engine.mlp import MLP, Params
from .experiments import digest
from .gradcheck import check_gradients, direction_row, relative_error, tensor_row
from .references import band_text, verdict_text
from .traces import atomic_path, provenance, write_table

__all__ = [
    "CHECKPOINTS",
    "GradcheckError",
    "check_experiment",
    "experiment_spec",
    "gate",
    "run",
    "stage_spec",
    "summary_markdown",
    "write_frame",
    "write_summary",
]

CHECKPOINTS = ("initial", "trained")
# The settings a per-experiment check depends on (the published references are not).
_STAGE_SETTINGS = (
    "seeds",
    "step",
    "directions",
    "max_samples",
    "random_seed",
    "max_relative_error",
    "max_absolute_error",
)


class GradcheckError(AssertionError):
    """Backpropagation disagrees with central differences; names where."""


def experiment_spec(plan, experiment: str) -> dict:
    """What the check of ``experiment`` depends on, as plain data (the job's params).

    Parameters
    ----------
    plan : experiments.Plan
    experiment : str

    Returns
    -------
    dict
        The experiment's data set, seeds, learning rates, variants (model, epochs,
        blocks) and the validation settings.
    """
    exp = plan.experiments[experiment]
    settings = plan.config["validation"]
    return {
        "experiment": experiment,
        "dataset": exp.dataset,
        "seeds": list(exp.spec["seeds"]),
        "learning_rates": list(exp.spec["learning_rates"]),
        "variants": [
            {
                "name": v.name,
                "model": v.model,
                "epochs": v.train["epochs"],
                "blocks": [b.name for b in exp.blocks if b.variant == v.name],
            }
            for v in exp.variants
        ],
        "validation": {k: settings[k] for k in _STAGE_SETTINGS},
    }


def stage_spec(plan) -> dict:
    """What the whole gradient check depends on: :func:`experiment_spec` of every
    experiment, in config order (the job's params)."""
    return {"experiments": [experiment_spec(plan, name) for name in plan.experiments]}


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
    """The weights and biases of ``run_ids`` at ``epoch`` from state tables.

    Returns
    -------
    list of (W, b)
        ``W`` of shape ``(len(run_ids), n_in, n_out)``, in the order of ``run_ids``.
    """

    table = (
        pds.dataset([str(p) for p in state_paths], format="parquet")
        .to_table(
            columns=["run_id", "epoch", "layer", "tensor", "i", "j", "value"],
            filter=pds.field("epoch") == epoch,
        )
        .to_pandas()
    )
    table = table[table.run_id.astype(str).isin(run_ids) & table.tensor.isin(["W", "b"])]
    position = {r: k for k, r in enumerate(run_ids)}
    run = table.run_id.astype(str).map(position).to_numpy()
    params = []
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        W = np.full((len(run_ids), n_in, n_out), np.nan)
        b = np.full((len(run_ids), n_out), np.nan)
        rows = (table.layer == layer).to_numpy()
        w = rows & (table.tensor == "W").to_numpy()
        W[run[w], table.i.to_numpy()[w], table.j.to_numpy()[w]] = table.value.to_numpy()[w]
        c = rows & (table.tensor == "b").to_numpy()
        b[run[c], table.j.to_numpy()[c]] = table.value.to_numpy()[c]
        params.append((W, b))
    missing = [
        f"{run_ids[r]} layer {layer}"
        for layer, (W, b) in enumerate(params)
        for r in range(len(run_ids))
        if np.isnan(W[r]).any() or np.isnan(b[r]).any()
    ]
    if missing:
        raise GradcheckError(
            f"the state tables lack W or b at epoch {epoch} for {', '.join(missing)}; "
            f"rerun the training jobs (snakemake --forcerun train)"
        )
    return params


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
        From :func:`experiment_spec`.
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
    runs = pd.concat([pd.read_parquet(p) for p in runs_paths], ignore_index=True)
    frames = []
    for variant in spec["variants"]:
        model = MLP(
            variant["model"]["sizes"], variant["model"]["activations"], variant["model"]["loss"]
        )
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


def run(spec: dict, inputs: dict, out) -> None:
    """The gradient-check job: check every experiment, log each table, fail on any
    failed row, else write ``out`` (``results/validation/gradcheck.parquet``).

    Parameters
    ----------
    spec : dict
        From :func:`stage_spec`.
    inputs : dict
        Per experiment ``name``: ``{name}_dataset`` (a path), ``{name}_runs`` and
        ``{name}_state`` (lists of paths).
    out : path
    """

    log = logging.getLogger(__name__)
    if np.finfo(np.longdouble).eps > 1e-18:
        log.warning(
            "long double is no wider than float64 on this platform: central differences "
            "carry about 1e-10 of rounding, and small gradient entries may fail"
        )
    tables = []
    for exp in spec["experiments"]:
        name = exp["experiment"]
        started = time.perf_counter()
        # One BLAS thread: the tables then do not depend on the machine's core count.
        with threadpoolctl.threadpool_limits(1):
            table = check_experiment(
                exp, inputs[f"{name}_dataset"], inputs[f"{name}_runs"], inputs[f"{name}_state"]
            )
        log.info(
            "checked %s in %.2f s:\n%s",
            name,
            time.perf_counter() - started,
            table.drop(columns=["run_id", "experiment"]).to_string(),
        )
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    gate(table)
    write_frame(table, out, spec)


def gate(table) -> None:
    """Raise :class:`GradcheckError` naming every failed row of ``table``."""
    failed = table[~table.passed]
    if len(failed):
        lines = "\n  ".join(describe_failure(row) for _, row in failed.iterrows())
        raise GradcheckError(
            f"backpropagation disagrees with central differences ({len(failed)} of "
            f"{len(table)} checks):\n  {lines}"
        )


# -- publishing ----------------------------------------------------------------------------


def write_frame(frame, path, spec) -> None:
    """Write a validation table to Parquet (atomically), with provenance metadata."""

    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_table(path, table, {"provenance": provenance(digest(spec)), "validation": spec})


def _g(value: float) -> str:
    return "n/a" if value != value else f"{value:.2g}"


def summary_markdown(gradcheck, seed_formulas, references) -> str:
    """A short human-readable account of the three validation tables, in Markdown."""
    lines = ["# Validation", ""]
    step = gradcheck.step.iloc[0]
    rtol, atol = gradcheck.max_relative_error.iloc[0], gradcheck.max_absolute_error.iloc[0]
    entries = gradcheck[gradcheck.layer >= 0]
    verdict = (
        f"**All {len(gradcheck)} checks pass**"
        if gradcheck.passed.all()
        else f"**{int((~gradcheck.passed).sum())} of {len(gradcheck)} checks fail**"
    )
    lines += [
        "## Backpropagation against central differences",
        "",
        f"Every variant of every experiment, at its initial and trained parameters, for "
        f"up to {gradcheck.groupby(['experiment', 'variant']).seed.nunique().max()} seeds: "
        f"every weight and bias entry's central difference (step {step:g}, losses in long "
        f"double) and {int(gradcheck[gradcheck.layer < 0].n_entries.max())} random "
        f"whole-network directions per run and checkpoint. An entry fails when its "
        f"relative error |a - n| / max(1e-12, |a| + |n|) exceeds {rtol:g} and its "
        f"absolute error exceeds {atol:g}.",
        "",
        f"{verdict}: {int(entries.n_entries.sum()):,} entries; "
        f"{int(entries.n_kinked.sum()):,} of them straddle a ReLU kink and are reported "
        f"apart (not gated).",
        "",
        "| experiment | variant | runs x checkpoints | largest relative error | "
        "largest absolute error | directions: largest relative error | kinked entries | "
        "passed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (exp, variant), rows in gradcheck.groupby(["experiment", "variant"], sort=False):
        tensors, directions = rows[rows.layer >= 0], rows[rows.layer < 0]
        lines.append(
            f"| {exp} | {variant} | {rows.seed.nunique()} x {rows.checkpoint.nunique()} | "
            f"{_g(tensors.max_rel_error.max())} | {_g(tensors.max_abs_error.max())} | "
            f"{_g(directions.max_rel_error.max())} | {int(tensors.n_kinked.sum())} | "
            f"{'yes' if rows.passed.all() else '**no**'} |"
        )
    lines += [
        "",
        "## The seeds' own gradient formulas",
        "",
        "Checked the same way, at the initial parameters of the seed's own setup. The "
        "check must catch each of them (a failed check here is the expected outcome).",
        "",
        "| formula | seed | what is wrong | caught | largest relative error | cosine of W's "
        "gradient with the central differences, per layer (one value per seed) |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in seed_formulas.groupby("formula", sort=False):
        weights = rows[rows.tensor == "W"].groupby("layer", sort=True).cosine
        cosines = "; ".join(
            f"layer {layer}: " + " ".join(f"{c:+.2f}" for c in values) for layer, values in weights
        )
        lines.append(
            f"| {name} | {rows.seed_document.iloc[0]} | {rows.description.iloc[0]} | "
            f"{'yes' if not rows.passed.all() else '**no**'} | "
            f"{_g(rows.max_rel_error.max())} | {cosines} |"
        )
    lines += [
        "",
        "## Worked examples",
        "",
        "Published numbers against the engine's. Where the run is well conditioned a "
        "number must agree to its printed digits (within half a unit of the last one). "
        "Where rounding decides the digits (chaotic: one-ulp replays of the initial "
        "weights spread wider than that), it must lie inside its rounding band, the "
        "replays' range widened by half a unit.",
        "",
        "| reference | quantity | reading | published | computed | difference | "
        "rounding band | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    grouped = references.reference == "seed003"
    for r in references[~grouped].itertuples():
        lines.append(
            f"| {r.reference} | {r.quantity} | {r.reading} | {r.published or 'n/a'} | "
            f"{r.computed:.10g} | {_g(r.difference)} | {band_text(r)} | {verdict_text(r)} |"
        )
    seed003 = references[grouped]
    if len(seed003):
        lines.append(
            f"| seed003 | {len(seed003)} printed numbers (forward values, gradients, "
            f"weights after one step) | {seed003.reading.iloc[0]} | | | largest "
            f"{_g(seed003.difference.abs().max())} | | "
            f"{'all pass' if seed003.passes.all() else f'{int((~seed003.passes).sum())} FAIL'}"
            f": to their digits |"
        )
    notes = references[references.note != ""].drop_duplicates("note")
    if len(notes):
        lines += ["", "Notes:", ""]
        lines += [f"- {r.reference}, {r.quantity}: {r.note}." for r in notes.itertuples()]
    return "\n".join(lines) + "\n"


def write_summary(gradcheck_path, seed_formulas_path, references_path, out) -> None:
    """Write ``results/validation/summary.md`` from the three validation tables."""

    text = summary_markdown(
        pd.read_parquet(gradcheck_path),
        pd.read_parquet(seed_formulas_path),
        pd.read_parquet(references_path),
    )
    with atomic_path(out) as tmp:
        tmp.write_text(text)
