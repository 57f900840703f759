"""Compare two results trees run by run: identical, rounding, chaotic or different.

``python -m backproplab compare A/results B/results [--rtol 1e-9] [--atol 1e-12] [--json FILE]``

Every trace table (``results/traces/{experiment}/{table}/*.parquet``), data set
(``results/datasets/*.parquet``) and validation table (``results/validation/*.parquet``)
of tree A is set beside tree B's. Rows are aligned by their key columns, never by file
order: trace tables by ``run_id`` (and ``epoch``, ``layer``, ``tensor``, ``i``, ``j`` where
they have them), data sets by row position, validation tables by the shortest run of
their string then integer columns that identifies a row. For each column the report gives
the rows compared, the rows found on one side only, the values not bit-equal, the values
beyond tolerance and the largest absolute and relative difference. Two values agree
within tolerance if ``|a - b| <= atol + rtol * max(|a|, |b|)``; NaN equals NaN; the
relative difference is ``|a - b| / max(|a|, |b|)`` (0 if both are 0, inf if one side is
NaN or infinite and the other is not).

Each run then gets one verdict, from the first epoch at which any of its tables parts
(a value beyond tolerance, or a row on one side only):

``identical``
    every value of the run in every trace table is bit-equal (NaN equal to NaN);
``rounding``
    not identical, but every value within tolerance;
``chaotic``
    within tolerance at epoch 0 and at the first recorded epoch after 0, beyond it later:
    what last-bit differences (other kernels, another machine) do to a run whose training
    amplifies them. Listed, but not a failure. A run whose status (ok or diverged) differs
    counts here too if its tables agreed first; its rows after the divergence are then on
    one side only, and that is no failure either;
``different``
    parts at epoch 0 or at its first recorded epoch after 0, is in one tree only, or has
    rows on one side only without a difference in divergence to explain them.

The comparison passes (exit code 0) if no run is different, no file is in one tree only,
every column is in both trees, every data-set value is within tolerance, and every
validation table has the same rows and the same verdicts (``passed``, ``passes``,
``required``); otherwise the exit code is 1. A validation table's other columns are
reported, never failed: they measure rounding noise (finite-difference errors, whose
long-double exp and log differ in their last bits between CPUs) or chaotic runs. A path
that is not a results tree (or a file that cannot be read) is exit code 2. Tables are
read one experiment and table at a time.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Comparison",
    "TreeError",
    "add_arguments",
    "compare_trees",
    "find_results",
    "format_report",
]

RTOL = 1e-9
ATOL = 1e-12
TRACE_TABLES = ("runs", "metrics", "state", "norms")
# A validation table's verdicts: what must agree between two trees. Its other columns are
# measurements of rounding noise (finite-difference errors: long double exp and log run
# on x87 instructions whose last bits differ between CPUs) or of chaotic runs (seed 001's
# rounding bands), reported but never a failure.
VALIDATION_VERDICTS = ("passed", "passes", "required")
TRACE_KEYS = {
    "runs": ("run_id",),
    "metrics": ("run_id", "epoch"),
    "norms": ("run_id", "epoch", "layer"),
    "state": ("run_id", "epoch", "layer", "tensor", "i", "j"),
}
VERDICTS = ("identical", "rounding", "chaotic", "different")
SUMMARY_COLUMNS = [
    "table",
    "experiment",
    "column",
    "rows",
    "only_a",
    "only_b",
    "unequal",
    "beyond",
    "max_abs_diff",
    "max_rel_diff",
    "note",
]
RUN_COLUMNS = [
    "experiment",
    "run_id",
    "verdict",
    "first_parting_epoch",
    "final_loss_rel_diff",
    "note",
]
# Runs-table columns that date a difference to the divergence epoch, and to the final epoch;
# a difference in any other runs column (the settings) dates to epoch 0.
_DIVERGENCE_COLUMNS = ("status", "diverged_epoch")
_FINAL_PREFIX = "final_"


class TreeError(ValueError):
    """A path that is not a results tree, or a file in one that cannot be read."""


@dataclass
class Comparison:
    """What :func:`compare_trees` found.

    Attributes
    ----------
    a, b : Path
        The two ``results`` directories.
    rtol, atol : float
        The tolerance used.
    summary : pandas.DataFrame
        One row per table, experiment (trace tables only) and column: :data:`SUMMARY_COLUMNS`.
        ``table`` is a trace table kind (``runs``, ...), ``datasets/<name>`` or
        ``validation/<name>``.
    runs : pandas.DataFrame
        One row per run in either tree: :data:`RUN_COLUMNS`.
    missing_files : list of (str, str)
        Files (relative to the results directory) in one tree only, with ``"A"`` or ``"B"``.
    problems : list of str
        Why the comparison failed; empty if it passed.
    """

    a: Path
    b: Path
    rtol: float
    atol: float
    summary: object
    runs: object
    missing_files: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def counts(self):
        """Runs per experiment and verdict: a DataFrame (experiment, runs, one per verdict)."""
        import pandas as pd

        runs = self.runs
        if len(runs) == 0:
            return pd.DataFrame(columns=["experiment", "runs", *VERDICTS])
        table = pd.crosstab(runs["experiment"], runs["verdict"])
        table = table.reindex(columns=list(VERDICTS), fill_value=0)
        table.insert(0, "runs", table.sum(axis=1))
        return table.reset_index().rename_axis(columns=None)

    def to_dict(self) -> dict:
        """Everything in the report as plain JSON-ready data (NaN as null, inf as "inf")."""
        return _jsonable(
            {
                "a": str(self.a),
                "b": str(self.b),
                "rtol": self.rtol,
                "atol": self.atol,
                "passed": self.passed,
                "problems": list(self.problems),
                "missing_files": [{"path": p, "only_in": s} for p, s in self.missing_files],
                "summary": self.summary.to_dict(orient="records"),
                "counts": self.counts().to_dict(orient="records"),
                "runs": self.runs.to_dict(orient="records"),
            }
        )


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if value is not None and not isinstance(value, str | int | float | bool):
        try:
            import pandas as pd

            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
        return str(value)
    return value


# --------------------------------------------------------------------------- the trees


_EXPECTED = (
    "expected a results directory (one holding traces/, datasets/ or validation/, "
    "as the pipeline writes them) or the directory that contains results/"
)
_PARTS = ("traces", "datasets", "validation")


def find_results(path: str | Path) -> Path:
    """The ``results`` directory ``path`` is, or holds.

    Raises
    ------
    TreeError
        Naming the path, if it is neither.
    """
    path = Path(path)
    if not path.exists():
        raise TreeError(f"{path}: no such file or directory; {_EXPECTED}")
    if not path.is_dir():
        raise TreeError(f"{path} is not a directory; {_EXPECTED}")
    for candidate in (path, path / "results"):
        if any((candidate / part).is_dir() for part in _PARTS):
            return candidate
    raise TreeError(
        f"{path} is not a results tree: it has no traces/, datasets/ or "
        f"validation/ directory, nor a results/ directory that has one; {_EXPECTED}"
    )


def _parquet_names(directory: Path) -> set[str]:
    if not directory.is_dir():
        return set()
    return {p.name for p in directory.glob("*.parquet") if p.is_file()}


def _read(files: list[Path]):
    """Files of one table, concatenated, as a DataFrame (None if there are none)."""
    import pyarrow as pa

    from .traces import TraceError, read_table

    if not files:
        return None
    tables = []
    for path in files:
        try:
            tables.append(read_table(path))
        except TraceError as exc:
            raise TreeError(str(exc)) from exc
    if len(tables) == 1:
        table = tables[0]
    else:
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except pa.ArrowException as exc:
            raise TreeError(
                f"the files {', '.join(map(str, files))} do not have compatible schemas: {exc}"
            ) from exc
    del tables
    # Free each Arrow column as it is converted: a state table is then in memory once.
    return table.to_pandas(split_blocks=True, self_destruct=True)


# --------------------------------------------------------------------------- values


def _kind(series) -> str:
    """'float', 'int' (integers and booleans, compared exactly) or 'other'."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "other"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "other"


def _numeric(series, kind: str):
    import numpy as np

    if kind == "int":
        if series.hasnans:
            return series.to_numpy(dtype=np.float64, na_value=np.nan)
        return series.to_numpy(dtype=np.int64)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def value_diffs(a, b, rtol: float = RTOL, atol: float = ATOL):
    """Compare aligned float arrays elementwise, without floating-point warnings.

    Returns
    -------
    same : bool array
        Bit-equal, or both NaN.
    within : bool array
        ``same`` or ``|a - b| <= atol + rtol * max(|a|, |b|)`` (both finite).
    absdiff, reldiff : float arrays
        0 where ``same``; inf where one side is NaN or infinite and the values differ.
    """
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    same = (a.view(np.int64) == b.view(np.int64)) | (nan_a & nan_b)
    finite = np.isfinite(a) & np.isfinite(b)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scale = np.maximum(np.abs(a), np.abs(b))
        absdiff = np.abs(a - b)
        reldiff = np.divide(absdiff, scale, out=np.zeros_like(absdiff), where=scale > 0)
        overflow = finite & ~np.isfinite(absdiff)  # e.g. 1e308 and -1e308
        if overflow.any():
            s_over = scale[overflow]
            reldiff[overflow] = np.abs(a[overflow] / s_over - b[overflow] / s_over)
        within = same | (finite & (absdiff <= atol + rtol * scale))
    numeric_equal = a == b  # +0 and -0: not bit-equal, but no difference at all
    bad = ~finite & ~same & ~numeric_equal
    absdiff[same | numeric_equal] = 0.0
    reldiff[same | numeric_equal] = 0.0
    absdiff[bad] = np.inf
    reldiff[bad] = np.inf
    return same, within, absdiff, reldiff


def _compare_column(sa, sb, rtol: float, atol: float):
    """(same, within, absdiff or None, reldiff or None) for two aligned Series."""
    import numpy as np
    import pandas as pd

    ka, kb = _kind(sa), _kind(sb)
    if ka == kb == "int":
        a, b = _numeric(sa, "int"), _numeric(sb, "int")
        if a.dtype == b.dtype == np.int64:
            same = a == b
            with np.errstate(over="ignore", invalid="ignore"):
                af, bf = a.astype(np.float64), b.astype(np.float64)
            _, _, absdiff, reldiff = value_diffs(af, bf, rtol, atol)
            absdiff[same], reldiff[same] = 0.0, 0.0
            within = same | (absdiff <= atol + rtol * np.maximum(np.abs(af), np.abs(bf)))
            return same, within, absdiff, reldiff
    if ka != "other" and kb != "other":
        return value_diffs(_numeric(sa, ka), _numeric(sb, kb), rtol, atol)
    a = sa.to_numpy(dtype=object, na_value=None)
    b = sb.to_numpy(dtype=object, na_value=None)
    na_a, na_b = pd.isna(sa).to_numpy(), pd.isna(sb).to_numpy()
    same = (na_a & na_b) | (~na_a & ~na_b & (a == b))
    return np.asarray(same, dtype=bool), np.asarray(same, dtype=bool), None, None


# --------------------------------------------------------------------------- alignment


def _key_codes(fa, fb, keys):
    """Each key column of both frames as comparable integer codes; string keys' categories.

    Integer keys keep their own dtype (no copy); string keys become codes into the union of
    both sides' values (a dictionary column's own codes where its categories already match).
    """
    import numpy as np
    import pandas as pd

    codes_a, codes_b, categories = [], [], {}
    for key in keys:
        sa, sb = fa[key], fb[key]
        if _kind(sa) == _kind(sb) == "int" and not sa.hasnans and not sb.hasnans:
            codes_a.append(sa.to_numpy())
            codes_b.append(sb.to_numpy())
            continue
        values = []
        for s in (sa, sb):
            if isinstance(s.dtype, pd.CategoricalDtype):
                values.append(pd.Index(np.asarray(s.cat.categories, dtype=object)))
            else:
                values.append(pd.Index(pd.unique(s.to_numpy(dtype=object, na_value=None))))
        cats = pd.Index(values[0].append(values[1]).unique(), dtype=object).dropna()
        categories[key] = cats
        for s, out in ((sa, codes_a), (sb, codes_b)):
            if isinstance(s.dtype, pd.CategoricalDtype):
                own = cats.get_indexer(np.asarray(s.cat.categories, dtype=object))
                codes = s.cat.codes.to_numpy()
                if np.array_equal(own, np.arange(len(own))):
                    out.append(codes)  # already codes into cats; nulls stay -1
                else:
                    out.append(np.append(own, -1).astype(np.int32)[codes])  # null -1 -> -1
            else:
                out.append(cats.get_indexer(s.to_numpy(dtype=object, na_value=None)))
    return codes_a, codes_b, categories


def _pack(codes_a, codes_b):
    """The key columns packed into one int64 per row (both sides alike), or None if too wide."""
    import numpy as np

    lows, spans = [], []
    for x, y in zip(codes_a, codes_b, strict=True):
        low = min(int(x.min()), int(y.min()))
        high = max(int(x.max()), int(y.max()))
        lows.append(low)
        spans.append(high - low + 1)
    if math.prod(spans) >= 2**62:
        return None
    packed = []
    for codes in (codes_a, codes_b):
        key = np.zeros(len(codes[0]), dtype=np.int64)
        for x, low, span in zip(codes, lows, spans, strict=True):
            key *= span
            key += x.astype(np.int64) - low
        packed.append(key)
    return packed


def _align(codes_a, codes_b):
    """Row indices (ia, ib) of the rows in both, and the indices of those in one only."""
    import numpy as np
    import pandas as pd

    na, nb = len(codes_a[0]) if codes_a else 0, len(codes_b[0]) if codes_b else 0
    empty = np.zeros(0, dtype=np.int64)
    if na == 0 or nb == 0:
        return empty, empty, np.arange(na), np.arange(nb)
    if na == nb and all(np.array_equal(x, y) for x, y in zip(codes_a, codes_b, strict=True)):
        idx = np.arange(na)
        return idx, idx, empty, empty
    packed = _pack(codes_a, codes_b)
    if packed is not None:
        ka, kb = packed
        oa, ob = np.argsort(ka, kind="stable"), np.argsort(kb, kind="stable")
        sa, sb = ka[oa], kb[ob]
        if not (np.any(sa[1:] == sa[:-1]) or np.any(sb[1:] == sb[:-1])):  # unique keys
            if na == nb and np.array_equal(sa, sb):
                return oa, ob, empty, empty
            pos = np.searchsorted(sa, kb)
            found = pos < na
            found[found] = sa[pos[found]] == kb[found]
            ib = np.flatnonzero(found)
            ia = oa[pos[found]]
            matched = np.zeros(na, dtype=bool)
            matched[ia] = True
            return ia, ib, np.flatnonzero(~matched), np.flatnonzero(~found)
        del ka, kb, oa, ob, sa, sb
    elif na == nb:
        oa, ob = np.lexsort(codes_a[::-1]), np.lexsort(codes_b[::-1])
        if all(np.array_equal(x[oa], y[ob]) for x, y in zip(codes_a, codes_b, strict=True)):
            return oa, ob, empty, empty
    names = [f"k{n}" for n in range(len(codes_a))]
    da = pd.DataFrame(dict(zip(names, codes_a, strict=True)))
    db = pd.DataFrame(dict(zip(names, codes_b, strict=True)))
    if da.duplicated().any() or db.duplicated().any():  # pair repeated keys in file order
        da["_n"], db["_n"] = da.groupby(names).cumcount(), db.groupby(names).cumcount()
        names = [*names, "_n"]
    da["_ia"], db["_ib"] = np.arange(na), np.arange(nb)
    merged = da.merge(db, on=names, how="outer", indicator=True, sort=False)
    both = merged["_merge"].to_numpy() == "both"
    left = merged["_merge"].to_numpy() == "left_only"
    right = merged["_merge"].to_numpy() == "right_only"
    ia = merged["_ia"].to_numpy()[both].astype(np.int64)
    ib = merged["_ib"].to_numpy()[both].astype(np.int64)
    return (
        ia,
        ib,
        np.sort(merged["_ia"].to_numpy()[left].astype(np.int64)),
        np.sort(merged["_ib"].to_numpy()[right].astype(np.int64)),
    )


@dataclass
class _Pair:
    """Two versions of one table, aligned."""

    ia: object
    ib: object
    only_a: object
    only_b: object
    codes_a: list
    codes_b: list
    categories: dict
    columns: dict  # value column -> (same, within) over the aligned rows
    rows: list  # summary rows


def _empty_like(frame):
    return frame.iloc[:0]


def _compare_tables(fa, fb, keys, table, experiment, rtol, atol) -> _Pair:
    """Align two frames on ``keys`` (``None``: by position) and compare every other column."""
    import numpy as np

    if fa is None:
        fa = _empty_like(fb)
    if fb is None:
        fb = _empty_like(fa)
    rows = []
    if keys is None:
        codes_a, codes_b, categories = [np.arange(len(fa))], [np.arange(len(fb))], {}
    else:
        missing = [k for k in keys if k not in fa.columns or k not in fb.columns]
        if missing:
            raise TreeError(
                f"{table} ({experiment or 'no experiment'}): key column(s) "
                f"{', '.join(missing)} missing; is this a backprop-lab results tree?"
            )
        codes_a, codes_b, categories = _key_codes(fa, fb, keys)
    ia, ib, only_a, only_b = _align(codes_a, codes_b)
    keyset = set(keys or ())
    common = [c for c in fa.columns if c in fb.columns and c not in keyset]
    columns = {}
    identity = (
        len(ia) == len(fa) == len(fb)
        and np.array_equal(ia, ib)
        and (not len(ia) or (ia[0] == 0 and ia[-1] == len(ia) - 1 and np.all(np.diff(ia) == 1)))
    )
    for column in common:
        if identity:
            sa, sb = fa[column].reset_index(drop=True), fb[column].reset_index(drop=True)
        else:
            sa = fa[column].iloc[ia].reset_index(drop=True)
            sb = fb[column].iloc[ib].reset_index(drop=True)
        same, within, absdiff, reldiff = _compare_column(sa, sb, rtol, atol)
        columns[column] = (same, within)
        numeric = absdiff is not None
        rows.append(
            {
                "table": table,
                "experiment": experiment,
                "column": column,
                "rows": len(ia),
                "only_a": len(only_a),
                "only_b": len(only_b),
                "unequal": int((~same).sum()),
                "beyond": int((~within).sum()),
                "max_abs_diff": float(absdiff.max()) if numeric and len(ia) else math.nan,
                "max_rel_diff": float(reldiff.max()) if numeric and len(ia) else math.nan,
                "note": "",
            }
        )
    if not common and (len(only_a) or len(only_b) or len(ia)):
        rows.append(
            _note_row(table, experiment, "(keys only)", len(ia), len(only_a), len(only_b), "")
        )
    for side, this, other in (("A", fa, fb), ("B", fb, fa)):
        for column in this.columns:
            if column not in other.columns and column not in keyset:
                rows.append(
                    _note_row(
                        table,
                        experiment,
                        column,
                        0,
                        len(only_a),
                        len(only_b),
                        f"column only in {side}",
                    )
                )
    # Only the run and epoch codes are needed from here on (trace tables).
    return _Pair(ia, ib, only_a, only_b, codes_a[:2], codes_b[:2], categories, columns, rows)


def _note_row(table, experiment, column, rows, only_a, only_b, note):
    return {
        "table": table,
        "experiment": experiment,
        "column": column,
        "rows": rows,
        "only_a": only_a,
        "only_b": only_b,
        "unequal": 0,
        "beyond": 0,
        "max_abs_diff": math.nan,
        "max_rel_diff": math.nan,
        "note": note,
    }


# --------------------------------------------------------------------------- traces


class _RunFacts:
    """Per-run findings of one experiment, gathered table by table."""

    def __init__(self):
        self.in_a: set[str] = set()
        self.in_b: set[str] = set()
        self.unequal: list = []  # Series run -> bool
        self.part: list = []  # Series run -> first epoch beyond tolerance
        self.missing: list = []  # Series run -> first epoch of a row on one side only
        self.first_after_0: dict = {}  # table -> Series run -> first recorded epoch > 0
        self.status_differs = None  # Series run -> bool
        self.statuses = None  # Series run -> "ok -> diverged"
        self.final_rel = None  # Series run -> rel diff of the last common loss


def _by_run(cats, codes, values, how: str):
    """Series run_id -> ``how`` ("min" or "any") of ``values`` over the rows of each run."""
    import numpy as np
    import pandas as pd

    if not len(codes):
        return pd.Series(dtype=bool if how == "any" else float)
    grouped = pd.Series(values).groupby(np.asarray(codes))
    out = grouped.any() if how == "any" else grouped.min()
    out.index = pd.Index(cats[out.index.to_numpy()], dtype=object)
    return out


def _trace_table(kind, fa, fb, experiment, facts: _RunFacts, rtol, atol):
    import numpy as np
    import pandas as pd

    keys = TRACE_KEYS[kind]
    pair = _compare_tables(fa, fb, keys, kind, experiment, rtol, atol)
    if fa is None:
        fa = _empty_like(fb)
    if fb is None:
        fb = _empty_like(fa)
    if "run_id" not in pair.categories:  # run_id read as numbers: unusual, but keep going
        values = np.unique(np.concatenate([pair.codes_a[0], pair.codes_b[0]]))
        pair.categories["run_id"] = pd.Index([str(v) for v in values], dtype=object)
        pair.codes_a[0] = np.searchsorted(values, pair.codes_a[0])
        pair.codes_b[0] = np.searchsorted(values, pair.codes_b[0])
    cats = np.asarray(pair.categories["run_id"], dtype=object)
    run_a, run_b = pair.codes_a[0], pair.codes_b[0]
    facts.in_a.update(cats[np.unique(run_a[run_a >= 0])])
    facts.in_b.update(cats[np.unique(run_b[run_b >= 0])])
    runs = run_a[pair.ia]  # the aligned rows' runs
    n = len(runs)
    unequal = np.zeros(n, dtype=bool)
    beyond = np.zeros(n, dtype=bool)
    for same, within in pair.columns.values():
        unequal |= ~same
        beyond |= ~within
    facts.unequal.append(_by_run(cats, runs, unequal, "any"))

    if "epoch" in keys:
        epoch_a, epoch_b = pair.codes_a[1], pair.codes_b[1]
        epochs = epoch_a[pair.ia].astype(np.float64)
        part = np.where(beyond, epochs, np.inf)
        for side_runs, side_epochs, only in (
            (run_a, epoch_a, pair.only_a),
            (run_b, epoch_b, pair.only_b),
        ):
            if len(only):
                facts.missing.append(_by_run(cats, side_runs[only], side_epochs[only], "min"))
        positive = [
            _by_run(cats, r[e > 0], e[e > 0], "min")
            for r, e in ((run_a, epoch_a), (run_b, epoch_b))
        ]
        facts.first_after_0[kind] = pd.concat(positive).groupby(level=0).min()
        if kind == "metrics":
            facts.final_rel = _final_loss(fa, fb, pair, cats, runs, epochs, rtol, atol)
    else:  # the runs table: date each column's difference
        part = _runs_parting(fa, fb, pair)
        for side_runs, only in ((run_a, pair.only_a), (run_b, pair.only_b)):
            if len(only):
                facts.missing.append(_by_run(cats, side_runs[only], np.zeros(len(only)), "min"))
        differs = np.zeros(n, dtype=bool)
        for column in _DIVERGENCE_COLUMNS:
            if column in pair.columns:
                differs |= ~pair.columns[column][1]
        facts.status_differs = pd.Series(differs, index=pd.Index(cats[runs], dtype=object))
        if differs.any():
            where = np.flatnonzero(differs)
            facts.statuses = pd.Series(
                [f"A: {_status(fa, pair.ia[k])}, B: {_status(fb, pair.ib[k])}" for k in where],
                index=pd.Index(cats[runs[where]], dtype=object),
            )
    finite = np.isfinite(part)
    if finite.any():
        facts.part.append(_by_run(cats, runs[finite], part[finite], "min"))
    return pair.rows


def _status(frame, row) -> str:
    import pandas as pd

    status = frame["status"].iloc[row] if "status" in frame.columns else "?"
    epoch = frame["diverged_epoch"].iloc[row] if "diverged_epoch" in frame.columns else None
    if epoch is not None and not pd.isna(epoch):
        return f"{status} at epoch {int(epoch)}"
    return str(status)


def _runs_parting(fa, fb, pair):
    """Per aligned runs row: the first epoch a beyond-tolerance column dates to (inf: none)."""
    import numpy as np

    n = len(pair.ia)
    part = np.full(n, np.inf)

    def column(name, frame, idx):
        if name not in frame.columns:
            return np.full(len(idx), np.nan)
        return frame[name].iloc[idx].to_numpy(dtype=np.float64, na_value=np.nan)

    final = np.fmax(column("epochs", fa, pair.ia), column("epochs", fb, pair.ib))
    diverged = np.fmin(column("diverged_epoch", fa, pair.ia), column("diverged_epoch", fb, pair.ib))
    diverged = np.where(np.isnan(diverged), final, diverged)
    for name, (_, within) in pair.columns.items():
        if name in _DIVERGENCE_COLUMNS:
            when = diverged
        elif name.startswith(_FINAL_PREFIX):
            when = final
        else:
            when = np.zeros(n)
        when = np.where(np.isnan(when), 0.0, when)
        part = np.where(~within, np.minimum(part, when), part)
    return part


def _final_loss(fa, fb, pair, cats, runs, epochs, rtol, atol):
    """Series run -> relative difference of the loss at the last epoch both trees have."""
    import numpy as np
    import pandas as pd

    floats = [c for c in pair.columns if _kind(fa[c]) == "float"]
    if not floats or not len(runs):
        return pd.Series(dtype=float)
    column = "loss" if "loss" in floats else floats[0]
    order = np.lexsort((epochs, runs))
    last = order[np.r_[runs[order][1:] != runs[order][:-1], True]]
    a = fa[column].to_numpy(dtype=np.float64, na_value=np.nan)[pair.ia[last]]
    b = fb[column].to_numpy(dtype=np.float64, na_value=np.nan)[pair.ib[last]]
    rel = value_diffs(a, b, rtol, atol)[3]
    return pd.Series(rel, index=pd.Index(cats[runs[last]]))


def _verdicts(experiment: str, facts: _RunFacts):
    import numpy as np
    import pandas as pd

    names = sorted(facts.in_a | facts.in_b)
    index = pd.Index(names, dtype=object)

    def combine(series_list, how, fill):
        series_list = [s for s in series_list if len(s)]
        if not series_list:
            return pd.Series(fill, index=index)
        joined = pd.concat(series_list)
        grouped = joined.groupby(level=0)
        out = grouped.any().astype(bool) if how == "any" else grouped.min().astype(float)
        return out.reindex(index, fill_value=fill)

    unequal = combine(facts.unequal, "any", False).astype(bool)
    part = combine(facts.part, "min", np.inf).astype(float)
    missing = combine(facts.missing, "min", np.inf).astype(float)
    first = pd.Series(np.inf, index=index)
    for kind in ("norms", "state", "metrics"):  # metrics last: it wins where it has the run
        if kind in facts.first_after_0 and len(facts.first_after_0[kind]):
            s = facts.first_after_0[kind].reindex(index)
            first = s.where(s.notna(), first)
    status = (
        facts.status_differs.reindex(index, fill_value=False).astype(bool)
        if facts.status_differs is not None
        else pd.Series(False, index=index)
    )
    final = (
        facts.final_rel.reindex(index)
        if facts.final_rel is not None
        else pd.Series(np.nan, index=index)
    )
    statuses = facts.statuses.to_dict() if facts.statuses is not None else {}
    records = []
    for n, run in enumerate(names):
        run_part, run_missing, run_status = part.iat[n], missing.iat[n], status.iat[n]
        note = ""
        parting = min(run_part, run_missing) if run_status else run_part
        if run not in facts.in_b or run not in facts.in_a:
            verdict, parting = "different", np.inf
            note = f"only in {'A' if run in facts.in_a else 'B'}"
        elif np.isfinite(run_missing) and not run_status:
            verdict, parting = "different", min(run_part, run_missing)
            note = f"rows on one side only from epoch {int(run_missing)}"
        elif not np.isfinite(parting):
            verdict = "rounding" if unequal.iat[n] else "identical"
        elif parting == 0:
            verdict, note = "different", "parts at epoch 0"
        elif parting <= first.iat[n]:
            verdict, note = "different", "parts at the first recorded epoch after 0"
        else:
            verdict = "chaotic"
        if run_status and run in statuses:
            note = "; ".join(x for x in (note, statuses[run]) if x)
        records.append(
            {
                "experiment": experiment,
                "run_id": run,
                "verdict": verdict,
                "first_parting_epoch": int(parting) if np.isfinite(parting) else None,
                "final_loss_rel_diff": float(final.iat[n]),
                "note": note,
            }
        )
    return records


# --------------------------------------------------------------------------- validation


def _validation_keys(fa, fb):
    """The shortest run of string, then integer, columns that identifies every row."""
    candidates = [c for c in fa.columns if c in fb.columns and _kind(fa[c]) == "other"]
    candidates += [
        c for c in fa.columns if c in fb.columns and _kind(fa[c]) == "int" and not _is_bool(fa[c])
    ]
    for n in range(1, len(candidates) + 1):
        keys = candidates[:n]
        if not fa.duplicated(keys).any() and not fb.duplicated(keys).any():
            return keys
    return None


def _is_bool(series) -> bool:
    import pandas as pd

    return pd.api.types.is_bool_dtype(series.dtype)


def _by_sorted_position(frame):
    sortable = [c for c in frame.columns if _kind(frame[c]) in ("other", "int")]
    if not sortable:
        return frame
    return frame.sort_values(sortable, kind="stable", na_position="last").reset_index(drop=True)


# --------------------------------------------------------------------------- the comparison


def compare_trees(
    a: str | Path, b: str | Path, rtol: float = RTOL, atol: float = ATOL
) -> Comparison:
    """Compare results tree ``a`` with ``b`` (each a ``results`` directory or its parent).

    Raises
    ------
    TreeError
        If a path is not a results tree or a file in one cannot be read.
    """
    import pandas as pd

    if not (rtol >= 0 and atol >= 0):
        raise ValueError(f"rtol and atol must be >= 0 (got rtol={rtol}, atol={atol})")
    ra, rb = find_results(a), find_results(b)
    summary: list[dict] = []
    run_records: list[dict] = []
    missing: list[tuple[str, str]] = []

    def file_sets(sub: str):
        na, nb = _parquet_names(ra / sub), _parquet_names(rb / sub)
        missing.extend((f"{sub}/{n}", "A") for n in sorted(na - nb))
        missing.extend((f"{sub}/{n}", "B") for n in sorted(nb - na))
        return sorted(na | nb)

    def dirs(sub: Path) -> set[str]:
        return {p.name for p in sub.iterdir() if p.is_dir()} if sub.is_dir() else set()

    for experiment in sorted(dirs(ra / "traces") | dirs(rb / "traces")):
        facts = _RunFacts()
        for kind in TRACE_TABLES:
            sub = f"traces/{experiment}/{kind}"
            names = file_sets(sub)
            if not names:
                continue
            fa = _read([ra / sub / n for n in names if (ra / sub / n).is_file()])
            fb = _read([rb / sub / n for n in names if (rb / sub / n).is_file()])
            summary.extend(_trace_table(kind, fa, fb, experiment, facts, rtol, atol))
            del fa, fb
        run_records.extend(_verdicts(experiment, facts))

    for sub in ("datasets", "validation"):
        for name in file_sets(sub):
            pa_, pb_ = ra / sub / name, rb / sub / name
            if not (pa_.is_file() and pb_.is_file()):
                continue
            fa, fb = _read([pa_]), _read([pb_])
            table = f"{sub}/{name.removesuffix('.parquet')}"
            keys = None
            if sub == "validation":
                keys = _validation_keys(fa, fb)
                if keys is None:
                    fa, fb = _by_sorted_position(fa), _by_sorted_position(fb)
            summary.extend(_compare_tables(fa, fb, keys, table, "", rtol, atol).rows)

    summary_df = pd.DataFrame(summary, columns=SUMMARY_COLUMNS)
    runs_df = pd.DataFrame(run_records, columns=RUN_COLUMNS)
    runs_df["first_parting_epoch"] = runs_df["first_parting_epoch"].astype("Int64")
    runs_df["final_loss_rel_diff"] = runs_df["final_loss_rel_diff"].astype(float)
    problems = _problems(summary_df, runs_df, missing)
    return Comparison(Path(ra), Path(rb), rtol, atol, summary_df, runs_df, missing, problems)


def _problems(summary, runs, missing) -> list[str]:
    problems = []
    different = runs[runs["verdict"] == "different"]
    if len(different):
        per = different.groupby("experiment").size()
        problems.append(
            f"{len(different)} run(s) different ("
            + ", ".join(f"{e}: {n}" for e, n in per.items())
            + ")"
        )
    for path, side in missing:
        problems.append(f"{path} is only in {side}")
    for row in summary.itertuples(index=False):
        where = row.table + (f" ({row.experiment})" if row.experiment else "")
        if row.note.startswith("column only in"):
            problems.append(f"{where}: {row.note}: {row.column}")
    others = summary[~summary["table"].isin(TRACE_TABLES)]
    for table, rows in others.groupby("table", sort=False):
        first = rows.iloc[0]
        if first["only_a"] or first["only_b"]:
            problems.append(
                f"{table}: {first['only_a']} row(s) only in A, {first['only_b']} only in B"
            )
        beyond = rows[rows["beyond"] > 0]
        if table.startswith("validation/"):
            beyond = beyond[beyond["column"].isin(VALIDATION_VERDICTS)]
        for row in beyond.itertuples(index=False):
            problems.append(
                f"{table}.{row.column}: {row.beyond} of {row.rows} value(s) beyond tolerance"
            )
    return problems


# --------------------------------------------------------------------------- the report


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value == 0:
            return "0"
        if math.isinf(value):
            return "inf"
        return f"{value:.3g}"
    try:
        import pandas as pd

        if pd.isna(value):
            return "-"
    except (TypeError, ValueError):
        pass
    return str(value)


def _text_table(headers: list[str], rows: list[list], right: set[int]) -> list[str]:
    cells = [[_fmt(v) for v in row] for row in rows]
    if headers[-1] == "note" and not any(r[-1] for r in cells):  # drop an empty note column
        headers, cells = headers[:-1], [r[:-1] for r in cells]
    widths = [max([len(h)] + [len(r[n]) for r in cells]) for n, h in enumerate(headers)]

    def line(values):
        parts = [
            v.rjust(w) if n in right else v.ljust(w)
            for n, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)]


def format_report(comparison: Comparison) -> str:
    """The comparison as readable, aligned plain text."""
    c = comparison
    out = [
        f"A: {c.a}",
        f"B: {c.b}",
        f"tolerance: |a - b| <= {c.atol:g} + {c.rtol:g} * max(|a|, |b|)",
        "",
        "Tables",
    ]
    headers = [
        "table",
        "experiment",
        "column",
        "rows",
        "only A",
        "only B",
        "unequal",
        "beyond",
        "max abs diff",
        "max rel diff",
        "note",
    ]
    rows = [
        [
            r.table,
            r.experiment,
            r.column,
            r.rows,
            r.only_a,
            r.only_b,
            r.unequal,
            r.beyond,
            r.max_abs_diff,
            r.max_rel_diff,
            r.note,
        ]
        for r in c.summary.itertuples(index=False)
    ]
    out += _text_table(headers, rows, right=set(range(3, 10))) if rows else ["(no tables)"]
    out += ["", "Runs per experiment"]
    counts = c.counts()
    if len(counts):
        out += _text_table(
            ["experiment", "runs", *VERDICTS],
            counts[["experiment", "runs", *VERDICTS]].values.tolist(),
            right=set(range(1, 2 + len(VERDICTS))),
        )
    else:
        out.append("(no runs)")
    listed = c.runs[c.runs["verdict"].isin(["chaotic", "different"])]
    out += ["", "Chaotic and different runs"]
    if len(listed):
        out += _text_table(
            [
                "experiment",
                "run_id",
                "verdict",
                "first parting epoch",
                "final loss rel diff",
                "note",
            ],
            [
                [
                    r.experiment,
                    r.run_id,
                    r.verdict,
                    r.first_parting_epoch,
                    r.final_loss_rel_diff,
                    r.note,
                ]
                for r in listed.itertuples(index=False)
            ],
            right={3, 4},
        )
    else:
        out.append("(none)")
    if c.missing_files:
        out += ["", "Files in one tree only"]
        out += [f"  {path}  (only in {side})" for path, side in c.missing_files]
    out.append("")
    if c.passed:
        n_chaotic = int((c.runs["verdict"] == "chaotic").sum())
        extra = f" ({n_chaotic} chaotic run(s) listed above)" if n_chaotic else ""
        out.append(f"PASSED{extra}")
    else:
        out.append("FAILED:")
        out += [f"  - {p}" for p in c.problems]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- command line


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``compare`` subcommand's arguments."""
    parser.description = __doc__.split("\n\n", 2)[0] + "\n\n" + __doc__.split("\n\n", 2)[2]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("a", metavar="A", help="a results directory (or the one holding results/)")
    parser.add_argument("b", metavar="B", help="the results directory to compare it with")
    parser.add_argument(
        "--rtol", type=_tolerance, default=RTOL, help=f"relative tolerance (default {RTOL:g})"
    )
    parser.add_argument(
        "--atol", type=_tolerance, default=ATOL, help=f"absolute tolerance (default {ATOL:g})"
    )
    parser.add_argument(
        "--json", metavar="FILE", type=Path, help="also write the comparison to FILE as JSON"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compare, print the report; 0 passed, 1 failed, 2 for a path that is not a tree."""
    try:
        comparison = compare_trees(args.a, args.b, rtol=args.rtol, atol=args.atol)
    except TreeError as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(format_report(comparison))
    if args.json is not None:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(comparison.to_dict(), indent=1, allow_nan=False) + "\n")
        except OSError as exc:
            print(f"compare: error: cannot write {args.json}: {exc}", file=sys.stderr)
            return 2
    return 0 if comparison.passed else 1
