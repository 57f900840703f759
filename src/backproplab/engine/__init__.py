"""The NumPy engine: batched MLPs, backpropagation and gradient descent.

Layers of a block of ``R`` runs are stacked along a leading axis; see :class:`MLP`.
"""

from .activations import ACTIVATION_NAMES, Activation, make_activation
from .initializers import (
    INIT_SCHEMES,
    RANDOM_INIT_SCHEMES,
    RNG_MODES,
    InitScheme,
    make_init_scheme,
)
from .losses import LOSS_NAMES, Loss, make_loss
from .mlp import MLP, Params, accuracy, stack_runs
from .optim import GradientDescent
from .train import TraceState, TrainResult, train

__all__ = [
    "ACTIVATION_NAMES",
    "INIT_SCHEMES",
    "LOSS_NAMES",
    "RANDOM_INIT_SCHEMES",
    "RNG_MODES",
    "MLP",
    "Activation",
    "GradientDescent",
    "InitScheme",
    "Loss",
    "Params",
    "TraceState",
    "TrainResult",
    "accuracy",
    "make_activation",
    "make_init_scheme",
    "make_loss",
    "stack_runs",
    "train",
]
