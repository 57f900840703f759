"""A seed's figure as the seed shows it: several panels of one run in one image.

Seed 001 ends with one 2x2 figure (the spiral data, the decision boundary, the training
loss on a log axis, the training accuracy); seed 002 draws its loss above the real and
the predicted classes. ``panels`` lays such a figure out as rows of panel names (a name
repeated over a rectangle of cells spans it): ``dataset``, ``decision_boundary``,
``predictions`` (the input plane) or a metrics-table column against epoch.
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from . import style
from .boundaries import (
    _accuracy,
    _classes,
    _draw_map,
    _forward,
    _grid,
    _not_recorded_panel,
    _scatter,
    _split,
)
from .catalog import PLANE_PANELS
from .curves import epoch_label, is_loss, mark_diverged, metric_label
from .data import Context, Data, FigureError, Unrecorded, thin

__all__ = ["composite"]


def _plane_axes(ax) -> None:
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal", adjustable="box")
    ax.grid(False)


def _final_state(data: Data, run):
    """The epoch and parameters a plane panel draws: the last epoch, or the last
    recorded one of a diverged run (:class:`Unrecorded` if it recorded none)."""
    epoch = int(run["epochs"])
    if run["status"] != "ok":
        recorded = data.state_epochs(run["run_id"])
        if not recorded:
            data.unrecorded(run["run_id"], "parameters")
        epoch = max(recorded)
    return epoch, data.mlp(run), data.params(run, [epoch])


def composite(data: Data, ctx: Context):
    """The panels of ``ctx.options["panels"]`` for one run, in one image."""
    opt = ctx.options
    run = data.pick(opt["variant"], opt["lr"], opt["seed"])
    layout = [list(row) for row in opt["panels"]]
    names = list(dict.fromkeys(name for row in layout for name in row))
    nrows, ncols = len(layout), len(layout[0])
    plane = any(name in PLANE_PANELS for name in names)
    if plane:
        Xtr, Ytr, Xte, Yte = _split(data)
    fig = style.new_figure(4.4 * ncols + 0.4, 3.7 * nrows + 0.6)
    try:
        axes = fig.subplot_mosaic(layout)
    except ValueError as exc:  # the plan-time check refuses such layouts
        raise FigureError(f"{ctx.where}.panels: {exc}") from None
    metrics = data.metrics[data.metrics["run_id"] == run["run_id"]]
    losses = [run["loss_name"]]
    facts = {"run_id": run["run_id"], "panels": {}}
    described = []
    state = None
    for name in names:
        ax = axes[name]
        if name in PLANE_PANELS and name != "dataset":
            if state is None:
                try:
                    state = _final_state(data, run)
                except Unrecorded as exc:
                    state = exc
            if isinstance(state, Unrecorded):
                _not_recorded_panel(ax, state)
                ax.set_title(name.replace("_", " "))
                facts["panels"][name] = {"epoch": None}
                described.append(f"{name.replace('_', ' ')} (not drawn: the run diverged)")
                continue
            epoch, mlp, params = state
        if name == "dataset":
            _scatter(ax, Xtr, Ytr, size=18)
            if len(Xte):
                _scatter(ax, Xte, Yte, hollow=True, size=18)
            dataset = run["dataset"]
            ax.set_title(
                f"data set {dataset}: {len(Xtr)} training"
                + (f", {len(Xte)} test (hollow)" if len(Xte) else "")
                + " samples"
            )
            _plane_axes(ax)
            facts["panels"][name] = {"train": int(len(Xtr)), "test": int(len(Xte))}
            described.append(f"the data set {dataset}")
        elif name == "decision_boundary":
            xx, yy, grid = _grid(np.vstack([Xtr, Xte]) if len(Xte) else Xtr, opt["resolution"])
            _draw_map(ax, xx, yy, _forward(mlp, params, grid)[0])
            _scatter(ax, Xtr, Ytr, size=18)
            acc = _accuracy(_forward(mlp, params, Xtr)[0], Ytr)
            ax.set_title(f"decision boundary (epoch {epoch}, training accuracy {acc:.3f})")
            _plane_axes(ax)
            facts["panels"][name] = {"epoch": epoch, "train_accuracy": acc}
            described.append(
                f"the decision boundary at epoch {epoch} (black line: output 0.5; shading: "
                f"the network's output, red class 0 to blue class 1)"
            )
        elif name == "predictions":
            out = _forward(mlp, params, Xtr)[0]
            pred = (
                (out[:, 0] > 0.5).astype(float)[:, None]
                if out.shape[1] == 1
                else np.eye(out.shape[1])[np.argmax(out, axis=1)]
            )
            _scatter(ax, Xtr, pred, size=18)
            wrong = _classes(pred) != _classes(Ytr)
            ax.scatter(
                Xtr[wrong, 0],
                Xtr[wrong, 1],
                s=70,
                facecolors="none",
                edgecolors="black",
                linewidths=0.9,
                zorder=4,
            )
            ax.set_title(f"training data predictions (epoch {epoch}, {int(wrong.sum())} wrong)")
            _plane_axes(ax)
            facts["panels"][name] = {"epoch": epoch, "errors": int(wrong.sum())}
            described.append("the classes it predicts on the training data (circled: wrong)")
        else:
            if name not in metrics.columns:
                known = [c for c in metrics.columns if c not in ("run_id", "epoch")]
                raise FigureError(f"{ctx.where}.panels: {name!r} not recorded; recorded: {known}")
            rows = metrics.dropna(subset=[name])
            color = "#1F4E9E" if is_loss(name) else "#117733"
            ax.plot(*thin(rows["epoch"], style.drawable(rows[name])), color=color, lw=1.8)
            mark_diverged(ax, metrics, data.runs[data.runs["run_id"] == run["run_id"]], name, color)
            values = style.drawable(rows[name].to_numpy(dtype=float))
            seen = values[np.isfinite(values)]
            logged = is_loss(name) and opt["log_loss"] and len(seen) and (seen > 0).all()
            if logged:
                style.log_axis(ax)
            elif not is_loss(name):
                ax.set_ylim(0, 1.05)  # as seed 001 draws it: the dips show in full
            label = metric_label(name, losses)
            ax.set_title(label + (", log scale" if logged else ""))
            ax.set_xlabel(epoch_label(data.runs))
            ax.set_ylabel(name.replace("_", " "))
            # A run frozen before its first recorded epoch has no value to state.
            facts["panels"][name] = (
                {"final": float(rows[name].iloc[-1]), "epoch": int(rows["epoch"].max())}
                if len(rows)
                else {"final": None, "epoch": None}
            )
            described.append(
                f"{label} against epoch"
                + (" on a log axis" if logged else " from 0 to 1.05, as seed 001 draws it")
                * bool(logged or not is_loss(name))
            )
    if plane:
        n_classes = max(2, Ytr.shape[1])
        handles = [
            Line2D([], [], ls="", marker="o", color=style.CLASS_COLORS[k], mec="black", mew=0.4)
            for k in range(n_classes)
        ]
        fig.legend(
            handles,
            [f"class {k}" for k in range(n_classes)],
            loc="outside lower center",
            ncols=n_classes,
            frameon=False,
        )
    who = ctx.experiment_label or ctx.experiment
    fig.suptitle(f"{who}: run {run['run_id']}", fontsize=11)
    caption = (
        f"Run {run['run_id']} in one image, as a seed draws it: "
        + "; ".join(described)
        + f" (lr {run['lr']:g}, seed {run['seed']}"
        + (f", diverged at epoch {data.diverged(run['run_id'])}" if run["status"] != "ok" else "")
        + ")."
    )
    return fig, caption, facts
