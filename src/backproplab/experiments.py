"""From a validated config to the run table: experiments x variants x learning rates x seeds.

A *variant* is one combination of an experiment's model and train settings (after its
named variant overrides and the grid of list-valued keys). A *run* is (experiment,
variant, learning rate, seed). A *block* is up to ``block_size`` runs of one variant,
trained together by one job; runs are ordered seed-major so that appending a seed only
grows the last block of each variant.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from .config import ConfigError, defaults_of
from .datasets import dataset_info
from .engine import make_loss
from .settings import Model, Trace, Train, canonical_json, digest

__all__ = ["Block", "Experiment", "Plan", "Run", "Variant", "canonical_json", "digest", "plan"]

# The settings sections a variant combines, as the config names them.
_SECTIONS = {"model": Model, "train": Train}


@dataclass(frozen=True)
class Variant:
    """One model x train combination of an experiment.

    Attributes
    ----------
    name : str
        Readable and file-name safe, e.g. ``base`` or ``loss-mse__act-relu``.
    model : Model
    train : Train
    description : str
    legend : tuple of (str, str)
        What tells the variant apart, as (value, title) pairs: its name if it is a named
        variant, then each grid key's value (``("tanh-sigmoid", "activations")``).
    """

    name: str
    model: Model
    train: Train
    description: str = ""
    legend: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """The variant in a legend: ``literal``, ``tanh-tanh-sigmoid, bce``."""
        return ", ".join(value for value, _ in self.legend) or self.name


@dataclass(frozen=True)
class Run:
    """One training run; ``run_id`` is stable across configs that keep its settings."""

    experiment: str
    variant: str
    lr: float
    seed: int

    @property
    def run_id(self) -> str:
        return f"{self.experiment}/{self.variant}/lr={self.lr:g}/seed={self.seed}"


@dataclass(frozen=True)
class Block:
    """Runs of one variant that one job trains together."""

    experiment: str
    variant: str
    index: int
    runs: tuple[Run, ...]

    @property
    def name(self) -> str:
        """The ``{block}`` wildcard: ``{variant}-c{index}``."""
        return f"{self.variant}-c{self.index}"


@dataclass
class Experiment:
    name: str
    spec: dict
    variants: list[Variant]
    runs: list[Run] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        return self.spec["dataset"]

    @cached_property
    def trace(self) -> Trace:
        return Trace.from_mapping(self.spec["trace"])

    def legend(self) -> tuple[dict[str, str], str]:
        """Legend labels of the variants (name -> label) and the legend's title (what
        the labels name, ``activations, loss``; ``variant`` if they differ in kind)."""
        if [v.name for v in self.variants] == ["base"]:
            return {"base": "base"}, ""
        titles = list(dict.fromkeys(tuple(t for _, t in v.legend) for v in self.variants))
        title = ", ".join(titles[0]) if len(titles) == 1 else "variant"
        return {v.name: v.label for v in self.variants}, title

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"experiment {self.name!r} has no variant {name!r}")

    def block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(f"experiment {self.name!r} has no block {name!r}")


@dataclass
class Plan:
    """Everything the workflow needs to know about a config, computed once."""

    config: dict
    experiments: dict[str, Experiment]

    @cached_property
    def runs(self) -> list[Run]:
        return [r for e in self.experiments.values() for r in e.runs]

    def block_spec(self, experiment: str, block: str) -> dict:
        """All a training job needs, as plain data (also the job's ``params``, so that
        any change to it reruns exactly that job)."""
        exp = self.experiments[experiment]
        blk = exp.block(block)
        variant = exp.variant(blk.variant)
        spec = exp.spec
        return {
            "experiment": experiment,
            "block": blk.name,
            "variant": variant.name,
            "dataset": spec["dataset"],
            "dataset_spec": self.config["datasets"][spec["dataset"]],
            "model": variant.model.as_dict(),
            "train": variant.train.as_dict(),
            "rng": spec["rng"],
            "legacy_replay_dataset": spec["legacy_replay_dataset"],
            "metrics": spec["metrics"],
            "trace": spec["trace"],
            "runs": [{"run_id": r.run_id, "lr": r.lr, "seed": r.seed} for r in blk.runs],
        }


def plan(config: Mapping) -> Plan:
    """Expand a schema-validated config and check it for meaning.

    Raises
    ------
    ConfigError
        Naming the config path: a missing data set, sizes that do not fit the data, a
        loss that does not fit the output or the targets, an initialiser that does not fit
        the sizes, a legacy option without its mode, or a budget exceeded.
    """
    config = dict(config)
    experiments = {}
    for name, spec in config["experiments"].items():
        experiments[name] = _expand(name, spec, config)
    result = Plan(config, experiments)
    _check_budget(result)
    return result


def _expand(name: str, spec: dict, config: Mapping) -> Experiment:
    where = f"experiments.{name}"
    if spec["dataset"] not in config["datasets"]:
        known = ", ".join(sorted(config["datasets"])) or "none"
        raise ConfigError(
            f"{where}.dataset: no data set named {spec['dataset']!r} (defined: {known})"
        )
    dataset = config["datasets"][spec["dataset"]]
    info = dataset_info(dataset, f"datasets.{spec['dataset']}")
    variants = []
    overrides = spec["variants"] or {"base": {}}
    for vname, override in overrides.items():
        vwhere = f"{where}.variants.{vname}" if spec["variants"] else where
        chosen = {
            section: {**defaults_of(section), **spec.get(section, {}), **override.get(section, {})}
            for section in _SECTIONS
        }
        for key in ("sizes", "activations", "loss"):
            if key not in chosen["model"]:
                raise ConfigError(f"{vwhere}.model: missing required key {key!r}")
        grid = _grid(
            {
                (section, key): chosen[section][key]
                for section, settings in _SECTIONS.items()
                for key in settings.keys()
            }
        )
        varying = [k for k, values in grid.items() if len(values) > 1]
        for combo in itertools.product(*grid.values()):
            values = dict(zip(grid, combo, strict=True))
            settings = {
                section: cls.from_mapping({k: values[(section, k)] for k in cls.keys()})
                for section, cls in _SECTIONS.items()
            }
            named = [(vname, "variant")] if vname != "base" or not varying else []
            legend = named + [
                (settings[s].label(k), _SECTIONS[s].setting(k).title) for s, k in varying
            ]
            slug = "__".join(
                f"{_SECTIONS[s].setting(k).short or k}-{_slug(values[(s, k)])}" for s, k in varying
            )
            full = vname if not varying else (slug if vname == "base" else f"{vname}__{slug}")
            variant = Variant(
                name=full,
                model=settings["model"],
                train=settings["train"],
                description=override.get("description", ""),
                legend=tuple(legend),
            )
            _check_variant(variant, vwhere, spec, info)
            variants.append(variant)
    names = [v.name for v in variants]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{where}.variants: variant names {duplicated} occur twice")
    _check_legacy(spec, dataset, where)
    exp = Experiment(name, spec, variants)
    block_size = config["block_size"]
    for variant in variants:
        runs = [
            Run(name, variant.name, float(lr), int(seed))
            for seed in spec["seeds"]
            for lr in spec["learning_rates"]
        ]
        exp.runs.extend(runs)
        for index, start in enumerate(range(0, len(runs), block_size)):
            exp.blocks.append(
                Block(name, variant.name, index, tuple(runs[start : start + block_size]))
            )
    return exp


def _grid(values: dict) -> dict[tuple[str, str], list]:
    """Each (section, key)'s list of values: a list means several values, except for
    list-valued keys (sizes, activations), where only a list of lists does."""
    grid = {}
    for (section, key), value in values.items():
        if _SECTIONS[section].setting(key).list_valued:
            several = isinstance(value, list) and value and isinstance(value[0], list)
        else:
            several = isinstance(value, list)
        grid[(section, key)] = list(value) if several else [value]
    return grid


def _slug(value) -> str:
    """A short, file-name-safe rendering of a config value."""
    if isinstance(value, list):
        return ".".join(_slug(v) for v in value)
    if isinstance(value, Mapping):
        if value.get("name") == "explicit":
            return "explicit"
        return "-".join(_slug(v) for v in value.values())
    text = "none" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
    return "".join(c if c.isalnum() or c in "_" else "p" if c == "." else "_" for c in text)


def _check_variant(variant, where, spec, info) -> None:
    model, sizes = variant.model, variant.model.sizes
    n_features, n_targets, kind = info.n_features, info.n_targets, info.kind
    try:
        mlp = model.mlp()
    except ValueError as exc:
        raise ConfigError(f"{where}.model: {exc}") from exc
    if sizes[0] != n_features:
        raise ConfigError(
            f"{where}.model.sizes: the input layer has {sizes[0]} units but data set "
            f"{spec['dataset']!r} has {n_features} features"
        )
    if sizes[-1] != n_targets:
        raise ConfigError(
            f"{where}.model.sizes: the output layer has {sizes[-1]} units but data set "
            f"{spec['dataset']!r} has {n_targets} target columns"
        )
    loss = mlp.loss.name
    if loss == "bce" and kind == "multiclass":
        raise ConfigError(
            f"{where}.model.loss: bce treats each output as its own yes/no question, but "
            f"data set {spec['dataset']!r} has one-hot multi-class targets; use a softmax "
            f"output with cross_entropy"
        )
    if loss == "bce" and kind == "regression":
        raise ConfigError(
            f"{where}.model.loss: bce needs 0/1 targets, but data set {spec['dataset']!r} "
            f"has real-valued targets"
        )
    if loss == "cross_entropy" and kind != "multiclass":
        raise ConfigError(
            f"{where}.model.loss: cross_entropy needs one-hot class targets (at least two "
            f"columns), but data set {spec['dataset']!r} has {kind} targets"
        )
    init = model.as_dict()["init"]
    if isinstance(init, Mapping) and init.get("name") == "explicit":
        try:
            mlp.init([0], init)
        except ValueError as exc:
            raise ConfigError(f"{where}.model.init: {exc}") from exc
    output = mlp.activations[-1].name
    for i, metric in enumerate(spec["metrics"]):
        needs = make_loss(metric).output
        if needs not in (None, output):
            raise ConfigError(
                f"{where.split('.variants')[0]}.metrics[{i}]: {metric!r} needs a {needs!r} "
                f"output, but variant {variant.name!r} ends in {output!r}"
            )


def _check_legacy(spec, dataset, where) -> None:
    if spec["legacy_replay_dataset"]:
        if spec["rng"] != "numpy_legacy":
            raise ConfigError(f"{where}.legacy_replay_dataset: only applies with rng: numpy_legacy")
        if dataset["generator"] != "spiral" or dataset["rng"] != "numpy_legacy":
            raise ConfigError(
                f"{where}.legacy_replay_dataset: the data set must be a spiral generated "
                f"with rng: numpy_legacy (its draws are what the run's stream replays)"
            )


def state_values_per_run(exp: Experiment, variant: Variant, n_samples: int) -> int:
    """Rows one run of ``variant`` adds to the state table (the trace's dominant size)."""
    schedule = exp.trace.schedule(variant.train.epochs)
    return schedule.state_values(variant.model.sizes, n_samples)


def _check_budget(result: Plan) -> None:
    limits = result.config["limits"]
    n_runs = len(result.runs)
    if n_runs > limits["max_runs"]:
        counts = ", ".join(f"{e.name}: {len(e.runs):,}" for e in result.experiments.values())
        raise ConfigError(
            f"limits.max_runs: the config defines {n_runs:,} runs ({counts}), more than the "
            f"budget of {limits['max_runs']:,}; raise limits.max_runs if you mean it"
        )
    total = 0
    for exp in result.experiments.values():
        dataset = result.config["datasets"][exp.dataset]
        n = dataset_info(dataset, f"datasets.{exp.dataset}").n_train
        for variant in exp.variants:
            runs = len(exp.spec["seeds"]) * len(exp.spec["learning_rates"])
            total += runs * state_values_per_run(exp, variant, n)
    if total > limits["max_state_values"]:
        raise ConfigError(
            f"limits.max_state_values: the traces would hold about {total:,} state values, "
            f"more than the budget of {limits['max_state_values']:,}; record less "
            f"(trace.state, trace.state_every) or raise limits.max_state_values"
        )
