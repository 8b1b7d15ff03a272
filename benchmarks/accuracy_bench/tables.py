# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The report's markdown tables, made from the results JSON only (nothing is trained here)."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from typing import Any

from .datasets import HeldOutData
from .protocols import ABLATIONS, Protocol, ordered_runs, studies, wall_clock_runs
from .summary import (
    Comparison,
    compare,
    compared_runs,
    component_count,
    field_error,
    field_errors,
    finished_runs,
    is_3d,
    metric_values,
    run_error,
    scored,
    tuned_label,
)


def _mean_spread(values: list[float]) -> str:
    """Mean ± std (min, max) over seeds; a diverged run's NaN is counted, not averaged."""
    finite = [v for v in values if math.isfinite(v)]
    note = f", {len(values) - len(finite)} diverged" if len(finite) < len(values) else ""
    if not finite:
        return "diverged" if values else "n/a"
    if len(finite) == 1:
        return f"{finite[0]:.4f} (1 seed{note})"
    return f"{statistics.mean(finite):.4f} ± {statistics.stdev(finite):.4f} (min {min(finite):.4f}, max {max(finite):.4f}{note})"


def tables(protocol: Protocol, results: dict[str, Any]) -> str:
    """The report: which dataset (where the file records it), a table per study the protocol runs,
    the equal wall-clock study where stored, then a PARTIAL line naming the unfinished runs."""
    all_studies = studies(protocol)
    lines = dataset_header(results)
    lines += main_tables(protocol, results) if "main" in all_studies else []
    if "precision" in all_studies:
        lines += precision_table(protocol, results)
    if "latents" in all_studies:
        lines += latent_table(protocol, results)
    if "ablation" in all_studies:
        lines += ablation_table(protocol, results)
    if "tuning" in all_studies:
        lines += tuning_table(protocol, results)
    if "loss" in all_studies:
        lines += loss_table(protocol, results)
    if "raw-targets" in all_studies:
        lines += raw_targets_table(protocol, results)
    if "wall_clock" in results:
        lines += wall_clock_table(protocol, results["wall_clock"])
    missing = [s.run_id for s in ordered_runs(protocol) if s.run_id not in results["runs"]]
    if missing:
        lines += ["", f"PARTIAL: {len(missing)} run(s) not finished: {', '.join(missing)}"]
    return "\n".join(lines).strip("\n")


def dataset_header(results: dict[str, Any]) -> list[str]:
    """One line naming the dataset's role and generator seed (files written before they were recorded: none)."""
    dataset = results.get("dataset")
    if not dataset:
        return []
    role = dataset.get("role", "unrecorded")
    meaning = {
        "selection": "the dataset settings are chosen on",
        "confirmation": "drawn with another generator seed to re-measure settings chosen elsewhere, never used to choose them",
    }.get(role, "a role this report does not know")
    source = f", held out from {dataset['held_out_from']}" if dataset.get("held_out_from") else ""
    return [
        f"**Dataset**: `{dataset.get('path', 'n/a')}`{source}, generator seed {dataset.get('generator_seed', 'n/a')}: "
        f"{role} dataset ({meaning}).",
        "",
    ]


def main_tables(protocol: Protocol, results: dict[str, Any]) -> list[str]:
    """The models side by side: errors, time, memory, per-field and Cl/Cd errors."""
    lines: list[str] = []
    main = compared_runs(protocol, results)
    reference_errors = [e for e in (run_error(r) for r in main["Transolver"]) if math.isfinite(e)]

    def versus_transolver(values: list[float], reference: list[float]) -> str:
        values = [v for v in values if math.isfinite(v)]
        return f"{statistics.mean(values) / statistics.mean(reference):.2f}x" if values and reference else "n/a"

    lines += [
        f"**Main comparison** (fp32, {protocol.epochs} epochs, seeds {list(protocol.seeds)}"
        + (", those finished per model in 'seeds'; " if is_3d(protocol) else "; ") +
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
    return lines + (body_tables(protocol, main) if is_3d(protocol) else field_tables(main))


def field_tables(main: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Per-field errors (volume cells and wall faces apart) and Cl/Cd errors, where measured."""
    lines = per_field_table(main)
    if not lines:
        return []
    forces = ["Cl_abs_error", "Cd_abs_error", "Cd_rel_error"]
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


def per_field_table(main: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every target channel's error, volume cells and wall faces apart (nothing where not measured)."""
    runs = [r for group in main.values() for r in group]
    if not any("volume_rel_l2/" in key for r in runs for key in r.get("test_metrics", {})):
        return []
    # Volume columns, then surface columns, each in the trainer's channel order.
    seen = dict.fromkeys(key for r in runs for key in r["test_metrics"])
    columns = [key for key in seen if key.startswith("volume_rel_l2/")]
    columns += [key for key in seen if key.startswith("surface_rel_l2/")]
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


def loss_table(protocol: Protocol, results: dict[str, Any]) -> list[str]:
    """LRSA under each training-loss setting: the fields and the drag it buys or costs."""
    where = _evaluated_on(protocol)
    lines = [
        "",
        f"**Training loss** (LRSA, fp32, seed {protocol.seeds[0]}, {protocol.epochs} epochs; "
        f"{protocol.data.title}: {protocol.data.size}; errors on the {where} cases; Cd in drag counts, "
        "1 count = 0.0001):",
        "",
        f"| force_weight | area-weighted wall | {where} rel. L2 | surface p | Cd error | Cd R^2 | Cd Spearman | "
        "Cd bias (mean predicted - true) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec in studies(protocol)["loss"]:
        settings = f"| {spec.force_weight or 0:g} | {'yes' if spec.surface_area_weighted else 'no'} |"
        run = results["runs"].get(spec.run_id)
        if run is None or run["diverged"]:
            lines.append(f"{settings} {'not run' if run is None else 'diverged'} | | | | | |")
            continue
        metrics = run["test_metrics"]
        cases = run.get("test_cases") or []
        bias = statistics.mean(c["predicted"]["Cd"] - c["true"]["Cd"] for c in cases) * 1e4 if cases else math.nan
        lines.append(
            f"{settings} {run_error(run):.4f} | {metrics.get('surface_rel_l2/p', math.nan):.4f} | "
            f"{metrics.get('Cd_abs_error', math.nan) * 1e4:.1f} | {metrics.get('Cd_r2', math.nan):.3f} | "
            f"{metrics.get('Cd_spearman', math.nan):.3f} | {bias:+.1f} |"
        )
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


def wall_clock_table(protocol: Protocol, study: dict[str, Any]) -> list[str]:
    """The equal wall-clock study (``results["wall_clock"]``): each model's errors after the same training seconds.

    Per model: its planned epochs and seconds, its training seconds (median over the seeds
    finished) against the budget, and its test errors over the seeds finished (diverged
    seeds counted in 'seeds', left out of the numbers), the mean set against the best other
    model's and Transolver's. Then the plan in one line, and a PARTIAL line naming the
    planned runs without results and how far each got.
    """
    plan = study.get("plan")
    if not plan:
        return ["", "**Equal training wall-clock**: not planned yet (the side-by-side timing that plans it is not stored)."]
    planned = [model for model in protocol.models if model in plan["epochs"]]
    specs = wall_clock_runs(replace(protocol, models=tuple(planned)), plan)
    stored = study.get("runs", {})
    by_model = {model: [stored[s.run_id] for s in specs if s.model == model and s.run_id in stored] for model in planned}
    kept = scored(by_model)
    means = {model: statistics.mean(run_error(r) for r in runs) for model, runs in kept.items() if runs}
    budget = float(plan["budget_seconds"])
    runs = [r for group in kept.values() for r in group]
    surface = any(field_error(r, "surface_rel_l2/", "p") is not None for r in runs)
    forces = [key for key in ("Cl_abs_error", "Cd_abs_error", "Cd_rel_error") if metric_values(runs, key)]
    labels = {"Cl_abs_error": "abs. Cl error", "Cd_abs_error": "abs. Cd error", "Cd_rel_error": "rel. Cd error"}
    extra = (["surface p"] if surface else []) + [labels[key] for key in forces]
    lines = [
        "",
        f"**Equal training wall-clock** (interleaved runs on one machine, fp32, seeds {list(protocol.seeds)}: every "
        f"model trains the whole epochs that fit one budget of {budget:.1f} s of training, its LR schedule laid out "
        "over them; planned s = planned epochs times the model's median side-by-side s/epoch; train s = training "
        "time summed over a run's time slices, validation excluded, median over the "
        "seeds finished; test relative L2 after the last epoch, mean ± sample std over the seeds finished, counted "
        "in 'seeds'; vs = ratio of means):",
        "",
        "| model | planned epochs | planned s | train s (of budget) | seeds | test rel. L2 | vs best peer | "
        "vs Transolver |" + "".join(f" {label} |" for label in extra),
        "|---|---|---|---|---|---|---|---|" + "---|" * len(extra),
    ]
    for model in planned:
        group = kept[model]
        seconds = [r["train_seconds"] for r in group if r.get("train_seconds") is not None]
        peers = {name: value for name, value in means.items() if name != model and math.isfinite(value)}
        best = min(peers.items(), key=lambda item: item[1]) if peers else None
        mean = means.get(model)
        cells = [
            str(plan["epochs"][model]),
            f"{plan['planned_seconds'][model]:.1f}",
            f"{statistics.median(seconds):.1f} ({statistics.median(seconds) / budget:.2f}x)" if seconds else "n/a",
            seeds_cell(by_model[model], protocol),
            mean_std([run_error(r) for r in group]),
            f"{mean / best[1]:.2f}x {best[0]}" if mean is not None and best and best[1] > 0 else "n/a",
            f"{mean / means['Transolver']:.2f}x" if mean is not None and means.get("Transolver") else "n/a",
        ]
        if surface:
            cells.append(mean_std(field_errors(group, "surface_rel_l2/", "p")))
        cells += [mean_std(metric_values(group, key)) for key in forces]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    slices = study.get("slices", [])
    rounds = len({entry["round"] for entry in slices})
    missing = [s for s in specs if s.run_id not in stored]
    reference = plan["reference_model"]
    timing = study.get("epoch_timing", {})
    timed = (f" on {timing['device']}, {timing['torch_threads']} thread(s), {timing['rounds']} rounds"
             if {"device", "torch_threads", "rounds"} <= set(timing) else "")
    lines += [
        "",
        f"Plan: {plan['rule']}. Reference model {reference}: {plan['epochs'][reference]} epochs at "
        f"{plan['epoch_seconds'][reference]:.2f} s/epoch (median, timed side by side{timed}) = the budget; "
        f"{plan['slices']} slices of {plan['slice_seconds']:.1f} s per run; the slices took {rounds} round(s)"
        + (" so far." if missing else "."),
    ]
    unplanned = [model for model in protocol.models if model not in plan["epochs"]]
    if unplanned:
        lines.append(f"\nModels the stored plan has no epochs for (not run in this study): {', '.join(unplanned)}.")
    if missing:
        progress = []
        for spec in missing:
            done = [entry["epochs_done"] or 0 for entry in slices if entry["run_id"] == spec.run_id]
            progress.append(f"{spec.run_id} ({f'epoch {max(done)} of {spec.epochs}' if done else 'not started'})")
        lines += ["", f"PARTIAL: {len(missing)} of {len(specs)} planned wall-clock run(s) without results: "
                  + ", ".join(progress)]
    return lines


def _setting(value: float | None, default: float) -> str:
    return f"{default:g} (default)" if value is None or value == default else f"{value:g}"


def _evaluated_on(protocol: Protocol) -> str:
    """What a protocol's errors are measured on: held-out training cases never see the test split."""
    return "validation" if isinstance(protocol.data, HeldOutData) else "test"


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


#: The issue's aims for default LRSA on the 3D bodies (issue 27, item 2).
AIM_ERROR_RATIO = 0.75
AIM_CD_R2 = 0.9
STRETCH_CD_R2 = 0.97
#: One drag count is 1e-4 of a force coefficient.
DRAG_COUNT = 1e-4


def seeds_cell(runs: list[dict[str, Any]], protocol: Protocol) -> str:
    """Seeds the numbers are over, of the protocol's, so a partial table never reads as the full
    protocol; diverged runs are counted apart (their numbers are left out)."""
    diverged = sum(bool(r["diverged"]) for r in runs)
    return f"{len(runs) - diverged} of {len(protocol.seeds)}" + (f" (+{diverged} diverged, left out)" if diverged else "")


def counts(values: list[float]) -> str:
    """Coefficient errors in drag counts, mean ± sample std over seeds."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0] / DRAG_COUNT:.1f}"
    return f"{statistics.mean(values) / DRAG_COUNT:.1f} ± {statistics.stdev(values) / DRAG_COUNT:.1f}"


def correlation(values: list[float]) -> str:
    """R^2 or a rank correlation, mean ± sample std over seeds."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def _vector_label(runs: list[dict[str, Any]], prefix: str, field: str, name: str) -> str:
    n = component_count(runs, prefix, field)
    return f"{name}, mean of {n} components" if n > 1 else name


def body_tables(protocol: Protocol, main: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The 3D body's report: the fields the issue names, forces in drag counts, Cd across the family, the aims."""
    kept = scored(main)
    runs = [r for group in kept.values() for r in group]
    wall_shear = _vector_label(runs, "surface_rel_l2/", "wallShearStress", "wall shear")
    velocity = _vector_label(runs, "volume_rel_l2/", "U", "volume U")
    channels = {len(r["test_rel_l2"]) for r in runs}
    mean_label = f"mean of the {channels.pop()} channels" if len(channels) == 1 else "mean of the channels"
    lines = [
        "",
        "**Fields on the held-out bodies** (test relative L2 after the last epoch, per case then averaged over the "
        "test cases; surface = body faces, volume = cells; a vector's number is the plain mean of its components' "
        "relative L2, not the error of the vector; mean ± sample std over the seeds finished, counted in 'seeds'):",
        "",
        f"| model | seeds | surface p | {wall_shear} | {velocity} | volume p | {mean_label} |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, group in kept.items():
        cells = [
            mean_std(field_errors(group, "surface_rel_l2/", "p")),
            mean_std(field_errors(group, "surface_rel_l2/", "wallShearStress")),
            mean_std(field_errors(group, "volume_rel_l2/", "U")),
            mean_std(field_errors(group, "volume_rel_l2/", "p")),
            mean_std([run_error(r) for r in group]),
        ]
        lines.append(f"| {name} | {seeds_cell(main[name], protocol)} | " + " | ".join(cells) + " |")
    lines += per_field_table(kept)
    lines += [
        "",
        "**Forces on the held-out bodies** in drag counts (1 count = 0.0001 of the coefficient), integrated from the "
        "predicted surface pressure and wall shear against the same integral of the OpenFOAM fields: mean absolute "
        "error over the test cases, Cd also split into its pressure and friction (viscous) parts; rel. Cd = mean "
        "|ΔCd| / Cd; mean ± sample std over seeds:",
        "",
        "| model | seeds | Cd | Cd pressure part | Cd friction part | Cl | side force Cs | rel. Cd error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, group in kept.items():
        cells = [counts(metric_values(group, f"{c}_abs_error")) for c in ("Cd", "Cd_pressure", "Cd_viscous", "Cl", "Cs")]
        cells.append(mean_std(metric_values(group, "Cd_rel_error")))
        lines.append(f"| {name} | {seeds_cell(main[name], protocol)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Drag and lift across the family** (over the test bodies: R^2 = 1 - residual / total sum of squares about "
        "the true mean, Spearman's rank correlation of predicted with true; mean ± sample std over seeds):",
        "",
        "| model | seeds | Cd R^2 | Cd Spearman | Cl R^2 | Cl Spearman |",
        "|---|---|---|---|---|---|",
    ]
    for name, group in kept.items():
        cells = [correlation(metric_values(group, key)) for key in ("Cd_r2", "Cd_spearman", "Cl_r2", "Cl_spearman")]
        lines.append(f"| {name} | {seeds_cell(main[name], protocol)} | " + " | ".join(cells) + " |")
    return lines + ["", *aims(protocol, main)]


def aims(protocol: Protocol, main: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The issue's aims for default LRSA, each as the measured numbers and whether they meet it.

    Means over each model's seeds that did not diverge; the heading counts them.
    """
    finished = [f"{name} {seeds_cell(runs, protocol)}" for name, runs in main.items() if name in protocol.models]
    incomplete = any(len(main[name]) < len(protocol.seeds) for name in protocol.models)
    lines = [
        f"**The issue's aims for default LRSA** (means over the seeds finished, seeds per model: {', '.join(finished)}"
        + ("; provisional until every model has all its seeds" if incomplete else "") + "):",
        "",
    ]
    kept = scored(main)
    surface = compare(protocol, kept, lambda runs: field_errors(runs, "surface_rel_l2/", "p"))
    mean = compare(protocol, kept, lambda runs: [run_error(r) for r in runs])
    lines.append(f"- Surface p relative L2: {_ratio_aim(surface)}.")
    lines.append(f"- Mean relative L2 over the channels: {_ratio_aim(mean)}.")
    r2 = metric_values(kept["LRSA"], "Cd_r2")
    if r2:
        value = statistics.mean(r2)
        lines.append(
            f"- Cd R^2: LRSA {value:.4f} (aim ≥ {AIM_CD_R2:g}: {_verdict(value >= AIM_CD_R2)}; "
            f"stretch ≥ {STRETCH_CD_R2:g}: {_verdict(value >= STRETCH_CD_R2)})."
        )
    else:
        lines.append(f"- Cd R^2 (aim ≥ {AIM_CD_R2:g}): not measured (LRSA has no finished run with Cd R^2).")
    drag = compare(protocol, kept, lambda runs: metric_values(runs, "Cd_abs_error"))
    lines.append(f"- Cd error lower than every peer's: {_lower_aim(protocol, drag)}.")
    return lines


def _verdict(met: bool) -> str:
    return "met" if met else "not met"


def _not_measured(comparison: Comparison) -> str:
    return "not measured (" + ("LRSA has no finished run" if comparison.lrsa is None else "no peer has a finished run") + ")"


def _ratio_aim(comparison: Comparison) -> str:
    best = comparison.best_peer
    if comparison.lrsa is None or best is None:
        return _not_measured(comparison)
    return (
        f"LRSA {comparison.lrsa:.4f}, best peer {best[0]} {best[1]:.4f}: {comparison.ratio:.3f}x "
        f"(aim ≤ {AIM_ERROR_RATIO:g}x: {_verdict(comparison.ratio <= AIM_ERROR_RATIO)})"
    )


def _lower_aim(protocol: Protocol, comparison: Comparison) -> str:
    if comparison.lrsa is None or not comparison.peers:
        return _not_measured(comparison)
    peers = ", ".join(f"{name} {value / DRAG_COUNT:.1f}" for name, value in comparison.peers.items())
    missing = [name for name in protocol.models if name != "LRSA" and name not in comparison.peers]
    met = all(comparison.lrsa < value for value in comparison.peers.values())
    return (
        f"LRSA {comparison.lrsa / DRAG_COUNT:.1f} counts against {peers}: {_verdict(met)}"
        + (f" among the peers finished ({', '.join(missing)} not run)" if missing and met else "")
    )
