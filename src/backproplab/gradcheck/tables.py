"""Writing a validation table: Parquet, atomically, with its provenance and the spec it
was computed from in its key-value metadata (keys ``provenance`` and ``validation``, as
:func:`backproplab.traces.read_metadata` returns them)."""

from __future__ import annotations

import pyarrow as pa

from ..experiments import digest
from ..traces import provenance, write_table

__all__ = ["write_frame"]


def write_frame(frame, path, spec) -> None:
    """Write a validation table to Parquet (atomically), with provenance metadata.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : path
    spec : dict
        What the table was computed from (a job's spec or settings); its digest is the
        provenance's config hash.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_table(path, table, {"provenance": provenance(digest(spec)), "validation": spec})
