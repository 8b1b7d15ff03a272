# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""A training process killed mid-run resumes from its last complete checkpoint and ends
with exactly the parameters of a run that was never interrupted (fixed seeds, fp32)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import physicsnemo
import pytest
import torch

from modulus_lrsa.data.darcy import generate_darcy

EPOCHS = 3


@pytest.fixture(scope="module")
def darcy_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy_resume") / "data"
    generate_darcy(folder, n_train=32, n_test=4, solve_resolution=9, resolution=9, seed=5)
    return folder


def overrides(folder, output_dir):
    return [
        f"data.path={folder}",
        f"output_dir={output_dir}",
        # Random point subsets and dropout: both random streams must resume where they were.
        "data.view=points",
        "data.train_points=40",
        "model.dropout=0.1",
        "model.n_layers=1",
        "model.n_hidden=16",
        "model.n_head=2",
        "model.n_latents=4",
        "model.n_frequencies=2",
        f"training.epochs={EPOCHS}",
        "training.batch_size=2",
        "training.keep_checkpoints=3",
        "training.num_workers=0",
        "logging=console",
        "logging.progress_bar=false",
    ]


def final_parameters(output_dir):
    model = physicsnemo.Module.from_checkpoint(str(output_dir / "checkpoints" / f"LRSA.0.{EPOCHS}.mdlus"))
    return model.state_dict()


def train_command(darcy_folder, output_dir):
    return [sys.executable, "-m", "modulus_lrsa.train", *overrides(darcy_folder, output_dir)]


# Both runs are identical single-threaded processes: with several threads, BLAS may pick
# its thread count by machine load, and a different summation order is not a resume bug.
SINGLE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MKL_DYNAMIC": "FALSE"}


def test_a_killed_run_resumes_to_the_parameters_of_an_uninterrupted_run(darcy_folder, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    finished = subprocess.run(train_command(darcy_folder, straight), capture_output=True, text=True,
                              timeout=300, env=SINGLE_THREAD)
    assert finished.returncode == 0, finished.stderr[-3000:]

    command = train_command(darcy_folder, interrupted)
    first_checkpoint = interrupted / "checkpoints" / "checkpoint.0.1.pt"
    with open(tmp_path / "first_attempt.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=SINGLE_THREAD)
        deadline = time.monotonic() + 240
        while not first_checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        # SIGKILL: no handler, no flush, exactly like a node failure or an OOM kill.
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert first_checkpoint.exists(), (tmp_path / "first_attempt.log").read_text()[-2000:]
    assert not (interrupted / "checkpoints" / f"checkpoint.0.{EPOCHS}.pt").exists(), "the run finished before the kill"

    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=SINGLE_THREAD)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "resumed from" in completed.stdout + completed.stderr

    expected, resumed = final_parameters(straight), final_parameters(interrupted)
    assert expected.keys() == resumed.keys()
    for name in expected:
        torch.testing.assert_close(resumed[name], expected[name], rtol=1e-6, atol=1e-7, msg=name)
