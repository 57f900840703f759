"""The seed documents' own gradient formulas, where they differ from the engine's.

Each wrong formula is a small named function, in the engine's layout (samples on the
second-to-last axis, runs first), and each seed's backward pass is rebuilt around it, so
that the validation stage checks it against central differences exactly as it checks the
engine (:func:`.checks.check_rows`), and shows that the check catches it:

- seed 000 differentiates softmax as if it were a sigmoid, ``a (1 - a)`` (the diagonal
  of its Jacobian only), and its "mean_squared_error" gradient is ``a - y``, which drops
  the ``2 / k`` of the mean over ``k`` outputs: it is the gradient of half the summed
  squared error, not of the mean squared error it reports;
- seed 002 builds a hidden layer's ``dL/da`` from the next layer's per-sample weight
  gradients (``da_i = sum_j dweights[i, j]``, i.e. ``a_i * sum_j dz_j / m``) instead of
  the next layer's weights (``da = W dz``).

Every check runs on the seed's own setup (its task, network, loss and initialiser) at the
initial parameters of the validation seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import datasets
from ..engine.mlp import MLP, Params, as_targets
from .checks import GradcheckError, check_rows, subsample

__all__ = [
    "SEED_FORMULAS",
    "SeedFormula",
    "check_seed_formulas",
    "gate",
    "seed000_grads",
    "seed000_mse_gradient",
    "seed000_softmax_derivative",
    "seed002_grads",
    "seed002_hidden_delta",
]


def seed000_softmax_derivative(a: np.ndarray) -> np.ndarray:
    """Seed 000's softmax "gradient" ``a (1 - a)``, elementwise.

    It is the diagonal of softmax's Jacobian ``diag(a) - a a^T`` only: the coupling
    between outputs (``-a_i a_j``) is missing, so ``dL/dz`` is wrong whenever ``dL/da``
    is not the same for every output.
    """
    return a * (1.0 - a)


def seed000_mse_gradient(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Seed 000's "mean_squared_error" gradient ``a - y`` (per sample; the ``1/m`` comes
    with ``dW``). The loss it reports is the mean over all ``m k`` squared errors, whose
    gradient is ``2 (a - y) / (m k)``: the formula is ``k / 2`` times too large (4 for
    the 8-3-8 encoder), the gradient of half the summed squared error."""
    return a - y


def _sigmoid_derivative(a: np.ndarray) -> np.ndarray:
    return a * (1.0 - a)


def seed000_grads(model: MLP, params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """Seed 000's backward pass (``MyNeuralNetwork.backward``), for any depth.

    softmax with cross-entropy uses ``y_hat - y`` (right); any other output uses
    :func:`seed000_mse_gradient` times the output activation's seed derivative
    (:func:`seed000_softmax_derivative` for softmax). Hidden layers are sigmoid, with
    the right derivative ``a (1 - a)``.

    Returns
    -------
    list of (dW, db)
        Shaped like ``params``.
    """
    zs, acts = model.forward_cache(params, X)
    Y = as_targets(Y, acts[-1].shape[-2], model.sizes[-1], acts[-1].dtype)
    m = acts[-1].shape[-2]
    out = model.activations[-1].name
    if model.loss.name == "cross_entropy":
        error = acts[-1] - Y
    else:
        derivative = seed000_softmax_derivative if out == "softmax" else _sigmoid_derivative
        error = seed000_mse_gradient(acts[-1], Y) * derivative(acts[-1])
    grads: list = [None] * model.n_layers
    for layer in range(model.n_layers - 1, -1, -1):
        grads[layer] = (np.swapaxes(acts[layer], -1, -2) @ error / m, error.sum(axis=-2) / m)
        if layer:
            W = params[layer][0]
            error = (error @ np.swapaxes(W, -1, -2)) * _sigmoid_derivative(acts[layer])
    return grads


def seed002_hidden_delta(a: np.ndarray, dz_next: np.ndarray, m: int) -> np.ndarray:
    """Seed 002's ``dL/da`` of a hidden layer.

    The seed sums the next layer's per-sample weight gradients over that layer's units:
    ``dweights[k, j, s] = a[k, s] dz[j, s] / m`` summed over ``j`` gives
    ``a[k, s] * sum_j dz[j, s] / m``. The chain rule asks for ``sum_j W[k, j] dz[j, s]``.

    Parameters
    ----------
    a : ndarray, shape ``(R, n, k)``
        The hidden layer's activations.
    dz_next : ndarray, shape ``(R, n, j)``
        The next layer's ``dL/dz`` as the seed computes it.
    m : int
        The number of samples (the seed divides by it at every layer).

    Returns
    -------
    ndarray, shape ``(R, n, k)``
    """
    return a * dz_next.sum(axis=-1, keepdims=True) / m


def seed002_grads(model: MLP, params: Params, X: np.ndarray, Y: np.ndarray) -> Params:
    """Seed 002's backward pass (``NeuralNetwork.backward``), in the engine's layout.

    The output delta ``a (1 - a) (-y / a + (1 - y) / (1 - a))`` is written ``a - y``
    (equal, and finite when an output saturates); hidden layers take their ``dL/da``
    from :func:`seed002_hidden_delta` and their activations' own derivatives (the
    seed's leaky-ReLU and sigmoid derivatives are right). The seed's per-sample clipping
    to [-1, 1] belongs to its update rule and is left out: per-sample terms carry a
    ``1/m`` and stay far inside it here.

    Returns
    -------
    list of (dW, db)
        Shaped like ``params``.
    """
    zs, acts = model.forward_cache(params, X)
    Y = as_targets(Y, acts[-1].shape[-2], model.sizes[-1], acts[-1].dtype)
    m = acts[-1].shape[-2]
    dz = acts[-1] - Y
    grads: list = [None] * model.n_layers
    for layer in range(model.n_layers - 1, -1, -1):
        grads[layer] = (np.swapaxes(acts[layer], -1, -2) @ dz / m, dz.sum(axis=-2) / m)
        if layer:
            da = seed002_hidden_delta(acts[layer], dz, m)
            dz = model.activations[layer - 1].backward(zs[layer - 1], acts[layer], da)
    return grads


@dataclass(frozen=True)
class SeedFormula:
    """A seed's gradient formula and the setup it is checked on.

    Attributes
    ----------
    name : str
        Also the row label in the validation tables.
    seed_document : str
        ``"000"``, ``"002"``.
    description : str
        What is wrong, in one sentence.
    grads : callable
        ``grads(model, params, X, Y) -> [(dW, db), ...]``.
    dataset : dict
        A data-set spec for :func:`backproplab.datasets.generate` (its training split
        is used).
    sizes, activations, loss, init, bias_init
        The network, as in an experiment's ``model``.
    """

    name: str
    seed_document: str
    description: str
    grads: Callable[[MLP, Params, np.ndarray, np.ndarray], Params]
    dataset: dict
    sizes: list
    activations: list
    loss: str
    init: dict | str
    bias_init: str = "zeros"
    notes: str = field(default="")

    def mlp(self) -> MLP:
        return MLP(self.sizes, self.activations, self.loss)


_ENCODER = {"generator": "encoder", "n": 8}
_MOONS = {
    "generator": "moons",
    "n_samples": 200,
    "noise": 0.2,
    "random_state": 0,
    "split_seed": 0,
    "test_fraction": 0.25,
}
_LEAKY = {"name": "leaky_relu", "slope": 0.05}

SEED_FORMULAS: tuple[SeedFormula, ...] = (
    SeedFormula(
        name="seed000_mse_gradient",
        seed_document="000",
        description="the mean squared error's gradient without its 2/k factor (k = 8 outputs)",
        grads=seed000_grads,
        dataset=_ENCODER,
        sizes=[8, 3, 8],
        activations=["sigmoid", "sigmoid"],
        loss="mse",
        init={"name": "normal", "mean": 0.0, "std": 1.0},
        notes="right direction (cosine 1), 4 times too long: relative error 3/5 everywhere",
    ),
    SeedFormula(
        name="seed000_softmax_derivative",
        seed_document="000",
        description="softmax differentiated as a sigmoid, a(1 - a)",
        grads=seed000_grads,
        dataset=_ENCODER,
        sizes=[8, 3, 8],
        activations=["sigmoid", "softmax"],
        # half_sse is the loss whose gradient seed000_mse_gradient is, so only the
        # softmax derivative is at fault here.
        loss="half_sse",
        init={"name": "normal", "mean": 0.0, "std": 1.0},
        notes="checked against half_sse, so that the missing 2/k factor plays no part",
    ),
    SeedFormula(
        name="seed002_hidden_delta",
        seed_document="002",
        description="hidden dL/da from the next layer's weight gradients, not its weights",
        grads=seed002_grads,
        dataset=_MOONS,
        sizes=[2, 16, 16, 1],
        activations=[_LEAKY, _LEAKY, "sigmoid"],
        loss="bce",
        init={"name": "normal", "mean": -1.0, "std": 1.0},
        bias_init="like_weights",
        notes="the output layer is right; both hidden layers are wrong",
    ),
)


def check_seed_formulas(settings: dict, formulas=SEED_FORMULAS):
    """Check each seed formula against central differences, as the engine is checked.

    Parameters
    ----------
    settings : dict
        The config's ``validation`` section (``seeds``, ``step``, ``directions``,
        ``max_samples``, ``random_seed`` and the thresholds).

    Returns
    -------
    pandas.DataFrame
        One row per formula, seed, layer and tensor (and a directions row per formula
        and seed), with the same columns as the engine's check.
    """
    frames = []
    seeds = list(range(settings["seeds"]))
    for formula in formulas:
        X, Y = datasets.generate(formula.dataset).part("train")
        X, Y = subsample(X, Y, settings["max_samples"], settings["random_seed"])
        model = formula.mlp()
        params = model.init(seeds, formula.init, bias=formula.bias_init)
        grads = formula.grads(model, params, X, Y)
        for seed, rows in zip(seeds, check_rows(model, params, X, Y, grads, settings), strict=True):
            head = {
                "formula": formula.name,
                "seed_document": formula.seed_document,
                "description": formula.description,
                "seed": seed,
                "checkpoint": "initial",
            }
            frames.append(pd.DataFrame([{**head, **row} for row in rows]))
    return pd.concat(frames, ignore_index=True)


def gate(table) -> None:
    """Raise :class:`~backproplab.gradcheck.checks.GradcheckError` if the check passed a
    seed formula that is known to be wrong: the check would then be too lax to trust."""
    missed = [name for name, rows in table.groupby("formula", sort=False) if rows.passed.all()]
    if missed:
        raise GradcheckError(
            f"the gradient check passed seed formula(s) {missed}, which are known to be "
            f"wrong: its thresholds are too lax (validation.max_relative_error)"
        )
