"""Compile the kernel once (or load it from numba's cache) before parallel jobs use it."""

from __future__ import annotations

import json
import logging
import os
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

__all__ = ["warm", "write_warm_record"]

log = logging.getLogger(__name__)


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


def write_warm_record(path: str | Path) -> dict:
    """:func:`warm`, logged, and its record written to ``path`` as JSON (the output of
    the workflow's ``compile_trainer`` rule, which every training job waits for).

    The record holds what the cache was built with (numba and llvmlite versions, the CPU
    model it targets: under the canonical numerics ``x86-64-v4`` on AVX-512 CPUs and
    ``haswell`` on the others, ``numerics.NUMBA_BUILDS``; ``host`` otherwise) and
    whether this call compiled or loaded it; the seconds go to the log only.
    """
    stats = warm()
    record = {
        "numba": version("numba"),
        "llvmlite": version("llvmlite"),
        "numba_cpu": os.environ.get("NUMBA_CPU_NAME") or "host",
        "cache": "compiled" if stats["cache_misses"] else "loaded",
    }
    log.info(
        "compiled trainer %s in %.2f s (cache %s: %s)",
        record["cache"],
        stats["seconds"],
        os.environ.get("NUMBA_CACHE_DIR") or "numba's default, beside the kernel",
        stats,
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record
