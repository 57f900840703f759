"""The look shared by every figure, and how figures are saved.

One place decides colours, so that a variant keeps its colour in every figure of an
experiment (its position in the experiment's variant list picks it), and one function
saves, so that every PNG and PDF is byte-identical when its inputs are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LinearSegmentedColormap, ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, LogLocator

from ..traces import atomic_path

# Figures are made with matplotlib.figure.Figure, never pyplot: no display, no figure
# manager, and Agg (PNG) and the PDF backend chosen by the file format alone.
matplotlib.use("Agg")

__all__ = [
    "BAND_LABELS",
    "CLASS_COLORS",
    "DPI",
    "DRAWN_LIMIT",
    "OFF_SCALE",
    "class_cmap",
    "drawable",
    "first_off_scale",
    "is_drawable",
    "layer_color",
    "log_axis",
    "lr_colors",
    "mark_top",
    "new_figure",
    "notice_figure",
    "probability_cmap",
    "relative_text",
    "save",
    "seed_color",
    "style",
    "subplots",
    "variant_color",
]

DPI = 150

# Okabe-Ito, reordered so that the first colours are the most distinct on white; then a
# second qualitative set for experiments with many variants.
_VARIANT_COLORS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#999933",
    "#882255",
    "#44AA99",
    "#AA4499",
    "#661100",
)
# Layers get their own colours (Paul Tol's "muted"), never confused with variants.
_LAYER_COLORS = ("#332288", "#CC6677", "#117733", "#DDCC77", "#88CCEE", "#AA4499", "#999933")
# Seeds, when the curves of one group are told apart by seed.
_SEED_COLORS = tuple(colormaps["tab10"].colors)
# Class 0 red and class 1 blue, as the seed notebooks draw them.
CLASS_COLORS = ("#C8102E", "#1F4E9E", "#2E8B57", "#B8860B", "#6A3D9A", "#8C564B")
_CLASS_LIGHT = ("#F6C4C4", "#C4D4F2", "#C7E6D3", "#EEDFB0", "#DCCDEA", "#E2CFC9")

BAND_LABELS = {
    "minmax": "min\u2013max over {n} seeds",
    "std": "\u00b11 std over {n} seeds",
    "none": "",
}

_RC = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "image.cmap": "viridis",
    # Type 3 (matplotlib's default): Type 42 embedding subsets the font with fontTools,
    # which costs more than drawing most figures.
    "pdf.fonttype": 3,
    "svg.hashsalt": "backproplab",
}


# The largest magnitude a figure draws as itself. A diverged run records losses and
# weights up to 1e308 before it is frozen (2.3e277 is no rarity), and matplotlib cannot
# place those: its autoscaling margins and log-axis ticks overflow float64 near 1e308.
# Values beyond this, and infinities and NaN, are left out of lines, bars and colour
# scales, and where they were is marked (:func:`mark_top`), never silently dropped.
DRAWN_LIMIT = 1e100
OFF_SCALE = "beyond \u00b11e100 or not finite"


def drawable(values):
    """``values`` as floats with every value a figure cannot draw (not finite, or beyond
    :data:`DRAWN_LIMIT` in magnitude) replaced by NaN, which matplotlib leaves out; the
    input unchanged if every value is drawable (or it holds no numbers)."""
    v = np.asarray(values, dtype=float)
    ok = np.abs(v) <= DRAWN_LIMIT  # False for NaN and infinities too
    if ok.all():
        return values
    out = np.where(ok, v, np.nan)
    if hasattr(values, "index") and hasattr(values, "to_numpy"):  # keep a Series a Series
        return type(values)(out, index=values.index, name=getattr(values, "name", None))
    return out


def is_drawable(value) -> bool:
    """Whether one number is finite and within :data:`DRAWN_LIMIT`."""
    try:
        return bool(abs(float(value)) <= DRAWN_LIMIT)
    except (TypeError, ValueError):
        return False


def first_off_scale(x, y):
    """The first ``x`` at which ``y`` is not drawable (None if every value is)."""
    bad = ~(np.abs(np.asarray(y, dtype=float)) <= DRAWN_LIMIT)
    return None if not bad.any() else np.asarray(x)[np.flatnonzero(bad)[0]]


def mark_top(ax, x, marker, color, **kwargs):
    """A marker on the top edge of ``ax`` at data position ``x`` (axes coordinates in y,
    so that it never moves the limits): where a value left the scale or a run diverged
    with nothing left to draw."""
    ax.plot(
        [x],
        [1.0],
        marker,
        color=color,
        ms=kwargs.pop("ms", 7),
        mew=kwargs.pop("mew", 1.8),
        clip_on=False,
        transform=ax.get_xaxis_transform(),
        **kwargs,
    )


def relative_text(x: float) -> str:
    """A relative difference as a reader takes it: a percentage from 0.1% up (``910%``
    for 9.1, ``2.4%``), below that the fraction itself (``1.2e-10``), as the report
    writes it."""
    if not is_drawable(x):
        return "n/a"
    # Two significant digits, never in exponent form: 910%, not 9.1e+02%.
    return f"{float(f'{100 * x:.2g}'):g}%" if abs(x) >= 1e-3 else f"{x:.1e}"


def notice_figure(title: str, text: str):
    """A figure that says why there is nothing to draw (a run that diverged before what
    the figure shows was recorded), in place of a crash."""
    fig = new_figure(6.4, 2.4)
    ax = fig.subplots()
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    return fig


def variant_color(index: int) -> str:
    """The colour of the experiment's ``index``-th variant, in every figure."""
    return _VARIANT_COLORS[index % len(_VARIANT_COLORS)]


def layer_color(layer: int) -> str:
    return _LAYER_COLORS[layer % len(_LAYER_COLORS)]


def seed_color(index: int) -> tuple:
    return _SEED_COLORS[index % len(_SEED_COLORS)]


def lr_colors(learning_rates: Sequence[float]) -> dict[float, tuple]:
    """Sequential colours for learning rates, light (small) to dark (large)."""
    rates = sorted(set(learning_rates))
    cmap = colormaps["viridis"]
    positions = np.linspace(0.85, 0.0, len(rates)) if len(rates) > 1 else [0.35]
    return {lr: cmap(p) for lr, p in zip(rates, positions, strict=True)}


def class_cmap(n_classes: int, light: bool = False) -> ListedColormap:
    """Discrete colours for ``n_classes`` classes (light shades for filled regions)."""
    colors = _CLASS_LIGHT if light else CLASS_COLORS
    return ListedColormap([colors[k % len(colors)] for k in range(n_classes)])


def probability_cmap() -> LinearSegmentedColormap:
    """Class-0 red through white to class-1 blue: P(class 1) on a decision map."""
    return LinearSegmentedColormap.from_list(
        "p_class1", [_CLASS_LIGHT[0], "#FFFFFF", _CLASS_LIGHT[1]]
    )


def style():
    """A context manager applying the shared rcParams; :func:`figures.render` wraps
    every figure function in it (rcParams are read when artists are created)."""
    return matplotlib.rc_context(_RC)


def new_figure(width: float, height: float, **kwargs):
    """A figure of ``width`` x ``height`` inches with constrained layout."""
    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def subplots(nrows: int, ncols: int, width: float, height: float, **kwargs):
    """A figure and its grid of axes (constrained layout); ``axes`` is always 2-D."""
    fig = new_figure(width, height)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def save(fig, png: str | Path, pdf: str | Path) -> None:
    """Write ``fig`` as a PNG at :data:`DPI` and as a vector PDF.

    Both files are written under a temporary name and renamed when complete, and carry
    no date or software version, so that the same figure is the same bytes.
    """
    with style():
        with atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
        # The first save fixed the layout; laying it out again for the PDF costs time
        # and moves nothing.
        fig.set_layout_engine("none")
        with atomic_path(pdf) as tmp:
            fig.savefig(
                tmp,
                format="pdf",
                metadata={"CreationDate": None, "ModDate": None, "Creator": "backprop-lab"},
            )


class _PlainLogFormatter(LogFormatter):
    """Log-axis tick labels as plain numbers (0.3, 0.001, 1e-08), not 3 x 10^-1."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


def log_axis(ax, which: str = "y") -> None:
    """Put ``ax``'s ``which`` axis on a log scale with plain-number tick labels; minor
    ticks are labelled when the axis spans too few decades for the major ones alone."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    # Minor ticks labelled where the axis spans too few decades for the major ones to
    # read it by: every one within 1.2 decades (1, 2, 5, 10), a subset within 2.
    axis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 1.2)))
    # Minor ticks at 2 and 5 of each decade: enough to read values by, and every tick
    # costs layout time (the default 2..9 makes most of a figure's drawing time).
    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
