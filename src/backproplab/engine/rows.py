"""Reductions over the last axis (the units of a layer) of stacked ``(R, n, k)`` arrays.

NumPy reduces a short contiguous last axis one row at a time, at a few nanoseconds per
element: for the softmax of ``k = 10`` classes, ``np.max(z, axis=-1)`` costs more than the
``exp`` it guards. These helpers do the same reductions with whole-array operations
instead: a maximum as ``k - 1`` elementwise maxima of columns, a sum as one product with a
column of ones (about 8x faster). Both give the same result for a run whatever other runs
share its block, since each run's rows go through the same operations in the same order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["row_max", "row_sum"]

# Above this many units a reduction's per-row cost no longer dominates and np.max is used.
_COLUMNWISE_UP_TO = 32


def row_max(z: np.ndarray) -> np.ndarray:
    """Maximum over the last axis, keeping it: ``(..., k) -> (..., 1)``.

    NaN propagates, as with ``np.max``.
    """
    k = z.shape[-1]
    if k > _COLUMNWISE_UP_TO:
        return np.max(z, axis=-1, keepdims=True)
    out = z[..., :1].copy()
    for j in range(1, k):
        np.maximum(out, z[..., j : j + 1], out=out)
    return out


def row_sum(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Sum over the last axis, keeping it: ``(..., k) -> (..., 1)``, as a matrix product
    with a column of ones."""
    return np.matmul(z, np.ones((z.shape[-1], 1), dtype=z.dtype), out=out)
