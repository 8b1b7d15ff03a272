# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The report's figures (docs/figures/accuracy_<protocol>_*.png), from the results JSON only."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from . import paths
from .protocols import Protocol, studies
from .summary import compared_runs, run_error, scored


def figures(protocol: Protocol, results: dict[str, Any]) -> list[Path]:
    """Draw test error against epoch (main comparison), against latent tokens (latents study) and,
    where runs recorded each test case's forces, predicted against true drag; the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths.FIGURES.mkdir(parents=True, exist_ok=True)
    all_studies = studies(protocol)
    written = []
    if "main" not in all_studies:
        return written

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, runs in compared_runs(protocol, results).items():
        histories = [r["val_history"] for r in runs if r["val_history"]]
        if not histories:
            continue
        length = min(len(h) for h in histories)
        epochs = [entry["epoch"] for entry in histories[0][:length]]
        columns = [[h[i]["rel_l2"] for h in histories] for i in range(length)]
        ax.plot(epochs, [statistics.mean(col) for col in columns], label=f"{name}, {len(histories)} seed(s)")
        ax.fill_between(epochs, [min(col) for col in columns], [max(col) for col in columns], alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test relative L2 (mean, band: min-max over seeds)")
    ax.set_title(f"{protocol.data.title}, '{protocol.name}' protocol")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    path = paths.FIGURES / f"accuracy_{protocol.name}_error_vs_epoch.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)

    points = [(s.n_latents, results["runs"][s.run_id]) for s in all_studies.get("latents", []) if s.run_id in results["runs"]]
    if points:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([m for m, _ in points], [run_error(r) for _, r in points], "o-")
        ax.set_xscale("log", base=2)
        ax.set_xticks([m for m, _ in points], [str(m) for m, _ in points])
        ax.set_xlabel("latent tokens M")
        ax.set_ylabel("test relative L2")
        ax.set_ylim(bottom=0)  # a zoomed axis would turn noise-sized differences into a trend
        ax.set_title(f"LRSA on {protocol.data.title}, seed {protocol.seeds[0]}")
        ax.grid(True, alpha=0.3)
        path = paths.FIGURES / f"accuracy_{protocol.name}_error_vs_latents.png"
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)

    with_cases = {name: [r for r in runs if r.get("test_cases")] for name, runs in scored(compared_runs(protocol, results)).items()}
    with_cases = {name: runs for name, runs in with_cases.items() if runs}
    if with_cases:
        path = paths.FIGURES / f"accuracy_{protocol.name}_cd_predicted_vs_true.png"
        _drag_scatter(plt, protocol, with_cases, path)
        written.append(path)
    return written


def _drag_scatter(plt, protocol: Protocol, runs_by_model: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Predicted against CFD drag of every test case, one panel per model, one colour per seed.

    R^2 over a family whose drag spans little is dominated by that spread; the panels show
    whether a model's misses are a shift (all cases off alike) or scatter.
    """
    fig, axes = plt.subplots(1, len(runs_by_model), figsize=(3.2 * len(runs_by_model), 3.4), squeeze=False)
    every = [c[side]["Cd"] for runs in runs_by_model.values() for r in runs for c in r["test_cases"] for side in ("predicted", "true")]
    low, high = min(every), max(every)
    margin = 0.05 * (high - low)
    for ax, (name, runs) in zip(axes[0], runs_by_model.items()):
        for run in runs:
            true = [c["true"]["Cd"] for c in run["test_cases"]]
            predicted = [c["predicted"]["Cd"] for c in run["test_cases"]]
            ax.plot(true, predicted, "o", markersize=4, label=f"seed {run['spec']['seed']}")
        ax.plot([low - margin, high + margin], [low - margin, high + margin], "k--", linewidth=0.8)
        ax.set_xlim(low - margin, high + margin)
        ax.set_ylim(low - margin, high + margin)
        ax.set_aspect("equal")
        ax.set_title(name)
        ax.set_xlabel("Cd, OpenFOAM")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("Cd, predicted")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{protocol.data.title}: drag of the held-out bodies ('{protocol.name}' protocol)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")  # equal aspect panels: keep the axis labels inside
    plt.close(fig)
