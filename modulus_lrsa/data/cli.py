# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``lrsa-data``: build the benchmark datasets from the command line.

Each dataset module registers one subcommand through ``add_subparser(subparsers)``, which
sets ``func`` (called with the parsed arguments, returning the exit status)::

    lrsa-data darcy --n-train 1000 --n-test 200 --out datasets/darcy --jobs 2
    lrsa-data airfoil --help
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from modulus_lrsa import __version__
from modulus_lrsa.data import darcy

try:
    from modulus_lrsa.data import airfoil
except ModuleNotFoundError as exc:
    # Only the absence of the airfoil package itself is tolerated; a broken import inside it
    # (e.g. a missing dependency) must surface rather than silently drop the subcommand.
    if exc.name != "modulus_lrsa.data.airfoil":
        raise
    airfoil = None
from modulus_lrsa.data import ahmed


def build_parser() -> argparse.ArgumentParser:
    """The ``lrsa-data`` parser with one subcommand per dataset."""
    parser = argparse.ArgumentParser(
        prog="lrsa-data",
        description="Generate the benchmark datasets used to train and evaluate LRSA models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s (modulus_lrsa {__version__})")
    parser.add_argument("-q", "--quiet", action="store_true", help="report warnings and errors only")
    subparsers = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    darcy.add_subparser(subparsers)
    # A folder without __init__.py imports as a namespace package: the airfoil generator is
    # not installed yet, so there is nothing to register.
    if airfoil is not None and getattr(airfoil, "__file__", None) is not None:
        airfoil.add_subparser(subparsers)
    ahmed.add_subparser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lrsa-data``; returns the process exit status (argparse errors exit with 2)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
