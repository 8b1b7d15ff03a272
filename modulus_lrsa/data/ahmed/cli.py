# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The ``lrsa-data ahmed`` subcommand."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from modulus_lrsa.data.airfoil.cli import EXIT_RETRY
from modulus_lrsa.data.airfoil.openfoam import OpenFOAMNotFoundError
from modulus_lrsa.data.airfoil.run import INTERRUPTED, environment_error_kind

from .case import NU_AIR, PRESETS, FlowCase
from .dataset import PARAMETERS, DatasetError, ParameterRanges, generate_ahmed_dataset
from .geometry import AhmedBody, GeometryError

logger = logging.getLogger(__name__)

_HELP = {
    "length": "body length, m", "width": "body width, m", "height": "body height, m",
    "clearance": "ground clearance, m", "slant_deg": "rear slant angle, degrees",
    "front_radius": "radius of the rounded front edges, m", "U": "inlet speed, m/s",
}
_BODY_KEYS = ("length", "width", "height", "clearance", "slant_deg", "front_radius")


def _option(name: str) -> str:
    return "--" + {"slant_deg": "slant", "U": "speed"}.get(name, name).replace("_", "-") + "-range"


def add_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``ahmed`` on the ``lrsa-data`` subcommands."""
    defaults = ParameterRanges()
    parser = subparsers.add_parser(
        "ahmed",
        help="3D Ahmed-body cases (OpenFOAM snappyHexMesh + simpleFoam, k-omega SST)",
        description=(
            "Sample Ahmed bodies (length, width, height, ground clearance, slant angle, front radius) and inlet "
            "speeds, write each body as a closed STL, mesh it with snappyHexMesh over a ground, solve it with "
            "simpleFoam (k-omega SST, wall functions) and export VTK with Cd, Cl and side force. Re-running with "
            "the same options resumes: finished cases are kept, interrupted ones run again."
        ),
        epilog=(
            "Exit status: 0 at least one usable case, 1 none, 2 bad options or output folder, 3 OpenFOAM missing, "
            f"{EXIT_RETRY} cases left to run because of the machine (no space left, a kill): run the same command "
            "again, 130 interrupted."
        ),
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (new, or a dataset to resume)")
    parser.add_argument("--n-cases", type=int, default=8, help="number of sampled cases (default: 8; ignored with --cases-file)")
    parser.add_argument(
        "--preset", choices=list(PRESETS), default="coarse",
        help="mesh and iteration preset (default: coarse; costs in docs/data_ahmed.md)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling and the split (default: 0)")
    parser.add_argument("--jobs", type=int, default=1, help="cases run in parallel, one core each (default: 1)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of cases in the test split (default: 0.2)")
    parser.add_argument("--moving-ground", action="store_true", help="ground moves with the free stream (default: fixed)")
    for name in PARAMETERS:
        lo, hi = getattr(defaults, name)
        parser.add_argument(_option(name), dest=f"range_{name}", nargs=2, type=float, metavar=("MIN", "MAX"),
                            help=f"{_HELP[name]} (default: {lo:g} {hi:g})")
    parser.add_argument(
        "--cases-file", type=Path,
        help='JSON list of explicit cases instead of sampling, e.g. [{"slant_deg": 25, "U": 40}] (missing body '
        "parameters take Ahmed's values; optional nu, moving_ground)",
    )
    parser.add_argument("--retry-failed", action="store_true", help="re-run cases recorded as failed or unconverged")
    parser.set_defaults(func=run_from_args)
    return parser


def load_cases_file(path: Path) -> list[FlowCase]:
    """Explicit cases from a JSON list; errors name the file and the entry."""
    try:
        entries = json.loads(Path(path).read_text())
    except OSError as err:
        raise DatasetError(f"cannot read cases file {path}: {err}") from None
    except json.JSONDecodeError as err:
        raise DatasetError(f"cases file {path} is not valid JSON: {err}") from None
    if not isinstance(entries, list) or not entries:
        raise DatasetError(f"cases file {path} must hold a non-empty JSON list of cases")
    allowed = {*_BODY_KEYS, "U", "nu", "moving_ground"}
    flows = []
    for i, entry in enumerate(entries):
        where = f"cases file {path}, entry {i}"
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: expected an object, got {type(entry).__name__}")
        unknown = set(entry) - allowed
        if unknown:
            raise DatasetError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "U" not in entry:
            raise DatasetError(f"{where}: missing key 'U' (inlet speed, m/s)")
        moving = entry.get("moving_ground", False)
        if not isinstance(moving, bool):
            raise DatasetError(f"{where}: moving_ground must be true or false, got {moving!r}")
        try:
            body = AhmedBody(**{key: entry[key] for key in _BODY_KEYS if key in entry})
            flows.append(FlowCase(body, speed=entry["U"], nu=entry.get("nu", NU_AIR), moving_ground=moving))
        except (GeometryError, ValueError) as err:
            raise DatasetError(f"{where}: {err}") from None
    return flows


def run_from_args(args: argparse.Namespace) -> int:
    """Entry point of ``lrsa-data ahmed``; returns the exit status."""
    name = "lrsa-data ahmed"
    try:
        given = {key: tuple(getattr(args, f"range_{key}")) for key in PARAMETERS if getattr(args, f"range_{key}") is not None}
        if args.cases_file is not None:
            if given or args.moving_ground:
                raise DatasetError("--cases-file cannot be combined with sampling ranges or --moving-ground (give "
                                   "moving_ground per case in the file)")
            cases, ranges = load_cases_file(args.cases_file), None
        else:
            cases, ranges = None, ParameterRanges(**given)
        manifest = generate_ahmed_dataset(
            args.out, n_cases=args.n_cases, seed=args.seed, preset=args.preset, test_fraction=args.test_fraction,
            ranges=ranges, cases=cases, jobs=args.jobs, retry_failed=args.retry_failed, moving_ground=args.moving_ground,
        )
    except DatasetError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 2
    except OpenFOAMNotFoundError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"{name}: interrupted; finished cases are kept in {args.out}, run the same command again to resume",
              file=sys.stderr)
        return 130
    except OSError as err:
        if environment_error_kind(err) is None:
            print(f"{name}: error: {err}", file=sys.stderr)
            return 2
        print(f"{name}: error: {err}; finished cases are kept in {args.out}: free space (or fix the cause) and run "
              "the same command again to resume", file=sys.stderr)
        return EXIT_RETRY
    s = manifest["summary"]
    logger.info("%s: %d ok (%d train, %d test), %d unconverged, %d failed, %d interrupted, %d not run",
                args.out, s["ok"], s["train"], s["test"], s["unconverged"], s["failed"], s["interrupted"], s["pending"])
    if s["interrupted"] or s["pending"]:
        first = next((case for case in manifest["cases"] if case["status"] == INTERRUPTED), None)
        print(f"{name}: {s['interrupted']} case(s) interrupted by the machine"
              + (f" ({first['id']}: {first['reason']})" if first else "")
              + f" and {s['pending']} not run; run the same command again to run them", file=sys.stderr)
        return EXIT_RETRY
    return 0 if s["ok"] > 0 else 1

