"""Weight initialisers and the per-run random streams they draw from.

Every run owns its streams, derived from its seed alone, so that a run's initial weights
never depend on which other runs share its block:

- ``rng="seedsequence"`` (default): ``SeedSequence(seed).spawn(2)`` gives an *init*
  stream and a *shuffle* stream, each a ``numpy.random.Generator``.
- ``rng="numpy_legacy"``: one ``numpy.random.RandomState(seed)``, drawn from in the order
  a notebook that called ``np.random.seed(seed)`` would (data first, if the notebook
  generated its data from the same global stream; then each layer's weights and biases).
  Weights are drawn in the notebook's layout (``"out_in"`` draws ``(n_out, n_in)`` and
  transposes) so that the values land where the notebook put them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "INIT_SCHEMES",
    "RANDOM_INIT_SCHEMES",
    "RNG_MODES",
    "InitScheme",
    "init_stream",
    "make_init_scheme",
    "shuffle_stream",
]

RNG_MODES = ("seedsequence", "numpy_legacy")
_INIT, _SHUFFLE = 0, 1


def _child(seed: int, which: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(2)[which])


def init_stream(seed: int, rng: str = "seedsequence") -> np.random.Generator:
    """The stream a run's initial parameters are drawn from."""
    if rng == "numpy_legacy":
        return np.random.RandomState(int(seed))
    if rng != "seedsequence":
        raise ValueError(f"unknown rng mode {rng!r}; expected one of {list(RNG_MODES)}")
    return _child(seed, _INIT)


def shuffle_stream(seed: int) -> np.random.Generator:
    """The stream a run's mini-batch order is drawn from (independent of its init stream)."""
    return _child(seed, _SHUFFLE)


@dataclass(frozen=True)
class InitScheme:
    """How to draw one weight matrix (and optionally its bias) of a layer.

    Attributes
    ----------
    name : str
        ``normal``, ``uniform``, ``lecun_normal``, ``he_normal``, ``glorot_normal``,
        ``glorot_uniform`` or ``explicit``.
    mean, std : float
        For ``normal``.
    low, high : float
        For ``uniform``.
    weights, biases : list, optional
        For ``explicit``: per layer, ``weights[l]`` has shape ``(n_in, n_out)`` and
        ``biases[l]`` shape ``(n_out,)``; the same values for every run.
    """

    name: str
    mean: float = 0.0
    std: float = 1.0
    low: float = -1.0
    high: float = 1.0
    weights: tuple | None = None
    biases: tuple | None = None

    def draw(self, rng, shape: tuple[int, ...], n_in: int, n_out: int) -> np.ndarray:
        """Draw an array of ``shape`` for a layer with fan-in ``n_in`` and fan-out ``n_out``."""
        kind, a, b = self._distribution(n_in, n_out)
        if kind == "normal":
            return rng.normal(a, b, size=shape)
        return rng.uniform(a, b, size=shape)

    def _distribution(self, n_in: int, n_out: int) -> tuple[str, float, float]:
        rule = _SCHEMES.get(self.name)
        if rule is None or rule.distribution is None:
            raise ValueError(f"init scheme {self.name!r} does not draw random values")
        return rule.distribution(self, n_in, n_out)


# Each distribution: (scheme, n_in, n_out) -> ("normal", mean, std) or ("uniform", low, high).


def _normal(scheme: InitScheme, n_in: int, n_out: int) -> tuple[str, float, float]:
    return "normal", scheme.mean, scheme.std


def _uniform(scheme: InitScheme, n_in: int, n_out: int) -> tuple[str, float, float]:
    return "uniform", scheme.low, scheme.high


def _lecun_normal(scheme: InitScheme, n_in: int, n_out: int) -> tuple[str, float, float]:
    return "normal", 0.0, float(np.sqrt(1.0 / n_in))


def _he_normal(scheme: InitScheme, n_in: int, n_out: int) -> tuple[str, float, float]:
    return "normal", 0.0, float(np.sqrt(2.0 / n_in))


def _glorot_normal(scheme: InitScheme, n_in: int, n_out: int) -> tuple[str, float, float]:
    return "normal", 0.0, float(np.sqrt(2.0 / (n_in + n_out)))


def _glorot_uniform(scheme: InitScheme, n_in: int, n_out: int) -> tuple[str, float, float]:
    limit = float(np.sqrt(6.0 / (n_in + n_out)))
    return "uniform", -limit, limit


@dataclass(frozen=True)
class _Rule:
    """What a scheme takes from a config mapping and what it draws from.

    Attributes
    ----------
    parameters : frozenset of str
        The keys a mapping may give besides ``name`` (fields of :class:`InitScheme`).
    distribution : callable or None
        The distribution of its values; ``None`` for a scheme that draws nothing.
    """

    parameters: frozenset[str]
    distribution: Callable[[InitScheme, int, int], tuple[str, float, float]] | None


# In the schema's enum order (tests/test_registries.py keeps the two equal).
_SCHEMES: dict[str, _Rule] = {
    "normal": _Rule(frozenset({"mean", "std"}), _normal),
    "uniform": _Rule(frozenset({"low", "high"}), _uniform),
    "lecun_normal": _Rule(frozenset(), _lecun_normal),
    "he_normal": _Rule(frozenset(), _he_normal),
    "glorot_normal": _Rule(frozenset(), _glorot_normal),
    "glorot_uniform": _Rule(frozenset(), _glorot_uniform),
    "explicit": _Rule(frozenset({"weights", "biases"}), None),
}
INIT_SCHEMES: tuple[str, ...] = tuple(_SCHEMES)
# The schemes a config may name as a bare string: explicit needs its values in a mapping.
RANDOM_INIT_SCHEMES: tuple[str, ...] = tuple(
    name for name, rule in _SCHEMES.items() if rule.distribution is not None
)


def make_init_scheme(spec: str | Mapping | InitScheme) -> InitScheme:
    """Build an :class:`InitScheme` from a name or a mapping with its parameters.

    Raises
    ------
    ValueError
        For an unknown scheme or parameter, or a non-positive ``std`` or empty range.
    """
    if isinstance(spec, InitScheme):
        return spec
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, Mapping):
        if "name" not in spec:
            raise ValueError(f"init mapping {dict(spec)!r} has no 'name'")
        name, params = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    else:
        raise TypeError(f"init must be a name or a mapping, got {type(spec).__name__}")
    if name not in _SCHEMES:
        raise ValueError(f"unknown init scheme {name!r}; expected one of {list(_SCHEMES)}")
    allowed = _SCHEMES[name].parameters
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(
            f"init scheme {name!r} takes parameters {sorted(allowed)}, got {sorted(unknown)}"
        )
    if name == "explicit":
        if "weights" not in params:
            raise ValueError("init scheme 'explicit' needs 'weights' (one matrix per layer)")
        params["weights"] = tuple(np.asarray(w, dtype=float) for w in params["weights"])
        if params.get("biases") is not None:
            params["biases"] = tuple(np.asarray(b, dtype=float) for b in params["biases"])
    scheme = InitScheme(name=name, **params)
    if name == "normal" and not (scheme.std > 0 and np.isfinite(scheme.std)):
        raise ValueError(f"init 'normal' needs std > 0, got {scheme.std!r}")
    if name == "uniform" and not scheme.low < scheme.high:
        raise ValueError(f"init 'uniform' needs low < high, got [{scheme.low}, {scheme.high}]")
    return scheme


def draw_run_parameters(
    sizes: Sequence[int],
    scheme: InitScheme,
    rng,
    bias: str,
    layout: str,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Draw one run's parameters, layer by layer: the weights, then the bias.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first.
    scheme : InitScheme
    rng : numpy.random.Generator or numpy.random.RandomState
    bias : {"zeros", "like_weights"}
        Zero biases, or biases drawn from the weights' distribution.
    layout : {"in_out", "out_in"}
        The shape the weights are drawn in (the stream's order of values).

    Returns
    -------
    list of (W, b)
        ``W`` of shape ``(n_in, n_out)``, ``b`` of shape ``(n_out,)``.
    """
    params = []
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if scheme.name == "explicit":
            W = _explicit(scheme.weights, layer, (n_in, n_out), "weights")
            b = (
                np.zeros(n_out)
                if scheme.biases is None
                else _explicit(scheme.biases, layer, (n_out,), "biases")
            )
            params.append((W, b))
            continue
        if layout == "out_in":
            W = scheme.draw(rng, (n_out, n_in), n_in, n_out).T
        elif layout == "in_out":
            W = scheme.draw(rng, (n_in, n_out), n_in, n_out)
        else:
            raise ValueError(f"unknown weight layout {layout!r}; expected 'in_out' or 'out_in'")
        if bias == "zeros":
            b = np.zeros(n_out)
        elif bias == "like_weights":
            b = scheme.draw(rng, (n_out,), n_in, n_out)
        else:
            raise ValueError(f"unknown bias init {bias!r}; expected 'zeros' or 'like_weights'")
        params.append((np.ascontiguousarray(W), b))
    return params


def _explicit(values: tuple, layer: int, shape: tuple[int, ...], what: str) -> np.ndarray:
    if layer >= len(values):
        raise ValueError(
            f"explicit init gives {len(values)} {what} arrays, layer {layer} needs one"
        )
    arr = values[layer]
    if arr.shape != shape:
        raise ValueError(f"explicit init {what}[{layer}] has shape {arr.shape}, expected {shape}")
    return arr.copy()
