"""Helpers of the cluster tests: run Snakemake, and read what a dry run schedules."""

import re
import subprocess
import sys


def snakemake(workdir, *args, env=None, timeout=900) -> str:
    """Run Snakemake in ``workdir``; its output, or an assertion error that shows it."""
    command = [sys.executable, "-m", "snakemake", *map(str, args)]
    proc = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(command)} failed:\n{output[-20000:]}"
    return output


def scheduled_jobs(dry_run: str) -> list[dict]:
    """The jobs a dry run lists that run something (they have outputs): each as a dict
    with its ``rule`` and, as printed, its ``wildcards``, ``resources`` and ``threads``
    (a rule with a ``group:`` is printed indented, under its group job)."""
    jobs = []
    for block in re.split(r"^(?=\s*(?:local)?rule \w+:$)", dry_run, flags=re.MULTILINE):
        header = re.match(r"\s*(?:local)?rule (\w+):$", block, flags=re.MULTILINE)
        if not header or not re.search(r"^\s+output: ", block, flags=re.MULTILINE):
            continue
        job = {"rule": header.group(1)}
        for key in ("wildcards", "resources", "threads"):
            if found := re.search(rf"^\s+{key}: (.*)$", block, flags=re.MULTILINE):
                job[key] = found.group(1)
        jobs.append(job)
    return jobs


def resources(job: dict) -> dict[str, str]:
    """A scheduled job's resources, as printed (``name=value`` pairs)."""
    return dict(pair.split("=", 1) for pair in job.get("resources", "").split(", ") if pair)
