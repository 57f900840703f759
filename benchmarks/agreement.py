"""Do two implementations agree on a workload's final losses? (benchmarks only)

Used by engine.py and peers.py before any timing: a benchmark of implementations that
compute different things measures nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

# Agreement of the final losses with the engine's, relative, per run. W3 (leaky ReLU,
# 20,000 epochs) is compared at 1e-6 rather than 1e-9: a pre-activation that rounds to the
# other side of the kink switches that sample's slope between 1 and 0.05, so rounding
# differences grow faster than on the smooth workloads. Measured at full length on the 16
# runs that rounding does not decide (see below): torch 8e-10, jax 2.5e-9 from the engine,
# as much as the engine's own final loss moves on some of them when its initial weights
# move by one ulp. 1e-6 leaves a 400x margin for another BLAS or CPU, while a slip as
# small as a leaky slope of 0.04 instead of 0.05 moves every run's loss by 6e-5 or more
# within 100 epochs.
RTOL = {"W1": 1e-9, "W2": 1e-9, "W3": 1e-6, "W4": 1e-9}

# Some runs are decided by rounding at full length: gradient descent at these learning
# rates reaches the edge of stability (the loss spikes and recovers), and a difference of
# one ulp then grows exponentially into another trajectory. Measured with the engine
# against itself on initial weights moved by one ulp (np.nextafter): every W2 run (lr 0.5)
# ends 1e-3 to 8e-1 apart at 1,000 epochs, the chaos setting in near epoch 100 (2e-10
# there, 4 at epoch 120); on W3, runs 5, 6, 9, 13, 14, 18, 19, 23 and 24 track each other
# to 1e-14 for 12,000 epochs, then end 7e-4 to 10x apart (with the weights scaled by
# 1 + 2**-52 instead, run 24 even diverges). W1 (3e-16 at 10,000 epochs) and W4 (1e-13 at
# 1,000) have none. No implementation is "right" on such a run: the loop, torch and jax
# differ from the engine by as much. So when a run disagrees beyond the tolerance, the
# engine is run once more on the moved weights; runs whose final loss then moves by more
# than RTOL * SENSITIVE are reported and left out, any other disagreement fails, and all
# runs are compared again over a tenth of the epochs (and so on, while rounding decides
# some).
SENSITIVE = 1 / 100


def workload_key(w) -> str:
    return w.name.split()[0]


def _relative(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|got - ref| / |ref| per run; 0 where both are NaN, inf where only one is."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(got - ref) / np.abs(ref)
    both_nan = np.isnan(got) & np.isnan(ref)
    return np.where(both_nan, 0.0, np.where(np.isnan(rel), np.inf, rel))


def check_agreement(
    w, params0: list, impls: dict[str, Callable], finals: dict[str, np.ndarray]
) -> None:
    """Assert every implementation's final losses agree with the engine's (see RTOL and
    SENSITIVE); ``finals`` are those of ``impls`` on ``w``."""
    key, ref = workload_key(w), finals["engine"]
    rtol = RTOL[key]
    rel = {name: _relative(got, ref) for name, got in finals.items() if name != "engine"}
    decided = np.zeros(len(ref), dtype=bool)  # runs decided by rounding
    if any(np.any(r > rtol) for r in rel.values()):
        moved = [(np.nextafter(W, np.inf), b) for W, b in params0]
        sensitivity = _relative(impls["engine"](w, moved), ref)
        decided = sensitivity > rtol * SENSITIVE
        runs = ", ".join(f"{r} ({sensitivity[r]:.0e})" for r in np.flatnonzero(decided))
        print(
            f"  {decided.sum()} of {len(ref)} runs decided by rounding (relative change of the"
            f" engine's final loss when its initial weights move by one ulp): {runs or 'none'}"
        )
    for name, r in rel.items():
        line = f"  {name:8s} vs engine: max relative difference {r.max():.1e}"
        if decided.any() and not decided.all():
            line += f", {r[~decided].max():.1e} on the other {np.sum(~decided)} runs"
        print(f"{line} (rtol {rtol:g})")
    for name, got in finals.items():
        np.testing.assert_allclose(
            got[~decided],
            ref[~decided],
            rtol=rtol,
            err_msg=f"{w.name}, {w.epochs} epochs: {name} disagrees with the engine"
            " on runs that rounding does not decide",
        )
    if decided.any():  # every run again, over a tenth of the epochs
        assert w.epochs > 1, f"{w.name}: rounding cannot decide a run in one epoch"
        short = replace(w, epochs=max(1, w.epochs // 10))
        print(f"  every run again, over {short.epochs} epochs:")
        check_agreement(
            short, params0, impls, {name: fn(short, params0) for name, fn in impls.items()}
        )
