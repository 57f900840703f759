"""Which trainer a training job runs: the compiled trainer where it covers the block.

The config's ``engine`` asks for ``compiled`` (default) or ``numpy``. ``compiled`` runs
:func:`backproplab.engine.compiled.train_compiled` when
:func:`~backproplab.engine.compiled.supports` covers the block and falls back to the NumPy
engine (:func:`backproplab.engine.train`) otherwise, saying why; ``numpy`` runs the NumPy
engine alone. Both take the same arguments and return the same result.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from ..engine import compiled, train

__all__ = ["ENGINES", "Trainer", "select", "train_with"]

ENGINES = ("compiled", "numpy")


@dataclass(frozen=True)
class Trainer:
    """The trainer of one block.

    Attributes
    ----------
    engine : ``"compiled"`` or ``"numpy"``
        The engine that trains the block (the run table's ``engine`` column).
    requested : str
        The config's ``engine``.
    train : callable
        ``engine.train``'s signature and result.
    fallback : str
        Why the compiled trainer does not cover the block (empty unless it fell back).
    """

    engine: str
    requested: str
    train: Callable = field(repr=False)
    fallback: str = ""

    def provenance(self) -> dict:
        """What trained the block, for the traces' metadata: never host details (a
        native-profile build for this CPU is ``host``)."""
        record = {"engine": self.engine, "requested": self.requested}
        if self.fallback:
            record["fallback"] = self.fallback
        if self.engine == "compiled":
            record["numba_cpu"] = os.environ.get("NUMBA_CPU_NAME") or "host"
        return record


def select(engine: str, mlp, params, X, Y, *, threads: int = 1, **train_args) -> Trainer:
    """The trainer for a block: ``engine`` (the config's) and ``train``'s arguments.

    Parameters
    ----------
    engine : ``"compiled"`` or ``"numpy"``
    mlp, params, X, Y, train_args
        What the block's ``train`` call gets (only the model, parameters, data, optimiser
        and held-out sets decide whether the compiled trainer covers it).
    threads : int
        The compiled trainer's threads (the job's share of the machine).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine == "numpy":
        return Trainer("numpy", engine, train)
    support = compiled.supports(mlp, params, X, Y, **train_args)
    if not support:
        return Trainer("numpy", engine, train, fallback=support.reason)
    return Trainer("compiled", engine, train_with("compiled", threads))


def train_with(engine: str, threads: int = 1) -> Callable:
    """The ``train`` function of ``engine`` (a run table's ``engine`` column): to retrain a
    run as its job did, to the bit (``threads`` changes no bit)."""
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    return partial(compiled.train_compiled, threads=threads) if engine == "compiled" else train
