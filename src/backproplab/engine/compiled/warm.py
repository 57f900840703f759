"""Compile the kernel once (or load it from numba's cache) before parallel jobs use it."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["warm"]


def warm() -> dict:
    """Compile every specialisation of the compiled trainer the pipeline can need.

    The kernel has one specialisation: every model, loss, optimiser and schedule is a
    run-time argument of the same types. A tiny training call (full batch with a trace,
    then shuffled mini-batches with momentum, clipping and a held-out set) compiles it,
    or loads it from numba's on-disk cache (``__pycache__`` beside the kernel, or
    ``NUMBA_CACHE_DIR``), so that jobs started afterwards only load it.

    Returns
    -------
    dict
        ``seconds`` spent, and numba's ``cache_hits`` / ``cache_misses`` for the kernel
        (a miss is a compilation, written to the cache).
    """
    from ..mlp import MLP
    from ..optim import GradientDescent
    from . import kernels
    from .trainer import train_compiled

    started = time.perf_counter()
    model = MLP([2, 3, 2], ["tanh", "softmax"], "cross_entropy")
    params = model.init([0, 1])
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    train_compiled(model, params, X, Y, 0.1, 2, on_trace=lambda st: None, metrics=["mse"])
    train_compiled(
        model, params, X, Y, 0.1, 2, batch_size=2, seeds=[0, 1], eval_sets={"test": (X, Y)},
        optimizer=GradientDescent(momentum=0.5, clip=1.0),
    )  # fmt: skip
    stats = kernels.train_chunk.stats
    return {
        "seconds": time.perf_counter() - started,
        "cache_hits": sum(stats.cache_hits.values()),
        "cache_misses": sum(stats.cache_misses.values()),
    }
