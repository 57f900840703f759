"""The figure kinds, what each reads, and the checks that run when the workflow is
parsed (before any work), so that a figure option naming an unknown variant or a tensor
that is never recorded fails at once, with its config path.

Light on purpose: the workflow imports it at parse time, and it imports no plotting code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # figure jobs import this module: keep their imports light
    from ..experiments import Experiment, Plan

__all__ = ["KINDS", "Kind", "check", "figure_spec", "figure_tables", "needs_dataset"]


@dataclass(frozen=True)
class Kind:
    """A figure kind.

    Attributes
    ----------
    title : str
        Its title in the report.
    module, function : str
        Where its drawing function lives, under ``backproplab.figures``.
    tables : tuple of str
        The trace tables it reads.
    dataset : bool
        Whether it reads the experiment's data set.
    two_features : bool
        Whether it draws the input plane (data sets with two features only).
    tensors : tuple of str
        State tensors it needs beyond W and b (which are always recorded at the ends).
    """

    title: str
    module: str
    function: str
    tables: tuple[str, ...]
    dataset: bool = False
    two_features: bool = False
    tensors: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    "learning_curves": Kind("Learning curves", "curves", "learning_curves", ("runs", "metrics")),
    "loss_comparison": Kind(
        "Own losses against a common metric", "curves", "loss_comparison", ("runs", "metrics")
    ),
    "weights": Kind("Weight trajectories", "parameters", "weights", ("runs", "state")),
    "biases": Kind("Bias trajectories", "parameters", "biases", ("runs", "state")),
    "hidden_code": Kind(
        "Hidden code per pattern", "parameters", "hidden_code", ("runs", "state"), tensors=("a",)
    ),
    "dataset": Kind(
        "The data set", "boundaries", "dataset", ("runs",), dataset=True, two_features=True
    ),
    "decision_boundary": Kind(
        "Decision boundary",
        "boundaries",
        "decision_boundary",
        ("runs", "state"),
        dataset=True,
        two_features=True,
    ),
    "boundary_epochs": Kind(
        "Decision boundary over training",
        "boundaries",
        "boundary_epochs",
        ("runs", "state"),
        dataset=True,
        two_features=True,
    ),
    "predictions": Kind(
        "Real against predicted classes",
        "boundaries",
        "predictions",
        ("runs", "state"),
        dataset=True,
        two_features=True,
    ),
    "gradient_flow": Kind("Gradient flow", "gradients", "gradient_flow", ("runs", "norms")),
    "norms": Kind("Per-layer norms over training", "gradients", "norms", ("runs", "norms")),
    "lr_sensitivity": Kind("Learning-rate sensitivity", "sweeps", "lr_sensitivity", ("runs",)),
    "sweep_heatmap": Kind(
        "Final metric over learning rate and variant", "sweeps", "sweep_heatmap", ("runs",)
    ),
    "network_diagram": Kind(
        "The network before and after training steps",
        "network",
        "network_diagram",
        ("runs", "metrics", "state"),
        dataset=True,
    ),
    "ulp_fanout": Kind(
        "One-ulp perturbations over training",
        "perturbation",
        "ulp_fanout",
        ("runs", "metrics", "state"),
        dataset=True,
    ),
    "composite": Kind(
        "A seed's figure: several panels of one run in one image",
        "composite",
        "composite",
        ("runs", "metrics", "state"),
        dataset=True,
    ),
}

#: What each kind draws, whatever the experiment: its caption in the Snakemake report
#: (workflow/report/figure.rst); each figure's own caption says what its data show.
ABOUT: dict[str, str] = {
    "learning_curves": (
        "Metrics against epoch: each variant and learning rate as the mean over seeds with a "
        "band (its extent is named in the legend), each seed as a thin line."
    ),
    "loss_comparison": (
        "Two variants that train different losses: their own losses on one axis for one seed, "
        "as seed 000 compared them, beside a metric recorded for both."
    ),
    "weights": (
        "Weight trajectories of one run: per layer, one panel per receiving unit, one line per "
        "sending unit."
    ),
    "biases": ("Bias trajectories of one run, one panel per layer, one line per unit."),
    "hidden_code": (
        "A hidden layer's activation for every training pattern against epoch, one heatmap per "
        "hidden unit."
    ),
    "dataset": ("The data set: training samples filled, test samples hollow, coloured by class."),
    "decision_boundary": (
        "The decision boundary of one run per variant, recomputed from its recorded parameters,"
        " with the data on it."
    ),
    "boundary_epochs": (
        "The decision boundary at several recorded epochs, one row per variant; the epochs are "
        "chosen where the boundary moves (log-spaced by default, or where the training accuracy"
        " changes: the figure's caption says which)."
    ),
    "predictions": (
        "Real against predicted classes on the training and the test data, with the split's "
        "loss in each title."
    ),
    "gradient_flow": (
        "Per layer (numbered from 1 at the input, as seed 001 numbers them), the weight norm, "
        "the gradient norm and their ratio at one epoch, beside the values seed 001 printed "
        "when the run is its run."
    ),
    "norms": (
        "Per-layer weight norm, gradient norm and their ratio against epoch, mean over seeds "
        "with a band."
    ),
    "lr_sensitivity": (
        "A final metric against learning rate, one line per variant; diverged runs are marked. "
        "Variants that train different losses are compared on a metric every run records "
        "(accuracy by default), never on their losses."
    ),
    "sweep_heatmap": (
        "A final metric over learning rate and variant, the mean over seeds in each cell, with "
        "counts of diverged runs. Variants that train different losses are compared on a metric"
        " every run records (accuracy by default), never on their losses."
    ),
    "network_diagram": (
        "The network with every weight and bias, before training and after a given number of "
        "updates."
    ),
    "ulp_fanout": (
        "How one-ulp changes of single initial weights fan out over training, retrained by the "
        "run's engine; the reported epochs are numbered on their lines and relative changes "
        "read as percentages (910% is 9.1 times the loss)."
    ),
    "composite": (
        "A seed's figure as the seed shows it: several panels of one run in one image (seed "
        "001's data, decision boundary, log loss and accuracy; seed 002's loss over the real "
        "and predicted classes)."
    ),
}

#: Panels of a composite figure that draw the input plane (the others are metrics).
PLANE_PANELS = ("dataset", "decision_boundary", "predictions")


def figure_tables(kind: str) -> tuple[str, ...]:
    return KINDS[kind].tables


def needs_dataset(kind: str) -> bool:
    return KINDS[kind].dataset


def figure_spec(experiment: Experiment, kind: str, config: dict | None = None) -> dict:
    """Everything a figure job depends on besides its input files (its ``params``).

    ``config`` (the plan's validated config) gives seed 001's printed gradient analysis
    (``validation.references.seed001``) to the gradient_flow figure of an experiment that
    reproduces seed 001, to draw beside its own numbers; no other figure reads it.
    """
    labels, title = experiment.legend()
    spec = {
        "experiment": experiment.name,
        "experiment_label": experiment.label,
        "figure": kind,
        "options": experiment.spec["figures"][kind],
        "variants": [v.name for v in experiment.variants],
        "labels": labels,
        "legend_title": title,
    }
    if kind == "gradient_flow" and experiment.spec.get("reproduces") == "001" and config:
        ref = config.get("validation", {}).get("references", {}).get("seed001")
        if ref:
            keys = ("sizes", "lr", "epochs", "weight_norms", "gradient_norms")
            spec["printed"] = {"seed": "001", **{k: ref[k] for k in keys}}
    return spec


def sweep_metric(metric: str | None, losses) -> str:
    """The metric a sweep compares: ``metric``, or (null) the loss if every variant drawn
    trains the same one, else accuracy (recorded by every run)."""
    if metric is not None:
        return metric
    return "loss" if len(set(losses)) == 1 else "accuracy"


def recorded_metrics(experiment: Experiment, dataset: dict) -> list[str]:
    """The columns of the experiment's metrics table (besides run_id and epoch)."""
    from ..datasets import has_test_split  # here, as in check: keep this module light

    names = ["loss", "accuracy", *experiment.spec["metrics"]]
    if has_test_split(dataset):
        names += ["test_loss", "test_accuracy"]
    return names


def check(plan: Plan) -> None:
    """Check every experiment's figure options against the experiment.

    Raises
    ------
    ConfigError
        Naming the option (``experiments.moons.figures.predictions.variants``) and what
        the experiment offers instead.
    """
    from ..datasets import dataset_info

    for exp in plan.experiments.values():
        dataset = plan.config["datasets"][exp.dataset]
        info = dataset_info(dataset, f"datasets.{exp.dataset}")
        for kind, options in exp.spec["figures"].items():
            where = f"experiments.{exp.name}.figures.{kind}"
            _check_one(plan, exp, kind, options, where, info, dataset)
            _check_drawing(exp, kind, options, where, info, dataset)


#: The network diagram draws at most this many units per layer (figures/network.py).
MAX_DIAGRAM_UNITS = 8
#: Largest ulp_fanout nudge: each ulp is one nextafter step per nudged weight.
MAX_ULPS = 65536


def _selected(exp, options) -> list:
    """The variants a figure draws: its ``variants``, its ``variant`` (null: the first),
    or all of them."""
    if options.get("variants"):
        return [exp.variant(name) for name in options["variants"]]
    if "variant" in options:
        return [exp.variant(options["variant"]) if options["variant"] else exp.variants[0]]
    return list(exp.variants)


def _describe(epochs, last: int) -> str:
    """A recorded-epoch set (``settings._Epochs``) in words, without listing it."""
    if epochs.every is None:
        regular = "0"
    elif epochs.every >= last:
        regular = "0"
    else:
        regular = f"every {epochs.every} from 0"
    extra = sorted(e for e in epochs.extra if e != last and not epochs._regular(e))
    shown = ", ".join(map(str, extra[:10])) + (", ..." if len(extra) > 10 else "")
    return f"{regular}{f', {shown}' if extra else ''} and the last, {last}"


def _check_one(plan, exp, kind, options, where, info, dataset) -> None:
    from ..config import ConfigError  # here, not at the top: figure jobs never need it

    spec = exp.spec
    meta = KINDS[kind]
    names = [v.name for v in exp.variants]
    rates = [float(x) for x in spec["learning_rates"]]
    for key, value in options.items():
        if value is None:
            continue
        if key == "variants" and (bad := [v for v in value if v not in names]):
            raise ConfigError(f"{where}.variants: {bad} are not variants of {exp.name}: {names}")
        if key == "variant" and value not in names:
            raise ConfigError(f"{where}.variant: {value!r} is not one of {names}")
        if key == "learning_rates" and (bad := [x for x in value if float(x) not in rates]):
            raise ConfigError(f"{where}.learning_rates: {bad} are not among {rates}")
        if key == "lr" and float(value) not in rates:
            raise ConfigError(f"{where}.lr: {value} is not among {rates}")
        if key == "seed" and value not in spec["seeds"]:
            raise ConfigError(f"{where}.seed: {value} is not among {spec['seeds']}")
    selected = _selected(exp, options)
    if meta.two_features and info.n_features != 2:
        raise ConfigError(
            f"{where}: draws the input plane, but data set {exp.dataset!r} has "
            f"{info.n_features} features (two needed)"
        )
    trace = spec["trace"]
    missing = [t for t in meta.tensors if t not in trace["state"]]
    if missing:
        raise ConfigError(
            f"{where}: needs {missing} in experiments.{exp.name}.trace.state "
            f"(recorded: {trace['state']})"
        )
    if "norms" in meta.tables and trace["norms_every"] is None:
        raise ConfigError(
            f"{where}: needs layer norms, but experiments.{exp.name}.trace.norms_every is null"
        )
    if kind == "loss_comparison" and len(selected) < 2:
        chosen = f"{where}.variants selects" if options.get("variants") else f"{exp.name} has"
        raise ConfigError(
            f"{where}: compares variants, but {chosen} one ({[v.name for v in selected]})"
        )
    metrics = recorded_metrics(exp, dataset)
    chosen = options.get("metrics", []) + [options[k] for k in ("metric",) if options.get(k)]
    if bad := [m for m in chosen if m not in metrics]:
        raise ConfigError(f"{where}: metric(s) {bad} are not recorded; recorded: {metrics}")
    _check_layers(kind, options, selected, where, ConfigError)
    _check_epochs(exp, kind, options, selected, where, ConfigError)
    if kind == "network_diagram":
        for variant in selected:
            if max(variant.model.sizes) > MAX_DIAGRAM_UNITS:
                raise ConfigError(
                    f"{where}: draws networks of up to {MAX_DIAGRAM_UNITS} units per layer; "
                    f"variant {variant.name!r} has sizes {list(variant.model.sizes)}"
                )
    if kind == "ulp_fanout":
        _check_ulp_fanout(options, selected[0], where, ConfigError)


def _check_layers(kind, options, selected, where, ConfigError) -> None:
    if kind not in ("weights", "hidden_code", "ulp_fanout"):
        return
    n_layers = min(len(v.model.sizes) for v in selected) - 1
    layers = options.get("layers") or [options.get("layer", 0)]
    limit = n_layers - 1 if kind == "hidden_code" else n_layers
    key = "layers" if options.get("layers") else "layer"
    if bad := [layer for layer in layers if layer >= limit]:
        what = "hidden layers" if kind == "hidden_code" else "weight layers"
        raise ConfigError(
            f"{where}.{key}: layer(s) {bad} out of range: the network drawn has {limit} "
            f"{what} (0 to {limit - 1})"
        )


def _check_epochs(exp, kind, options, selected, where, ConfigError) -> None:
    """Epochs a figure names against the recording schedule, in O(1) per epoch (a run of
    10**12 epochs is never listed)."""
    if kind in ("network_diagram", "decision_boundary", "boundary_epochs"):
        key = "epochs" if kind == "boundary_epochs" else "epoch"
        chosen = options.get(key) if kind == "boundary_epochs" else [options.get(key)]
        for variant in selected:
            schedule = exp.trace.schedule(variant.train.epochs)
            bad = [
                e
                for e in (chosen or [])
                if e is not None and not {"W", "b"} <= set(schedule.tensors_at(e))
            ]
            if bad:
                raise ConfigError(
                    f"{where}.{key}: epoch(s) {bad} are not recorded for variant "
                    f"{variant.name!r}: its parameters (W and b) are recorded at "
                    f"{_recorded_params(schedule)}"
                )
    if kind == "gradient_flow" and options.get("epoch") is not None:
        variant = selected[0]
        schedule = exp.trace.schedule(variant.train.epochs)
        if options["epoch"] not in schedule.norms:
            raise ConfigError(
                f"{where}.epoch: no norms are recorded at epoch {options['epoch']} for "
                f"variant {variant.name!r}: they are recorded at "
                f"{_describe(schedule.norms, variant.train.epochs)} (trace.norms_every)"
            )
    if kind == "learning_curves" and options.get("max_epoch") is not None:
        longest = max(v.train.epochs for v in selected)
        if options["max_epoch"] > longest:
            raise ConfigError(
                f"{where}.max_epoch: {options['max_epoch']} is past the end of every run "
                f"drawn (the longest trains {longest} epochs): use null to show all"
            )


def _recorded_params(schedule) -> str:
    if {"W", "b"} <= set(schedule.trace.state):
        where = "trace.state_every, trace.state_epochs"
        return f"{_describe(schedule.state, schedule.epochs)} ({where})"
    return f"0 and the last, {schedule.epochs}, only (trace.state lacks W or b)"


def _check_ulp_fanout(options, variant, where, ConfigError) -> None:
    ulps = options["ulps"]
    if ulps == 0 or abs(ulps) > MAX_ULPS:
        raise ConfigError(
            f"{where}.ulps: {ulps}; a nudge is 1 to {MAX_ULPS} units in the last place, "
            f"signed (0 changes nothing)"
        )
    sizes = variant.model.sizes
    layer = options["layer"]
    weights = sizes[layer] * sizes[layer + 1]
    if options["nudges"] > weights:
        raise ConfigError(
            f"{where}.nudges: {options['nudges']} nudges, one weight each, but layer "
            f"{layer} of variant {variant.name!r} has {weights} weights "
            f"({sizes[layer]} x {sizes[layer + 1]})"
        )
    epochs = variant.train.epochs
    if bad := [m for m in options["marks"] if m > epochs]:
        raise ConfigError(
            f"{where}.marks: epoch(s) {bad} are past the {epochs} epochs of variant "
            f"{variant.name!r} (the default marks, [99, 150, 199, 999], are seed 001's)"
        )


def _check_drawing(exp, kind, options, where, info, dataset) -> None:
    """What a figure would draw misleadingly or not at all: a sweep that compares
    different losses on one scale, a boundary_epochs spacing with nothing to choose from
    in the recording schedule, a composite figure's panels."""
    from ..config import ConfigError

    selected = _selected(exp, options)
    if kind in ("lr_sensitivity", "sweep_heatmap"):
        losses = sorted({v.model.loss for v in selected})
        metric = sweep_metric(options["metric"], losses)
        if metric in ("loss", "test_loss") and len(losses) > 1:
            scale = "axis" if kind == "lr_sensitivity" else "colour scale"
            raise ConfigError(
                f"{where}.metric: {metric} would put different losses ({', '.join(losses)}) "
                f"on one {scale}, but their values measure different things: use accuracy "
                f"(or null, which chooses it), a metric every variant records, or select "
                f"variants of one loss"
            )
    if kind == "boundary_epochs" and options.get("epochs") is None:
        for variant in selected:
            schedule = exp.trace.schedule(variant.train.epochs)
            recorded = len(schedule.state) if {"W", "b"} <= set(exp.trace.state) else 2
            if recorded == 2 and options["max_panels"] > 2:
                raise ConfigError(
                    f"{where}.spacing: {options['spacing']} spacing chooses "
                    f"{options['max_panels']} columns among the recorded epochs, but variant "
                    f"{variant.name!r} records its parameters at epochs 0 and "
                    f"{variant.train.epochs} only ({_recorded_params(schedule)}): record "
                    f"more, or set max_panels: 2"
                )
    if kind == "composite":
        _check_composite(exp, options, where, info, dataset, ConfigError)


def _check_composite(exp, options, where, info, dataset, ConfigError) -> None:
    panels = options["panels"]
    if len({len(row) for row in panels}) != 1:
        raise ConfigError(f"{where}.panels: every row needs as many columns ({panels})")
    names = [name for row in panels for name in row]
    metrics = recorded_metrics(exp, dataset)
    if bad := [n for n in dict.fromkeys(names) if n not in PLANE_PANELS and n not in metrics]:
        raise ConfigError(
            f"{where}.panels: {bad} are neither panels ({', '.join(PLANE_PANELS)}) nor "
            f"recorded metrics ({', '.join(metrics)})"
        )
    if (plane := [n for n in names if n in PLANE_PANELS]) and info.n_features != 2:
        raise ConfigError(
            f"{where}.panels: {plane} draw the input plane, but data set {exp.dataset!r} "
            f"has {info.n_features} features (two needed)"
        )
    for name in dict.fromkeys(names):  # a panel spanning cells must fill a rectangle
        cells = [(r, c) for r, row in enumerate(panels) for c, n in enumerate(row) if n == name]
        rows, cols = {r for r, _ in cells}, {c for _, c in cells}
        if len(cells) != len(rows) * len(cols) or (
            max(rows) - min(rows) + 1,
            max(cols) - min(cols) + 1,
        ) != (len(rows), len(cols)):
            raise ConfigError(
                f"{where}.panels: {name!r} spans cells {cells}, which are not one rectangle"
            )
