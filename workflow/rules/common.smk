# Config validation, the run table, and the input functions the rules use.
# No numerics here: everything is computed by the backproplab package.
import json

from snakemake.exceptions import WorkflowError

from backproplab import numerics
from backproplab.config import ConfigError, validate
from backproplab.experiments import canonical_json, plan
from backproplab.validation import stage_spec as gradcheck_stage_spec
from backproplab.figures import catalog as FIGURES
from backproplab import report_plan as REPORT_PLAN

try:
    PLAN = plan(validate(config))
    FIGURES.check(PLAN)
except ConfigError as exc:
    raise WorkflowError(f"invalid config: {exc}") from None

# The numerics profile, set in the environment that every job inherits. This file is
# parsed again on each SLURM node, so the pin is decided there for the node's own CPU; each
# job also enforces it before numpy loads and fails if it did not take effect.
NUMERICS = PLAN.config["numerics"]
numerics.apply(NUMERICS)


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


def figure_inputs(wildcards):
    """The trace tables (every block) and, if drawn, the data set of one figure."""
    exp = PLAN.experiments[wildcards.experiment]
    tables = FIGURES.figure_tables(wildcards.figure)
    inputs = {t: trace_files(exp.name, [t]) for t in tables}
    if FIGURES.needs_dataset(wildcards.figure):
        inputs["dataset"] = f"results/datasets/{exp.dataset}.parquet"
    return inputs


def figure_spec(wildcards):
    """A figure's kind, options and experiment as canonical JSON (its job's params)."""
    exp = PLAN.experiments[wildcards.experiment]
    return canonical_json(FIGURES.figure_spec(exp, wildcards.figure))


def figure_files(experiment, suffixes=("png", "pdf", "json")):
    """Every figure file the config asks of an experiment."""
    kinds = PLAN.experiments[experiment].spec["figures"]
    return [f"results/figures/{experiment}/{k}.{s}" for k in kinds for s in suffixes]


# Validation outputs; the report depends on them, so a failed check publishes nothing.
VALIDATION = [
    "results/validation/gradcheck.parquet",
    "results/validation/references.parquet",
    "results/validation/seed_formulas.parquet",
    "results/validation/summary.md",
]


def gradcheck_spec(wildcards):
    """What the gradient check depends on, every experiment's, as canonical JSON."""
    return canonical_json(gradcheck_stage_spec(PLAN))


def gradcheck_inputs(wildcards):
    """Per experiment, its data set and its run and state tables, named for unpack()."""
    inputs = {}
    for name, exp in PLAN.experiments.items():
        inputs[f"{name}_dataset"] = f"results/datasets/{exp.dataset}.parquet"
        inputs[f"{name}_runs"] = trace_files(name, ["runs"])
        inputs[f"{name}_state"] = trace_files(name, ["state"])
    return inputs


def validation_settings(wildcards):
    """The validation settings, published references included, as canonical JSON."""
    return canonical_json(PLAN.config["validation"])


def all_trace_files(tables):
    """The given trace tables of every experiment."""
    return [f for name in PLAN.experiments for f in trace_files(name, tables)]


def all_figure_files(suffixes):
    """Every figure file of every experiment, with the given suffixes."""
    return [f for name in PLAN.experiments for f in figure_files(name, suffixes)]


def report_spec(wildcards):
    """The validated config and its hash, which the report shows (its params)."""
    return canonical_json(REPORT_PLAN.report_spec(PLAN.config))


def report_benchmarks(wildcards):
    """The benchmark files the timings page reads (missing ones are listed as such)."""
    return REPORT_PLAN.benchmark_files(PLAN)


REPORT = ["results/report/index.html", "results/report/summary.md"]


def all_targets():
    targets = [f"results/datasets/{d}.parquet" for d in used_datasets()]
    for name in PLAN.experiments:
        targets += trace_files(name)
        targets += figure_files(name)
    targets += VALIDATION
    targets += REPORT + ["results/report/timings.html"]
    return targets


# Resources: what each job asks a scheduler for (see profiles/). Training runs on one core
# by design (BLAS pinned to one thread, so that results never depend on the machine); its
# memory and wall time grow with the block and are estimated from it below. The estimates
# were checked against blocks of 1 to 1,000 runs (spiral, digits, online updates, with and
# without per-sample state) on a shared 2-core machine: the requests were 1.5 to 2.2 times
# the memory and at least 3 times the wall time the jobs used. A job that still runs out
# is retried with its request times the attempt (profiles/slurm sets `retries`).
import functools
import itertools
import math

from backproplab.datasets import dataset_info
from backproplab.experiments import state_values_per_run


@functools.cache
def n_train_samples(dataset):
    """Training samples of a data set (a user's file is read once, not once per job)."""
    spec = PLAN.config["datasets"][dataset]
    return dataset_info(spec, f"datasets.{dataset}").n_train


@functools.cache
def train_load(experiment, block):
    """(seconds, bytes) that training one block is expected to need.

    Time: a start-up, a cost per mini-batch step (Python overhead, shared by the block's
    runs), a cost per run and epoch that grows with samples x (weights + 40 units)
    (matrix products, then element-wise activations), and one per state row written.
    Memory: about 600 MB for the job's Snakemake processes and the script's interpreter
    and libraries; then, with a margin of half, the per-sample work arrays and metric
    history of every run, and the largest batch of state rows in flight (one tensor of
    one layer for every run).
    """
    exp = PLAN.experiments[experiment]
    blk = exp.block(block)
    variant = exp.variant(blk.variant)
    sizes, train, trace = variant.model["sizes"], variant.train, exp.spec["trace"]
    runs, epochs, n = len(blk.runs), train["epochs"], n_train_samples(exp.dataset)
    # Test samples are evaluated at every record too; a data set without a test split
    # is overestimated by at most a third.
    n_all = n / (1 - PLAN.config["datasets"][exp.dataset].get("test_fraction", 0))
    units = sum(sizes[1:])
    weights = sum((i + 1) * o for i, o in itertools.pairwise(sizes))
    batch = train["batch_size"]
    steps = epochs * (1 if batch is None else math.ceil(n / batch))
    records = epochs // trace["metrics_every"] + 1
    state_rows = runs * state_values_per_run(variant, exp.spec, n)
    seconds = (
        30
        + 5e-4 * steps
        + runs * epochs * (5e-5 + 1e-9 * n_all * (weights + 40 * units))
        + 2e-7 * state_rows
    )
    widths = [i * o for i, o in itertools.pairwise(sizes)]
    if {"z", "a"} & set(trace["state"]):
        widths += [n * o for o in sizes[1:]]
    working = 8 * runs * (5 * n_all * units + 8 * weights + 8 * records)
    in_flight = 60 * runs * max(widths)
    return seconds, 6e8 + 1.5 * (working + in_flight)


def train_mem_mb(wildcards, attempt):
    """A training job's memory (MB): its estimate, at least 1,000, times the attempt."""
    _, needed = train_load(wildcards.experiment, wildcards.block)
    return max(1000, 100 * math.ceil(needed / 1e8)) * attempt


def train_runtime(wildcards, attempt):
    """A training job's wall time (minutes): twice its estimate, at least 10, times the
    attempt."""
    seconds, _ = train_load(wildcards.experiment, wildcards.block)
    return max(10, math.ceil(2 * seconds / 60)) * attempt
