"""The numerics profile: which environment each profile sets on which CPU, that a job
fails when the canonical pin did not take effect, and what provenance records.

The subprocess tests start a fresh interpreter, because the pin must be in place before
numpy loads (this test process loaded numpy long ago, pinned by conftest.py)."""

import json
import os
import subprocess
import sys

import pytest

from backproplab import numerics

AVX2_FLAGS = frozenset(numerics.REQUIRED_FLAGS | {"sse4_2", "popcnt"})
CANONICAL_HERE = numerics.canonical_supported()[0]
needs_canonical_cpu = pytest.mark.skipif(
    not CANONICAL_HERE,
    reason=f"canonical numerics unavailable: {numerics.canonical_supported()[1]}",
)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 avx2 fma\n\n")
    assert numerics.cpu_flags(info) == {"fpu", "sse2", "avx2", "fma"}
    assert numerics.cpu_flags(tmp_path / "missing") == frozenset()


def test_canonical_needs_x86_64_with_avx2_and_fma():
    assert numerics.canonical_supported("x86_64", AVX2_FLAGS) == (True, "")
    ok, why = numerics.canonical_supported("aarch64", AVX2_FLAGS)
    assert not ok and why == "the CPU is aarch64, not x86-64"
    ok, why = numerics.canonical_supported("x86_64", AVX2_FLAGS - {"avx2", "fma"})
    assert not ok and why == "the CPU lacks avx2, fma"


def test_each_profile_sets_its_environment(monkeypatch):
    one_thread = dict.fromkeys(numerics.THREAD_VARIABLES, "1")
    canonical = one_thread | numerics.CANONICAL | numerics.numba_build()
    assert numerics.environment("canonical", supported=True) == canonical
    assert numerics.environment("native") == one_thread
    # Where the pin cannot apply, a pin inherited from elsewhere (a login node's
    # environment exported to a SLURM job) is removed: Haswell kernels would crash here.
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("NUMBA_CPU_NAME", "haswell")
    for name in ("NPY_DISABLE_CPU_FEATURES", "NUMBA_CPU_FEATURES"):
        monkeypatch.delenv(name, raising=False)
    unsupported = numerics.environment("canonical", supported=False)
    assert unsupported == one_thread | {"OPENBLAS_CORETYPE": None, "NUMBA_CPU_NAME": None}
    monkeypatch.delenv("NUMBA_CPU_NAME")
    # The AVX-512 build's pin is removed too (exported from an AVX-512 login node).
    monkeypatch.setenv("NUMBA_CPU_NAME", "x86-64-v4")
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "-prefer-256-bit")
    unsupported = numerics.environment("canonical", supported=False)
    assert unsupported == one_thread | {
        "OPENBLAS_CORETYPE": None,
        "NUMBA_CPU_NAME": None,
        "NUMBA_CPU_FEATURES": None,
    }
    for name in numerics.NUMBA_VARIABLES:
        monkeypatch.delenv(name)
    # ...but an administrator's own choice of another kernel is left alone.
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Zen")
    assert numerics.environment("canonical", supported=False) == one_thread
    with pytest.raises(ValueError, match="expected one of canonical, native"):
        numerics.environment("fast")


def test_the_compiled_trainer_is_built_for_the_cpus_vector_level():
    """AVX-512 where the CPU has every x86-64-v4 feature, else AVX2; never this CPU's
    model, so that one cache entry serves a whole level. numba_build asks cpuid (through
    LLVM), checked here against the kernel's /proc/cpuinfo (the same CPU, unemulated)."""
    avx512 = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= numerics.cpu_flags()
    build = numerics.numba_build()
    assert build == numerics.NUMBA_BUILDS["avx512" if avx512 else "avx2"]
    assert set(build) == set(numerics.NUMBA_VARIABLES)


def _fresh_python(code: str, **env) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {*numerics.CANONICAL, *numerics.NUMBA_VARIABLES}
    }
    return subprocess.run(
        [sys.executable, "-c", code], env=clean | env, capture_output=True, text=True, timeout=120
    )


@needs_canonical_cpu
def test_enforce_pins_the_kernels_before_numpy_loads():
    proc = _fresh_python(
        "import json, sys\n"
        "from backproplab import numerics\n"
        "assert 'numpy' not in sys.modules\n"
        "print(json.dumps(numerics.enforce('canonical')))\n"
    )
    assert proc.returncode == 0, proc.stderr
    used = json.loads(proc.stdout)
    assert used["profile"] == "canonical"
    assert used["blas_kernel"] == "Haswell" and used["numpy_dispatch"] == ["X86_V3"]
    assert used["blas_threads"] == 1
    # Provenance is the same on every pinned machine: versions and kernels, no host.
    assert set(used) == {
        "profile",
        "numpy",
        "blas",
        "blas_kernel",
        "blas_threads",
        "numpy_dispatch",
    }


@needs_canonical_cpu
def test_a_pin_that_did_not_take_effect_stops_the_job():
    """numpy loaded before the profile was applied, with another kernel set asked of
    OpenBLAS (Sandybridge runs on every AVX2 CPU, so this fails the same everywhere)."""
    proc = _fresh_python(
        "import numpy\nfrom backproplab import numerics\nnumerics.enforce('canonical')\n",
        OPENBLAS_CORETYPE="Sandybridge",
    )
    assert proc.returncode != 0
    assert "NumericsError: numerics: canonical: the pin did not take effect" in proc.stderr
    assert "(numpy was imported before the profile was applied)" in proc.stderr
    assert "OpenBLAS uses its Sandybridge kernels, not Haswell" in proc.stderr
    assert "Set `numerics: native`" in proc.stderr


def test_native_runs_whatever_the_cpu_gives_on_one_thread():
    proc = _fresh_python(
        "import json\n"
        "from backproplab import numerics\n"
        "print(json.dumps(numerics.enforce('native')))\n"
    )
    assert proc.returncode == 0, proc.stderr
    used = json.loads(proc.stdout)
    assert used["blas_threads"] == 1
    # On a CPU whose own kernels are the canonical ones, native is canonical too.
    assert used["profile"] in {"native", "canonical"}


def test_importing_the_package_loads_no_numpy():
    """The pin must be able to come first: backproplab, its config and plan modules and
    the job prelude import no numpy."""
    proc = _fresh_python(
        "import sys\n"
        "import backproplab, backproplab.numerics, backproplab.jobs\n"
        "print('numpy' in sys.modules)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_provenance_names_numpys_own_blas_whatever_else_is_loaded():
    """scipy (which scikit-learn loads) brings a second OpenBLAS; which one threadpoolctl
    lists first depends on load order, and provenance must not."""
    proc = _fresh_python(
        "import json, threadpoolctl\n"
        "from backproplab import numerics\n"
        "numerics.apply('canonical')\n"
        "import scipy.linalg, numpy\n"
        "libs = [l for l in threadpoolctl.threadpool_info() if l['user_api'] == 'blas']\n"
        "own = [l for l in libs if '/numpy.libs/' in l['filepath']]\n"
        "print(json.dumps([len(libs), own[0]['version'], numerics.in_use()['blas']]))\n"
    )
    assert proc.returncode == 0, proc.stderr
    n_libs, numpy_blas, recorded = json.loads(proc.stdout)
    assert n_libs >= 2  # numpy's and scipy's
    assert recorded == f"openblas {numpy_blas}"
