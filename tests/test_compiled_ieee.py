"""The compiled trainer's exp, log and log1p from exact IEEE operations, and the engine's
tanh, sigmoid and softplus built on them (backproplab.engine.compiled.ieee).

Accuracy against NumPy (its libm) over dense ranges, as measured here:

- exp: at most 1 ulp where the result is normal, at most one unit of the smallest
  subnormal (4.9e-324) below; exact at the edges (overflow to inf from 709.79, 0 below
  -745.14, 1 at +-0 and for tiny arguments, inf, 0 and NaN for inf, -inf and NaN).
- log: at most 1 ulp over the whole positive range including subnormals; -inf at +-0,
  NaN below 0, inf at inf, 0 at 1.
- log1p: at most 1 ulp on (-1, inf); x itself for |x| < 2**-53 (sign of zero kept), -inf
  at -1, NaN below.
- tanh and sigmoid, the engine's formulas: tanh within 4.5e-16 absolute (2 ulp of 1) of
  the engine's Tanh (and of np.tanh), sigmoid within 4 ulp of the engine's Sigmoid; their
  differences are exp's ulp passed through the formula (tanh's 2 / (1 + t) - 1 cancels
  near 0, so only its absolute error is small there, in both implementations).
- softplus: within 2 ulp of np.logaddexp(0, z).

And the bits do not depend on vectorisation: an array computed in vector lanes equals the
same values computed one at a time (the scalar remainder loop).
"""

import numpy as np
import pytest

from backproplab.engine.activations import Sigmoid, Tanh
from backproplab.engine.compiled import ieee

TINY = np.finfo(np.float64).tiny  # smallest normal
SUB = 5e-324  # smallest subnormal
RNG = np.random.default_rng(0)


def ulps(got: np.ndarray, ref: np.ndarray) -> float:
    """Largest difference in units of the last place of ``ref`` (finite, nonzero refs)."""
    ok = np.isfinite(ref) & (ref != 0)
    return float(np.max(np.abs(got[ok] - ref[ok]) / np.spacing(np.abs(ref[ok]))))


def same_bits(got, ref) -> bool:
    """Equal to the bit (so also in the sign of zero), NaN where ``ref`` is NaN (whose sign
    bit NumPy's own loops do not agree on: its AVX2 log gives +NaN for log(-1), libm -NaN)."""
    got, ref = np.asarray(got), np.asarray(ref, dtype=np.float64)
    nan = np.isnan(ref)
    return np.array_equal(np.isnan(got), nan) and got[~nan].tobytes() == ref[~nan].tobytes()


def test_exp_within_one_ulp():
    x = np.concatenate([np.linspace(-745.2, 709.8, 2_000_001), RNG.uniform(-1, 1, 200_000)])
    with np.errstate(under="ignore", over="ignore"):
        got, ref = ieee.exp(x), np.exp(x)
    normal = ref >= TINY
    assert ulps(got[normal], ref[normal]) <= 1
    assert np.max(np.abs(got[~normal] - ref[~normal])) <= SUB


def test_exp_edges():
    x = np.array([0.0, -0.0, 1e-300, -1e-300, SUB, np.inf, -np.inf, np.nan, 709.78, 709.79,
                  710.0, 1e300, -745.13, -745.14, -746.0, -1e300])  # fmt: skip
    with np.errstate(under="ignore", over="ignore"):
        ref = np.exp(x)
    got = ieee.exp(x)
    assert same_bits(got[:8], ref[:8])
    assert np.isinf(got[9:12]).all() and got[8] == ref[8]
    assert got[12] == ref[12] and (got[13:] == 0).all()


def test_log_within_one_ulp():
    x = np.concatenate([
        np.exp(RNG.uniform(np.log(SUB), np.log(np.finfo(np.float64).max), 1_000_000)),
        np.linspace(0.5, 2.0, 1_000_001), 1 + RNG.uniform(-1e-6, 1e-6, 100_000),
    ])  # fmt: skip
    assert ulps(ieee.log(x), np.log(x)) <= 1


def test_log_edges():
    x = np.array([0.0, -0.0, 1.0, np.inf, -np.inf, np.nan, -1.0, -SUB, SUB, TINY,
                  np.finfo(np.float64).max])  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.log(x)
    assert same_bits(ieee.log(x), ref)


def test_log1p_within_one_ulp():
    x = np.concatenate([
        RNG.uniform(-1, 1, 1_000_000), np.linspace(-0.9999, 3, 1_000_001),
        np.exp(RNG.uniform(np.log(SUB), 700, 500_000)),
        -np.exp(RNG.uniform(np.log(SUB), -1e-9, 500_000)),
    ])  # fmt: skip
    assert ulps(ieee.log1p(x), np.log1p(x)) <= 1


def test_log1p_edges():
    x = np.array([0.0, -0.0, 2.0**-54, -(2.0**-54), SUB, -SUB, -1.0, -2.0, np.inf, -np.inf,
                  np.nan, 1e300])  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.log1p(x)
    assert same_bits(ieee.log1p(x), ref)


def test_tanh_and_sigmoid_are_the_engines_formulas():
    z = np.concatenate([np.linspace(-40, 40, 2_000_001), RNG.normal(0, 1e-3, 100_000),
                        np.linspace(-800, 800, 200_001)])  # fmt: skip
    t = ieee.tanh(z)
    assert np.max(np.abs(t - Tanh().forward(z.copy()))) <= 4.5e-16
    assert np.max(np.abs(t - np.tanh(z))) <= 4.5e-16
    assert ulps(ieee.sigmoid(z), Sigmoid().forward(z.copy())) <= 4
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 800.0, -800.0])
    with np.errstate(over="ignore", invalid="ignore"):
        assert same_bits(ieee.tanh(edges), Tanh().forward(edges.copy()))
        assert same_bits(ieee.sigmoid(edges), Sigmoid().forward(edges.copy()))


def test_softplus_is_logaddexp_of_zero():
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -1e-300])
    z = np.concatenate([np.linspace(-800, 800, 2_000_001), RNG.normal(0, 1e-3, 100_000), edges])
    with np.errstate(over="ignore", invalid="ignore"):
        ref = np.logaddexp(0.0, z)
    got = ieee.softplus(z)
    assert ulps(got, ref) <= 2
    assert same_bits(got[-7:], ref[-7:])


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "tanh", "sigmoid", "softplus"])
def test_vector_lanes_and_scalar_calls_give_the_same_bits(name):
    fn = getattr(ieee, name)
    x = np.concatenate([RNG.uniform(-30, 30, 3000), np.exp(RNG.uniform(-700, 700, 3000))])
    if name in ("log", "log1p"):
        x = np.abs(x)
    vector = fn(x)
    one_by_one = np.array([fn(x[i : i + 1])[0] for i in range(len(x))])
    assert same_bits(vector, one_by_one)
