# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""What the README and docs/benchmarks.md show: the README's compact table, and the
generated block of docs/benchmarks.md between its begin/end markers."""

from __future__ import annotations

import math
import statistics
from typing import Any

from modulus_lrsa.atomic import atomic_write_text

from . import paths
from .protocols import Protocol, studies
from .summary import compared_runs, component_count, field_errors, is_3d, metric_values, run_error, scored
from .tables import aims, correlation, counts, format_count, mean_std, seeds_cell, tables

DOCS_BEGIN = "<!-- accuracy:begin -->"
DOCS_END = "<!-- accuracy:end -->"


def readme_table(protocol: Protocol, results: dict[str, Any]) -> str:
    """Compact main-comparison table for the README (same numbers as :func:`tables.tables`)."""
    all_studies = studies(protocol)
    if "main" not in all_studies:
        raise SystemExit(f"protocol '{protocol.name}' has no main comparison for the README")
    main = compared_runs(protocol, results)
    if is_3d(protocol):
        return body_readme_table(protocol, results, main)
    # Diverged runs (NaN) are no model's accuracy; the full report counts them.
    finite = {name: [e for e in (run_error(r) for r in runs) if math.isfinite(e)] for name, runs in main.items()}
    reference = statistics.mean(finite["Transolver"]) if finite["Transolver"] else math.nan
    fp16 = {
        spec.model: results["runs"][spec.run_id]
        for spec in all_studies.get("precision", [])
        if spec.precision == "fp16" and spec.run_id in results["runs"]
    }
    forces = any("Cl_abs_error" in r.get("test_metrics", {}) for runs in main.values() for r in runs)
    extra = ["abs. Cl error", "rel. Cd error"] if forces else []
    if "precision" in all_studies:
        extra.append("fp16 training")
    lines = [
        f"{protocol.data.title}, {protocol.data.size}, "
        f"{protocol.epochs} epochs, seeds {list(protocol.seeds)} (`benchmarks/accuracy.py --protocol {protocol.name}`, "
        "docs/benchmarks.md):",
        "",
        "| model | parameters | test rel. L2 (mean ± std) | vs Transolver |" + "".join(f" {c} |" for c in extra),
        "|---|---|---|---|" + "---|" * len(extra),
    ]
    for name, runs in main.items():
        errors = finite[name]
        cells = [
            f"{statistics.mean(errors):.4f} ± {statistics.stdev(errors):.4f}" if len(errors) > 1 else "n/a",
            f"{statistics.mean(errors) / reference:.2f}x" if errors and math.isfinite(reference) else "n/a",
        ]
        if forces:
            cells += [mean_std([r["test_metrics"][key] for r in runs if key in r["test_metrics"]])
                      for key in ("Cl_abs_error", "Cd_rel_error")]
        if "precision" in all_studies:
            run16 = fp16.get(name)
            cells.append("not run" if run16 is None else ("diverged" if run16["diverged"] else "stable"))
        parameters = runs[0]["parameters"] if runs else results.get("parameters", {}).get(name)
        lines.append(f"| {name} | {format_count(parameters)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def body_readme_table(protocol: Protocol, results: dict[str, Any], main: dict[str, list[dict[str, Any]]]) -> str:
    """The README's 3D table: the fields and drag the issue names, seeds finished per model, then the aims."""
    kept = scored(main)
    runs = [r for group in kept.values() for r in group]
    vectors = [f"{label} as the mean of its {n} components'" for label, n in (
        ("wall shear", component_count(runs, "surface_rel_l2/", "wallShearStress")),
        ("volume U", component_count(runs, "volume_rel_l2/", "U")),
    ) if n > 1]
    lines = [
        f"{protocol.data.title}, {protocol.data.size}, {protocol.epochs} epochs, seeds finished per model in "
        f"'seeds' (`benchmarks/accuracy.py --protocol {protocol.name}`, docs/benchmarks.md). Test relative L2 on the "
        "held-out bodies" + "".join(f", {text}" for text in vectors)
        + "; Cd error in drag counts (1e-4); mean ± sample std over seeds:",
        "",
        "| model | parameters | seeds | surface p | wall shear | volume U | volume p | mean rel. L2 | Cd error (counts) | "
        "Cd R^2 | Cd Spearman |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, group in kept.items():
        cells = [
            seeds_cell(main[name], protocol),
            mean_std(field_errors(group, "surface_rel_l2/", "p")),
            mean_std(field_errors(group, "surface_rel_l2/", "wallShearStress")),
            mean_std(field_errors(group, "volume_rel_l2/", "U")),
            mean_std(field_errors(group, "volume_rel_l2/", "p")),
            mean_std([run_error(r) for r in group]),
            counts(metric_values(group, "Cd_abs_error")),
            correlation(metric_values(group, "Cd_r2")),
            correlation(metric_values(group, "Cd_spearman")),
        ]
        parameters = main[name][0]["parameters"] if main[name] else results.get("parameters", {}).get(name)
        lines.append(f"| {name} | {format_count(parameters)} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *aims(protocol, main)])


def update_docs(protocol: Protocol, results: dict[str, Any]) -> None:
    """Rewrite the protocol's generated block of docs/benchmarks.md with :func:`tables.tables`.

    A protocol without a block yet (its first results) gets one appended at the end of the file.
    """
    text = paths.DOCS_PATH.read_text()
    begin, end = f"{DOCS_BEGIN[:-4]} {protocol.name} -->", f"{DOCS_END[:-4]} {protocol.name} -->"
    if begin not in text and end not in text:
        # A protocol's first results: its block goes at the end, under its own heading, to be moved by hand at will.
        text = f"{text.rstrip()}\n\n## Results: `{protocol.name}` protocol, {protocol.data.title}\n\n{begin}\n{end}\n"
    if begin not in text or end not in text:
        raise SystemExit(f"{paths.DOCS_PATH} has only one of '{begin}' and '{end}'; add the other around the block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    command = f"`.venv/bin/python {results.get('command', 'benchmarks/accuracy.py')}`"
    block = (
        f"{begin}\n<!-- generated by benchmarks/accuracy.py --protocol {protocol.name} --update-docs "
        f"from {paths.results_path(protocol.name).relative_to(paths.ROOT)}; do not edit by hand -->\n\n"
        f"Produced by {command}.\n\n{tables(protocol, results)}\n{end}"
    )
    atomic_write_text(paths.DOCS_PATH, head + block + tail)
