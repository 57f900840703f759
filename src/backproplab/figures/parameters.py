"""What the parameters and hidden units of one run do over training: weight and bias
trajectories (seed 000's figures) and the hidden code of every pattern as a heatmap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib import colormaps

from . import style
from .curves import epoch_label
from .data import Context, Data, FigureError

__all__ = ["biases", "hidden_code", "weights"]


def _run_title(run: pd.Series, data: Data) -> str:
    parts = [] if data.labels[run["variant"]] == "base" else [data.labels[run["variant"]]]
    parts += [f"lr {run['lr']:g}", f"seed {run['seed']}"]
    return ", ".join(parts)


def _marker(table) -> str:
    """Dots on the recorded epochs when they are few enough to see (state recorded
    sparsely), none when the line is dense."""
    return "o" if len(table.index) <= 30 else ""


def _unit_colors(n: int):
    """One colour per sending unit; a qualitative map for few, a continuous one beyond."""
    if n <= 10:
        return [style.seed_color(k) for k in range(n)]
    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0, 0.95, n)]


def _units(layer: int, n_layers: int) -> str:
    """The units layer ``layer``'s weights feed: ``hidden 1`` ... or ``output``."""
    return "output" if layer == n_layers - 1 else f"hidden {layer + 1}"


def _layer_name(layer: int, n_layers: int) -> str:
    src = "input" if layer == 0 else f"hidden {layer}"
    return f"{src} \u2192 {_units(layer, n_layers)}"


def _divergence_note(data: Data, run: pd.Series, what: str, values) -> str:
    """A caption's note on a diverged run (its lines end at its last record) and on
    recorded ``values`` no axis can hold (left out, :func:`style.drawable`); empty for
    neither."""
    note = ""
    epoch = data.diverged(run["run_id"])
    if epoch is not None:
        note += f" The run diverged at epoch {epoch}: what is drawn ends at its last record."
    values = np.asarray(values, dtype=float)
    if style.first_off_scale(np.arange(len(values)), values) is not None:
        note += f" Recorded {what} {style.OFF_SCALE} are not drawn (gaps or blank cells)."
    return note


def weights(data: Data, ctx: Context):
    """Per layer, one panel per receiving unit j with one line per sending unit i."""
    opt = ctx.options
    run = data.pick(opt["variant"], opt["lr"], opt["seed"])
    sizes = data.mlp(run).sizes
    n_layers = len(sizes) - 1
    layers = opt["layers"] if opt["layers"] is not None else list(range(n_layers))
    if bad := [layer for layer in layers if layer >= n_layers]:
        raise FigureError(f"{ctx.where}.layers: {bad} out of range (0..{n_layers - 1})")
    ncols = min(4, max(sizes[layer + 1] for layer in layers))
    rows = [math.ceil(sizes[layer + 1] / ncols) for layer in layers]
    fig = style.new_figure(2.7 * ncols + 1.3, 2.0 * sum(rows) + 0.6 * len(layers))
    subfigs = fig.subfigures(len(layers), 1, height_ratios=rows, squeeze=False)[:, 0]
    facts = {"run_id": run["run_id"], "epochs": [], "layers": {}}
    for sub, layer, nrows in zip(subfigs, layers, rows, strict=True):
        W = data.tensor(run["run_id"], "W", layer)
        epochs = np.sort(W["epoch"].unique())
        facts["epochs"] = [int(epochs[0]), int(epochs[-1]), len(epochs)]
        n_in, n_out = sizes[layer], sizes[layer + 1]
        # dropna=False: an entry recorded as NaN only (a diverged run's) keeps its line.
        table = W.pivot_table(index="epoch", columns=["j", "i"], values="value", dropna=False)
        axes = sub.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
        colors = _unit_colors(n_in)
        src = "input" if layer == 0 else f"hidden {layer},"
        for j in range(nrows * ncols):
            ax = axes.flat[j]
            if j >= n_out:
                ax.set_visible(False)
                continue
            for i in range(n_in):
                ax.plot(
                    table.index,
                    style.drawable(table[(j, i)]),
                    color=colors[i],
                    lw=1.1,
                    marker=_marker(table),
                    ms=3,
                    label=f"{src} unit {i}" if layer else f"input {i}",
                )
            ax.set_title(f"into unit j = {j}", fontsize=9)
            if j % ncols == 0:
                ax.set_ylabel("weight $w_{ij}$")
            if j >= n_out - ncols:
                ax.set_xlabel(epoch_label(data.runs))
        sub.suptitle(f"layer {layer}: {_layer_name(layer, n_layers)} weights", fontsize=10)
        if n_in <= 16:
            handles, labels = axes.flat[0].get_legend_handles_labels()
            sub.legend(
                handles,
                labels,
                title="sending unit i",
                loc="outside right upper",
                frameon=False,
                ncols=1 if n_in <= 10 else 2,
            )
        first, last = table.iloc[0], table.iloc[-1]
        facts["layers"][str(layer)] = {
            "max_abs_initial": float(np.abs(first).max()),
            "max_abs_final": float(np.abs(last).max()),
            "mean_abs_change": float(np.abs(last - first).mean()),
        }
    fig.suptitle(f"weight trajectories ({_run_title(run, data)})", fontsize=11)
    caption = (
        f"Weights of run {run['run_id']} against epoch: for each layer, one panel per "
        f"receiving unit j, one line per sending unit i (the value of $w_{{ij}}$), "
        f"from the state recorded at {facts['epochs'][2]} epochs."
    ).replace("$w_{ij}$", "w_ij")
    drawn = data.state[(data.state["run_id"] == run["run_id"]) & (data.state["tensor"] == "W")]
    caption += _divergence_note(data, run, "weights", drawn["value"])
    return fig, caption, facts


def biases(data: Data, ctx: Context):
    """One panel per layer, one line per unit's bias."""
    opt = ctx.options
    run = data.pick(opt["variant"], opt["lr"], opt["seed"])
    sizes = data.mlp(run).sizes
    n_layers = len(sizes) - 1
    fig, axes = style.subplots(1, n_layers, 3.9 * n_layers + 1.0, 3.3, sharex=True)
    facts = {"run_id": run["run_id"], "layers": {}}
    for layer, ax in enumerate(axes[0]):
        b = data.tensor(run["run_id"], "b", layer)
        table = b.pivot_table(index="epoch", columns="j", values="value", dropna=False)
        colors = _unit_colors(sizes[layer + 1])
        for j in table.columns:
            ax.plot(
                table.index,
                style.drawable(table[j]),
                color=colors[j],
                lw=1.1,
                marker=_marker(table),
                ms=3,
                label=f"unit {j}",
            )
        units = "the output layer" if layer == n_layers - 1 else f"hidden layer {layer + 1}"
        ax.set_title(f"layer {layer}: biases of {units}")
        ax.set_xlabel(epoch_label(data.runs))
        ax.set_ylabel("bias $b_j$")
        if sizes[layer + 1] <= 16:
            # Beside the panel, never over its curves.
            ax.legend(
                title="unit j",
                frameon=False,
                fontsize=7,
                ncols=2 if len(table.columns) > 8 else 1,
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
            )
        facts["layers"][str(layer)] = {
            "final": [float(v) for v in table.iloc[-1]],
            "changed": bool(np.any(table.iloc[-1].to_numpy() != table.iloc[0].to_numpy())),
        }
    fig.suptitle(f"bias trajectories ({_run_title(run, data)})", fontsize=11)
    frozen = not run["update_biases"]
    caption = (
        f"Biases of run {run['run_id']} against epoch, one panel per layer, one line per unit"
        + (" (this run keeps its biases fixed, as the worked example does)." if frozen else ".")
    )
    drawn = data.state[(data.state["run_id"] == run["run_id"]) & (data.state["tensor"] == "b")]
    caption += _divergence_note(data, run, "biases", drawn["value"])
    return fig, caption, facts


def hidden_code(data: Data, ctx: Context):
    """Heatmaps of one hidden layer's activations: x epoch, y pattern, one per unit."""
    opt = ctx.options
    run = data.pick(opt["variant"], opt["lr"], opt["seed"])
    sizes = data.mlp(run).sizes
    layer = opt["layer"]
    if layer >= len(sizes) - 2:
        raise FigureError(f"{ctx.where}.layer: {layer} is not a hidden layer of {sizes}")
    a = data.tensor(run["run_id"], "a", layer)
    epochs = np.sort(a["epoch"].unique())
    n_units, n_patterns = sizes[layer + 1], int(a["i"].max()) + 1
    cube = np.full((n_units, n_patterns, len(epochs)), np.nan)
    col = np.searchsorted(epochs, a["epoch"].to_numpy())
    cube[a["j"].to_numpy(), a["i"].to_numpy(), col] = a["value"].to_numpy()
    activation = data.mlp(run).activations[layer].name
    unbounded = style.drawable(cube)  # a diverging relu's activations: gaps, not a crash
    seen = unbounded[np.isfinite(unbounded)]
    lo, hi = {"sigmoid": (0, 1), "tanh": (-1, 1)}.get(
        activation,
        (float(seen.min()), float(seen.max())) if len(seen) else (0.0, 1.0),
    )
    cube = unbounded
    ncols = min(n_units, 4)
    nrows = math.ceil(n_units / ncols)
    fig, axes = style.subplots(nrows, ncols, 3.2 * ncols + 1.2, 2.4 * nrows + 0.6, sharey=True)
    # Each recorded epoch owns the cell up to the midpoints with its neighbours.
    mids = (epochs[1:] + epochs[:-1]) / 2 if len(epochs) > 1 else np.array([])
    edges = np.concatenate([[epochs[0]], mids, [epochs[-1] if len(epochs) > 1 else 1]])
    image = None
    for j, ax in enumerate(axes.flat):
        if j >= n_units:
            ax.set_visible(False)
            continue
        image = ax.pcolormesh(
            edges,
            np.arange(n_patterns + 1) - 0.5,
            cube[j],
            vmin=lo,
            vmax=hi,
            cmap="cividis",
            shading="flat",
            rasterized=True,
        )
        ax.set_title(f"hidden unit {j}")
        ax.set_xlabel(epoch_label(data.runs))
        ax.grid(False)
        if j % ncols == 0:
            ax.set_ylabel("training pattern (sample index)")
        if n_patterns <= 16:
            ax.set_yticks(range(n_patterns))
        ax.invert_yaxis()
    fig.colorbar(image, ax=axes, label=f"activation ({activation})", shrink=0.9)
    fig.suptitle(f"hidden layer {layer} code per pattern ({_run_title(run, data)})", fontsize=11)
    final = cube[:, :, -1].T  # patterns x units
    codes = ["".join("1" if v > (lo + hi) / 2 else "0" for v in row) for row in final]
    facts = {
        "run_id": run["run_id"],
        "final_codes": codes,
        "distinct_final_codes": len(set(codes)),
        "patterns": n_patterns,
        "epochs": [int(epochs[0]), int(epochs[-1]), len(epochs)],
    }
    caption = (
        f"Activation of each unit of hidden layer {layer} for every training pattern "
        f"against epoch (run {run['run_id']}). At the last epoch, thresholding at "
        f"{(lo + hi) / 2:g} gives {len(set(codes))} distinct codes for {n_patterns} patterns."
    )
    caption += _divergence_note(data, run, "activations", a["value"])
    return fig, caption, facts
