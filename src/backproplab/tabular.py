"""Tables of text, and the numbers in them formatted by meaning.

A :class:`Table` is column names, rows of strings and a caption: the report (its HTML
page and Markdown twin) and the validation summary (Markdown) render the same objects.

Numbers are formatted per column, never per cell, so that a column reads in one format:

- :func:`column_format` gives the smallest magnitude of a column ``digits`` significant
  digits. The column is in fixed notation (one number of decimals, decimal points
  aligned) when its magnitudes lie in [1e-4, 1e6) and within a factor of 1000 of each
  other, so that no value carries more than three digits beyond ``digits``; otherwise in
  scientific notation with ``digits - 1`` decimals.
- :func:`spread_column` writes each cell as mean ± standard deviation, the mean in its
  column's format. The spread is shown only where it is above rounding: where it is at
  least half a unit of the mean's last printed digit (it would print as a nonzero
  number beside it) and more than :data:`NOISE` of the mean (floating-point noise, as in
  ``0.9933 ± 1.1e-16``). It is printed with two significant digits, in a fixed column
  to no more decimals than the mean's (``0.0037935 ± 0.0046``, ``125 ± 5``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DASH",
    "NOISE",
    "ColumnFormat",
    "Table",
    "column",
    "column_format",
    "spread_column",
]

DASH = "\u2013"  # a missing number

# A spread at most this fraction of its mean is floating-point noise, never shown.
NOISE = 1e-12

# Fixed notation needs every magnitude of the column in [_LOW, _HIGH), within _RATIO.
_LOW, _HIGH, _RATIO = 1e-4, 1e6, 1e3


@dataclass
class Table:
    """A table to render: column names, rows of strings, and a caption."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""
    numeric: list[bool] | None = None  # right-align these columns

    def __post_init__(self):
        if self.numeric is None:
            self.numeric = [False] * len(self.columns)


def _finite(values: Iterable) -> np.ndarray:
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return arr[np.isfinite(arr)]


@dataclass(frozen=True)
class ColumnFormat:
    """One column's number format: ``fixed`` with ``decimals`` decimals, or ``sci``
    (scientific) with ``decimals`` decimals in the mantissa; ``signed`` writes a + on
    positive numbers (differences)."""

    kind: str
    decimals: int
    signed: bool = False

    def __call__(self, value) -> str:
        if value is None:
            return DASH
        value = float(value)
        if math.isnan(value):
            return DASH
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == 0 and self.kind == "sci":
            return "0"
        sign = "+" if self.signed and value != 0 else ""
        code = "f" if self.kind == "fixed" else "e"
        return f"{value:{sign}.{self.decimals}{code}}"

    def half_unit(self, value: float) -> float:
        """Half a unit of the last digit this format prints of ``value``."""
        if self.kind == "fixed" or value == 0 or not math.isfinite(value):
            return 0.5 * 10.0 ** (-self.decimals)
        return 0.5 * 10.0 ** (math.floor(math.log10(abs(value))) - self.decimals)

    def spread(self, value: float) -> str:
        """A spread beside a number of this column (never signed): two significant
        digits, and in a fixed column no more decimals than the column's."""
        if self.kind == "fixed":
            decimals = min(self.decimals, max(0, 1 - math.floor(math.log10(value))))
            return f"{value:.{decimals}f}"
        return f"{value:.1e}"


def column_format(values: Iterable, digits: int = 4, signed: bool = False) -> ColumnFormat:
    """The one format of a column of numbers (see the module's docstring)."""
    arr = np.abs(_finite(values))
    arr = arr[arr > 0]
    if not len(arr):
        return ColumnFormat("fixed", 0, signed)
    low, high = float(arr.min()), float(arr.max())
    if low >= _LOW and high < _HIGH and high <= low * _RATIO:
        return ColumnFormat("fixed", max(0, digits - 1 - math.floor(math.log10(low))), signed)
    return ColumnFormat("sci", digits - 1, signed)


def column(values, digits: int = 4, signed: bool = False) -> list[str]:
    """A column of numbers in its one format; '–' for missing ones."""
    values = list(values)
    form = column_format(values, digits, signed)
    return [form(v) for v in values]


def _mean_spread(form: ColumnFormat, arr: np.ndarray) -> str:
    if not len(arr):
        return DASH
    mean = float(arr.mean())
    text = form(mean)
    if len(arr) == 1:
        return text
    big = float(np.abs(arr).max())
    # Squares of values past 1e154 overflow (a diverged run's final loss can be 1e280):
    # their spread is taken in units of the largest.
    std = float(arr.std()) if big < 1e150 else big * float((arr / big).std())
    if std < form.half_unit(mean) or std <= NOISE * abs(mean):
        return text
    return f"{text} \u00b1 {form.spread(std)}"


def spread_column(groups, digits: int = 4, integer: bool = False) -> list[str]:
    """One cell per group of values: mean ± population standard deviation of its
    finite values, the means in one column format, each spread shown only where it is
    above rounding; '–' for a group with no finite value. ``integer`` prints whole
    numbers (epochs)."""
    arrays = [_finite(g) for g in groups]
    if integer:
        form = ColumnFormat("fixed", 0)
    else:
        form = column_format([a.mean() for a in arrays if len(a)], digits)
    return [_mean_spread(form, a) for a in arrays]
