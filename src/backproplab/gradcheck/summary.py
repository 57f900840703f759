"""The validation summary, ``results/validation/summary.md``: a short human-readable
account of the stage's three tables (the gradient checks, the seeds' formulas and the
worked examples), in Markdown."""

from __future__ import annotations

import pandas as pd

from ..traces import atomic_path
from ..verdicts import band_text, verdict_text

__all__ = ["summary_markdown", "write_summary"]


def _g(value: float) -> str:
    return "n/a" if value != value else f"{value:.2g}"


def summary_markdown(gradcheck, seed_formulas, references) -> str:
    """A short human-readable account of the three validation tables, in Markdown.

    Parameters
    ----------
    gradcheck, seed_formulas, references : pandas.DataFrame
        The tables of :func:`backproplab.gradcheck.checks.check_experiment`,
        :func:`backproplab.gradcheck.seed_formulas.check_seed_formulas` and
        :func:`backproplab.gradcheck.references.compute_references`.

    Returns
    -------
    str
    """
    lines = ["# Validation", ""]
    step = gradcheck.step.iloc[0]
    rtol, atol = gradcheck.max_relative_error.iloc[0], gradcheck.max_absolute_error.iloc[0]
    entries = gradcheck[gradcheck.layer >= 0]
    verdict = (
        f"**All {len(gradcheck)} checks pass**"
        if gradcheck.passed.all()
        else f"**{int((~gradcheck.passed).sum())} of {len(gradcheck)} checks fail**"
    )
    lines += [
        "## Backpropagation against central differences",
        "",
        f"Every variant of every experiment, at its initial and trained parameters, for "
        f"up to {gradcheck.groupby(['experiment', 'variant']).seed.nunique().max()} seeds: "
        f"every weight and bias entry's central difference (step {step:g}, losses in long "
        f"double) and {int(gradcheck[gradcheck.layer < 0].n_entries.max())} random "
        f"whole-network directions per run and checkpoint. An entry fails when its "
        f"relative error |a - n| / max(1e-12, |a| + |n|) exceeds {rtol:g} and its "
        f"absolute error exceeds {atol:g}.",
        "",
        f"{verdict}: {int(entries.n_entries.sum()):,} entries; "
        f"{int(entries.n_kinked.sum()):,} of them straddle a ReLU kink and are reported "
        f"apart (not gated).",
        "",
        "| experiment | variant | runs x checkpoints | largest relative error | "
        "largest absolute error | directions: largest relative error | kinked entries | "
        "passed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (exp, variant), rows in gradcheck.groupby(["experiment", "variant"], sort=False):
        tensors, directions = rows[rows.layer >= 0], rows[rows.layer < 0]
        lines.append(
            f"| {exp} | {variant} | {rows.seed.nunique()} x {rows.checkpoint.nunique()} | "
            f"{_g(tensors.max_rel_error.max())} | {_g(tensors.max_abs_error.max())} | "
            f"{_g(directions.max_rel_error.max())} | {int(tensors.n_kinked.sum())} | "
            f"{'yes' if rows.passed.all() else '**no**'} |"
        )
    lines += [
        "",
        "## The seeds' own gradient formulas",
        "",
        "Checked the same way, at the initial parameters of the seed's own setup. The "
        "check must catch each of them (a failed check here is the expected outcome).",
        "",
        "| formula | seed | what is wrong | caught | largest relative error | cosine of W's "
        "gradient with the central differences, per layer (one value per seed) |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in seed_formulas.groupby("formula", sort=False):
        weights = rows[rows.tensor == "W"].groupby("layer", sort=True).cosine
        cosines = "; ".join(
            f"layer {layer}: " + " ".join(f"{c:+.2f}" for c in values) for layer, values in weights
        )
        lines.append(
            f"| {name} | {rows.seed_document.iloc[0]} | {rows.description.iloc[0]} | "
            f"{'yes' if not rows.passed.all() else '**no**'} | "
            f"{_g(rows.max_rel_error.max())} | {cosines} |"
        )
    lines += [
        "",
        "## Worked examples",
        "",
        "Published numbers against the engine's. Where the run is well conditioned a "
        "number must agree to its printed digits (within half a unit of the last one). "
        "Where rounding decides the digits (chaotic: one-ulp replays of the initial "
        "weights spread wider than that), it must lie inside its rounding band, the "
        "replays' range widened by half a unit.",
        "",
        "| reference | quantity | reading | published | computed | difference | "
        "rounding band | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    grouped = references.reference == "seed003"
    for r in references[~grouped].itertuples():
        lines.append(
            f"| {r.reference} | {r.quantity} | {r.reading} | {r.published or 'n/a'} | "
            f"{r.computed:.10g} | {_g(r.difference)} | {band_text(r)} | {verdict_text(r)} |"
        )
    seed003 = references[grouped]
    if len(seed003):
        lines.append(
            f"| seed003 | {len(seed003)} printed numbers (forward values, gradients, "
            f"weights after one step) | {seed003.reading.iloc[0]} | | | largest "
            f"{_g(seed003.difference.abs().max())} | | "
            f"{'all pass' if seed003.passes.all() else f'{int((~seed003.passes).sum())} FAIL'}"
            f": to their digits |"
        )
    notes = references[references.note != ""].drop_duplicates("note")
    if len(notes):
        lines += ["", "Notes:", ""]
        lines += [f"- {r.reference}, {r.quantity}: {r.note}." for r in notes.itertuples()]
    return "\n".join(lines) + "\n"


def write_summary(gradcheck_path, seed_formulas_path, references_path, out) -> None:
    """Write ``results/validation/summary.md`` (atomically) from the three validation
    tables' Parquet files."""
    text = summary_markdown(
        pd.read_parquet(gradcheck_path),
        pd.read_parquet(seed_formulas_path),
        pd.read_parquet(references_path),
    )
    with atomic_path(out) as tmp:
        tmp.write_text(text)
