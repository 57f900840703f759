"""The validation stage's central differences: the fast, cached-forward implementation
against the slow one-entry-at-a-time reference, kink flags, and directional differences."""

import numpy as np
import pytest

import backproplab as bpl
from backproplab.gradcheck import checks
from backproplab.gradcheck import differences as gc

LEAKY = {"name": "leaky_relu", "slope": 0.05}
NETWORKS = [
    ([3, 5, 4, 2], ["tanh", LEAKY, "sigmoid"], "bce"),
    ([3, 5, 4, 3], ["sigmoid", "relu", "softmax"], "cross_entropy"),
    ([3, 5, 3], ["tanh", "softmax"], "mse"),
    ([2, 4, 3, 2], ["identity", "sigmoid", "sigmoid"], "half_sse"),
    ([4, 2], ["tanh"], "mse"),
]


def _problem(sizes, loss, seed=0, n=7):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, sizes[0]))
    k = sizes[-1]
    if loss == "cross_entropy":
        Y = np.eye(k)[rng.integers(0, k, n)]
    elif loss == "bce":
        Y = rng.integers(0, 2, (n, k)).astype(float)
    else:
        Y = rng.uniform(0.1, 0.9, (n, k))
    return X, Y


@pytest.mark.parametrize(("sizes", "activations", "loss"), NETWORKS, ids=str)
def test_fast_differences_equal_the_reference(sizes, activations, loss):
    """Both evaluate the same central differences in long double; they differ only by
    the long-double rounding of the losses (about 1e-13 at a step of 1e-6)."""
    model = bpl.MLP(sizes, activations, loss)
    params = model.init([0, 1, 2], "glorot_normal", bias="like_weights")
    X, Y = _problem(sizes, loss)
    reference = gc.numerical_grads(model, params, X, Y, eps=1e-6)
    fast, kinked = gc.central_differences(model, params, X, Y, step=1e-6)
    _, analytic = model.loss_and_grads(params, X, Y)
    for (ref_W, ref_b), (W, b), (kW, kb), (aW, ab) in zip(reference, fast, kinked, analytic):
        np.testing.assert_allclose(W, ref_W, rtol=0, atol=1e-11)
        np.testing.assert_allclose(b, ref_b, rtol=0, atol=1e-11)
        assert not kW.any() and not kb.any()
        assert gc.relative_error(aW, W).max() < 1e-7
        assert gc.relative_error(ab, b).max() < 1e-7


def test_chunking_does_not_change_the_result(monkeypatch):
    model = bpl.MLP([4, 6, 3], ["tanh", "softmax"], "cross_entropy")
    params = model.init([0, 1], "glorot_normal", bias="like_weights")
    X, Y = _problem(model.sizes, "cross_entropy", n=9)
    whole, _ = gc.central_differences(model, params, X, Y)
    monkeypatch.setattr(gc, "_CHUNK_ELEMENTS", 50)  # a few entries per chunk
    chunked, _ = gc.central_differences(model, params, X, Y)
    for pair, other in zip(whole, chunked):
        for a, b in zip(pair, other):
            np.testing.assert_array_equal(a, b)


def _near_kink(offset):
    """A ReLU network whose unit 0 sits ``offset`` above its kink on sample 0."""
    model = bpl.MLP([2, 3, 1], ["relu", "sigmoid"], "bce")
    params = model.init([0], "glorot_normal", bias="like_weights")
    X = np.array([[1.0, 0.5], [0.3, -0.2], [-1.0, 0.7]])
    Y = np.array([[1.0], [0.0], [1.0]])
    z = model.forward_cache(params, X)[0][0]
    params[0][1][0, 0] -= z[0, 0, 0] - offset
    return model, params, X, Y


def test_entries_whose_difference_straddles_a_kink_are_flagged():
    model, params, X, Y = _near_kink(3e-7)
    _, kinked = gc.central_differences(model, params, X, Y, step=1e-6)
    # W[0][i, 0] moves z[0] of sample 0 by x_i * 1e-6 (1e-6 and 5e-7, both past 3e-7),
    # b[0][0] by 1e-6; nothing else reaches the kink.
    np.testing.assert_array_equal(kinked[0][0][0], [[True, False, False], [True, False, False]])
    np.testing.assert_array_equal(kinked[0][1][0], [True, False, False])
    assert not kinked[1][0].any() and not kinked[1][1].any()
    # A step too small to reach the kink flags nothing.
    _, none = gc.central_differences(model, params, X, Y, step=1e-7)
    assert not any(k.any() for pair in none for k in pair)


def test_kinked_entries_are_reported_apart_and_never_fail():
    model, params, X, Y = _near_kink(3e-7)
    _, grads = model.loss_and_grads(params, X, Y)
    settings = {
        "step": 1e-6,
        "directions": 20,
        "random_seed": 0,
        "max_relative_error": 1e-6,
        "max_absolute_error": 1e-10,
    }
    rows = {
        (r["layer"], r["tensor"]): r
        for r in checks.check_rows(model, params, X, Y, grads, settings)[0]
    }
    first = rows[(0, "W")]
    assert first["n_kinked"] == 2 and first["max_rel_error_kinked"] > 0.05
    assert first["max_rel_error"] < 1e-6 and first["passed"]
    assert all(r["passed"] for r in rows.values())


def _shifted(params, directions, d, h):
    """``params + h * directions[d]``, in long double (so that the step is not rounded to
    float64's resolution of the parameters)."""
    ld = np.longdouble
    return [
        (W.astype(ld) + h * V[:, d].astype(ld), b.astype(ld) + h * v[:, d].astype(ld))
        for (W, b), (V, v) in zip(params, directions)
    ]


def test_directional_differences_match_the_models_own_loss():
    model = bpl.MLP([3, 4, 2], ["tanh", "sigmoid"], "bce")
    params = model.init([0, 1], "glorot_normal", bias="like_weights")
    X, Y = _problem(model.sizes, "bce")
    directions = gc.random_directions(params, 5, seed=3)
    norms = sum(np.sum(V**2, axis=(2, 3)) + np.sum(v**2, axis=2) for V, v in directions)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)
    derivative, kinked = gc.directional_differences(model, params, X, Y, directions, 1e-6)
    assert derivative.shape == (2, 5) and not kinked.any()
    h = 1e-6
    Xl, Yl = X.astype(np.longdouble), Y.astype(np.longdouble)
    for d in range(5):
        up = model.loss_value(_shifted(params, directions, d, h), Xl, Yl)
        down = model.loss_value(_shifted(params, directions, d, -h), Xl, Yl)
        expected = ((up - down) / (2 * h)).astype(float)
        np.testing.assert_allclose(derivative[:, d], expected, rtol=0, atol=1e-11)
    _, grads = model.loss_and_grads(params, X, Y)
    _, check = gc.check_gradients(model, params, X, Y, grads, 1e-6, 50, seed=0)
    assert gc.relative_error(check.analytic, check.numeric).max() < 1e-7


def test_a_wrong_gradient_fails_entry_by_entry_and_along_directions():
    model = bpl.MLP([3, 4, 2], ["tanh", "sigmoid"], "bce")
    params = model.init([0], "glorot_normal", bias="like_weights")
    X, Y = _problem(model.sizes, "bce")
    _, grads = model.loss_and_grads(params, X, Y)
    grads[0] = (grads[0][0] * 1.001, grads[0][1])  # 0.1% off in one tensor
    tensors, directions = gc.check_gradients(model, params, X, Y, grads, 1e-6, 50)
    rows = {(t.layer, t.tensor): gc.tensor_row(t, 0, 1e-6, 1e-10) for t in tensors}
    assert not rows[(0, "W")]["passed"] and rows[(0, "W")]["n_failed"] == 12
    assert all(r["passed"] for key, r in rows.items() if key != (0, "W"))
    assert not gc.direction_row(directions, 0, 1e-6, 1e-10)["passed"]
