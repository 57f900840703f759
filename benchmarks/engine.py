"""Run-epochs per second: the batched engine against a one-run-at-a-time NumPy loop.

Run by hand (never in CI)::

    python benchmarks/engine.py            # the four workloads at full length
    python benchmarks/engine.py --scale 0.1  # a tenth of the epochs, for a quick look

Both implementations train the same 25 runs from the same initial weights with full-batch
gradient descent, in float64, in this one process, alternately, and are checked to agree
on the final losses first (agreement.py: runs whose outcome rounding decides are
compared over fewer epochs). Targets (issue 2): the engine at least 10x the loop on W1, 2x
on W2 and W3, and no slower on W4.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
from agreement import check_agreement
from scipy import special

import backproplab as bpl
from backproplab import datasets

RUNS = 25


@dataclass
class Workload:
    name: str
    model: bpl.MLP
    X: np.ndarray
    Y: np.ndarray
    lr: float
    epochs: int


def workloads(scale: float) -> list[Workload]:
    leaky = {"name": "leaky_relu", "slope": 0.05}
    enc = datasets.encoder(8)
    spi = datasets.spiral(seed=0, n_samples=200, noise=0.3)
    moo = datasets.moons().part("train")
    dig = datasets.digits().part("train")
    e = lambda n: max(1, int(n * scale))  # noqa: E731
    return [
        Workload(
            "W1 8-3-8 sigmoid/mse",
            bpl.MLP([8, 3, 8], ["sigmoid", "sigmoid"], "mse"),
            enc.X,
            enc.Y,
            0.2,
            e(10_000),
        ),
        Workload(
            "W2 spiral 2-16-8-1 tanh/bce",
            bpl.MLP([2, 16, 8, 1], ["tanh", "tanh", "sigmoid"], "bce"),
            spi.X,
            spi.Y,
            0.5,
            e(1_000),
        ),
        Workload(
            "W3 moons 2-16-16-1 leaky/bce",
            bpl.MLP([2, 16, 16, 1], [leaky, leaky, "sigmoid"], "bce"),
            *moo,
            0.25,
            e(20_000),
        ),
        Workload(
            "W4 digits 64-32-10 tanh/ce",
            bpl.MLP([64, 32, 10], ["tanh", "softmax"], "cross_entropy"),
            *dig,
            0.5,
            e(2_000),
        ),
    ]


# -- the peer: what a careful person writes for one run at a time ------------------------

_ACT = {
    "sigmoid": (special.expit, lambda a, z: a * (1 - a)),
    "tanh": (np.tanh, lambda a, z: 1 - a * a),
    "leaky_relu": (lambda z: np.maximum(z, 0.05 * z), lambda a, z: np.where(z > 0, 1.0, 0.05)),
}


def loop_train(w: Workload, params0: list) -> np.ndarray:
    """Train each run on its own with 2-D arrays; returns the final losses, shape (R,)."""
    names = [a.name for a in w.model.activations]
    loss_name = w.model.loss.name
    n, k = w.Y.shape
    finals = []
    for r in range(RUNS):
        Ws = [W[r].copy() for W, _ in params0]
        bs = [b[r].copy() for _, b in params0]
        for _ in range(w.epochs + 1):
            acts, zs = [w.X], []
            for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
                z = acts[-1] @ W + b
                if i == len(Ws) - 1 and names[i] == "softmax":
                    a = special.softmax(z, axis=1)
                else:
                    a = _ACT[names[i]][0](z)
                zs.append(z)
                acts.append(a)
            a = acts[-1]
            if loss_name == "mse":
                loss = np.mean((a - w.Y) ** 2)
                dz = 2 * (a - w.Y) / (n * k) * a * (1 - a)
            elif loss_name == "bce":
                loss = np.mean(np.logaddexp(0, zs[-1]) - w.Y * zs[-1])
                dz = (a - w.Y) / (n * k)
            else:
                loss = -np.sum(w.Y * special.log_softmax(zs[-1], axis=1)) / n
                dz = (a - w.Y) / n
            for i in range(len(Ws) - 1, -1, -1):
                dW = acts[i].T @ dz
                db = dz.sum(axis=0)
                if i:
                    dz = (dz @ Ws[i].T) * _ACT[names[i - 1]][1](acts[i], zs[i - 1])
                Ws[i] = Ws[i] - w.lr * dW
                bs[i] = bs[i] - w.lr * db
        finals.append(loss)  # the loss after w.epochs updates (our epoch w.epochs)
    return np.array(finals)


def engine_train(w: Workload, params0: list) -> np.ndarray:
    # The peers stop a run only when its loss is no longer finite; so does the engine here.
    # Its default also retires a run whose loss passes 10x the initial loss, which at the
    # edge of stability can catch a transient spike (W3's run 24 at full length). The
    # check still runs every epoch, against the largest finite float: same work, same time.
    result = bpl.train(
        w.model,
        params0,
        w.X,
        w.Y,
        lr=w.lr,
        epochs=w.epochs,
        metrics_every=w.epochs,
        diverge_factor=None,
    )
    return result.history["loss"][:, -1]


def time_alternately(impls: dict, w: Workload, params0: list, repeat: int):
    """Median wall and process CPU seconds of each implementation on ``w``, the
    implementations called in turn ``repeat`` rounds (so that a slow spell of the
    machine falls on all of them): ``{name: (wall, cpu)}``."""
    wall: dict[str, list[float]] = {name: [] for name in impls}
    cpu: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(repeat):
        for name, fn in impls.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn(w, params0)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {name: (float(np.median(wall[name])), float(np.median(cpu[name]))) for name in impls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the epochs")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (median)")
    args = parser.parse_args()
    print(f"{'workload':32s} {'engine run-ep/s':>16s} {'loop run-ep/s':>14s} {'ratio':>7s}")
    for w in workloads(args.scale):
        params0 = w.model.init(range(RUNS), "glorot_normal")
        impls = {"engine": engine_train, "loop": loop_train}
        check_agreement(w, params0, impls, {name: fn(w, params0) for name, fn in impls.items()})
        times = {"engine": [], "loop": []}
        for _ in range(args.repeat):
            for name, fn in (("engine", engine_train), ("loop", loop_train)):
                t0 = time.perf_counter()
                fn(w, params0)
                times[name].append(time.perf_counter() - t0)
        work = RUNS * w.epochs
        te, tl = np.median(times["engine"]), np.median(times["loop"])
        print(f"{w.name:32s} {work / te:16,.0f} {work / tl:14,.0f} {tl / te:6.1f}x")


if __name__ == "__main__":
    main()
