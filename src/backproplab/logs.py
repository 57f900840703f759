"""Logging for workflow scripts: everything, warnings included, into the rule's log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def to_file(path: str | Path) -> None:
    """Send the package's log records and Python warnings to ``path``, and an uncaught
    exception's traceback too (an exception class with ``brief = True`` prints only its
    message on stderr)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=path,
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    default_hook = sys.excepthook

    def log_then_raise(kind, value, tb):
        logging.getLogger("backproplab").error("failed", exc_info=(kind, value, tb))
        if getattr(kind, "brief", False):
            # An error whose message says what is wrong and what to do (a damaged results
            # file): that alone on stderr, the traceback in the log only.
            print(f"error: {value}", file=sys.stderr)
            return
        default_hook(kind, value, tb)

    sys.excepthook = log_then_raise
