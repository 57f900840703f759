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
}


def figure_tables(kind: str) -> tuple[str, ...]:
    return KINDS[kind].tables


def needs_dataset(kind: str) -> bool:
    return KINDS[kind].dataset


def figure_spec(experiment: Experiment, kind: str) -> dict:
    """Everything a figure job depends on besides its input files (its ``params``)."""
    labels, title = experiment.legend()
    return {
        "experiment": experiment.name,
        "figure": kind,
        "options": experiment.spec["figures"][kind],
        "variants": [v.name for v in experiment.variants],
        "labels": labels,
        "legend_title": title,
    }


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
    if kind == "loss_comparison" and len(names) < 2:
        raise ConfigError(f"{where}: compares variants, but {exp.name} has one ({names})")
    metrics = recorded_metrics(exp, dataset)
    chosen = options.get("metrics", []) + [options[k] for k in ("metric",) if k in options]
    if bad := [m for m in chosen if m not in metrics]:
        raise ConfigError(f"{where}: metric(s) {bad} are not recorded; recorded: {metrics}")
    if kind in ("weights", "hidden_code", "ulp_fanout"):
        n_layers = min(len(v.model.sizes) for v in exp.variants) - 1
        layers = options.get("layers") or [options.get("layer", 0)]
        limit = n_layers - 1 if kind == "hidden_code" else n_layers
        if bad := [layer for layer in layers if layer >= limit]:
            what = "hidden layers" if kind == "hidden_code" else "weight layers"
            raise ConfigError(
                f"{where}: layer(s) {bad} out of range: {exp.name} has {limit} {what}"
            )
    if kind in ("network_diagram", "decision_boundary", "boundary_epochs"):
        chosen_epochs = options.get("epochs") or [options.get("epoch")]
        for variant in exp.variants:
            recorded = exp.trace.schedule(variant.train.epochs).epochs_with("W")
            if bad := [e for e in chosen_epochs if e is not None and e not in recorded]:
                raise ConfigError(
                    f"{where}: epoch(s) {bad} are not recorded for variant {variant.name!r}; "
                    f"state is recorded at {_short(recorded)} (trace.state_every, "
                    f"trace.state_epochs)"
                )


def _short(epochs: list[int]) -> str:
    return str(epochs) if len(epochs) <= 12 else f"[{epochs[0]}, {epochs[1]}, ..., {epochs[-1]}]"
