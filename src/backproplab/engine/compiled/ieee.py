"""exp, log, log1p and the engine's tanh, sigmoid and softplus from exact IEEE operations.

The compiled trainer cannot call libm: its exp differs between glibc versions, and a
vectorised loop may call another implementation (or none) depending on the SIMD width
the CPU offers, so the bits would depend on the machine. These functions use only
``+ - * /``, comparisons and integer operations on a float's bits (the exponent, as
``ldexp`` does), each of which IEEE 754 defines to the bit, and they compile without
``fastmath``, so LLVM neither contracts ``a * b + c`` into an FMA nor reorders a sum: a
function returns the same bits on every x86-64 CPU, in a scalar loop or in vector lanes
of any width.

Algorithms (fdlibm's, as in musl's ``exp.c``/``log.c``/``log1p.c`` before their table-driven
rewrite), each within 1 ulp of the true result on the normal range (measured against
NumPy in tests/test_compiled_ieee.py):

- ``exp``: ``x = k ln2 + r`` with ``|r| <= ln2 / 2`` (Cody-Waite, ``ln2`` in two parts),
  a degree-5 rational approximation of ``exp(r)``, and the scaling by ``2**k`` as two
  exact multiplications by powers of two built from their bits (so a subnormal result is
  rounded once, and ``k`` never reaches an exponent out of range). Branch-free, so that
  the loops calling it vectorise.
- ``log``, ``log1p``: ``x = 2**k (1 + f)`` with ``sqrt(2)/2 <= 1 + f < sqrt(2)``,
  ``s = f / (2 + f)`` and a degree-14 polynomial in ``s``; ``log1p`` adds the rounding
  error of ``1 + x`` back as a correction term.
- ``tanh``, ``sigmoid``, ``softplus``: the NumPy engine's formulas
  (:mod:`backproplab.engine.activations`, ``np.logaddexp(0, z)``) on top of these.

The numba functions themselves (scalar, for numba code) are in
:mod:`backproplab.engine.compiled.kernels`, beside the kernel that inlines them (one file,
so that numba's cache sees any change); this module applies them to arrays from Python.
"""

from __future__ import annotations

import numpy as np

__all__ = ["exp", "log", "log1p", "sigmoid", "softplus", "tanh"]


def _apply(name: str, x) -> np.ndarray:
    from . import kernels

    x = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(x).reshape(-1)
    return getattr(kernels, f"{name}_array")(flat).reshape(x.shape)


def exp(x) -> np.ndarray:
    """e**x of every entry, as the compiled trainer computes it."""
    return _apply("exp", x)


def log(x) -> np.ndarray:
    """The natural logarithm of every entry."""
    return _apply("log", x)


def log1p(x) -> np.ndarray:
    """log(1 + x) of every entry."""
    return _apply("log1p", x)


def tanh(x) -> np.ndarray:
    """The engine's tanh formula of every entry, on this exp."""
    return _apply("tanh", x)


def sigmoid(x) -> np.ndarray:
    """The engine's sigmoid formula of every entry, on this exp."""
    return _apply("sigmoid", x)


def softplus(x) -> np.ndarray:
    """``np.logaddexp(0, x)`` of every entry, on this exp and log1p."""
    return _apply("softplus", x)
