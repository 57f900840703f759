"""Wall time of the Snakemake pipeline end to end, per stage, and Snakemake's own share.

Run by hand (never in CI: it trains every default experiment and a 1,000-run sweep)::

    python benchmarks/pipeline.py                  # default config and sweep1k, --cores 2
    python benchmarks/pipeline.py --only default   # the default config only
    python benchmarks/pipeline.py --quick          # config/test.yaml and a 30-epoch sweep1k
    python benchmarks/pipeline.py --cores 4 --keep /tmp/bench  # keep the work directory
    python benchmarks/pipeline.py --only default --cold  # numba compiles in the run

The user's ``results/`` is never touched. The repository's working tree (its tracked files
with their uncommitted changes, and its untracked files that are not ignored; never
``results/``, ``logs/`` or ``.snakemake/``) is copied to a fresh directory per config, and
Snakemake runs there with this interpreter (``sys.executable -m snakemake``), with the
copy's ``src/`` first on ``PYTHONPATH``. Each Snakemake invocation's output goes to a log
file whose path is printed; the logs are kept, the copies deleted unless ``--keep``.

Per config (``config/config.yaml``, the issue's target, and ``config/sweep1k.yaml``, how
the workflow scales with the number of runs), first (unless ``--cold``) the compiled
trainer is built into the copy's numba cache, untimed (the copy's kernel is a new source
file to numba, so without this the run would compile it: ``--cold`` times that case, a
fresh clone's first run), then three invocations, in this order:

1. ``snakemake -n`` on the clean copy: a dry run that plans every job. Pure Snakemake
   (and config validation and planning) overhead: start-up, parsing, DAG, file checks.
2. ``snakemake --cores N``: the real run from a clean ``results/``, timed end to end
   (``E``: from starting the process to its exit).
3. ``snakemake --cores N`` again: must report "Nothing to be done"; pure overhead again,
   with every output present (file times and metadata checked, nothing run).

After the real run, every job's ``benchmark:`` file (``logs/<stage>/.../*.benchmark.tsv``,
written by Snakemake around the job's script process) is read and summed per rule:

- ``jobs``: jobs of the rule that ran (from Snakemake's log); ``bench``: how many of them
  have a benchmark file. A rule without ``benchmark:`` (``timings``) counts as overhead
  in the figures below; the ``log span`` column is the sum of a rule's jobs'
  start-to-finish times from Snakemake's log, whose timestamps have 1 s resolution.
- ``job wall``: the sum of the jobs' wall seconds (column ``s``), ``÷E`` and
  ``÷(E·cores)`` that sum as shares of the end-to-end wall time and of the core-seconds
  available; ``cpu``: the sum of their CPU seconds (``cpu_time``); ``max RSS``: the
  largest peak resident memory of one job of the rule.

Then the same sums per stage (the ``logs/<stage>/`` directory: ``datasets``, ``train``,
``figures``, ``validation``, ``report``), adding up the stage's rules, and the slowest
jobs (``--top``).

Then, with ``S`` the summed job wall of all benchmarked jobs and ``C`` the cores:

- ``idle + overhead share = 1 - S / (E·C)``: the share of the core-seconds the run had
  that no benchmarked job used: Snakemake's start-up, DAG building, scheduling and job
  launching, the un-benchmarked rules, and cores left idle because fewer than ``C`` jobs
  were ready (the dependency chain: data sets before training, the report last, alone).
- ``E - S/C``: the wall time the run took beyond the benchmarked work packed perfectly
  onto ``C`` cores; an upper bound on what a zero-overhead scheduler would save, since
  part of it is the critical path, which no scheduler removes.

Limits: jobs run concurrently and the machine may be shared, so a job's wall time includes
waiting for a core (contention); ``S`` then grows with the load and the overhead share
shrinks, so with other work running the share is underestimated (compare ``cpu`` with
``job wall``: where they differ, the job waited). But Snakemake samples ``cpu_time`` and
``max_rss`` (every 0.5 s for a job's first 15 s, then every 30 s) and keeps the last
sample, so both are lower bounds: by up to 0.5 s of CPU for a short job, and by up to
30 s for a job longer than 15 s. A job's wall time includes its own interpreter start-up
and imports (0.5-1 s of CPU here, more on a busy machine): in these figures that per-job
cost is the job's, not Snakemake's. Benchmark files have 2 decimals. In a fresh copy the
dry run compiles the ``.pyc`` files of the modules Snakemake imports, and the real run's
first jobs those of the rest (under a second in all). The target (issue 16's): the
default pipeline end to end in at most 45 s with ``--cores 2``, canonical numerics, from a
warm numba cache (``--cold`` gives the cold-cache figure beside it).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXCLUDED = ("results/", "logs/", ".snakemake/")
TARGET_S = 45.0  # issue 16: the default config, 2 cores, canonical numerics, warm cache
CONFIGS = {
    "default": (None, "config/test.yaml"),  # full config, quick stand-in
    "sweep1k": ("config/sweep1k.yaml", "config/sweep1k_quick.yaml"),
}
QUICK_EPOCHS = 30


# -- the work directory -------------------------------------------------------------------


def copy_working_tree(dest: Path) -> int:
    """Copy the working tree's tracked and untracked-but-not-ignored files to ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    copied = 0
    for rel in sorted(set(filter(None, listed.split("\0")))):
        src = ROOT / rel
        if rel.startswith(EXCLUDED) or not (src.is_file() or src.is_symlink()):
            continue  # a tracked file deleted in the working tree is not copied
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
        copied += 1
    return copied


def quick_sweep(workdir: Path) -> None:
    """sweep1k with its epochs cut to QUICK_EPOCHS, as a config file in the copy."""
    config = yaml.safe_load((workdir / "config/sweep1k.yaml").read_text())
    for exp in config["experiments"].values():
        exp["train"]["epochs"] = QUICK_EPOCHS
    (workdir / CONFIGS["sweep1k"][1]).write_text(yaml.safe_dump(config, sort_keys=False))


# -- running Snakemake --------------------------------------------------------------------


@dataclass
class Invocation:
    label: str
    seconds: float
    returncode: int
    log: Path
    text: str


def _environment(workdir: Path) -> dict[str, str]:
    """This environment, with the copy's ``src/`` first and this interpreter's ``bin/``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir / "src"), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


# Fills the copy's numba cache as rule compile_trainer would (the canonical numerics: the
# kernel built for this CPU's vector level), so that the timed run starts from a warm cache.
WARM_CODE = (
    "from backproplab import numerics; numerics.apply('canonical'); "
    "from backproplab.engine.compiled import warm; print(warm())"
)


def warm_cache(workdir: Path, log: Path) -> Invocation:
    """Build the compiled trainer into the copy's numba cache (untimed by the figures)."""
    return run([sys.executable, "-c", WARM_CODE], workdir, log, "warm-up")


def snakemake(workdir: Path, args: list[str], log: Path, label: str) -> Invocation:
    """Run ``sys.executable -m snakemake ARGS`` in ``workdir``; output to ``log``."""
    return run([sys.executable, "-m", "snakemake", *args], workdir, log, label)


def run(cmd: list[str], workdir: Path, log: Path, label: str) -> Invocation:
    """Run ``cmd`` in ``workdir`` with the copy's package; output to ``log``, timed."""
    env = _environment(workdir)
    with open(log, "w") as out:
        out.write(f"$ {' '.join(cmd)}  (in {workdir})\n")
        out.flush()
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
    print(f"  {label:<9s} {seconds:8.1f} s   log: {log}", flush=True)
    return Invocation(label, seconds, proc.returncode, log, log.read_text())


def planned_jobs(text: str) -> int | None:
    """The ``total`` of the "Job stats" table Snakemake prints, if any."""
    match = re.search(r"^total\s+(\d+)\s*$", text, re.MULTILINE)
    return int(match.group(1)) if match else None


# -- reading the log and the benchmark files ----------------------------------------------


@dataclass
class Job:
    rule: str
    jobid: int | None = None
    log: str | None = None
    benchmark: str | None = None
    started: datetime | None = None
    finished: datetime | None = None


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_FIELD = re.compile(r"^\s+(jobid|log|benchmark): (.+)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)")


def parse_jobs(text: str) -> list[Job]:
    """Every job Snakemake started in ``text``, with its start and finish times."""
    jobs: dict[int, Job] = {}
    order: list[Job] = []
    stamp = current = None
    for line in text.splitlines():
        if m := _STAMP.match(line):
            stamp = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := _RULE.match(line):
            current = Job(m.group(1), started=stamp)
            order.append(current)
        elif current is not None and (m := _FIELD.match(line)):
            key, value = m.groups()
            if key == "jobid":
                current.jobid = int(value)
                jobs[current.jobid] = current
            else:
                setattr(current, key, value.split(",")[0].strip())
        elif m := _FINISHED.match(line):
            current = None
            job = jobs.get(int(m.group(1)))
            if job is not None:
                job.finished = stamp
        elif not line.startswith((" ", "\t")):
            current = None
    return order


def read_benchmark(path: Path) -> dict[str, float]:
    """The one data row of a Snakemake benchmark file (numbers only)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = {}
    for key, value in rows[-1].items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            pass
    return out


@dataclass
class RuleStats:
    stage: str
    jobs: int = 0
    bench: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    max_rss: float = 0.0
    span: float = 0.0
    files: list[str] = field(default_factory=list)
    rows: list[tuple[float, float, str]] = field(default_factory=list)  # (wall, cpu, file)


def stage_of(job: Job) -> str:
    for path in (job.benchmark, job.log):
        if path and path.startswith("logs/"):
            return path.split("/")[1]
    return "-"


def rule_stats(workdir: Path, jobs: list[Job]) -> dict[str, RuleStats]:
    stats: dict[str, RuleStats] = {}
    for job in jobs:
        if job.rule == "all":
            continue
        st = stats.setdefault(job.rule, RuleStats(stage_of(job)))
        st.jobs += 1
        if job.started and job.finished:
            st.span += (job.finished - job.started).total_seconds()
        if job.benchmark and (workdir / job.benchmark).is_file():
            row = read_benchmark(workdir / job.benchmark)
            st.bench += 1
            st.wall += row.get("s", 0.0)
            st.cpu += row.get("cpu_time", 0.0)
            st.max_rss = max(st.max_rss, row.get("max_rss", 0.0))
            st.files.append(job.benchmark)
            st.rows.append((row.get("s", 0.0), row.get("cpu_time", 0.0), job.benchmark))
    # Benchmark files the log did not name (a changed log format): counted by stage.
    known = {f for st in stats.values() for f in st.files}
    for path in sorted((workdir / "logs").rglob("*.benchmark.tsv")):
        rel = path.relative_to(workdir).as_posix()
        if rel not in known:
            st = stats.setdefault(f"({rel.split('/')[1]}?)", RuleStats(rel.split("/")[1]))
            row = read_benchmark(path)
            st.jobs += 1
            st.bench += 1
            st.wall += row.get("s", 0.0)
            st.cpu += row.get("cpu_time", 0.0)
            st.max_rss = max(st.max_rss, row.get("max_rss", 0.0))
    return stats


def print_stages(stats: dict[str, RuleStats], E: float, C: int) -> None:
    """The per-rule sums added up per stage (a stage's rules share ``logs/<stage>/``)."""
    stages: dict[str, list[tuple[str, RuleStats]]] = {}
    for rule, st in stats.items():
        stages.setdefault(st.stage, []).append((rule, st))
    header = (
        f"  {'stage':<11s} {'jobs':>5s} {'bench':>5s} {'job wall s':>10s} "
        f"{'÷E':>6s} {'÷(E·C)':>7s} {'cpu s':>7s}  rules"
    )
    print(f"\n{header}\n  {'-' * (len(header) - 2)}")
    sums = []
    for stage, group in stages.items():
        wall = sum(st.wall for _, st in group)
        sums.append((wall, stage, group))
    for wall, stage, group in sorted(sums, key=lambda t: (-t[0], t[1])):
        jobs = sum(st.jobs for _, st in group)
        bench = sum(st.bench for _, st in group)
        cpu = sum(st.cpu for _, st in group)
        rules = ", ".join(sorted(rule for rule, _ in group))
        if bench:
            figures = f"{wall:10.1f} {wall / E:6.1%} {wall / (E * C):7.1%} {cpu:7.1f}"
        else:
            figures = f"{'-':>10s} {'-':>6s} {'-':>7s} {'-':>7s}"
        print(f"  {stage:<11s} {jobs:5d} {bench:5d} {figures}  {rules}")


def kv(label: str, value: str) -> None:
    print(f"  {label:<40s}{value}")


# -- one config ---------------------------------------------------------------------------


def bench_config(name: str, args, root: Path) -> bool:
    full, quick = CONFIGS[name]
    configfile = quick if args.quick else full
    workdir = root / name
    workdir.mkdir()
    n_files = copy_working_tree(workdir)
    if args.quick and name == "sweep1k":
        quick_sweep(workdir)
    what = configfile or "config/config.yaml (the default)"
    print(f"\n== {name}: {what}, --cores {args.cores}; {n_files} files copied to {workdir}")
    extra = ["--configfile", configfile] if configfile else []
    cores = ["--cores", str(args.cores)]

    if not args.cold:
        warmed = warm_cache(workdir, root / f"{name}-0-warm-up.log")
        if warmed.returncode != 0:
            print(f"  FAILED (warm-up, exit {warmed.returncode}); see {warmed.log}")
            return False
    dry = snakemake(workdir, [*cores, "-n", *extra], root / f"{name}-1-dry-run.log", "dry run")
    real = snakemake(workdir, [*cores, *extra], root / f"{name}-2-run.log", "run")
    if real.returncode != 0 or dry.returncode != 0:
        bad = real if real.returncode else dry
        print(f"  FAILED ({bad.label}, exit {bad.returncode}); the last lines of {bad.log}:")
        print("    " + "\n    ".join(bad.text.splitlines()[-25:]))
        print(f"  the work directory is kept: {workdir}")
        return False
    noop = snakemake(workdir, [*cores, *extra], root / f"{name}-3-no-op.log", "no-op run")
    nothing = "Nothing to be done" in noop.text and noop.returncode == 0

    jobs = parse_jobs(real.text)
    stats = rule_stats(workdir, jobs)
    E, C = real.seconds, args.cores
    S = sum(st.wall for st in stats.values())
    n_jobs = sum(st.jobs for st in stats.values())

    header = (
        f"  {'stage':<11s} {'rule':<19s} {'jobs':>5s} {'bench':>5s} {'job wall s':>10s} "
        f"{'÷E':>6s} {'÷(E·C)':>7s} {'cpu s':>7s} {'max RSS MB':>10s} {'log span s':>10s}"
    )
    print(f"\n{header}\n  {'-' * (len(header) - 2)}")
    for rule, st in sorted(stats.items(), key=lambda kv: (-kv[1].wall, kv[0])):
        wall = f"{st.wall:10.1f}" if st.bench else f"{'-':>10s}"
        share = (
            f"{st.wall / E:6.1%} {st.wall / (E * C):7.1%}" if st.bench else f"{'-':>6s} {'-':>7s}"
        )
        cpu = f"{st.cpu:7.1f}" if st.bench else f"{'-':>7s}"
        rss = f"{st.max_rss:10.0f}" if st.bench else f"{'-':>10s}"
        print(
            f"  {st.stage:<11s} {rule:<19s} {st.jobs:5d} {st.bench:5d} {wall} {share} {cpu} "
            f"{rss} {st.span:10.0f}"
        )
    idle = 1 - S / (E * C)
    total = f"{S:10.1f} {S / E:6.1%} {S / (E * C):7.1%}"
    print(f"  {'all jobs (benchmarked)':<31s} {n_jobs:5d} {'':5s} {total}")
    print(f"  {'idle + overhead':<31s} {'':5s} {'':5s} {E * C - S:10.1f} {'':6s} {idle:7.1%}")
    print_stages(stats, E, C)
    slowest = sorted((r for st in stats.values() for r in st.rows), reverse=True)[: args.top]
    if slowest:
        print(f"\n  the {len(slowest)} slowest jobs (wall s, cpu s, benchmark file)")
        for wall, cpu, path in slowest:
            print(f"  {wall:8.1f} {cpu:7.1f}  {path}")
    planned = planned_jobs(dry.text)
    noop_note = "" if nothing else "  NOT a no-op: it did not report 'Nothing to be done'"
    print()
    cache = "cold: compiled in the run" if args.cold else "warm: built before the run"
    kv("end to end (E)", f"{E:8.1f} s  ({n_jobs} jobs, --cores {C}; numba cache {cache})")
    kv("idle + overhead share, 1 - S/(E·C)", f"{idle:8.1%}")
    kv(
        "E - S/C (beyond perfect packing)",
        f"{E - S / C:8.1f} s  ({(E - S / C) / max(n_jobs, 1):.2f} s/job)",
    )
    kv("dry run (-n)", f"{dry.seconds:8.1f} s  ({planned or '?'} jobs planned, 'all' included)")
    kv("no-op run", f"{noop.seconds:8.1f} s{noop_note}")
    if name == "default":
        goal = f"target: default <= {TARGET_S:.0f} s with --cores 2, warm cache"
        if args.quick or C != 2 or args.cold:
            kv(goal, "     not measured (needs the default config, --cores 2, a warm cache)")
        else:
            kv(goal, f"{E:8.1f} s  " + ("met" if E <= TARGET_S else "NOT met"))
    if not args.keep:
        shutil.rmtree(workdir)
    return nothing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    parser.add_argument("--only", choices=sorted(CONFIGS), help="time one config only")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work here and keep it")
    parser.add_argument("--top", type=int, default=8, help="slowest jobs to list (default 8)")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="start from a cold numba cache (rule compile_trainer compiles the kernel in the "
        "timed run); by default the copy's cache is filled first, untimed",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"config/test.yaml for the default, sweep1k at {QUICK_EPOCHS} epochs",
    )
    args = parser.parse_args()
    if args.keep:
        if args.keep.exists() and any(args.keep.iterdir()):
            parser.error(f"--keep {args.keep}: the directory exists and is not empty")
        args.keep.mkdir(parents=True, exist_ok=True)
        root = args.keep.resolve()
    else:
        root = Path(tempfile.mkdtemp(prefix="bpl-pipeline-bench-"))
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    version = subprocess.run(
        [sys.executable, "-m", "snakemake", "--version"], capture_output=True, text=True
    ).stdout.strip()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"repository {ROOT} at {commit}; snakemake {version}; python {sys.executable}")
    print(f"{os.cpu_count()} CPUs, load average {load}; work directory {root}")
    ok = True
    for name in [args.only] if args.only else list(CONFIGS):
        ok &= bench_config(name, args, root)
    print(f"\nSnakemake logs kept in {root}" + ("" if args.keep else " (copies deleted)"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
