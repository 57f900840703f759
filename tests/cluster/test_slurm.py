"""The workflow on a real SLURM gives the same bytes as on a laptop.

A single-node cluster (munged, MariaDB, slurmdbd, slurmctld and slurmd from Debian's
packages) is started on this machine by start-local-slurm.sh, on free ports, under a
temporary directory. config/test.yaml then runs twice in one scratch copy of the
workflow: locally with `--cores 2`, and through `--profile profiles/slurm`. The test
checks that the jobs went through SLURM (sacct lists them as completed, the controller's
log allocated them), that grouping bundled the small jobs, and that every file under
results/ is byte-identical between the two runs. Then it stops exactly the daemons the
script started, and checks that they are gone.

Needs root and apt (CI has both) and the executor plugin (`pip install -e ".[slurm]"`).
Run it with `pytest -m cluster tests/cluster -rA` (the summary line reports the SLURM
run's wall time and job counts).
"""

import collections
import hashlib
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from snakemake_runs import scheduled_jobs, snakemake

from backproplab.traces import read_metadata

pytestmark = pytest.mark.cluster

HERE = Path(__file__).resolve().parent
CONFIG = "config/test.yaml"
# The report's timings page records wall times, different by nature on every run (as in
# tests/test_reliability.py).
NOT_REPRODUCIBLE = {"report/timings.html"}
# Settings of this throwaway cluster, not of the profile: ask SLURM for job states every
# 2 s rather than the plugin's 40 (meant to spare a busy controller), and keep the logs
# of successful jobs too, for the report of a failure.
HARNESS_ARGS = ("--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs")
# What start-local-slurm.sh starts, and where it records each PID (under its base).
DAEMONS = {
    "munged": "munge/munged.pid",
    "mariadbd": "mysql/mariadbd.pid",
    "slurmdbd": "run/slurmdbd.pid",
    "slurmctld": "run/slurmctld.pid",
    "slurmd": "run/slurmd.pid",
}


@dataclass
class Cluster:
    base: Path
    env: dict

    def query(self, *command: str) -> str:
        proc = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{' '.join(command)}: {proc.stderr}"
        return proc.stdout

    def controller_log(self) -> str:
        return (self.base / "log" / "slurmctld.log").read_text(errors="replace")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _running(pid: int, name: str) -> bool:
    try:
        return name in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _started_daemons(base: Path) -> dict[str, int]:
    """The daemons under ``base`` that run now, by name, from their PID files."""
    found = {}
    for name, pid_file in DAEMONS.items():
        path = base / pid_file
        if path.is_file() and path.read_text().strip().isdigit():
            pid = int(path.read_text())
            if _running(pid, name):
                found[name] = pid
    return found


def _tail(path: Path, lines: int = 40) -> str:
    if not path.is_file():
        return f"({path} does not exist)"
    return f"--- {path}:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.fail("the cluster test starts daemons and installs packages: run it as root")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.fail('the SLURM executor plugin is not installed: pip install -e ".[slurm]"')
    # Not under pytest's temporary directory: its mode 700 keeps out the munge and mysql
    # users that munged and MariaDB run as.
    base = Path(tempfile.mkdtemp(prefix="backproplab-slurm-"))
    base.chmod(0o755)
    env = {
        **os.environ,
        "SLURM_CONF": str(base / "etc" / "slurm.conf"),
        "PATH": f"{base / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    started = {}
    try:
        command = [str(HERE / "start-local-slurm.sh"), str(base), *map(str, _free_ports(4))]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
        started = _started_daemons(base)
        logs = "\n".join(_tail(base / "log" / f) for f in ("slurmctld.log", "slurmd.log"))
        assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{logs}"
        assert set(started) == set(DAEMONS), (started, proc.stdout)
        yield Cluster(base, env)
    finally:
        stop = subprocess.run(
            [str(HERE / "stop-local-slurm.sh"), str(base)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        left = {name: pid for name, pid in started.items() if _running(pid, name)}
        assert not left, f"still running after stop: {left}\n{stop.stdout}{stop.stderr}"
        shutil.rmtree(base)


def _digests(results: Path) -> dict[str, str]:
    return {
        path.relative_to(results).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(results.rglob("*"))
        if path.is_file() and path.relative_to(results).as_posix() not in NOT_REPRODUCIBLE
    }


def test_slurm_run_is_byte_identical_to_a_local_run(cluster, workflow_copy):
    work = workflow_copy
    dry_run = snakemake(work, "--configfile", CONFIG, "--dry-run")
    planned = collections.Counter(job["rule"] for job in scheduled_jobs(dry_run))
    assert planned["train"] > 1, planned

    snakemake(work, "--configfile", CONFIG, "--cores", "2")
    local = _digests(work / "results")
    shutil.rmtree(work / "results")

    # Submitted from a login shell that asks OpenBLAS for other kernels: each job must
    # still compute with the profile's (the Snakefile sets them, parsed again on the node),
    # or the bytes below would differ.
    started = time.monotonic()
    output = snakemake(
        work,
        *("--configfile", CONFIG, "--profile", "profiles/slurm", *HARNESS_ARGS),
        env=cluster.env | {"OPENBLAS_CORETYPE": "Sandybridge"},
        timeout=1800,
    )
    wall = time.monotonic() - started

    # Every job ran through SLURM: sacct knows it under this run's name, completed.
    run_id = re.search(r"SLURM run ID: (\S+)", output).group(1)
    rows = cluster.query(
        "sacct", "-X", "-n", "-P", "--name", run_id, "-o", "JobID,Comment,State,ExitCode"
    )
    jobs = [line.split("|") for line in rows.splitlines() if line]
    failed = [job for job in jobs if job[2:] != ["COMPLETED", "0:0"]]
    assert jobs and not failed, rows
    # The controller's log shows each job completed. (Its start is logged as "Allocate"
    # by the main scheduler but as "Started" by the backfill scheduler, whichever ran it.)
    log = cluster.controller_log()
    for job_id, *_ in jobs:
        assert re.search(rf"_job_complete: JobId={job_id} done\b", log), (
            f"job {job_id} not in the log"
        )

    # One SLURM job per training block; the small rules bundled as the profile says. The
    # plugin comments a job "rule_train_wildcards_<experiment>_<block>", a group job
    # "rule_<group>_<its rules>".
    comments = [comment for _, comment, *_ in jobs]
    train = [c for c in comments if c.startswith("rule_train_wildcards_")]
    assert len(train) == len(set(train)) == planned["train"], comments
    profile = yaml.safe_load((work / "profiles" / "slurm" / "config.yaml").read_text())
    members = collections.Counter()
    for rule, n in planned.items():
        if rule in profile["groups"]:
            members[profile["groups"][rule]] += n
        elif rule.startswith("figures_"):  # one rule per experiment, in its own group
            members["figures"] += n
    per_group = {g: [c for c in comments if c.startswith(f"rule_{g}_")] for g in members}
    assert len(train) + sum(map(len, per_group.values())) == len(jobs), comments
    for group, n in members.items():
        most = math.ceil(n / profile["group-components"][group])
        assert 1 <= len(per_group[group]) <= most, (group, n, per_group[group])

    # The same bytes as the local run, computed with the canonical kernels on the node.
    for path in sorted((work / "results" / "traces").glob("*/runs/*.parquet")):
        used = read_metadata(path)["provenance"]["numerics"]
        assert (used["profile"], used["blas_kernel"]) == ("canonical", "Haswell"), (path, used)
    remote = _digests(work / "results")
    differing = sorted(k for k in local.keys() | remote.keys() if local.get(k) != remote.get(k))
    assert not differing, f"{len(differing)} of {len(local)} files differ: {differing[:20]}"

    print(
        f"\nSLURM run of {CONFIG}: {wall:.0f} s wall time, {len(jobs)} SLURM jobs "
        f"(without grouping: {sum(planned.values())}, one per job: {dict(planned)}); "
        f"{len(local)} output files byte-identical to the local run"
    )
