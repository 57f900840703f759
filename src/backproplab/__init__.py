"""backprop-lab: how small neural networks learn by backpropagation, reproducibly.

The public API::

    import backproplab as bpl
    model = bpl.MLP(sizes=[2, 16, 8, 1], activations=["tanh", "tanh", "sigmoid"], loss="bce")
    params = model.init(seeds=[0, 1, 2], scheme="lecun_normal")
    result = bpl.train(model, params, X, Y, lr=[0.5, 0.5, 0.1], epochs=1000)
"""

from importlib.metadata import PackageNotFoundError, version

from .engine import MLP, GradientDescent, TraceState, TrainResult, train

try:
    __version__ = version("backproplab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["MLP", "GradientDescent", "TraceState", "TrainResult", "train", "__version__"]
