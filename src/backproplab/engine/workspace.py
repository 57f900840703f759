"""The training loop's arrays: the flat parameter layout, reused buffers, the first layer.

None of this changes a number; it only decides where results are written and how many
NumPy calls an epoch takes (on a tiny network each call costs about as much as its
arithmetic):

- :class:`FlatLayout`: every layer's ``W`` and ``b`` of a run side by side in one row of
  an ``(R, P)`` array, so that an update or a bound check is one operation on the block.
- :class:`Workspace`: preallocated outputs for one forward and backward pass, which
  :class:`~backproplab.engine.mlp.MLP` writes into when given one; :data:`NO_BUFFERS`
  stands for "allocate every result".
- :class:`SharedInputLayer`: the first layer on the training set, whose inputs ``X``
  every run shares, as ``[X, 1] @ [W; b]``: no separate bias addition forward, ``dW`` and
  ``db`` from one product backward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .mlp import Params

__all__ = ["NO_BUFFERS", "FlatLayout", "SharedInputLayer", "Workspace"]


class FlatLayout:
    """Every layer's ``W`` and ``b`` of a run side by side in one row of ``P`` numbers.

    The training loop keeps parameters and gradients as ``(R, P)`` arrays and hands out
    per-layer views of them, so that an update or a bound check is one operation on the
    whole block instead of several per layer.
    """

    def __init__(self, sizes: Sequence[int]):
        self.slices = []  # per layer: (start, stop, shape) of W, then (start, stop) of b
        start = 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            w = (start, start + n_in * n_out, (n_in, n_out))
            b = (w[1], w[1] + n_out)
            self.slices.append((w, b))
            start = b[1]
        self.size = start

    def views(self, flat: np.ndarray) -> Params:
        """``[(W (R, n_in, n_out), b (R, n_out)), ...]``, views of ``flat`` (R, P)."""
        R = flat.shape[0]
        return [
            (flat[:, w0:w1].reshape(R, *shape), flat[:, b0:b1])
            for (w0, w1, shape), (b0, b1) in self.slices
        ]

    def first_layer(self, flat: np.ndarray) -> np.ndarray:
        """The first layer's ``W`` with ``b`` as one more row, ``(R, n_in + 1, n_out)``: a
        view of ``flat``, since ``b`` is laid out right after ``W``."""
        (w0, _, (n_in, n_out)), (_, b1) = self.slices[0]
        return flat[:, w0:b1].reshape(flat.shape[0], n_in + 1, n_out)

    def pack(self, params: Params, dtype) -> np.ndarray:
        """A new ``(R, P)`` array holding ``params``."""
        flat = np.empty((params[0][0].shape[0], self.size), dtype)
        for (W, b), (Wv, bv) in zip(params, self.views(flat), strict=True):
            Wv[...] = W
            bv[...] = b
        return flat


class _Nones:
    """``nones[layer]`` is ``None`` for every layer."""

    def __getitem__(self, layer: int) -> None:
        return None


class _NoBuffers:
    """The stand-in for a :class:`Workspace`: every buffer is ``None`` (``out=None``), so
    every operation allocates its result."""

    z = a = grad_a = delta = dW = db = rows = _Nones()
    scratch = None
    first_layer = None


NO_BUFFERS = _NoBuffers()


class Workspace:
    """Preallocated outputs for one forward and backward pass of ``R`` runs on ``n`` samples.

    Allocating a fresh ``(R, n, k)`` temporary for every operation of every epoch costs
    page faults that can exceed the arithmetic; the training loop reuses these instead.

    Attributes
    ----------
    z, a, grad_a, delta : list of ndarray
        Per layer ``l``, shape ``(R, n, sizes[l + 1])``: pre-activations, activations,
        ``dL/da`` and ``dL/dz``.
    scratch : ndarray, shape ``(R, n, sizes[-1])``
        For a loss value.
    rows : list
        Per layer ``None``, but for the output layer a pair of ``(R, n, 1)`` arrays: a
        softmax output keeps there its per-sample maxima and sums, which the
        cross-entropy reuses (``rows`` of
        :meth:`~backproplab.engine.activations.Activation.forward`).
    grads : ndarray, shape ``(R, P)``
        Every gradient, laid out by :class:`FlatLayout`; ``dW`` (per layer,
        ``(R, n_in, n_out)``), ``db`` (per layer, ``(R, 1, n_out)``, the shape of a sum
        over samples) and ``dWb0`` (the first layer's ``[dW; db]``,
        ``(R, n_in + 1, n_out)``) are views of it.
    first_layer : SharedInputLayer or None
        How the first layer is computed when its inputs are the shared training set;
        ``None``: as every other layer.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        R: int,
        n: int,
        dtype,
        first_layer: SharedInputLayer | None = None,
    ):
        def buffer(k):
            return np.empty((R, n, k), dtype)

        widths = sizes[1:]
        self.z = [buffer(k) for k in widths]
        self.a = [buffer(k) for k in widths]
        self.grad_a = [buffer(k) for k in widths]
        self.delta = [buffer(k) for k in widths]
        self.scratch = buffer(widths[-1])
        self.rows = [None] * (len(widths) - 1) + [(buffer(1), buffer(1))]
        self.first_layer = first_layer
        layout = FlatLayout(sizes)
        self.grads = np.empty((R, layout.size), dtype)
        views = layout.views(self.grads)
        self.dW = [dW for dW, _ in views]
        self.db = [db[:, None, :] for _, db in views]
        self.dWb0 = layout.first_layer(self.grads)


class SharedInputLayer:
    """The first layer of ``R`` runs on inputs ``X`` that they all share (the training
    set), as ``z = [X, 1] @ [W; b]`` forward and ``[dW; db] = [X, 1]^T dz`` backward.

    The bias is one more row of the weights (the flat layout puts ``b`` right after
    ``W``), so it costs no separate addition forward and no separate sum backward.

    Parameters
    ----------
    X : ndarray, shape ``(n, n_in)``
    Wb : ndarray, shape ``(R, n_in + 1, h)``
        :meth:`FlatLayout.first_layer` of the parameters: a view, which follows updates.
    """

    def __init__(self, X: np.ndarray, Wb: np.ndarray):
        self.X1 = np.concatenate([X, np.ones((X.shape[0], 1), X.dtype)], axis=1)
        self.Wb = Wb

    def forward(self, out: np.ndarray | None = None) -> np.ndarray:
        """``z = [X, 1] @ [W; b]``, shape ``(R, n, h)``."""
        return np.matmul(self.X1, self.Wb, out=out)

    def backward(
        self, dz: np.ndarray, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``dW`` ``(R, n_in, h)`` and ``db`` ``(R, h)`` from ``dz`` ``(R, n, h)``: views
        of ``[dW; db] = [X, 1]^T dz``, written into ``out`` (shaped like ``Wb``)."""
        dWb = np.matmul(self.X1.T, dz, out=out)
        return dWb[:, :-1, :], dWb[:, -1, :]
