"""The validation summary: the stage's three tables (the gradient checks, the seeds'
formulas and the worked examples) in words and tables of text, as :class:`Part` objects
(:func:`summary_parts`), which ``results/validation/summary.md`` (:func:`summary_markdown`)
and the report's validation section both render. Numbers are formatted per column
(:mod:`backproplab.tabular`), verdicts worded by :mod:`backproplab.verdicts`."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..tabular import DASH, Table, column
from ..traces import atomic_path, read_frame
from ..verdicts import band_text, computed_text, verdict_text

__all__ = [
    "Part",
    "Verdict",
    "formulas_table",
    "gradcheck_table",
    "reference_tables",
    "summary_markdown",
    "summary_parts",
    "write_summary",
]

# Errors are orders of magnitude: two significant digits.
_ERROR_DIGITS = 2


@dataclass
class Verdict:
    """A check's outcome, ``text`` (bold in Markdown) then ``detail``."""

    text: str
    passed: bool
    detail: str = ""


@dataclass
class Part:
    """One part of the summary: a heading, then paragraphs (``str``), :class:`Verdict`
    and :class:`~backproplab.tabular.Table` blocks, then notes."""

    title: str
    anchor: str
    blocks: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _yes(ok: bool, fail: str = "NO") -> str:
    return "yes" if ok else fail


def gradcheck_table(
    gradcheck: pd.DataFrame, caption: str = "", experiment: bool = True, labels=None
) -> Table:
    """One row per experiment and variant: seeds × checkpoints checked, the largest
    errors over every weight and bias entry and over the random directions, the entries
    at a ReLU kink, and whether every check passed. ``experiment`` keeps its column;
    ``labels`` (``{experiment: {variant: label}}``, the plan's legend labels) names the
    variants as the figures do, else by their variant names."""
    labels = labels or {}
    keys, tensor_rel, tensor_abs, direction_rel, kinked, passed = [], [], [], [], [], []
    for (exp, variant), rows in gradcheck.groupby(["experiment", "variant"], sort=False):
        tensors, directions = rows[rows.layer >= 0], rows[rows.layer < 0]
        keys.append(
            ([exp] if experiment else [])
            + [
                labels.get(exp, {}).get(variant, variant),
                f"{rows.seed.nunique()} \u00d7 {rows.checkpoint.nunique()}",
            ]
        )
        tensor_rel.append(tensors.max_rel_error.max() if len(tensors) else None)
        tensor_abs.append(tensors.max_abs_error.max() if len(tensors) else None)
        direction_rel.append(directions.max_rel_error.max() if len(directions) else None)
        kinked.append(str(int(tensors.n_kinked.sum())))
        passed.append(_yes(rows.passed.all()))
    numbers = [column(v, _ERROR_DIGITS) for v in (tensor_rel, tensor_abs, direction_rel)]
    columns = ["experiment"] if experiment else []
    columns += [
        "variant",
        "seeds \u00d7 checkpoints",
        "largest relative error",
        "largest absolute error",
        "directions: largest relative error",
        "kinked entries",
        "passed",
    ]
    table = Table(columns, caption=caption)
    table.numeric = [False] * (len(columns) - 6) + [True] * 5 + [False]
    for k, key in enumerate(keys):
        table.rows.append([*key, *(n[k] for n in numbers), kinked[k], passed[k]])
    return table


def formulas_table(seed_formulas: pd.DataFrame, caption: str = "") -> Table:
    """One row per seed formula: what is wrong, whether the check caught it, its largest
    relative error and the cosine of W's gradient with the central differences."""
    table = Table(
        ["formula", "seed", "what is wrong", "caught", "largest relative error",
         "cosine of W's gradient with the central differences, per layer (one value per seed)"],
        numeric=[False, False, False, False, True, False],
        caption=caption,
    )  # fmt: skip
    groups = list(seed_formulas.groupby("formula", sort=False))
    errors = column([rows.max_rel_error.max() for _, rows in groups], _ERROR_DIGITS)
    for (name, rows), error in zip(groups, errors, strict=True):
        weights = rows[rows.tensor == "W"].groupby("layer", sort=True).cosine
        cosines = "; ".join(
            f"layer {layer}: " + " ".join(f"{c:+.2f}" for c in values) for layer, values in weights
        )
        table.rows.append(
            [
                name,
                str(rows.seed_document.iloc[0]),
                str(rows.description.iloc[0]),
                _yes(not rows.passed.all()),
                error,
                cosines,
            ]
        )
    return table


def _reference_table(name: str, rows: pd.DataFrame) -> Table:
    readings = list(dict.fromkeys(rows.reading))
    banded = bool(rows.band_low.notna().any())
    columns = ["quantity"] + (["reading"] if len(readings) > 1 else [])
    columns += ["published", "computed", "difference"]
    columns += ["rounding band"] if banded else []
    columns += ["verdict"]
    caption = f"{name}: published numbers against the engine's"
    caption += f", read {readings[0]}." if len(readings) == 1 else "."
    table = Table(columns, caption=caption)
    table.numeric = [c in ("published", "computed", "difference") for c in columns]
    differences = column(rows.difference, _ERROR_DIGITS, signed=True)
    for r, difference in zip(rows.itertuples(), differences, strict=True):
        row = [r.quantity] + ([r.reading] if len(readings) > 1 else [])
        row += [r.published or "n/a", computed_text(r), difference]
        row += [band_text(r) or DASH] if banded else []
        table.rows.append([*row, verdict_text(r)])
    return table


def reference_tables(references: pd.DataFrame, collapse=()) -> list:
    """The worked examples, one table per reference: each published number as printed,
    the computed value two decimals beyond it, their difference, the rounding band where
    one was measured, and the verdict. A reference read in several ways has a reading
    column where a quantity is read in more than one, else a table per reading; a
    table's one reading is stated in its caption. References named in ``collapse`` are
    one sentence each instead."""
    blocks = []
    for name, rows in references.groupby("reference", sort=False):
        readings = list(dict.fromkeys(rows.reading))
        if name in collapse:
            outcome = (
                "all pass, to their digits"
                if rows.passes.all()
                else f"{int((~rows.passes).sum())} FAIL"
            )
            blocks.append(
                f"{name}: {len(rows)} printed numbers (forward values, gradients, weights "
                f"after one step), read {'; '.join(readings)}: {outcome} (largest "
                f"difference {column([rows.difference.abs().max()], _ERROR_DIGITS)[0]})."
            )
        elif rows.quantity.is_unique:
            blocks += [_reference_table(name, g) for _, g in rows.groupby("reading", sort=False)]
        else:
            blocks.append(_reference_table(name, rows))
    return blocks


def summary_parts(
    gradcheck, seed_formulas, references, collapse=("seed003",), labels=None
) -> list[Part]:
    """The three validation tables in words and tables of text.

    Parameters
    ----------
    gradcheck, seed_formulas, references : pandas.DataFrame
        The tables of :func:`backproplab.gradcheck.checks.check_experiment`,
        :func:`backproplab.gradcheck.seed_formulas.check_seed_formulas` and
        :func:`backproplab.gradcheck.references.compute_references`.
    collapse : tuple of str
        References summed up in one sentence rather than a row per number.
    labels : dict, optional
        ``{experiment: {variant: label}}`` for the gradient-check table's variants.

    Returns
    -------
    list of Part
    """
    step = gradcheck.step.iloc[0]
    rtol, atol = gradcheck.max_relative_error.iloc[0], gradcheck.max_absolute_error.iloc[0]
    entries = gradcheck[gradcheck.layer >= 0]
    ok = bool(gradcheck.passed.all())
    verdict = Verdict(
        f"All {len(gradcheck)} checks pass"
        if ok
        else f"{int((~gradcheck.passed).sum())} of {len(gradcheck)} checks fail",
        ok,
        f": {int(entries.n_entries.sum()):,} entries; {int(entries.n_kinked.sum()):,} of "
        f"them straddle a ReLU kink and are reported apart (not gated).",
    )
    seeds = gradcheck.groupby(["experiment", "variant"]).seed.nunique().max()
    checks = Part(
        "Backpropagation against central differences",
        "gradcheck",
        [
            f"Every variant of every experiment, at its initial and trained parameters, "
            f"for up to {seeds} seeds: every weight and bias entry's central difference "
            f"(step {step:g}, losses in long double) and "
            f"{int(gradcheck[gradcheck.layer < 0].n_entries.max())} random whole-network "
            f"directions per run and checkpoint. An entry fails when its relative error "
            f"|a - n| / max(1e-12, |a| + |n|) exceeds {rtol:g} and its absolute error "
            f"exceeds {atol:g}.",
            verdict,
            gradcheck_table(gradcheck, "Largest errors per experiment and variant.", labels=labels),
        ],
    )
    formulas = Part(
        "The seeds' own gradient formulas",
        "seed-formulas",
        [
            "Checked the same way, at the initial parameters of the seed's own setup. The "
            "check must catch each of them (a caught formula is the expected outcome).",
            formulas_table(seed_formulas, "The seeds' wrong formulas, each caught."),
        ],
    )
    examples = Part(
        "Worked examples",
        "worked-examples",
        [
            "Published numbers against the engine's. Where the run is well conditioned a "
            "number must agree to its printed digits (within half a unit of the last one). "
            "Where rounding decides the digits (chaotic: one-ulp replays of the initial "
            "weights spread wider than that), it must lie inside its rounding band, the "
            "replays' range widened by half a unit. A row marked \u201cmeasured, not "
            "gated\u201d is another reading of the source, shown for comparison.",
            *reference_tables(references, collapse),
        ],
    )
    notes = references[references.note != ""].drop_duplicates("note")
    examples.notes = [f"{r.reference}, {r.quantity}: {r.note}." for r in notes.itertuples()]
    return [checks, formulas, examples]


# -- Markdown ---------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table) -> str:
    """A table in Markdown (cells as they are, pipes escaped), caption below."""
    lines = [
        "| " + " | ".join(map(_md_cell, table.columns)) + " |",
        "|" + "|".join("---:" if n else "---" for n in table.numeric) + "|",
    ]
    lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in table.rows]
    if table.caption:
        lines += ["", table.caption]
    return "\n".join(lines)


def summary_markdown(gradcheck, seed_formulas, references) -> str:
    """The :func:`summary_parts` as Markdown (``results/validation/summary.md``)."""
    lines = ["# Validation"]
    for part in summary_parts(gradcheck, seed_formulas, references):
        lines += ["", f"## {part.title}"]
        for block in part.blocks:
            if isinstance(block, Verdict):
                text = f"**{block.text}**{block.detail}"
            elif isinstance(block, Table):
                text = table_markdown(block)
            else:
                text = block
            lines += ["", text]
        if part.notes:
            lines += ["", "Notes:", ""] + [f"- {n}" for n in part.notes]
    return "\n".join(lines) + "\n"


def write_summary(gradcheck_path, seed_formulas_path, references_path, out) -> None:
    """Write ``results/validation/summary.md`` (atomically) from the three validation
    tables' Parquet files."""
    text = summary_markdown(
        read_frame(gradcheck_path),
        read_frame(seed_formulas_path),
        read_frame(references_path),
    )
    with atomic_path(out) as tmp:
        tmp.write_text(text)
