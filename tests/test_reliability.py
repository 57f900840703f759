"""Byte-identical outputs whatever the cores, and faults that lose nothing.

Three runs of one config in three fresh copies of the workflow: with one core; with two
cores and a training job killed by SIGKILL halfway, then run again; and with two cores
and Snakemake itself interrupted by SIGINT, then run again. Every file under results/
must be byte-identical across the three (the timings page, which records wall time by
nature, excepted), and no partial file may be left behind.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

pytestmark = pytest.mark.slow

NOT_REPRODUCIBLE = {"report/timings.html"}


def _copy(copy_workflow, root, dest):
    copy_workflow(dest)
    config = yaml.safe_load((root / "config" / "test.yaml").read_text())
    # Long enough to be caught mid-job (about 7 s per block here; 4,000 epochs took 0.3 s,
    # too short to kill reliably), short enough for CI.
    config["experiments"]["moons"]["train"].update(epochs=100_000, batch_size=None)
    (dest / "config" / "slow.yaml").write_text(yaml.safe_dump(config))
    return dest


def _command(cores):
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        str(cores),
        "--configfile",
        "config/slow.yaml",
    ]


def _run(workdir, cores):
    proc = subprocess.run(_command(cores), cwd=workdir, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _digests(workdir):
    results = workdir / "results"
    out = {}
    for path in sorted(results.rglob("*")):
        if path.is_file():
            rel = path.relative_to(results).as_posix()
            assert ".partial" not in rel, f"partial file left behind: {rel}"
            if rel not in NOT_REPRODUCIBLE:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _train_processes(workdir):
    """PIDs of this workdir's running training scripts (never another checkout's)."""
    marker = f"{workdir}/.snakemake/scripts/"
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmd and cmd.rstrip().endswith("train.py"):
            pids.append(int(pid))
    return pids


def _training_started(logs) -> bool:
    """Whether a moons block's job has logged the start of its training loop."""
    return logs.exists() and any("training" in p.read_text() for p in logs.glob("*.log"))


def _wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, root, copy_workflow):
    work = _copy(copy_workflow, root, tmp_path_factory.mktemp("one_core"))
    _run(work, cores=1)
    return _digests(work)


def test_one_core_run_has_traces(reference):
    assert any(k.startswith("traces/") for k in reference)
    assert any(k.startswith("datasets/") for k in reference)


def test_a_killed_training_job_loses_nothing(reference, tmp_path, root, copy_workflow):
    work = _copy(copy_workflow, root, tmp_path)
    proc = subprocess.Popen(
        _command(2), cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    # Kill the moons blocks' training (the long ones) once they are under way.
    (logs := work / "logs" / "train" / "moons")
    _wait_for(lambda: _training_started(logs) and _train_processes(work))
    for pid in _train_processes(work):
        os.kill(pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, out  # the killed job failed the run...
    _run(work, cores=2)  # ...and running again completes it
    assert _digests(work) == reference


def test_an_interrupted_snakemake_loses_nothing(reference, tmp_path, root, copy_workflow):
    work = _copy(copy_workflow, root, tmp_path)
    proc = subprocess.Popen(
        _command(2), cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    _wait_for(lambda: _train_processes(work))
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, out
    _run(work, cores=2)
    assert _digests(work) == reference


def test_a_corrupt_trace_is_named_with_the_fix(tmp_path):
    import numpy as np
    import pyarrow as pa

    from backproplab import traces

    path = tmp_path / "metrics" / "b-c0.parquet"
    traces.write_table(path, pa.table({"x": np.arange(10.0)}), {"provenance": {}})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(traces.TraceError) as info:
        traces.read_table(path)
    message = str(info.value)
    assert str(path) in message and "truncated or corrupt" in message
    assert "--forcerun" in message and "Delete it" in message
