"""What a figure reads: its experiment's trace files, its data set, and the choices in
its options (which variants, learning rates, seeds and epochs).

Only the files a rule lists are read (never a whole trace directory, which may still hold
blocks of an older config), and run ids come back as plain strings.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .. import datasets, traces
from ..engine import MLP
from ..settings import Model, Train

__all__ = ["Context", "Data", "FigureError", "Unrecorded", "spread"]


class FigureError(ValueError):
    """A figure that cannot be drawn from these traces, with the option at fault."""


class Unrecorded(FigureError):
    """What a figure draws was never recorded for a run because the run diverged first
    (a run frozen at epoch 0 has no state at all). :func:`backproplab.figures.render`
    draws a notice saying so instead: a diverged run never fails a figure job."""

    def __init__(self, run_id: str, diverged_epoch, what: str):
        self.run_id, self.diverged_epoch, self.what = run_id, diverged_epoch, what
        super().__init__(
            f"run {run_id} diverged at epoch {diverged_epoch} before its {what} were recorded"
        )


@dataclass(frozen=True)
class Context:
    """What a figure knows beyond its traces: the experiment and its own options.

    Attributes
    ----------
    experiment : str
    kind : str
        The figure kind (its key under ``experiments.<name>.figures``).
    options : dict
        The figure's options, schema defaults filled in.
    variants : list of str
        The experiment's variants in config order (which fixes their colours).
    labels : dict
        Variant name -> legend label (``Experiment.legend``); the name if absent.
    legend_title : str
        What the labels name (``activations, loss``).
    experiment_label : str
        The experiment in titles (``Experiment.label``).
    printed : dict, optional
        A seed's printed numbers to draw beside the figure's own (gradient_flow of an
        experiment that reproduces seed 001: ``validation.references.seed001``).
    """

    experiment: str
    kind: str
    options: dict
    variants: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    legend_title: str = ""
    experiment_label: str = ""
    printed: dict | None = None

    @property
    def where(self) -> str:
        """The config path of this figure's options, for error messages."""
        return f"experiments.{self.experiment}.figures.{self.kind}"

    def variant_index(self, name: str) -> int:
        return self.variants.index(name) if name in self.variants else len(self.variants)


def _strings(frame: pd.DataFrame) -> pd.DataFrame:
    categorical = frame.select_dtypes("category").columns
    return frame.astype({c: str for c in categorical}) if len(categorical) else frame


class Data:
    """The traces and data set of one figure, read on first use.

    Parameters
    ----------
    files : dict
        Table name (``runs``, ``metrics``, ``state``, ``norms``) -> list of Parquet files.
    dataset : path, optional
        The experiment's data set (``results/datasets/{name}.parquet``).
    ctx : Context
    read : callable, optional
        Reads one trace file as a DataFrame (default :func:`traces.read_frame`); the
        figures of one job share a cached reader, each file then read once.
    """

    def __init__(self, files: dict[str, Sequence[str | Path]], dataset, ctx: Context, read=None):
        self.files = {k: [Path(p) for p in v] for k, v in files.items()}
        self.dataset_path = Path(dataset) if dataset else None
        self.ctx = ctx
        self.read = read or traces.read_frame

    def _read(self, table: str) -> pd.DataFrame:
        if table not in self.files:
            raise FigureError(f"{self.ctx.where}: the rule gave no {table} trace files")
        frames = [self.read(p) for p in self.files[table]]
        return _strings(pd.concat(frames, ignore_index=True))

    @cached_property
    def runs(self) -> pd.DataFrame:
        """One row per run, ordered by variant (config order), learning rate and seed."""
        runs = self._read("runs")
        runs["variant_index"] = [self.ctx.variant_index(v) for v in runs["variant"]]
        return runs.sort_values(["variant_index", "lr", "seed"], kind="stable").reset_index(
            drop=True
        )

    @cached_property
    def labels(self) -> dict[str, str]:
        """Variant name -> legend label, for every variant in the run table."""
        return {v: self.ctx.labels.get(v, v) for v in self.runs["variant"].unique()}

    def label(self, variant: str, width: int = 40) -> str:
        """A variant's label for a legend, a title or a tick, wrapped at ``width``
        characters (a config label may run to 120); captions take :attr:`labels`."""
        return textwrap.fill(self.labels[variant], width, break_long_words=False)

    @property
    def legend_title(self) -> str:
        return self.ctx.legend_title

    @cached_property
    def metrics(self) -> pd.DataFrame:
        return self._read("metrics")

    @cached_property
    def norms(self) -> pd.DataFrame:
        return self._read("norms")

    @cached_property
    def state(self) -> pd.DataFrame:
        return self._read("state")

    @cached_property
    def dataset(self) -> datasets.Dataset:
        if self.dataset_path is None:
            raise FigureError(f"{self.ctx.where}: the rule gave no data set")
        return datasets.read_parquet(self.dataset_path)

    # -- choosing runs ------------------------------------------------------------------

    def select(self, variants=None, learning_rates=None) -> pd.DataFrame:
        """The runs of the chosen variants and learning rates (``None``: all)."""
        runs = self.runs
        if variants is not None:
            self._check_known("variants", variants, runs["variant"].unique())
            runs = runs[runs["variant"].isin(variants)]
        if learning_rates is not None:
            self._check_known("learning_rates", learning_rates, runs["lr"].unique())
            runs = runs[runs["lr"].isin([float(x) for x in learning_rates])]
        if runs.empty:
            raise FigureError(f"{self.ctx.where}: no runs match the chosen variants and rates")
        return runs

    def _check_known(self, key: str, chosen, known) -> None:
        known_list = sorted(known.tolist()) if hasattr(known, "tolist") else sorted(known)
        missing = [c for c in chosen if (float(c) if key == "learning_rates" else c) not in known]
        if missing:
            raise FigureError(
                f"{self.ctx.where}.{key}: {missing} not among the experiment's {known_list}"
            )

    def pick(self, variant=None, lr=None, seed=None) -> pd.Series:
        """One run: the given variant, learning rate and seed (each defaulting to the
        first in config order)."""
        runs = self.runs
        for key, value in (("variant", variant), ("lr", lr), ("seed", seed)):
            if value is None:
                runs = runs[runs[key] == runs[key].iloc[0]]
                continue
            matched = runs[runs[key] == (float(value) if key == "lr" else value)]
            if matched.empty:
                known = sorted(runs[key].unique().tolist())
                raise FigureError(f"{self.ctx.where}.{key}: {value!r} is not one of {known}")
            runs = matched
        return runs.iloc[0]

    def pick_each_variant(self, variants=None, lr=None, seed=None) -> list[pd.Series]:
        """One run per chosen variant (all by default), same learning rate and seed."""
        names = variants if variants is not None else list(self.runs["variant"].unique())
        self._check_known("variants", names, self.runs["variant"].unique())
        return [self.pick(v, lr, seed) for v in names]

    # -- the network of a run -----------------------------------------------------------

    @staticmethod
    def train_settings(run: pd.Series) -> Train:
        """The training settings ``run`` was trained with (its run-table row)."""
        return Train.from_row(run)

    @staticmethod
    def mlp(run: pd.Series) -> MLP:
        return Model.from_row(run).mlp()

    def diverged(self, run_id: str):
        """The epoch at which ``run_id`` diverged, or None if it did not."""
        row = self.runs[self.runs["run_id"] == run_id]
        if row.empty or row["status"].iloc[0] == "ok":
            return None
        epoch = row["diverged_epoch"].iloc[0]
        return int(epoch) if epoch == epoch else None  # NaN: not recorded

    def unrecorded(self, run_id: str, what: str) -> None:
        """Raise :class:`Unrecorded` if ``run_id`` diverged (so that ``what`` is missing
        because of it); return otherwise, for the caller's own error."""
        epoch = self.diverged(run_id)
        if epoch is not None:
            raise Unrecorded(run_id, epoch, what)

    def state_epochs(self, run_id: str, tensor: str = "W") -> list[int]:
        """The epochs at which ``tensor`` of a run was recorded."""
        s = self.state
        rows = s[(s["run_id"] == run_id) & (s["tensor"] == tensor)]
        return sorted(rows["epoch"].unique().tolist())

    def tensor(self, run_id: str, tensor: str, layer: int, epochs=None) -> pd.DataFrame:
        """Long rows (epoch, i, j, value) of one tensor of one layer of one run."""
        s = self.state
        rows = s[(s["run_id"] == run_id) & (s["tensor"] == tensor) & (s["layer"] == layer)]
        if epochs is not None:
            rows = rows[rows["epoch"].isin(list(epochs))]
        if rows.empty:
            self.unrecorded(run_id, f"{tensor!r} values")
            raise FigureError(
                f"{self.ctx.where}: run {run_id} has no {tensor!r} of layer {layer} recorded"
                f" at the chosen epochs; record it with trace.state and trace.state_every"
            )
        return rows[["epoch", "i", "j", "value"]]

    def params(self, run: pd.Series, epochs: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The parameters of ``run`` at each of ``epochs``, stacked along axis 0 as the
        engine wants them (:func:`backproplab.traces.read_params`).

        Returns
        -------
        list of (W, b)
            ``W`` of shape ``(len(epochs), n_in, n_out)``, ``b`` of shape
            ``(len(epochs), n_out)``.

        Raises
        ------
        FigureError
            Naming the first epoch at which the run's parameters were not recorded.
        """
        try:
            return traces.read_params(
                self.state, str(run["run_id"]), json.loads(run["sizes"]), list(epochs)
            )
        except traces.MissingParamsError as exc:
            _, epoch, _ = exc.missing[0]
            self.unrecorded(str(run["run_id"]), f"parameters at epoch {epoch}")
            raise FigureError(
                f"{self.ctx.where}: run {run['run_id']} has no parameters recorded "
                f"at epoch {epoch} (recorded: {self.state_epochs(run['run_id'])})"
            ) from None


def spread(frame: pd.DataFrame, x: str, y: str, band: str) -> pd.DataFrame:
    """Mean of ``y`` over the rows sharing each ``x``, with the band's low and high edges.

    ``band`` is ``minmax`` (the range), ``std`` (mean +- one standard deviation, ddof 0)
    or ``none`` (both edges equal the mean). ``n`` counts the rows behind each mean.
    """
    grouped = frame.groupby(x, sort=True)[y]
    out = pd.DataFrame({"mean": grouped.mean(), "n": grouped.count()})
    if band == "minmax":
        out["lo"], out["hi"] = grouped.min(), grouped.max()
    elif band == "std":
        sd = grouped.std(ddof=0)
        out["lo"], out["hi"] = out["mean"] - sd, out["mean"] + sd
    else:
        out["lo"] = out["hi"] = out["mean"]
    return out.reset_index()


# A line is drawn from at most this many points: a panel is ~500 pixels wide, so more
# only slows the drawing and bloats the PDF.
MAX_POINTS = 1500


def thin(x, y, max_points: int = MAX_POINTS):
    """``(x, y)`` reduced to about ``max_points`` points for drawing, keeping the shape:
    each bucket of consecutive points keeps its lowest and its highest (in order), so
    that spikes survive. The first and last points are always kept."""
    x, y = np.asarray(x), np.asarray(y, dtype=float)
    per = max(1, 2 * len(x) // max_points)
    if per == 1:
        return x, y
    n = len(x) // per * per
    xs, ys = x[:n].reshape(-1, per), y[:n].reshape(-1, per)
    # NaN (a diverged run's missing tail) never wins a bucket unless all of it is NaN.
    lo = np.argmin(np.where(np.isnan(ys), np.inf, ys), axis=1)
    hi = np.argmax(np.where(np.isnan(ys), -np.inf, ys), axis=1)
    rows = np.arange(len(xs))
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    keep_x = np.column_stack([xs[rows, first], xs[rows, second]]).ravel()
    keep_y = np.column_stack([ys[rows, first], ys[rows, second]]).ravel()
    return (
        np.concatenate([[x[0]], keep_x, x[n:], [x[-1]]]),
        np.concatenate([[y[0]], keep_y, y[n:], [y[-1]]]),
    )


def thin_band(x, lo, hi, max_points: int = MAX_POINTS):
    """A band's edges reduced to about ``max_points`` buckets: each bucket spans from
    the lowest ``lo`` to the highest ``hi`` in it, so that thinning never narrows it."""
    x = np.asarray(x)
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    per = max(1, len(x) // max_points)
    if per == 1:
        return x, lo, hi
    n = len(x) // per * per
    with np.errstate(all="ignore"):
        lows = np.fmin.reduce(lo[:n].reshape(-1, per), axis=1)
        highs = np.fmax.reduce(hi[:n].reshape(-1, per), axis=1)
    return (
        np.concatenate([x[:n:per], x[n:], [x[-1]]]),
        np.concatenate([lows, lo[n:], [lo[-1]]]),
        np.concatenate([highs, hi[n:], [hi[-1]]]),
    )
