"""The canonical numerics on other CPUs: config/test.yaml replayed under qemu-x86_64.

``numerics: canonical`` promises the same bits on every x86-64 CPU with AVX2 and FMA.
This machine (CI's too) has AVX-512, so the other CPUs are emulated: ``qemu-x86_64 -cpu
MODEL`` runs the venv's Python as that CPU (numpy and OpenBLAS detect the emulated CPU
with ``cpuid`` themselves: no AVX-512), and the in-process replay
(``python -m backproplab.replay``: qemu-user emulates one process only, so no Snakemake)
trains config/test.yaml and computes its validation tables (gradient checks against
central differences in long double, the worked examples with their rounding bands).
Every digest must equal the golden one,
tests/golden/test-config.compiled.json, which come from the real pipeline on this machine
(tests/test_golden.py checks that the replay computes the pipeline's numbers). The
compiled trainer (the config's default engine) runs from numba's cache: the canonical
profile builds it for the CPU's vector level, and these CPUs' AVX2 build is made natively
first (a cache hit under emulation: no compiling in qemu); the
NumPy engine's training (``--engine numpy``) must equal its own golden digests,
tests/golden/test-config.numpy.json, on every model too.

CPU models: ``Haswell`` (Intel, AVX2 + FMA, the canonical kernels' own CPU),
``EPYC-Rome`` (AMD Zen 2) and ``Skylake-Client`` (Intel, AVX2, no AVX-512). On Haswell
the replay also runs with ``--numerics native`` (no pin at all) and the NumPy engine: a
real Haswell's own choice of kernels must compute the canonical bits, or the pin is not
what it says.

Opt-in (tests/cross_cpu/conftest.py), needs qemu-user (``apt-get install qemu-user``)::

    .venv/bin/python -m pytest -m crosscpu tests/cross_cpu -rA

Wall time per replay, measured on a 2-core AMD EPYC (AVX-512) host with qemu 7.2 and
numpy 2.4, sharing the machine with other work: Haswell 108 s, EPYC-Rome 106 s,
Skylake-Client 146 s, of which 94-130 s are the references (seed 001's 33 replays of
1,000 epochs and Mazur's 10,000 steps, each epoch a round of Python calls, which
emulation slows 30-fold) and 2.4 s the first compiled training block (numba's import and
the cached kernel's load); the NumPy engine's training, 8.3 s per CPU model (natively
the whole replay takes 5 s). The whole module: 6 min 38 s. Each test
prints its replay's wall time and steps (``-rA`` shows them).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backproplab import compare, digests, numerics

pytestmark = pytest.mark.crosscpu

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "test-config.compiled.json"
GOLDEN_NUMPY = ROOT / "tests" / "golden" / "test-config.numpy.json"
CONFIG = "config/test.yaml"
CPU_MODELS = ["Haswell", "EPYC-Rome", "Skylake-Client"]
TIMEOUT = 600  # seconds per replay; each takes about 10


def venv_python() -> Path:
    """The venv's own ``bin/python`` (a symlink is fine: qemu follows it, and Python
    finds the venv's pyvenv.cfg from the path it was started as). Not
    ``os.path.realpath(sys.executable)``: that may be a pyenv interpreter outside the
    venv, which would not see the venv's site-packages."""
    candidate = Path(sys.prefix) / "bin" / "python"
    return candidate if candidate.exists() else Path(sys.executable)


def emulated(cpu: str, *args: str, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    """``qemu-x86_64 -cpu CPU <venv python> ARGS`` in the repository, with no numerics
    variables inherited (the process under test sets them itself)."""
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        pytest.fail("qemu-x86_64 is not installed: apt-get install qemu-user")
    pinned = {*numerics.CANONICAL, *numerics.NUMBA_VARIABLES, *numerics.THREAD_VARIABLES}
    env = {k: v for k, v in os.environ.items() if k not in pinned}
    cmd = [qemu, "-cpu", cpu, str(venv_python()), *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        # qemu warns about every host feature its TCG cannot emulate: not errors.
        stderr = "\n".join(
            line for line in proc.stderr.splitlines() if "TCG doesn't support" not in line
        )
        pytest.fail(
            f"{' '.join(cmd)} failed on {cpu} ({proc.returncode}):\n{proc.stdout}\n{stderr}"
        )
    return proc


def read_golden(path: Path) -> dict:
    if not path.exists():
        pytest.fail(f"{path} is missing: see tests/golden/README.md")
    expected = json.loads(path.read_text())
    for kind in ("traces", "datasets", "validation"):
        assert digests.select(expected, [kind]), f"{path} has no {kind} tables"
    return expected


@pytest.fixture(scope="module")
def golden() -> dict:
    return read_golden(GOLDEN)


@pytest.fixture(scope="module")
def golden_numpy() -> dict:
    return read_golden(GOLDEN_NUMPY)


def test_the_venv_python_runs_under_qemu():
    """The emulated interpreter is the venv's: its site-packages, this checkout's package."""
    code = (
        "import json, sys, backproplab; "
        "print(json.dumps({'prefix': sys.prefix, 'package': backproplab.__file__}))"
    )
    proc = emulated("Haswell", "-c", code, timeout=120)
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["prefix"] == sys.prefix, seen
    assert Path(seen["package"]).resolve().parent == ROOT / "src" / "backproplab", seen


def replay_on(cpu: str, results: Path, profile: str, *options: str) -> tuple[dict, float]:
    """Replay config/test.yaml as ``cpu``; its summary line and wall time."""
    started = time.perf_counter()
    proc = emulated(
        cpu, "-m", "backproplab.replay", CONFIG, str(results), "--numerics", profile, *options
    )
    seconds = time.perf_counter() - started
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{cpu} ({profile}): replay in {seconds:.1f} s wall; steps {summary['seconds']}")
    return summary, seconds


@pytest.fixture(scope="module")
def host_results(tmp_path_factory, golden) -> Path:
    """The same replay on this machine, unemulated: the golden numbers (checked), and the
    tree the emulated finite-difference tables are compared with. It also builds the
    compiled trainer's AVX2 build into numba's cache (or loads it), the one the emulated
    CPUs (no AVX-512) use, so that no emulated run compiles."""
    warm = "from backproplab.engine.compiled.warm import warm; print(warm())"
    env = os.environ | numerics.NUMBA_BUILDS["avx2"]  # warm() applies no profile
    cmd = [str(venv_python()), "-c", warm]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    results = tmp_path_factory.mktemp("host") / "results"
    cmd = [str(venv_python()), "-m", "backproplab.replay", CONFIG, str(results)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    differences = digests.diff(golden, digests.digest_tree(results))
    assert not differences, "the host's replay is not golden:\n" + "\n".join(differences)
    return results


def check_kernels(cpu: str, summary: dict, profile: str) -> None:
    """numpy saw the emulated CPU (no AVX-512), and the canonical kernels were used."""
    features, kernels = summary["cpu_features"], summary["numerics"]
    assert features["AVX2"] and features["FMA3"], f"{cpu}: numpy saw no AVX2/FMA: {features}"
    avx512 = sorted(k for k, v in features.items() if k.startswith("AVX512") and v)
    assert not avx512, f"{cpu}: numpy saw AVX-512 ({avx512}): the CPU is not emulated"
    assert kernels["profile"] == profile, f"{cpu}: {kernels}"
    assert kernels["numpy_dispatch"] == ["X86_V3"], f"{cpu}: {kernels}"
    assert kernels["blas_kernel"] == numerics.CANONICAL_KERNEL, f"{cpu}: {kernels}"
    assert kernels["blas_threads"] == 1, f"{cpu}: {kernels}"


# Computed in long double: the perturbed losses of the central differences go through
# numpy's long-double exp and log, which glibc computes with x87 instructions (f2xm1,
# fyl2x) whose last bits differ between CPU implementations. Measured under qemu Haswell
# against this AMD host: 1 to 14 values of 90 differ, by at most 1.4e-14 absolute in
# max_abs_error and 5.7e-13 relative in grad_norm; which entry is the worst (worst_i,
# worst_j, worst_analytic, worst_numeric) can change with them.
LONG_DOUBLE = ("validation/gradcheck", "validation/seed_formulas")
ERROR_BOUND = 1e-12  # absolute, on max_abs_error: a hundred times the measured spread


def check_digests(cpu: str, golden: dict, results: Path, host: Path | None) -> None:
    """Every float64 table to the bit; the long-double tables by their verdicts and
    errors (against the host's replay), unless they were not replayed (``host=None``)."""
    actual = digests.digest_tree(results)
    expected = {k: v for k, v in golden.items() if k not in LONG_DOUBLE}
    if host is None:
        expected = digests.select(expected, ["traces", "datasets"])
    differences = digests.diff(expected, {k: v for k, v in actual.items() if k in expected})
    differences += [f"{k}: not written" for k in expected if k not in actual]
    assert not differences, (
        f"{cpu}: the replay of {CONFIG} computes other numbers than {GOLDEN.name} "
        f"({len(differences)} difference(s)):\n" + "\n".join(differences)
    )
    if host is None:
        return
    import pandas as pd

    comparison = compare.compare_trees(host, results)
    assert comparison.passed, f"{cpu}: " + "; ".join(comparison.problems)
    for table in LONG_DOUBLE:
        ours = pd.read_parquet(host / f"{table}.parquet")
        theirs = pd.read_parquet(results / f"{table}.parquet")
        assert len(ours) == len(theirs) and (ours.passed == theirs.passed).all(), table
        spread = (ours.max_abs_error - theirs.max_abs_error).abs().max()
        assert spread <= ERROR_BOUND, f"{cpu}: {table} max_abs_error moves by {spread:.3g}"


@pytest.mark.parametrize("cpu", CPU_MODELS)
def test_the_canonical_numbers_on(cpu, golden, host_results, tmp_path):
    summary, _ = replay_on(cpu, tmp_path / "results", "canonical")
    check_kernels(cpu, summary, "canonical")
    check_digests(cpu, golden, tmp_path / "results", host_results)


@pytest.mark.parametrize("cpu", CPU_MODELS)
def test_the_numpy_engines_canonical_numbers_on(cpu, golden_numpy, host_results, tmp_path):
    """The NumPy engine's training (no validation: it reads the traces the same way)."""
    results = tmp_path / "results"
    summary, _ = replay_on(cpu, results, "canonical", "--engine", "numpy", "--no-validation")
    check_kernels(cpu, summary, "canonical")
    check_digests(f"{cpu} (NumPy engine)", golden_numpy, results, None)


def test_a_haswell_computes_the_canonical_numbers_unpinned(golden_numpy, tmp_path):
    """``native`` on an (emulated) Haswell: the libraries pick Haswell's kernels and
    X86_V3 themselves, and the NumPy engine computes the golden bits (training only, to
    save 100 s; the compiled trainer's build is not a library's choice but the profile's,
    and unpinned numba would compile for the emulated CPU, minutes under qemu)."""
    results = tmp_path / "results"
    summary, _ = replay_on("Haswell", results, "native", "--engine", "numpy", "--no-validation")
    check_kernels("Haswell", summary, "native")
    check_digests("Haswell (native)", golden_numpy, results, None)
