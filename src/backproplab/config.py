"""Loading and validating a pipeline config: the schema first, then meaning.

Every error is a :class:`ConfigError` whose message starts with the config path of the
offending key (``experiments.spiral.train.epochs``) and says what was expected. Nothing
here writes a file.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = ["ConfigError", "SCHEMA_PATH", "apply_defaults", "format_path", "load", "validate"]

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config that cannot run, with the path of the key at fault."""


@cache
def schema() -> dict:
    """The config schema (``workflow/schemas/config.schema.yaml``)."""
    with open(SCHEMA_PATH) as f:
        return yaml.safe_load(f)


def format_path(path) -> str:
    """``["experiments", "spiral", "seeds", 2]`` -> ``experiments.spiral.seeds[2]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load(path: str | Path) -> dict:
    """Read a YAML config as plain data (``yaml.safe_load``: no Python objects)."""
    path = Path(path)
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    return data if data is not None else {}


def validate(config: Mapping) -> dict:
    """Check ``config`` against the schema and return a copy with defaults filled in.

    Raises
    ------
    ConfigError
        For the most relevant schema violation, naming its path.
    """
    config = copy.deepcopy(dict(config))
    _check_finite(config, [])
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(_describe(error))
    apply_defaults(config, schema(), schema())
    _check_seed001_reference(config["validation"]["references"]["seed001"])
    return config


def _check_seed001_reference(ref: dict) -> None:
    """Every printed number of seed 001 is checked (against its rounding band where
    rounding decides it), so each must name something the replay computes."""
    where = "validation.references.seed001"
    for i, entry in enumerate(ref["log"]):
        if entry["epoch"] > ref["epochs"]:
            raise ConfigError(
                f"{where}.log[{i}].epoch: {entry['epoch']} is past the {ref['epochs']} "
                f"epochs trained ({where}.epochs)"
            )
    epochs = [e["epoch"] for e in ref["log"]]
    if len(set(epochs)) != len(epochs):
        raise ConfigError(f"{where}.log: epochs must be unique, got {epochs}")
    layers = len(ref["sizes"]) - 1
    for key in ("weight_norms", "gradient_norms"):
        if len(ref[key]) != layers:
            raise ConfigError(
                f"{where}.{key}: {len(ref[key])} numbers for a network of {layers} layers "
                f"({where}.sizes: {ref['sizes']})"
            )


def _check_finite(value: Any, path: list) -> None:
    """JSON schema cannot say "finite"; YAML can say .inf and .nan."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{format_path(path)}: {value} is not a finite number")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, [*path, key])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, [*path, i])


def _resolve(node: dict, root: dict) -> dict:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def apply_defaults(instance: Any, node: dict, root: dict) -> None:
    """Fill in the schema's defaults, in place, for objects reached through ``properties``
    and ``additionalProperties``. Model and train keys of experiments and variants are
    left alone: they are merged first and defaulted later (see ``experiments``)."""
    node = _resolve(node, root)
    if not isinstance(instance, dict):
        return
    for key, sub in node.get("properties", {}).items():
        sub_resolved = _resolve(sub, root)
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance and key not in ("model", "train", "variants"):
            apply_defaults(instance[key], sub_resolved, root)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in node.get("properties", {}):
                apply_defaults(value, extra, root)


def defaults_of(definition: str) -> dict:
    """The defaults of the properties of ``$defs[definition]`` (e.g. ``"train"``)."""
    props = schema()["$defs"][definition]["properties"]
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}


def _describe(error: jsonschema.ValidationError) -> str:
    where = format_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return f"{where}: unknown key {', '.join(hints)}; allowed keys: {', '.join(allowed)}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator in ("oneOf", "anyOf") and error.context:
        # No branch fits: say what each branch wanted, at the deepest path reached.
        deepest = max(error.context, key=lambda e: (len(e.absolute_path), e.validator == "enum"))
        where = format_path(deepest.absolute_path)
        if deepest.validator == "enum":
            return f"{where}: {deepest.message}"
        return f"{where}: {deepest.instance!r} is not valid here; {_expected(error.schema)}"
    if error.validator == "pattern" and "name" in str(error.schema.get("description", "")):
        return (
            f"{where}: {error.instance!r} is not a valid name: use letters, digits and "
            f"underscores, starting with a letter or digit (it becomes a file name)"
        )
    description = error.schema.get("description")
    suffix = f" ({description.strip()})" if isinstance(description, str) else ""
    return f"{where}: {error.message}{suffix}"


def _expected(node: dict) -> str:
    description = node.get("description")
    return f"expected: {description.strip()}" if description else "no allowed form matches"
