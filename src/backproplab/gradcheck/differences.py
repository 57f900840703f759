"""Central finite differences against backpropagation.

Two implementations of the same central differences ``(L(p + h) - L(p - h)) / 2h``, with
the losses in long double (x87 80-bit, machine epsilon 1.1e-19: at ``h = 1e-6`` its
rounding is about 1e-13, where float64's would be 1e-10):

- :func:`numerical_grads` perturbs one parameter entry at a time and reruns the model's
  whole forward pass: slow, obviously right, the reference the tests use;
- :func:`central_differences` and :func:`directional_differences` are what the pipeline
  runs. A perturbation of layer ``l`` leaves the layers below it alone, so they start
  from a cached forward pass and push only the change upwards: a step on ``W[l][i, j]``
  or ``b[l][j]`` moves one column of ``z[l]``, a rank-one change of ``z[l + 1]``, then
  whole layers. Changes are carried through the matrix products in float64 (BLAS) and
  added to the long-double pre-activations: a change is of the order of the step, so its
  float64 rounding (1e-16 of the step) is far below the long-double rounding of the loss.

ReLU-like kinks: a central difference whose evaluations at ``p - h`` and ``p + h`` put any
pre-activation of a kinked layer on another side of its kink than ``p`` does straddles
the kink; such entries and directions are flagged and reported apart, so that a correct
gradient is never failed for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..engine.mlp import MLP, Params, as_targets

__all__ = [
    "DirectionCheck",
    "TensorCheck",
    "central_differences",
    "check_gradients",
    "direction_row",
    "directional_differences",
    "numerical_grads",
    "random_directions",
    "relative_error",
    "tensor_row",
]

_SIGNS = np.array([1.0, -1.0])
# Largest perturbed batch (runs x signs x perturbations x samples x units) held at once,
# in long-double elements (16 bytes): about 32 MB per array.
_CHUNK_ELEMENTS = 1 << 21


def numerical_grads(
    model: MLP,
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    eps: float = 1e-6,
    dtype: type = np.longdouble,
) -> Params:
    """Central differences ``(L(p + eps) - L(p - eps)) / (2 eps)`` of every entry, per run.

    The perturbed losses are evaluated in ``dtype``: by default ``np.longdouble`` (x87
    80-bit on x86-64, machine epsilon 1.1e-19), whose rounding error at a step of 1e-6
    is about 1e-13, where float64's would be 1e-10 and swamp gradient entries below
    1e-3. The parameters, the step and the analytic gradients being checked are float64.

    Parameters
    ----------
    model : MLP
    params : list of (W, b), ``W`` of shape ``(R, n_in, n_out)``, float64
    X : ndarray, shape ``(n, n_in)``
    Y : ndarray, shape ``(n, n_out)``
    eps : float
        The step.
    dtype : numpy dtype
        The precision the losses are evaluated in.

    Returns
    -------
    list of (dW, db)
        Shaped like ``params``.
    """
    work = [(W.astype(dtype), b.astype(dtype)) for W, b in params]
    X = np.asarray(X, dtype=dtype)
    Y = np.asarray(Y, dtype=dtype)
    grads = []
    for layer in range(len(work)):
        pair = []
        for t in range(2):
            tensor = work[layer][t]
            g = np.empty(tensor.shape)
            for idx in np.ndindex(tensor.shape[1:]):
                where = (slice(None), *idx)
                saved = tensor[where].copy()
                # The steps actually taken, after rounding, not the nominal 2 eps.
                hi, lo = saved + eps, saved - eps
                tensor[where] = hi
                up = model.loss_value(work, X, Y)
                tensor[where] = lo
                down = model.loss_value(work, X, Y)
                tensor[where] = saved
                g[where] = (up - down) / (hi - lo)
            pair.append(g)
        grads.append(tuple(pair))
    return grads


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    """Elementwise ``|a - n| / max(1e-12, |a| + |n|)``."""
    return np.abs(analytic - numeric) / np.maximum(1e-12, np.abs(analytic) + np.abs(numeric))


# -- the fast central differences ------------------------------------------------------


@dataclass(frozen=True)
class _Base:
    """The unperturbed forward pass of ``R`` runs, in long double.

    ``z[l]`` and ``a[l + 1]`` have shape ``(R, n, sizes[l + 1])``; ``a[0]`` is ``X``,
    ``(n, sizes[0])``. ``params`` are the float64 parameters the changes are pushed
    through.
    """

    model: MLP
    params: Params
    Y: np.ndarray
    z: list
    a: list

    @classmethod
    def of(cls, model: MLP, params: Params, X: np.ndarray, Y: np.ndarray) -> _Base:
        X = np.asarray(X, dtype=np.longdouble)
        if X.ndim != 2:
            raise ValueError(f"X must have shape (n, {model.sizes[0]}), got {X.shape}")
        Y = as_targets(Y, X.shape[0], model.sizes[-1], np.longdouble)
        wide = [(W.astype(np.longdouble), b.astype(np.longdouble)) for W, b in params]
        z, a = model.forward_cache(wide, X)
        return cls(model, params, Y, z, a)

    def below(self, layer: int, values: np.ndarray) -> np.ndarray:
        """``values`` of shape ``(R, n, k)`` (or ``(n, k)``) broadcast to ``(R, 1, 1, n, k)``."""
        return values[None, None, None] if values.ndim == 2 else values[:, None, None]


def _crossed(kink: float | None, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Whether any pre-activation changed side of ``kink``; reduces the last two axes
    (samples, units) of ``(R, 2, B, n, k)``, or the last axis of ``(R, 2, B, n)``."""
    if kink is None:
        return np.zeros(after.shape[:3], bool)
    changed = (before > kink) != (after > kink)
    return changed.reshape(*after.shape[:3], -1).any(axis=-1)


def _finish(
    base: _Base,
    layer: int,
    z_new: np.ndarray,
    extra: Callable[[int, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Losses of forward passes whose pre-activations at ``layer`` are ``z_new``.

    Parameters
    ----------
    z_new : ndarray, shape ``(R, 2, B, n, sizes[layer + 1])``, long double
        Signs on axis 1, perturbations on axis 2.
    extra : callable, optional
        ``extra(k, a_prev)`` adds to the change of ``z[k]`` for ``k > layer`` (the
        directional check, which also moves the weights of the layers above).

    Returns
    -------
    loss : ndarray, shape ``(R, 2, B)``, long double
    kinked : ndarray of bool, shape ``(R, 2, B)``
    """
    model = base.model
    kinked = np.zeros(z_new.shape[:3], bool)
    for k in range(layer, model.n_layers):
        act = model.activations[k]
        kinked |= _crossed(act.kink(), base.below(k, base.z[k]), z_new)
        if k == model.n_layers - 1:
            # A fused loss is evaluated from the logits alone (see losses.Loss): its
            # output activation, as costly as the loss in long double, is not needed.
            a_new = z_new if model.loss.output is not None else act.forward(z_new)
            flat = (-1, *z_new.shape[-2:])
            loss = model.loss.value(z_new.reshape(flat), a_new.reshape(flat), base.Y)
            return loss.reshape(z_new.shape[:3]), kinked
        a_new = act.forward(z_new)
        delta = (a_new - base.below(k, base.a[k + 1])).astype(np.float64)
        dz = np.matmul(delta, base.params[k + 1][0][:, None, None])
        if extra is not None:
            dz += extra(k + 1, a_new)
        z_new = base.below(k + 1, base.z[k + 1]) + dz.astype(np.longdouble)
    raise AssertionError("unreachable: the last layer returns")


def _chunk(total: int, per_item: int) -> int:
    return max(1, min(total, _CHUNK_ELEMENTS // max(1, per_item)))


def _entry_losses(
    base: _Base, layer: int, tensor: str, rows: np.ndarray, cols: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """Losses at ``p +- step`` on entries ``(rows[b], cols[b])`` of ``W[layer]`` (or
    ``cols[b]`` of ``b[layer]``), shape ``(R, 2, B)``, and their kink flags."""
    model = base.model
    signs = (step * _SIGNS)[None, :, None, None]
    if tensor == "W":
        inputs = base.a[layer]  # (n, d) or (R, n, d)
        moved = np.moveaxis(inputs[..., rows], -1, -2)  # (B, n) or (R, B, n)
        dz = signs * (moved[None, None] if moved.ndim == 2 else moved[:, None])
    else:
        dz = signs  # (1, 2, 1, 1): the same step for every sample
    z_col = np.moveaxis(base.z[layer][..., cols], -1, -2)[:, None]  # (R, 1, B, n)
    if layer == model.n_layers - 1:
        # Softmax couples the outputs: the output layer is evaluated whole.
        onehot = np.eye(model.sizes[-1])[cols]  # (B, k)
        z_new = base.below(layer, base.z[layer]) + dz[..., None] * onehot[None, None, :, None]
        return _finish(base, layer, z_new)
    act = model.activations[layer]
    z_col_new = z_col + dz
    kinked = _crossed(act.kink(), z_col, z_col_new)
    a_col = np.moveaxis(base.a[layer + 1][..., cols], -1, -2)[:, None]
    delta = act.forward(z_col_new) - a_col  # (R, 2, B, n)
    W_rows = base.params[layer + 1][0][:, cols, :]  # (R, B, n_next)
    z_next = base.below(layer + 1, base.z[layer + 1]) + delta[..., None] * W_rows[
        :, None, :, None, :
    ].astype(np.longdouble)
    loss, later = _finish(base, layer + 1, z_next)
    return loss, kinked | later


def central_differences(
    model: MLP, params: Params, X: np.ndarray, Y: np.ndarray, step: float = 1e-6
) -> tuple[Params, Params]:
    """Central differences of every weight and bias entry, per run, and their kink flags.

    The same quantity as :func:`numerical_grads` (losses in long double, parameters and
    step in float64), computed from a cached forward pass; see the module docstring.

    Parameters
    ----------
    model : MLP
    params : list of (W, b), ``W`` of shape ``(R, n_in, n_out)``, float64
    X : ndarray, shape ``(n, n_in)``
    Y : ndarray, shape ``(n, n_out)``
    step : float

    Returns
    -------
    grads : list of (dW, db)
        Shaped like ``params``, float64.
    kinked : list of (kW, kb)
        Boolean, shaped like ``params``: the entry's difference straddles a kink.
    """
    base = _Base.of(model, params, X, Y)
    R, n = params[0][0].shape[0], base.Y.shape[0]
    grads, kinks = [], []
    for layer, (W, b) in enumerate(params):
        pair, flags = [], []
        for tensor, values in (("W", W), ("b", b)):
            shape = values.shape[1:]
            index = np.indices(shape).reshape(len(shape), -1)
            rows, cols = (index[0], index[1]) if tensor == "W" else (None, index[0])
            widest = max(model.sizes[layer + 1 :])
            size = _chunk(len(cols), R * 2 * n * widest)
            g = np.empty((R, len(cols)))
            kinked = np.empty((R, len(cols)), bool)
            for start in range(0, len(cols), size):
                part = slice(start, start + size)
                loss, crossed = _entry_losses(
                    base, layer, tensor, None if rows is None else rows[part], cols[part], step
                )
                g[:, part] = (loss[:, 0] - loss[:, 1]) / (2 * step)
                kinked[:, part] = crossed.any(axis=1)
            pair.append(g.reshape(R, *shape))
            flags.append(kinked.reshape(R, *shape))
        grads.append(tuple(pair))
        kinks.append(tuple(flags))
    return grads, kinks


def random_directions(params: Params, count: int, seed: int) -> Params:
    """``count`` random unit directions in the space of all parameters of each run.

    Returns
    -------
    list of (VW, Vb)
        ``VW`` of shape ``(R, count, n_in, n_out)``, ``Vb`` of shape ``(R, count, n_out)``;
        for each run and direction, the squared entries of all layers sum to 1.
    """
    rng = np.random.default_rng(seed)
    R = params[0][0].shape[0]
    drawn = [
        (rng.standard_normal((R, count, *W.shape[1:])), rng.standard_normal((R, count, b.shape[1])))
        for W, b in params
    ]
    squares = sum(np.sum(VW**2, axis=(2, 3)) + np.sum(Vb**2, axis=2) for VW, Vb in drawn)
    norm = np.sqrt(squares)
    return [(VW / norm[..., None, None], Vb / norm[..., None]) for VW, Vb in drawn]


def directional_differences(
    model: MLP,
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    directions: Params,
    step: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of the loss along whole-network directions, as JAX's
    ``check_grads`` does: ``(L(p + h v) - L(p - h v)) / 2h`` for each direction ``v``.

    Parameters
    ----------
    directions : list of (VW, Vb)
        From :func:`random_directions`: ``VW`` of shape ``(R, D, n_in, n_out)``.

    Returns
    -------
    derivative : ndarray, shape ``(R, D)``
    kinked : ndarray of bool, shape ``(R, D)``
    """
    base = _Base.of(model, params, X, Y)
    R, D = directions[0][0].shape[:2]
    n = base.Y.shape[0]
    X64 = np.asarray(X, dtype=np.float64)
    size = _chunk(D, R * 2 * n * max(model.sizes[1:]))
    signs = (step * _SIGNS)[None, :, None, None, None]
    out = np.empty((R, D))
    kinked = np.empty((R, D), bool)
    for start in range(0, D, size):
        part = slice(start, start + size)
        V = [(VW[:, part], Vb[:, part]) for VW, Vb in directions]

        def extra(k, a_prev, V=V):
            moved = np.matmul(a_prev.astype(np.float64), V[k][0][:, None])
            return signs * (moved + V[k][1][:, None, :, None, :])

        first = np.matmul(X64, V[0][0]) + V[0][1][:, :, None, :]  # (R, B, n, k0)
        z0 = base.below(0, base.z[0]) + (signs * first[:, None]).astype(np.longdouble)
        loss, crossed = _finish(base, 0, z0, extra)
        out[:, part] = (loss[:, 0] - loss[:, 1]) / (2 * step)
        kinked[:, part] = crossed.any(axis=1)
    return out, kinked


# -- comparing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorCheck:
    """Analytic against numeric gradient of one tensor, for every run.

    Attributes
    ----------
    layer : int
    tensor : {"W", "b"}
    analytic, numeric : ndarray, shape ``(R, n_in, n_out)`` or ``(R, n_out)``
    kinked : ndarray of bool, same shape
    """

    layer: int
    tensor: str
    analytic: np.ndarray
    numeric: np.ndarray
    kinked: np.ndarray


@dataclass(frozen=True)
class DirectionCheck:
    """Gradient projections against directional differences, shape ``(R, D)`` each."""

    analytic: np.ndarray
    numeric: np.ndarray
    kinked: np.ndarray


def check_gradients(
    model: MLP,
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    grads: Params,
    step: float,
    n_directions: int,
    seed: int = 0,
) -> tuple[list[TensorCheck], DirectionCheck]:
    """Compare ``grads`` (any gradient formula's, shaped like ``params``) with central
    differences of ``model``'s loss, entry by entry and along random directions."""
    numeric, kinks = central_differences(model, params, X, Y, step)
    tensors = [
        TensorCheck(layer, name, grads[layer][t], numeric[layer][t], kinks[layer][t])
        for layer in range(model.n_layers)
        for t, name in enumerate("Wb")
    ]
    directions = random_directions(params, n_directions, seed)
    derivative, kinked = directional_differences(model, params, X, Y, directions, step)
    projection = sum(
        np.einsum("rij,rdij->rd", g[0], V[0]) + np.einsum("rj,rdj->rd", g[1], V[1])
        for g, V in zip(grads, directions, strict=True)
    )
    return tensors, DirectionCheck(projection, derivative, kinked)


def _stats(analytic, numeric, kinked, rtol: float, atol: float) -> dict:
    """Errors of one run's entries (1-D arrays), the kinked ones apart.

    An entry fails when its relative error exceeds ``rtol`` and its absolute error
    exceeds ``atol``; ``worst`` is the failed entry with the largest relative error, or
    else the entry with the largest relative error.
    """
    a, n = analytic.astype(np.float64), numeric.astype(np.float64)
    rel, err = relative_error(a, n), np.abs(a - n)
    fine = ~kinked
    failed = fine & (rel > rtol) & (err > atol)
    pool = failed if failed.any() else fine
    worst = int(np.argmax(np.where(pool, rel, -1.0))) if pool.any() else None
    denominator = np.linalg.norm(a) * np.linalg.norm(n)
    return {
        "n_entries": int(a.size),
        "n_kinked": int(kinked.sum()),
        "n_failed": int(failed.sum()),
        "max_abs_error": float(err[fine].max()) if fine.any() else np.nan,
        "max_rel_error": float(rel[fine].max()) if fine.any() else np.nan,
        "max_rel_error_kinked": float(rel[kinked].max()) if kinked.any() else np.nan,
        "worst": worst,
        "worst_analytic": float(a[worst]) if worst is not None else np.nan,
        "worst_numeric": float(n[worst]) if worst is not None else np.nan,
        "cosine": float(a @ n / denominator) if denominator > 0 else np.nan,
        "grad_norm": float(np.linalg.norm(n)),
        "max_relative_error": rtol,
        "max_absolute_error": atol,
        "passed": not failed.any(),
    }


def tensor_row(check: TensorCheck, run: int, rtol: float, atol: float) -> dict:
    """The errors of run ``run`` (position in the block) for one tensor, its worst entry
    as ``worst_i`` and ``worst_j`` (``i = 0`` for a bias)."""
    stats = _stats(
        check.analytic[run].ravel(),
        check.numeric[run].ravel(),
        check.kinked[run].ravel(),
        rtol,
        atol,
    )
    worst = stats.pop("worst")
    shape = check.analytic.shape[1:]
    if worst is None:
        i = j = -1
    elif len(shape) == 2:
        i, j = (int(v) for v in np.unravel_index(worst, shape))
    else:
        i, j = 0, worst
    return {"layer": check.layer, "tensor": check.tensor, "worst_i": i, "worst_j": j, **stats}


def direction_row(check: DirectionCheck, run: int, rtol: float, atol: float) -> dict:
    """The directional check of run ``run`` as a row: layer -1, tensor ``"all"``, the
    worst direction's index as ``worst_j``."""
    stats = _stats(check.analytic[run], check.numeric[run], check.kinked[run], rtol, atol)
    worst = stats.pop("worst")
    j = -1 if worst is None else worst
    return {"layer": -1, "tensor": "all", "worst_i": -1, "worst_j": j, **stats}
