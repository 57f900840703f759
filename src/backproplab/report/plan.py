"""What the workflow needs to know about the report when it is parsed: the report's
params and the benchmark files its timings page reads. Light on purpose (no pandas)."""

from __future__ import annotations

from ..experiments import Plan

__all__ = ["BENCHMARK_GLOBS", "benchmark_files", "report_spec"]


def report_spec(plan: Plan) -> dict:
    """What the report depends on besides its input files: the validated config (its
    experiments, data sets and validation settings), the config's order of experiments
    and figures, and each experiment's variant labels (``Experiment.legend``). The config
    hashes the report shows are its traces' own (one per training job), read from them.
    """
    config = plan.config
    keep = {k: config[k] for k in ("experiments", "datasets", "validation") if k in config}
    # Params travel as canonical JSON, which sorts keys: the config's order of
    # experiments and of their figures is kept as lists.
    order = [[name, list(exp.get("figures", {}))] for name, exp in config["experiments"].items()]
    labels = {name: exp.legend()[0] for name, exp in plan.experiments.items()}
    return {"config": keep, "order": order, "labels": labels}


def benchmark_files(plan: Plan) -> list[str]:
    """The benchmark files a full run of ``plan`` writes in the stages this package
    names (the compiled trainer's build, training, figures one per experiment, report),
    stage by stage. The validation stage's are found
    by :data:`BENCHMARK_GLOBS` instead, so that its rules may name theirs freely."""
    files = []
    if plan.config["engine"] == "compiled":
        files.append("logs/compile/compiled_trainer.benchmark.tsv")
    files += [
        f"logs/train/{e.name}/{b.name}.benchmark.tsv"
        for e in plan.experiments.values()
        for b in e.blocks
    ]
    files += [
        f"logs/figures/{e.name}.benchmark.tsv"
        for e in plan.experiments.values()
        if e.spec["figures"]
    ]
    files.append("logs/report/index.benchmark.tsv")
    return files


# Benchmark files of stages whose job names this package does not know.
BENCHMARK_GLOBS = ["logs/datasets/**/*.benchmark.tsv", "logs/validation/**/*.benchmark.tsv"]
