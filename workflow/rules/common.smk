# Config validation, the run table, and the input functions the rules use.
# No numerics here: everything is computed by the backproplab package.
import json

from snakemake.exceptions import WorkflowError

from backproplab.config import ConfigError, validate
from backproplab.experiments import canonical_json, plan

try:
    PLAN = plan(validate(config))
except ConfigError as exc:
    raise WorkflowError(f"invalid config: {exc}") from None


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_]*",
    experiment=r"[A-Za-z0-9][A-Za-z0-9_]*",
    block=r"[A-Za-z0-9_.\-]+-c[0-9]+",
    table=r"runs|metrics|state|norms",


TRACE_TABLES = ["runs", "metrics", "state", "norms"]


def dataset_spec(wildcards):
    """The data set's config entry as canonical JSON (the job's params)."""
    return canonical_json(PLAN.config["datasets"][wildcards.dataset])


def used_datasets():
    return sorted({e.dataset for e in PLAN.experiments.values()})


def block_spec(wildcards):
    """Everything a training job needs, as canonical JSON: any change reruns the job."""
    return canonical_json(PLAN.block_spec(wildcards.experiment, wildcards.block))


def block_dataset(wildcards):
    return f"results/datasets/{PLAN.experiments[wildcards.experiment].dataset}.parquet"


def trace_files(experiment, tables=TRACE_TABLES):
    """Every trace file of an experiment (all its blocks)."""
    blocks = PLAN.experiments[experiment].blocks
    return [
        f"results/traces/{experiment}/{table}/{block.name}.parquet"
        for table in tables
        for block in blocks
    ]


def all_targets():
    targets = [f"results/datasets/{d}.parquet" for d in used_datasets()]
    for name in PLAN.experiments:
        targets += trace_files(name)
    return targets
