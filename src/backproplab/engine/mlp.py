"""A fully connected network as a description; parameters live outside it.

One :class:`MLP` serves a whole block of runs. Parameters are a list with one ``(W, b)``
pair per layer, stacked over runs: ``W`` has shape ``(R, n_in, n_out)`` and ``b`` shape
``(R, n_out)``. Inputs ``X`` are ``(n, n_in)`` (shared by every run) or ``(R, n, n_in)``
(one mini-batch per run). Nothing here mutates its arguments.

The training loop passes a :class:`~backproplab.engine.workspace.Workspace`: the same
arithmetic, written into buffers it reuses every epoch instead of new arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .activations import Activation, make_activation
from .initializers import (
    InitScheme,
    draw_run_parameters,
    init_stream,
    make_init_scheme,
)
from .losses import Loss, make_loss
from .rows import sample_sum
from .workspace import NO_BUFFERS, FlatLayout, Workspace

__all__ = ["MLP", "FlatLayout", "Params", "accuracy", "as_targets", "stack_runs"]

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
        self, params: Params, X: np.ndarray, *, buffers: Workspace | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Pre-activations and activations of every layer: ``z = a_prev @ W + b`` and
        ``a = activation(z)``, layer after layer.

        Parameters
        ----------
        params : list of (W, b)
            ``W`` of shape ``(R, n_in, n_out)``, ``b`` of shape ``(R, n_out)``.
        X : ndarray, shape ``(n, sizes[0])`` or ``(R, n, sizes[0])``
        buffers : Workspace, optional
            Arrays to write ``z`` and ``a`` into (the training loop's, reused every
            epoch), and how to compute the first layer. With them, ``params`` and ``X``
            are taken as checked (by :meth:`check_inputs`, once).

        Returns
        -------
        z : list of ndarray
            ``z[l]`` of shape ``(R, n, sizes[l + 1])``.
        a : list of ndarray
            ``a[0]`` is ``X``; ``a[l + 1] = activation_l(z[l])``, shaped like ``z[l]``.
        """
        if buffers is None:
            X, buffers = self.check_inputs(params, X), NO_BUFFERS
        zs, acts = [], [X]
        for layer, ((W, b), act) in enumerate(zip(params, self.activations, strict=True)):
            if layer == 0 and buffers.first_layer is not None:
                z = buffers.first_layer.forward(out=buffers.z[0])  # [X, 1] @ [W; b]
            else:
                # (R, n, n_in) @ (R, n_in, n_out) -> (R, n, n_out), plus b for every sample
                z = np.matmul(acts[layer], W, out=buffers.z[layer])
                z += b[:, None, :]
            zs.append(z)
            acts.append(act.forward(z, out=buffers.a[layer], rows=buffers.rows[layer]))
        return zs, acts

    # -- loss and gradients -----------------------------------------------------------

    def loss_value(self, params: Params, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Loss of every run, shape ``(R,)``."""
        zs, acts = self.forward_cache(params, X)
        return self.loss.value(zs[-1], acts[-1], self._check_targets(Y, acts[-1]))

    def loss_and_grads(
        self, params: Params, X: np.ndarray, Y: np.ndarray, *, buffers: Workspace | None = None
    ) -> tuple[np.ndarray, Params]:
        """Loss and its gradient with respect to every weight and bias.

        Parameters
        ----------
        params : list of (W, b)
        X : ndarray, shape ``(n, n_in)`` or ``(R, n, n_in)``
        Y : ndarray, shape ``(n, n_out)`` or ``(R, n, n_out)``; ``(n,)`` if ``n_out == 1``
        buffers : Workspace, optional
            As in :meth:`forward_cache`; with them, ``Y`` is taken as checked too
            (:func:`as_targets`).

        Returns
        -------
        loss : ndarray, shape ``(R,)``
        grads : list of (dW, db), shaped like ``params``
        """
        if buffers is None:
            X, buffers = self.check_inputs(params, X), NO_BUFFERS
            Y = as_targets(Y, X.shape[-2], self.sizes[-1], X.dtype)
        zs, acts = self.forward_cache(params, X, buffers=buffers)
        loss = self.loss.value(zs[-1], acts[-1], Y, scratch=buffers.scratch, rows=buffers.rows[-1])
        return loss, self.backward(params, zs, acts, Y, buffers=buffers)

    def output_delta(
        self, z: np.ndarray, a: np.ndarray, Y: np.ndarray, *, buffers: Workspace | None = None
    ) -> np.ndarray:
        """``dL/dz`` of the output layer, shape ``(R, n, n_out)``: through the fused
        output activation where the loss has one, else ``dL/da`` times ``da/dz``."""
        buffers = buffers or NO_BUFFERS
        if self.loss.output is not None:
            return self.loss.grad_z(z, a, Y, out=buffers.delta[-1])
        grad_a = self.loss.grad_a(a, Y, out=buffers.grad_a[-1])
        return self.activations[-1].backward(z, a, grad_a, out=buffers.delta[-1])

    def backward(
        self,
        params: Params,
        zs: list[np.ndarray],
        acts: list[np.ndarray],
        Y: np.ndarray,
        *,
        buffers: Workspace | None = None,
    ) -> Params:
        """Backpropagate from a forward pass (:meth:`forward_cache`'s ``zs`` and ``acts``).

        From the output layer's ``dz = dL/dz`` down, each layer's gradients are
        ``dW = a_prev^T dz`` (per run, ``(n_in, n_out)``) and ``db`` = ``dz`` summed over
        samples; the layer below gets ``dL/da_prev = dz W^T`` and its own ``dz`` through
        its activation's derivative.

        Parameters
        ----------
        params : list of (W, b)
        zs, acts : lists of ndarray
            As returned by :meth:`forward_cache` (with the same ``buffers``).
        Y : ndarray, shape ``(n, n_out)`` or ``(R, n, n_out)``
        buffers : Workspace, optional
            Arrays to write into; the gradients are then views of ``buffers.grads``,
            overwritten by the next pass.

        Returns
        -------
        list of (dW, db)
            ``dW`` of shape ``(R, n_in, n_out)``, ``db`` of shape ``(R, n_out)``.
        """
        buffers = buffers or NO_BUFFERS
        grads: Params = [None] * self.n_layers
        dz = self.output_delta(zs[-1], acts[-1], Y, buffers=buffers)
        for layer in range(self.n_layers - 1, -1, -1):
            if layer == 0 and buffers.first_layer is not None:
                grads[0] = buffers.first_layer.backward(dz, out=buffers.dWb0)  # [X, 1]^T dz
                break
            # dW = a_prev^T dz: (R, n_in, n) @ (R, n, n_out). (The swapaxes method:
            # np.swapaxes's wrapper costs more than a tiny product.)
            dW = np.matmul(acts[layer].swapaxes(-1, -2), dz, out=buffers.dW[layer])
            db = sample_sum(dz, out=buffers.db[layer])[:, 0, :]  # (R, n_out)
            grads[layer] = (dW, db)
            if layer:
                # dL/da_prev = dz W^T: (R, n, n_out) @ (R, n_out, n_in), then dz of the
                # layer below through its activation's derivative.
                W = params[layer][0]
                da = np.matmul(dz, W.swapaxes(-1, -2), out=buffers.grad_a[layer - 1])
                dz = self.activations[layer - 1].backward(
                    zs[layer - 1], acts[layer], da, out=buffers.delta[layer - 1]
                )
        return grads

    # -- checks -----------------------------------------------------------------------

    def check_inputs(self, params: Params, X: np.ndarray) -> np.ndarray:
        """``X`` as an array of the parameters' dtype, after checking that ``params`` are
        this network's (``W`` ``(R, n_in, n_out)``, ``b`` ``(R, n_out)`` per layer) and
        ``X`` is ``(n, sizes[0])`` or ``(R, n, sizes[0])``.

        Raises
        ------
        ValueError
            Naming the first array of the wrong shape.
        """
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
