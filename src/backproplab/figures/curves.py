"""Curves against epoch: learning curves with a band over seeds, and the comparison of
two variants that train different losses, on their own losses and on a common metric."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

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
                color, ls, label = vcolor, "-", data.label(variant)
            else:
                color = vcolor
                ls = _LINESTYLES[k % len(_LINESTYLES)]
                label = f"{data.label(variant)}, lr = {lr:g}"
            out.append(((variant, lr), sub, color, ls, label))
    return out


def draw_group(ax, frame, y, *, color, ls, label, band, seeds, seed_colors=False):
    """Per-seed lines (thin), their mean (bold) and the band of one group of runs.

    Returns the mean's spread table (see :func:`data.spread`).
    """
    if frame.empty:  # every run of the group diverged before its first record
        ax.plot([], [], color="black" if seed_colors else color, lw=1.8, ls=ls, label=label)
        return spread(frame, "epoch", y, "none")
    if frame["run_id"].nunique() == 1:  # one run: its own line, no mean or band
        run_id = frame["run_id"].iloc[0]
        single = f"seed {run_id.rsplit('seed=', 1)[-1]}"
        ax.plot(
            *thin(frame["epoch"], style.drawable(frame[y])),
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
                *thin(run["epoch"], style.drawable(run[y])),
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
    ax.plot(
        *thin(s["epoch"], style.drawable(s["mean"])), color=mean_color, lw=1.8, ls=ls, label=label
    )
    return s


def fill_band(ax, s, color, alpha=0.18):
    """The band of a spread table (thinned by :func:`data.thin_band`); where an edge
    is not drawable (:func:`style.drawable`) the band has a gap."""
    lo, hi = style.drawable(s["lo"]), style.drawable(s["hi"])
    ax.fill_between(*thin_band(s["epoch"], lo, hi), color=color, alpha=alpha, lw=0)


def mark_diverged(ax, metrics, runs, y, color) -> dict[str, int]:
    """Mark what a curve cannot show, and count the marks.

    ``last``: an x at each diverged run's last recorded value (the epoch before
    divergence). ``top``: an x on the top edge at the divergence epoch of a diverged run
    whose last value is off the scale (:func:`style.drawable`), or which diverged before
    its first record. ``off``: a triangle on the top edge where a run that did not
    diverge left the scale.
    """
    counts = {"last": 0, "top": 0, "off": 0}
    for run in runs.itertuples():
        rows = metrics[metrics["run_id"] == run.run_id].dropna(subset=[y])
        if run.status == "ok":
            x = style.first_off_scale(rows["epoch"], rows[y])
            if x is not None:
                style.mark_top(ax, x, "v", color, mew=1.0)
                counts["off"] += 1
            continue
        if not rows.empty and style.is_drawable(rows[y].iloc[-1]):
            last = rows.iloc[-1]
            ax.plot(last["epoch"], last[y], "x", color=color, ms=7, mew=1.8)
            counts["last"] += 1
        else:
            epoch = run.diverged_epoch
            style.mark_top(ax, epoch if epoch == epoch else rows["epoch"].max(), "x", color)
            counts["top"] += 1
    return counts


MARK_LABELS = {
    "last": "diverged run (last epoch before divergence)",
    "top": "diverged run with no drawable last value (at its divergence epoch)",
    "off": f"run whose value went {style.OFF_SCALE} (from this epoch on)",
}
MARK_STYLES = {
    "last": {"marker": "x", "mew": 1.8},
    "top": {"marker": "x", "mew": 1.8},
    "off": {"marker": "v", "mew": 1.0},
}


def mark_handles(counts: dict[str, int]) -> tuple[list, list[str]]:
    """Legend handles and labels for the kinds of marks :func:`mark_diverged` drew."""
    handles, labels = [], []
    for kind, n in counts.items():
        if n:
            handles.append(Line2D([], [], ls="", color="0.2", **MARK_STYLES[kind]))
            labels.append(MARK_LABELS[kind])
    return handles, labels


def mark_caption(counts: dict[str, int]) -> str:
    """The caption's sentences for the marks on the top edge (empty if none)."""
    text = ""
    if counts.get("top"):
        text += (
            f" An x on the top edge marks the divergence epoch of a diverged run whose last "
            f"recorded value is {style.OFF_SCALE}, or that diverged before its first record."
        )
    if counts.get("off"):
        text += (
            f" A triangle on the top edge marks where a run's value went {style.OFF_SCALE}; "
            f"such values are not drawn."
        )
    return text


# An accuracy axis starts above 0 when this share of the drawn values lies above 0.5:
# the range where the curves differ (0.9 to 1 for most trained networks) then fills it.
_ACCURACY_KEPT = 0.98


def accuracy_limits(values) -> tuple[float, float]:
    """The limits of an accuracy axis, chosen from the drawn ``values``: 0 to 1, unless
    :data:`_ACCURACY_KEPT` of them lie above 0.5; then from a multiple of 0.05 below
    that quantile to 1 (what lies below, the first epochs, runs off the bottom)."""
    values = np.asarray(style.drawable(np.asarray(values, dtype=float)), dtype=float)
    seen = values[np.isfinite(values)]
    if not len(seen):
        return -0.03, 1.03
    low = float(np.quantile(seen, 1 - _ACCURACY_KEPT))
    if low < 0.5 or seen.min() >= 1:
        return -0.03, 1.03
    bottom = max(0.0, np.floor((low - 0.01) * 20) / 20)
    return bottom, 1 + 0.03 * (1 - bottom)


def _set_scale(ax, metric, values, log_loss, full_accuracy=False) -> str:
    """Log axis for a loss, data-chosen limits for an accuracy (0 to 1 with
    ``full_accuracy``: a log epoch axis gives the first epochs, where accuracy is low, most
    of its width); the caption's note on a cut accuracy axis (empty if none)."""
    values = style.drawable(values)
    finite = values[np.isfinite(values)]
    if is_loss(metric) and log_loss and len(finite) and (finite > 0).all():
        style.log_axis(ax)
    elif not is_loss(metric):
        bottom, top = (-0.03, 1.03) if full_accuracy else accuracy_limits(finite)
        ax.set_ylim(bottom, top)
        if bottom > 0:
            below = float(np.mean(finite < bottom))
            return (
                f" The {metric.replace('_', ' ')} axis starts at {bottom:.2f}, chosen from the "
                f"data: {100 * (1 - below):.1f}% of the drawn values lie above it (the rest, "
                f"mostly the first epochs, run off the bottom edge)."
            )
    return ""


def _epoch_scale(runs: pd.DataFrame, option: str) -> tuple[bool, str]:
    """Whether the epoch axis is logarithmic (``option`` auto: when every diverged run
    ended within the first 2% of the epochs drawn, where a linear axis piles their
    marks on epoch 0), and the caption's note."""
    last = int(runs["epochs"].max())
    gone = runs.loc[runs["status"] != "ok", "diverged_epoch"].dropna()
    early = len(gone) and gone.max() <= 0.02 * last
    if option == "log" or (option == "auto" and early):
        note = " The epoch axis is logarithmic above epoch 1 (linear from 0 to 1)"
        if len(gone):
            note += (
                f": the diverged runs diverged by epoch {int(gone.max())} of {last}, where "
                f"a linear axis would pile their marks on epoch 0"
            )
        return True, note + "."
    return False, ""


def epoch_log_axis(ax, last: int) -> None:
    """A symmetric-log epoch axis: linear from 0 to 1, logarithmic above, ticks at 0, 1,
    10, 100, ..."""
    ax.set_xscale("symlog", linthresh=1, linscale=0.4)
    ticks = [0, 1, *(10**k for k in range(1, int(np.log10(max(last, 1))) + 1))]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(-0.2, last * 1.15)


def _last(values) -> float:
    """The last value of a column, NaN if it is empty (a group whose runs diverged before
    their first record)."""
    return float(values.iloc[-1]) if len(values) else float("nan")


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
    marks = {"last": 0, "top": 0, "off": 0}
    log_epochs, epoch_note = _epoch_scale(runs, opt.get("epoch_scale", "auto"))
    scale_notes = []
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
            for kind, n in mark_diverged(ax, metrics, sub, metric, color).items():
                marks[kind] += n
            summary[key][f"final_{metric}_mean"] = _last(s["mean"])
        scale_notes.append(
            _set_scale(
                ax, metric, metrics[metric].to_numpy(dtype=float), opt["log_loss"], log_epochs
            )
        )
        if log_epochs:
            epoch_log_axis(ax, int(metrics["epoch"].max()) if len(metrics) else 1)
        ax.set_xlabel("epoch (log scale above 1)" if log_epochs else epoch_label(runs))
        ax.set_ylabel(metric_label(metric, losses))
        if metric == "loss" and len(set(losses)) > 1:
            ax.set_title("each variant's own loss:\nnot comparable", color="#B00020", fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    band_text = style.BAND_LABELS[opt["band"]].format(n=n_seeds)
    if band_text and n_seeds > 1:
        handles.append(Patch(color="0.5", alpha=0.3, lw=0))
        labels.append(f"band: {band_text}")
    if opt["seeds"] and not single:
        handles.append(Line2D([], [], color="0.4", lw=0.8, alpha=0.6))
        labels.append("thin lines: single seeds")
    more_handles, more_labels = mark_handles(marks)
    handles += more_handles
    labels += more_labels
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
    caption += mark_caption(marks)
    caption += epoch_note + "".join(dict.fromkeys(n for n in scale_notes if n))
    facts = {
        "groups": list(summary.values()),
        "diverged_runs": diverged,
        "seeds_per_group": int(n_seeds),
        "epoch_scale": "log" if log_epochs else "linear",
    }
    if marks["top"] or marks["off"]:
        facts["off_scale_marks"] = {"diverged": marks["top"], "not_diverged": marks["off"]}
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
    fig, axes = style.subplots(1, 2, 9.0, 4.6)
    own, common = axes[0]
    facts = {"seed": seed, "lr": lr, "metric": metric, "variants": {}}
    n_seeds = runs.groupby("variant").size().max()
    marks = {"last": 0, "top": 0, "off": 0}
    for variant in dict.fromkeys(runs["variant"]):
        sub = runs[runs["variant"] == variant]
        color = style.variant_color(ctx.variant_index(variant))
        loss_name = sub["loss_name"].iloc[0]
        one = metrics[metrics["run_id"].isin(sub[sub["seed"] == seed]["run_id"])]
        own.plot(
            *thin(one["epoch"], style.drawable(one["loss"])),
            color=color,
            label=f"{data.label(variant)} ({loss_name})",
        )
        frame = metrics[metrics["run_id"].isin(sub["run_id"])]
        s = draw_group(
            common,
            frame,
            metric,
            color=color,
            ls="-",
            label=data.label(variant),
            band=opt["band"],
            seeds=False,
        )
        for ax, y, rows, chosen in (
            (own, "loss", one, sub[sub["seed"] == seed]),
            (common, metric, frame, sub),
        ):
            for kind, n in mark_diverged(ax, rows, chosen, y, color).items():
                marks[kind] += n
        facts["variants"][variant] = {
            "loss_name": loss_name,
            "final_own_loss_seed": _last(one["loss"]),
            f"final_{metric}_mean": _last(s["mean"]),
            f"final_{metric}_lo": _last(s["lo"]),
            f"final_{metric}_hi": _last(s["hi"]),
        }
    for ax, values in ((own, metrics["loss"]), (common, metrics[metric])):
        _set_scale(ax, "loss", values.to_numpy(dtype=float), opt["log_y"])
        ax.set_xlabel(epoch_label(runs))
    own.set_ylabel("each variant's own training loss")
    own.set_title(f"as seed 000 drew it (seed {seed}): different quantities", color="#B00020")
    more_handles, more_labels = mark_handles(marks)
    # Legends below their panels: inside, long labels cover the curves.
    below = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2), "frameon": False}
    own_handles, own_labels = own.get_legend_handles_labels()
    own.legend(
        own_handles + more_handles, own_labels + more_labels, title="variant (its loss)", **below
    )
    common.set_ylabel(metric_label(metric, runs["loss_name"].tolist()))
    common.set_title(f"on a common metric ({metric}), mean over {n_seeds} seeds")
    fig.suptitle(f"learning rate {lr:g}", fontsize=10)
    band_text = style.BAND_LABELS[opt["band"]].format(n=n_seeds)
    handles, labels = common.get_legend_handles_labels()
    if band_text:
        handles.append(Patch(color="0.5", alpha=0.3, lw=0))
        labels.append(f"band: {band_text}")
    common.legend(handles, labels, title=data.legend_title or None, **below)
    caption = (
        f"Left: each variant's own training loss for seed {seed} on one axis, as seed 000 "
        f"compared them; the losses are different functions, so their heights say nothing "
        f"about which network fits better. Right: the same runs on one metric recorded for "
        f"both ({metric}), mean over {n_seeds} seeds; learning rate {lr:g}"
        + (f", band: {band_text}." if band_text else ".")
    )
    if any(marks.values()):
        caption += (
            f" Diverged runs are marked: {MARK_LABELS['last']} (x)." if marks["last"] else ""
        ) + mark_caption(marks)
        facts["marks"] = marks
    return fig, caption, facts
