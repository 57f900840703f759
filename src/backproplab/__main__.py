"""Command line: ``python -m backproplab {check,compare,digest} ...``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backproplab")
    commands = parser.add_subparsers(dest="command", required=True)
    from . import check, compare, digests

    check.add_arguments(commands.add_parser("check", help=check.__doc__.splitlines()[0]))
    compare.add_arguments(commands.add_parser("compare", help=compare.__doc__.splitlines()[0]))
    digests.add_arguments(commands.add_parser("digest", help=digests.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
