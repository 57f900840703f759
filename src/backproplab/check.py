"""Check config files with the project's safe loader only, before Snakemake reads them.

``python -m backproplab check my.yaml`` (several files merge in order, as Snakemake's
``--configfile a.yaml b.yaml`` do). Snakemake reads ``--configfile`` itself, through
yte, before the Snakefile (and so this project's checks) runs: a config you did not
write is code to Snakemake. This reads the files with the project's strict safe loader
only (no templating, no tags, nothing evaluated), validates them and plans the runs as
the Snakefile does, and writes nothing.
"""

from __future__ import annotations

import sys

from .config import ConfigError, load_files, validate


def check(paths: list[str]):
    """The plan of ``paths`` (merged in order, as ``--configfile a b`` is).

    Raises
    ------
    ConfigError
        As the pipeline would, before any job.
    """
    from .experiments import plan
    from .figures import catalog

    result = plan(validate(load_files(paths)))
    catalog.check(result)
    return result


def add_arguments(parser) -> None:
    """The ``check`` subcommand's arguments."""
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("configfiles", metavar="CONFIG", nargs="+", help="config files, in order")
    parser.set_defaults(run=_run)


def _run(args) -> int:
    try:
        result = check(args.configfiles)
    except ConfigError as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        return 1
    print(f"ok: {len(result.experiments)} experiments, {len(result.runs):,} runs")
    return 0
