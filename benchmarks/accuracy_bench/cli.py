# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The command line of ``benchmarks/accuracy.py``: train (or, with --child, be one run),
then print the tables; --report, --figures, --update-docs and --readme-table train nothing.

``--protocol airfoil --dataset-seed 1`` is ``--protocol airfoil-seed1``: the protocol on its
confirmation dataset, with its own results file and outputs."""

from __future__ import annotations

import argparse
import json

from . import __doc__ as BENCHMARK_DOC
from . import paths
from .child import evaluate_test_cases, print_result, run_child, time_epochs_child
from .docs import readme_table, update_docs
from .figures import figures
from .protocols import MODELS, PROTOCOLS, RunSpec, protocol_named
from .runner import run_all
from .storage import load_results, save_results
from .tables import tables


def main() -> None:
    """Parse the command line and do what it asks (see the package docstring)."""
    parser = argparse.ArgumentParser(description=BENCHMARK_DOC.splitlines()[0])
    parser.add_argument("--protocol", default="reduced", metavar="NAME",
                        help=f"one of {', '.join(sorted(PROTOCOLS))}, or <airfoil protocol>-seed<N> (default: reduced)")
    parser.add_argument("--dataset-seed", type=int, metavar="N",
                        help="run an airfoil protocol on the confirmation dataset `lrsa-data airfoil --seed N` draws "
                             "(never used to choose settings; results in accuracy_<protocol>_seed<N>.json)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (each its own process)")
    parser.add_argument("--study", action="append",
                        choices=["main", "tuned", "precision", "latents", "ablation", "tuning", "loss", "raw-targets", "timing",
                                 "wall-clock"],
                        help="run only these studies (repeatable; default: all)")
    parser.add_argument("--model", action="append", choices=sorted(MODELS),
                        help="run only these models' runs (repeatable; default: all)")
    parser.add_argument("--report", action="store_true", help="print the tables from the JSON; train nothing")
    parser.add_argument("--figures", action="store_true", help="draw docs/figures/accuracy_<protocol>_*.png")
    parser.add_argument("--update-docs", action="store_true", help="rewrite the generated block of docs/benchmarks.md")
    parser.add_argument("--readme-table", action="store_true", help="also print the compact table for the README")
    parser.add_argument("--backfill-cases", action="store_true",
                        help="add each test case's Cd/Cl to stored runs that predate them, from their last checkpoints")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-timing", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-time-limit", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        protocol = protocol_named(args.protocol, args.dataset_seed)
    except ValueError as exc:
        parser.error(str(exc))
    if args.child_timing:
        print_result(time_epochs_child(protocol, args.child_timing))
        return
    if args.child:
        print_result(run_child(protocol, RunSpec(**json.loads(args.child)), args.child_time_limit))
        return
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    if args.backfill_cases:
        results = load_results(protocol)
        for run_id, run in results["runs"].items():
            if "test_cases" not in run and not run["diverged"]:
                run["test_cases"] = evaluate_test_cases(protocol, run)
                save_results(protocol, results)
                print(f"{run_id}: {len(run['test_cases'])} test case(s) added", flush=True)
    elif args.report or args.figures or args.update_docs or args.readme_table:
        results = load_results(protocol)
    else:
        results = run_all(
            protocol, args.jobs, set(args.study) if args.study else None, set(args.model) if args.model else None
        )
    print(tables(protocol, results))
    if args.readme_table:
        print("\n" + readme_table(protocol, results))
    if args.figures:
        for path in figures(protocol, results):
            print(f"wrote {path.relative_to(paths.ROOT)}")
    if args.update_docs:
        update_docs(protocol, results)
        print(f"updated {paths.DOCS_PATH.relative_to(paths.ROOT)}")
