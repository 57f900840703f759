"""The validation stage's three jobs, one per rule: :func:`gradcheck`, :func:`references`
and :func:`summary`.

One signature shape, ``job(spec, inputs, out)``, in that order, as the rule names them,
an argument left out where the rule has none:

- ``spec``: the rule's params as plain data (parsed from its canonical JSON; made by
  :mod:`.plan`);
- ``inputs``: the rule's named inputs, ``dict(snakemake.input.items())``: name -> path
  or list of paths;
- ``out``: the rule's named outputs, ``dict(snakemake.output.items())``: name -> path.

So ``gradcheck(spec, inputs, out)``, ``references(settings, out)`` (no inputs) and
``summary(inputs, out)`` (no params). Each runs the same from Snakemake (its script in
workflow/scripts/), from :mod:`backproplab.replay`, from a test or by hand. Every job
fails before writing anything if its checks fail, so that nothing downstream (the
report) is built over a failed check.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import threadpoolctl

from . import checks, seed_formulas
from . import references as worked_examples
from .summary import write_summary
from .tables import write_frame

__all__ = ["gradcheck", "references", "summary"]

log = logging.getLogger(__name__)


def gradcheck(spec: dict, inputs: dict, out: dict) -> None:
    """Rule ``gradcheck``: check every experiment, log each table, fail on any failed
    row (:class:`~.checks.GradcheckError`), else write the table.

    Parameters
    ----------
    spec : dict
        From :func:`backproplab.gradcheck.plan.stage_spec`.
    inputs : dict
        Per experiment ``name``: ``{name}_dataset`` (a path), ``{name}_runs`` and
        ``{name}_state`` (lists of paths); see :func:`backproplab.gradcheck.plan.inputs`.
    out : dict
        ``gradcheck``: ``results/validation/gradcheck.parquet``.
    """
    if np.finfo(np.longdouble).eps > 1e-18:
        log.warning(
            "long double is no wider than float64 on this platform: central differences "
            "carry about 1e-10 of rounding, and small gradient entries may fail"
        )
    tables = []
    for exp in spec["experiments"]:
        name = exp["experiment"]
        started = time.perf_counter()
        # One BLAS thread: the tables then do not depend on the machine's core count.
        with threadpoolctl.threadpool_limits(1):
            table = checks.check_experiment(
                exp, inputs[f"{name}_dataset"], inputs[f"{name}_runs"], inputs[f"{name}_state"]
            )
        log.info(
            "checked %s in %.2f s:\n%s",
            name,
            time.perf_counter() - started,
            table.drop(columns=["run_id", "experiment"]).to_string(),
        )
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    checks.gate(table)
    write_frame(table, out["gradcheck"], spec)


def references(settings: dict, out: dict) -> None:
    """Rule ``references``: the worked examples and the seeds' gradient formulas.

    Fails if a required worked-example number disagrees with its published value, or if
    the gradient check passes a seed formula that is known to be wrong.

    Parameters
    ----------
    settings : dict
        The config's ``validation`` section
        (:func:`backproplab.gradcheck.plan.references_settings`).
    out : dict
        ``references`` and ``seed_formulas``: ``results/validation/references.parquet``
        and ``seed_formulas.parquet``.
    """
    # One BLAS thread: the tables then do not depend on the machine's core count.
    with threadpoolctl.threadpool_limits(1):
        examples = worked_examples.compute_references(
            settings["references"], settings["band_nudges"]
        )
        formulas = seed_formulas.check_seed_formulas(settings)
    log.info("worked examples:\n%s", examples.drop(columns=["note"]).to_string())
    log.info("seed formulas:\n%s", formulas.drop(columns=["description"]).to_string())
    worked_examples.gate(examples)
    seed_formulas.gate(formulas)
    write_frame(examples, out["references"], settings)
    write_frame(formulas, out["seed_formulas"], settings)


def summary(inputs: dict, out: dict) -> None:
    """Rule ``validation_summary``: the Markdown summary of the three validation tables.

    Parameters
    ----------
    inputs : dict
        ``gradcheck``, ``references`` and ``seed_formulas``: the three tables' paths.
    out : dict
        ``summary``: ``results/validation/summary.md``.
    """
    write_summary(
        inputs["gradcheck"], inputs["seed_formulas"], inputs["references"], out["summary"]
    )
