"""The compiled trainer against the NumPy engine, its reference (backproplab.engine.compiled).

The two compute the same arithmetic in different orders of summation (sample order in the
kernel, BLAS's order in the engine) and with different exp/log (exact-operation ones,
within 1 ulp, against libm's), so they agree to rounding, not to the bit. The tolerances:

- contracting runs (small learning rate, few epochs), every activation x loss x optimiser
  combination the config schema allows: 1e-12 relative. Parameters, z and a are compared
  layer by layer and run by run, relative to that run's largest entry (an entry near 0
  carries the absolute error of its neighbours); a trace's gradients run by run as one
  vector (a bias gradient can be a sum that cancels far below its terms: the 4x4 grid
  has one at 1e-12 of its layer's own terms but 3e-16 of the whole gradient); losses and
  metrics entry by entry; accuracies must be equal.
  Measured: 1e-15 typically, 5e-13 at most over the grid (the trace gradient of an
  online run with momentum, 60 steps, where z differs by 3e-14 and the gradient is a
  sum that cancels); 3e-13 on the wide/deep layers.
- a chaotic run (lr 2 on the spiral, 100 epochs, where the engine's own loss moves from
  5e-16 to 2e-3 when its initial weights move by one ulp): at every epoch within 30x that
  one-ulp sensitivity of the engine (plus 1e-13). No implementation is more right than
  that on such a run; measured: within 3x (1e-15 at epoch 10, 5e-3 at epoch 100).
- divergence: the same runs diverge at the same epochs with the same status, with the
  same NaN pattern in the history; the values recorded before divergence within 1e-6
  (runs on their way to blowing up amplify rounding; measured 5e-10).

Within the compiled trainer, results are bit-identical: a run alone or in a block of 50,
with 1 or 2 numba threads, any tile size, repeated calls; and equal to a digest recorded
here, also when the kernel is compiled for other CPU models (SSE2 only, AVX2): nothing in
the kernel depends on the SIMD width or on libm.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import backproplab as bpl
from backproplab import datasets, numerics
from backproplab.engine import ACTIVATION_NAMES, LOSS_NAMES, GradientDescent
from backproplab.engine.compiled import NotSupported, supports, train_compiled, warm
from backproplab.engine.compiled import trainer as compiled_trainer

RTOL = 1e-12
LEAKY = {"name": "leaky_relu", "slope": 0.05}
HIDDEN = ["identity", "sigmoid", "tanh", "relu", LEAKY]  # softmax: output only
# (output activation, loss, outputs) for every pairing the schema and MLP allow.
OUTPUTS = [
    *[(act, loss, 3 if act == "softmax" else 2) for loss in ("mse", "half_sse")
      for act in ("identity", "sigmoid", "tanh", "relu", LEAKY, "softmax")],
    ("sigmoid", "bce", 1),
    ("softmax", "cross_entropy", 3),
]  # fmt: skip
# batch_size, shuffle: full batch, shuffled and ordered mini-batches (with a short last
# batch), online.
BATCHES = [(None, True), (4, True), (4, False), (1, True)]
OPTIMIZERS = [
    GradientDescent(momentum=mu, clip=clip, update_biases=ub)
    for mu in (0.0, 0.6)
    for clip in (None, 0.05)
    for ub in (True, False)
]


def _name(spec) -> str:
    return spec if isinstance(spec, str) else spec["name"]


def _data(k: int, act, loss, n: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    if _name(act) == "softmax":
        Y = np.eye(k)[rng.integers(0, k, n)]
    elif loss == "bce":
        Y = (rng.uniform(size=(n, k)) > 0.5).astype(float)
    elif _name(act) == "sigmoid":
        Y = rng.uniform(size=(n, k))
    else:
        Y = rng.normal(size=(n, k))
    return X, Y


def _metrics(act, loss) -> list[str]:
    """Every extra metric the output allows."""
    out = ["mse", "half_sse"]
    if _name(act) == "sigmoid":
        out.append("bce")
    if _name(act) == "softmax":
        out.append("cross_entropy")
    return [m for m in out if m != loss]


class _Recorder:
    """Copies of what each trace call was handed."""

    def __init__(self):
        self.calls = []

    def __call__(self, st):
        self.calls.append(
            {
                "epoch": st.epoch,
                "runs": st.runs.copy(),
                "params": [a.copy() for pair in st.params for a in pair],
                "grads": [a.copy() for pair in st.grads for a in pair],
                "z": [z.copy() for z in st.z],
                "a": [a.copy() for a in st.a],
                "loss": st.loss.copy(),
                "norms": (st.weight_norms.copy(), st.grad_norms.copy()),
            }
        )


def _both(model, params, X, Y, **kw):
    """(engine, compiled) results and trace calls of the same training."""
    out = []
    for fn in (bpl.train, train_compiled):
        rec = _Recorder()
        result = fn(model, params, X, Y, on_trace=rec, **kw)
        out.append((result, rec.calls))
    return out


def _run_relative(got: np.ndarray, ref: np.ndarray) -> float:
    """Largest difference of each run (axis 0), relative to that run's largest entry."""
    assert got.shape == ref.shape and got.dtype == ref.dtype
    if got.size == 0:
        return 0.0
    axes = tuple(range(1, ref.ndim))
    scale = np.max(np.abs(ref), axis=axes) if axes else np.abs(ref)
    diff = np.max(np.abs(got - ref), axis=axes) if axes else np.abs(got - ref)
    return float(np.max(np.where(diff == 0, 0.0, diff / np.maximum(scale, 1e-300))))


def _per_run(arrays: list[np.ndarray]) -> np.ndarray:
    """Arrays with a leading run axis, side by side: (R, total size)."""
    return np.concatenate([a.reshape(len(a), -1) for a in arrays], axis=1)


def _entry_relative(got: np.ndarray, ref: np.ndarray) -> float:
    assert np.array_equal(np.isnan(got), np.isnan(ref)), "NaN patterns differ"
    ok = ~np.isnan(ref)
    diff = np.abs(got[ok] - ref[ok])
    return float(np.max(np.where(diff == 0, 0.0, diff / np.abs(ref[ok])), initial=0.0))


def _compare(ref, got, rtol: float = RTOL) -> float:
    """Assert two (result, trace calls) agree to rtol; returns the largest difference."""
    (r, rcalls), (c, ccalls) = ref, got
    assert c.status == r.status
    assert c.diverged_epoch == r.diverged_epoch
    assert c.trace_epochs == r.trace_epochs
    assert c.history.keys() == r.history.keys()
    np.testing.assert_array_equal(c.history["epoch"], r.history["epoch"])
    worst = 0.0
    for key, values in r.history.items():
        if key.endswith("accuracy"):
            np.testing.assert_array_equal(c.history[key], values, err_msg=key)
        elif key != "epoch":
            worst = max(worst, _entry_relative(c.history[key], values))
    for (W, b), (cW, cb) in zip(r.params, c.params, strict=True):
        assert cW.flags.c_contiguous and cb.flags.c_contiguous
        worst = max(worst, _run_relative(cW, W), _run_relative(cb, b))
    assert len(ccalls) == len(rcalls)
    for rc, cc in zip(rcalls, ccalls, strict=True):
        assert cc["epoch"] == rc["epoch"]
        np.testing.assert_array_equal(cc["runs"], rc["runs"])
        # The gradient as one vector per run: a layer's db can be a sum that cancels to
        # far below its terms, and only the whole gradient's scale sets the step's error.
        worst = max(worst, _run_relative(_per_run(cc["grads"]), _per_run(rc["grads"])))
        for key in ("params", "z", "a"):
            assert len(cc[key]) == len(rc[key]), key
            pairs = list(zip(cc[key], rc[key], strict=True))
            if key == "a":  # a[0] is X
                np.testing.assert_array_equal(*pairs.pop(0))
            for x, y in pairs:
                worst = max(worst, _run_relative(x, y))
        worst = max(worst, _entry_relative(cc["loss"], rc["loss"]))
        for x, y in zip(cc["norms"], rc["norms"], strict=True):
            worst = max(worst, _run_relative(x, y))
    assert worst <= rtol, f"largest relative difference {worst:.2e} > {rtol:g}"
    return worst


# -- agreement on contracting runs: the grid ---------------------------------------------


@pytest.mark.parametrize("hidden", HIDDEN, ids=_name)
@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: f"{_name(o[0])}-{o[1]}")
def test_agrees_with_the_engine_on_every_combination(hidden, output):
    act, loss, k = output
    model = bpl.MLP([3, 5, 6, k], [hidden, hidden, act], loss)
    X, Y = _data(k, act, loss)
    Xe, Ye = _data(k, act, loss, n=5, seed=1)
    params = model.init([0, 1, 2], bias="like_weights")
    for batch_size, shuffle in BATCHES:
        for opt in OPTIMIZERS:
            kw = dict(
                lr=[0.02, 0.05, 0.1], epochs=6, optimizer=opt, batch_size=batch_size,
                shuffle=shuffle, seeds=[5, 6, 7], metrics=_metrics(act, loss),
                eval_sets={"test": (Xe, Ye)}, trace_every=2, trace_at=[3],
            )  # fmt: skip
            ref, got = _both(model, params, X, Y, **kw)
            try:
                _compare(ref, got)
            except AssertionError as exc:
                raise AssertionError(
                    f"batch_size={batch_size} shuffle={shuffle} {opt}: {exc}"
                ) from None


@pytest.mark.parametrize("sizes", [[17, 16, 33, 2], [64, 32, 10], [2, 4, 1], [1, 1]])
def test_agrees_on_wide_narrow_and_deep_layers(sizes):
    """Several 4 x 4 register blocks per product, exact multiples of 4, one unit."""
    acts = ["tanh"] * (len(sizes) - 2) + ["softmax" if sizes[-1] > 1 else "sigmoid"]
    loss = "cross_entropy" if sizes[-1] > 1 else "bce"
    model = bpl.MLP(sizes, acts, loss)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(37, sizes[0]))
    Y = (
        np.eye(sizes[-1])[rng.integers(0, sizes[-1], 37)]
        if sizes[-1] > 1
        else rng.integers(0, 2, 37)
    )
    params = model.init(range(11))
    for batch_size in (None, 8):
        ref, got = _both(
            model, params, X, Y, lr=0.05, epochs=5, batch_size=batch_size, seeds=range(11),
            trace_every=2, metrics=["mse"],
        )  # fmt: skip
        _compare(ref, got)


def test_agrees_without_a_trace_hook_and_with_sparse_records():
    """metrics_every > 1 and no hook: the kernel runs one chunk; history agrees."""
    model = bpl.MLP([3, 5, 2], ["relu", "identity"], "mse")
    X, Y = _data(2, "identity", "mse", n=23)
    params = model.init(range(9))
    for batch_size in (None, 5):
        kw = dict(lr=0.03, epochs=25, metrics_every=7, batch_size=batch_size, seeds=range(9))
        r = bpl.train(model, params, X, Y, **kw)
        c = train_compiled(model, params, X, Y, **kw)
        _compare((r, []), (c, []))
        assert list(c.history["epoch"]) == [0, 7, 14, 21, 25]


def test_zero_epochs_and_one_output_targets():
    model = bpl.MLP([3, 4, 1], ["tanh", "sigmoid"], "bce")
    X, Y = _data(1, "sigmoid", "bce")
    params = model.init([0, 1])
    ref, got = _both(model, params, X, Y[:, 0], lr=0.1, epochs=0)
    _compare(ref, got)
    assert got[0].trace_epochs == [0]


# -- a chaotic run ---------------------------------------------------------------------


def test_follows_the_engine_over_100_epochs_of_a_chaotic_run():
    spiral = datasets.spiral(seed=0, n_samples=40, noise=0.3)
    model = bpl.MLP([2, 16, 8, 1], ["tanh", "tanh", "sigmoid"], "bce")
    params = model.init(range(6), "glorot_normal")
    kw = dict(lr=2.0, epochs=100, diverge_factor=None, diverge_above=None)
    ref = bpl.train(model, params, spiral.X, spiral.Y, **kw).history["loss"]
    moved = [(np.nextafter(W, np.inf), b) for W, b in params]
    one_ulp = bpl.train(model, moved, spiral.X, spiral.Y, **kw).history["loss"]
    got = train_compiled(model, params, spiral.X, spiral.Y, **kw).history["loss"]
    sensitivity = np.maximum.accumulate(np.max(np.abs(one_ulp - ref) / ref, axis=0))
    difference = np.max(np.abs(got - ref) / ref, axis=0)
    assert sensitivity[-1] > 1e-4, "not chaotic: the test would not test what it says"
    assert np.all(difference <= 30 * sensitivity + 1e-13), np.max(difference / sensitivity)


# -- divergence ------------------------------------------------------------------------

LRS = [0.001, 0.01, 0.05, 0.5, 2, 5, 10, 30, 100, 300, 1000, 1e4, 1e5]


@pytest.mark.parametrize(
    "case",
    [
        # loss past 10x its initial value
        ([3, 6, 1], ["tanh", "sigmoid"], "bce", dict(epochs=60)),
        # a parameter past diverge_above, checked every 10 epochs
        (
            [3, 6, 1],
            ["tanh", "sigmoid"],
            "bce",
            dict(epochs=60, diverge_above=3.0, diverge_factor=None),
        ),
        # non-finite losses only
        (
            [3, 6, 2],
            ["relu", "identity"],
            "mse",
            dict(epochs=60, diverge_above=None, diverge_factor=None),
        ),
        # a non-finite mini-batch loss mid-epoch, with momentum
        (
            [3, 6, 2],
            [LEAKY, "identity"],
            "half_sse",
            dict(
                epochs=40,
                batch_size=3,
                seeds=range(len(LRS)),
                diverge_above=None,
                diverge_factor=None,
                optimizer=GradientDescent(momentum=0.9),
            ),
        ),
        # online, in data order, and a trace at every epoch
        (
            [3, 6, 2],
            ["identity", "identity"],
            "mse",
            dict(epochs=30, batch_size=1, shuffle=False, diverge_factor=3.0, trace_every=1),
        ),
    ],  # fmt: skip
    ids=["factor", "bound", "non-finite", "mini-batch", "online"],
)
def test_diverges_at_the_same_epoch_with_the_same_status(case):
    sizes, acts, loss, kw = case
    model = bpl.MLP(sizes, acts, loss)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 3))
    Y = (rng.uniform(size=(20, 1)) > 0.5) * 1.0 if loss == "bce" else rng.normal(size=(20, 2)) * 3
    params = model.init(range(len(LRS)))
    ref, got = _both(model, params, X, Y, lr=LRS, **kw)
    (r, _), (c, _) = ref, got
    assert c.status == r.status
    assert c.diverged_epoch == r.diverged_epoch
    assert 0 < c.status.count("diverged") < len(LRS)
    assert c.trace_epochs == r.trace_epochs
    for key, values in r.history.items():
        if key != "epoch":
            assert _entry_relative(c.history[key], values) <= 1e-6, key
    for (W, b), (cW, cb) in zip(r.params, c.params, strict=True):
        for x, y in ((cW, W), (cb, b)):
            np.testing.assert_array_equal(np.isfinite(x), np.isfinite(y))
            ok = np.isfinite(y)
            np.testing.assert_allclose(x[ok], y[ok], rtol=1e-6, atol=1e-12)


def test_a_block_that_dies_at_a_trace_epoch_is_still_traced():
    """Every run frozen by the evaluation of a hook epoch: the engine calls the hook with
    no runs, then stops; so does the compiled trainer."""
    model = bpl.MLP([3, 4, 2], ["tanh", "identity"], "mse")
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    params = [(W * 0.1, b) for W, b in model.init([0, 1, 2])]
    # Weights pass the bound at different epochs; the last two runs at the hook epoch 30.
    ref, got = _both(
        model, params, X, Y, lr=[0.5, 0.6, 0.7], epochs=40, trace_every=10, diverge_above=0.6,
        diverge_factor=None,
    )  # fmt: skip
    (r, rcalls), (c, ccalls) = ref, got
    assert c.status == r.status == ["diverged"] * 3
    assert c.diverged_epoch == r.diverged_epoch == [30, 10, 20]
    assert c.trace_epochs == r.trace_epochs == [0, 10, 20, 30]
    assert [len(x["runs"]) for x in ccalls] == [len(x["runs"]) for x in rcalls]
    assert len(ccalls[-1]["runs"]) == 0
    for x, y in zip(ccalls[-1]["z"], rcalls[-1]["z"], strict=True):
        assert x.shape == y.shape


# -- bit-identical within the compiled trainer -------------------------------------------


def _bits(result, calls=()) -> str:
    h = hashlib.sha256()
    for W, b in result.params:
        h.update(W.tobytes())
        h.update(b.tobytes())
    for key in sorted(result.history):
        h.update(key.encode())
        h.update(np.ascontiguousarray(result.history[key]).tobytes())
    h.update(repr((result.status, result.diverged_epoch, result.trace_epochs)).encode())
    for call in calls:
        for key in ("params", "grads", "z", "a"):
            for a in call[key]:
                h.update(a.tobytes())
        h.update(call["loss"].tobytes())
    return h.hexdigest()


def _problem(R: int, run: int | None = None):
    """A block of R runs of a tanh/softmax network, shuffled mini-batches with momentum
    and clipping; some of the learning rates diverge. ``run``: only that one run."""
    model = bpl.MLP([4, 9, 7, 3], ["tanh", LEAKY, "softmax"], "cross_entropy")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 4))
    Y = np.eye(3)[rng.integers(0, 3, 30)]
    seeds = list(range(100, 100 + R))
    lr = list(np.geomspace(0.01, 20.0, R))
    if run is not None:
        seeds, lr = [seeds[run]], [lr[run]]
    params = model.init(seeds)
    kw = dict(
        lr=lr, epochs=12, batch_size=7, seeds=seeds, metrics=["mse"],
        optimizer=GradientDescent(momentum=0.5, clip=2.0), eval_sets={"test": (X[:9], Y[:9])},
        trace_every=4,
    )  # fmt: skip
    return model, params, X, Y, kw


def _compiled(R=50, run=None, tile=None):
    model, params, X, Y, kw = _problem(R, run)
    rec = _Recorder()
    result = train_compiled(model, params, X, Y, on_trace=rec, tile=tile, **kw)
    return result, rec.calls


def test_a_run_alone_and_in_a_block_of_50_have_the_same_bits():
    block, block_calls = _compiled(50)
    assert 0 < block.status.count("diverged") < 50
    for run in (0, 17, 49):
        alone, alone_calls = _compiled(50, run=run)
        for (W, b), (aW, ab) in zip(block.params, alone.params, strict=True):
            assert W[run].tobytes() == aW[0].tobytes()
            assert b[run].tobytes() == ab[0].tobytes()
        for key, values in block.history.items():
            if key != "epoch":
                np.testing.assert_array_equal(values[run], alone.history[key][0], err_msg=key)
        assert (block.status[run], block.diverged_epoch[run]) == (
            alone.status[0],
            alone.diverged_epoch[0],
        )
        # The traces: the run's rows in the block's calls are the lone run's calls.
        for bc, ac in zip(block_calls, alone_calls):
            pos = np.flatnonzero(bc["runs"] == run)
            if not len(ac["runs"]):
                assert not len(pos)
                continue
            for key in ("params", "grads", "z"):
                for x, y in zip(bc[key], ac[key], strict=True):
                    assert x[pos].tobytes() == y.tobytes(), key


def test_threads_tiles_and_repeated_calls_give_the_same_bits():
    before = numba.get_num_threads()
    try:
        digests = set()
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            for tile in (None, 4, 12):
                digests.add(_bits(*_compiled(50, tile=tile)))
            digests.add(_bits(*_compiled(50)))
    finally:
        numba.set_num_threads(before)
    assert len(digests) == 1


# The bits of _compiled(50) without traces, as computed on the machine that wrote this test
# (AMD EPYC, AVX-512). The kernel calls no libm, contracts no FMA and sums in a fixed
# order, so every x86-64 CPU must compute these bits, whatever its vector width: the test
# below recompiles the kernel for the other CPU models (numba's cache keeps one build per
# CPU model, so each compiles once, ~20 s). A change of the kernel's arithmetic changes
# the digest on purpose: then update it, saying why in the commit.
DIGEST = "20303c9670926ac36e59329c0c056345b4c1e9b6277e779b9a82f91becff9951"
# conftest applies the canonical profile, whose build the test then replaces (numba reads
# the variables when it is imported, after that).
_DIGEST_SCRIPT = """
import os, sys
sys.path.insert(0, {tests!r})
import conftest  # the canonical numerics, as here
os.environ.update({build!r})
import numba
assert numba.config.CPU_NAME == {build[NUMBA_CPU_NAME]!r}, numba.config.CPU_NAME
import test_compiled_trainer as t
print(t._bits(t._compiled(50)[0]))
"""
_BUILDS = {
    "x86-64": {"NUMBA_CPU_NAME": "x86-64", "NUMBA_CPU_FEATURES": ""},  # SSE2: 128-bit vectors
    # The canonical profile's builds: AVX2 + FMA (256-bit vectors, FMA never contracted)
    # and x86-64-v4 (512-bit vectors, where this CPU has them).
    **numerics.NUMBA_BUILDS,
}


def test_the_bits_match_the_recorded_digest():
    result, _ = _compiled(50)
    assert _bits(result) == DIGEST


@pytest.mark.parametrize("build", sorted(_BUILDS))
def test_other_cpu_models_compute_the_same_bits(build):
    env = _BUILDS[build]
    if env == numerics.numba_build():
        pytest.skip(f"the {build} build is this process's own (the test above)")
    if build == "avx512":
        pytest.skip("this CPU has no AVX-512 to run the avx512 build on")
    script = _DIGEST_SCRIPT.format(tests=str(Path(__file__).parent), build=env)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-1] == DIGEST


# -- the API -----------------------------------------------------------------------------


def test_the_kernel_implements_every_activation_and_loss_of_the_engine():
    from backproplab.engine.compiled import kernels

    assert set(compiled_trainer.ACTIVATION_CODES) == set(ACTIVATION_NAMES)
    assert set(compiled_trainer.LOSS_CODES) == set(LOSS_NAMES)
    for name, code in compiled_trainer.ACTIVATION_CODES.items():
        assert getattr(kernels, name.upper()) == code
    for name, code in compiled_trainer.LOSS_CODES.items():
        assert getattr(kernels, name.upper()) == code


def test_supports_names_what_falls_back():
    model = bpl.MLP([2, 3, 1], ["tanh", "sigmoid"], "bce")
    params = model.init([0])
    X, Y = np.zeros((4, 2)), np.zeros(4)
    assert supports(model, params, X, Y)
    assert supports(model, params, X, Y, optimizer=GradientDescent(momentum=0.5)).reason == ""
    single = model.init([0], dtype=np.float32)
    verdict = supports(model, single, X, Y)
    assert not verdict and "float32" in verdict.reason
    assert not supports(model, params, np.zeros((1, 4, 2)), Y)
    assert not supports(model, params, X, Y, eval_sets={"t": (np.zeros((1, 4, 2)), Y)})

    class Adam(GradientDescent):
        pass

    assert "Adam" in supports(model, params, X, Y, optimizer=Adam()).reason
    with pytest.raises(NotSupported, match="float32"):
        train_compiled(model, single, X, Y, lr=0.1, epochs=1)


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.0),
        dict(lr=[0.1, 0.2]),
        dict(epochs=-1),
        dict(epochs=1.5),
        dict(batch_size=0),
        dict(batch_size=2),  # shuffled mini-batches without seeds
        dict(metrics=["cross_entropy"]),
        dict(metrics_every=0),
        dict(trace_every=0, on_trace=lambda st: None),
        dict(diverge_above=0.0),
        dict(diverge_factor=-1.0),
    ],
)
def test_rejects_what_the_engine_rejects_with_its_message(kw):
    model = bpl.MLP([2, 3, 1], ["tanh", "sigmoid"], "bce")
    params = model.init([0])
    X, Y = np.zeros((4, 2)), np.zeros(4)
    kw = {"lr": 0.1, "epochs": 2, **kw}
    with pytest.raises(ValueError) as ref:
        bpl.train(model, params, X, Y, **kw)
    with pytest.raises(ValueError, match=None) as got:
        train_compiled(model, params, X, Y, **kw)
    assert str(got.value) == str(ref.value)


def test_warm_compiles_or_loads_the_kernel():
    info = warm()
    assert info["cache_hits"] + info["cache_misses"] >= 1
    assert warm()["cache_misses"] == info["cache_misses"]  # nothing compiled twice
