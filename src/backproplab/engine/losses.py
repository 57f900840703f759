"""Loss functions, their gradients, and the stable joint output-layer gradients.

Shapes: outputs ``a`` and logits ``z`` are ``(R, n, k)``; targets ``y`` are ``(n, k)``
(shared by every run) or ``(R, n, k)`` (one mini-batch per run). Every loss is a mean over
the ``n`` samples, so a loss value has shape ``(R,)`` and every gradient carries the
``1/n`` factor.

Definitions (n samples, k outputs):

- ``mse``: mean over samples and outputs of (y - a)^2; gradient 2 (a - y) / (n k).
- ``half_sse``: mean over samples of 1/2 sum_k (y - a)^2; gradient (a - y) / n.
- ``bce``: -mean over samples and outputs of y log a + (1 - y) log(1 - a), with ``a``
  the sigmoid of the logits; evaluated and differentiated from the logits.
- ``cross_entropy``: -mean over samples of sum_k y log a, with ``a`` the softmax of the
  logits; evaluated and differentiated from the logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rows import row_max, row_sum

__all__ = ["Loss", "LOSS_NAMES", "make_loss"]


def _total(x: np.ndarray) -> np.ndarray:
    """Sum over samples and outputs, ``(R, n, k) -> (R,)``: np.sum's pairwise summation
    without its Python wrapper, which costs more than the sum on a tiny network."""
    return np.add.reduce(x, axis=(-2, -1))


@dataclass(frozen=True)
class Loss:
    """A loss; ``output`` names the output activation it is fused with, if any.

    A fused loss (``bce`` with ``sigmoid``, ``cross_entropy`` with ``softmax``) is
    evaluated from the logits and differentiated straight to ``dL/dz``, which is both
    cheaper and exact in the saturated tails where ``a`` rounds to 0 or 1.
    """

    name: str = ""
    output: str | None = None

    def value(
        self,
        z: np.ndarray,
        a: np.ndarray,
        y: np.ndarray,
        scratch: np.ndarray | None = None,
        rows: tuple | None = None,
    ) -> np.ndarray:
        """Loss per run, shape ``(R,)``; ``scratch`` is an optional ``(R, n, k)`` buffer.

        ``rows`` is what a softmax output kept of ``z`` (see
        :meth:`~backproplab.engine.activations.Activation.forward`), if anything: the
        cross-entropy reuses it instead of exponentiating ``z`` again.
        """
        raise NotImplementedError

    def grad_a(self, a: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``dL/da`` for an unfused loss, shape ``(R, n, k)``."""
        raise NotImplementedError

    def grad_z(
        self, z: np.ndarray, a: np.ndarray, y: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """``dL/dz`` through the fused output activation, shape ``(R, n, k)``."""
        raise NotImplementedError


@dataclass(frozen=True)
class MeanSquaredError(Loss):
    name: str = "mse"

    def value(self, z, a, y, scratch=None, rows=None):
        d = np.subtract(a, y, out=scratch)
        return _total(np.square(d, out=d)) / (d.shape[-2] * d.shape[-1])

    def grad_a(self, a, y, out=None):
        n, k = a.shape[-2:]
        out = np.subtract(a, y, out=out)
        out *= 2.0 / (n * k)
        return out


@dataclass(frozen=True)
class HalfSumSquaredError(Loss):
    name: str = "half_sse"

    def value(self, z, a, y, scratch=None, rows=None):
        d = np.subtract(a, y, out=scratch)
        return _total(np.square(d, out=d)) * (0.5 / a.shape[-2])

    def grad_a(self, a, y, out=None):
        out = np.subtract(a, y, out=out)
        out *= 1.0 / a.shape[-2]
        return out


@dataclass(frozen=True)
class BinaryCrossEntropy(Loss):
    name: str = "bce"
    output: str | None = "sigmoid"

    def value(self, z, a, y, scratch=None, rows=None):
        # -(y log s(z) + (1-y) log(1-s(z))) = softplus(z) - y z, finite for any finite z.
        s = np.logaddexp(0.0, z, out=scratch)
        s -= y * z
        return _total(s) / (s.shape[-2] * s.shape[-1])

    def grad_z(self, z, a, y, out=None):
        n, k = a.shape[-2:]
        out = np.subtract(a, y, out=out)
        out *= 1.0 / (n * k)
        return out


@dataclass(frozen=True)
class CrossEntropy(Loss):
    name: str = "cross_entropy"
    output: str | None = "softmax"

    def value(self, z, a, y, scratch=None, rows=None):
        # -sum_k y_k log softmax_k(z) = sum_k y_k logsumexp(z) - sum_k y_k z_k; logsumexp
        # is shifted by the max, so no exp overflows and no log(0) is taken.
        n = a.shape[-2]
        if rows is None:
            zmax = row_max(z)
            s = np.subtract(z, zmax, out=scratch)
            np.exp(s, out=s)
            sums = row_sum(s)
        else:
            (zmax, sums), s = rows, scratch
        lse = np.log(sums)
        lse += zmax
        lse *= row_sum(y)
        weighted = _total(lse)
        return (weighted - _total(np.multiply(y, z, out=s))) / n

    def grad_z(self, z, a, y, out=None):
        # d/dz of -sum_k y_k log softmax_k(z) is a * sum_k y_k - y (= a - y for one-hot y).
        n = a.shape[-2]
        out = np.multiply(a, row_sum(y), out=out)
        out -= y
        out *= 1.0 / n
        return out


# In the schema's enum order (tests/test_registries.py keeps the two equal).
_REGISTRY: dict[str, type[Loss]] = {
    "mse": MeanSquaredError,
    "half_sse": HalfSumSquaredError,
    "bce": BinaryCrossEntropy,
    "cross_entropy": CrossEntropy,
}
LOSS_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def make_loss(name: str | Loss) -> Loss:
    """Return the loss called ``name`` (one of :data:`LOSS_NAMES`)."""
    if isinstance(name, Loss):
        return name
    if name not in _REGISTRY:
        raise ValueError(f"unknown loss {name!r}; expected one of {list(_REGISTRY)}")
    return _REGISTRY[name]()
