"""Learning-rate sweeps from the run table: a final metric against learning rate, one
line per variant, and the same numbers as a learning rate x variant heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from . import style
from .catalog import sweep_metric
from .curves import accuracy_limits, is_loss, metric_label
from .data import Context, Data, FigureError

__all__ = ["lr_sensitivity", "sweep_heatmap"]


def _comparison(runs: pd.DataFrame, metric: str) -> str:
    """The caption's sentence on what the variants are compared on."""
    names = list(dict.fromkeys(runs["loss_name"]))
    if len(names) > 1:
        return (
            f" The variants train different losses ({', '.join(names)}), whose values "
            f"measure different things: they are compared on {metric_label(metric, names)}, "
            f"a metric every run records."
        )
    return ""


def _final(data: Data, ctx: Context, variants) -> tuple[pd.DataFrame, str, str]:
    """The runs drawn, the metric compared (:func:`catalog.sweep_metric`) and its
    run-table column."""
    runs = data.select(variants, None)
    losses = runs["loss_name"].tolist()
    metric = sweep_metric(ctx.options["metric"], losses)
    if is_loss(metric) and metric.endswith("loss") and len(set(losses)) > 1:
        raise FigureError(
            f"{ctx.where}.metric: {metric} would compare different losses "
            f"({', '.join(dict.fromkeys(losses))}) on one scale; choose accuracy or a "
            f"metric every variant records"
        )
    column = f"final_{metric}"
    if column not in runs.columns:
        known = [c.removeprefix("final_") for c in runs.columns if c.startswith("final_")]
        raise FigureError(f"{ctx.where}.metric: no {column} in the run table; known: {known}")
    return runs, metric, column


def _drawn(runs: pd.DataFrame, column: str) -> pd.Series:
    """Which runs have a final value a figure can draw (finite, within
    :data:`style.DRAWN_LIMIT`)."""
    return np.abs(runs[column].astype(float)) <= style.DRAWN_LIMIT


def lr_sensitivity(data: Data, ctx: Context):
    """Final metric against learning rate (log axis), one line per variant: the mean
    over the seeds that did not diverge, a band, each seed as a dot; diverged runs as
    crosses along the top edge."""
    opt = ctx.options
    runs, metric, column = _final(data, ctx, opt["variants"])
    fig, axes = style.subplots(1, 1, 7.4, 4.2)
    ax = axes[0, 0]
    ok = runs[(runs["status"] == "ok") & _drawn(runs, column)]
    # Runs that did not diverge but whose final value cannot be drawn (beyond 1e100, or
    # not finite): a triangle on the top edge, like the diverged runs' crosses.
    off = runs[(runs["status"] == "ok") & ~_drawn(runs, column)]
    facts = {"metric": metric, "variants": {}}
    n_seeds = int(runs.groupby(["variant", "lr"]).size().max())
    for variant in dict.fromkeys(runs["variant"]):
        color = style.variant_color(ctx.variant_index(variant))
        sub = ok[ok["variant"] == variant]
        grouped = sub.groupby("lr")[column]
        mean = grouped.mean()
        if opt["band"] == "minmax":
            lo, hi = grouped.min(), grouped.max()
        elif opt["band"] == "std":
            sd = grouped.std(ddof=0)
            lo, hi = mean - sd, mean + sd
        else:
            lo = hi = mean
        if opt["band"] != "none":
            ax.fill_between(mean.index, lo, hi, color=color, alpha=0.15, lw=0)
        ax.plot(mean.index, mean, "-o", color=color, ms=4, label=data.label(variant))
        ax.plot(sub["lr"], sub[column], ".", color=color, alpha=0.45, ms=4)
        gone = runs[(runs["variant"] == variant) & (runs["status"] != "ok")]
        facts["variants"][variant] = {
            "mean": {f"{lr:g}": float(v) for lr, v in mean.items()},
            "diverged": {f"{lr:g}": int(n) for lr, n in gone.groupby("lr").size().items()},
        }
    diverged = runs[runs["status"] != "ok"]
    ax.set_xscale("log")
    if opt["log_y"] and is_loss(metric) and (ok[column] > 0).all() and len(ok):
        style.log_axis(ax)
    if len(off):
        top = ax.get_xaxis_transform()
        for variant, gone in off.groupby("variant", sort=False):
            color = style.variant_color(ctx.variant_index(variant))
            for lr, count in gone.groupby("lr").size().items():
                style.mark_top(ax, lr, "v", color, ms=8, mew=1.0)
                ax.annotate(
                    str(count),
                    (lr, 1.0),
                    xycoords=top,
                    textcoords="offset points",
                    xytext=(0, -14),
                    ha="center",
                    fontsize=7,
                    annotation_clip=False,
                )
    if len(diverged):
        # Diverged runs have no final value: a cross on the top edge (in axes
        # coordinates, so that it never moves the limits), nudged sideways by variant,
        # with the count of runs above it.
        top = ax.get_xaxis_transform()
        n_var = max(1, runs["variant"].nunique())
        for k, variant in enumerate(dict.fromkeys(runs["variant"])):
            gone = diverged[diverged["variant"] == variant]
            shift = 1.0 + 0.04 * (k - (n_var - 1) / 2)
            color = style.variant_color(ctx.variant_index(variant))
            for lr, count in gone.groupby("lr").size().items():
                ax.plot(
                    [lr * shift], [1.0], "x", color=color, ms=8, mew=2, clip_on=False, transform=top
                )
                ax.annotate(
                    str(count),
                    (lr * shift, 1.0),
                    xycoords=top,
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=7,
                    annotation_clip=False,
                )
    rates = sorted(runs["lr"].unique())
    ax.set_xticks(rates, [f"{r:g}" for r in rates])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(f"final {metric_label(metric, runs['loss_name'].tolist())}")
    if runs["loss_name"].nunique() > 1:
        ax.set_title(
            f"compared on {metric_label(metric, [])}: the variants train different losses",
            fontsize=9,
            pad=16,  # above the diverged runs' crosses and counts on the top edge
        )
    elif not is_loss(metric):
        ax.set_ylim(*accuracy_limits(ok[column].to_numpy(dtype=float)))
    handles, labels = ax.get_legend_handles_labels()
    band_text = style.BAND_LABELS[opt["band"]].format(n=n_seeds)
    extra = [Line2D([], [], ls="", marker=".", color="0.4", label="single seeds")]
    if band_text:
        extra.append(Patch(color="0.5", alpha=0.3, lw=0, label=f"band: {band_text}"))
    if len(diverged):
        extra.append(
            Line2D(
                [], [], ls="", marker="x", color="0.2", mew=2, label="diverged runs (count above)"
            )
        )
    if len(off):
        extra.append(
            Line2D(
                [],
                [],
                ls="",
                marker="v",
                color="0.2",
                mew=1.0,
                label=f"final value {style.OFF_SCALE} (count below)",
            )
        )
    fig.legend(
        handles + extra,
        labels + [h.get_label() for h in extra],
        title=data.legend_title or None,
        loc="outside right upper",
        frameon=False,
    )
    caption = (
        f"Final {metric_label(metric, runs['loss_name'].tolist())} against learning rate, one "
        f"line per variant: the mean over the seeds that did not diverge"
        + (f", the band the {band_text}" if band_text else "")
        + f", dots single seeds; {len(diverged)} of {len(runs)} runs diverged"
        + (" (crosses on the top edge, with their count)." if len(diverged) else ".")
        + (
            f" {len(off)} runs that did not diverge end {style.OFF_SCALE} and are not drawn "
            f"(triangles on the top edge, with their count)."
            if len(off)
            else ""
        )
        + _comparison(runs, metric)
    )
    facts["diverged_runs"] = int(len(diverged))
    facts["runs"] = int(len(runs))
    if len(off):
        facts["off_scale_runs"] = int(len(off))
    return fig, caption, facts


def sweep_heatmap(data: Data, ctx: Context):
    """Mean final metric over seeds in a learning rate x variant grid, annotated; a
    cell's lower line counts its diverged runs."""
    opt = ctx.options
    runs, metric, column = _final(data, ctx, opt["variants"])
    variants = list(dict.fromkeys(runs["variant"]))
    rates = sorted(runs["lr"].unique())
    ok = runs[(runs["status"] == "ok") & _drawn(runs, column)]
    mean = ok.pivot_table(index="variant", columns="lr", values=column, aggfunc="mean")
    mean = mean.reindex(index=variants, columns=rates)
    total = runs.pivot_table(index="variant", columns="lr", values="seed", aggfunc="count")
    total = total.reindex(index=variants, columns=rates).fillna(0).astype(int)
    gone = (
        runs[runs["status"] != "ok"]
        .pivot_table(index="variant", columns="lr", values="seed", aggfunc="count")
        .reindex(index=variants, columns=rates)
        .fillna(0)
        .astype(int)
    )
    # Runs that did not diverge but end beyond what a colour scale holds (1e100, or not
    # finite): counted in their cell, left out of its mean.
    off = (
        runs[(runs["status"] == "ok") & ~_drawn(runs, column)]
        .pivot_table(index="variant", columns="lr", values="seed", aggfunc="count")
        .reindex(index=variants, columns=rates)
        .fillna(0)
        .astype(int)
    )
    values = mean.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    log = opt["log_color"] and is_loss(metric) and len(finite) and (finite > 0).all()
    if log and finite.min() < finite.max():
        norm = LogNorm(finite.min(), finite.max())
    else:
        lo = float(finite.min()) if len(finite) else 0.0
        norm = Normalize(lo, float(finite.max()) if len(finite) and finite.max() > lo else lo + 1)
    # Cells whose runs all diverged have no mean: grey.
    cmap = colormaps["viridis_r" if is_loss(metric) else "viridis"].with_extremes(bad="#DDDDDD")
    width = 1.4 * len(rates) + 3.6
    fig, axes = style.subplots(1, 1, width, 0.45 * len(variants) + 1.9)
    ax = axes[0, 0]
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    cell = (lambda v: f"{v:.3f}") if not is_loss(metric) else (lambda v: f"{v:.3g}")
    for r in range(len(variants)):
        for c in range(len(rates)):
            v, n_gone, n_off = values[r, c], gone.iat[r, c], off.iat[r, c]
            text = "all diverged" if not np.isfinite(v) else cell(v)
            if n_gone and np.isfinite(v):
                text += f"\n{n_gone}/{total.iat[r, c]} diverged"
            if n_off:
                text = (f"{cell(v)}\n" if np.isfinite(v) else "") + "\n".join(
                    [f"{n_off}/{total.iat[r, c]} off scale"]
                    + ([f"{n_gone}/{total.iat[r, c]} diverged"] if n_gone else [])
                )
            shade = norm(v) if np.isfinite(v) else 0.0
            dark = shade > 0.55 if is_loss(metric) else shade < 0.45
            ax.text(
                c,
                r,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark and np.isfinite(v) else "black",
            )
    ax.set_xticks(range(len(rates)), [f"{r:g}" for r in rates])
    ax.set_yticks(range(len(variants)), [data.label(v) for v in variants])
    ax.set_xlabel("learning rate")
    ax.set_ylabel(data.legend_title or "variant")
    ax.grid(False)
    ax.tick_params(length=0)
    losses = runs["loss_name"].tolist()
    label = f"mean final {metric_label(metric, losses)}"
    if len(set(losses)) > 1:
        ax.set_title(
            f"compared on {metric_label(metric, [])}: the variants train different losses",
            fontsize=9,
        )
    fig.colorbar(image, ax=ax, label=label + (" (log scale)" if log else ""))
    # The best cell, and every cell whose mean equals it (accuracies tie at 1).
    best_cells = []
    if len(finite):
        target = np.nanmin(values) if is_loss(metric) else np.nanmax(values)
        best_cells = [tuple(int(k) for k in rc) for rc in np.argwhere(values == target)]
    facts = {
        "metric": metric,
        "best": None
        if not best_cells
        else {
            "variant": variants[best_cells[0][0]],
            "lr": float(rates[best_cells[0][1]]),
            "value": float(values[best_cells[0]]),
            "cells": [{"variant": variants[r], "lr": float(rates[c])} for r, c in best_cells],
        },
        "diverged_runs": int(gone.to_numpy().sum()),
        "runs": int(len(runs)),
    }
    n_off = int(off.to_numpy().sum())
    if n_off:
        facts["off_scale_runs"] = n_off
    if not best_cells:
        best_text = ""
    elif len(best_cells) == 1:
        best = facts["best"]
        best_text = (
            f" {'Lowest' if is_loss(metric) else 'Highest'}: {data.labels[best['variant']]} "
            f"at lr {best['lr']:g} ({cell(best['value'])})."
        )
    else:
        best_text = (
            f" {len(best_cells)} cells share the {'lowest' if is_loss(metric) else 'highest'} "
            f"mean, {cell(facts['best']['value'])}: "
            + "; ".join(f"{data.labels[variants[r]]} at lr {rates[c]:g}" for r, c in best_cells[:4])
            + (
                f"; and {len(best_cells) - 4} more (the figure's facts list them)"
                if len(best_cells) > 4
                else ""
            )
            + "."
        )
    caption = (
        f"{label[0].upper()}{label[1:]} over the seeds that did not diverge, for every "
        f"variant and learning rate; a cell's second line counts its diverged runs, and grey "
        f"cells diverged in every seed."
        + (
            f" {n_off} runs that did not diverge end {style.OFF_SCALE}: counted as 'off "
            f"scale' in their cell and left out of its mean."
            if n_off
            else ""
        )
        + best_text
        + _comparison(runs, metric)
    )
    return fig, caption, facts
