"""Byte-identical outputs whatever the cores, and faults survived as the README's
"Reproducibility and faults" section says.

Runs of one config in fresh copies of the workflow: with one core (the reference); with
two cores and a training job killed by SIGKILL halfway, then run again; with two cores
and Snakemake itself interrupted by SIGINT, then run again; and with Snakemake itself
killed by SIGKILL mid-run, then the README's sequence (wait for its jobs, ``snakemake
--unlock``, the same command). Every file under results/ must be byte-identical across
them (the timings page, which records wall time by nature, excepted), and no partial
file may be left behind. A truncated results file is reported by every stage that reads
it with one message (which file, what is wrong, the fix), and following the fix gives
the reference results. A config whose blocks all freeze at epoch 0 or 1, and whose runs
diverge to astronomical values, runs through every stage.
"""

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
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


def _command(cores, *extra, configfile="config/slow.yaml"):
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        str(cores),
        "--configfile",
        configfile,
        *extra,
    ]


def _run(workdir, cores, *extra, configfile="config/slow.yaml"):
    command = _command(cores, *extra, configfile=configfile)
    proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
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


def _job_processes(workdir, script=""):
    """PIDs of this workdir's running job scripts (never another checkout's), of those
    whose script ends with ``script`` if given (the shells that run them included)."""
    marker = f"{workdir}/.snakemake/scripts/"
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmd and cmd.rstrip().endswith(script):
            pids.append(int(pid))
    return pids


def _train_processes(workdir):
    """PIDs of this workdir's running training scripts."""
    return _job_processes(workdir, "train.py")


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
def reference_tree(tmp_path_factory, root, copy_workflow):
    """A finished one-core run (copy it before changing anything)."""
    work = _copy(copy_workflow, root, tmp_path_factory.mktemp("one_core"))
    _run(work, cores=1)
    return work


@pytest.fixture(scope="module")
def reference(reference_tree):
    return _digests(reference_tree)


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


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> bytes:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return b""


def _readme_pgrep(workdir) -> str:
    """The README's check for a killed Snakemake's jobs, run as written, in ``workdir``."""
    command = 'pgrep -f "$PWD/.snakemake/scripts/"'
    out = subprocess.run(["bash", "-c", command], cwd=workdir, capture_output=True, text=True)
    return out.stdout.strip()


def test_a_killed_snakemake_is_unlocked_and_loses_nothing(reference, tmp_path, root, copy_workflow):
    """Snakemake itself killed with SIGKILL while its jobs run, then exactly the README's
    sequence: wait until `pgrep -f "$PWD/.snakemake/scripts/"` lists nothing, or stop what
    it lists (the first job is stopped, any other runs to its end); the same command is
    refused meanwhile (the stale lock); `snakemake --unlock`; the same command."""
    work = _copy(copy_workflow, root, tmp_path)
    # Output to a file: the jobs inherit it and outlive Snakemake (a pipe would not end).
    with open(tmp_path / "killed.log", "w") as output:
        proc = subprocess.Popen(_command(2), cwd=work, stdout=output, stderr=subprocess.STDOUT)
    (logs := work / "logs" / "train" / "moons")
    _wait_for(lambda: _training_started(logs) and _train_processes(work))
    jobs = _train_processes(work)
    proc.kill()
    assert proc.wait(timeout=60) == -signal.SIGKILL
    # Mid-run: the jobs it had started go on without it, and nothing downstream exists.
    assert any(_alive(pid) for pid in jobs), "the kill did not land while a job ran"
    assert not (work / "results" / "report" / "index.html").exists()
    locks = list((work / ".snakemake" / "locks").iterdir())
    assert locks, "no stale lock left behind"
    # Nothing in the lock says who held it: no profile setting could tell it is stale.
    assert all(str(proc.pid) not in lock.read_text() for lock in locks)
    listed = _readme_pgrep(work).split()
    assert set(map(str, jobs)) & set(listed), "the README's pgrep does not list the jobs"
    # The README: wait for them to end, or stop them. The first is stopped, any other
    # runs to its end.
    scripts = [pid for pid in jobs if _alive(pid) and b"bash" not in _cmdline(pid)]
    assert scripts, "no job script left to stop"
    with contextlib.suppress(ProcessLookupError):
        os.kill(scripts[0], signal.SIGKILL)
    refused = subprocess.run(_command(2), cwd=work, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "Directory cannot be locked" in refused.stdout + refused.stderr
    _wait_for(lambda: not _readme_pgrep(work), timeout=300)
    unlock = [sys.executable, "-m", "snakemake", "--unlock"]
    unlocked = subprocess.run(unlock, cwd=work, capture_output=True, text=True)
    assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
    _run(work, cores=2)
    assert _digests(work) == reference


# A truncated file, the rule that reads it (forced to rerun with ``--forcerun`` on an
# output of that rule), and whether the test then follows the message's first fix
# (delete the file, run the same command again) or its second (add --forcerun FILE).
TRUNCATED = [
    ("traces/encoder/state/loss-mse-c0.parquet", "validation/gradcheck.parquet", "delete"),
    ("traces/encoder/metrics/loss-mse-c0.parquet", "figures/encoder/learning_curves.png", None),
    ("traces/encoder/runs/loss-mse-c0.parquet", "report/index.html", None),
    ("validation/gradcheck.parquet", "validation/summary.md", "forcerun"),
    ("datasets/encoder8.parquet", "traces/encoder/runs/loss-mse-c0.parquet", None),
]


def _truncate(path):
    data = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    path.write_bytes(data[: len(data) // 2])
    os.utime(path, ns=(mtime, mtime))  # damaged in place: Snakemake sees no change


@pytest.mark.parametrize(("damaged", "forced", "fix"), TRUNCATED)
def test_a_truncated_file_is_reported_by_its_reader_with_the_fix(
    reference, reference_tree, tmp_path, damaged, forced, fix
):
    """The gradcheck, figure, report, validation-summary and training jobs each print one
    line naming the file, what is wrong and the fix (no traceback), and the fix works."""
    work = tmp_path / "work"
    shutil.copytree(reference_tree, work, symlinks=True)
    _truncate(work / "results" / damaged)
    command = _command(2, "--forcerun", f"results/{forced}")
    proc = subprocess.run(command, cwd=work, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    path = f"results/{damaged}"
    expected = f"error: cannot read {path}: the file is truncated or corrupt ("
    assert expected in out, out
    assert f"Delete it and run the same snakemake command again, or add `--forcerun {path}`" in out
    assert "Traceback" not in out and "pyarrow/" not in out, out
    logs = (work / "logs").rglob("*.log")
    assert any("Traceback" in log.read_text() for log in logs), "no traceback in the log"
    if fix == "delete":  # the message's first fix, then the plain command
        (work / path).unlink()
        _run(work, 2)
    elif fix == "forcerun":  # its second: the plain command with --forcerun FILE
        _run(work, 2, "--forcerun", path)
    if fix:
        assert _digests(work) == reference


@pytest.mark.parametrize("command", ["compare", "digest"])
def test_compare_and_digest_report_a_truncated_file(reference_tree, tmp_path, command):
    tree = tmp_path / "results"
    shutil.copytree(reference_tree / "results", tree)
    damaged = tree / "traces" / "moons" / "state" / "sound-c0.parquet"
    _truncate(damaged)
    args = [str(reference_tree / "results"), str(tree)] if command == "compare" else [str(tree)]
    cli = [sys.executable, "-m", "backproplab", command, *args]
    proc = subprocess.run(cli, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{command}: error: cannot read {damaged}: the file is truncated or corrupt" in (
        proc.stderr
    )
    assert f"--forcerun {damaged}" in proc.stderr and "Traceback" not in proc.stderr


def _diverging_config(root) -> dict:
    """config/test.yaml with every run of the encoder's blocks frozen at epoch 0 (its
    initial weights past the bound), the moons blocks frozen at epoch 0 (literal) and 1
    (sound), and an experiment whose runs diverge to astronomical values (every figure
    kind the encoder draws, divergence rules off)."""
    config = yaml.safe_load((root / "config" / "test.yaml").read_text())
    exps = config["experiments"]
    wild = yaml.safe_load(yaml.safe_dump(exps["encoder"]))
    exps["encoder"]["train"]["diverge_above"] = 0.5
    moons = exps["moons"]
    moons["variants"]["literal"]["train"]["diverge_above"] = 0.01
    moons["variants"]["sound"]["train"] = {"diverge_factor": 1.0}
    moons["train"]["batch_size"] = None
    moons["learning_rates"] = [1000.0]
    wild["description"] = "Runs that reach losses of 1e280 and overflow."
    wild["reproduces"] = ""
    wild["model"]["activations"] = ["relu", "identity"]
    wild["train"].update(diverge_above=None, diverge_factor=None)
    wild["learning_rates"] = [0.2, 1.0e3, 1.0e20, 1.0e150]
    exps["wild"] = wild
    return config


def test_frozen_blocks_and_astronomic_runs_crash_no_stage(tmp_path, root, copy_workflow):
    """Every stage (training, gradcheck, references, figures, report) runs on blocks
    whose every run froze at epoch 0 or 1 and on runs whose recorded losses reach 1e280,
    with no RuntimeWarning in any job's log, and `compare` agrees with an in-process
    replay of the same config."""
    work = copy_workflow(tmp_path)
    (work / "config" / "diverging.yaml").write_text(yaml.safe_dump(_diverging_config(root)))
    _run(work, 2, configfile="config/diverging.yaml")
    results = work / "results"
    runs = {e: pd.read_parquet(results / "traces" / e / "runs") for e in ("encoder", "moons")}
    assert (runs["encoder"].status == "diverged").all()
    assert set(runs["encoder"].diverged_epoch) == {0}
    assert set(runs["moons"].diverged_epoch) == {0, 1}
    assert pd.read_parquet(results / "traces" / "encoder" / "state").empty
    wild = pd.read_parquet(results / "traces" / "wild" / "metrics")
    assert wild["loss"].max() > 1e250
    assert (results / "report" / "index.html").exists()
    for kind in ("weights", "ulp_fanout"):  # the run they draw froze before any record
        record = json.loads((results / "figures" / "encoder" / f"{kind}.json").read_text())
        assert record["caption"].startswith("Not drawn: run encoder/"), record
    curves = json.loads((results / "figures" / "wild" / "learning_curves.json").read_text())
    assert "on the top edge" in curves["caption"] and curves["facts"]["off_scale_marks"]
    warned = [p for p in (work / "logs").rglob("*.log") if "RuntimeWarning" in p.read_text()]
    assert not warned, f"RuntimeWarnings in {warned}"
    replayed = tmp_path / "replayed" / "results"
    replay = [sys.executable, "-m", "backproplab.replay", "config/diverging.yaml", str(replayed)]
    subprocess.run(replay, cwd=work, check=True, capture_output=True)
    compare = [sys.executable, "-m", "backproplab", "compare", str(results), str(replayed)]
    proc = subprocess.run(compare, capture_output=True, text=True)
    assert proc.returncode == 0 and "PASSED" in proc.stdout, proc.stdout + proc.stderr


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
