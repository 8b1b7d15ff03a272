# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The ``lrsa-data airfoil`` subcommand."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .case import NU_AIR, FlowCase, SolverControls
from .dataset import DatasetError, ParameterRanges, generate_airfoil_dataset
from .mesh import RESOLUTIONS
from .naca import NacaSection
from .openfoam import OpenFOAMNotFoundError
from .run import environment_error_kind

logger = logging.getLogger(__name__)

#: Exit status when cases are left to run because of the machine (no space, a kill):
#: sysexits' EX_TEMPFAIL, "try again later".
EXIT_RETRY = 75

_RANGE_OPTIONS = {
    # option dest: (ParameterRanges field, help)
    "camber_range": ("camber", "NACA max camber m, fraction of chord"),
    "camber_position_range": ("camber_position", "NACA max-camber position p, fraction of chord"),
    "thickness_range": ("thickness", "NACA max thickness t, fraction of chord"),
    "aoa_range": ("aoa_deg", "angle of attack, degrees"),
    "speed_range": ("speed", "free-stream speed, m/s (chord 1 m, nu 1.5e-5 m^2/s: Re = U / 1.5e-5)"),
}


def add_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``airfoil`` on the ``lrsa-data`` subcommands."""
    defaults = ParameterRanges()
    parser = subparsers.add_parser(
        "airfoil",
        help="NACA 4-digit airfoil RANS cases (OpenFOAM simpleFoam, Spalart-Allmaras)",
        description=(
            "Sample NACA 4-digit sections, angles of attack and speeds, mesh each case with a "
            "blockMesh C-grid, solve it with simpleFoam (Spalart-Allmaras) and export VTK. "
            "Re-running with the same options resumes: finished cases are kept, and cases its "
            "environment stopped (no space left, killed from outside) run again."
        ),
        epilog=(
            "Exit status: 0 at least one usable case, 1 none, 2 bad options or output folder, 3 OpenFOAM "
            f"missing, {EXIT_RETRY} cases left to run because of the machine (no space left, a kill): free "
            "space or memory and run the same command again, 130 interrupted."
        ),
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (new, or a dataset to resume)")
    parser.add_argument(
        "--n-cases", type=int, default=24, help="number of sampled cases (default: 24; ignored with --cases-file)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="cases run in parallel, one core each (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling and the split (default: 0)")
    parser.add_argument(
        "--resolution", choices=list(RESOLUTIONS), default="medium",
        help="mesh preset: " + ", ".join(f"{name} ({r.n_cells} cells)" for name, r in RESOLUTIONS.items())
        + " (default: medium)",
    )
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of cases in the test split (default: 0.2)")
    parser.add_argument(
        "--max-iterations", type=int, default=2000,
        help="SIMPLE iterations per case before it counts as unconverged; a multiple of "
        f"{SolverControls.check_interval}, the iterations between convergence checkpoints (default: 2000)",
    )
    for dest, (field, text) in _RANGE_OPTIONS.items():
        lo, hi = getattr(defaults, field)
        parser.add_argument(
            "--" + dest.replace("_", "-"), dest=dest, nargs=2, type=float, metavar=("MIN", "MAX"),
            help=f"{text} (default: {lo:g} {hi:g})",
        )
    parser.add_argument(
        "--cases-file", type=Path,
        help='JSON list of explicit cases instead of sampling, e.g. [{"naca": "0012", "aoa_deg": 4, "U": 60}] '
        '(or "m", "p", "t" instead of "naca"; optional "nu")',
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
    flows = []
    for i, entry in enumerate(entries):
        where = f"cases file {path}, entry {i}"
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: expected an object, got {type(entry).__name__}")
        allowed = {"naca", "m", "p", "t", "aoa_deg", "U", "nu"}
        unknown = set(entry) - allowed
        if unknown:
            raise DatasetError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        try:
            if "naca" in entry:
                if {"m", "p", "t"} & set(entry):
                    raise ValueError('give either "naca" or "m", "p", "t", not both')
                section = NacaSection.from_code(str(entry["naca"]))
            else:
                section = NacaSection(m=float(entry["m"]), p=float(entry["p"]), t=float(entry["t"]))
            flows.append(FlowCase(section, float(entry["aoa_deg"]), float(entry["U"]), float(entry.get("nu", NU_AIR))))
        except KeyError as err:
            raise DatasetError(f"{where}: missing key {err}") from None
        except (TypeError, ValueError) as err:
            raise DatasetError(f"{where}: {err}") from None
    return flows


def run_from_args(args: argparse.Namespace) -> int:
    """Entry point of ``lrsa-data airfoil``; returns the exit status."""
    try:
        given_ranges = {dest: getattr(args, dest) for dest in _RANGE_OPTIONS if getattr(args, dest) is not None}
        if args.cases_file is not None:
            if given_ranges:
                raise DatasetError("--cases-file cannot be combined with sampling ranges (" + ", ".join(
                    "--" + d.replace("_", "-") for d in given_ranges) + ")")
            cases, ranges = load_cases_file(args.cases_file), None
        else:
            cases = None
            ranges = ParameterRanges(**{_RANGE_OPTIONS[dest][0]: tuple(v) for dest, v in given_ranges.items()})
        manifest = generate_airfoil_dataset(
            args.out,
            n_cases=args.n_cases,
            seed=args.seed,
            resolution=args.resolution,
            test_fraction=args.test_fraction,
            max_iterations=args.max_iterations,
            ranges=ranges,
            cases=cases,
            jobs=args.jobs,
            retry_failed=args.retry_failed,
        )
    except DatasetError as err:
        print(f"lrsa-data airfoil: error: {err}", file=sys.stderr)
        return 2
    except OpenFOAMNotFoundError as err:
        print(f"lrsa-data airfoil: error: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"lrsa-data airfoil: interrupted; finished cases are kept in {args.out}, "
              "run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as err:
        if environment_error_kind(err) is None:
            print(f"lrsa-data airfoil: error: {err}", file=sys.stderr)
            return 2
        print(f"lrsa-data airfoil: error: {err}; finished cases are kept in {args.out}: free space "
              "(or fix the cause) and run the same command again to resume", file=sys.stderr)
        return EXIT_RETRY
    s = manifest["summary"]
    logger.info(
        "%s: %d ok (%d train, %d test), %d unconverged, %d failed, %d interrupted, %d not run",
        args.out, s["ok"], s["train"], s["test"], s["unconverged"], s["failed"], s["interrupted"], s["pending"],
    )
    if s["interrupted"] or s["pending"]:
        first = next((case for case in manifest["cases"] if case["status"] == "interrupted"), None)
        print(f"lrsa-data airfoil: {s['interrupted']} case(s) interrupted by the machine"
              + (f" ({first['id']}: {first['reason']})" if first else "")
              + f" and {s['pending']} not run; run the same command again to run them", file=sys.stderr)
        return EXIT_RETRY
    return 0 if s["ok"] > 0 else 1
