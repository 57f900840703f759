"""Digest the numbers of a results tree: one sha256 per table column, writer-independent.

A digest says whether two results trees hold the same numbers, to the bit, whatever
wrote the Parquet files: compression, encodings, row groups, key-value metadata
(provenance, git commit), dictionary or plain strings, integer widths, the order of the
rows and how a table is split into blocks do not change it. One changed bit of one value
does.

What is digested (paths relative to the results directory):

``traces/{experiment}/{table}``
    Every block of one trace table (``runs``, ``metrics``, ``state``, ``norms``) of one
    experiment, together: ``results/traces/{experiment}/{table}/*.parquet``.
``datasets/{name}``
    ``results/datasets/{name}.parquet``, in file order (a data set has no key: its order
    is part of the data).
``validation/{name}``
    ``results/validation/{name}.parquet``.

Any other Parquet file under the results directory is digested on its own, like a
validation table; ``figures/`` and ``report/``, hidden files (a writer's ``.partial``
file) and files that are not Parquet (``validation/summary.md``) are skipped.

How a table is digested: its rows are put in a canonical order (trace tables by their
key columns, :data:`KEYS`; other tables by all their non-float columns; every other
column then breaks ties, so the order is total), and each column is hashed on its own:
``sha256(header + values)``, where the header names the value kind, the row count and
the null count, and the values are

- floats as little-endian float64 (every NaN as one bit pattern, ``0x7ff8000000000000``;
  ``-0.0`` stays distinct from ``0.0``);
- integers as little-endian int64, booleans as uint8;
- strings (plain or dictionary-encoded) as UTF-8, each followed by a NUL byte;
- nulls: a string null is the byte ``0xff`` (never valid UTF-8 on its own); a column of
  fixed-width values with nulls hashes one validity byte per row before its values, and
  its null slots as zeros.

The result is plain JSON-able data::

    {"traces/encoder/state": {"rows": 9408, "columns": {"value": "3f2a...", ...}}, ...}

Command line::

    python -m backproplab digest RESULTS_DIR                 # print the digests (JSON)
    python -m backproplab digest RESULTS_DIR --write FILE    # write them to FILE
    python -m backproplab digest RESULTS_DIR --check FILE    # exit 1 listing differences
    ... --only traces --only datasets                        # restrict to these tables

numpy and pyarrow are imported by the functions that need them, not with this module.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "KEYS",
    "NAN_BITS",
    "column_digest",
    "diff",
    "digest_table",
    "digest_tree",
    "select",
]

# Sort keys of the trace tables (their primary keys).
KEYS = {
    "runs": ("run_id",),
    "metrics": ("run_id", "epoch"),
    "norms": ("run_id", "epoch", "layer"),
    "state": ("run_id", "epoch", "layer", "tensor", "i", "j"),
}
# The one NaN every NaN is hashed as (numpy's np.nan: positive, quiet, zero payload).
NAN_BITS = 0x7FF8000000000000
# Directories of a results tree that hold no numbers to digest (images, HTML).
SKIPPED = ("figures", "report")
_STRING_NULL = b"\xff"


# -- one column ---------------------------------------------------------------------------


def _kind(type_) -> str:
    """The canonical value kind of an Arrow type: float, int, bool, string or text."""
    import pyarrow as pa

    if pa.types.is_dictionary(type_):
        return _kind(type_.value_type)
    if pa.types.is_floating(type_):
        return "float64"
    if pa.types.is_integer(type_):
        return "int64"
    if pa.types.is_boolean(type_):
        return "bool"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "string"
    if pa.types.is_null(type_):
        return "null"
    return f"text:{type_}"  # anything else, hashed as its string form (none so far)


def _canonical_column(column):
    """``column`` (an Arrow array or chunked array) as one array of its canonical kind:
    dictionaries decoded, floats as float64, integers as int64, strings as large_string."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = _kind(column.type)
    target = {
        "float64": pa.float64(),
        "int64": pa.int64(),
        "bool": pa.bool_(),
        "string": pa.large_string(),
    }.get(kind)
    if target is not None:
        return column if column.type == target else pc.cast(column, target)
    if kind == "null":
        return column
    try:
        return pc.cast(column, pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array(
            [
                None if v is None else json.dumps(v, default=str, sort_keys=True)
                for v in column.to_pylist()
            ],
            pa.large_string(),
        )


def _float_bits(column):
    """The float64 values as little-endian uint64 bit patterns, NaNs canonical, nulls 0."""
    import numpy as np

    values = np.asarray(column.fill_null(0.0).to_numpy(zero_copy_only=False), dtype="<f8")
    bits = values.view("<u8").copy()
    bits[np.isnan(values)] = NAN_BITS
    return bits


def column_digest(column, kind: str | None = None) -> str:
    """The hex sha256 of one column's values, in the order given (see the module doc)."""
    import numpy as np
    import pyarrow.compute as pc

    column = _canonical_column(column)
    kind = kind or _kind(column.type)
    n, nulls = len(column), column.null_count
    h = hashlib.sha256(f"{kind}\0rows={n}\0nulls={nulls}\0".encode())
    if kind == "null":
        return h.hexdigest()
    if kind == "string" or kind.startswith("text:"):
        encoded = pc.dictionary_encode(column, null_encoding="mask")
        words = [v.encode("utf-8") + b"\0" for v in encoded.dictionary.to_pylist()]
        table = np.array([*words, _STRING_NULL + b"\0"], dtype=object)
        indices = encoded.indices.fill_null(len(words)).to_numpy(zero_copy_only=False)
        h.update(b"".join(table[indices.astype(np.intp)]))
        return h.hexdigest()
    if nulls:
        valid = column.is_valid().to_numpy(zero_copy_only=False).astype(np.uint8)
        h.update(valid.tobytes())
    if kind == "float64":
        h.update(_float_bits(column).tobytes())
    elif kind == "int64":
        h.update(np.asarray(column.fill_null(0).to_numpy(), dtype="<i8").tobytes())
    elif kind == "bool":
        values = column.fill_null(False).to_numpy(zero_copy_only=False)
        h.update(np.asarray(values, dtype=np.uint8).tobytes())
    else:  # pragma: no cover (every kind _kind returns is handled above)
        raise TypeError(f"cannot digest a column of kind {kind}")
    return h.hexdigest()


# -- one table ----------------------------------------------------------------------------


def _sort_order(table, keys: Iterable[str]):
    """Row indices that put ``table`` in canonical order: ``keys`` first, then the other
    non-float columns, then the float columns (by name; floats by their canonical bits)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = [k for k in keys if k in table.column_names]
    floats = sorted(c for c in table.column_names if _kind(table.schema.field(c).type) == "float64")
    others = sorted(c for c in table.column_names if c not in keys and c not in floats)
    order = [*keys, *others, *floats]
    if not order or table.num_rows < 2:
        return None
    # Every key without nulls (a null sorts after every value: an is-null key first), so
    # that the order does not hang on a library's null placement.
    columns = {}
    for name in order:
        column = table.column(name)
        kind = _kind(column.type)
        if kind == "null":
            continue
        if column.null_count:
            columns[f"{name}\0null"] = column.is_null()
            column = column.fill_null({"string": "", "bool": False}.get(kind, 0))
        if kind == "float64":
            column = pa.array(_float_bits(column), pa.uint64())
        columns[name] = column
    sort_keys = [(name, "ascending") for name in columns]
    return pc.sort_indices(pa.table(columns), sort_keys=sort_keys)


def digest_table(table, keys: Iterable[str] | None = ()) -> dict:
    """``{"rows": n, "columns": {name: hex}}`` of an Arrow table.

    Parameters
    ----------
    table : pyarrow.Table
    keys : column names, or None
        The columns to sort the rows by first (every other column breaks ties). ``None``
        keeps the rows in the order given (data sets).
    """
    import pyarrow as pa

    table = pa.table({name: _canonical_column(table.column(name)) for name in table.column_names})
    if keys is not None:
        order = _sort_order(table, keys)
        if order is not None:
            table = table.take(order)
    return {
        "rows": table.num_rows,
        "columns": {name: column_digest(table.column(name)) for name in table.column_names},
    }


def _read(files: list[Path]):
    """The rows of ``files`` (one table's blocks) as one table of canonical columns."""
    import pyarrow as pa

    from .traces import read_table

    tables = []
    for f in files:
        t = read_table(f)
        tables.append(pa.table({n: _canonical_column(t.column(n)) for n in t.column_names}))
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        names = ", ".join(str(f) for f in files)
        raise ValueError(f"the blocks {names} do not share column types: {exc}") from exc


def _is_parquet(path: Path) -> bool:
    return path.is_file() and path.suffix == ".parquet" and not path.name.startswith(".")


def _tables(results: Path) -> dict[str, tuple[list[Path], tuple[str, ...] | None]]:
    """Every table of a results tree: name -> (its files, its sort keys or None)."""
    found: dict[str, tuple[list[Path], tuple[str, ...] | None]] = {}
    traces = results / "traces"
    if traces.is_dir():
        for experiment in sorted(p for p in traces.iterdir() if p.is_dir()):
            for table in sorted(p for p in experiment.iterdir() if p.is_dir()):
                files = sorted(f for f in table.iterdir() if _is_parquet(f))
                if files:
                    name = f"traces/{experiment.name}/{table.name}"
                    found[name] = (files, KEYS.get(table.name, ()))
    datasets = results / "datasets"
    for f in sorted(datasets.glob("*.parquet")) if datasets.is_dir() else []:
        if _is_parquet(f):
            found[f"datasets/{f.stem}"] = ([f], None)
    # Validation tables, and any other Parquet file: sorted by all their non-float columns.
    for f in sorted(results.rglob("*.parquet")):
        rel = f.relative_to(results)
        if rel.parts[0] in (*SKIPPED, "traces", "datasets") or not _is_parquet(f):
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue
        found[rel.with_suffix("").as_posix()] = ([f], ())
    return found


def digest_tree(results_dir: str | Path) -> dict:
    """The digests of every table of a results tree (see the module doc)."""
    results = Path(results_dir)
    if not results.is_dir():
        raise FileNotFoundError(f"{results} is not a directory")
    return {
        name: digest_table(_read(files), keys)
        for name, (files, keys) in sorted(_tables(results).items())
    }


# -- comparing ----------------------------------------------------------------------------


def select(digests: Mapping, prefixes: Iterable[str]) -> dict:
    """The tables whose name is one of ``prefixes`` or under it (``"traces"`` selects
    ``traces/encoder/state``)."""
    prefixes = [p.rstrip("/") for p in prefixes]
    return {
        name: value
        for name, value in digests.items()
        if any(name == p or name.startswith(p + "/") for p in prefixes)
    }


def diff(expected: Mapping, actual: Mapping) -> list[str]:
    """Human-readable differences between two digests (empty when they agree): tables
    missing or extra, row counts, and every column missing, extra or with other values."""
    lines = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            lines.append(f"{name}: missing (expected, not in the results)")
            continue
        if name not in expected:
            lines.append(f"{name}: extra table (in the results, not expected)")
            continue
        want, got = expected[name], actual[name]
        if want.get("rows") != got.get("rows"):
            lines.append(f"{name}: {got.get('rows')} rows, expected {want.get('rows')}")
        want_cols, got_cols = want.get("columns", {}), got.get("columns", {})
        for column in sorted(set(want_cols) | set(got_cols)):
            if column not in got_cols:
                lines.append(f"{name}: column {column} missing")
            elif column not in want_cols:
                lines.append(f"{name}: column {column} extra (not expected)")
            elif want_cols[column] != got_cols[column]:
                lines.append(
                    f"{name}: column {column} differs "
                    f"(expected {want_cols[column][:12]}, got {got_cols[column][:12]})"
                )
    return lines


def dumps(digests: Mapping) -> str:
    """The digests as the JSON the command line prints and writes (sorted, indented)."""
    return json.dumps(digests, sort_keys=True, indent=2) + "\n"


# -- command line -------------------------------------------------------------------------


def add_arguments(parser) -> None:
    """The ``digest`` subcommand's arguments (``python -m backproplab digest``)."""
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="a results directory")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="FILE", help="write the digests to FILE")
    action.add_argument(
        "--check", metavar="FILE", help="compare with the digests in FILE; exit 1 if they differ"
    )
    parser.add_argument(
        "--only",
        metavar="PREFIX",
        action="append",
        help="only the tables under PREFIX (traces, datasets, validation, traces/encoder, ...);"
        " repeatable",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    """Print, write or check the digests of ``args.results_dir``; 2 if a file of it
    cannot be read."""
    from .traces import TraceError

    try:
        digests = digest_tree(args.results_dir)
    except TraceError as exc:
        print(f"digest: error: {exc}", file=sys.stderr)
        return 2
    if args.only:
        digests = select(digests, args.only)
    if args.check:
        expected = json.loads(Path(args.check).read_text())
        if args.only:
            expected = select(expected, args.only)
        differences = diff(expected, digests)
        for line in differences:
            print(line)
        if differences:
            print(f"{len(differences)} difference(s) from {args.check}", file=sys.stderr)
            return 1
        print(f"{len(digests)} tables agree with {args.check}")
        return 0
    if args.write:
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text(dumps(digests))
        print(f"wrote the digests of {len(digests)} tables to {args.write}")
        return 0
    sys.stdout.write(dumps(digests))
    return 0
