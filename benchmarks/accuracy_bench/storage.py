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
from .protocols import Protocol, ordered_runs

#: Protocol fields that change what a stored run means. The others (seeds, studies,
#: sweeps, tuned settings, descriptions) only add or drop runs, whose ids carry their
#: own settings, so results stay valid when those change.
RUN_DEFINING_FIELDS = ("data", "epochs", "precision_epochs", "batch_size", "n_layers", "n_head", "n_latents",
                       "widths", "threads")


def load_results(protocol: Protocol) -> dict[str, Any]:
    """The protocol's stored results (none yet: an empty set), refused if made under another definition."""
    path = paths.results_path(protocol.name)
    current = protocol_dict(protocol)
    if path.exists():
        stored = json.loads(path.read_text())
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
    """Stop if a stored run was trained under configs that no longer compose the same."""
    specs = {spec.run_id: spec for spec in ordered_runs(protocol)}
    stale = []
    for run_id, run in results["runs"].items():
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
