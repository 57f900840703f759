"""Replay a config's training in one process: its data sets and trace tables, no Snakemake.

The same work as the workflow's ``dataset`` and ``train`` rules, with the same functions
(``datasets.make``, ``train_job.train_block``), the same block specs and the same
paths under ``RESULTS_DIR``::

    RESULTS_DIR/datasets/{dataset}.parquet
    RESULTS_DIR/traces/{experiment}/{runs,metrics,state,norms}/{block}.parquet

and, unless ``--no-validation``, the validation stage's tables (rules ``gradcheck`` and
``references``) under ``RESULTS_DIR/validation/``, so that ``digests.digest_tree`` of the
two agrees on every table (the golden tests check it). Figures and the report are not
replayed.

What it is for: running the training under an emulator such as ``qemu-x86_64 -cpu
Haswell``, which emulates one process only (a process it starts runs natively on the
host), to check that another CPU computes the same bits (``tests/cross_cpu``)::

    python -m backproplab.replay CONFIG RESULTS_DIR [--numerics canonical|native]
                                 [--engine compiled|numpy] [--no-validation]

The numerics profile is applied before numpy is imported: this module imports nothing
that imports numpy at module level, and :func:`replay` imports the jobs only after
``numerics.apply``. It prints one JSON line ``{"numerics": ...}`` with the kernels in
use (``numerics.enforce``) and the emulated CPU's features as numpy detected them, and
the time of each step on stderr. Relative paths in the config (a data set's ``path``)
are read relative to the current directory, as the workflow reads them relative to its
working directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import numerics

__all__ = ["replay", "main"]

TRACE_TABLES = ("runs", "metrics", "state", "norms")


def _cpu_features() -> dict[str, bool]:
    """The CPU features numpy detected (the emulated CPU's, under qemu)."""
    from numpy._core._multiarray_umath import __cpu_features__

    return {k: bool(v) for k, v in sorted(__cpu_features__.items())}


def _validate(PLAN, results: Path, seconds: dict, log) -> list[str]:
    """The validation stage's three tables, as rules ``gradcheck`` and ``references``
    compute them (the same jobs, inputs, spec and settings as in workflow/rules/common.smk)."""
    from .gradcheck import job
    from .gradcheck import plan as stage

    out = results / "validation"
    t = time.perf_counter()
    inputs = stage.inputs(PLAN, results.as_posix())
    job.gradcheck(stage.stage_spec(PLAN), inputs, {"gradcheck": out / "gradcheck.parquet"})
    seconds["validation/gradcheck"] = time.perf_counter() - t
    t = time.perf_counter()
    job.references(
        stage.references_settings(PLAN),
        {"references": out / "references.parquet", "seed_formulas": out / "seed_formulas.parquet"},
    )
    seconds["validation/references"] = time.perf_counter() - t
    log(
        f"replay: validation in {seconds['validation/gradcheck']:.2f} + "
        f"{seconds['validation/references']:.2f} s"
    )
    return [f"validation/{n}.parquet" for n in ("gradcheck", "references", "seed_formulas")]


def replay(
    config_path: str | Path,
    results_dir: str | Path,
    profile: str = "canonical",
    log=None,
    validation: bool = True,
    engine: str | None = None,
) -> dict:
    """Generate every used data set and train every block of ``config_path``.

    Parameters
    ----------
    config_path : path
        A pipeline config (YAML), validated and planned exactly as the workflow does.
    results_dir : path
        Where ``datasets/`` and ``traces/`` are written (created if missing).
    profile : ``"canonical"`` or ``"native"``
        The numerics profile (``backproplab.numerics``). Applied before numpy loads when
        this is the first thing the process does that imports numpy; otherwise
        ``numerics.enforce`` raises if the canonical kernels are not in use.
    log : callable, optional
        Called with one line of progress per step (default: print to stderr).
    validation : bool
        Also compute the validation stage's tables (``results_dir/validation/``).
    engine : ``"compiled"`` or ``"numpy"``, optional
        Train with this engine instead of the config's ``engine`` (the golden digests
        hold both engines' numbers of one config).

    Returns
    -------
    dict
        ``numerics`` (``numerics.enforce``'s provenance), ``cpu_features`` (numpy's view
        of the CPU), ``seconds`` (per step and in total) and ``files`` (written, relative
        to ``results_dir``).
    """
    numerics.apply(profile)
    started = time.perf_counter()
    provenance = numerics.enforce(profile)
    # After the profile: these import numpy.
    from . import config as cfg
    from . import datasets
    from .experiments import plan
    from .training import job as train_job

    if log is None:

        def log(line):
            print(line, file=sys.stderr, flush=True)

    seconds: dict[str, float] = {"imports": time.perf_counter() - started}
    log(
        f"replay: numerics {provenance['profile']}, kernels {provenance['blas_kernel']} "
        f"{provenance['numpy_dispatch']}; imports in {seconds['imports']:.2f} s"
    )

    config = cfg.load(config_path)
    if engine is not None:
        config = {**config, "engine": engine}
    PLAN = plan(cfg.validate(config))
    results = Path(results_dir)
    files = []
    used = sorted({e.dataset for e in PLAN.experiments.values()})
    for name in used:
        t = time.perf_counter()
        path = results / "datasets" / f"{name}.parquet"
        datasets.make(PLAN.config["datasets"][name], path)
        seconds[f"datasets/{name}"] = time.perf_counter() - t
        files.append(path.relative_to(results).as_posix())
        log(f"replay: datasets/{name} in {seconds[f'datasets/{name}']:.2f} s")
    for experiment, exp in PLAN.experiments.items():
        dataset = results / "datasets" / f"{exp.dataset}.parquet"
        for block in exp.blocks:
            t = time.perf_counter()
            out = {
                table: results / "traces" / experiment / table / f"{block.name}.parquet"
                for table in TRACE_TABLES
            }
            train_job.train_block(PLAN.block_spec(experiment, block.name), dataset, out)
            key = f"traces/{experiment}/{block.name}"
            seconds[key] = time.perf_counter() - t
            files += [p.relative_to(results).as_posix() for p in out.values()]
            log(f"replay: {key} ({len(block.runs)} runs) in {seconds[key]:.2f} s")
    if validation:
        files += _validate(PLAN, results, seconds, log)
    seconds["total"] = time.perf_counter() - started
    log(f"replay: {len(files)} files in {seconds['total']:.2f} s")
    return {
        "numerics": provenance,
        "cpu_features": _cpu_features(),
        "seconds": seconds,
        "files": files,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backproplab.replay", description=__doc__.splitlines()[0]
    )
    parser.add_argument("config", metavar="CONFIG", help="a pipeline config (YAML)")
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="where results/ goes")
    parser.add_argument(
        "--numerics",
        choices=numerics.PROFILES,
        default="canonical",
        help="the numerics profile (default: canonical)",
    )
    parser.add_argument(
        "--engine",
        choices=("compiled", "numpy"),
        help="train with this engine instead of the config's",
    )
    parser.add_argument("--no-validation", action="store_true", help="data sets and traces only")
    args = parser.parse_args(argv)
    wall = time.perf_counter()
    result = replay(
        args.config,
        args.results_dir,
        args.numerics,
        validation=not args.no_validation,
        engine=args.engine,
    )
    features = result["cpu_features"]
    summary = {
        "numerics": result["numerics"],
        "cpu_features": {k: features[k] for k in sorted(features) if k.startswith(("AVX", "FMA"))},
        "seconds": {k: round(v, 3) for k, v in result["seconds"].items()},
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "files": len(result["files"]),
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
