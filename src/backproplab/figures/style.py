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
    "class_cmap",
    "layer_color",
    "log_axis",
    "lr_colors",
    "new_figure",
    "probability_cmap",
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
    axis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))
    # Minor ticks at 2 and 5 of each decade: enough to read values by, and every tick
    # costs layout time (the default 2..9 makes most of a figure's drawing time).
    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
