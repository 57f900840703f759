# Config validation, the run table, and the input functions the rules use.
# No numerics here: everything is computed by the backproplab package.
import json

from snakemake.exceptions import WorkflowError

from backproplab import numerics
from backproplab.config import ConfigError, load_configfiles, validate
from backproplab.experiments import canonical_json, plan
from backproplab.gradcheck import plan as GRADCHECK_PLAN
from backproplab.figures import catalog as FIGURES
from backproplab.report import plan as REPORT_PLAN
from backproplab.training.plan import Resources as TrainResources

# Snakemake has read the config files already (through yte); they are read again with
# the project's strict safe loader, which refuses duplicate keys, an empty config and yte
# templating, and must agree with what Snakemake read (see the README's "Trust model").
try:
    CONFIG = load_configfiles(
        workflow.configfiles, config, workflow.config_settings.config
    )
    PLAN = plan(validate(CONFIG))
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


def dataset_sources(wildcards):
    """A file data set's CSV or Parquet file, an input of its rule: editing the file
    reruns the data set and everything downstream (generated data sets have none)."""
    spec = PLAN.config["datasets"][wildcards.dataset]
    return [spec["path"]] if spec["generator"] == "file" else []


def used_datasets():
    return sorted({e.dataset for e in PLAN.experiments.values()})


def block_spec(wildcards):
    """Everything a training job needs, as canonical JSON: any change reruns the job."""
    return canonical_json(PLAN.block_spec(wildcards.experiment, wildcards.block))


def block_dataset(wildcards):
    return f"results/datasets/{PLAN.experiments[wildcards.experiment].dataset}.parquet"


# The compiled trainer's numba cache, filled by rule compile_trainer before any training
# job starts, so that parallel jobs load the kernel instead of each compiling it.
COMPILED_TRAINER = "results/engine/compiled_trainer.json"


def compiled_trainer(wildcards):
    """Rule compile_trainer's record, if the config trains with the compiled trainer.
    ancient(): the record only orders the jobs; remaking it reruns no training job by
    its time (removing it reruns them all, as its rule then runs first)."""
    return [ancient(COMPILED_TRAINER)] if PLAN.config["engine"] == "compiled" else []


def trace_files(experiment, tables=TRACE_TABLES):
    """Every trace file of an experiment (all its blocks)."""
    blocks = PLAN.experiments[experiment].blocks
    return [
        f"results/traces/{experiment}/{table}/{block.name}.parquet"
        for table in tables
        for block in blocks
    ]


# The experiments that draw figures (rules figures_<experiment>, in figures.smk).
FIGURED_EXPERIMENTS = [
    name for name, e in PLAN.experiments.items() if e.spec["figures"]
]


def experiment_figure_inputs(experiment):
    """What an experiment's figures read, named for the rule's input: each trace table
    one of them reads (every block) and, if one draws it, the data set."""
    exp = PLAN.experiments[experiment]
    kinds = exp.spec["figures"]
    read = {t for kind in kinds for t in FIGURES.figure_tables(kind)}
    inputs = {t: trace_files(experiment, [t]) for t in TRACE_TABLES if t in read}
    if any(FIGURES.needs_dataset(kind) for kind in kinds):
        inputs["dataset"] = f"results/datasets/{exp.dataset}.parquet"
    return inputs


def experiment_figure_outputs(experiment):
    """Each figure's PNG (in the Snakemake report), PDF and JSON, named {kind}_{suffix}."""
    outputs = {}
    for kind in PLAN.experiments[experiment].spec["figures"]:
        stem = f"results/figures/{experiment}/{kind}"
        outputs[f"{kind}_png"] = report(
            f"{stem}.png",
            caption="../report/figure.rst",
            category=experiment,
            labels={"figure": kind, "format": "PNG"},
        )
        outputs[f"{kind}_pdf"] = f"{stem}.pdf"
        outputs[f"{kind}_json"] = f"{stem}.json"
    return outputs


def experiment_figure_specs(experiment):
    """Each figure's kind, options and experiment, as canonical JSON (the job's params:
    a change of one figure's options redraws its experiment's figures)."""
    exp = PLAN.experiments[experiment]
    specs = {k: FIGURES.figure_spec(exp, k, PLAN.config) for k in exp.spec["figures"]}
    return canonical_json(specs)


def experiment_figure_about(experiment):
    """What each of an experiment's figure kinds draws (the report caption's text)."""
    return {k: FIGURES.ABOUT[k] for k in PLAN.experiments[experiment].spec["figures"]}


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
    return canonical_json(GRADCHECK_PLAN.stage_spec(PLAN))


def gradcheck_inputs(wildcards):
    """Per experiment, its data set and its run and state tables, named for unpack()."""
    return GRADCHECK_PLAN.inputs(PLAN)


def validation_settings(wildcards):
    """The validation settings, published references included, as canonical JSON."""
    return canonical_json(GRADCHECK_PLAN.references_settings(PLAN))


def all_trace_files(tables):
    """The given trace tables of every experiment."""
    return [f for name in PLAN.experiments for f in trace_files(name, tables)]


def all_figure_files(suffixes):
    """Every figure file of every experiment, with the given suffixes."""
    return [f for name in PLAN.experiments for f in figure_files(name, suffixes)]


def report_spec(wildcards):
    """The validated config, its hash and variant labels, which the report shows."""
    return canonical_json(REPORT_PLAN.report_spec(PLAN))


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


# Resources: what each training job asks a scheduler for (see profiles/), estimated per
# block by backproplab.training.plan (the other rules ask for fixed amounts).
TRAIN_RESOURCES = TrainResources(PLAN)


def train_mem_mb(wildcards, attempt):
    """A training job's memory (MB), times the attempt."""
    return TRAIN_RESOURCES.mem_mb(wildcards.experiment, wildcards.block, attempt)


def train_runtime(wildcards, attempt):
    """A training job's wall time (minutes), times the attempt."""
    return TRAIN_RESOURCES.runtime(wildcards.experiment, wildcards.block, attempt)
