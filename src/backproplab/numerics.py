"""The numerics profile: which kernels compute the numbers, chosen before numpy loads.

Float64 results depend on more than the code: OpenBLAS picks a kernel set per CPU
(SkylakeX on AVX-512, Haswell on AVX2, ...), numpy dispatches ``exp``, ``log`` and friends
to AVX-512 (SVML) loops where the CPU has them and to glibc's libm elsewhere, and the BLAS
thread count changes how products are summed. Exact operations (``+ - * / sqrt``,
min/max) and numpy's pairwise reductions are the same everywhere.

Two profiles (config key ``numerics``):

``canonical`` (default)
    On every x86-64 CPU with AVX2 and FMA: OpenBLAS's Haswell kernels, numpy's X86_V3
    (AVX2 + FMA) loops, one BLAS thread, and the compiled trainer built for the CPU's
    vector level (:data:`NUMBA_BUILDS`: AVX-512 or AVX2; its bits are the same either
    way). Every such CPU then computes the same bits, with the locked package versions. On
    another CPU (ARM, x86-64 without AVX2) the pin cannot be applied (forcing Haswell
    kernels there is an illegal instruction): the job runs with the native kernels, says
    so in its log, and records ``native`` in its provenance.
``native``
    The kernels the libraries pick for this CPU (and whatever the environment already
    asks of them), one BLAS thread. Faster on AVX-512; the bits are this CPU's.

The pin works through environment variables that OpenBLAS and numpy read when they load,
so :func:`apply` must run before numpy is imported to affect this process; it also
reaches every child process (Snakemake's jobs, locally and on SLURM nodes, where the
Snakefile applies it again for the node's own CPU). :func:`enforce` is what a job calls:
it applies the profile, imports numpy, and fails if the kernels in use are not the
profile's. This module imports nothing heavy at module level.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import sys
from pathlib import Path

__all__ = [
    "CANONICAL",
    "NUMBA_BUILDS",
    "NUMBA_VARIABLES",
    "PROFILES",
    "NumericsError",
    "apply",
    "canonical_supported",
    "enforce",
    "in_use",
    "numba_build",
    "provenance",
]

log = logging.getLogger(__name__)

PROFILES = ("canonical", "native")

# The canonical pin, for the locked numpy (2.4: its CPU dispatch groups are X86_V3, X86_V4,
# AVX512_ICL, AVX512_SPR; older names such as AVX512F are silently ignored by it).
CANONICAL = {
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}
# The compiled trainer's build under the canonical profile: one per vector level, with
# that level's own features (not this CPU model's), so that one numba cache entry serves
# every CPU of a level (mixed cluster nodes, emulated CPUs). Its bits do not depend on the
# build (no libm, no FMA contraction, sums in a fixed order: tests/test_compiled_trainer.py),
# only its speed does: 512-bit vectors train about twice as fast where the CPU has them.
# LLVM's generic x86-64-v4 prefers 256-bit vectors, which would halve that again.
NUMBA_BUILDS = {
    "avx512": {"NUMBA_CPU_NAME": "x86-64-v4", "NUMBA_CPU_FEATURES": "-prefer-256-bit"},
    "avx2": {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""},
}
NUMBA_VARIABLES = ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")
# x86-64-v4: what its build may use.
_AVX512_FEATURES = ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")
CANONICAL_KERNEL = "Haswell"
CANONICAL_DISPATCH = ("X86_V3",)
# Haswell's kernels and numpy's X86_V3 loops need these CPU flags (as /proc/cpuinfo names them).
REQUIRED_FLAGS = frozenset({"avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "movbe", "abm"})
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class NumericsError(RuntimeError):
    """The kernels in use are not the ones the numerics profile asks for."""


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no such file)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


@functools.cache
def numba_build() -> dict[str, str]:
    """The compiled trainer's build on this CPU under the canonical profile (one of
    :data:`NUMBA_BUILDS`), from the CPU's features as LLVM reads them with ``cpuid``:
    an emulated CPU's own under qemu-user, where ``/proc/cpuinfo`` is the host's."""
    try:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features()
        avx512 = all(features.get(name, False) for name in _AVX512_FEATURES)
    except (ImportError, RuntimeError):  # no llvmlite (no numba), or no feature query
        avx512 = False
    return NUMBA_BUILDS["avx512" if avx512 else "avx2"]


def canonical_supported(
    machine: str | None = None, flags: frozenset[str] | None = None
) -> tuple[bool, str]:
    """Whether the canonical pin can be applied on this CPU, and why not if it cannot."""
    machine = (machine or platform.machine()).lower()
    if machine not in {"x86_64", "amd64"}:
        return False, f"the CPU is {machine}, not x86-64"
    flags = cpu_flags() if flags is None else flags
    missing = sorted(REQUIRED_FLAGS - flags)
    if missing:
        return False, f"the CPU lacks {', '.join(missing)}"
    return True, ""


def environment(profile: str, supported: bool | None = None) -> dict[str, str | None]:
    """The environment variables a profile sets (``None``: remove the variable).

    ``canonical`` where supported sets the pin; where not supported it removes a pin
    inherited from elsewhere (a login node's environment exported to a SLURM job), which
    would crash here. Both profiles use one BLAS thread.
    """
    if profile not in PROFILES:
        raise ValueError(f"numerics profile {profile!r}: expected one of {', '.join(PROFILES)}")
    env: dict[str, str | None] = dict.fromkeys(THREAD_VARIABLES, "1")
    if profile == "canonical":
        if supported is None:
            supported = canonical_supported()[0]
        if supported:
            env |= CANONICAL | numba_build()
        else:
            pins = [CANONICAL, *NUMBA_BUILDS.values()]
            env |= {k: None for pin in pins for k, v in pin.items() if os.environ.get(k) == v}
    return env


def effective_profile(profile: str) -> str:
    """The profile this machine can give: ``canonical`` falls back to ``native`` where
    the CPU cannot take the pin."""
    if profile == "canonical" and not canonical_supported()[0]:
        return "native"
    return profile


def apply(profile: str) -> None:
    """Set the environment variables of ``profile`` in this process (and its children).

    Call it before numpy is imported for it to take effect in this process.
    """
    for key, value in environment(profile).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def in_use() -> dict:
    """What computes the numbers in this process (imports numpy).

    Returns
    -------
    dict
        ``numpy`` (version), ``blas`` (the version of numpy's OpenBLAS, whatever other
        BLAS libraries are loaded), ``blas_kernel`` (its kernel set, e.g. ``Haswell``),
        ``blas_threads``, ``numpy_dispatch`` (the enabled CPU
        dispatch targets of numpy's loops). Identical on every machine of a pinned set:
        no host details.
    """
    import numpy as np
    import threadpoolctl
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    # numpy's own OpenBLAS: scipy (loaded by scikit-learn) brings a second one, and the
    # order in which threadpoolctl lists them depends on what loaded first.
    numpy_dir = Path(np.__file__).resolve().parent
    blas = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    own = [lib for lib in blas if _beside(Path(lib["filepath"]), numpy_dir)]
    first = (own or blas or [{}])[0]
    return {
        "numpy": np.__version__,
        "blas": f"{first.get('internal_api', 'none')} {first.get('version', '')}".strip(),
        "blas_kernel": first.get("architecture") or "unknown",
        "blas_threads": int(first.get("num_threads", 0)),
        "numpy_dispatch": [t for t in __cpu_dispatch__ if __cpu_features__.get(t)],
    }


def _beside(library: Path, numpy_dir: Path) -> bool:
    """Whether ``library`` ships with numpy (its wheel's ``numpy.libs`` or ``.libs``)."""
    site = numpy_dir.parent
    return library.resolve().parent in {site / "numpy.libs", numpy_dir / ".libs", numpy_dir}


def _host() -> str:
    """One log line about the host (never stored in results)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    avx512 = sorted(f for f in cpu_flags() if f.startswith("avx512"))
    return f"{platform.machine()} {model or 'unknown CPU'}; AVX-512 flags: {avx512 or 'none'}"


def enforce(profile: str) -> dict:
    """Apply ``profile``, import numpy, and check that its kernels are in use.

    Returns
    -------
    dict
        The provenance of the numbers: ``profile`` (the one in effect) and what
        :func:`in_use` reports.

    Raises
    ------
    NumericsError
        If the canonical pin did not take effect (numpy was imported before it was
        applied, or a library ignored it): the job stops rather than write other bits.
    """
    numpy_loaded = "numpy" in sys.modules
    wanted = environment(profile)
    if not numpy_loaded:
        apply(profile)
    effective = effective_profile(profile)
    kernels = in_use()
    problems = []
    if kernels["blas_threads"] != 1:
        problems.append(f"OpenBLAS runs {kernels['blas_threads']} threads, not 1")
    if effective == "canonical":
        if kernels["blas_kernel"] != CANONICAL_KERNEL:
            problems.append(
                f"OpenBLAS uses its {kernels['blas_kernel']} kernels, not {CANONICAL_KERNEL}"
            )
        if tuple(kernels["numpy_dispatch"]) != CANONICAL_DISPATCH:
            problems.append(
                f"numpy dispatches to {kernels['numpy_dispatch']}, not {list(CANONICAL_DISPATCH)}"
            )
    if problems:
        hint = ""
        if numpy_loaded and any(os.environ.get(k) != v for k, v in wanted.items() if v):
            hint = " (numpy was imported before the profile was applied)"
        raise NumericsError(
            f"numerics: {effective}: the pin did not take effect{hint}: {'; '.join(problems)}. "
            f"Nothing was written. Set `numerics: native` in the config to run with this "
            f"machine's kernels (other bits), or report this with the log."
        )
    if profile == "canonical" and effective != "canonical":
        log.warning(
            "numerics: canonical is not available here (%s): running with the native "
            "kernels; these numbers are this CPU's, not the canonical ones",
            canonical_supported()[1],
        )
    log.info("numerics: %s; kernels %s; host %s", effective, kernels, _host())
    return {"profile": effective, **kernels}


def provenance() -> dict:
    """The numerics of this process as provenance: the profile its kernels amount to
    (``canonical`` if they are the canonical ones, else ``native``) and :func:`in_use`."""
    kernels = in_use()
    canonical = (
        kernels["blas_kernel"] == CANONICAL_KERNEL
        and tuple(kernels["numpy_dispatch"]) == CANONICAL_DISPATCH
        and kernels["blas_threads"] == 1
    )
    return {"profile": "canonical" if canonical else "native", **kernels}
