"""The timings page, ``results/report/timings.html``: wall time per stage and per job
from Snakemake's benchmark files (apart from the report, whose bytes must not depend on
how long anything took).

Its totals: the summed wall time of every job, each stage's share of it, and the
end-to-end time from the first job's start to the last job's end. A benchmark file is
written when its job ends: its modification time is the job's end, and that time less
the job's wall time its start."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .. import traces
from ..tabular import ColumnFormat
from .document import Document, Link, Paragraph, Section, render_html
from .tables import Table

__all__ = ["write_timings"]


# Seconds as Snakemake's benchmark records them (to 10 ms), memory to the megabyte.
_s = ColumnFormat("fixed", 2)


def _clock(seconds: float) -> str:
    """A duration as h:mm:ss (and its seconds)."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d} ({seconds:.1f} s)"


def _totals(recorded: pd.DataFrame, total: float) -> str:
    """All jobs' summed wall time and the end-to-end time, in one sentence."""
    if recorded.empty:
        return "No job recorded a benchmark."
    start = float((recorded["end"] - recorded["wall"]).min())
    end = float(recorded["end"].max())
    elapsed = end - start
    when = [datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") for t in (start, end)]
    parallel = f", {total / elapsed:.1f} jobs at a time on average" if elapsed > 0 else ""
    return (
        f"{len(recorded)} jobs: {_clock(total)} of job wall time in total; end to end, from "
        f"the first job's start ({when[0]}) to the last job's end ({when[1]}), "
        f"{_clock(elapsed)}{parallel}. A job's end is when its benchmark file was written, "
        "its start that less its wall time; after a partial rerun the end-to-end time spans "
        "the runs whose records are here."
    )


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
            rows.append((stage, job, None, None, None, None))
            continue
        bench = pd.read_csv(path, sep="\t")
        rows.append(
            (
                stage,
                job,
                float(bench["s"].iloc[-1]),
                float(bench["cpu_time"].iloc[-1]) if "cpu_time" in bench else None,
                float(bench["max_rss"].iloc[-1]) if "max_rss" in bench else None,
                path.stat().st_mtime,
            )
        )
    frame = pd.DataFrame(rows, columns=["stage", "job", "wall", "cpu", "rss", "end"])
    total = float(frame["wall"].sum())
    stages = Table(
        ["stage", "jobs", "total wall time (s)", "share of all jobs", "longest job (s)",
         "total CPU time (s)"],
        numeric=[False, True, True, True, True, True],
    )  # fmt: skip
    for stage, g in frame.groupby("stage", sort=False):
        share = g["wall"].sum(min_count=1) / total if total > 0 else float("nan")
        stages.rows.append(
            [
                stage,
                str(len(g)),
                _s(g["wall"].sum(min_count=1)),
                f"{share:.1%}" if share == share else "\u2013",
                _s(g["wall"].max()),
                _s(g["cpu"].sum(min_count=1)),
            ]
        )
    recorded = frame.dropna(subset=["wall"])
    stages.rows.append(
        [
            "all jobs",
            str(len(recorded)),
            _s(total),
            "100%" if total > 0 else "\u2013",
            _s(recorded["wall"].max()),
            _s(recorded["cpu"].sum()),
        ]
    )
    stages.caption = (
        "Summed over a stage's jobs, from each job's last benchmark record, and its share "
        "of the summed wall time of all jobs: wall time is not elapsed time when jobs run "
        "in parallel (the end-to-end time above is)."
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
                _s(r.wall) if r.wall is not None else "not recorded",
                _s(r.cpu),
                ColumnFormat("fixed", 0)(r.rss),
            ]
        )
    doc = Document("backprop-lab: wall time per stage")
    doc.intro.append(Link("the report", "index.html", "Back to ", "."))
    doc.intro.append(Paragraph(_totals(recorded, total)))
    doc.sections = [Section("Stages", "stages", [stages]), Section("Jobs", "jobs", [jobs])]
    with traces.atomic_path(out) as tmp:
        tmp.write_text(render_html(doc), encoding="utf-8")
