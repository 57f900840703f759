"""A fully connected network as a description; parameters live outside it.

One :class:`MLP` serves a whole block of runs. Parameters are a list with one ``(W, b)``
pair per layer, stacked over runs: ``W`` has shape ``(R, n_in, n_out)`` and ``b`` shape
``(R, n_out)``. Inputs ``X`` are ``(n, n_in)`` (shared by every run) or ``(R, n, n_in)``
(one mini-batch per run). Nothing here mutates its arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .activations import Activation, make_activation
from .initializers import (
    InitScheme,
    draw_run_parameters,
    init_stream,
    make_init_scheme,
)
from .losses import Loss, make_loss

__all__ = ["MLP", "Params", "Workspace", "accuracy", "as_targets", "stack_runs"]

Params = list[tuple[np.ndarray, np.ndarray]]


class MLP:
    """A multilayer perceptron: layer sizes, one activation per layer, and a loss.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``[2, 16, 8, 1]``.
    activations : sequence of str or mapping
        One per layer after the input (``len(sizes) - 1``), e.g.
        ``["tanh", "tanh", "sigmoid"]`` or ``{"name": "leaky_relu", "slope": 0.05}``.
    loss : str
        ``mse``, ``half_sse``, ``bce`` (needs a sigmoid output) or ``cross_entropy``
        (needs a softmax output).

    Raises
    ------
    ValueError
        For sizes and activations that do not fit together or with the loss.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activations: Sequence[str | Mapping | Activation],
        loss: str | Loss,
    ):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least two positive widths, got {sizes}")
        if len(activations) != len(sizes) - 1:
            raise ValueError(
                f"{len(sizes) - 1} layers need {len(sizes) - 1} activations, got {len(activations)}"
            )
        acts = [make_activation(a) for a in activations]
        for i, act in enumerate(acts[:-1]):
            if act.name == "softmax":
                raise ValueError(f"softmax is only valid on the output layer, not layer {i}")
        if acts[-1].name == "softmax" and sizes[-1] < 2:
            raise ValueError("a softmax output needs at least 2 units, got 1")
        loss_ = make_loss(loss)
        if loss_.output is not None and acts[-1].name != loss_.output:
            raise ValueError(
                f"loss {loss_.name!r} needs a {loss_.output!r} output layer, got {acts[-1].name!r}"
            )
        self.sizes: tuple[int, ...] = tuple(sizes)
        self.activations: tuple[Activation, ...] = tuple(acts)
        self.loss: Loss = loss_

    @property
    def n_layers(self) -> int:
        """Number of weight layers."""
        return len(self.sizes) - 1

    def __repr__(self) -> str:
        acts = [a.spec() if len(a.spec()) > 1 else a.name for a in self.activations]
        return f"MLP(sizes={list(self.sizes)}, activations={acts}, loss={self.loss.name!r})"

    # -- parameters -------------------------------------------------------------------

    def init(
        self,
        seeds: Sequence[int],
        scheme: str | Mapping | InitScheme = "lecun_normal",
        *,
        bias: str = "zeros",
        rng: str = "seedsequence",
        layout: str | None = None,
        legacy_prefix: Callable[[np.random.RandomState], object] | None = None,
        dtype: np.dtype | type = np.float64,
    ) -> Params:
        """Draw initial parameters for one run per seed.

        Parameters
        ----------
        seeds : sequence of int
            One seed per run; run ``r`` draws from its own stream (see
            :mod:`backproplab.engine.initializers`), so its values do not depend on the
            other seeds.
        scheme : str or mapping
            An init scheme name or mapping with parameters, e.g.
            ``{"name": "normal", "mean": -1, "std": 1}``.
        bias : {"zeros", "like_weights"}
        rng : {"seedsequence", "numpy_legacy"}
        layout : {"in_out", "out_in"}, optional
            The shape weights are drawn in; defaults to ``"in_out"``, or ``"out_in"`` in
            ``numpy_legacy`` mode (the layout of notebooks that store ``W`` as
            ``(n_out, n_in)``).
        legacy_prefix : callable, optional
            In ``numpy_legacy`` mode, called with the fresh ``RandomState`` before any
            weight is drawn, to consume the draws the notebook made first (its data).
        dtype : numpy dtype
            ``float64`` (default) or ``float32``.

        Returns
        -------
        list of (W, b)
            ``W`` of shape ``(R, n_in, n_out)``, ``b`` of shape ``(R, n_out)``.
        """
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("init needs at least one seed")
        scheme = make_init_scheme(scheme)
        if layout is None:
            layout = "out_in" if rng == "numpy_legacy" else "in_out"
        runs = []
        for seed in seeds:
            stream = init_stream(seed, rng)
            if legacy_prefix is not None:
                if rng != "numpy_legacy":
                    raise ValueError("legacy_prefix only applies to rng='numpy_legacy'")
                legacy_prefix(stream)
            runs.append(draw_run_parameters(self.sizes, scheme, stream, bias, layout))
        return stack_runs(runs, dtype)

    # -- forward ----------------------------------------------------------------------

    def forward(self, params: Params, X: np.ndarray) -> np.ndarray:
        """Outputs of every run, shape ``(R, n, n_out)``."""
        _, a = self.forward_cache(params, X)
        return a[-1]

    def forward_cache(
        self, params: Params, X: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Pre-activations and activations of every layer.

        Returns
        -------
        z : list of ndarray
            ``z[l]`` of shape ``(R, n, sizes[l + 1])``.
        a : list of ndarray
            ``a[0]`` is ``X``; ``a[l + 1] = activation_l(z[l])``.
        """
        return self._forward_cache(params, self._check_inputs(params, X))

    def _forward_cache(
        self,
        params: Params,
        X: np.ndarray,
        ws: Workspace | None = None,
        first: FirstLayer | None = None,
    ):
        """:meth:`forward_cache` without the argument checks, for the training loop,
        writing into the buffers of ``ws`` if given; ``first`` folds the first layer's
        bias into its product."""
        zs, acts = [], [X]
        a = X
        for layer, ((W, b), act) in enumerate(zip(params, self.activations, strict=True)):
            if layer == 0 and first is not None:
                z = np.matmul(first.X1, first.Wb, out=ws.z[0] if ws else None)
            else:
                z = np.matmul(a, W, out=ws.z[layer] if ws else None)
                z += b[:, None, :]
            a = act.forward(z, out=ws.a[layer] if ws else None)
            zs.append(z)
            acts.append(a)
        return zs, acts

    # -- loss and gradients -----------------------------------------------------------

    def loss_value(self, params: Params, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Loss of every run, shape ``(R,)``."""
        zs, acts = self.forward_cache(params, X)
        return self.loss.value(zs[-1], acts[-1], self._check_targets(Y, acts[-1]))

    def loss_and_grads(
        self, params: Params, X: np.ndarray, Y: np.ndarray
    ) -> tuple[np.ndarray, Params]:
        """Loss and its gradient with respect to every weight and bias.

        Parameters
        ----------
        params : list of (W, b)
        X : ndarray, shape ``(n, n_in)`` or ``(R, n, n_in)``
        Y : ndarray, shape ``(n, n_out)`` or ``(R, n, n_out)``; ``(n,)`` if ``n_out == 1``

        Returns
        -------
        loss : ndarray, shape ``(R,)``
        grads : list of (dW, db), shaped like ``params``
        """
        X = self._check_inputs(params, X)
        Y = as_targets(Y, X.shape[-2], self.sizes[-1], X.dtype)
        return self._loss_and_grads(params, X, Y)

    def _loss_and_grads(self, params: Params, X: np.ndarray, Y: np.ndarray, ws=None):
        """:meth:`loss_and_grads` without the checks, into the buffers of ``ws`` if given."""
        zs, acts = self._forward_cache(params, X, ws)
        loss = self.loss.value(zs[-1], acts[-1], Y, scratch=ws.scratch if ws else None)
        return loss, self.backward(params, zs, acts, Y, ws)

    def output_delta(
        self, z: np.ndarray, a: np.ndarray, Y: np.ndarray, ws: Workspace | None = None
    ) -> np.ndarray:
        """``dL/dz`` of the output layer, shape ``(R, n, n_out)``."""
        out = ws.delta[-1] if ws else None
        if self.loss.output is not None:
            return self.loss.grad_z(z, a, Y, out=out)
        grad_a = self.loss.grad_a(a, Y, out=ws.grad_a[-1] if ws else None)
        return self.activations[-1].backward(z, a, grad_a, out=out)

    def backward(
        self,
        params: Params,
        zs: list[np.ndarray],
        acts: list[np.ndarray],
        Y: np.ndarray,
        ws: Workspace | None = None,
        first: FirstLayer | None = None,
    ) -> Params:
        """Backpropagate from the cached forward pass; returns ``[(dW, db), ...]``.

        With a workspace ``ws`` the gradients are its buffers, overwritten next call;
        with ``first``, the first layer's dW and db come from one product.
        """
        grads: list = [None] * self.n_layers
        dz = self.output_delta(zs[-1], acts[-1], Y, ws)
        ones = ws.ones if ws else np.ones((1, dz.shape[-2]), dtype=dz.dtype)
        for layer in range(self.n_layers - 1, -1, -1):
            if layer == 0 and first is not None:
                # [X, 1]^T dz is dW stacked on db (in ws, where ws.dW[0] and ws.db[0] are).
                dWb = np.matmul(first.X1.T, dz, out=ws.dWb0 if ws else None)
                grads[0] = (dWb[:, :-1, :], dWb[:, -1, :])
                continue
            a_prev = acts[layer]
            # (The swapaxes method: np.swapaxes's wrapper costs more than a tiny product.)
            dW = np.matmul(a_prev.swapaxes(-1, -2), dz, out=ws.dW[layer] if ws else None)
            # A product with a row of ones sums over samples ~7x faster than dz.sum(-2).
            db = np.matmul(ones, dz, out=ws.db[layer] if ws else None)[..., 0, :]
            grads[layer] = (dW, db)
            if layer:
                W = params[layer][0]
                out = ws.grad_a[layer - 1] if ws else None
                da = np.matmul(dz, W.swapaxes(-1, -2), out=out)
                dz = self.activations[layer - 1].backward(
                    zs[layer - 1], acts[layer], da, out=ws.delta[layer - 1] if ws else None
                )
        return grads

    # -- checks -----------------------------------------------------------------------

    def _check_inputs(self, params: Params, X: np.ndarray) -> np.ndarray:
        if len(params) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} (W, b) pairs, got {len(params)}")
        W0 = params[0][0]
        X = np.asarray(X, dtype=W0.dtype)
        if X.ndim not in (2, 3) or X.shape[-1] != self.sizes[0]:
            raise ValueError(
                f"X must have shape (n, {self.sizes[0]}) or (R, n, {self.sizes[0]}), got {X.shape}"
            )
        for layer, ((W, b), (n_in, n_out)) in enumerate(
            zip(params, zip(self.sizes[:-1], self.sizes[1:], strict=True), strict=True)
        ):
            if W.ndim != 3 or W.shape[1:] != (n_in, n_out) or b.shape != (W.shape[0], n_out):
                raise ValueError(
                    f"layer {layer}: W must be (R, {n_in}, {n_out}) and b (R, {n_out}), "
                    f"got {W.shape} and {b.shape}"
                )
        return X

    def _check_targets(self, Y: np.ndarray, out: np.ndarray) -> np.ndarray:
        return as_targets(Y, out.shape[-2], self.sizes[-1], out.dtype)


class FlatLayout:
    """Every layer's ``W`` and ``b`` of a run side by side in one row of ``P`` numbers.

    The training loop keeps parameters and gradients as ``(R, P)`` arrays and hands out
    per-layer views of them, so that an update or a bound check is one operation on the
    whole block instead of several per layer (on a tiny network each NumPy call costs
    about as much as its arithmetic).
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


@dataclass(frozen=True)
class FirstLayer:
    """The first layer as one product, ``z = [X, 1] @ [W; b]``, for full-batch training
    (the training set is the same every epoch): no separate bias addition forward, and
    ``dW`` and ``db`` from one product backward.

    Attributes
    ----------
    X1 : ndarray, shape ``(n, n_in + 1)``
        The inputs with a column of ones.
    Wb : ndarray, shape ``(R, n_in + 1, n_out)``
        :meth:`FlatLayout.first_layer` of the parameters.
    """

    X1: np.ndarray
    Wb: np.ndarray

    @staticmethod
    def inputs(X: np.ndarray) -> np.ndarray:
        """``[X, 1]``, shape ``(n, n_in + 1)``."""
        return np.concatenate([X, np.ones((X.shape[0], 1), X.dtype)], axis=1)


class Workspace:
    """Preallocated buffers for one forward and backward pass of ``R`` runs on ``n`` samples.

    Allocating a fresh ``(R, n, k)`` temporary for every operation of every epoch costs
    page faults that can exceed the arithmetic; the training loop reuses these instead.
    The gradients ``dW`` and ``db`` are views of one ``(R, P)`` array, ``grads``, laid
    out by :class:`FlatLayout`.
    """

    def __init__(self, sizes: Sequence[int], R: int, n: int, dtype):
        widths = sizes[1:]
        self.key = (R, n)
        self.z = [np.empty((R, n, k), dtype) for k in widths]
        self.a = [np.empty((R, n, k), dtype) for k in widths]
        self.grad_a = [np.empty((R, n, k), dtype) for k in widths]
        self.delta = [np.empty((R, n, k), dtype) for k in widths]
        self.scratch = np.empty((R, n, widths[-1]), dtype)
        layout = FlatLayout(sizes)
        self.grads = np.empty((R, layout.size), dtype)
        views = layout.views(self.grads)
        self.dW = [dW for dW, _ in views]
        self.db = [db[:, None, :] for _, db in views]  # (R, 1, k): the out of ones @ dz
        self.dWb0 = layout.first_layer(self.grads)
        self.ones = np.ones((1, n), dtype)


def as_targets(Y: np.ndarray, n: int, k: int, dtype) -> np.ndarray:
    """``Y`` as an array of shape ``(n, k)`` or ``(R, n, k)``; ``(n,)`` is taken for ``k == 1``."""
    Y = np.asarray(Y, dtype=dtype)
    if Y.ndim == 1 and k == 1:
        Y = Y[:, None]
    if Y.ndim not in (2, 3) or Y.shape[-2:] != (n, k):
        raise ValueError(
            f"Y must have shape ({n}, {k}) to match X and the output layer, got {Y.shape}"
        )
    return Y


def stack_runs(runs: Sequence[Params], dtype=np.float64) -> Params:
    """Stack per-run parameters ``[(W (n_in, n_out), b (n_out,)), ...]`` along a new axis 0."""
    n_layers = len(runs[0])
    return [
        (
            np.stack([run[layer][0] for run in runs]).astype(dtype, copy=False),
            np.stack([run[layer][1] for run in runs]).astype(dtype, copy=False),
        )
        for layer in range(n_layers)
    ]


def accuracy(a: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Classification accuracy per run, shape ``(R,)``.

    One output: the prediction is ``a > 0.5`` against ``Y > 0.5``; several outputs: the
    arg max of ``a`` against the arg max of ``Y`` (one-hot targets).
    """
    if a.shape[-1] == 1:
        hits = (a[..., 0] > 0.5) == (Y[..., 0] > 0.5)
    else:
        hits = np.argmax(a, axis=-1) == np.argmax(Y, axis=-1)
    # np.mean's arithmetic (a float64 sum, then a division) without its Python wrapper.
    return np.add.reduce(hits, axis=-1, dtype=np.float64) / hits.shape[-1]
