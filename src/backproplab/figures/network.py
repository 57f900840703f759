"""The network drawn as a graph with every weight and bias, before training and at a
later recorded epoch: Mazur's worked example after one step, regenerated from its trace.

Weights are numbered as the worked example numbers them (w1 = i1 -> h1, w2 = i2 -> h1,
w3 = i1 -> h2, ...): layer by layer, then by receiving unit, then by sending unit.
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from . import style
from .data import Context, Data, FigureError

__all__ = ["network_diagram"]

_MAX_UNITS = 8
_DX = 1.7  # horizontal distance between layers, in units of the vertical spacing
_POSITIVE, _NEGATIVE = "#1F4E9E", "#C8102E"


def _unit_names(sizes: list[int]) -> list[list[str]]:
    names = []
    for layer, n in enumerate(sizes):
        prefix = "i" if layer == 0 else ("o" if layer == len(sizes) - 1 else "h")
        if 0 < layer < len(sizes) - 2:
            prefix = f"h{layer}."
        names.append([f"{prefix}{k + 1}" for k in range(n)])
    return names


def _positions(sizes: list[int]) -> list[np.ndarray]:
    tallest = max(sizes)
    return [
        np.column_stack([np.full(n, _DX * layer), (tallest - 1) / 2 - np.arange(n) + 0.0])
        for layer, n in enumerate(sizes)
    ]


def _draw(ax, sizes, params, *, before=None, values=None, title=""):
    """One panel: units, edges labelled ``wK = value`` (and the change from ``before``)."""
    pos = _positions(sizes)
    names = _unit_names(sizes)
    # Line widths scale with |w| among the drawable weights (a diverged run's may be
    # inf or NaN: drawn at the widest, dotted).
    largest = max(float(np.nanmax(np.abs(style.drawable(W)), initial=0.0)) for W, _ in params)
    largest = largest or 1.0
    number = 1
    for layer, (W, b) in enumerate(params):
        n_in, n_out = W.shape
        for j in range(n_out):
            for i in range(n_in):
                w = W[i, j]
                (x0, y0), (x1, y1) = pos[layer][i], pos[layer + 1][j]
                shown = style.is_drawable(w)
                ax.plot(
                    [x0, x1],
                    [y0, y1],
                    color=_POSITIVE if w >= 0 else _NEGATIVE,
                    lw=0.6 + 2.6 * (abs(w) / largest if shown else 1.0),
                    ls="-" if shown else ":",
                    alpha=0.75,
                    zorder=1,
                )
                # Level edges are labelled midway, slanted ones near their source, so
                # that labels avoid the crossing in the middle and the units.
                t = 0.5 if abs(y1 - y0) < 1e-9 else 0.27
                text = f"w{number} = {w:.8g}"
                if before is not None:
                    delta = w - before[layer][0][i, j]
                    text += f"\n(\u0394 {delta:+.3g})" if delta else "\n(unchanged)"
                ax.text(
                    x0 + t * (x1 - x0),
                    y0 + t * (y1 - y0),
                    text,
                    fontsize=6.5,
                    ha="center",
                    va="center",
                    zorder=3,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                )
                number += 1
        for j in range(n_out):
            x, y = pos[layer + 1][j]
            text = f"b = {b[j]:.6g}"
            if before is not None and b[j] != before[layer][1][j]:
                text += f" (\u0394 {b[j] - before[layer][1][j]:+.3g})"
            ax.text(x, y - 0.36, text, fontsize=6.5, ha="center", va="top", color="0.25")
    for layer, xy in enumerate(pos):
        for k, (x, y) in enumerate(xy):
            ax.scatter([x], [y], s=520, color="white", edgecolors="black", linewidths=1.2, zorder=4)
            ax.text(x, y, names[layer][k], ha="center", va="center", fontsize=9, zorder=5)
            if values is not None:
                side = -0.25 if layer == 0 else 0.25
                ha = "right" if layer == 0 else "left"
                if layer == 0 or layer == len(sizes) - 1:
                    ax.text(
                        x + side, y, values[layer][k], ha=ha, va="center", fontsize=7.5, zorder=5
                    )
    ax.set_title(title)
    ax.set_xlim(-0.9, _DX * (len(sizes) - 1) + 1.3)
    ax.set_ylim(-(max(sizes) - 1) / 2 - 0.6, (max(sizes) - 1) / 2 + 0.35)
    ax.axis("off")


def network_diagram(data: Data, ctx: Context):
    """Two panels: the parameters at epoch 0 and at ``epoch``, with the changes."""
    opt = ctx.options
    run = data.pick(opt["variant"], opt["lr"], opt["seed"])
    mlp = data.mlp(run)
    sizes = list(mlp.sizes)
    if max(sizes) > _MAX_UNITS:
        raise FigureError(
            f"{ctx.where}: draws networks of up to {_MAX_UNITS} units per layer; "
            f"{run['run_id']} has {sizes}"
        )
    epoch = opt["epoch"]
    recorded = data.state_epochs(run["run_id"])
    if epoch not in recorded or 0 not in recorded:
        data.unrecorded(run["run_id"], f"parameters at epochs 0 and {epoch}")
        raise FigureError(f"{ctx.where}.epoch: {epoch} not recorded (recorded: {recorded})")
    stacked = data.params(run, [0, epoch])
    before = [(W[0], b[0]) for W, b in stacked]
    after = [(W[1], b[1]) for W, b in stacked]
    X, Y = data.dataset.part("train")
    losses = data.metrics[data.metrics["run_id"] == run["run_id"]].set_index("epoch")["loss"]
    values = None
    panels = []
    with np.errstate(all="ignore"):  # a diverged run's outputs may overflow
        outputs = mlp.forward(stacked, X)
    for k, (label, e) in enumerate(
        (("before training", 0), (f"after {epoch} update{'s' if epoch != 1 else ''}", epoch))
    ):
        if len(X) == 1:
            values = [
                [f"{v:.4g}" for v in X[0]],
                *([] for _ in sizes[1:-1]),
                [f"out {o:.8g}\n(target {t:g})" for o, t in zip(outputs[k][0], Y[0], strict=True)],
            ]
        loss = losses.get(e, np.nan)
        title = f"{label} (epoch {e})"
        if np.isfinite(loss):
            title += f"\nloss ({run['loss_name']}) = {loss:.9g}"
        panels.append((title, values, e, float(loss)))
    fig, axes = style.subplots(1, 2, 13.0, 1.2 * max(sizes) + 1.9)
    _draw(axes[0, 0], sizes, before, values=panels[0][1], title=panels[0][0])
    _draw(axes[0, 1], sizes, after, before=before, values=panels[1][1], title=panels[1][0])
    legend = [
        Line2D([], [], color=_POSITIVE, lw=2, label="positive weight"),
        Line2D([], [], color=_NEGATIVE, lw=2, label="negative weight"),
    ]
    fig.legend(
        handles=legend,
        loc="outside lower center",
        ncols=2,
        frameon=False,
        title="line width \u221d |weight|",
    )
    weights_after = [float(v) for W, _ in after for v in W.T.ravel()]
    facts = {
        "run_id": run["run_id"],
        "epoch": epoch,
        "weights_before": [float(v) for W, _ in before for v in W.T.ravel()],
        "weights_after": weights_after,
        "biases_after": [float(v) for _, b in after for v in b],
        "loss_before": panels[0][3],
        "loss_after": panels[1][3],
    }
    frozen = "" if run["update_biases"] else " Biases are kept fixed, as in the worked example."
    caption = (
        f"The {'-'.join(map(str, sizes))} network of run {run['run_id']} with every weight "
        f"(numbered w1, w2, ... as in the worked example: layer by layer, then by receiving "
        f"unit, then by sending unit) and bias, before training and after {epoch} update "
        f"step(s) at learning rate {run['lr']:g}, read from the recorded state.{frozen}"
    )
    return fig, caption, facts
