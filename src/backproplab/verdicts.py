"""How a checked published number reads: its rounding band and its verdict.

A row of the references table (``results/validation/references.parquet``, written by the
validation stage) in words; the validation summary and the report both print them, so
they live here, beside neither stage.
"""

from __future__ import annotations

__all__ = ["band_text", "verdict_text"]


def band_text(row) -> str:
    """A references row's rounding band, ``""`` where it was not measured."""
    if row.band_low != row.band_low:  # NaN
        return ""
    return f"{row.band_low:.4g} to {row.band_high:.4g}"


def verdict_text(row) -> str:
    """What a references row's check found, in words."""
    if not row.required:
        return f"not required ({'agrees' if row.agrees else 'differs'}: see its note)"
    if row.check == "band":
        return "passes: inside its rounding band" if row.passes else "FAILS: outside its band"
    return "passes: agrees to its digits" if row.passes else "FAILS: differs"
