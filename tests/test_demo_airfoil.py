# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The main demo at CI size: OpenFOAM cases, training, held-out predictions, figures, metrics.

The same code path as ``make demo``, with 5 coarse cases and 1-2 epochs. A second run
with a tiny time budget reuses the solved cases and still leaves usable outputs.
Skipped without OpenFOAM, failed under CI=true.
"""

from __future__ import annotations

import json
import math

import pytest
import vtk
from openfoam_utils import require_openfoam  # noqa: F401  (pytest fixture)

from modulus_lrsa.demos.airfoil import main

pytestmark = pytest.mark.openfoam

TINY = ["--model", "n_layers=1", "n_hidden=16", "n_head=2", "n_latents=8"]


def _finite_numbers(value) -> bool:
    if isinstance(value, dict):
        return all(_finite_numbers(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite_numbers(item) for item in value)
    return not isinstance(value, float) or math.isfinite(value)


def _check_outputs(out) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    assert _finite_numbers(metrics)
    for name in ("pressure_coefficient.png", "fields.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "lrsa_airfoil_demo.mdlus").is_file() and (out / "lrsa_airfoil_demo.data.json").is_file()
    for case in metrics["held_out_cases"]:
        reader = vtk.vtkXMLMultiBlockDataReader()
        reader.SetFileName(case["prediction"])
        reader.Update()
        assert reader.GetOutput().GetNumberOfBlocks() == 2
    held_out = metrics["held_out"]
    assert {"surface/p", "p", "U[0]", "nut"} <= set(held_out["rel_l2"])
    assert held_out["abs_error_Cl"]["mean"] <= held_out["abs_error_Cl"]["worst"]
    assert math.isfinite(metrics["from_wall_only"]["Cl"])
    assert {"openfoam", "cache", "training", "prediction", "figures", "total"} <= set(metrics["seconds"])
    return metrics


def test_demo_end_to_end_then_a_tiny_budget_reuses_the_cases(require_openfoam, tmp_path, capsys, caplog):
    out = tmp_path / "demo"
    assert main(["--out", str(out), "--n-cases", "5", "--epochs", "2", *TINY]) == 0
    printed = capsys.readouterr().out
    metrics = _check_outputs(out)
    assert metrics["epochs_run"] == 2 and metrics["cases"]["held_out"] == 1
    assert "[demo] OpenFOAM" in printed and "[demo] [5/5] case_" in printed and "unseen airfoils" in printed
    # lrsa-train's epoch lines (on the console under make demo; pytest captures the logging).
    assert "epoch 2/2: train loss" in caplog.text

    assert main(["--out", str(out), "--n-cases", "5", "--time-budget", "1", *TINY]) == 0
    printed = capsys.readouterr().out
    metrics = _check_outputs(out)
    assert metrics["epochs"] == 1 and metrics["seconds"]["openfoam"] < 10  # solved cases were reused
    assert "converged" in printed
