"""The timings page, ``results/report/timings.html``: wall time per stage and per job
from Snakemake's benchmark files (apart from the report, whose bytes must not depend on
how long anything took)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import traces
from .document import Document, Link, Section, render_html
from .tables import Table, fmt

__all__ = ["write_timings"]


def write_timings(benchmarks, out, globs=()) -> None:
    """Wall time per stage and per job, from Snakemake's benchmark files, as one page.

    Parameters
    ----------
    benchmarks : list of path
        ``logs/{stage}/.../{job}.benchmark.tsv`` expected from the plan; missing files
        are listed as not recorded.
    out : path
        ``results/report/timings.html``.
    globs : list of str
        Patterns (relative to the working directory) of further benchmark files to
        include, for stages whose job names the plan does not give.
    """
    found = sorted({str(p) for pattern in globs for p in Path().glob(pattern)})
    paths = list(dict.fromkeys([*map(str, benchmarks), *found]))
    rows = []
    for path in map(Path, paths):
        parts = path.parts[path.parts.index("logs") + 1 :] if "logs" in path.parts else path.parts
        stage = parts[0] if len(parts) > 1 else "other"
        job = "/".join(parts[1:]).removesuffix(".benchmark.tsv") or path.name
        if not path.exists():
            rows.append((stage, job, None, None, None))
            continue
        bench = pd.read_csv(path, sep="\t")
        rows.append(
            (
                stage,
                job,
                float(bench["s"].iloc[-1]),
                float(bench["cpu_time"].iloc[-1]) if "cpu_time" in bench else None,
                float(bench["max_rss"].iloc[-1]) if "max_rss" in bench else None,
            )
        )
    frame = pd.DataFrame(rows, columns=["stage", "job", "wall", "cpu", "rss"])
    stages = Table(
        ["stage", "jobs", "total wall time (s)", "longest job (s)", "total CPU time (s)"],
        numeric=[False, True, True, True, True],
    )
    for stage, g in frame.groupby("stage", sort=False):
        stages.rows.append(
            [
                stage,
                str(len(g)),
                fmt(g["wall"].sum(), 4),
                fmt(g["wall"].max(), 3),
                fmt(g["cpu"].sum(), 4),
            ]
        )
    stages.caption = (
        "Summed over a stage's jobs, from each job's last benchmark record: wall time is "
        "not elapsed time when jobs run in parallel."
    )
    jobs = Table(
        ["stage", "job", "wall time (s)", "CPU time (s)", "peak memory (MB)"],
        numeric=[False, False, True, True, True],
    )
    for r in frame.itertuples():
        jobs.rows.append(
            [
                r.stage,
                r.job,
                fmt(r.wall, 4) if r.wall is not None else "not recorded",
                fmt(r.cpu, 4),
                fmt(r.rss, 4),
            ]
        )
    doc = Document("backprop-lab: wall time per stage")
    doc.intro.append(Link("the report", "index.html", "Back to ", "."))
    doc.sections = [Section("Stages", "stages", [stages]), Section("Jobs", "jobs", [jobs])]
    with traces.atomic_path(out) as tmp:
        tmp.write_text(render_html(doc), encoding="utf-8")
