"""Activation values and the row reductions against independent references.

The engine computes sigmoid, tanh and softmax from ``np.exp`` for speed; scipy and
``np.tanh`` are the references. Tolerances are stated in units in the last place (ulp)
or as absolute errors where a formula is known to lose relative precision.
"""

import numpy as np
import pytest
from scipy import special

from backproplab.engine import make_activation
from backproplab.engine.rows import row_max, row_sum

RNG = np.random.default_rng(20261123)
# Dense near 0, where rounding is hardest, plus the saturated tails and the overflow edge.
Z = np.concatenate(
    [
        RNG.normal(scale=0.01, size=2000),
        RNG.normal(scale=5.0, size=20000),
        np.linspace(-745.0, 745.0, 20001),
        [-1000.0, -709.8, -709.0, -1e-300, -0.0, 0.0, 1e-300, 709.0, 709.8, 1000.0],
    ]
).reshape(1, -1, 1)


def _ulps(x, ref):
    return np.abs(x - ref) / np.spacing(np.abs(ref))


def test_sigmoid_is_within_3_ulp_of_expit_wherever_expit_is_a_normal_float():
    a = make_activation("sigmoid").forward(Z)
    ref = special.expit(Z)
    normal = ref >= np.finfo(np.float64).tiny
    assert _ulps(a[normal], ref[normal]).max() <= 3
    # Below the normal range (z < -708.4) the value stays below the smallest normal
    # float: the argument of exp is capped at 709, so it is 1.2e-308 from z = -709 on.
    assert np.all(a[~normal] <= np.finfo(np.float64).tiny)
    assert np.all((a >= 0) & (a <= 1))


def test_tanh_is_within_3_ulp_of_1_of_numpy_and_exactly_odd():
    t = make_activation("tanh").forward(Z)
    ref = np.tanh(Z)
    assert np.abs(t - ref).max() <= 3.5e-16
    # Relative error is what the formula gives away near 0 (see the class docstring).
    away = np.abs(Z) >= 0.1
    assert (np.abs(t - ref)[away] / np.abs(ref[away])).max() <= 2e-15
    np.testing.assert_array_equal(make_activation("tanh").forward(-Z), -t)
    assert np.all(np.abs(t) <= 1)


def test_softmax_is_within_4_ulp_of_scipy_for_huge_and_tiny_logits():
    z = RNG.normal(scale=3.0, size=(3, 50, 10))
    z[0, :5] *= 300  # logits of about +-1000
    z[1, :5] = [-1000.0] * 9 + [1000.0]
    a = make_activation("softmax").forward(z)
    ref = special.softmax(z, axis=-1)
    normal = ref >= np.finfo(np.float64).tiny
    assert _ulps(a[normal], ref[normal]).max() <= 4
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=0, atol=4e-16)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "softmax"])
def test_activations_raise_no_floating_point_warning_at_1000(name):
    z = np.array([[[-1000.0, 0.0, 1000.0]]])
    # Underflow to 0 (exp(-1000)) is the right answer and stays allowed.
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        a = make_activation(name).forward(z)
        make_activation(name).backward(z, a, np.ones_like(z))


@pytest.mark.parametrize("k", [1, 3, 10, 32, 33, 100])
def test_row_reductions_match_numpy(k):
    z = RNG.normal(size=(4, 7, k))
    np.testing.assert_array_equal(row_max(z), np.max(z, axis=-1, keepdims=True))
    # Summation order differs from NumPy's: compare to the size of the terms.
    scale = np.sum(np.abs(z), axis=-1, keepdims=True)
    assert np.all(np.abs(row_sum(z) - np.sum(z, axis=-1, keepdims=True)) <= 4e-16 * scale)
    z[1, 2, k // 2] = np.nan
    assert np.isnan(row_max(z)[1, 2, 0])


def test_row_reductions_of_a_run_do_not_depend_on_the_other_runs():
    z = RNG.normal(size=(50, 9, 10))
    for r in (0, 17, 49):
        np.testing.assert_array_equal(row_max(z)[r], row_max(z[r : r + 1])[0])
        np.testing.assert_array_equal(row_sum(z)[r], row_sum(z[r : r + 1])[0])


@pytest.mark.parametrize("k", [2, 10, 40])
def test_cross_entropy_from_the_softmax_rows_is_the_same_to_the_bit(k):
    # The training loop lets the softmax keep each sample's maximum and sum of
    # exp(z - max) for the cross-entropy, instead of exponentiating z twice.
    from backproplab.engine import make_loss

    z = RNG.normal(scale=30.0, size=(5, 33, k))
    z[1, 4] = 800.0  # rows whose exp would overflow unshifted
    y = np.eye(k)[RNG.integers(0, k, 33)]
    y[3] = 0.25  # a row of soft targets
    rows = (np.empty((5, 33, 1)), np.empty((5, 33, 1)))
    softmax, ce = make_activation("softmax"), make_loss("cross_entropy")
    a = softmax.forward(z, rows=rows)
    np.testing.assert_array_equal(a, softmax.forward(z))
    np.testing.assert_array_equal(rows[0], row_max(z))
    kept = ce.value(z, a, y, scratch=np.empty_like(z), rows=rows)
    assert kept.tobytes() == ce.value(z, a, y).tobytes()
