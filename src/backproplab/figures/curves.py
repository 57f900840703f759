"""Curves against epoch: learning curves with a band over seeds, and the comparison of
two variants that train different losses, on their own losses and on a common metric."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from . import style
from .data import Context, Data, FigureError, spread, thin, thin_band

__all__ = ["learning_curves", "loss_comparison"]

_LINESTYLES = ("-", "--", ":", "-.")


def metric_label(metric: str, losses: list[str]) -> str:
    """An axis label for a metrics-table column."""
    own = losses[0] if len(set(losses)) == 1 else " / ".join(dict.fromkeys(losses))
    split, _, what = metric.rpartition("_") if metric.startswith("test_") else ("", "", metric)
    prefix = "test" if split else "training"
    names = {
        "loss": f"{prefix} loss ({own})",
        "accuracy": f"{prefix} accuracy (fraction correct)",
        "mse": f"{prefix} mean squared error",
        "half_sse": f"{prefix} half summed squared error",
        "bce": f"{prefix} binary cross-entropy",
        "cross_entropy": f"{prefix} cross-entropy",
    }
    return names.get(what, f"{prefix} {what}")


def is_loss(metric: str) -> bool:
    return not metric.endswith("accuracy")


def epoch_label(runs: pd.DataFrame) -> str:
    """Full-batch runs take one update per epoch; say so on the axis."""
    if runs["batch_size"].isna().all():
        return "epoch (full-batch updates)"
    return "epoch (passes over the training data)"


def _groups(runs: pd.DataFrame, data: Data):
    """(key, runs, colour, linestyle, label) of each (variant, learning rate) group."""
    variants = list(dict.fromkeys(runs["variant"]))
    rates = sorted(runs["lr"].unique())
    lr_color = style.lr_colors(rates)
    out = []
    for variant in variants:
        for k, lr in enumerate(rates):
            sub = runs[(runs["variant"] == variant) & (runs["lr"] == lr)]
            if sub.empty:
                continue
            vcolor = style.variant_color(data.ctx.variant_index(variant))
            if len(variants) == 1 and len(rates) > 1:
                color, ls, label = lr_color[lr], "-", f"lr = {lr:g}"
            elif len(rates) == 1:
                color, ls, label = vcolor, "-", data.labels[variant]
            else:
                color = vcolor
                ls = _LINESTYLES[k % len(_LINESTYLES)]
                label = f"{data.labels[variant]}, lr = {lr:g}"
            out.append(((variant, lr), sub, color, ls, label))
    return out


def draw_group(ax, frame, y, *, color, ls, label, band, seeds, seed_colors=False):
    """Per-seed lines (thin), their mean (bold) and the band of one group of runs.

    Returns the mean's spread table (see :func:`data.spread`).
    """
    if frame["run_id"].nunique() == 1:  # one run: its own line, no mean or band
        run_id = frame["run_id"].iloc[0]
        single = f"seed {run_id.rsplit('seed=', 1)[-1]}"
        ax.plot(
            *thin(frame["epoch"], frame[y]),
            color="black" if seed_colors else color,
            lw=1.6,
            ls=ls,
            label=single if seed_colors else label,
        )
        return spread(frame, "epoch", y, "none")
    if seeds:
        for k, (run_id, run) in enumerate(frame.groupby("run_id", sort=False)):
            seed_color = style.seed_color(k) if seed_colors else color
            ax.plot(
                *thin(run["epoch"], run[y]),
                color=seed_color,
                lw=0.8 if not seed_colors else 1.1,
                alpha=0.4 if not seed_colors else 0.9,
                ls=ls,
                label=f"seed {run_id.rsplit('seed=', 1)[-1]}" if seed_colors else None,
            )
    s = spread(frame, "epoch", y, band)
    if band != "none" and frame["run_id"].nunique() > 1:
        fill_band(ax, s, color)
    mean_color = "black" if seed_colors else color
    ax.plot(*thin(s["epoch"], s["mean"]), color=mean_color, lw=1.8, ls=ls, label=label)
    return s


def fill_band(ax, s, color, alpha=0.18):
    """The band of a spread table (thinned by :func:`data.thin_band`)."""
    ax.fill_between(*thin_band(s["epoch"], s["lo"], s["hi"]), color=color, alpha=alpha, lw=0)


def _mark_diverged(ax, metrics, runs, y, color):
    """An x at each diverged run's last recorded value (the epoch before divergence)."""
    gone = runs[runs["status"] != "ok"]
    marked = 0
    for run_id in gone["run_id"]:
        rows = metrics[metrics["run_id"] == run_id].dropna(subset=[y])
        if not rows.empty:
            last = rows.iloc[-1]
            ax.plot(last["epoch"], last[y], "x", color=color, ms=7, mew=1.8)
            marked += 1
    return marked


def _set_scale(ax, metric, values, log_loss):
    finite = values[np.isfinite(values)]
    if is_loss(metric) and log_loss and len(finite) and (finite > 0).all():
        style.log_axis(ax)
    elif not is_loss(metric):
        ax.set_ylim(-0.03, 1.03)


def learning_curves(data: Data, ctx: Context):
    """Metrics against epoch, one panel per metric: each group of runs (variant x
    learning rate) as its mean with a band over seeds, and each seed as a thin line."""
    opt = ctx.options
    runs = data.select(opt["variants"], opt["learning_rates"])
    metrics = data.metrics[data.metrics["run_id"].isin(runs["run_id"])]
    if opt["max_epoch"] is not None:
        metrics = metrics[metrics["epoch"] <= opt["max_epoch"]]
    missing = [m for m in opt["metrics"] if m not in metrics.columns]
    if missing:
        known = [c for c in metrics.columns if c not in ("run_id", "epoch")]
        raise FigureError(f"{ctx.where}.metrics: {missing} not recorded; recorded: {known}")
    groups = _groups(runs, data)
    single = len(groups) == 1
    n_seeds = runs.groupby(["variant", "lr"]).size().max()
    ncols = len(opt["metrics"])
    fig, axes = style.subplots(1, ncols, 3.6 * ncols + 0.4, 3.4)
    losses = runs["loss_name"].tolist()
    summary = {
        key: {
            "variant": key[0],
            "lr": float(key[1]),
            "runs": int(len(sub)),
            "diverged": int((sub["status"] != "ok").sum()),
        }
        for key, sub, *_ in groups
    }
    diverged = int((runs["status"] != "ok").sum())
    for ax, metric in zip(axes[0], opt["metrics"], strict=True):
        for key, sub, color, ls, label in groups:
            frame = metrics[metrics["run_id"].isin(sub["run_id"])]
            s = draw_group(
                ax,
                frame,
                metric,
                color=color,
                ls=ls,
                label=("mean" if single else label),
                band=opt["band"],
                seeds=opt["seeds"],
                seed_colors=single and opt["seeds"],
            )
            _mark_diverged(ax, metrics, sub, metric, color)
            summary[key][f"final_{metric}_mean"] = float(s["mean"].iloc[-1])
        _set_scale(ax, metric, metrics[metric].to_numpy(dtype=float), opt["log_loss"])
        ax.set_xlabel(epoch_label(runs))
        ax.set_ylabel(metric_label(metric, losses))
        if metric == "loss" and len(set(losses)) > 1:
            ax.set_title("each variant's own loss: not comparable", color="#B00020")
    handles, labels = axes[0][0].get_legend_handles_labels()
    band_text = style.BAND_LABELS[opt["band"]].format(n=n_seeds)
    if band_text and n_seeds > 1:
        handles.append(Patch(color="0.5", alpha=0.3, lw=0))
        labels.append(f"band: {band_text}")
    if opt["seeds"] and not single:
        handles.append(Line2D([], [], color="0.4", lw=0.8, alpha=0.6))
        labels.append("thin lines: single seeds")
    if diverged:
        handles.append(Line2D([], [], ls="", marker="x", color="0.2", mew=1.8))
        labels.append("diverged run (last epoch before divergence)")
    n_variants, n_rates = runs["variant"].nunique(), runs["lr"].nunique()
    if single:
        title = f"lr = {runs['lr'].iloc[0]:g}"
    elif n_variants == 1:
        title = "learning rate"
    else:
        title = data.legend_title or "variant"
        title += ", learning rate (line style)" if n_rates > 1 else ""
    fig.legend(
        handles,
        labels,
        title=title or None,
        loc="outside right upper",
        frameon=False,
    )
    what = ", ".join(metric_label(m, losses) for m in opt["metrics"])
    band_phrase = f"the shaded band the {band_text}" if band_text and n_seeds > 1 else "no band"
    if single and len(runs) == 1:
        caption = f"{what} against epoch of the experiment's one run, {runs['run_id'].iloc[0]}"
    elif single:
        caption = f"{what} against epoch. The bold black line is the mean over the seeds"
        caption += ", coloured lines single seeds" if opt["seeds"] else ""
    else:
        caption = (
            f"{what} against epoch, one colour per "
            f"{'learning rate' if n_variants == 1 else 'variant'}"
            f"{' and one line style per learning rate' if n_variants > 1 < n_rates else ''}. "
            f"Bold lines are means over seeds"
        )
        caption += ", thin lines single seeds" if opt["seeds"] else ""
    caption += f", {band_phrase}" if len(runs) > 1 else ""
    caption += "; x marks a diverged run's last epoch before divergence." if diverged else "."
    facts = {
        "groups": list(summary.values()),
        "diverged_runs": diverged,
        "seeds_per_group": int(n_seeds),
    }
    return fig, caption, facts


def loss_comparison(data: Data, ctx: Context):
    """Two variants that train different losses: their own losses on one axis (as seed
    000 drew them, one seed), against a common metric recorded for both (all seeds)."""
    opt = ctx.options
    runs = data.select(opt["variants"], None)
    lr = float(opt["lr"]) if opt["lr"] is not None else float(runs["lr"].iloc[0])
    runs = data.select(opt["variants"], [lr])
    if runs["variant"].nunique() < 2:
        raise FigureError(f"{ctx.where}: needs at least two variants, found one")
    metric = opt["metric"]
    metrics = data.metrics[data.metrics["run_id"].isin(runs["run_id"])]
    if metric not in metrics.columns:
        raise FigureError(
            f"{ctx.where}.metric: {metric!r} was not recorded; add it to the experiment's "
            f"metrics (the common metric must be recorded for every variant)"
        )
    seed = opt["seed"] if opt["seed"] is not None else int(runs["seed"].iloc[0])
    if seed not in set(runs["seed"]):
        raise FigureError(f"{ctx.where}.seed: {seed} is not one of {sorted(set(runs['seed']))}")
    fig, axes = style.subplots(1, 2, 8.4, 3.4)
    own, common = axes[0]
    facts = {"seed": seed, "lr": lr, "metric": metric, "variants": {}}
    n_seeds = runs.groupby("variant").size().max()
    for variant in dict.fromkeys(runs["variant"]):
        sub = runs[runs["variant"] == variant]
        color = style.variant_color(ctx.variant_index(variant))
        loss_name = sub["loss_name"].iloc[0]
        one = metrics[metrics["run_id"].isin(sub[sub["seed"] == seed]["run_id"])]
        own.plot(
            *thin(one["epoch"], one["loss"]),
            color=color,
            label=f"{data.labels[variant]}: {loss_name}",
        )
        frame = metrics[metrics["run_id"].isin(sub["run_id"])]
        s = draw_group(
            common,
            frame,
            metric,
            color=color,
            ls="-",
            label=data.labels[variant],
            band=opt["band"],
            seeds=False,
        )
        facts["variants"][variant] = {
            "loss_name": loss_name,
            "final_own_loss_seed": float(one["loss"].iloc[-1]),
            f"final_{metric}_mean": float(s["mean"].iloc[-1]),
            f"final_{metric}_lo": float(s["lo"].iloc[-1]),
            f"final_{metric}_hi": float(s["hi"].iloc[-1]),
        }
    for ax, values in ((own, metrics["loss"]), (common, metrics[metric])):
        _set_scale(ax, "loss", values.to_numpy(dtype=float), opt["log_y"])
        ax.set_xlabel(epoch_label(runs))
    own.set_ylabel("each variant's own training loss")
    own.set_title(f"as seed 000 drew it (seed {seed}): different quantities", color="#B00020")
    own.legend(title="variant: loss", frameon=False)
    common.set_ylabel(metric_label(metric, runs["loss_name"].tolist()))
    common.set_title(f"on a common metric ({metric}), mean over {n_seeds} seeds")
    fig.suptitle(f"learning rate {lr:g}", fontsize=10)
    band_text = style.BAND_LABELS[opt["band"]].format(n=n_seeds)
    handles, labels = common.get_legend_handles_labels()
    if band_text:
        handles.append(Patch(color="0.5", alpha=0.3, lw=0))
        labels.append(f"band: {band_text}")
    common.legend(handles, labels, title=data.legend_title or None, frameon=False)
    caption = (
        f"Left: each variant's own training loss for seed {seed} on one axis, as seed 000 "
        f"compared them; the losses are different functions, so their heights say nothing "
        f"about which network fits better. Right: the same runs on one metric recorded for "
        f"both ({metric}), mean over {n_seeds} seeds; learning rate {lr:g}"
        + (f", band: {band_text}." if band_text else ".")
    )
    return fig, caption, facts
