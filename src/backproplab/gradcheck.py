"""Central finite differences against backpropagation.

The runs of a block are independent, so one perturbed forward pass gives the finite
difference of the same parameter entry for every run at once.
"""

from __future__ import annotations

import numpy as np

from .engine.mlp import MLP, Params

__all__ = ["numerical_grads", "relative_error"]


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
