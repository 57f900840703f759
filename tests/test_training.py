"""The training loop: batch independence, divergence, purity, update-rule options."""

import numpy as np
import pytest

import backproplab as bpl
from backproplab.datasets import moons, spiral

SPIRAL = spiral(seed=3, n_samples=40, noise=0.3)


def _spiral_model():
    return bpl.MLP([2, 16, 8, 1], ["tanh", "tanh", "sigmoid"], "bce")


def _assert_runs_equal(result, r, alone):
    for (W, b), (Wa, ba) in zip(result.params, alone.params):
        np.testing.assert_array_equal(W[r], Wa[0])
        np.testing.assert_array_equal(b[r], ba[0])
    for key, values in alone.history.items():
        if key != "epoch":
            np.testing.assert_array_equal(result.history[key][r], values[0], err_msg=key)
    assert result.status[r] == alone.status[0]
    assert result.diverged_epoch[r] == alone.diverged_epoch[0]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"batch_size": 16},
        {"batch_size": 1, "shuffle": False},
        {"optimizer": bpl.GradientDescent(momentum=0.9, clip=0.5)},
    ],
    ids=["full-batch", "shuffled-minibatch", "online", "momentum-clip"],
)
def test_a_run_alone_equals_the_same_run_in_a_block_of_50(options):
    model = _spiral_model()
    X, Y = SPIRAL.X, SPIRAL.Y
    seeds = list(range(100, 150))
    lrs = np.geomspace(0.01, 2.0, 50)
    block = bpl.train(
        model, model.init(seeds), X, Y, lr=lrs, epochs=30, seeds=seeds, metrics=["mse"], **options
    )
    for r in (0, 17, 49):
        alone = bpl.train(
            model,
            model.init([seeds[r]]),
            X,
            Y,
            lr=lrs[r],
            epochs=30,
            seeds=[seeds[r]],
            metrics=["mse"],
            **options,
        )
        _assert_runs_equal(block, r, alone)


@pytest.mark.parametrize(
    "model",
    [
        bpl.MLP([2, 12, 3], [{"name": "leaky_relu", "slope": 0.05}, "softmax"], "cross_entropy"),
        bpl.MLP([2, 9, 7, 2], ["relu", "sigmoid", "sigmoid"], "mse"),
        bpl.MLP([2, 40, 1], ["tanh", "identity"], "half_sse"),
    ],
    ids=["leaky-softmax-ce", "relu-sigmoid-mse", "wide-tanh-identity"],
)
def test_every_layer_kind_is_batch_independent(model):
    X = SPIRAL.X
    k = model.sizes[-1]
    Y = np.eye(k)[(SPIRAL.Y[:, 0] > 0.5).astype(int) % k] if k > 1 else SPIRAL.Y
    seeds = list(range(50))
    lrs = np.geomspace(0.01, 1.0, 50)
    block = bpl.train(model, model.init(seeds), X, Y, lr=lrs, epochs=20, metrics=["mse"])
    for r in (0, 31, 49):
        alone = bpl.train(model, model.init([r]), X, Y, lr=lrs[r], epochs=20, metrics=["mse"])
        _assert_runs_equal(block, r, alone)


def test_initial_parameters_do_not_depend_on_the_other_seeds():
    model = _spiral_model()
    block = model.init([5, 6, 7], "he_normal", bias="like_weights")
    alone = model.init([6], "he_normal", bias="like_weights")
    for (W, b), (Wa, ba) in zip(block, alone):
        np.testing.assert_array_equal(W[1], Wa[0])
        np.testing.assert_array_equal(b[1], ba[0])
    assert not np.array_equal(block[0][0][0], block[0][0][1])


def test_divergence_is_recorded_and_does_not_disturb_the_block():
    """An identity-output regression at lr 50 blows up to inf/NaN; its neighbours don't."""
    model = bpl.MLP([2, 8, 1], ["tanh", "identity"], "mse")
    X = SPIRAL.X
    Y = 3.0 * X[:, :1] - X[:, 1:]
    lrs = [0.05, 50.0, 0.1]
    result = bpl.train(model, model.init([1, 2, 3]), X, Y, lr=lrs, epochs=200)
    assert result.status == ["ok", "diverged", "ok"]
    epoch = result.diverged_epoch[1]
    assert epoch is not None and 0 < epoch < 200
    assert result.diverged_epoch[0] is None and result.diverged_epoch[2] is None
    assert np.isnan(result.history["loss"][1, epoch:]).all()
    assert np.isfinite(result.history["loss"][1, :epoch]).all()
    alone = bpl.train(model, model.init([3]), X, Y, lr=0.1, epochs=200)
    _assert_runs_equal(result, 2, alone)
    alone = bpl.train(model, model.init([2]), X, Y, lr=50.0, epochs=200)
    _assert_runs_equal(result, 1, alone)


def test_train_and_friends_never_mutate_their_arguments():
    model = _spiral_model()
    params = model.init([0, 1])
    X, Y = SPIRAL.X.copy(), SPIRAL.Y.copy()
    before = [(W.copy(), b.copy()) for W, b in params]
    model.forward(params, X)
    model.loss_and_grads(params, X, Y)
    result = bpl.train(
        model, params, X, Y, lr=0.5, epochs=5, optimizer=bpl.GradientDescent(momentum=0.5)
    )
    for (W, b), (W0, b0), (W1, _) in zip(params, before, result.params):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)
        assert not np.shares_memory(W, W1)
    np.testing.assert_array_equal(X, SPIRAL.X)
    np.testing.assert_array_equal(Y, SPIRAL.Y)


def test_float32_stays_float32_and_tracks_float64():
    model = _spiral_model()
    p64 = model.init([4])
    p32 = model.init([4], dtype=np.float32)
    r64 = bpl.train(model, p64, SPIRAL.X, SPIRAL.Y, lr=0.5, epochs=50)
    r32 = bpl.train(model, p32, SPIRAL.X, SPIRAL.Y, lr=0.5, epochs=50)
    assert all(W.dtype == np.float32 and b.dtype == np.float32 for W, b in r32.params)
    np.testing.assert_allclose(r32.history["loss"], r64.history["loss"], rtol=1e-4)


def test_one_step_is_plain_gradient_descent():
    model = _spiral_model()
    params = model.init([8])
    _, grads = model.loss_and_grads(params, SPIRAL.X, SPIRAL.Y)
    result = bpl.train(model, params, SPIRAL.X, SPIRAL.Y, lr=0.3, epochs=1)
    # The loop computes the first layer as [X, 1] @ [W; b], which rounds differently
    # from X @ W + b: equal to a few ulp, not bit for bit.
    for (W, b), (dW, db), (W1, b1) in zip(params, grads, result.params):
        np.testing.assert_allclose(W1, W - 0.3 * dW, rtol=2e-15, atol=1e-17)
        np.testing.assert_allclose(b1, b - 0.3 * db, rtol=2e-15, atol=1e-17)
    # The step itself is exact: with the loop's own gradients (seen by the trace hook),
    # the new parameters are W - lr dW bit for bit.
    seen = {}

    def keep_gradients(state):  # called at epoch 0 and at the last epoch
        if state.epoch == 0:
            seen["grads"] = [(dW.copy(), db.copy()) for dW, db in state.grads]

    again = bpl.train(
        model, params, SPIRAL.X, SPIRAL.Y, lr=0.3, epochs=1, trace_at=[0], on_trace=keep_gradients
    )
    for (W, b), (dW, db), (W1, b1) in zip(params, seen["grads"], again.params):
        np.testing.assert_array_equal(W1, W - 0.3 * dW)
        np.testing.assert_array_equal(b1, b - 0.3 * db)


def test_clipping_and_momentum_follow_their_definitions():
    model = _spiral_model()
    params = model.init([8])
    X, Y = SPIRAL.X, SPIRAL.Y
    mu, c, lr = 0.9, 0.01, 0.3
    expected, velocity = params, None
    for _ in range(3):
        _, grads = model.loss_and_grads(expected, X, Y)
        grads = [(np.clip(dW, -c, c), np.clip(db, -c, c)) for dW, db in grads]
        velocity = (
            grads
            if velocity is None
            else [(mu * vW + dW, mu * vb + db) for (vW, vb), (dW, db) in zip(velocity, grads)]
        )
        expected = [(W - lr * vW, b - lr * vb) for (W, b), (vW, vb) in zip(expected, velocity)]
    result = bpl.train(
        model, params, X, Y, lr=lr, epochs=3, optimizer=bpl.GradientDescent(momentum=mu, clip=c)
    )
    for (W, b), (We, be) in zip(result.params, expected):
        np.testing.assert_allclose(W, We, rtol=0, atol=1e-15)
        np.testing.assert_allclose(b, be, rtol=0, atol=1e-15)
    assert any(np.abs(dW).max() > c for dW, _ in model.loss_and_grads(params, X, Y)[1])


def test_online_updates_visit_samples_in_order():
    model = bpl.MLP([2, 3, 2], ["sigmoid", "sigmoid"], "half_sse")
    params = model.init([0], "uniform")
    X, Y = SPIRAL.X[:5], np.eye(2)[SPIRAL.Y[:5, 0].astype(int)]
    expected = params
    for _ in range(2):
        for i in range(5):
            _, grads = model.loss_and_grads(expected, X[i : i + 1], Y[i : i + 1])
            expected = [(W - 0.5 * dW, b - 0.5 * db) for (W, b), (dW, db) in zip(expected, grads)]
    result = bpl.train(model, params, X, Y, lr=0.5, epochs=2, batch_size=1, shuffle=False)
    for (W, b), (We, be) in zip(result.params, expected):
        np.testing.assert_array_equal(W, We)
        np.testing.assert_array_equal(b, be)


def test_fixed_biases_stay_fixed():
    model = _spiral_model()
    params = model.init([1], bias="like_weights")
    result = bpl.train(
        model,
        params,
        SPIRAL.X,
        SPIRAL.Y,
        lr=0.5,
        epochs=3,
        optimizer=bpl.GradientDescent(update_biases=False),
    )
    for (_, b), (_, b1) in zip(params, result.params):
        np.testing.assert_array_equal(b, b1)


def test_metrics_schedule_extra_metrics_and_eval_sets():
    ds = moons()
    X, Y = ds.part("train")
    Xt, Yt = ds.part("test")
    model = bpl.MLP(
        [2, 16, 16, 1], [{"name": "leaky_relu", "slope": 0.05}] * 2 + ["sigmoid"], "bce"
    )
    result = bpl.train(
        model,
        model.init([0, 1]),
        X,
        Y,
        lr=0.25,
        epochs=25,
        metrics_every=10,
        metrics=["mse"],
        eval_sets={"test": (Xt, Yt)},
    )
    np.testing.assert_array_equal(result.history["epoch"], [0, 10, 20, 25])
    assert set(result.history) == {"epoch", "loss", "accuracy", "mse", "test_loss", "test_accuracy"}
    final = model.forward(result.params, Xt)
    np.testing.assert_allclose(
        result.history["test_loss"][:, -1], model.loss_value(result.params, Xt, Yt), rtol=1e-15
    )
    np.testing.assert_allclose(
        result.history["test_accuracy"][:, -1], ((final[..., 0] > 0.5) == Yt[:, 0]).mean(-1)
    )
    mse = ((model.forward(result.params, X) - Y) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(result.history["mse"][:, -1], mse, rtol=1e-14)


def test_trace_hook_sees_the_state_at_the_recorded_epochs():
    model = _spiral_model()
    params = model.init([0, 1, 2])
    seen = []

    def record(state):
        loss, grads = model.loss_and_grads(state.params, SPIRAL.X, SPIRAL.Y)
        np.testing.assert_array_equal(state.loss, loss)
        for (g, _), (h, _) in zip(state.grads, grads):
            np.testing.assert_array_equal(g, h)
        norms = np.array([[np.linalg.norm(W[r]) for W, _ in state.params] for r in range(3)])
        np.testing.assert_allclose(state.weight_norms, norms, rtol=1e-14)
        assert state.z[0].shape == (3, len(SPIRAL.X), 16) and state.a[0] is not None
        seen.append(state.epoch)

    result = bpl.train(
        model, params, SPIRAL.X, SPIRAL.Y, lr=0.5, epochs=7, trace_every=3, on_trace=record
    )
    assert seen == [0, 3, 6, 7] == result.trace_epochs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sizes": [2, 3], "activations": ["tanh", "tanh"], "loss": "mse"}, "need 1 activations"),
        (
            {"sizes": [2, 3, 1], "activations": ["softmax", "sigmoid"], "loss": "bce"},
            "only valid on the output layer",
        ),
        ({"sizes": [2, 1], "activations": ["softmax"], "loss": "cross_entropy"}, "at least 2"),
        ({"sizes": [2, 1], "activations": ["tanh"], "loss": "bce"}, "needs a 'sigmoid' output"),
        ({"sizes": [2, 1], "activations": ["swish"], "loss": "mse"}, "unknown activation 'swish'"),
        (
            {"sizes": [2, 1], "activations": [{"name": "leaky_relu", "alpha": 1}], "loss": "mse"},
            "takes parameters",
        ),
        ({"sizes": [2, 1], "activations": ["tanh"], "loss": "hinge"}, "unknown loss 'hinge'"),
    ],
)
def test_bad_model_descriptions_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bpl.MLP(**kwargs)


def test_bad_training_arguments_are_refused_with_a_reason():
    model = _spiral_model()
    params = model.init([0, 1])
    with pytest.raises(ValueError, match="positive and finite"):
        bpl.train(model, params, SPIRAL.X, SPIRAL.Y, lr=[0.1, -1.0], epochs=1)
    with pytest.raises(ValueError, match="one seed per run"):
        bpl.train(model, params, SPIRAL.X, SPIRAL.Y, lr=0.1, epochs=1, batch_size=4)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\)"):
        bpl.train(model, params, SPIRAL.X[:, :1], SPIRAL.Y, lr=0.1, epochs=1)
    with pytest.raises(ValueError, match="Y must have shape"):
        bpl.train(model, params, SPIRAL.X, SPIRAL.Y[:5], lr=0.1, epochs=1)
    with pytest.raises(ValueError, match="unknown init scheme 'xavier'"):
        model.init([0], "xavier")


def test_divergence_by_loss_growth_and_by_parameter_bound():
    """At lr 1e3 the softmax/cross-entropy 8-3-8 encoder's loss grows hundreds of times
    past its initial value while staying finite: diverged (loss factor 10). Weights past
    the bound are diverged too. The lr 0.5 runs are untouched."""
    from backproplab.datasets import encoder

    d = encoder(8)
    model = bpl.MLP([8, 3, 8], ["sigmoid", "softmax"], "cross_entropy")
    params = model.init([0, 1], {"name": "normal", "mean": 0, "std": 1})
    result = bpl.train(model, params, d.X, d.Y, lr=[0.5, 1e3], epochs=2000)
    assert result.status == ["ok", "diverged"]
    epoch = result.diverged_epoch[1]
    assert 0 < epoch < 2000
    loss = result.history["loss"][1]
    assert np.isfinite(loss[:epoch]).all() and loss[epoch - 1] <= 10 * loss[0]
    unchecked = bpl.train(model, params, d.X, d.Y, lr=[0.5, 1e3], epochs=2000, diverge_factor=None)
    assert unchecked.status == ["ok", "ok"]
    assert unchecked.history["loss"][1, -1] > 100 * unchecked.history["loss"][1, 0]
    bounded = bpl.train(
        model, params, d.X, d.Y, lr=[0.5, 1e3], epochs=2000, diverge_factor=None, diverge_above=50.0
    )
    assert bounded.status == ["ok", "diverged"]
    np.testing.assert_array_equal(bounded.params[0][0][0], result.params[0][0][0])


def test_the_parameter_bound_is_checked_every_10_epochs():
    """A weight past ``diverge_above`` freezes its run at the next multiple of 10 epochs
    (or the last epoch), not at once: the check's reductions cost time every epoch."""
    from backproplab.datasets import encoder

    d = encoder(8)
    model = bpl.MLP([8, 3, 8], ["sigmoid", "softmax"], "cross_entropy")
    params = model.init([0, 1], {"name": "normal", "mean": 0, "std": 1})
    for epochs, bound in ((2000, 50.0), (7, 3.0)):
        result = bpl.train(
            model,
            params,
            d.X,
            d.Y,
            lr=[0.5, 1e3],
            epochs=epochs,
            diverge_factor=None,
            diverge_above=bound,
        )
        epoch = result.diverged_epoch[1]
        assert result.status[1] == "diverged" and (epoch % 10 == 0 or epoch == epochs)
        alone = [(W[1:], b[1:]) for W, b in params]  # the diverging run, unbounded
        before = bpl.train(
            model,
            alone,
            d.X,
            d.Y,
            lr=1e3,
            epochs=epoch - 1,
            diverge_above=None,
            diverge_factor=None,
        )
        assert max(np.abs(W).max() for W, _ in before.params) > bound or epoch == epochs


def test_the_sigmoid_encoder_saturates_at_lr_1e3_without_overflow():
    """Seed 000's sigmoid/squared-error encoder at lr 1e3: no floating-point overflow or
    invalid operation anywhere (numpy raises on any), and within ten epochs its sigmoids
    saturate and its loss is pinned at 0.5, where it stops learning; not diverged."""
    from backproplab.datasets import encoder

    d = encoder(8)
    model = bpl.MLP([8, 3, 8], ["sigmoid", "sigmoid"], "half_sse")
    params = model.init([0, 1, 2, 3, 4], {"name": "normal", "mean": 0, "std": 1})
    with np.errstate(all="raise"):
        result = bpl.train(model, params, d.X, d.Y, lr=1e3, epochs=2000)
    assert result.status == ["ok"] * 5
    np.testing.assert_allclose(result.history["loss"][:, 10:], 0.5, atol=1e-3)


def test_flat_layout_views_share_the_block_array():
    from backproplab.engine.mlp import FlatLayout

    model = bpl.MLP([3, 5, 4, 2], ["tanh", "relu", "sigmoid"], "bce")
    params = model.init([1, 2, 3], "lecun_normal", bias="like_weights")
    layout = FlatLayout(model.sizes)
    flat = layout.pack(params, np.float64)
    assert flat.shape == (3, 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2)
    for (W, b), (Wv, bv) in zip(params, layout.views(flat)):
        np.testing.assert_array_equal(Wv, W)
        np.testing.assert_array_equal(bv, b)
        assert np.shares_memory(Wv, flat) and np.shares_memory(bv, flat)
    W0, b0 = params[0]
    Wb = layout.first_layer(flat)
    np.testing.assert_array_equal(Wb, np.concatenate([W0, b0[:, None, :]], axis=1))
    Wb[...] += 1.0  # a view: the update reaches the layer's W and b
    np.testing.assert_array_equal(layout.views(flat)[0][1], b0 + 1.0)
