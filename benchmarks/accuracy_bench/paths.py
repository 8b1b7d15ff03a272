# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Where the benchmark reads and writes: the checkout, its outputs, docs and results.

The other modules read these as ``paths.ROOT`` (never ``from .paths import ROOT``) when
they run, so a test can point the benchmark at a temporary checkout.
"""

from __future__ import annotations

from pathlib import Path

#: The checkout: datasets, outputs and results lie below it.
ROOT = Path(__file__).resolve().parents[2]
#: The documented command line; every child process runs it too.
ENTRY_POINT = Path(__file__).resolve().parents[1] / "accuracy.py"
DOCS_PATH = ROOT / "docs" / "benchmarks.md"
FIGURES = ROOT / "docs" / "figures"


def protocol_outputs(name: str) -> Path:
    """Trainer outputs (one folder per run) and per-run logs of one protocol."""
    return ROOT / "outputs" / "benchmarks" / "accuracy" / name


def results_path(name: str) -> Path:
    """The protocol's results JSON, the one file the tables, figures and docs are made from."""
    return ROOT / "benchmarks" / "results" / f"accuracy_{name.replace('-', '_')}.json"
