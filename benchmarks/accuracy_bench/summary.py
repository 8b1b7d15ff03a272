# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""What the tables, the README table and the figures read from stored runs: a run's
error, the finished runs of a study, and the rows of the main comparison."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict
from typing import Any

from .protocols import Protocol, RunSpec, studies


def run_error(run: dict[str, Any]) -> float:
    """Mean test relative L2 over the target channels (Darcy has one: the solution; the
    airfoil's U[0], U[1], p, nut, wallShearStress[0], wallShearStress[1], each over the
    points it is defined on), the trainer's ``val/rel_l2/mean``."""
    values = list(run["test_rel_l2"].values())
    return statistics.mean(values) if values and not run["diverged"] else math.nan


def finished_runs(results: dict[str, Any], specs: list[RunSpec]) -> list[dict[str, Any]]:
    """The stored runs of ``specs``, in their order; runs not finished yet are left out."""
    return [results["runs"][s.run_id] for s in specs if s.run_id in results["runs"]]


def compared_runs(protocol: Protocol, results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Row label -> finished runs: the compared models, then tuned LRSA if the protocol has it."""
    all_studies = studies(protocol)
    rows = {name: finished_runs(results, [s for s in all_studies["main"] if s.model == name]) for name in protocol.models}
    if "tuned" in all_studies and all_studies["tuned"]:
        rows[tuned_label(protocol)] = finished_runs(results, all_studies["tuned"])
    return rows


def tuned_label(protocol: Protocol) -> str:
    """The main comparison's row label of LRSA under the protocol's tuned settings."""
    chosen = protocol.tuned_lrsa
    settings = [f"{key} {value:g}" for key, value in asdict(chosen).items() if value is not None]
    return f"LRSA, {', '.join(settings)}"
