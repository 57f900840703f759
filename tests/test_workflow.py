"""The workflow end to end on config/test.yaml, in a scratch copy of the repository:
traces readable with plain pandas, nothing rerun when nothing changed, and a new seed
scheduling only its own experiment while every existing run's trace stays bit-identical."""

import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from backproplab import numerics, traces

pytestmark = pytest.mark.slow


def _snakemake(workdir, *args, check=True, env=None):
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def _scheduled(output: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs, rule = [], None
    for line in output.splitlines():
        if m := re.match(r"^(?:localrule|rule) (\w+):", line):
            rule = m.group(1)
            jobs.append((rule, ""))
        elif rule and (m := re.match(r"^\s+wildcards: (.*)", line)):
            jobs[-1] = (rule, m.group(1))
    return jobs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, copy_workflow):
    work = copy_workflow(tmp_path_factory.mktemp("pipeline"))
    # Started from a shell that asks OpenBLAS for other kernels: the Snakefile's numerics
    # profile must win in every job (test_every_job_computed_with_the_profiles_kernels).
    env = os.environ | {"OPENBLAS_CORETYPE": "Sandybridge"}
    _snakemake(work, "--configfile", "config/test.yaml", env=env)
    return work


def test_every_job_computed_with_the_profiles_kernels(workdir):
    """Every trace and validation table records the canonical numerics (on a CPU that
    can take the pin), whatever the calling shell's environment asked for."""
    expected = numerics.effective_profile("canonical")
    files = sorted((workdir / "results").glob("**/*.parquet"))
    assert len(files) > 20
    for path in files:
        used = traces.read_metadata(path)["provenance"]["numerics"]
        assert used["profile"] == expected, (path, used)
        assert used["blas_threads"] == 1, (path, used)
        if expected == "canonical":
            assert used["blas_kernel"] == "Haswell" and used["numpy_dispatch"] == ["X86_V3"]
    log = (workdir / "logs" / "validation" / "references.log").read_text()
    assert f"numerics: {expected}; kernels" in log


def test_traces_read_back_with_plain_pandas(workdir):
    traces = workdir / "results" / "traces"
    runs = pd.read_parquet(traces / "encoder" / "runs")
    assert len(runs) == 8 and set(runs.status) == {"ok"}
    metrics = pd.read_parquet(traces / "encoder" / "metrics")
    assert metrics.groupby("run_id").size().eq(31).all()  # epochs 0..30
    assert {"loss", "accuracy", "mse"} <= set(metrics.columns)
    state = pd.read_parquet(traces / "encoder" / "state")
    assert set(state.tensor.astype(str)) == {"W", "b", "dW", "db", "z", "a"}
    hidden = state[(state.tensor == "a") & (state.layer == 0) & (state.epoch == 30)]
    assert len(hidden) == 8 * 8 * 3  # 8 runs x 8 patterns x 3 hidden units
    # The worked example's weights after one step, read back from its trace.
    mazur = pd.read_parquet(traces / "mazur" / "state")
    w = mazur[(mazur.tensor == "W") & (mazur.epoch == 1)].sort_values(["layer", "i", "j"])
    published = [
        0.149780716,
        0.24975114,
        0.19956143,
        0.29950229,
        0.35891648,
        0.511301270,
        0.408666186,
        0.561370121,
    ]
    assert w.value.round(8).tolist() == pytest.approx(published, abs=1e-8)
    moons = pd.read_parquet(traces / "moons" / "runs")
    assert moons.final_test_accuracy.between(0, 1).all()
    norms = pd.read_parquet(traces / "moons" / "norms")
    assert (norms.weight_norm > 0).all()


def test_a_second_run_does_nothing(workdir):
    out = _snakemake(workdir, "-n", "--configfile", "config/test.yaml")
    assert "Nothing to be done" in out, out


def _read(path):
    frame = pd.read_parquet(path)
    categorical = frame.select_dtypes("category").columns
    return frame.astype({c: str for c in categorical})


def test_adding_a_seed_reruns_only_its_experiment(workdir):
    before = {
        t: _read(workdir / "results/traces/encoder" / t)
        for t in ("metrics", "state", "norms", "runs")
    }
    config = yaml.safe_load((workdir / "config/test.yaml").read_text())
    config["experiments"]["encoder"]["seeds"].append(5)
    (workdir / "config/more.yaml").write_text(yaml.safe_dump(config))
    jobs = _scheduled(_snakemake(workdir, "-n", "--configfile", "config/more.yaml"))
    trained = {wc for rule, wc in jobs if rule == "train"}
    assert trained == {
        "experiment=encoder, block=loss-half_sse-c0",
        "experiment=encoder, block=loss-mse-c0",
    }, jobs
    assert not [j for j in jobs if "moons" in j[1] or "mazur" in j[1]], jobs
    assert "compile_trainer" not in {rule for rule, _ in jobs}, "the build is redone"
    _snakemake(workdir, "--configfile", "config/more.yaml")
    for table, old in before.items():
        new = _read(workdir / "results/traces/encoder" / table)
        kept = new[new.run_id.isin(old.run_id.unique())].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept, old.reset_index(drop=True), check_exact=True)
        assert new.run_id.str.endswith("seed=5").any()


def _first_and_last_time(log_path) -> tuple[str, str]:
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) ", log_path.read_text(), re.M)
    return stamps[0], stamps[-1]


def test_the_compiled_trainer_is_built_once_before_any_training_job(workdir):
    """Rule compile_trainer fills numba's cache, then every training job loads the kernel
    (none compiles it) and trains with it, and the run tables say so."""
    record = (workdir / "results" / "engine" / "compiled_trainer.json").read_text()
    assert '"numba_cpu"' in record
    _, built = _first_and_last_time(workdir / "logs" / "compile" / "compiled_trainer.log")
    train_logs = sorted((workdir / "logs" / "train").glob("*/*.log"))
    assert len(train_logs) == 5
    for path in train_logs:
        started, _ = _first_and_last_time(path)
        assert started > built, f"{path.name} started before the build ended"
        assert "with the compiled engine" in path.read_text(), path
    runs = pd.read_parquet(workdir / "results" / "traces" / "encoder" / "runs")
    assert set(runs.engine) == {"compiled"}
    meta = traces.read_metadata(workdir / "results/traces/encoder/runs/loss-mse-c0.parquet")
    assert meta["trainer"]["engine"] == "compiled"
    assert meta["provenance"]["packages"]["numba"] != "not installed"


def test_the_numpy_engine_retrains_every_block_and_builds_nothing(workdir):
    config = yaml.safe_load((workdir / "config/test.yaml").read_text())
    config["engine"] = "numpy"
    (workdir / "config/numpy.yaml").write_text(yaml.safe_dump(config))
    jobs = _scheduled(_snakemake(workdir, "-n", "--configfile", "config/numpy.yaml"))
    rules = [rule for rule, _ in jobs]
    assert rules.count("train") == 5 and "compile_trainer" not in rules, jobs
