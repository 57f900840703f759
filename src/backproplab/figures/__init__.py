"""Figures drawn from the Parquet traces alone: one function per figure kind, one module
per family (curves, parameters, boundaries, gradients, sweeps, network, perturbation).

Every kind takes the traces of one experiment (:class:`data.Data`) and its options
(:class:`data.Context`) and returns ``(figure, caption, facts)``; :func:`render` saves the
figure as PNG and PDF and the caption and facts as JSON, for the report, and
:func:`render_experiment` draws every figure of one experiment in one process (the
workflow's job per experiment), each trace file read once. The kinds and
what they read are listed in :mod:`.catalog`, which the workflow imports at parse time
(this package imports matplotlib only when a figure is rendered).
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import math
from pathlib import Path

from .. import traces
from .catalog import KINDS, check, figure_spec

__all__ = ["KINDS", "check", "figure_spec", "render", "render_experiment"]

log = logging.getLogger(__name__)


def _plain(value):
    """Facts as JSON-safe data: NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def _not_drawn(ctx, exc):
    """A notice in place of a figure whose run diverged before what it draws was
    recorded: the figure, its caption, and no facts (the report then says the figure's
    numbers were not measured)."""
    from . import style

    text = (
        f"Not drawn: run {exc.run_id}\ndiverged at epoch {exc.diverged_epoch}, "
        f"before its {exc.what} were recorded"
    )
    fig = style.notice_figure(KINDS[ctx.kind].title, text)
    caption = (
        f"not drawn: run {exc.run_id} diverged at epoch {exc.diverged_epoch}, before its "
        f"{exc.what} were recorded (the run table lists it as diverged); choose another "
        f"run with the figure's variant, lr and seed options."
    )
    log.warning("%s/%s not drawn: %s", ctx.experiment, ctx.kind, exc)
    return fig, caption, {}


def render(spec: dict, inputs: dict, out: dict, read=None) -> dict:
    """Draw one figure and write ``out["png"]``, ``out["pdf"]`` and ``out["json"]``.

    Parameters
    ----------
    spec : dict
        :func:`catalog.figure_spec` of the figure (experiment, kind, options, variants).
    inputs : dict
        Trace table name (``runs``, ``metrics``, ``state``, ``norms``) -> the experiment's
        Parquet files of that table; ``dataset`` -> its data set, for kinds that draw it.
    out : dict
        Paths for ``png``, ``pdf`` and ``json``.
    read : callable, optional
        Reads a trace file (see :class:`data.Data`).

    Returns
    -------
    dict
        What was written to the JSON file: caption, facts and the figure's identity.
    """
    from . import style
    from .data import Context, Data, Unrecorded

    kind = KINDS[spec["figure"]]
    ctx = Context(
        spec["experiment"],
        spec["figure"],
        spec["options"],
        spec["variants"],
        spec["labels"],
        spec["legend_title"],
        spec.get("experiment_label", spec["experiment"]),
        spec.get("printed"),
    )
    files = {k: [v] if isinstance(v, str | Path) else list(v) for k, v in inputs.items()}
    dataset = files.pop("dataset", [None])[0]
    data = Data(files, dataset, ctx, read)
    function = getattr(importlib.import_module(f".{kind.module}", __name__), kind.function)
    with style.style():
        try:
            fig, caption, facts = function(data, ctx)
        except Unrecorded as exc:
            fig, caption, facts = _not_drawn(ctx, exc)
        caption = caption[:1].upper() + caption[1:]
        style.save(fig, out["png"], out["pdf"])
    record = _plain(
        {
            "experiment": ctx.experiment,
            "figure": ctx.kind,
            "caption": caption,
            "facts": facts,
            "options": ctx.options,
        }
    )
    with traces.atomic_path(out["json"]) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True, allow_nan=False) + "\n")
    log.info("drew %s/%s: %s", ctx.experiment, ctx.kind, caption)
    return record


def render_experiment(specs: dict, inputs: dict, out: dict) -> list[dict]:
    """Draw every figure of one experiment, in this process, each into its own files.

    Parameters
    ----------
    specs : dict
        Figure kind -> :func:`catalog.figure_spec` (one experiment's figures).
    inputs : dict
        As for :func:`render`: every trace table any of the figures reads, and the data
        set if one draws it; each figure gets the tables its kind reads.
    out : dict
        ``{kind}_png``, ``{kind}_pdf`` and ``{kind}_json`` for every kind of ``specs``.

    Returns
    -------
    list of dict
        :func:`render`'s records, in the order of ``specs``.
    """
    # Shared by the figures: pandas copies on write, so no figure sees another's changes.
    read = functools.cache(traces.read_frame)
    records = []
    for kind, spec in specs.items():
        wanted = [*KINDS[kind].tables, *(["dataset"] if KINDS[kind].dataset else [])]
        files = {name: inputs[name] for name in wanted}
        paths = {suffix: out[f"{kind}_{suffix}"] for suffix in ("png", "pdf", "json")}
        records.append(render(spec, files, paths, read))
    return records
