"""Initialisers: the distributions they promise, and the legacy draw order."""

import numpy as np
import pytest

import backproplab as bpl

WIDE = [400, 300, 200]


@pytest.mark.parametrize(
    ("scheme", "std_of"),
    [
        ("lecun_normal", lambda n_in, n_out: np.sqrt(1 / n_in)),
        ("he_normal", lambda n_in, n_out: np.sqrt(2 / n_in)),
        ("glorot_normal", lambda n_in, n_out: np.sqrt(2 / (n_in + n_out))),
        ("glorot_uniform", lambda n_in, n_out: np.sqrt(6 / (n_in + n_out)) / np.sqrt(3)),
        ({"name": "normal", "mean": -1, "std": 1}, lambda n_in, n_out: 1.0),
        ({"name": "uniform", "low": -2, "high": 2}, lambda n_in, n_out: 4 / np.sqrt(12)),
    ],
    ids=str,
)
def test_scheme_statistics(scheme, std_of):
    model = bpl.MLP(WIDE, ["tanh", "sigmoid"], "mse")
    params = model.init([0], scheme)
    mean = scheme.get("mean", 0.0) if isinstance(scheme, dict) else 0.0
    for (W, b), n_in, n_out in zip(params, WIDE[:-1], WIDE[1:]):
        # 60,000+ draws: sample mean and std within ~5 standard errors.
        n = W.size
        assert abs(W.mean() - mean) < 5 * std_of(n_in, n_out) / np.sqrt(n)
        assert abs(W.std() / std_of(n_in, n_out) - 1) < 5 / np.sqrt(2 * n)
        np.testing.assert_array_equal(b, 0.0)


def test_legacy_draws_follow_the_moons_notebook_order():
    """Seed 002 draws per layer normal(-1, 1, (n_out, n_in)) then normal(-1, 1, n_out)."""
    sizes = [2, 16, 16, 1]
    model = bpl.MLP(sizes, ["relu", "relu", "sigmoid"], "bce")
    params = model.init(
        [7], {"name": "normal", "mean": -1, "std": 1}, bias="like_weights", rng="numpy_legacy"
    )
    rs = np.random.RandomState(7)
    for (W, b), n_in, n_out in zip(params, sizes[:-1], sizes[1:]):
        np.testing.assert_array_equal(W[0], rs.normal(-1, 1, (n_out, n_in)).T)
        np.testing.assert_array_equal(b[0], rs.normal(-1, 1, n_out))


def test_explicit_values_are_checked_against_the_sizes():
    model = bpl.MLP([2, 2, 1], ["sigmoid", "sigmoid"], "half_sse")
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(2, 2\), expected \(2, 1\)"):
        model.init([0], {"name": "explicit", "weights": [np.eye(2), np.eye(2)]})


def test_seedsequence_streams_differ_between_seeds_and_from_legacy():
    model = bpl.MLP([3, 4], ["tanh"], "mse")
    a = model.init([1, 2])[0][0]
    legacy = model.init([1], "lecun_normal", rng="numpy_legacy")[0][0]
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a[0], legacy[0])
