"""The report stage's rule entry points: ``report(spec, inputs, out)`` (rule ``report``:
index.html and its Markdown twin) and ``timings(benchmarks, globs, out)`` (rule
``timings``), each taking the rule's params first and its outputs last."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import traces
from .document import render_html, render_markdown
from .page import build
from .timings import write_timings

__all__ = ["report", "timings"]

log = logging.getLogger(__name__)


def report(spec: dict, inputs: dict, out: dict) -> None:
    """Write ``out["html"]`` (self-contained) and ``out["markdown"]``.

    Parameters
    ----------
    spec : dict
        :func:`.plan.report_spec` of the validated config.
    inputs : dict
        ``runs`` and ``metrics``: every experiment's trace files of those tables;
        ``figures``: every figure's JSON (its PNG and PDF lie beside it); and, from the
        validation stage, ``gradcheck``, ``references``, ``seed_formulas`` (Parquet) and
        ``validation_summary`` (Markdown).
    out : dict
        Paths for ``html`` and ``markdown``.
    """
    report_dir = Path(out["html"]).parent
    doc = build(spec, inputs, report_dir)
    for key, text in (("html", render_html(doc)), ("markdown", render_markdown(doc))):
        with traces.atomic_path(out[key]) as tmp:
            tmp.write_text(text, encoding="utf-8")
    log.info("wrote %s and %s", out["html"], out["markdown"])


def timings(benchmarks, globs, out) -> None:
    """Write the timings page (see :func:`.timings.write_timings`)."""
    write_timings(benchmarks, out, globs)
