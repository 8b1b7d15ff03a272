# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Data-parallel training: two gloo processes under torchrun equal one process with the
same global batch (the global batch is split over the ranks, gradients are averaged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import physicsnemo
import pytest
import torch
from hydra import compose, initialize_config_dir

from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.training.train import CONFIG_DIR, run_training


@pytest.fixture(scope="module")
def darcy_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy_ddp") / "data"
    generate_darcy(folder, n_train=8, n_test=4, solve_resolution=9, resolution=9, seed=7)
    return folder


def overrides(folder, output_dir):
    return [
        f"data.path={folder}",
        f"output_dir={output_dir}",
        "model.n_layers=1",
        "model.n_hidden=16",
        "model.n_head=2",
        "model.n_latents=4",
        "model.n_frequencies=2",
        "training.epochs=2",
        "training.batch_size=4",
        "training.eval_batch_size=1",
        "training.num_workers=0",
        "logging=console",
        "logging.progress_bar=false",
    ]


def test_two_gloo_processes_match_one_process(darcy_folder, tmp_path):
    single, double = tmp_path / "single", tmp_path / "double"
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        run_training(compose(config_name="config", overrides=overrides(darcy_folder, single)))

    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "modulus_lrsa.train", *overrides(darcy_folder, double),
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "on 2 process(es)" in completed.stdout + completed.stderr

    one = physicsnemo.Module.from_checkpoint(str(single / "checkpoints" / "LRSA.0.2.mdlus")).state_dict()
    two = physicsnemo.Module.from_checkpoint(str(double / "checkpoints" / "LRSA.0.2.mdlus")).state_dict()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)

    # Validation covers each case once across ranks, so the metrics agree too.
    metrics_one = json.loads((single / "metrics.json").read_text())["last_validation"]
    metrics_two = json.loads((double / "metrics.json").read_text())["last_validation"]
    assert metrics_two["val/rel_l2/solution"] == pytest.approx(metrics_one["val/rel_l2/solution"], rel=1e-4)
    state = torch.load(double / "checkpoints" / "checkpoint.0.2.pt", weights_only=False)
    assert state["metadata"]["world_size"] == 2 and len(state["metadata"]["rng_states"]) == 2
