"""The compiled trainer against the NumPy engine on the workloads of engine.py / peers.py.

Run by hand (never in CI)::

    python benchmarks/compiled.py --scale 0.25          # W1..W4, a quarter of the epochs
    python benchmarks/compiled.py --scale 0.25 --trace  # with a pipeline-like trace hook
    python benchmarks/compiled.py --only W4 --threads 1 --repeat 5

Both train the same 25 runs from the same Glorot-normal weights (engine.py's workloads,
full-batch gradient descent, float64). The NumPy engine runs with one BLAS thread, as in the
pipeline; the compiled trainer with ``--threads`` numba threads (default: every core), its
kernel loaded from numba's on-disk cache (``warm()`` first; a cold cache compiles it once,
20-30 s, reported separately). The final losses are checked for agreement first
(agreement.py), then the two are timed alternately in this one process, ``--repeat``
rounds; the medians of wall time and of process CPU time (all threads) are printed, with
their ratio.

``--trace`` adds the hook the pipeline's train job uses, in spirit: every 10 epochs the
weight and gradient norms of every layer, every 100 epochs copies of W, b, dW, db, z and a
(the default trace settings: norms_every 10, state_every 100, state [W, b], here with z and
a too, the most a recorder can ask for).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import threadpoolctl
from agreement import check_agreement, workload_key
from engine import RUNS, Workload, engine_train, time_alternately, workloads

import backproplab as bpl
from backproplab.engine.compiled import train_compiled, warm


class _Hook:
    """Norms every 10 epochs, every tensor every 100 (copied, as the recorder does)."""

    def __init__(self, epochs: int):
        self.state = set(range(0, epochs + 1, 100)) | {epochs}
        self.kept = 0

    def __call__(self, st) -> None:
        self.kept += st.weight_norms.size + st.grad_norms.size
        if st.epoch in self.state:
            arrays = [a for pair in st.params + st.grads for a in pair]
            arrays += list(st.z) + list(st.a)[1:]
            self.kept += sum(np.array(a, copy=True).size for a in arrays)


def _trace_args(w: Workload, trace: bool) -> dict:
    if not trace:
        return {}
    hook_epochs = sorted(set(range(0, w.epochs + 1, 10)) | {w.epochs})
    return {"on_trace": _Hook(w.epochs), "trace_at": hook_epochs}


def engine_run(w: Workload, params0: list, trace: bool = False) -> np.ndarray:
    if not trace:
        return engine_train(w, params0)
    result = bpl.train(
        w.model, params0, w.X, w.Y, lr=w.lr, epochs=w.epochs, metrics_every=w.epochs,
        diverge_factor=None, **_trace_args(w, trace),
    )  # fmt: skip
    return result.history["loss"][:, -1]


def compiled_run(w: Workload, params0: list, trace: bool = False) -> np.ndarray:
    # As engine_train: no loss-factor test, one record at the end.
    result = train_compiled(
        w.model, params0, w.X, w.Y, lr=w.lr, epochs=w.epochs, metrics_every=w.epochs,
        diverge_factor=None, **_trace_args(w, trace),
    )  # fmt: skip
    return result.history["loss"][:, -1]


def _header(threads: int) -> None:
    import numba

    print(f"python {platform.python_version()}, {os.cpu_count()} cpus ({platform.machine()})")
    print(f"numpy {np.__version__}, numba {numba.__version__}, numba threads {threads}")
    blas = [f"{p['internal_api']} {p['version']}" for p in threadpoolctl.threadpool_info()]
    print(f"BLAS: {', '.join(blas) or '-'} (the engine runs with 1 thread)")
    load = os.getloadavg()[0]
    print(
        f"load average {load:.1f} over the last minute"
        + (": other processes are running; the timings will be distorted" if load > 0.5 else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the epochs")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (median)")
    parser.add_argument("--only", default="", help="workloads to run, e.g. W1,W3")
    parser.add_argument("--threads", type=int, default=0, help="numba threads (0: all cores)")
    parser.add_argument("--trace", action="store_true", help="with a trace hook (see above)")
    args = parser.parse_args()
    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    selected = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    chosen = [w for w in workloads(args.scale) if not selected or workload_key(w) in selected]

    _header(numba.get_num_threads())
    started = time.perf_counter()
    info = warm()
    print(
        f"warm(): {time.perf_counter() - started:.2f} s "
        f"({'compiled' if info['cache_misses'] else 'from the cache'})"
    )
    print(f"scale {args.scale}, {args.repeat} rounds, {RUNS} runs, trace hook: {args.trace}\n")
    impls = {
        "engine": lambda w, p: engine_run(w, p, args.trace),
        "compiled": lambda w, p: compiled_run(w, p, args.trace),
    }
    summary = []
    with threadpoolctl.threadpool_limits(1):
        for w in chosen:
            params0 = w.model.init(range(RUNS), "glorot_normal")
            finals = {name: fn(w, params0) for name, fn in impls.items()}
            print(f"{w.name}: {w.epochs} epochs x {RUNS} runs, {len(w.X)} samples")
            check_agreement(w, params0, impls, finals)
            med = time_alternately(impls, w, params0, args.repeat)
            print(f"  {'impl':9s} {'wall s':>9s} {'cpu s':>9s} {'run-epochs/s':>14s}")
            for name, (tw, tc) in med.items():
                print(f"  {name:9s} {tw:9.4f} {tc:9.4f} {RUNS * w.epochs / tw:14,.0f}")
            ratio = med["compiled"][0] / med["engine"][0]
            cpu_ratio = med["compiled"][1] / med["engine"][1]
            print(f"  compiled/engine: wall {ratio:.3f}, cpu {cpu_ratio:.3f}\n")
            summary.append((workload_key(w), med, ratio, cpu_ratio))
    head = f"{'engine wall':>11s} {'compiled wall':>13s} {'wall ratio':>10s} {'cpu ratio':>9s}"
    print(f"summary        {head}")
    for key, med, ratio, cpu_ratio in summary:
        print(
            f"  {key:12s} {med['engine'][0]:11.3f} {med['compiled'][0]:13.3f} "
            f"{ratio:10.3f} {cpu_ratio:9.3f}"
        )


if __name__ == "__main__":
    main()
