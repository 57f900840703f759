"""The report's numbers: final metrics per variant and learning rate, with their spread
over seeds, the convergence epoch and the diverged runs, computed from the run and
metrics tables alone.

Tables are plain :class:`Table` objects (column names and rows of formatted strings), so
that the HTML page and its Markdown twin show the same text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "CONVERGENCE_FRACTION",
    "Table",
    "convergence_epochs",
    "final_metrics",
    "fmt",
    "mean_std",
]

# A run has converged at the first recorded epoch from which its training loss stays
# within this fraction of its total decrease above its final value (the epoch by which
# it has made 95% of its progress, and never fallen back).
CONVERGENCE_FRACTION = 0.05


@dataclass
class Table:
    """A table to render: column names, rows of strings, and a caption."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""
    numeric: list[bool] | None = None  # right-align these columns

    def __post_init__(self):
        if self.numeric is None:
            self.numeric = [False] * len(self.columns)


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


def mean_std(values, digits: int = 4, integer: bool = False) -> str:
    """``mean ± std`` (population std over seeds) of the finite values, or '-';
    ``integer`` rounds both to whole numbers (epochs)."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    arr = arr[np.isfinite(arr)]
    if not len(arr):
        return "\u2013"
    if integer:
        mean = f"{arr.mean():.0f}"
        return mean if len(arr) == 1 else f"{mean} \u00b1 {arr.std():.0f}"
    if len(arr) == 1:
        return fmt(arr[0], digits)
    return f"{fmt(arr.mean(), digits)} \u00b1 {fmt(arr.std(), 2)}"


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
    convergence epoch as mean ± std over the runs that converged."""
    conv = convergence_epochs(metrics)
    columns = _metric_columns(runs)
    header = ["variant", "lr", "runs", "diverged"]
    header += [c.removeprefix("final_").replace("_", " ") for c in columns]
    header += ["convergence epoch"]
    table = Table(header, numeric=[False, True, True, False] + [True] * (len(columns) + 1))
    for (_, lr), group in runs.groupby(["variant_index", "lr"], sort=True):
        variant = group["variant"].iloc[0]
        ok = group[group["status"] == "ok"]
        gone = group[group["status"] != "ok"]
        diverged = (
            "0"
            if gone.empty
            else (
                f"{len(gone)} (epoch "
                f"{', '.join(f'{e:.0f}' for e in sorted(gone['diverged_epoch']))})"
            )
        )
        row = [labels.get(variant, variant), fmt(lr), str(len(group)), diverged]
        row += [mean_std(ok[c]) for c in columns]
        row += [mean_std(conv.reindex(ok["run_id"]).to_numpy(), integer=True)]
        table.rows.append(row)
    table.caption = (
        "Final metrics per variant and learning rate: mean \u00b1 standard deviation over "
        "the seeds that did not diverge (one value when only one run is left). The "
        "convergence epoch is the first recorded epoch from which the training loss stays "
        f"within {CONVERGENCE_FRACTION:.0%} of its total decrease above its final value."
    )
    return table
