"""From a validated config to the run table: experiments x variants x learning rates x seeds.

A *variant* is one combination of an experiment's model and train settings (after its
named variant overrides and the grid of list-valued keys). A *run* is (experiment,
variant, learning rate, seed). A *block* is up to ``block_size`` runs of one variant,
trained together by one job; runs are ordered seed-major so that appending a seed only
grows the last block of each variant.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from .config import ConfigError, defaults_of
from .datasets import dataset_info
from .engine import make_loss
from .settings import Model, Trace, Train, canonical_json, digest

__all__ = [
    "Block",
    "Experiment",
    "Plan",
    "Run",
    "Variant",
    "canonical_json",
    "digest",
    "format_number",
    "plan",
]

# The settings sections a variant combines, as the config names them.
_SECTIONS = {"model": Model, "train": Train}


def format_number(value: float) -> str:
    """A number as run ids and variant names spell it: ``:g`` (``0.2``, ``10``,
    ``1e-05``) where that reads back as the same float, else the shortest spelling that
    does (``0.2000001``, which ``:g`` would round to ``0.2``). Different numbers never
    share a spelling, and every number ``:g`` spells exactly keeps its old spelling."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


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
    given_label : str
        The config's ``label`` of a named variant (empty: :meth:`Experiment.legend`
        derives one).
    """

    name: str
    model: Model
    train: Train
    description: str = ""
    legend: tuple[tuple[str, str], ...] = ()
    given_label: str = ""

    @property
    def label(self) -> str:
        """The variant in a legend without its experiment: its config ``label``, else
        what tells it apart (``literal``, ``tanh-tanh-sigmoid, bce``). Legends and tables
        take :meth:`Experiment.legend`, which reads named variants in words."""
        if self.given_label:
            grid = [value for value, title in self.legend if title != "variant"]
            return self.given_label + ("; " + ", ".join(grid) if grid else "")
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
        return f"{self.experiment}/{self.variant}/lr={format_number(self.lr)}/seed={self.seed}"


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

    @property
    def label(self) -> str:
        """The experiment in headings and tables: its config ``label``, else its name in
        words with the seed document it reproduces (``spiral legacy (seed 001)``)."""
        if self.spec.get("label"):
            return self.spec["label"]
        words = self.name.replace("_", " ")
        seed = self.spec.get("reproduces")
        return f"{words} (seed {seed})" if seed else words

    def legend(self) -> tuple[dict[str, str], str]:
        """Legend labels of the variants (name -> label), used in every figure and
        table, and the legend's title (what the labels name, ``activations, loss``;
        ``variant`` if they differ in kind).

        A named variant's config ``label`` wins. Otherwise a named variant reads as its
        name in words, then the settings in which the named variants differ (``option 1:
        sigmoid output, half summed squared error``; :meth:`Model.phrase`), then its grid
        values; a grid variant reads as its grid values (``tanh-sigmoid, bce``), and a
        lone base variant as its activations and loss.
        """
        if [v.name for v in self.variants] == ["base"]:
            model = self.variants[0].model
            label = f"{model.label('activations')}, {model.label('loss')}"
            return {"base": label}, "activations, loss"
        titles = list(dict.fromkeys(tuple(t for _, t in v.legend) for v in self.variants))
        title = ", ".join(titles[0]) if len(titles) == 1 else "variant"
        return {v.name: _readable_label(v, self.variants) for v in self.variants}, title

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
            "engine": self.config["engine"],
        }


def plan(config: Mapping) -> Plan:
    """Expand a schema-validated config and check it for meaning.

    Raises
    ------
    ConfigError
        Naming the config path: a missing data set, sizes that do not fit the data, a
        loss that does not fit the output or the targets, an initialiser that does not fit
        the sizes, a legacy option without its mode, an option no run would read
        (``shuffle`` with full batches, ``bias_init: like_weights`` with explicit
        weights, a state epoch past every run), two variants or runs with one name, or a
        budget exceeded (runs, state values, run-epoch-samples; each counted without
        enumerating runs, epochs or rows). Figure options are checked against the plan
        by ``figures.catalog.check``.
    """
    config = dict(config)
    _check_run_count(config)  # before any run or variant is built: O(experiments x keys)
    experiments = {}
    for name, spec in config["experiments"].items():
        experiments[name] = _expand(name, spec, config)
    result = Plan(config, experiments)
    _check_budget(result)
    return result


def _chosen(spec: Mapping, override: Mapping) -> dict:
    """A named variant's model and train settings: defaults, the experiment's, its own."""
    return {
        section: {**defaults_of(section), **spec.get(section, {}), **override.get(section, {})}
        for section in _SECTIONS
    }


def _variant_grid(chosen: dict) -> dict[tuple[str, str], list]:
    return _grid(
        {
            (section, key): chosen[section].get(key)
            for section, settings in _SECTIONS.items()
            for key in settings.keys()
        }
    )


def _count_runs(spec: Mapping) -> int:
    """Runs of one experiment, counted without building them."""
    combos = sum(
        math.prod(len(values) for values in _variant_grid(_chosen(spec, override)).values())
        for override in (spec["variants"] or {"base": {}}).values()
    )
    return combos * len(spec["seeds"]) * len(spec["learning_rates"])


def _check_run_count(config: Mapping) -> None:
    limit = config["limits"]["max_runs"]
    counts = {name: _count_runs(spec) for name, spec in config["experiments"].items()}
    n_runs = sum(counts.values())
    if n_runs > limit:
        shown = ", ".join(f"{name}: {n:,}" for name, n in counts.items())
        raise ConfigError(
            f"limits.max_runs: the config defines {n_runs:,} runs ({shown}), more than the "
            f"budget of {limit:,}; raise limits.max_runs if you mean it"
        )


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
    by_name: dict[str, tuple[str, dict]] = {}  # variant name -> (named variant, grid values)
    overrides = spec["variants"] or {"base": {}}
    for vname, override in overrides.items():
        vwhere = f"{where}.variants.{vname}" if spec["variants"] else where
        chosen = _chosen(spec, override)
        for key in ("sizes", "activations", "loss"):
            if key not in chosen["model"]:
                raise ConfigError(f"{vwhere}.model: missing required key {key!r}")
        grid = _variant_grid(chosen)
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
                given_label=override.get("label", ""),
            )
            if full in by_name:
                raise ConfigError(_collision(where, full, by_name[full], (vname, values), varying))
            by_name[full] = (vname, values)
            _check_variant(variant, vwhere, spec, info)
            variants.append(variant)
    _check_legacy(spec, dataset, where)
    _check_shuffle(spec, variants, by_name, info.n_train, where)
    _check_state_epochs(spec, variants, where)
    exp = Experiment(name, spec, variants)
    block_size = config["block_size"]
    ids: dict[str, tuple] = {}
    for variant in variants:
        runs = [
            Run(name, variant.name, float(lr), int(seed))
            for seed in spec["seeds"]
            for lr in spec["learning_rates"]
        ]
        for i, run in enumerate(runs):
            if run.run_id in ids:  # by construction never (format_number), but checked
                raise ConfigError(
                    f"{where}.learning_rates: learning rates {ids[run.run_id][0]!r} and "
                    f"{run.lr!r} give the same run id {run.run_id!r}"
                )
            ids[run.run_id] = (run.lr, run.seed, i)
        exp.runs.extend(runs)
        for index, start in enumerate(range(0, len(runs), block_size)):
            exp.blocks.append(
                Block(name, variant.name, index, tuple(runs[start : start + block_size]))
            )
    return exp


def _collision(where, name, first, second, varying) -> str:
    """Two variants that would share a name (and every file of their runs)."""

    def describe(vname, values):
        keys = [f"{s}.{k}: {canonical_json(values[(s, k)])}" for s, k in varying]
        return ", ".join(([f"variant {vname}"] if vname != "base" else []) + keys) or vname

    return (
        f"{where}.variants: two variants would both be named {name!r} ({describe(*first)}; "
        f"and {describe(*second)}): make the values or the variant names differ"
    )


def _check_shuffle(spec, variants, by_name, n_train, where) -> None:
    """``shuffle`` written where every variant it applies to is full batch (the engine
    shuffles mini-batches only): an option nothing would read."""
    overrides = spec["variants"] or {}
    places = []
    if "shuffle" in spec.get("train", {}):
        applies = {v for v in overrides if "shuffle" not in overrides[v].get("train", {})}
        places.append((f"{where}.train.shuffle", applies if overrides else {"base"}))
    for vname, override in overrides.items():
        if "shuffle" in override.get("train", {}):
            places.append((f"{where}.variants.{vname}.train.shuffle", {vname}))
    for path, applies in places:
        affected = [v for v in variants if by_name[v.name][0] in applies]
        if affected and all(
            v.train.batch_size is None or v.train.batch_size >= n_train for v in affected
        ):
            raise ConfigError(
                f"{path}: only mini-batches are shuffled, and every run it applies to is "
                f"full batch (batch_size null, or at least the {n_train} training samples); "
                f"remove shuffle or set train.batch_size"
            )


def _check_state_epochs(spec, variants, where) -> None:
    longest = max(v.train.epochs for v in variants)
    for i, epoch in enumerate(spec["trace"]["state_epochs"]):
        if epoch > longest:
            raise ConfigError(
                f"{where}.trace.state_epochs[{i}]: epoch {epoch} is never reached: the "
                f"longest run trains {longest} epochs"
            )


def _words(name: str) -> str:
    """A variant's config name in words: ``option1`` -> ``option 1``, ``he_init`` ->
    ``he init``."""
    return re.sub(r"(?<=[A-Za-z])(?=[0-9])", " ", name).replace("_", " ")


def _readable_label(variant: Variant, variants: list[Variant]) -> str:
    """The legend label of ``variant`` among an experiment's ``variants`` (see
    :meth:`Experiment.legend`)."""
    named = next((value for value, title in variant.legend if title == "variant"), None)
    grid = [value for value, title in variant.legend if title != "variant"]
    if variant.given_label:  # the grid values tell its grid variants apart
        return variant.given_label + ("; " + ", ".join(grid) if grid else "")
    if named is None:
        return ", ".join(grid) or variant.name
    grid_titles = {title for v in variants for _, title in v.legend if title != "variant"}
    peers = [v for v in variants if any(title == "variant" for _, title in v.legend)]
    phrases = []
    for section, cls in _SECTIONS.items():
        for key in cls.keys():
            if cls.setting(key).title in grid_titles:
                continue  # said by the grid values
            others = [getattr(v, section) for v in peers]
            if len({o.label(key) for o in others}) > 1:
                phrases.append(getattr(variant, section).phrase(key, others))
    text = _words(named) + (": " + ", ".join(phrases) if phrases else "")
    return text + ("; " + ", ".join(grid) if grid else "")


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
    if value is None:
        text = "none"
    elif isinstance(value, float):
        # An exponent's "+" is dropped and its "-" becomes "_" (as a minus sign does):
        # 1e+06 -> 1e06, 1e-06 -> 1e_06, distinct.
        text = format_number(value).replace("+", "")
    else:
        text = str(value)
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
        if model.bias_init == "like_weights":
            raise ConfigError(
                f"{where}.model.bias_init: like_weights draws biases from the weights' "
                f"initialiser, but init explicit draws nothing (its biases are init.biases)"
            )
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


def run_epoch_samples(result: Plan) -> dict[str, int]:
    """Per experiment, the sum over its runs of epochs x training samples: the compute
    budget's measure (``limits.max_run_epoch_samples``), counted in O(variants)."""
    out = {}
    for exp in result.experiments.values():
        dataset = result.config["datasets"][exp.dataset]
        n = dataset_info(dataset, f"datasets.{exp.dataset}").n_train
        runs = len(exp.spec["seeds"]) * len(exp.spec["learning_rates"])
        out[exp.name] = sum(runs * v.train.epochs * n for v in exp.variants)
    return out


def _check_budget(result: Plan) -> None:
    """The state and compute budgets (the run count is checked before expanding), each
    in O(variants): no epoch, run or state row is enumerated."""
    limits = result.config["limits"]
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
    work = run_epoch_samples(result)
    total, limit = sum(work.values()), limits["max_run_epoch_samples"]
    if total > limit:
        largest = max(work, key=work.get)
        raise ConfigError(
            f"limits.max_run_epoch_samples: the runs would train {total:,} run-epoch-samples "
            f"(the sum over runs of epochs x training samples; most in experiment "
            f"{largest}: {work[largest]:,}), more than the budget of {limit:,}; train less "
            f"(train.epochs, seeds, learning_rates) or raise limits.max_run_epoch_samples"
        )
