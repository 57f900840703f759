"""backprop-lab: how small neural networks learn by backpropagation, reproducibly.

The public API::

    import backproplab as bpl
    model = bpl.MLP(sizes=[2, 16, 8, 1], activations=["tanh", "tanh", "sigmoid"], loss="bce")
    params = model.init(seeds=[0, 1, 2], scheme="lecun_normal")
    result = bpl.train(model, params, X, Y, lr=[0.5, 0.5, 0.1], epochs=1000)

The engine is imported on first use, not with the package: a job must be able to choose
its numerics profile (``backproplab.numerics``) before numpy loads, and the workflow's
parse-time modules need no numpy.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("backproplab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

_ENGINE = ("MLP", "GradientDescent", "TraceState", "TrainResult", "train")
__all__ = [*_ENGINE, "__version__"]


def __getattr__(name: str):
    if name in _ENGINE:
        return getattr(import_module(".engine", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
