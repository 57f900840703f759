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


def _fixed(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals as seed 001 prints it; in exponent form where
    that would run to dozens of digits (a diverged run's norms)."""
    return f"{value:.{digits}f}" if abs(value) < 1e12 else f"{value:.{digits}g}"


def _layer_label(layer: int, sizes: list[int]) -> str:
    """Weight layer ``layer`` (0-based, as the engine and the traces count) as seed 001
    numbers it, from 1 at the input, with its widths: ``layer 1 (2\u219216)``."""
    return f"layer {layer + 1} ({sizes[layer]}\u2192{sizes[layer + 1]})"


def _printed_for(ctx: Context, run, epoch: int, sizes: list[int]) -> tuple[dict | None, str]:
    """The seed's printed norms if they describe this run at this epoch (same sizes,
    learning rate and last epoch), else None and why not (for the caption)."""
    printed = ctx.printed
    if not printed:
        return None, ""
    seed = printed["seed"]
    if list(printed["sizes"]) != list(sizes) or float(printed["lr"]) != float(run["lr"]):
        return None, (
            f" Seed {seed}'s printed values are not shown: they are of a {printed['sizes']} "
            f"network at lr {printed['lr']:g}, this run is {sizes} at lr {run['lr']:g}."
        )
    if epoch != printed["epochs"]:
        return None, (
            f" Seed {seed} printed its values after its last update (epoch "
            f"{printed['epochs']}); this figure shows epoch {epoch}, so they are not shown."
        )
    return printed, ""


def gradient_flow(data: Data, ctx: Context):
    """Weight norm, gradient norm and ratio per layer at one epoch of one run, beside
    the values seed 001 printed when the run is its run (``ctx.printed``)."""
    opt = ctx.options
    run = data.pick(opt["variant"], opt["lr"], opt["seed"])
    sizes = json.loads(run["sizes"])
    norms = _with_ratio(data.norms[data.norms["run_id"] == run["run_id"]])
    epochs = sorted(norms["epoch"].unique())
    if not epochs:
        data.unrecorded(run["run_id"], "norms")
    epoch = opt["epoch"] if opt["epoch"] is not None else int(epochs[-1])
    at = norms[norms["epoch"] == epoch].sort_values("layer")
    if at.empty:
        data.unrecorded(run["run_id"], f"norms at epoch {epoch}")
        raise FigureError(
            f"{ctx.where}.epoch: no norms recorded at epoch {epoch} for {run['run_id']} "
            f"(recorded every trace.norms_every epochs, and at the last)"
        )
    printed, not_shown = _printed_for(ctx, run, epoch, sizes)
    seed = printed["seed"] if printed else ""
    fig = style.new_figure(12.0 if printed else 10.5, 3.9)
    bars_ax, table_ax = fig.subplots(1, 2, width_ratios=[1.0, 1.45 if printed else 1.25])
    layers = at["layer"].to_numpy()
    shades = {"weight_norm": "#4C72B0", "grad_norm": "#DD8452", "ratio": "#55A868"}
    # Per layer: ours and, if printed, the seed's beside it (hatched), for the two norms.
    bars = [(q, "ours") for q in shades]
    if printed:
        bars = [("weight_norm", "ours"), ("weight_norm", "seed"), ("grad_norm", "ours")]
        bars += [("grad_norm", "seed"), ("ratio", "ours")]
    width = 0.8 / len(bars)
    seed_values = {}
    if printed:
        seed_values = {
            "weight_norm": [float(v) for v in printed["weight_norms"]],
            "grad_norm": [float(v) for v in printed["gradient_norms"]],
        }
    off_scale = 0
    for k, (quantity, whose) in enumerate(bars):
        x = layers + (k - (len(bars) - 1) / 2) * width
        color = shades[quantity]
        if whose == "seed":
            heights = np.array([seed_values[quantity][int(layer)] for layer in layers])
            bars_ax.bar(
                x,
                heights,
                width,
                facecolor="white",
                edgecolor=color,
                hatch="////",
                lw=1.0,
                label=f"{_QUANTITY_LABELS[quantity].split(' $')[0]}, seed {seed} printed",
            )
            continue
        heights = style.drawable(at[quantity])
        label = _QUANTITY_LABELS[quantity] + (", this run" if printed else "")
        bars_ax.bar(x, heights, width, color=color, label=label)
        # A bar that cannot be drawn (a diverged run's norm past 1e100, or not finite):
        # a triangle on the top edge where it would stand.
        for xi in x[np.isnan(np.asarray(heights, dtype=float))]:
            style.mark_top(bars_ax, xi, "v", color, mew=1.0)
            off_scale += 1
    style.log_axis(bars_ax)
    bars_ax.set_xticks(layers, [_layer_label(int(layer), sizes) for layer in layers])
    bars_ax.set_ylabel("value (log scale)")
    bars_ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2)
    bars_ax.set_title(f"gradient flow at epoch {epoch}")
    table_ax.axis("off")
    if printed:
        columns = [
            "layer",
            "shape (out \u00d7 in)",
            f"weight norm\nseed {seed}",
            "weight norm\nours",
        ]
        columns += [f"gradient norm\nseed {seed}", "gradient norm\nours", "ratio\nours"]
    else:
        columns = ["layer", "shape (out \u00d7 in)", "weight norm", "gradient norm", "ratio"]
    cells = []
    for r in at.itertuples():
        layer = int(r.layer)
        row = [_layer_label(layer, sizes), f"{sizes[layer + 1]} \u00d7 {sizes[layer]}"]
        if printed:
            row += [printed["weight_norms"][layer], _fixed(r.weight_norm, 4)]
            row += [printed["gradient_norms"][layer], _fixed(r.grad_norm, 6)]
        else:
            row += [_fixed(r.weight_norm, 4), _fixed(r.grad_norm, 6)]
        cells.append([*row, _fixed(r.ratio, 6)])
    table = table_ax.table(cellText=cells, colLabels=columns, loc="center", cellLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(columns))))
    table.scale(1.0, 1.6)
    if printed:  # two-line headers
        for c in range(len(columns)):
            table[0, c].set_height(table[0, c].get_height() * 1.7)
    table_ax.set_title(
        f"seed {seed}'s printout beside this run's (Frobenius norms)"
        if printed
        else "in seed 001's format (Frobenius norms; layers from 1 at the input)"
    )
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
    if printed:
        facts["printed"] = {
            "seed": seed,
            "weight_norms": list(printed["weight_norms"]),
            "gradient_norms": list(printed["gradient_norms"]),
        }
    caption = (
        f"Per layer (numbered from 1 at the input, as seed 001 numbers them), the "
        f"Frobenius norm of the weights, of the gradient of the loss with respect to them, "
        f"and their ratio (the relative size of one step per unit learning rate) at epoch "
        f"{epoch} of run {run['run_id']}"
    )
    if printed:
        caption += (
            f", beside the values seed {seed} printed after its last update (hatched bars; "
            f"the table gives both, the seed's with its printed digits). The run is chaotic "
            f"from about epoch 120, so the later digits are decided by rounding: the report's "
            f"seed {seed} section checks each printed value against its rounding band."
        )
    else:
        caption += ": seed 001's gradient-flow printout as a figure, with the numbers in the table."
        caption += not_shown
    if off_scale:
        caption += (
            f" {off_scale} values are {style.OFF_SCALE} and have no bar (a triangle on the "
            f"top edge marks each); the table gives them."
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
    off_scale = unrecorded = 0
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
        if not layers:  # every run of the group diverged before its first record
            ax.text(
                0.5,
                0.5,
                "no norms recorded:\nevery run diverged at epoch "
                + ", ".join(str(int(e)) for e in sorted(set(sub["diverged_epoch"].dropna()))),
                ha="center",
                va="center",
                fontsize=8,
                transform=ax.transAxes,
            )
            unrecorded += 1
        for layer in layers:
            with np.errstate(all="ignore"):  # a diverged run's norms may overflow
                s = spread(rows[rows["layer"] == layer], "epoch", quantity, opt["band"])
            color = style.layer_color(int(layer))
            if opt["band"] != "none" and len(sub) > 1:
                fill_band(ax, s, color, alpha=0.2)
            ax.plot(
                *thin(s["epoch"], style.drawable(s["mean"])),
                color=color,
                label=_layer_label(int(layer), sizes),
            )
            x = style.first_off_scale(s["epoch"], s["mean"])
            if x is not None:
                style.mark_top(ax, x, "v", color, mew=1.0)
                off_scale += 1
            entry = group_facts["layers"].setdefault(str(int(layer)), {})
            entry[f"{quantity}_first"] = float(s["mean"].iloc[0])
            entry[f"{quantity}_last"] = float(s["mean"].iloc[-1])
        values = style.drawable(rows[quantity].to_numpy(dtype=float))
        seen = values[np.isfinite(values)]
        # A log axis where the values span a decade or more; a linear one within a
        # decade (a log axis there has one or two labelled ticks).
        logged = len(seen) and (seen > 0).all() and seen.max() >= 10 * seen.min()
        if logged:
            style.log_axis(ax)
        ax.set_ylabel(_QUANTITY_LABELS[quantity] + ("\n(log scale)" if logged else ""))
        if titled:
            ax.set_title(f"{data.label(variant, 44)}, lr {lr:g}", fontsize=9)
    # The last panel of each column carries the epoch axis.
    for ax in axes.flat[max(0, len(cells) - ncols) : len(cells)]:
        ax.set_xlabel(epoch_label(runs))
        ax.xaxis.set_tick_params(labelbottom=True)
    sizes = json.loads(runs["sizes"].iloc[0])
    same = runs["sizes"].nunique() == 1
    handles = [
        Line2D(
            [],
            [],
            color=style.layer_color(k),
            label=_layer_label(k, sizes) if same else f"layer {k + 1}",
        )
        for k in range(max_layers)
    ]
    band_text = style.BAND_LABELS[opt["band"]].format(n=n_seeds)
    if band_text and n_seeds > 1:
        handles.append(Patch(color="0.5", alpha=0.3, lw=0, label=f"band: {band_text}"))
    seeds = sorted(set(runs["seed"]))
    if n_seeds > 1:
        legend_title, over = (
            f"weight layer\n(mean over {n_seeds} seeds)",
            f"the mean over {n_seeds} seeds",
        )
    elif len(seeds) == 1:
        legend_title, over = (
            f"weight layer\n(one run: seed {seeds[0]})",
            f"one run (seed {seeds[0]})",
        )
    else:
        legend_title, over = "weight layer\n(one run each)", "one run per panel"
    fig.legend(handles=handles, title=legend_title, loc="outside right upper", frameon=False)
    caption = (
        "Per-layer Frobenius norms against epoch: "
        + ", ".join(_QUANTITY_LABELS[q].split(" $")[0] for q in quantities)
        + "; one line per weight layer, numbered from 1 at the input as seed 001 numbers "
        + f"them (layer 1 maps the inputs to the first hidden layer), {over}"
        + (f" with the band the {band_text}" if band_text and n_seeds > 1 else "")
        + ". A layer whose gradient norm stays far below the others' learns slowly "
        "(vanishing gradient)."
    )
    if off_scale:
        caption += (
            f" Where a mean goes {style.OFF_SCALE} (a diverging run), its line stops; a "
            f"triangle on the top edge marks the epoch."
        )
    if unrecorded:
        caption += f" {unrecorded} panels are empty: their runs diverged before any record."
    return fig, caption, facts
