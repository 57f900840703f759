"""Published worked examples, reproduced to their printed digits."""

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import backproplab as bpl
from backproplab import config as cfg
from backproplab.datasets import spiral_draws

# The published numbers live in the config (validation.references), where the pipeline's
# references stage reads them too.
_CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
REFERENCES = cfg.validate(cfg.load(_CONFIG))["validation"]["references"]


def assert_printed(value: float, printed: str) -> None:
    """``value`` rounds to ``printed`` at the number of decimals printed."""
    decimals = -Decimal(printed).as_tuple().exponent
    assert abs(value - float(printed)) <= 0.5 * 10.0**-decimals, (value, printed)


# Matt Mazur, "A step by step backpropagation example" (2015), cited by seed 003.
MAZUR = REFERENCES["mazur"]
MAZUR_W1, MAZUR_W2 = MAZUR["weights"]  # W[i][j]: unit i -> unit j (w1, w3 / w2, w4 ...)
MAZUR_B = MAZUR["biases"]


def mazur():
    model = bpl.MLP([2, 2, 2], ["sigmoid", "sigmoid"], "half_sse")
    params = model.init(
        [0], {"name": "explicit", "weights": [MAZUR_W1, MAZUR_W2], "biases": MAZUR_B}
    )
    return model, params, np.array([MAZUR["inputs"]]), np.array([MAZUR["targets"]])


def test_mazur_one_step():
    model, params, X, Y = mazur()
    result = bpl.train(
        model,
        params,
        X,
        Y,
        lr=0.5,
        epochs=1,
        optimizer=bpl.GradientDescent(update_biases=False),
    )
    assert_printed(result.history["loss"][0, 0], MAZUR["error_before"])
    # (layer, i, j) of w1..w8: w1 i1->h1, w2 i2->h1, w3 i1->h2, w4 i2->h2, then w5..w8.
    where = [(0, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (1, 0, 0), (1, 1, 0), (1, 0, 1), (1, 1, 1)]
    published = dict(zip(where, MAZUR["weights_after_one_step"]))
    for (layer, i, j), printed in published.items():
        assert_printed(result.params[layer][0][0, i, j], printed)
    (_, b1), (_, b2) = result.params
    np.testing.assert_array_equal(b1[0], [0.35, 0.35])  # biases stay fixed
    np.testing.assert_array_equal(b2[0], [0.60, 0.60])


def test_mazur_ten_thousand_steps():
    model, params, X, Y = mazur()
    result = bpl.train(
        model,
        params,
        X,
        Y,
        lr=0.5,
        epochs=10_000,
        metrics_every=10_000,
        optimizer=bpl.GradientDescent(update_biases=False),
    )
    # Published: 0.0000351085 (after 9,999 updates, see the references stage); to two
    # significant figures 3.5e-05 either way.
    published = float(f"{float(MAZUR['error_after_steps']):.1e}")
    assert float(f"{result.history['loss'][0, -1]:.1e}") == published == 3.5e-05


# Seed 003: a linear 2-2-2-2 network (its "sigmoid" is defined but never applied), no
# biases, weights stored as (out, in), one sample; gradients printed as (out, in).
SEED003_REF = REFERENCES["seed003"]
SEED003 = dict(zip("xyz", SEED003_REF["weights"]))


def test_seed003_fixed_weight_linear_example():
    model = bpl.MLP([2, 2, 2, 2], ["identity"] * 3, "half_sse")
    weights = [np.array(SEED003[k]).T for k in "xyz"]
    params = model.init([0], {"name": "explicit", "weights": weights})
    X, Y = np.array([SEED003_REF["inputs"]]), np.array([SEED003_REF["targets"]])
    zs, acts = model.forward_cache(params, X)
    h2 = [float(v) for v in SEED003_REF["second_hidden_layer"]]
    np.testing.assert_allclose(acts[2][0, 0], h2, rtol=0, atol=1e-15)
    outputs = [float(v) for v in SEED003_REF["outputs"]]
    np.testing.assert_allclose(acts[3][0, 0], outputs, rtol=0, atol=1e-15)
    _, grads = model.loss_and_grads(params, X, Y)
    printed = np.array(SEED003_REF["gradients"], dtype=float)
    for (dW, _), p in zip(grads, printed):
        np.testing.assert_allclose(dW[0].T, p, rtol=0, atol=0.5e-8)
    result = bpl.train(
        model,
        params,
        X,
        Y,
        lr=SEED003_REF["lr"],
        epochs=1,
        optimizer=bpl.GradientDescent(update_biases=False),
    )
    updated = np.array(SEED003_REF["weights_after_one_step"], dtype=float)
    for (W, _), p in zip(result.params, updated):
        np.testing.assert_allclose(W[0].T, p, rtol=0, atol=0.5e-8)


# Seed 001: np.random.seed(42); data from its generator; then the weights, drawn as
# randn(n_out, n_in) * sqrt(1 / n_in) per layer.
SPIRAL_PRINTED = {  # epoch as printed: (loss, accuracy)
    e["epoch"]: (e["loss"], e["accuracy"]) for e in REFERENCES["seed001"]["log"]
}


def _notebook_spiral_reference():
    """Seed 001's code path with the global stream, as the notebook ran it."""
    state = np.random.get_state()
    try:
        np.random.seed(42)
        n, noise = 200, 0.3
        theta = np.sqrt(np.random.rand(n)) * 2 * np.pi
        r0 = 2 * theta + np.pi
        x0 = r0 * np.cos(theta) + np.random.randn(n) * noise
        y0 = r0 * np.sin(theta) + np.random.randn(n) * noise
        r1 = 2 * theta + np.pi
        x1 = -r1 * np.cos(theta) + np.random.randn(n) * noise
        y1 = -r1 * np.sin(theta) + np.random.randn(n) * noise
        X = np.vstack([np.hstack([x0, x1]), np.hstack([y0, y1])])
        X = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
        sizes = [2, 16, 8, 1]
        weights = [
            np.random.randn(sizes[i], sizes[i - 1]) * np.sqrt(1 / sizes[i - 1]) for i in range(1, 4)
        ]
    finally:
        np.random.set_state(state)
    return X, weights


@pytest.fixture(scope="module")
def spiral_legacy():
    X, y = spiral_draws(np.random.RandomState(42), n_samples=200, noise=0.3)
    model = bpl.MLP([2, 16, 8, 1], ["tanh", "tanh", "sigmoid"], "bce")
    params = model.init(
        [42],
        "lecun_normal",
        rng="numpy_legacy",
        legacy_prefix=lambda rs: spiral_draws(rs, n_samples=200, noise=0.3),
    )
    return model, params, X, y


def test_spiral_legacy_data_and_weights_are_the_notebooks_bit_for_bit(spiral_legacy):
    model, params, X, _ = spiral_legacy
    X_ref, weights_ref = _notebook_spiral_reference()
    np.testing.assert_array_equal(X, X_ref.T)
    for (W, b), W_ref in zip(params, weights_ref):
        np.testing.assert_array_equal(W[0], W_ref.T)
        np.testing.assert_array_equal(b[0], 0.0)


def test_spiral_legacy_printed_log_before_the_chaos(spiral_legacy):
    """Epoch 100 matches the printed digits, on every machine.

    The notebook prints the loss computed inside loop iteration ``k`` (1-based) before
    that iteration's update, which is our epoch ``k - 1``. Up to about epoch 120 the run
    is well conditioned (the next test: one-ulp nudges move epoch 99 by less than 1e-8).
    The printed epochs from 200 on are decided by rounding: which digits a machine gets
    depends on its kernels, so they are checked against their rounding bands instead
    (``tests/test_references.py``), never digit by digit.
    """
    model, params, X, y = spiral_legacy
    result = bpl.train(model, params, X, y, lr=0.5, epochs=100)
    printed_loss, printed_acc = SPIRAL_PRINTED[100]
    assert_printed(result.history["loss"][0][99], printed_loss)
    assert_printed(result.history["accuracy"][0][99], printed_acc)


def test_spiral_at_lr_half_amplifies_one_ulp(spiral_legacy):
    """Why no implementation can match the printed epochs 200-900: nudging one initial
    weight by one unit in the last place leaves epoch 99 within 1e-8 but moves the loss
    by more than 10% around epoch 150-200 (measured: up to 120% at 150, 18% at 199)."""
    model, params, X, y = spiral_legacy
    nudged = [(np.repeat(W, 9, axis=0), np.repeat(b, 9, axis=0)) for W, b in params]
    W0 = nudged[0][0]
    for i in range(1, 9):
        W0[i, 0, i - 1] = np.nextafter(W0[i, 0, i - 1], np.inf)
    loss = bpl.train(model, nudged, X, y, lr=0.5, epochs=200).history["loss"]
    spread = np.abs(loss[1:] / loss[0] - 1).max(axis=0)
    assert spread[99] < 1e-8
    assert spread[150:200].max() > 0.1
