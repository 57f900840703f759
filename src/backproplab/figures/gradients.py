"""Gradient flow: seed 001's per-layer table of weight norm, gradient norm and their
ratio, drawn as a figure, and the same quantities against epoch for every layer (a layer
whose gradient norm sits far below the others' is a vanishing gradient made visible)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from . import style
from .curves import epoch_label, fill_band
from .data import Context, Data, FigureError, spread, thin

__all__ = ["gradient_flow", "norms"]

_QUANTITY_LABELS = {
    "weight_norm": "weight norm $\\|W\\|_F$",
    "grad_norm": "gradient norm $\\|\\partial L / \\partial W\\|_F$",
    "ratio": "ratio gradient norm / weight norm",
}


def _with_ratio(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["ratio"] = frame["grad_norm"] / frame["weight_norm"]
    return frame


def _layer_label(layer: int, sizes: list[int]) -> str:
    return f"layer {layer} ({sizes[layer]}\u2192{sizes[layer + 1]})"


def gradient_flow(data: Data, ctx: Context):
    """Weight norm, gradient norm and ratio per layer at one epoch of one run."""
    opt = ctx.options
    run = data.pick(opt["variant"], opt["lr"], opt["seed"])
    sizes = json.loads(run["sizes"])
    norms = _with_ratio(data.norms[data.norms["run_id"] == run["run_id"]])
    epochs = sorted(norms["epoch"].unique())
    epoch = opt["epoch"] if opt["epoch"] is not None else int(epochs[-1])
    at = norms[norms["epoch"] == epoch].sort_values("layer")
    if at.empty:
        raise FigureError(
            f"{ctx.where}.epoch: no norms recorded at epoch {epoch} for {run['run_id']} "
            f"(recorded every trace.norms_every epochs, and at the last)"
        )
    fig = style.new_figure(10.5, 3.6)
    bars_ax, table_ax = fig.subplots(1, 2, width_ratios=[1.0, 1.25])
    layers = at["layer"].to_numpy()
    width = 0.26
    shades = {"weight_norm": "#4C72B0", "grad_norm": "#DD8452", "ratio": "#55A868"}
    for k, (quantity, color) in enumerate(shades.items()):
        bars_ax.bar(
            layers + (k - 1) * width,
            at[quantity],
            width,
            color=color,
            label=_QUANTITY_LABELS[quantity],
        )
    style.log_axis(bars_ax)
    bars_ax.set_xticks(layers, [_layer_label(int(layer), sizes) for layer in layers])
    bars_ax.set_ylabel("value (log scale)")
    bars_ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=1)
    bars_ax.set_title(f"gradient flow at epoch {epoch}")
    table_ax.axis("off")
    cells = [
        [
            _layer_label(int(r.layer), sizes),
            f"{sizes[int(r.layer) + 1]} \u00d7 {sizes[int(r.layer)]}",
            f"{r.weight_norm:.4f}",
            f"{r.grad_norm:.6f}",
            f"{r.ratio:.6f}",
        ]
        for r in at.itertuples()
    ]
    table = table_ax.table(
        cellText=cells,
        colLabels=["layer", "shape (out \u00d7 in)", "weight norm", "gradient norm", "ratio"],
        loc="center",
        cellLoc="right",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(5)))
    table.scale(1.0, 1.5)
    table_ax.set_title("as seed 001 prints it (Frobenius norms)")
    fig.suptitle(f"run {run['run_id']}", fontsize=10)
    facts = {
        "run_id": run["run_id"],
        "epoch": epoch,
        "layers": [
            {
                "layer": int(r.layer),
                "weight_norm": r.weight_norm,
                "grad_norm": r.grad_norm,
                "ratio": r.ratio,
            }
            for r in at.itertuples()
        ],
    }
    caption = (
        f"Per layer, the Frobenius norm of the weights, of the gradient of the loss with "
        f"respect to them, and their ratio (the relative size of one step per unit learning "
        f"rate) at epoch {epoch} of run {run['run_id']}: seed 001's gradient-flow printout "
        f"as a figure, with the same numbers in the table."
    )
    return fig, caption, facts


def norms(data: Data, ctx: Context):
    """Per-layer norms against epoch: rows are variant x learning rate, columns are
    quantities, one line per layer (mean over seeds with a band)."""
    opt = ctx.options
    runs = data.select(opt["variants"], opt["learning_rates"])
    frame = _with_ratio(data.norms[data.norms["run_id"].isin(runs["run_id"])])
    groups = [
        ((v, lr), sub)
        for v in dict.fromkeys(runs["variant"])
        for lr in sorted(runs["lr"].unique())
        if not (sub := runs[(runs["variant"] == v) & (runs["lr"] == lr)]).empty
    ]
    quantities = opt["quantities"]
    # One row per group and a column per quantity; a single quantity wraps the groups
    # into rows of three instead of one tall column.
    if len(quantities) > 1:
        nrows, ncols = len(groups), len(quantities)
        cells = [(g, q) for g in groups for q in quantities]
    else:
        ncols = min(3, len(groups))
        nrows = -(-len(groups) // ncols)
        cells = [(g, quantities[0]) for g in groups]
    fig, axes = style.subplots(nrows, ncols, 3.5 * ncols + 1.2, 2.6 * nrows + 0.5, sharex=True)
    for ax in axes.flat[len(cells) :]:
        ax.set_visible(False)
    n_seeds = max(len(sub) for _, sub in groups)
    facts = {"groups": []}
    by_group = {}
    max_layers = 0
    titled = len(groups) > 1 or len(data.runs["variant"].unique()) > 1
    for ax, (((variant, lr), sub), quantity) in zip(axes.flat, cells, strict=False):
        sizes = json.loads(sub["sizes"].iloc[0])
        rows = frame[frame["run_id"].isin(sub["run_id"])]
        layers = sorted(rows["layer"].unique())
        max_layers = max(max_layers, len(layers))
        if (variant, lr) not in by_group:
            by_group[(variant, lr)] = {"variant": variant, "lr": float(lr), "layers": {}}
            facts["groups"].append(by_group[(variant, lr)])
        group_facts = by_group[(variant, lr)]
        for layer in layers:
            s = spread(rows[rows["layer"] == layer], "epoch", quantity, opt["band"])
            color = style.layer_color(int(layer))
            if opt["band"] != "none" and len(sub) > 1:
                fill_band(ax, s, color, alpha=0.2)
            ax.plot(
                *thin(s["epoch"], s["mean"]), color=color, label=_layer_label(int(layer), sizes)
            )
            entry = group_facts["layers"].setdefault(str(int(layer)), {})
            entry[f"{quantity}_first"] = float(s["mean"].iloc[0])
            entry[f"{quantity}_last"] = float(s["mean"].iloc[-1])
        values = rows[quantity].to_numpy(dtype=float)
        if (values[np.isfinite(values)] > 0).all():
            style.log_axis(ax)
        ax.set_ylabel(_QUANTITY_LABELS[quantity])
        if titled:
            ax.set_title(f"{data.labels[variant]}, lr {lr:g}", fontsize=9)
    # The last panel of each column carries the epoch axis.
    for ax in axes.flat[max(0, len(cells) - ncols) : len(cells)]:
        ax.set_xlabel(epoch_label(runs))
        ax.xaxis.set_tick_params(labelbottom=True)
    handles = [
        Line2D([], [], color=style.layer_color(k), label=f"layer {k}") for k in range(max_layers)
    ]
    band_text = style.BAND_LABELS[opt["band"]].format(n=n_seeds)
    if band_text and n_seeds > 1:
        handles.append(Patch(color="0.5", alpha=0.3, lw=0, label=f"band: {band_text}"))
    fig.legend(handles=handles, title="mean over seeds", loc="outside right upper", frameon=False)
    caption = (
        "Per-layer Frobenius norms against epoch: "
        + ", ".join(_QUANTITY_LABELS[q].split(" $")[0] for q in quantities)
        + f"; one line per layer (layer 0 is nearest the input), the mean over {n_seeds} "
        + "seeds"
        + (f" with the band the {band_text}" if band_text and n_seeds > 1 else "")
        + ". A layer whose gradient norm stays far below the others' learns slowly "
        "(vanishing gradient)."
    )
    return fig, caption, facts
