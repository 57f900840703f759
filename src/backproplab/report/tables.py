"""The report's numbers: final metrics per variant and learning rate, with their spread
over seeds, the convergence epoch and the diverged runs, computed from the run and
metrics tables alone.

Tables are plain :class:`~backproplab.tabular.Table` objects (column names and rows of
formatted strings), so that the HTML page and its Markdown twin show the same text; each
metric column is in one number format, its spreads shown only above rounding
(:func:`~backproplab.tabular.spread_column`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..tabular import Table, spread_column

__all__ = [
    "CONVERGENCE_FRACTION",
    "Table",
    "convergence_epochs",
    "final_metrics",
    "fmt",
]

# A run has converged at the first recorded epoch from which its training loss stays
# within this fraction of its total decrease above its final value (the epoch by which
# it has made 95% of its progress, and never fallen back).
CONVERGENCE_FRACTION = 0.05


def fmt(value, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; '-' for missing, 'nan' kept visible."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "\u2013"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def convergence_epochs(metrics: pd.DataFrame) -> pd.Series:
    """Each run's convergence epoch (see :data:`CONVERGENCE_FRACTION`), NaN when its loss
    did not decrease; indexed by run id."""
    out = {}
    for run_id, run in metrics.sort_values("epoch").groupby("run_id", sort=False):
        loss = run["loss"].to_numpy(dtype=float)
        epochs = run["epoch"].to_numpy()
        if len(loss) < 2 or not np.isfinite(loss).all() or loss[-1] >= loss[0]:
            out[run_id] = np.nan
            continue
        threshold = loss[-1] + CONVERGENCE_FRACTION * (loss[0] - loss[-1])
        above = np.flatnonzero(loss > threshold)
        out[run_id] = float(epochs[above[-1] + 1]) if len(above) else float(epochs[0])
    return pd.Series(out, dtype=float)


def _metric_columns(runs: pd.DataFrame) -> list[str]:
    """The final_* columns in reading order: loss, accuracy, extra metrics, test."""
    names = [c for c in runs.columns if c.startswith("final_")]
    first = ["final_loss", "final_accuracy"]
    test = [c for c in names if c.startswith("final_test_")]
    extra = [c for c in names if c not in first and c not in test]
    return [c for c in first if c in names] + extra + test


def final_metrics(runs: pd.DataFrame, metrics: pd.DataFrame, labels: dict) -> Table:
    """One row per variant and learning rate: runs, diverged runs (with the epochs),
    each final metric as mean ± std over the seeds that did not diverge, and the
    convergence epoch as mean ± std over the runs that converged. Each metric column is
    in one format, a spread shown only where it is above rounding."""
    conv = convergence_epochs(metrics)
    columns = _metric_columns(runs)
    header = ["variant", "lr", "runs", "diverged"]
    header += [c.removeprefix("final_").replace("_", " ") for c in columns]
    header += ["convergence epoch"]
    table = Table(header, numeric=[False, True, True, False] + [True] * (len(columns) + 1))
    groups = [g for _, g in runs.groupby(["variant_index", "lr"], sort=True)]
    oks = [g[g["status"] == "ok"] for g in groups]
    cells = [spread_column([ok[c] for ok in oks]) for c in columns]
    cells.append(spread_column([conv.reindex(ok["run_id"]).to_numpy() for ok in oks], integer=True))
    for k, group in enumerate(groups):
        variant = group["variant"].iloc[0]
        gone = group[group["status"] != "ok"]
        diverged = (
            "0"
            if gone.empty
            else (
                f"{len(gone)} (epoch "
                f"{', '.join(f'{e:.0f}' for e in sorted(gone['diverged_epoch']))})"
            )
        )
        row = [labels.get(variant, variant), fmt(group["lr"].iloc[0]), str(len(group))]
        table.rows.append([*row, diverged, *(col[k] for col in cells)])
    table.caption = (
        "Final metrics per variant and learning rate: mean \u00b1 standard deviation over "
        "the seeds that did not diverge (one value when only one run is left; no spread "
        "where it is below the printed digits). The convergence epoch is the first "
        "recorded epoch from which the training loss stays within "
        f"{CONVERGENCE_FRACTION:.0%} of its total decrease above its final value."
    )
    return table
