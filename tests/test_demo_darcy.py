# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The demo end to end at toy size: data, budgeted training, evaluation, figure, model, summary."""

from __future__ import annotations

import json

import numpy as np
import physicsnemo
import pytest

from modulus_lrsa.demos.darcy import _plan_epochs, build_parser, main
from modulus_lrsa.inference.predict import main as predict


def test_a_fixed_number_of_epochs_is_trained_without_a_time_limit(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main([
        "--out", str(out), "--n-train", "8", "--n-test", "2", "--resolution", "9", "--epochs", "1",
        "--model", "n_hidden=16", "n_layers=1", "n_latents=4",
    ]) == 0
    assert "1 epochs as requested" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and not metrics["stopped_by_time_limit"]


def test_demo_writes_metrics_figure_and_a_usable_model(tmp_path, capsys):
    out = tmp_path / "demo"
    status = main([
        "--out", str(out), "--n-train", "16", "--n-test", "6", "--resolution", "15",
        "--time-budget", "120", "--max-epochs", "2", "--model", "n_hidden=16", "n_layers=1", "n_latents=8",
    ])
    assert status == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"relative L2 error is {metrics['test_rel_l2_mean']:.4f}" in printed

    assert metrics["test_samples"] == 6 and metrics["train_samples"] == 16 and metrics["resolution"] == 15
    assert 1 <= metrics["epochs"] <= 2 and metrics["optimizer_steps"] == 2 * metrics["epochs"]
    assert metrics["test_rel_l2_mean"] <= metrics["test_rel_l2_max"] and np.isfinite(metrics["test_rel_l2_mean"])
    assert metrics["model"]["n_hidden"] == 16 and metrics["model"]["parameters"] > 0
    assert (out / "predictions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    model = physicsnemo.Module.from_checkpoint(str(out / "lrsa_darcy_demo.mdlus"))
    assert sum(p.numel() for p in model.parameters()) == metrics["model"]["parameters"]
    # The exported model predicts on the demo's own data with lrsa-predict.
    assert predict([str(out / "lrsa_darcy_demo.mdlus"), str(out / "data"), "--samples", "0", "-o", str(tmp_path / "p")]) == 0
    quantities = json.loads((tmp_path / "p" / "quantities.json").read_text())
    assert quantities["samples"][0]["rel_l2"] == pytest.approx(quantities["mean_rel_l2"])


@pytest.mark.parametrize(
    "budget, seconds_per_sample, validation_seconds, expected",
    [
        (540.0, 0.001, 0.5, 200),  # a GPU: the epoch cap
        (540.0, 0.025, 10.0, 34),  # 2 CPU cores: (540 - 60 - 25 - 3 * 10) / (500 * 0.025)
        (30.0, 0.05, 10.0, 1),  # budget already spent: still one epoch
    ],
)
def test_epochs_follow_the_time_budget(budget, seconds_per_sample, validation_seconds, expected):
    args = build_parser().parse_args(["--time-budget", str(budget)])
    assert _plan_epochs(args, elapsed=60.0, seconds_per_sample=seconds_per_sample, n_train=500,
                        validation_seconds=validation_seconds) == expected
