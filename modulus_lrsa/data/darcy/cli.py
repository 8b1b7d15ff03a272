# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``lrsa-data darcy``: the command line of the Darcy generator."""

from __future__ import annotations

import argparse
import errno
import functools
from pathlib import Path

from modulus_lrsa.data.darcy.generation import (
    DEFAULT_N_TEST,
    DEFAULT_N_TRAIN,
    DEFAULT_RESOLUTION,
    DEFAULT_SHARD_SIZE,
    DEFAULT_SOLVE_RESOLUTION,
    DarcyWorkerError,
    darcy_params,
    generate_darcy,
)
from modulus_lrsa.io.darcy import DarcyDatasetError

#: Exit status when the machine stopped the run (no space, a killed worker): sysexits'
#: EX_TEMPFAIL; the finished shards are kept and the same command resumes.
EXIT_RETRY = 75
#: OS errors of the machine, not of the options: a rerun once they are fixed resumes.
_MACHINE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.ENOMEM, errno.EIO)


def _int_at_least(minimum: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer ({what}), got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum} ({what}), got {value}")
        return value

    return parse


def add_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``darcy`` subcommand of ``lrsa-data``."""
    parser = subparsers.add_parser(
        "darcy",
        help="Darcy flow in a random two-phase medium (FNO benchmark recipe)",
        description=(
            "Generate the FNO Darcy benchmark: -div(a grad u) = 1 on the unit square, u = 0 on "
            "the boundary, a in {12, 3} thresholded from a Gaussian random field. Solves on "
            "--solve-resolution nodes per axis and keeps every k-th node to reach --resolution. "
            "Interrupted runs resume where they stopped."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog=(
            "Exit status: 0 done, 1 error, 2 bad options, "
            f"{EXIT_RETRY} stopped by the machine (no space left, a killed worker: rerun to resume), 130 interrupted."
        ),
    )
    parser.add_argument("--n-train", type=_int_at_least(0, "number of samples"), default=DEFAULT_N_TRAIN, help="training samples")
    parser.add_argument("--n-test", type=_int_at_least(0, "number of samples"), default=DEFAULT_N_TEST, help="test samples")
    parser.add_argument(
        "--solve-resolution", type=_int_at_least(3, "nodes per axis"), default=DEFAULT_SOLVE_RESOLUTION,
        help="nodes per axis of the finite-difference grid (boundary included)",
    )
    parser.add_argument(
        "--resolution", type=_int_at_least(3, "nodes per axis"), default=DEFAULT_RESOLUTION,
        help="nodes per axis stored; (solve-resolution - 1) must be a multiple of (resolution - 1)",
    )
    parser.add_argument("--seed", type=_int_at_least(0, "seed"), default=0, help="dataset seed")
    parser.add_argument("--out", type=Path, default=Path("datasets/darcy"), help="output folder")
    parser.add_argument("--jobs", type=_int_at_least(1, "worker processes"), default=1, help="worker processes")
    parser.add_argument(
        "--shard-size", type=_int_at_least(1, "samples per shard"), default=DEFAULT_SHARD_SIZE,
        help="samples per resumable shard",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset in --out generated with other parameters")
    parser.set_defaults(func=functools.partial(_run_from_args, parser=parser))
    return parser


def _run_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        darcy_params(args.n_train, args.n_test, args.solve_resolution, args.resolution, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        generate_darcy(
            args.out,
            n_train=args.n_train,
            n_test=args.n_test,
            solve_resolution=args.solve_resolution,
            resolution=args.resolution,
            seed=args.seed,
            jobs=args.jobs,
            shard_size=args.shard_size,
            overwrite=args.overwrite,
        )
    except KeyboardInterrupt:
        parser.exit(130, f"{parser.prog}: interrupted; finished shards are kept in {args.out}, "
                         "run the same command again to resume\n")
    except DarcyWorkerError as exc:
        parser.exit(EXIT_RETRY, f"{parser.prog}: error: {exc}\n")
    except OSError as exc:
        if exc.errno in _MACHINE_ERRNOS:
            parser.exit(EXIT_RETRY, f"{parser.prog}: error: {exc}; finished shards are kept in {args.out}: free "
                                    "space (or fix the cause) and run the same command again to resume\n")
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    except DarcyDatasetError as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    return 0

