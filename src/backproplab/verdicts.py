"""How a checked published number reads: its rounding band and its verdict.

A row of the references table (``results/validation/references.parquet``, written by the
validation stage) in words; the validation summary and the report both print them, so
they live here, beside neither stage.

A row the gate does not require (another reading of the source, kept for comparison) is
worded as what it is, a measurement: how far it lies from the printed value, and why it
is shown (its note), never as a failed check.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["band_text", "computed_text", "drift_text", "verdict_text"]


def _decimals(printed: str) -> int | None:
    """Decimals of a number as printed (``"0.0972"`` -> 4), ``None`` if not a number."""
    try:
        exponent = Decimal(str(printed)).as_tuple().exponent
    except ArithmeticError:
        return None
    return max(0, -exponent) if isinstance(exponent, int) else None


def computed_text(row) -> str:
    """The computed value to two decimals beyond the printed ones (so that agreement to
    the printed digits reads off), or ten significant digits where nothing is printed."""
    decimals = _decimals(row.published) if row.published else None
    if decimals is None:
        return f"{row.computed:.10g}"
    return f"{row.computed:.{decimals + 2}f}"


def band_text(row) -> str:
    """A references row's rounding band to one decimal beyond the printed value,
    ``""`` where it was not measured."""
    if row.band_low != row.band_low:  # NaN
        return ""
    decimals = _decimals(row.published) if row.published else None
    if decimals is None:
        return f"{row.band_low:.4g} to {row.band_high:.4g}"
    return f"{row.band_low:.{decimals + 1}f} to {row.band_high:.{decimals + 1}f}"


def drift_text(row) -> str:
    """How far the computed value lies from the printed one, in words: as a percentage
    from 0.1% up, else as the difference itself."""
    diff = row.computed - row.published_value
    if diff == 0:
        return "equal to the printed value"
    where = "above" if diff > 0 else "below"
    relative = abs(diff / row.published_value) if row.published_value else float("inf")
    size = f"{100 * relative:.2g}%" if relative >= 1e-3 else f"{abs(diff):.1e}"
    return f"{size} {where} the printed value"


def verdict_text(row) -> str:
    """What a references row's check found, in words."""
    if not row.required:
        within = "within" if row.agrees else "outside"
        note = f"; {row.note}" if getattr(row, "note", "") else ""
        return f"measured, not gated: {drift_text(row)}, {within} its printed digits{note}"
    if row.check == "band":
        if row.passes:
            return f"passes: {drift_text(row)}, inside its rounding band"
        return f"FAILS: {drift_text(row)}, outside its rounding band"
    return "passes: agrees to its printed digits" if row.passes else "FAILS: differs"
