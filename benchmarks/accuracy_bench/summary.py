# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""What the tables, the README table and the figures read from stored runs: a run's
error, the finished runs of a study, and the rows of the main comparison."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from .datasets import AhmedData
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


def is_3d(protocol: Protocol) -> bool:
    """Whether the protocol's report is the 3D body's (drag counts, R^2, the issue's aims)."""
    return isinstance(protocol.data, AhmedData)


def scored(main: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The rows' runs that did not diverge: a diverged run's numbers are no model's accuracy."""
    return {name: [r for r in runs if not r["diverged"]] for name, runs in main.items()}


def metric_values(runs: list[dict[str, Any]], key: str) -> list[float]:
    """``test_metrics[key]`` of each run that measured it, in run order."""
    return [r["test_metrics"][key] for r in runs if key in r.get("test_metrics", {})]


def field_error(run: dict[str, Any], prefix: str, field: str) -> float | None:
    """A field's test relative L2 over the points ``prefix`` names (``surface_rel_l2/``, ``volume_rel_l2/``).

    A vector field is stored per component (``wallShearStress[0]`` ...), each component's
    relative L2 per case then averaged over the cases; its error here is the plain mean of
    its components' (the stored numbers cannot give the vector norm's). None where the
    run did not measure the field.
    """
    metrics = run.get("test_metrics", {})
    if f"{prefix}{field}" in metrics:
        return metrics[f"{prefix}{field}"]
    components = [value for key, value in metrics.items() if key.startswith(f"{prefix}{field}[")]
    return statistics.mean(components) if components else None


def field_errors(runs: list[dict[str, Any]], prefix: str, field: str) -> list[float]:
    """:func:`field_error` of each run that measured the field."""
    return [e for e in (field_error(r, prefix, field) for r in runs) if e is not None]


def component_count(runs: list[dict[str, Any]], prefix: str, field: str) -> int:
    """How many components of ``field`` the runs measured (1 for a scalar; 0: none)."""
    keys = {key for r in runs for key in r.get("test_metrics", {})}
    return 1 if f"{prefix}{field}" in keys else sum(key.startswith(f"{prefix}{field}[") for key in keys)


@dataclass(frozen=True)
class Comparison:
    """LRSA's mean over its finished seeds against each peer's, for one error (lower is better)."""

    lrsa: float | None
    #: Peer -> mean over its finished seeds; peers with no finished run are left out.
    peers: dict[str, float]

    @property
    def best_peer(self) -> tuple[str, float] | None:
        finite = {name: value for name, value in self.peers.items() if math.isfinite(value)}
        return min(finite.items(), key=lambda item: item[1]) if finite else None

    @property
    def ratio(self) -> float | None:
        """LRSA over the best peer (None where either is missing)."""
        best = self.best_peer
        return None if self.lrsa is None or best is None or best[1] == 0 else self.lrsa / best[1]


def compare(protocol: Protocol, main: dict[str, list[dict[str, Any]]], values) -> Comparison:
    """LRSA against the protocol's other models under ``values`` (runs -> per-seed numbers)."""

    def mean(runs: list[dict[str, Any]]) -> float | None:
        numbers = values(runs)
        return statistics.mean(numbers) if numbers else None

    peers = {name: mean(main[name]) for name in protocol.models if name != "LRSA"}
    return Comparison(mean(main["LRSA"]), {name: value for name, value in peers.items() if value is not None})
