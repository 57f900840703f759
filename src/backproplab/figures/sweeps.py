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
from .curves import is_loss, metric_label
from .data import Context, Data, FigureError

__all__ = ["lr_sensitivity", "sweep_heatmap"]


def _mixed_losses(runs: pd.DataFrame, metric: str) -> str:
    """A warning for captions when a loss metric compares variants with different losses."""
    names = list(dict.fromkeys(runs["loss_name"]))
    if metric in ("loss", "test_loss") and len(names) > 1:
        return (
            f" The variants train different losses ({', '.join(names)}), so their loss "
            f"values are not comparable with each other; compare a common metric instead."
        )
    return ""


def _final(data: Data, ctx: Context, variants) -> tuple[pd.DataFrame, str]:
    runs = data.select(variants, None)
    column = f"final_{ctx.options['metric']}"
    if column not in runs.columns:
        known = [c.removeprefix("final_") for c in runs.columns if c.startswith("final_")]
        raise FigureError(f"{ctx.where}.metric: no {column} in the run table; known: {known}")
    return runs, column


def lr_sensitivity(data: Data, ctx: Context):
    """Final metric against learning rate (log axis), one line per variant: the mean
    over the seeds that did not diverge, a band, each seed as a dot; diverged runs as
    crosses along the top edge."""
    opt = ctx.options
    runs, column = _final(data, ctx, opt["variants"])
    metric = opt["metric"]
    fig, axes = style.subplots(1, 1, 7.4, 4.2)
    ax = axes[0, 0]
    ok = runs[(runs["status"] == "ok") & np.isfinite(runs[column])]
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
        ax.plot(mean.index, mean, "-o", color=color, ms=4, label=data.labels[variant])
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
        + _mixed_losses(runs, metric)
    )
    facts["diverged_runs"] = int(len(diverged))
    facts["runs"] = int(len(runs))
    return fig, caption, facts


def sweep_heatmap(data: Data, ctx: Context):
    """Mean final metric over seeds in a learning rate x variant grid, annotated; a
    cell's lower line counts its diverged runs."""
    opt = ctx.options
    runs, column = _final(data, ctx, opt["variants"])
    metric = opt["metric"]
    variants = list(dict.fromkeys(runs["variant"]))
    rates = sorted(runs["lr"].unique())
    ok = runs[(runs["status"] == "ok") & np.isfinite(runs[column])]
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
    for r in range(len(variants)):
        for c in range(len(rates)):
            v, n_gone = values[r, c], gone.iat[r, c]
            text = "all diverged" if not np.isfinite(v) else f"{v:.3g}"
            if n_gone and np.isfinite(v):
                text += f"\n{n_gone}/{total.iat[r, c]} diverged"
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
    ax.set_yticks(range(len(variants)), [data.labels[v] for v in variants])
    ax.set_xlabel("learning rate")
    ax.set_ylabel(data.legend_title or "variant")
    ax.grid(False)
    ax.tick_params(length=0)
    label = f"mean final {metric_label(metric, runs['loss_name'].tolist())}"
    fig.colorbar(image, ax=ax, label=f"mean final {metric}" + (" (log scale)" if log else ""))
    best = (
        np.unravel_index(
            np.nanargmin(values) if is_loss(metric) else np.nanargmax(values), values.shape
        )
        if len(finite)
        else None
    )
    facts = {
        "metric": metric,
        "best": None
        if best is None
        else {
            "variant": variants[best[0]],
            "lr": float(rates[best[1]]),
            "value": float(values[best]),
        },
        "diverged_runs": int(gone.to_numpy().sum()),
        "runs": int(len(runs)),
    }
    caption = (
        f"{label[0].upper()}{label[1:]} over the seeds that did not diverge, for every "
        f"variant and learning rate; a cell's second line counts its diverged runs, and grey "
        f"cells diverged in every seed."
        + (
            f" Best: {data.labels[facts['best']['variant']]} at lr {facts['best']['lr']:g} "
            f"({facts['best']['value']:.3g})."
            if best is not None
            else ""
        )
        + _mixed_losses(runs, metric)
    )
    return fig, caption, facts
