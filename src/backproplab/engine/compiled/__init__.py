"""The compiled trainer: :func:`backproplab.engine.train`'s math as one numba kernel.

The NumPy engine (:mod:`backproplab.engine`) is the readable reference; this package
computes the same training for the configurations :func:`supports` accepts, faster, and
falls back to nothing itself: callers ask :func:`supports` and use the engine otherwise.

- :func:`train_compiled`: ``train``'s signature and result;
- :func:`supports`: whether a configuration is covered (a true-valued :class:`Support`,
  or a false one with the reason);
- :func:`warm`: compile (or load from numba's on-disk cache) everything the pipeline uses,
  once, before parallel jobs start.

Importing this package does not import numba; the first call does.
"""

from .trainer import NotSupported, Support, supports, train_compiled
from .warm import warm, write_warm_record

__all__ = ["NotSupported", "Support", "supports", "train_compiled", "warm", "write_warm_record"]
