"""The input plane of two-feature data sets: the data, the decision boundary of a run
(recomputed from its recorded parameters), small multiples of it over training, and seed
002's real-against-predicted scatter plots."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from . import style
from .data import Context, Data, FigureError, Unrecorded

__all__ = ["boundary_epochs", "dataset", "decision_boundary", "predictions"]

_MARGIN = 0.5  # beyond the data, as seed 001 draws it


def _classes(Y: np.ndarray) -> np.ndarray:
    """Class index per sample: 0/1 for one output, the arg max of one-hot targets."""
    return (Y[:, 0] > 0.5).astype(int) if Y.shape[1] == 1 else np.argmax(Y, axis=1)


def _scatter(ax, X, Y, *, hollow=False, size=16):
    classes = _classes(Y)
    for k in np.unique(classes):
        pts = X[classes == k]
        color = style.CLASS_COLORS[k % len(style.CLASS_COLORS)]
        if hollow:
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                s=size + 6,
                marker="^",
                facecolors="white",
                edgecolors=color,
                linewidths=1.0,
                zorder=3,
            )
        else:
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                s=size,
                color=color,
                edgecolors="black",
                linewidths=0.4,
                zorder=3,
            )


def _class_handles(n_classes: int, suffix: str = "") -> list:
    """Legend markers for the classes' training points, labelled ``class k{suffix}``."""
    return [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            color=style.CLASS_COLORS[k],
            mec="black",
            mew=0.4,
            label=f"class {k}{suffix}",
        )
        for k in range(n_classes)
    ]


def _legend(fig, n_classes: int, with_test: bool, boundary: bool = False):
    handles = _class_handles(n_classes, " (training)")
    if with_test:
        handles += [
            Line2D(
                [],
                [],
                ls="",
                marker="^",
                mfc="white",
                mec=style.CLASS_COLORS[k],
                label=f"class {k} (test)",
            )
            for k in range(n_classes)
        ]
    if boundary:
        handles.append(Line2D([], [], color="black", lw=1.5, label="decision boundary"))
    # As many columns as the figure's width holds (about 2.2 inches each).
    ncols = min(len(handles), max(2, int(fig.get_figwidth() / 2.2)))
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, frameon=False)


def _axes_style(ax, equal: bool = True):
    ax.set_xlabel("feature $x_1$")
    ax.set_ylabel("feature $x_2$")
    if equal:
        ax.set_aspect("equal", adjustable="box")
    ax.grid(False)


def _bounds(X: np.ndarray):
    lo, hi = X.min(axis=0) - _MARGIN, X.max(axis=0) + _MARGIN
    return lo, hi


def _height(X: np.ndarray, width: float) -> float:
    """The height of a panel ``width`` inches wide that shows the plane at equal aspect."""
    lo, hi = _bounds(X)
    return width * float((hi[1] - lo[1]) / (hi[0] - lo[0]))


def _grid(X: np.ndarray, resolution: int):
    lo, hi = _bounds(X)
    xs = np.linspace(lo[0], hi[0], resolution)
    ys = np.linspace(lo[1], hi[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def _forward(mlp, params, X):
    """The network's outputs; a diverged run's parameters may overflow to inf or NaN
    (left blank by :func:`_draw_map`), which is no cause for a warning."""
    with np.errstate(all="ignore"):
        return mlp.forward(params, X)


def _not_recorded_panel(ax, exc: Unrecorded):
    """A panel saying that its run diverged before its parameters were recorded."""
    ax.text(
        0.5,
        0.5,
        f"not drawn:\n{exc.run_id}\ndiverged at epoch {exc.diverged_epoch},\n"
        f"before its parameters\nwere recorded",
        ha="center",
        va="center",
        fontsize=7,
        wrap=True,
        transform=ax.transAxes,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_map(ax, xx, yy, out: np.ndarray):
    """One run's output over the grid: P(class 1) as a smooth image and the 0.5 contour
    for one output; class regions and their borders for several. The shading is an
    image (one raster in the PDF) and the boundary a vector line. Where the output is
    not finite (a diverged run's), the map is blank."""
    extent = (xx[0, 0], xx[0, -1], yy[0, 0], yy[-1, 0])
    if not np.isfinite(out).all():
        out = np.ma.masked_invalid(out)
        if out.shape[-1] > 1:  # a sample with any non-finite output has no class
            out[out.mask.any(axis=1)] = np.ma.masked
    if out.shape[-1] == 1:
        p = out[:, 0].reshape(xx.shape)
        ax.imshow(
            p,
            origin="lower",
            extent=extent,
            cmap=style.probability_cmap(),
            vmin=0,
            vmax=1,
            interpolation="bilinear",
            aspect="auto",
        )
        if p.min() < 0.5 < p.max():
            ax.contour(xx, yy, p, levels=[0.5], colors="black", linewidths=1.3)
    else:
        k = out.shape[-1]
        cls = np.argmax(out, axis=1).reshape(xx.shape)
        if np.ma.isMaskedArray(out):
            cls = np.ma.masked_where(out.mask.any(axis=1).reshape(xx.shape), cls)
        ax.imshow(
            cls,
            origin="lower",
            extent=extent,
            cmap=style.class_cmap(k, True),
            vmin=-0.5,
            vmax=k - 0.5,
            interpolation="nearest",
            aspect="auto",
        )
        if len(np.unique(cls.compressed() if np.ma.isMaskedArray(cls) else cls)) > 1:
            ax.contour(xx, yy, cls, levels=np.arange(k - 1) + 0.5, colors="black", linewidths=1.3)


def _accuracy(out: np.ndarray, Y: np.ndarray) -> float:
    pred = (out[:, 0] > 0.5).astype(int) if out.shape[-1] == 1 else np.argmax(out, axis=1)
    return float(np.mean(pred == _classes(Y)))


def _wrap(text: str, width: int) -> str:
    return textwrap.fill(text, width, break_long_words=False)


def _split(data: Data):
    ds = data.dataset
    Xtr, Ytr = ds.part("train")
    Xte, Yte = ds.part("test")
    return Xtr, Ytr, Xte, Yte


def dataset(data: Data, ctx: Context):
    """The data set: training samples filled, test samples hollow."""
    Xtr, Ytr, Xte, Yte = _split(data)
    show_test = ctx.options["show_test"] and len(Xte) > 0
    fig, axes = style.subplots(1, 1, 4.6, _height(np.vstack([Xtr, Xte]), 3.9) + 1.3)
    ax = axes[0, 0]
    _scatter(ax, Xtr, Ytr)
    if show_test:
        _scatter(ax, Xte, Yte, hollow=True)
    _axes_style(ax)
    name = data.runs["dataset"].iloc[0]
    ax.set_title(
        f"data set {name!r}: {len(Xtr)} training"
        + (f", {len(Xte)} test samples" if show_test else " samples")
    )
    n_classes = max(2, Ytr.shape[1])
    _legend(fig, n_classes, show_test)
    counts = np.bincount(_classes(Ytr), minlength=n_classes).tolist()
    facts = {
        "dataset": name,
        "train": int(len(Xtr)),
        "test": int(len(Xte)),
        "train_class_counts": counts,
    }
    caption = (
        f"The {name} data set: {len(Xtr)} training samples (filled, class counts {counts})"
        + (f" and {len(Xte)} test samples (hollow triangles)." if show_test else ".")
    )
    return fig, caption, facts


def _panel_title(data: Data, run: pd.Series, many_variants: bool) -> str:
    label = data.label(run["variant"], 48)
    return label if many_variants else f"lr {run['lr']:g}, seed {run['seed']}"


def decision_boundary(data: Data, ctx: Context):
    """The decision boundary of one run per variant, with the data on it."""
    opt = ctx.options
    runs = data.pick_each_variant(opt["variants"], opt["lr"], opt["seed"])
    Xtr, Ytr, Xte, Yte = _split(data)
    X_all = np.vstack([Xtr, Xte]) if len(Xte) else Xtr
    xx, yy, grid = _grid(X_all, opt["resolution"])
    n = len(runs)
    fig, axes = style.subplots(1, n, 4.3 * n, _height(X_all, 3.6) + 1.5)
    facts = {"panels": []}
    for ax, run in zip(axes[0], runs, strict=True):
        epoch = opt["epoch"] if opt["epoch"] is not None else int(run["epochs"])
        try:
            if run["status"] != "ok" and opt["epoch"] is None:
                recorded = data.state_epochs(run["run_id"])
                if not recorded:
                    data.unrecorded(run["run_id"], "parameters")
                epoch = max(recorded)
            mlp, params = data.mlp(run), data.params(run, [epoch])
        except Unrecorded as exc:
            _not_recorded_panel(ax, exc)
            ax.set_title(_panel_title(data, run, n > 1))
            facts["panels"].append({"run_id": run["run_id"], "epoch": None})
            continue
        _draw_map(ax, xx, yy, _forward(mlp, params, grid)[0])
        _scatter(ax, Xtr, Ytr)
        if len(Xte):
            _scatter(ax, Xte, Yte, hollow=True)
        acc = _accuracy(_forward(mlp, params, Xtr)[0], Ytr)
        panel = {"run_id": run["run_id"], "epoch": epoch, "train_accuracy": acc}
        title = f"{_panel_title(data, run, n > 1)}\nepoch {epoch}, training accuracy {acc:.3f}"
        if len(Xte):
            panel["test_accuracy"] = _accuracy(_forward(mlp, params, Xte)[0], Yte)
            title += f", test {panel['test_accuracy']:.3f}"
        ax.set_title(title)
        _axes_style(ax)
        facts["panels"].append(panel)
    _legend(fig, max(2, Ytr.shape[1]), len(Xte) > 0, boundary=True)
    seeds = sorted({int(r["seed"]) for r in runs})
    caption = (
        "Decision boundary (black line: output 0.5; shading: the network's output, red "
        "class 0 to blue class 1) recomputed from the recorded parameters, with the "
        f"training data filled{' and the test data hollow' if len(Xte) else ''}; "
        f"one panel per variant, seed {', '.join(map(str, seeds))}."
    )
    return fig, caption, facts


def _log_spaced(recorded: list[int], n: int) -> list[int]:
    """``n`` of the ``recorded`` epochs: the first, then the nearest (on a log scale) to
    ``n - 1`` log-spaced epochs from the first recorded epoch after it to the last; a
    recorded epoch serves one target only (the next nearest takes a taken one's place)."""
    if len(recorded) <= n:
        return list(recorded)
    first, rest = recorded[0], [e for e in recorded[1:] if e > 0]
    targets = np.geomspace(rest[0], rest[-1], n - 1)
    chosen = [first]
    for target in targets:
        free = [e for e in rest if e not in chosen]
        chosen.append(min(free, key=lambda e: (abs(np.log(e / target)), e)))
    return sorted(chosen)


def _linear(recorded: list[int], n: int) -> list[int]:
    if len(recorded) <= n:
        return list(recorded)
    picks = np.unique(np.round(np.linspace(0, len(recorded) - 1, n)).astype(int))
    return [recorded[k] for k in picks]


def _where_accuracy_changes(recorded: list[int], change: np.ndarray, n: int) -> list[int]:
    """The first and last of the ``recorded`` epochs and the ``n - 2`` at which the
    training accuracy changed most since the previous recorded epoch (``change[k]``,
    summed over the rows; ties: the earlier), none where it did not change."""
    if len(recorded) <= 2:
        return list(recorded)
    inner = [k for k in range(1, len(recorded) - 1) if change[k] > 0]
    inner = sorted(inner, key=lambda k: (-change[k], k))[: n - 2]
    # The last epoch shows the final boundary; a larger change there takes no extra panel.
    return sorted({recorded[0], recorded[-1], *(recorded[k] for k in inner)})


SPACING_TEXT = {
    "log": "log-spaced among the recorded epochs (epoch 0, then the recorded epochs "
    "nearest to log-spaced ones from the first recorded epoch after it to the last)",
    "accuracy": "where the training accuracy changes most between recorded epochs (with "
    "the first and the last)",
    "linear": "evenly spaced among the recorded epochs",
    "given": "as the figure's epochs option names them",
}
_SPACING_SHORT = {
    "log": "log-spaced",
    "accuracy": "where the accuracy changes",
    "linear": "evenly spaced",
    "given": "as given",
}


def _accuracy_changes(data: Data, runs, recorded, X, Y) -> np.ndarray:
    """Per recorded epoch, the change of training accuracy since the previous one,
    summed over ``runs`` (a run that did not record an epoch adds nothing there)."""
    change = np.zeros(len(recorded))
    for run in runs:
        have = [e for e in recorded if e in set(data.state_epochs(run["run_id"]))]
        if len(have) < 2:
            continue
        out = _forward(data.mlp(run), data.params(run, have), X)
        acc = np.array([_accuracy(o, Y) for o in out])
        steps = np.abs(np.diff(acc))
        for epoch, step in zip(have[1:], steps, strict=True):
            change[recorded.index(epoch)] += step
    return change


def boundary_epochs(data: Data, ctx: Context):
    """Small multiples: one row per variant, one column per epoch, the epochs chosen
    where the boundary moves (``spacing``) unless the options name them."""
    opt = ctx.options
    runs = data.pick_each_variant(opt["variants"], opt["lr"], opt["seed"])
    Xtr, Ytr, Xte, Yte = _split(data)
    xx, yy, grid = _grid(np.vstack([Xtr, Xte]) if len(Xte) else Xtr, opt["resolution"])
    # The epochs any of the runs recorded (a run that diverged early recorded fewer).
    recorded = sorted(set().union(*(data.state_epochs(r["run_id"]) for r in runs)))
    if not recorded:
        data.unrecorded(runs[0]["run_id"], "parameters")
    spacing = "given" if opt["epochs"] is not None else opt.get("spacing", "log")
    if spacing == "given":
        if missing := [e for e in opt["epochs"] if e not in recorded]:
            raise FigureError(f"{ctx.where}.epochs: {missing} not recorded (recorded: {recorded})")
        epochs = sorted(opt["epochs"])
    elif spacing == "accuracy":
        change = _accuracy_changes(data, runs, recorded, Xtr, Ytr)
        epochs = _where_accuracy_changes(recorded, change, opt["max_panels"])
    elif spacing == "linear":
        epochs = _linear(recorded, opt["max_panels"])
    else:
        epochs = _log_spaced(recorded, opt["max_panels"])
    nrows, ncols = len(runs), len(epochs)
    height = _height(np.vstack([Xtr, Xte]), 2.0) + 0.35
    fig, axes = style.subplots(
        nrows, ncols, 2.3 * ncols + 0.4, height * nrows + 0.9, sharex=True, sharey=True
    )
    facts = {"epochs": epochs, "spacing": spacing, "rows": []}
    for row, run in zip(axes, runs, strict=True):
        have = set(data.state_epochs(run["run_id"]))
        shown = [e for e in epochs if e in have]
        accs = []
        facts["rows"].append({"run_id": run["run_id"], "train_accuracy": accs})
        if not shown:  # the run diverged before the first of these epochs
            try:
                data.unrecorded(run["run_id"], f"parameters at epochs {epochs}")
            except Unrecorded as exc:
                _not_recorded_panel(row[0], exc)
                for ax in row[1:]:
                    ax.set_visible(False)
                row[0].set_ylabel(data.label(run["variant"], 32) if nrows > 1 else "")
                continue
        mlp, params = data.mlp(run), data.params(run, shown)
        maps = _forward(mlp, params, grid)
        train_out = _forward(mlp, params, Xtr)
        for ax, epoch in zip(row, epochs, strict=True):
            if epoch not in have:
                ax.set_visible(False)
                accs.append(None)
                continue
            k = shown.index(epoch)
            _draw_map(ax, xx, yy, maps[k])
            _scatter(ax, Xtr, Ytr, size=6)
            acc = _accuracy(train_out[k], Ytr)
            accs.append(acc)
            ax.set_title(f"epoch {epoch}: acc {acc:.3f}", fontsize=8)
            ax.set_aspect("equal", adjustable="box")
            ax.grid(False)
            ax.tick_params(labelsize=6)
        label = data.label(run["variant"], 32)
        row[0].set_ylabel(f"{label}\n$x_2$" if nrows > 1 else "feature $x_2$", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("feature $x_1$")
    seed, lr = runs[0]["seed"], runs[0]["lr"]
    fig.suptitle(
        f"decision boundary over training (lr {lr:g}, seed {seed}; epochs "
        f"{_SPACING_SHORT[spacing]})",
        fontsize=10,
    )
    _legend(fig, max(2, Ytr.shape[1]), False, boundary=True)
    caption = (
        f"The decision boundary at epochs {', '.join(map(str, epochs))}, chosen "
        f"{SPACING_TEXT[spacing]}"
        + (", one row per variant" if nrows > 1 else "")
        + f" (lr {lr:g}, seed {seed}), with the training data and its accuracy."
    )
    return fig, caption, facts


def predictions(data: Data, ctx: Context):
    """Seed 002's figures: the real classes beside each variant's predicted classes,
    on the training data and on the test data, with the split's loss in the title."""
    opt = ctx.options
    runs = data.pick_each_variant(opt["variants"], opt["lr"], opt["seed"])
    Xtr, Ytr, Xte, Yte = _split(data)
    splits = [("training", Xtr, Ytr, "final_loss")]
    if len(Xte):
        splits.append(("test", Xte, Yte, "final_test_loss"))
    ncols = 1 + len(runs)
    fig, axes = style.subplots(
        len(splits), ncols, 3.3 * ncols, 2.7 * len(splits) + 0.5, sharex=True, sharey=True
    )
    facts = {"panels": []}
    for row, (name, X, Y, loss_col) in zip(axes, splits, strict=True):
        _scatter(row[0], X, Y)
        row[0].set_title(f"real classes ({name} data)")
        for ax, run in zip(row[1:], runs, strict=True):
            recorded = data.state_epochs(run["run_id"])
            if run["status"] != "ok" and not recorded:
                try:
                    data.unrecorded(run["run_id"], "parameters")
                except Unrecorded as exc:
                    _not_recorded_panel(ax, exc)
                    ax.set_title(
                        _wrap(f"predicted by {data.labels[run['variant']]}", 38), fontsize=9
                    )
                    continue
            epoch = int(run["epochs"]) if run["status"] == "ok" else max(recorded)
            mlp, params = data.mlp(run), data.params(run, [epoch])
            out = _forward(mlp, params, X)[0]
            pred = (
                (out[:, 0] > 0.5).astype(float)[:, None]
                if out.shape[1] == 1
                else np.eye(out.shape[1])[np.argmax(out, axis=1)]
            )
            _scatter(ax, X, pred)
            wrong = _classes(pred) != _classes(Y)
            ax.scatter(
                X[wrong, 0],
                X[wrong, 1],
                s=70,
                facecolors="none",
                edgecolors="black",
                linewidths=0.9,
                zorder=4,
            )
            loss = run[loss_col]
            label = _wrap(f"predicted by {data.labels[run['variant']]}", 38)
            ax.set_title(f"{label}\n{name} loss = {loss:.5g}", fontsize=9)
            facts["panels"].append(
                {
                    "split": name,
                    "run_id": run["run_id"],
                    "loss": loss,
                    "errors": int(wrong.sum()),
                    "samples": int(len(X)),
                }
            )
        for ax in row:
            _axes_style(ax, equal=False)
    handles = _class_handles(max(2, Ytr.shape[1])) + [
        Line2D([], [], ls="", marker="o", mfc="none", mec="black", ms=9, label="misclassified")
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    seed, lr = runs[0]["seed"], runs[0]["lr"]
    caption = (
        "Real classes beside the classes each variant predicts (output rounded at 0.5), "
        f"on the training data{' and on the held-out test data' if len(Xte) else ''}, "
        f"with the split's loss in each title; circled points are misclassified "
        f"(lr {lr:g}, seed {seed}, final parameters)."
    )
    return fig, caption, facts
