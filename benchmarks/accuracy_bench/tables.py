# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The report's markdown tables, made from the results JSON only (nothing is trained here)."""

from __future__ import annotations

import math
import statistics
from typing import Any

from .datasets import HeldOutAirfoilData
from .protocols import ABLATIONS, Protocol, ordered_runs, studies
from .summary import compared_runs, finished_runs, run_error, tuned_label


def _mean_spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.4f} (1 seed)"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (min {min(values):.4f}, max {max(values):.4f})"


def tables(protocol: Protocol, results: dict[str, Any]) -> str:
    """The report: a table per study the protocol runs, then a PARTIAL line naming the unfinished runs."""
    all_studies = studies(protocol)
    lines = main_tables(protocol, results) if "main" in all_studies else []
    if "precision" in all_studies:
        lines += precision_table(protocol, results)
    if "latents" in all_studies:
        lines += latent_table(protocol, results)
    if "ablation" in all_studies:
        lines += ablation_table(protocol, results)
    if "tuning" in all_studies:
        lines += tuning_table(protocol, results)
    if "raw-targets" in all_studies:
        lines += raw_targets_table(protocol, results)
    missing = [s.run_id for s in ordered_runs(protocol) if s.run_id not in results["runs"]]
    if missing:
        lines += ["", f"PARTIAL: {len(missing)} run(s) not finished: {', '.join(missing)}"]
    return "\n".join(lines).strip("\n")


def main_tables(protocol: Protocol, results: dict[str, Any]) -> list[str]:
    """The models side by side: errors, time, memory, per-field and Cl/Cd errors."""
    lines: list[str] = []
    main = compared_runs(protocol, results)
    reference_errors = [run_error(r) for r in main["Transolver"]]

    def versus_transolver(values: list[float], reference: list[float]) -> str:
        return f"{statistics.mean(values) / statistics.mean(reference):.2f}x" if values and reference else "n/a"

    lines += [
        f"**Main comparison** (fp32, {protocol.epochs} epochs, seeds {list(protocol.seeds)}; "
        "test relative L2 after the last epoch: mean ± sample std over seeds; training time per "
        "epoch: median over seeds of each run's median epoch, min-max; runs at different times see "
        "different machine load, so compare times in the side-by-side table):",
        "",
        "| model | width / MLP ratio | parameters | seeds | test rel. L2 | error vs Transolver | "
        "train s/epoch (separate runs) | peak memory MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in main.items():
        errors = [run_error(r) for r in runs]
        seconds = [r["epoch_seconds_median"] for r in runs if r["epoch_seconds_median"]]
        width, ratio = protocol.widths.get(name, protocol.widths["LRSA"])
        time_text = f"{statistics.median(seconds):.2f} ({min(seconds):.2f}-{max(seconds):.2f})" if seconds else "n/a"
        memory = f"{statistics.median([r['peak_memory_mib'] for r in runs]):.0f}" if runs else "n/a"
        parameters = runs[0]["parameters"] if runs else results.get("parameters", {}).get(name)
        lines.append(
            f"| {name} | {width} / {ratio:g} | {format_count(parameters)} | {len(runs)} | {_mean_spread(errors)} | "
            f"{versus_transolver(errors, reference_errors)} | {time_text} | {memory} |"
        )
    if protocol.tuned_lrsa is not None:
        lines.append(
            f"\n'{tuned_label(protocol)}': LRSA with these settings chosen on {protocol.tuned_from}, "
            "which validates on training cases only; everything else as the LRSA row."
        )
    timing = results.get("epoch_timing")
    if timing:
        seconds = timing["seconds"]
        paired = [a / b for a, b in zip(seconds["LRSA"], seconds["Transolver"])]
        lines += [
            "",
            f"**Training time per epoch, side by side** (one process, {timing['device']}, "
            f"{timing['torch_threads']} thread(s); the models take turns, one epoch each per round, "
            f"{timing['rounds']} rounds after a warm-up; median and min-max over rounds):",
            "",
            "| model | s/epoch | LRSA / model, per round |",
            "|---|---|---|",
        ]
        for name in seconds:
            ratios = [a / b for a, b in zip(seconds["LRSA"], seconds[name])]
            lines.append(
                f"| {name} | {statistics.median(seconds[name]):.2f} ({min(seconds[name]):.2f}-{max(seconds[name]):.2f}) | "
                f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |"
            )
        lines.append(f"\nLRSA / Transolver time per epoch: {statistics.median(paired):.2f}x (median of rounds).")
    return lines + field_tables(main)


def field_tables(main: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Per-field errors (volume cells and wall faces apart) and Cl/Cd errors, where measured."""
    runs = [r for group in main.values() for r in group]
    if not any("volume_rel_l2/" in key for r in runs for key in r.get("test_metrics", {})):
        return []
    # Volume columns, then surface columns, each in the trainer's channel order.
    seen = dict.fromkeys(key for r in runs for key in r["test_metrics"])
    columns = [key for key in seen if key.startswith("volume_rel_l2/")]
    columns += [key for key in seen if key.startswith("surface_rel_l2/")]
    forces = ["Cl_abs_error", "Cd_abs_error", "Cd_rel_error"]
    lines = [
        "",
        "**Per field** (test relative L2 after the last epoch, per case then averaged; volume = cells, "
        "surface = wall faces; mean ± sample std over seeds):",
        "",
        "| model | " + " | ".join(key.replace("_rel_l2/", " ") for key in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, group in main.items():
        cells = [mean_std([r["test_metrics"][key] for r in group if key in r["test_metrics"]]) for key in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Lift and drag** from the predicted surface pressure and wall shear, against the same integral of "
        "the OpenFOAM fields (mean over test cases; mean ± sample std over seeds):",
        "",
        "| model | abs. Cl error | abs. Cd error | rel. Cd error |",
        "|---|---|---|---|",
    ]
    for name, group in main.items():
        cells = [mean_std([r["test_metrics"][key] for r in group if key in r["test_metrics"]]) for key in forces]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def format_count(parameters: int | None) -> str:
    return "n/a" if parameters is None else f"{parameters:,}"


def mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def precision_table(protocol: Protocol, results: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"**Mixed precision** (seed {protocol.seeds[0]}, {protocol.precision_epochs} epochs; diverged = "
        "the trainer stopped on repeated NaN/Inf steps or the final error is not finite):",
        "",
        "| model | precision | test rel. L2 | diverged | NaN/Inf steps skipped | train s/epoch |",
        "|---|---|---|---|---|---|",
    ]
    for spec in studies(protocol)["precision"]:
        run = results["runs"].get(spec.run_id)
        if run is None:
            lines.append(f"| {spec.model} | {spec.precision} | not run | | | |")
            continue
        seconds = run["epoch_seconds_median"]
        lines.append(
            f"| {spec.model} | {spec.precision} | {run_error(run):.4f} | {'yes' if run['diverged'] else 'no'} | "
            f"{run['skipped_steps']} | {f'{seconds:.2f}' if seconds else 'n/a'} |"
        )
    return lines


def latent_table(protocol: Protocol, results: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"**Latent tokens M** (LRSA, fp32, seed {protocol.seeds[0]}, {protocol.epochs} epochs):",
        "",
        "| M | parameters | test rel. L2 | train s/epoch |",
        "|---|---|---|---|",
    ]
    for spec in studies(protocol)["latents"]:
        run = results["runs"].get(spec.run_id)
        if run is None:
            lines.append(f"| {spec.n_latents} | not run | | |")
            continue
        lines.append(f"| {spec.n_latents} | {run['parameters']:,} | {run_error(run):.4f} | {run['epoch_seconds_median']:.2f} |")
    return lines


def tuning_table(protocol: Protocol, results: dict[str, Any]) -> list[str]:
    """LRSA under each tried setting, with the training/validation gap."""
    lines = [
        "",
        f"**LRSA settings** (fp32, seed {protocol.seeds[0]}, {protocol.epochs} epochs; "
        f"{protocol.data.title}: {protocol.data.size}; loss = relative L2 on normalized targets, "
        "the training loss averaged over the last epoch's random points):",
        "",
        "| n_frequencies | logit_scale | validation rel. L2 | volume p | surface p | abs. Cl error | training loss | "
        "validation loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec in studies(protocol)["tuning"]:
        settings = f"| {_setting(spec.n_frequencies, 8)} | {_setting(spec.logit_scale, 10.0)} |"
        run = results["runs"].get(spec.run_id)
        if run is None:
            lines.append(f"{settings} not run | | | | | |")
            continue
        metrics = run["test_metrics"]
        cells = [run_error(run)] + [metrics.get(key, math.nan) for key in
                                 ("volume_rel_l2/p", "surface_rel_l2/p", "Cl_abs_error")]
        cells += [run["train_history"][-1]["loss"], metrics.get("loss", math.nan)]
        lines.append(f"{settings} " + " | ".join(f"{value:.4f}" for value in cells) + " |")
    return lines


def raw_targets_table(protocol: Protocol, results: dict[str, Any]) -> list[str]:
    """Each model on free-stream scaled and on physical-unit targets, same seed; errors in
    physical units either way."""
    seed = protocol.seeds[0]
    lines = [
        "",
        f"**Free-stream scaled against physical-unit targets** (fp32, seed {seed}, {protocol.epochs} epochs; "
        "`data.free_stream=null` trains on raw U, p, nut; errors are in physical units in both):",
        "",
        "| model | targets | test rel. L2 | vs Transolver | volume p | surface p | volume nut | abs. Cl error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    main = {(s.model, s.seed): s for s in studies(protocol)["main"]}
    raw = {s.model: s for s in studies(protocol)["raw-targets"]}
    for label, pick in (("free-stream", lambda m: main.get((m, seed))), ("raw", raw.get)):
        reference = results["runs"].get(getattr(pick("Transolver"), "run_id", ""))
        for model in protocol.models:
            spec = pick(model)
            run = None if spec is None else results["runs"].get(spec.run_id)
            if run is None:
                lines.append(f"| {model} | {label} | not run | | | | | |")
                continue
            metrics = run["test_metrics"]
            ratio = f"{run_error(run) / run_error(reference):.2f}x" if reference else "n/a"
            cells = [metrics.get(key, math.nan) for key in
                     ("volume_rel_l2/p", "surface_rel_l2/p", "volume_rel_l2/nut", "Cl_abs_error")]
            lines.append(f"| {model} | {label} | {run_error(run):.4f} | {ratio} | "
                         + " | ".join(f"{value:.4f}" for value in cells) + " |")
    return lines


def _setting(value: float | None, default: float) -> str:
    return f"{default:g} (default)" if value is None or value == default else f"{value:g}"


def _evaluated_on(protocol: Protocol) -> str:
    """What a protocol's errors are measured on: held-out training cases never see the test split."""
    return "validation" if isinstance(protocol.data, HeldOutAirfoilData) else "test"


def ablation_table(protocol: Protocol, results: dict[str, Any]) -> list[str]:
    all_studies = studies(protocol)
    lines = [
        "",
        f"**Ablations** (fp32, seeds {list(protocol.seeds)}, {protocol.epochs} epochs; mean ± sample std over "
        "seeds; change of the mean relative to LRSA's over the same seeds):",
        "",
        f"| variant | what changes | parameters | seeds | {_evaluated_on(protocol)} rel. L2 | change |",
        "|---|---|---|---|---|---|",
    ]
    by_variant = {
        name: finished_runs(results, [s for s in all_studies["ablation"] if s.model == name]) for name in ("LRSA", *ABLATIONS)
    }
    base_by_seed = {r["spec"]["seed"]: run_error(r) for r in by_variant["LRSA"]}
    for name, runs in by_variant.items():
        what = ABLATIONS.get(name, "LRSA as specified")
        if not runs:
            lines.append(f"| {name} | {what} | not run | | | |")
            continue
        errors = [run_error(r) for r in runs]
        base_errors = [base_by_seed[r["spec"]["seed"]] for r in runs if r["spec"]["seed"] in base_by_seed]
        change = (
            f"{statistics.mean(errors) / statistics.mean(base_errors) - 1:+.0%}"
            if len(base_errors) == len(errors) else "n/a"
        )
        lines.append(f"| {name} | {what} | {runs[0]['parameters']:,} | {len(runs)} | {_mean_spread(errors)} | {change} |")
    return lines
