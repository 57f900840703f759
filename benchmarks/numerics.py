"""What the canonical numerics profile costs: the engine's time per workload, canonical/native.

Run by hand (never in CI)::

    python benchmarks/numerics.py --scale 0.25 --repeat 3

The profile must be chosen before numpy loads, so each measurement is a fresh worker
process (``--worker PROFILE``) that applies its profile, then times the engine on the
four workloads of engine.py (25 runs each, the same initial weights). Workers of the two
profiles alternate, and the medians are compared. On an AVX2-only CPU the two profiles
run the same kernels (a ratio of 1 within noise); on AVX-512 the canonical one gives up
AVX-512's exp/log loops and OpenBLAS's SkylakeX kernels for the bits every AVX2 CPU
computes. The ratio is printed with the kernels each profile ran.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROFILES = ("canonical", "native")


def worker(profile: str, scale: float) -> None:
    """Time the engine on every workload under ``profile``; print JSON to stdout."""
    from backproplab import numerics

    kernels = numerics.enforce(profile)
    sys.path.insert(0, str(HERE))
    from engine import RUNS, engine_train, workloads

    seconds = {}
    for w in workloads(scale):
        params0 = w.model.init(range(RUNS), "glorot_normal")
        engine_train(w, params0)  # warm-up: first-touch allocations, caches
        started = time.perf_counter()
        engine_train(w, params0)
        seconds[w.name] = time.perf_counter() - started
    print(json.dumps({"kernels": kernels, "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25, help="fraction of the epochs")
    parser.add_argument("--repeat", type=int, default=3, help="workers per profile (median)")
    parser.add_argument("--worker", choices=PROFILES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.scale)
        return
    runs: dict[str, list[dict]] = {p: [] for p in PROFILES}
    for _ in range(args.repeat):
        for profile in PROFILES:
            out = subprocess.run(
                [sys.executable, __file__, "--worker", profile, "--scale", str(args.scale)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            runs[profile].append(json.loads(out.splitlines()[-1]))
    for profile in PROFILES:
        k = runs[profile][0]["kernels"]
        print(
            f"{profile:9s}: profile in effect {k['profile']}, OpenBLAS {k['blas_kernel']}, "
            f"numpy dispatch {k['numpy_dispatch']}, {k['blas_threads']} BLAS thread"
        )
    print(f"\n{'workload':32s} {'canonical s':>12s} {'native s':>10s} {'canonical/native':>17s}")
    for name in runs["canonical"][0]["seconds"]:
        median = {p: statistics.median(r["seconds"][name] for r in runs[p]) for p in PROFILES}
        ratio = median["canonical"] / median["native"]
        print(f"{name:32s} {median['canonical']:12.3f} {median['native']:10.3f} {ratio:17.2f}")
    print(f"\nscale {args.scale}, {args.repeat} workers per profile, medians; machine idle?")


if __name__ == "__main__":
    main()
