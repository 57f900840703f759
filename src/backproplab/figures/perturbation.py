"""Why no reimplementation can match a notebook's later digits: one-ulp nudges of single
initial weights, retrained with the run's engine, and how far their losses drift apart.

The run's recorded initial parameters (its trace at epoch 0) are copied once per nudge,
one first-layer weight moved by ``ulps`` units in the last place, and the copies are
trained with the run's own settings and engine (the run table's ``engine``: the
compiled trainer or the NumPy engine) beside an unperturbed copy. That copy must reproduce
the recorded loss curve to the bit; the figure says whether it did.
"""

from __future__ import annotations

import numpy as np
import threadpoolctl
from matplotlib.lines import Line2D

from ..training.trainer import train_with
from . import style
from .curves import epoch_label
from .data import Context, Data, FigureError

__all__ = ["nudge", "ulp_fanout"]

_ENGINE_TEXT = {"compiled": "the compiled trainer", "numpy": "the NumPy engine"}


def nudge(value: float, ulps: int) -> float:
    """``value`` moved by ``ulps`` units in the last place (towards +inf if positive)."""
    target = np.inf if ulps > 0 else -np.inf
    out = np.float64(value)
    for _ in range(abs(ulps)):
        out = np.nextafter(out, target)
    return float(out)


def _retrain(data: Data, run, params, epochs: int):
    """Train ``params`` (R copies) with ``run``'s own settings and engine, as its
    training job did."""
    X, Y = data.dataset.part("train")
    R = params[0][0].shape[0]
    settings = data.train_settings(run).engine_args() | {"epochs": epochs}
    # One BLAS thread, as the training jobs use: sums then round the same way.
    with threadpoolctl.threadpool_limits(1):
        result = train_with(run["engine"])(
            data.mlp(run),
            params,
            X,
            Y,
            lr=[float(run["lr"])] * R,
            seeds=[int(run["seed"])] * R,
            **settings,
        )
    return result.history["epoch"], result.history["loss"]


def ulp_fanout(data: Data, ctx: Context):
    """Relative loss difference between nudged copies and the run, against epoch."""
    opt = ctx.options
    run = data.pick(opt["variant"], opt["lr"], opt["seed"])
    layer, n, ulps = opt["layer"], opt["nudges"], opt["ulps"]
    if ulps == 0:
        raise FigureError(f"{ctx.where}.ulps: a nudge of 0 ulps changes nothing")
    base = data.params(run, [0])
    if layer >= len(base):
        raise FigureError(f"{ctx.where}.layer: {layer} out of range (0..{len(base) - 1})")
    W0 = base[layer][0][0]
    entries = [np.unravel_index(k, W0.shape) for k in range(min(n, W0.size))]
    R = 1 + len(entries)
    params = [(np.repeat(W, R, axis=0), np.repeat(b, R, axis=0)) for W, b in base]
    for r, (i, j) in enumerate(entries, start=1):
        params[layer][0][r, i, j] = nudge(params[layer][0][r, i, j], ulps)
    epochs = int(run["epochs"])
    epoch, loss = _retrain(data, run, params, epochs)
    recorded = data.metrics[data.metrics["run_id"] == run["run_id"]].set_index("epoch")["loss"]
    common = [e for e in epoch if e in recorded.index]
    mine = loss[0][np.isin(epoch, common)]
    theirs = recorded.loc[common].to_numpy()
    reproduced = bool(np.array_equal(mine, theirs))
    with np.errstate(all="ignore"):  # a diverging run's losses: inf, NaN, or 0 / 0
        rel = np.abs(loss[1:] - loss[0]) / np.abs(loss[0])
    fig, axes = style.subplots(1, 1, 8.0, 4.2)
    ax = axes[0, 0]
    # Identical losses have no place on a log axis, nor do differences beyond 1e100 or
    # not finite (a diverging copy's; the caption says so).
    shown = style.drawable(np.where(rel > 0, rel, np.nan))
    for r, (i, j) in enumerate(entries):
        ax.plot(
            epoch,
            shown[r],
            color=style.seed_color(r),
            lw=0.9,
            alpha=0.85,
            label=f"$W^{{({layer})}}_{{{i}{j}}}$",
        )
    worst = rel.max(axis=0)
    ax.plot(
        epoch,
        style.drawable(np.where(worst > 0, worst, np.nan)),
        color="black",
        lw=1.6,
        label="largest of the nudges",
    )
    style.log_axis(ax)
    marks = {}
    for mark in opt["marks"]:
        if mark in epoch:
            k = int(np.flatnonzero(epoch == mark)[0])
            value = float(worst[k])
            marks[str(mark)] = value
            ax.axvline(mark, color="0.6", lw=0.8, ls=":")
            # The mark's own epoch along its line, at the bottom (99 is not 100 on a
            # 1000-epoch axis).
            ax.annotate(
                f"epoch {mark}",
                (mark, 0.0),
                xycoords=ax.get_xaxis_transform(),
                textcoords="offset points",
                xytext=(2, 3),
                ha="left",
                va="bottom",
                rotation=90,
                fontsize=7,
                color="0.35",
            )
            if value > 0 and style.is_drawable(value):
                ax.annotate(
                    style.relative_text(value),
                    (mark, value),
                    textcoords="offset points",
                    xytext=(4, 6),
                    fontsize=7,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                )
    ax.set_xlabel(epoch_label(data.runs))
    ax.set_ylabel("relative loss difference |L' \u2212 L| / L  (1 = 100%)")
    sign = "+" if ulps > 0 else "\u2212"
    ax.set_title(
        f"{sign}{abs(ulps)} ulp on one layer-{layer} weight, lr {run['lr']:g} ({run['run_id']})",
        fontsize=9,
    )
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.6", lw=0.8, ls=":"))
    labels.append("reported epochs (numbered along the line)")
    fig.legend(handles, labels, title="nudged weight", loc="outside right upper", frameon=False)
    facts = {
        "run_id": run["run_id"],
        "layer": layer,
        "ulps": ulps,
        "nudged": [[int(i), int(j)] for i, j in entries],
        "max_relative_difference": marks,
        "unperturbed_copy_reproduces_trace": reproduced,
        "final_loss": float(loss[0][-1]),
    }
    detail = ", ".join(f"{style.relative_text(v)} at epoch {e}" for e, v in marks.items())
    caption = (
        f"Each line retrains run {run['run_id']} from its recorded initial weights with one "
        f"layer-{layer} weight (layers counted from 0 at the input, as the figure's layer "
        f"option counts them) moved by {ulps:+d} ulp ({_ENGINE_TEXT[run['engine']]}, the "
        f"run's own settings) "
        f"and shows the relative difference of its loss from the unperturbed run. Largest "
        f"relative difference over the {len(entries)} nudges (a percentage of the loss "
        f"from 0.1% up, 910% being 9.1 times the loss; below, the fraction itself): "
        f"{detail}. Epoch e is the state after e updates (the dotted lines, their epochs "
        f"written along them); a notebook that prints the loss before its k-th update, as "
        f"seed 001 does, "
        f"calls epoch k \u2212 1 'Epoch k' (99 is its 'Epoch 100'). The unperturbed "
        f"copy {'reproduces' if reproduced else 'does NOT reproduce'} the recorded loss "
        f"curve bit for bit. Epochs where a nudge leaves the loss unchanged are gaps."
    )
    gone = data.diverged(run["run_id"])
    if gone is not None or not np.isfinite(loss).all():
        caption += (
            f" The run diverged at epoch {gone}" if gone is not None else " A copy diverged"
        ) + f"; where a copy diverged, or a difference is {style.OFF_SCALE}, its line stops."
    return fig, caption, facts
