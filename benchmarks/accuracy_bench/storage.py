# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The results JSON: read, checked against the current definitions, and written after every run.

Stored runs are kept while they still mean what the protocol and conf/ define now; a
file made under another definition is refused rather than mixed with new runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from modulus_lrsa.atomic import atomic_write_text

from . import paths
from .configs import run_definition, without_paths
from .protocols import Protocol, RunSpec, ordered_runs

#: Protocol fields that change what a stored run means. The others (seeds, studies,
#: sweeps, tuned settings, descriptions) only add or drop runs, whose ids carry their
#: own settings, so results stay valid when those change.
RUN_DEFINING_FIELDS = ("data", "epochs", "precision_epochs", "batch_size", "n_layers", "n_head", "n_latents",
                       "widths", "threads")
#: Dataset fields added after results were stored, with the value every older file meant:
#: results written before the generator seed was a field were all made on seed 0.
ADDED_DATA_FIELDS = {"seed": 0}


def _with_added_fields(stored: Any, current: Any) -> Any:
    """``stored`` (a protocol's data as a file holds it) with the fields it predates filled in
    where the current definition has their old value; nested datasets (a held-out view's source) too."""
    if not isinstance(stored, dict) or not isinstance(current, dict):
        return stored
    filled = {key: _with_added_fields(value, current.get(key)) for key, value in stored.items()}
    for key, value in ADDED_DATA_FIELDS.items():
        if key not in filled and current.get(key) == value:
            filled[key] = value
    return filled


def load_results(protocol: Protocol) -> dict[str, Any]:
    """The protocol's stored results (none yet: an empty set), refused if made under another definition."""
    path = paths.results_path(protocol.name)
    current = protocol_dict(protocol)
    if path.exists():
        stored = json.loads(path.read_text())
        stored["protocol"]["data"] = _with_added_fields(stored["protocol"].get("data"), current["data"])
        changed = [key for key in RUN_DEFINING_FIELDS if stored["protocol"].get(key) != current[key]]
        if changed:
            raise SystemExit(
                f"{path} was produced with another '{protocol.name}' protocol ({', '.join(changed)} differ); "
                f"move it and outputs/benchmarks/accuracy/{protocol.name}/ away to start afresh"
            )
        stored["protocol"] = current
        _check_runs_current(protocol, stored, path)
        return stored
    return {"protocol": current, "runs": {}}


def _check_runs_current(protocol: Protocol, results: dict[str, Any], path: Path) -> None:
    """Stop if a stored run was trained under configs that no longer compose the same.

    The wall-clock study's runs (planned from a timing, so not among the protocol's own
    runs) are checked against the spec each one stored.
    """
    specs = {spec.run_id: spec for spec in ordered_runs(protocol)}
    wall_clock = results.get("wall_clock", {}).get("runs", {})
    specs.update({run_id: RunSpec(**run["spec"]) for run_id, run in wall_clock.items() if "spec" in run})
    stale = []
    for run_id, run in [*results["runs"].items(), *wall_clock.items()]:
        if run_id not in specs:
            continue
        stored = run.get("definition")
        if stored is None:
            stale.append(f"{run_id} (no recorded configs)")
            continue
        current = run_definition(protocol, specs[run_id])
        stored = without_paths(stored)  # runs recorded before cache_dir was left out
        changed = [
            f"{group}.{key}" for group in current for key in sorted(set(current[group]) | set(stored.get(group, {})))
            if current[group].get(key) != stored.get(group, {}).get(key)
        ]
        if changed:
            stale.append(f"{run_id} ({', '.join(changed)} differ)")
    if stale:
        raise SystemExit(
            f"{path} holds runs trained under other configs than conf/ composes now: {'; '.join(stale)}. "
            f"Move it and outputs/benchmarks/accuracy/{protocol.name}/ away to start afresh"
        )


def protocol_dict(protocol: Protocol) -> dict[str, Any]:
    """The protocol as the JSON stores it (tuples become lists), so stored and current compare equal."""
    return json.loads(json.dumps(asdict(protocol)))


def save_results(protocol: Protocol, results: dict[str, Any]) -> None:
    """Replace the results file in one step: an interrupted write leaves the previous one whole."""
    path = paths.results_path(protocol.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(results, indent=1) + "\n")
