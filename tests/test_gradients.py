"""Backpropagation against central finite differences, in float64.

Tolerance: every entry of every gradient agrees with the central difference (step 1e-6)
to a relative error |a - n| / max(1e-12, |a| + |n|) below 1e-7, for every activation x
loss pair that makes sense, at depths 1 to 3, with R = 3 runs.
"""

import itertools

import numpy as np
import pytest

import backproplab as bpl
from backproplab.gradcheck.differences import numerical_grads, relative_error

HIDDEN = ["identity", "sigmoid", "tanh", "relu", {"name": "leaky_relu", "slope": 0.05}]
OUTPUT_LOSS = [
    (out, loss)
    for loss in ["mse", "half_sse"]
    for out in ["identity", "sigmoid", "tanh", "leaky_relu", "relu", "softmax"]
] + [("sigmoid", "bce"), ("softmax", "cross_entropy")]
TOLERANCE = 1e-7


def _problem(sizes, out, loss, seed):
    rng = np.random.default_rng(seed)
    n, k = 7, sizes[-1]
    X = rng.normal(size=(n, sizes[0]))
    X[np.abs(X) < 0.05] = 0.5  # no near-zero input, so every weight matters
    if loss == "cross_entropy":
        Y = np.eye(k)[rng.integers(0, k, size=n)]
    elif loss == "bce":
        Y = rng.integers(0, 2, size=(n, k)).astype(float)
    else:
        Y = rng.uniform(0.1, 0.9, size=(n, k))
    return X, Y


def _kink_distance(model, params, X):
    """Smallest |z| over layers whose activation has a kink at 0 (inf if none)."""
    zs, _ = model.forward_cache(params, X)
    kinked = [np.min(np.abs(z)) for act, z in zip(model.activations, zs) if act.kink() is not None]
    return min(kinked, default=np.inf)


def _away_from_kinks(model, params, sizes, out, loss):
    """The first of a fixed list of data seeds whose pre-activations avoid ReLU kinks."""
    for seed in range(20):
        X, Y = _problem(sizes, out, loss, seed)
        if _kink_distance(model, params, X) > 1e-3:
            return X, Y
    raise AssertionError("no data seed keeps the test point away from the kinks")


def _assert_matches(model, params, X, Y):
    assert _kink_distance(model, params, X) > 1e-3
    _, analytic = model.loss_and_grads(params, X, Y)
    numeric = numerical_grads(model, params, X, Y, eps=1e-6)
    for layer, (a_pair, n_pair) in enumerate(zip(analytic, numeric)):
        for tensor, a, n in zip("Wb", a_pair, n_pair):
            assert a.shape == n.shape
            err = relative_error(a, n).max()
            assert err < TOLERANCE, f"layer {layer} {tensor}: max relative error {err:.2e}"


@pytest.mark.parametrize(("out", "loss"), OUTPUT_LOSS, ids=lambda v: str(v))
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_gradients_match_central_differences(out, loss, depth):
    hidden_cycle = itertools.cycle(HIDDEN[depth % len(HIDDEN) :] + HIDDEN[: depth % len(HIDDEN)])
    k = 3 if out == "softmax" or loss == "cross_entropy" else 2
    sizes = [4] + [5, 3][: depth - 1] + [k]
    activations = [next(hidden_cycle) for _ in range(depth - 1)] + [out]
    model = bpl.MLP(sizes, activations, loss)
    params = model.init(
        [11, 12, 13], {"name": "normal", "mean": 0.0, "std": 0.8}, bias="like_weights"
    )
    X, Y = _away_from_kinks(model, params, sizes, out, loss)
    _assert_matches(model, params, X, Y)


@pytest.mark.parametrize("hidden", HIDDEN, ids=str)
def test_every_hidden_activation_in_a_deep_net(hidden):
    model = bpl.MLP([3, 6, 5, 4, 2], [hidden, hidden, "tanh", "sigmoid"], "bce")
    params = model.init([1, 2, 3, 4], "glorot_normal", bias="like_weights")
    X, Y = _away_from_kinks(model, params, model.sizes, "sigmoid", "bce")
    _assert_matches(model, params, X, Y)


@pytest.mark.parametrize(("out", "loss"), [("sigmoid", "bce"), ("softmax", "cross_entropy")])
def test_fused_losses_are_stable_for_huge_logits(out, loss):
    """Logits of +-1000 give finite losses and gradients, with no warnings (pytest makes
    RuntimeWarning an error), and the exact limiting values."""
    model = bpl.MLP([2, 2], [out], loss)
    W = np.array([[[1000.0, -1000.0], [0.0, 0.0]]])
    params = [(W, np.zeros((1, 2)))]
    X = np.array([[1.0, 0.0], [-1.0, 0.0]])
    Y = np.array([[1.0, 0.0], [1.0, 0.0]])
    loss_value, grads = model.loss_and_grads(params, X, Y)
    assert np.all(np.isfinite(loss_value))
    assert all(np.all(np.isfinite(g)) for pair in grads for g in pair)
    # Sample 1 is right with certainty (loss 0); sample 2 is wrong by a margin of 1000
    # (bce: 1000 per output averaged over 2 outputs; cross_entropy: 2000 = 1000 - (-1000)).
    expected = {"bce": (0 + 1000 + 0 + 1000) / 4, "cross_entropy": (0 + 2000) / 2}[loss]
    assert loss_value[0] == pytest.approx(expected, rel=1e-12)


def test_the_check_catches_a_wrong_derivative(monkeypatch):
    """A tanh derivative off by a factor (1 - a^2 -> 1 - a) fails the comparison."""
    from backproplab.engine.activations import Tanh

    monkeypatch.setattr(Tanh, "backward", lambda self, z, a, g, out=None: g * (1.0 - a))
    model = bpl.MLP([3, 4, 2], ["tanh", "sigmoid"], "bce")
    params = model.init([0, 1], "glorot_normal")
    X, Y = _problem(model.sizes, "sigmoid", "bce", seed=0)
    with pytest.raises(AssertionError, match="layer 0"):
        _assert_matches(model, params, X, Y)


def test_softmax_under_mse_uses_the_full_jacobian():
    """softmax with an unfused loss goes through the softmax Jacobian-vector product."""
    model = bpl.MLP([3, 4], ["softmax"], "mse")
    params = model.init([0, 1], "glorot_uniform", bias="like_weights")
    X, Y = _problem(model.sizes, "softmax", "mse", seed=9)
    _assert_matches(model, params, X, Y)
