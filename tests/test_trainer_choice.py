"""Which engine trains a block (backproplab.training.trainer): the compiled trainer where
it covers the block, the NumPy engine where it does not or where the config asks."""

import numpy as np
import pytest

from backproplab.engine import MLP, GradientDescent, train
from backproplab.engine.compiled import train_compiled
from backproplab.training import trainer


@pytest.fixture
def block():
    model = MLP([2, 3, 1], ["tanh", "sigmoid"], "bce")
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    Y = np.array([[1.0], [1.0], [0.0], [0.0]])
    return model, model.init([0, 1]), X, Y


def test_the_compiled_trainer_trains_what_it_covers(block):
    chosen = trainer.select("compiled", *block, optimizer=GradientDescent(momentum=0.9))
    assert chosen.engine == "compiled" and not chosen.fallback
    assert chosen.train.func is train_compiled and chosen.train.keywords == {"threads": 1}
    assert chosen.provenance() == {
        "engine": "compiled",
        "requested": "compiled",
        "numba_cpu": chosen.provenance()["numba_cpu"],
    }


def test_the_numpy_engine_when_asked_or_not_covered(block):
    model, params, X, Y = block
    asked = trainer.select("numpy", model, params, X, Y)
    assert (asked.engine, asked.train, asked.fallback) == ("numpy", train, "")
    float32 = model.init([0, 1], dtype=np.float32)
    fell = trainer.select("compiled", model, float32, X, Y)
    assert fell.engine == "numpy" and fell.train is train
    assert "float32" in fell.fallback and fell.provenance()["fallback"] == fell.fallback
    per_run = trainer.select("compiled", model, params, np.stack([X, X]), Y)
    assert per_run.engine == "numpy" and "3 dimensions" in per_run.fallback


def test_retraining_uses_the_engine_a_run_table_names(block):
    model, params, X, Y = block
    compiled = trainer.train_with("compiled")(model, params, X, Y, lr=0.5, epochs=30)
    again = train_compiled(model, params, X, Y, lr=0.5, epochs=30)
    np.testing.assert_array_equal(compiled.history["loss"], again.history["loss"])
    assert trainer.train_with("numpy") is train
    for bad in ("jax", "Compiled"):
        with pytest.raises(ValueError, match="expected one of compiled, numpy"):
            trainer.train_with(bad)
        with pytest.raises(ValueError, match="expected one of compiled, numpy"):
            trainer.select(bad, model, params, X, Y)
