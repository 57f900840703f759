"""Loading and validating a pipeline config: the schema first, then meaning.

Every error is a :class:`ConfigError` whose message starts with the config path of the
offending key (``experiments.spiral.train.epochs``), or the file and line for what the
YAML itself says, and says what was expected. Nothing here writes a file.

A config is read as plain data by a strict safe loader (:func:`load`): no tags beyond
YAML's own, no duplicated keys, no merge keys, no recursive aliases, no keys that YAML 1.1
turns into booleans or numbers, no octal or base-60 numbers, and no yte templating.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = [
    "ConfigError",
    "SCHEMA_PATH",
    "apply_defaults",
    "format_path",
    "load",
    "load_configfiles",
    "load_files",
    "validate",
]

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


# -- loading ------------------------------------------------------------------------------

#: Most values a config may expand to through aliases (a "billion laughs" document is a
#: few lines that alias each other into an exponential tree).
MAX_EXPANDED_VALUES = 1_000_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+")  # YAML 1.1 octal (010 is 8); 0x and 0b are explicit


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (plain data, YAML's own tags only) that also refuses what YAML
    would otherwise resolve silently: a duplicated key (last one wins), a merge key
    (``<<``, whose keys another key silently overrides), a recursive alias, a key that is
    not a string (``no:`` is False, ``1:`` is 1), an octal (``010`` is 8) or base-60
    (``1:30`` is 90) number. Each error names the file and line."""

    def __init__(self, stream, path: Path):
        super().__init__(stream)
        self.name = str(path)  # in the marks of YAML's own errors
        self.path = path
        self._open_anchors: list[str] = []

    def _error(self, mark, message: str) -> ConfigError:
        where = f", line {mark.line + 1}" if mark is not None else ""
        return ConfigError(f"config file {self.path}{where}: {message}")

    # composing: aliases
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            if event.anchor in self._open_anchors:
                raise self._error(
                    event.start_mark,
                    f"the alias *{event.anchor} refers to its own anchor &{event.anchor} "
                    f"(a recursive value): write the value out",
                )
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor):
        return self._compose_anchored(super().compose_sequence_node, anchor)

    def compose_mapping_node(self, anchor):
        return self._compose_anchored(super().compose_mapping_node, anchor)

    def _compose_anchored(self, compose, anchor):
        self._open_anchors.append(anchor)
        try:
            return compose(anchor)
        finally:
            self._open_anchors.pop()

    # constructing: keys and numbers
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == _MERGE_TAG:
                    raise self._error(
                        key_node.start_mark,
                        "merge keys (<<) are not supported: write the keys out (an alias "
                        "of a whole value, &name ... *name, is fine)",
                    )
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise self._error(
                        key_node.start_mark,
                        f"the key {key_node.value!r} is read as {key!r} ({type(key).__name__}), "
                        f"not a name: YAML 1.1 reads yes, no, on, off, true, false, null and "
                        f"numbers as such; quote it ({key_node.value!r} in quotes) or rename it",
                    )
                if key in first:
                    raise self._error(
                        None,
                        f"duplicate key {key!r} at line {line} (first at line {first[key]}): "
                        f"YAML would keep only the last one",
                    )
                first[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        text = str(node.value)
        if len(text) > 100:  # int() refuses 4,300 digits; no key takes more than 20
            raise self._error(node.start_mark, f"an integer of {len(text):,} digits is too large")
        if ":" in text:
            raise self._error(
                node.start_mark,
                f"{text} is read by YAML 1.1 as a base-60 number "
                f"({super().construct_yaml_int(node)}): quote it or write the number",
            )
        if _LEADING_ZERO.fullmatch(text) and text.strip("-+0_"):
            value = super().construct_yaml_int(node)
            plain = text[0].strip("0123456789_") + (text.lstrip("-+").lstrip("0_") or "0")
            raise self._error(
                node.start_mark,
                f"{text} is read by YAML 1.1 as the octal number {value}: write {plain} "
                f"(without the leading 0) or {value}",
            )
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        if ":" in str(node.value):
            raise self._error(
                node.start_mark,
                f"{node.value} is read by YAML 1.1 as a base-60 number: write the number",
            )
        return super().construct_yaml_float(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


def _expanded_size(node, sizes: dict) -> int:
    """Values ``node`` expands to, aliases expanded (memoised: O(nodes))."""
    if id(node) in sizes:
        return sizes[id(node)]
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    sizes[id(node)] = size = 1 + sum(_expanded_size(c, sizes) for c in children)
    return size


def _load_yaml(text: str, path: Path) -> Any:
    loader = _Loader(text, path)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_EXPANDED_VALUES:
            raise ConfigError(
                f"config file {path}: its aliases expand to more than "
                f"{MAX_EXPANDED_VALUES:,} values; write the values out"
            )
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


class _DuplicateJSONKey(Exception):
    pass


def _json_object(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateJSONKey(key)
        out[key] = value
    return out


def _load_text(text: str, path: Path) -> Any:
    """As Snakemake reads a config file: as JSON if it is JSON, else as YAML."""
    try:
        return json.loads(text, object_pairs_hook=_json_object)
    except ValueError:  # not JSON (or an integer json will not read): YAML says which
        pass
    except _DuplicateJSONKey as exc:
        _load_yaml(text, path)  # JSON is YAML: the YAML loader names both lines
        raise ConfigError(f"config file {path}: duplicate key {exc.args[0]!r}") from None
    return _load_yaml(text, path)


def load(path: str | Path, *, require_experiments: bool = True) -> dict:
    """Read a config file (JSON, or YAML through the strict safe loader) as plain data.

    Raises
    ------
    ConfigError
        If the file is missing, not a mapping, not valid or ambiguous YAML (see
        :class:`_Loader`), uses yte templating (``__use_yte__``), or, with
        ``require_experiments``, defines no experiments.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"config file {path} is a directory, not a file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text: {exc.reason}") from exc
    try:
        data = _load_text(text, path)
    except RecursionError as exc:  # nesting deeper than Python's stack
        raise ConfigError(f"config file {path} is nested too deeply") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path}: expected keys at the top level (a mapping), "
            f"got {'a list' if isinstance(data, list) else repr(data)}"
        )
    if "__use_yte__" in data:
        raise ConfigError(
            f"config file {path}: yte templating is not supported: a config is data "
            f"(remove __use_yte__)"
        )
    if require_experiments and _no_experiments(data):
        raise ConfigError(f"config file {path} defines no experiments")
    return data


def _no_experiments(data: dict) -> bool:
    """``{}``, ``experiments: {}`` or only other known keys (a misspelt ``experiment:`` is
    left to the schema, which suggests the spelling)."""
    if "experiments" in data:
        return data["experiments"] in (None, {}, [])
    return set(data) <= set(schema()["properties"])


def load_files(paths: Sequence[str | Path]) -> dict:
    """Several config files with :func:`load`, merged in order as Snakemake merges
    ``--configfile a.yaml b.yaml``; together they must define experiments."""
    paths = [Path(p) for p in paths]
    data: dict = {}
    for path in paths:
        _update(data, load(path, require_experiments=len(paths) == 1))
    if _no_experiments(data):
        raise ConfigError(f"config files {', '.join(map(str, paths))} define no experiments")
    return data


def load_configfiles(
    paths: Sequence[str | Path], snakemake_config: Mapping, overrides: Mapping | None = None
) -> dict:
    """The config Snakemake loaded, loaded again with :func:`load` from its files.

    Snakemake reads ``--configfile`` itself, through yte (``yaml.FullLoader``), before the
    Snakefile runs; this reads the same files (``paths``: ``workflow.configfiles``),
    merges them as Snakemake does and applies the ``--config`` ``overrides``, so that
    duplicate keys, an empty config and yte templating are refused, and checks that the
    result is what Snakemake read.

    Raises
    ------
    ConfigError
        From :func:`load`; if the files together define no experiments; or if the data
        differs from ``snakemake_config`` (naming the first key that differs).
    """
    paths = [Path(p) for p in paths]
    if not paths:  # no config file at all (only --config): validate what Snakemake has
        return copy.deepcopy(dict(snakemake_config))
    data = load_files(paths)
    if overrides:
        _update(data, copy.deepcopy(dict(overrides)))
    where = _difference(data, snakemake_config, [])
    if where is not None:
        raise ConfigError(
            f"{format_path(where)}: Snakemake read the config file(s) "
            f"{', '.join(map(str, paths))} differently from the project's loader; "
            f"use plain YAML or JSON"
        )
    return data


def _update(config: dict, new: Mapping) -> dict:
    """Merge ``new`` into ``config`` as Snakemake's ``update_config`` does."""
    for key, value in new.items():
        if isinstance(value, Mapping):
            sub = config.get(key)
            config[key] = _update(sub if isinstance(sub, dict) else {}, value)
        else:
            config[key] = value
    return config


def _difference(a: Any, b: Any, path: list) -> list | None:
    """The path of the first difference of ``a`` and ``b`` (types count: 1 is not 1.0)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in a or key not in b:
                return [*path, key]
            where = _difference(a[key], b[key], [*path, key])
            if where is not None:
                return where
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            where = _difference(x, y, [*path, i])
            if where is not None:
                return where
        return None
    if type(a) is not type(b) or a != b:
        return path
    return None


# -- validating -----------------------------------------------------------------------------


def validate(config: Mapping) -> dict:
    """Check ``config`` against the schema and return a copy with defaults filled in.

    Raises
    ------
    ConfigError
        For the most relevant schema violation, naming its path.
    """
    config = copy.deepcopy(dict(config))
    _check_finite(config, [])
    _check_kinds(config, [schema()], [])
    error = jsonschema.exceptions.best_match(_Validator(schema()).iter_errors(config))
    if error is not None:
        raise ConfigError(_describe(_branch_that_fits(error)))
    from .options import check_references, check_written  # needs the registries

    check_written(config)  # the keys as written: options that nothing would read
    apply_defaults(config, schema(), schema())
    _check_legacy_seeds(config)
    check_references(config)
    _check_seed001_reference(config["validation"]["references"]["seed001"])
    return config


#: JSON Schema's "integer" is any number with a zero fractional part (30.0 passes);
#: here it is a Python int (not a bool), as numpy, range() and Parquet need.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)

#: numpy's RandomState (rng numpy_legacy), scikit-learn's random_state and the notebooks'
#: np.random.seed take seeds below 2**32; the schema bounds each seed key (SeedSequence
#: takes any, and the trace tables store seeds as 64-bit integers: below 2**63).
LEGACY_SEED_LIMIT = 2**32
INT64_LIMIT = 2**63


def _check_legacy_seeds(config: dict) -> None:
    """Seeds drawn through ``RandomState`` where another key says so (rng numpy_legacy)."""
    why = "numpy's RandomState takes seeds below 2**32 (4294967296)"
    for name, exp in config["experiments"].items():
        if exp.get("rng") == "numpy_legacy":
            for i, seed in enumerate(exp["seeds"]):
                if seed >= LEGACY_SEED_LIMIT:
                    raise ConfigError(
                        f"experiments.{name}.seeds[{i}]: {seed} is too large for rng "
                        f"numpy_legacy (experiments.{name}.rng): {why}"
                    )
    for name, ds in config["datasets"].items():
        if ds.get("rng") == "numpy_legacy" and ds.get("seed", 0) >= LEGACY_SEED_LIMIT:
            raise ConfigError(
                f"datasets.{name}.seed: {ds['seed']} is too large for rng numpy_legacy "
                f"(datasets.{name}.rng): {why}"
            )


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


# YAML 1.1 reads 1e-3, 1E5 and 1.0e3 as strings: a float needs a "." and a signed exponent.
_NUMBER = re.compile(r"([-+]?)([0-9][0-9_]*)?(?:\.([0-9_]*))?(?:[eE]([-+]?)([0-9]+))?")


def _branches(node: dict) -> list[dict]:
    """``node`` and, through ``$ref``, ``oneOf`` and ``anyOf``, every schema it allows."""
    node = _resolve(node, schema())
    out = [node]
    for key in ("oneOf", "anyOf"):
        for sub in node.get(key, []):
            out += _branches(sub)
    return out


def _types(node: dict) -> set:
    kinds = node.get("type", [])
    kinds = set([kinds] if isinstance(kinds, str) else kinds)
    for value in node.get("enum", []):
        kinds.add("string" if isinstance(value, str) else "other")
    return kinds


def _check_kinds(value: Any, nodes: list[dict], path: list) -> None:
    """Numbers of the kind the schema wants, walking ``value`` with every schema node that
    may apply (any branch of a oneOf): a float where only an integer goes (30.0), a string
    that YAML 1.1 left unread where a number goes ("1e-3"), an integer too large for 64
    bits where the schema sets no maximum."""
    candidates = [n for node in nodes for n in _branches(node)]
    kinds = set().union(*(_types(n) for n in candidates))
    where = format_path(path)
    if isinstance(value, float) and "integer" in kinds and "number" not in kinds:
        hint = f"; write {int(value)}" if value.is_integer() and abs(value) < INT64_LIMIT else ""
        raise ConfigError(f"{where}: expected an integer, got the float {value!r}{hint}")
    if isinstance(value, str) and kinds & {"integer", "number"} and "string" not in kinds:
        _check_number_string(value, "integer" if "number" not in kinds else "number", where)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= INT64_LIMIT:
        if kinds & {"integer", "number"} and not any("maximum" in n for n in candidates):
            if "number" in kinds:
                digits = len(str(abs(value)))
                raise ConfigError(
                    f"{where}: an integer of {digits} digits is too large (below 2**63); "
                    f"write a number that large as a float, e.g. 1.0e+{digits - 1}"
                )
            raise ConfigError(f"{where}: {_show(value)} is too large: integers must be below 2**63")
    if isinstance(value, dict):
        objects = [n for n in candidates if "properties" in n or "additionalProperties" in n]
        for key, item in value.items():
            children = []
            for n in objects:
                if key in n.get("properties", {}):
                    children.append(n["properties"][key])
                elif isinstance(n.get("additionalProperties"), dict):
                    children.append(n["additionalProperties"])
            if children:
                _check_kinds(item, children, [*path, key])
    elif isinstance(value, list):
        children = [n["items"] for n in candidates if isinstance(n.get("items"), dict)]
        if children:
            for i, item in enumerate(value):
                _check_kinds(item, children, [*path, i])


def _show(value: int) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"an integer of {len(text)} digits"


def _check_number_string(text: str, kind: str, where: str) -> None:
    """A string where a number goes: if it reads as a number, say why it is a string."""
    match = _NUMBER.fullmatch(text.strip())
    if not match or not (match.group(2) or match.group(3)):
        return  # not a number at all: the schema's message says what is expected
    number = float(text.replace("_", ""))
    if not math.isfinite(number):
        return
    sign, whole, fraction, exp_sign, exponent = match.groups()
    if kind == "integer":
        spelled = str(int(number)) if number.is_integer() else None
    elif exponent is not None:
        spelled = f"{sign}{whole or '0'}.{fraction or '0'}e{exp_sign or '+'}{exponent}"
    else:
        spelled = text.strip()
    write = f"; write {spelled}" if spelled is not None else ""
    if exponent is not None and text == text.strip():
        raise ConfigError(
            f"{where}: expected a{'n' if kind == 'integer' else ''} {kind}, got the string "
            f"{text!r}: YAML 1.1 reads a number with an exponent only with a decimal point "
            f"and a signed exponent{write}"
        )
    raise ConfigError(
        f"{where}: expected a{'n' if kind == 'integer' else ''} {kind}, got the string "
        f"{text!r}{write} (without quotes)"
    )


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


def _branch_that_fits(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """A oneOf/anyOf branch whose shape fits the value, rather than a branch that does not.

    ``best_match`` takes the earliest of equally deep errors, so ``sizes: [2, 0, 1]``
    would be reported as ``sizes[0]: 2 is not of type 'array'`` (the list-of-lists
    branch) rather than ``sizes[1]: 0 is less than the minimum of 1``. If the chosen
    error is a type error of one branch and another branch has no type error, that
    branch's best error is taken: the branch with the fewest type errors, if it is the
    only one with that few (``[2, 4, "x"]`` is a list of sizes with one bad entry).
    """
    parent = error.parent
    if error.validator != "type" or parent is None or parent.validator not in ("oneOf", "anyOf"):
        return error
    branches: dict = {}
    for sub in parent.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    mismatches = {b: sum(e.validator == "type" for e in errs) for b, errs in branches.items()}
    fewest = min(mismatches.values())
    best = [b for b, n in mismatches.items() if n == fewest]
    if len(best) != 1 or fewest >= mismatches[error.relative_schema_path[0]]:
        return error
    relevance = jsonschema.exceptions.relevance
    return jsonschema.exceptions.best_match([min(branches[best[0]], key=relevance)])


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
    if error.validator == "maxLength":
        return (
            f"{where}: a string of {len(error.instance):,} characters is too long "
            f"(at most {error.validator_value:,})"
        )
    description = error.schema.get("description")
    suffix = f" ({description.strip()})" if isinstance(description, str) else ""
    if error.validator == "maximum" and error.validator_value in _SEED_LIMITS:
        return (
            f"{where}: {_show(error.instance)} is too large: expected at most "
            f"{_SEED_LIMITS[error.validator_value]}"
        )
    return f"{where}: {error.message}{suffix}"


_SEED_LIMITS = {
    LEGACY_SEED_LIMIT - 1: (
        "2**32 - 1 (numpy's RandomState and scikit-learn's random_state take seeds below 2**32)"
    ),
    INT64_LIMIT - 1: "2**63 - 1 (seeds are stored as 64-bit integers)",
}


def _expected(node: dict) -> str:
    description = node.get("description")
    return f"expected: {description.strip()}" if description else "no allowed form matches"
