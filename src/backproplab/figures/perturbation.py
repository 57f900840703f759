"""Why no reimplementation can match a notebook's later digits: one-ulp nudges of single
initial weights, retrained with the engine, and how far their losses drift apart.

The run's recorded initial parameters (its trace at epoch 0) are copied once per nudge,
one first-layer weight moved by ``ulps`` units in the last place, and the copies are
trained with the run's own settings beside an unperturbed copy. That copy must reproduce
the recorded loss curve to the bit; the figure says whether it did.
"""

from __future__ import annotations

import numpy as np
import threadpoolctl
from matplotlib.lines import Line2D

from ..engine import train
from . import style
from .curves import epoch_label
from .data import Context, Data, FigureError

__all__ = ["nudge", "ulp_fanout"]


def nudge(value: float, ulps: int) -> float:
    """``value`` moved by ``ulps`` units in the last place (towards +inf if positive)."""
    target = np.inf if ulps > 0 else -np.inf
    out = np.float64(value)
    for _ in range(abs(ulps)):
        out = np.nextafter(out, target)
    return float(out)


def _retrain(data: Data, run, params, epochs: int):
    """Train ``params`` (R copies) with ``run``'s own settings, as its training job did."""
    X, Y = data.dataset.part("train")
    R = params[0][0].shape[0]
    settings = data.train_settings(run).engine_args() | {"epochs": epochs}
    # One BLAS thread, as the training jobs use: sums then round the same way.
    with threadpoolctl.threadpool_limits(1):
        result = train(
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
    rel = np.abs(loss[1:] - loss[0]) / np.abs(loss[0])
    fig, axes = style.subplots(1, 1, 8.0, 4.2)
    ax = axes[0, 0]
    shown = np.where(rel > 0, rel, np.nan)  # identical losses have no place on a log axis
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
        np.where(worst > 0, worst, np.nan),
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
            if value > 0:
                ax.annotate(
                    f"{value:.2g}",
                    (mark, value),
                    textcoords="offset points",
                    xytext=(4, 6),
                    fontsize=7,
                )
    ax.set_xlabel(epoch_label(data.runs))
    ax.set_ylabel("relative loss difference |L' \u2212 L| / L")
    sign = "+" if ulps > 0 else "\u2212"
    ax.set_title(
        f"{sign}{abs(ulps)} ulp on one layer-{layer} weight, lr {run['lr']:g} ({run['run_id']})",
        fontsize=9,
    )
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.6", lw=0.8, ls=":"))
    labels.append("reported epochs")
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
    detail = ", ".join(f"{v:.2g} at epoch {e}" for e, v in marks.items())
    caption = (
        f"Each line retrains run {run['run_id']} from its recorded initial weights with one "
        f"layer-{layer} weight moved by {ulps:+d} ulp (the engine, the run's own settings) "
        f"and shows the relative difference of its loss from the unperturbed run. Largest "
        f"relative difference over the {len(entries)} nudges: {detail}. The unperturbed "
        f"copy {'reproduces' if reproduced else 'does NOT reproduce'} the recorded loss "
        f"curve bit for bit. Epochs where a nudge leaves the loss unchanged are gaps."
    )
    return fig, caption, facts
