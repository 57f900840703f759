"""What Snakemake asks of the validation stage at parse time: each job's spec (its
``params``, as plain data) and the gradient check's inputs.

Parse-time code (workflow/rules/common.smk calls it on every dry run), so it imports no
numpy and no pandas: it reads the plan only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..experiments import Plan

__all__ = ["STAGE_SETTINGS", "experiment_spec", "inputs", "references_settings", "stage_spec"]

# The settings a per-experiment check depends on (the published references are not).
STAGE_SETTINGS = (
    "seeds",
    "step",
    "directions",
    "max_samples",
    "random_seed",
    "max_relative_error",
    "max_absolute_error",
)


def experiment_spec(plan: Plan, experiment: str) -> dict:
    """What the check of ``experiment`` depends on, as plain data.

    Parameters
    ----------
    plan : experiments.Plan
    experiment : str

    Returns
    -------
    dict
        The experiment's data set, seeds, learning rates, variants (model, epochs,
        blocks) and the validation settings.
    """
    exp = plan.experiments[experiment]
    settings = plan.config["validation"]
    return {
        "experiment": experiment,
        "dataset": exp.dataset,
        "seeds": list(exp.spec["seeds"]),
        "learning_rates": list(exp.spec["learning_rates"]),
        "variants": [
            {
                "name": v.name,
                "model": v.model.as_dict(),
                "epochs": v.train.epochs,
                "blocks": [b.name for b in exp.blocks if b.variant == v.name],
            }
            for v in exp.variants
        ],
        "validation": {k: settings[k] for k in STAGE_SETTINGS},
    }


def stage_spec(plan: Plan) -> dict:
    """What the whole gradient check depends on (rule ``gradcheck``'s params):
    :func:`experiment_spec` of every experiment, in config order.

    Returns
    -------
    dict
        ``{"experiments": [experiment_spec, ...]}``.
    """
    return {"experiments": [experiment_spec(plan, name) for name in plan.experiments]}


def references_settings(plan: Plan) -> dict:
    """What the worked examples and seed formulas depend on (rule ``references``'s
    params): the config's whole ``validation`` section, published references included."""
    return plan.config["validation"]


def inputs(plan: Plan, results: str = "results") -> dict[str, str | list[str]]:
    """The gradient check's inputs, named for Snakemake's ``unpack()``.

    Parameters
    ----------
    plan : experiments.Plan
    results : str
        The results directory the paths start with.

    Returns
    -------
    dict
        Per experiment ``name``: ``{name}_dataset``, its data set's path, and
        ``{name}_runs`` and ``{name}_state``, its run and state tables (one file per
        block, in block order).
    """
    out: dict[str, str | list[str]] = {}
    for name, exp in plan.experiments.items():
        out[f"{name}_dataset"] = f"{results}/datasets/{exp.dataset}.parquet"
        for table in ("runs", "state"):
            out[f"{name}_{table}"] = [
                f"{results}/traces/{name}/{table}/{block.name}.parquet" for block in exp.blocks
            ]
    return out
