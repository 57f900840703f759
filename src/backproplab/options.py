"""Options that are either used or refused: the checks that need the keys a user wrote.

The schema lists every key a data set, an initialiser or an activation may take, and its
defaults fill each data set's keys for every generator; so an option of another generator
(``test_fraction`` on the encoder, ``noise`` on xor) or of another initialiser (``std`` on
uniform) would pass and be ignored. :func:`check_written` runs on the config as written
(after the schema, before its defaults) and refuses each such key, naming its path and
what the chosen generator, initialiser or activation reads; :func:`check_references`
runs on the defaulted config and checks that every published table fits the example it
is compared with (a shorter list would fail inside the references job, an empty log
would check nothing).

Each registry (``datasets.GENERATORS``, the engine's initialisers and activations) is the
one owner of the keys it reads; nothing here lists them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import ConfigError

__all__ = ["check_references", "check_written"]


def _reads(names) -> str:
    return f"it reads {', '.join(sorted(names))}" if names else "it reads no options"


# -- the config as written ------------------------------------------------------------------


def check_written(config: Mapping) -> None:
    """Refuse options that nothing reads, in a schema-valid config before its defaults.

    Raises
    ------
    ConfigError
        Naming the key (``datasets.enc.test_fraction``) and what is read instead.
    """
    for name, spec in (config.get("datasets") or {}).items():
        _check_dataset(spec, f"datasets.{name}")
    for name, exp in config["experiments"].items():
        where = f"experiments.{name}"
        _check_model(exp.get("model", {}), f"{where}.model")
        for vname, override in (exp.get("variants") or {}).items():
            _check_model(override.get("model", {}), f"{where}.variants.{vname}.model")
        _check_trace(exp.get("trace", {}), f"{where}.trace")
        _check_figures(exp.get("figures", {}), f"{where}.figures")


def _check_dataset(spec: Mapping, where: str) -> None:
    from .datasets import GENERATORS

    generator = GENERATORS[spec["generator"]]
    reads = set(generator.options)
    for key in spec:
        if key != "generator" and key not in reads:
            users = sorted(g.name for g in GENERATORS.values() if key in g.options)
            raise ConfigError(
                f"{where}.{key}: the {generator.name} generator does not read {key} "
                f"({_reads(reads)}); {key} is an option of "
                f"{', '.join(users)}: remove it"
            )
    if generator.name == "file" and not str(spec.get("path", "")).strip():
        state = "is empty" if "path" in spec else "is missing"
        raise ConfigError(
            f"{where}.path: the key {state}: a file data set needs path, the CSV or "
            f"Parquet file to read (relative to the working directory)"
        )


def _values(value: Any, single) -> list[tuple[str, Any]]:
    """A model key's values with their path suffixes: one value, or a list of them (a
    grid). ``single(value)`` tells one value from a list of values."""
    if single(value):
        return [("", value)]
    return [(f"[{i}]", v) for i, v in enumerate(value)]


def _check_model(model: Mapping, where: str) -> None:
    if "init" in model:
        for suffix, init in _values(model["init"], lambda v: not isinstance(v, list)):
            _check_init(init, f"{where}.init{suffix}")
    if "activations" in model:
        value = model["activations"]
        lists = _values(value, lambda v: not (v and isinstance(v[0], list)))
        for suffix, activations in lists:
            for i, activation in enumerate(activations):
                _check_activation(activation, f"{where}.activations{suffix}[{i}]")


def _check_init(init: Any, where: str) -> None:
    from .engine.initializers import _SCHEMES, InitScheme

    if not isinstance(init, Mapping):
        return
    name = init["name"]
    reads = _SCHEMES[name].parameters
    for key in init:
        if key != "name" and key not in reads:
            users = sorted(n for n, rule in _SCHEMES.items() if key in rule.parameters)
            raise ConfigError(
                f"{where}.{key}: init {name} does not read {key} ("
                f"{_reads(reads)}); {key} is an option of {', '.join(users)}: remove it"
            )
    if name == "uniform":
        low = init.get("low", InitScheme.low)
        high = init.get("high", InitScheme.high)
        if not low < high:
            key = "low" if "low" in init else "high"
            shown = ", ".join(
                f"{k} {v}{'' if k in init else ' (the default)'}"
                for k, v in (("low", low), ("high", high))
            )
            raise ConfigError(
                f"{where}.{key}: init uniform draws from [low, high) and needs low < high; "
                f"got {shown}"
            )
    if name == "explicit" and "weights" not in init:
        raise ConfigError(f"{where}: init explicit needs weights (one matrix per layer)")


def _check_activation(activation: Any, where: str) -> None:
    from .engine.activations import _REGISTRY, _parameters

    if not isinstance(activation, Mapping):
        return
    name = activation["name"]
    reads = _parameters(_REGISTRY[name])
    for key in activation:
        if key != "name" and key not in reads:
            users = sorted(n for n, cls in _REGISTRY.items() if key in _parameters(cls))
            raise ConfigError(
                f"{where}.{key}: activation {name} does not read {key} ("
                f"{_reads(reads)}); {key} is an option of {', '.join(users)}: remove it"
            )


def _check_trace(trace: Mapping, where: str) -> None:
    if trace.get("state") == []:
        for key in ("state_every", "state_epochs"):
            if key in trace and trace[key] not in (None, []):
                raise ConfigError(
                    f"{where}.{key}: {where}.state is [], so no tensor is recorded at the "
                    f"epochs {key} names (W and b are always kept at the first and last); "
                    f"name the tensors in state or remove {key}"
                )


def _check_figures(figures: Mapping, where: str) -> None:
    options = figures.get("boundary_epochs") or {}
    if options.get("epochs") is not None and "max_panels" in options:
        raise ConfigError(
            f"{where}.boundary_epochs.max_panels: only applies when epochs is null "
            f"({where}.boundary_epochs.epochs names the columns): remove one of the two"
        )


# -- the published tables ----------------------------------------------------------------------


def _shape(value) -> tuple:
    """The shape of a nested list (ragged: None where lengths differ)."""
    if not isinstance(value, list):
        return ()
    shapes = {_shape(v) for v in value}
    inner = shapes.pop() if len(shapes) == 1 else (None,)
    return (len(value), *inner)


def _expect(value, shape: tuple, where: str, what: str) -> None:
    got = _shape(value)
    if got != shape:
        shown = " x ".join(map(str, got)) if None not in got else "lists of unequal lengths"
        raise ConfigError(
            f"{where}: expected {' x '.join(map(str, shape))} numbers ({what}), got "
            f"{shown if got else 'a single value'}"
        )


def check_references(config: Mapping) -> None:
    """Every published table of ``validation.references`` against the example it is
    compared with: as many numbers as the example computes, in its shape.

    Raises
    ------
    ConfigError
        Naming the table and the shape expected.
    """
    refs = config["validation"]["references"]
    where = "validation.references"
    mazur, w = refs["mazur"], f"{where}.mazur"
    # The post's network is 2-2-2 (the worked example's model is fixed).
    _expect(mazur["weights"], (2, 2, 2), f"{w}.weights", "two 2 x 2 layers, W[i][j]")
    _expect(mazur["biases"], (2, 2), f"{w}.biases", "two layers of 2 biases")
    _expect(mazur["inputs"], (2,), f"{w}.inputs", "the sample's 2 inputs")
    _expect(mazur["targets"], (2,), f"{w}.targets", "its 2 targets")
    _expect(
        mazur["weights_after_one_step"],
        (8,),
        f"{w}.weights_after_one_step",
        "the 8 weights w1..w8 of the 2-2-2 network",
    )
    seed003, w = refs["seed003"], f"{where}.seed003"
    layers = len(seed003["weights"])
    if layers < 2:
        raise ConfigError(
            f"{w}.weights: {layers} layer(s); the example prints a second hidden layer, "
            f"so it needs at least 2 layers of 2 x 2 weights"
        )
    _expect(seed003["weights"], (layers, 2, 2), f"{w}.weights", f"{layers} layers of 2 x 2")
    _expect(seed003["inputs"], (2,), f"{w}.inputs", "the sample's 2 inputs")
    _expect(seed003["targets"], (2,), f"{w}.targets", "its 2 targets")
    for key in ("second_hidden_layer", "outputs"):
        _expect(seed003[key], (2,), f"{w}.{key}", "one printed value per unit (2)")
    for key in ("gradients", "weights_after_one_step"):
        _expect(
            seed003[key],
            (layers, 2, 2),
            f"{w}.{key}",
            f"one 2 x 2 matrix for each of the {layers} layers of {w}.weights",
        )
    seed001, w = refs["seed001"], f"{where}.seed001"
    sizes = seed001["sizes"]
    if len(sizes) < 2 or sizes[0] != 2 or sizes[-1] != 1:
        raise ConfigError(
            f"{w}.sizes: {sizes} does not fit the spiral notebook: 2 inputs (the "
            f"spiral's two features), then hidden widths, then 1 output (sigmoid)"
        )
    if not seed001["log"]:
        raise ConfigError(
            f"{w}.log: empty; the printed log is what the seed 001 check compares, and "
            f"it cannot be switched off: give at least one printed line"
        )
    weights = sum(i * o for i, o in zip(sizes[:-1], sizes[1:], strict=True))
    nudges = config["validation"]["band_nudges"]
    if nudges > 2 * weights:
        raise ConfigError(
            f"validation.band_nudges: {nudges} one-ulp replays, but the network of "
            f"{w}.sizes {sizes} has {weights} weights (at most two nudges each, "
            f"{2 * weights})"
        )
