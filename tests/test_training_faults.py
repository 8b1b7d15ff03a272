# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""lrsa-train when something is wrong: a folder already in use, a rejected config on a
finished run, a relaunch with other data, model or schedule, a damaged checkpoint, a
batch that torchrun cannot split, a OneCycle run too short to warm up, NaN in the data,
Ctrl-C. Each failure must be one message in the command line's terms (data.*,
training.*, model.*), without a traceback, and must leave the run that is there intact.

The command line is driven in-process through :func:`main` wherever a real process
adds nothing; only the two-process lock test and Ctrl-C start ``lrsa-train`` itself.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_training import QUIET, TINY_LRSA, compose_config

from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.errors import ConfigError
from modulus_lrsa.training.checkpoint import CheckpointError
from modulus_lrsa.training.config import validate_config
from modulus_lrsa.training.data import DataError, in_config_terms, mesh_cache_config
from modulus_lrsa.training.resume import ResumeMismatchError
from modulus_lrsa.training.train import main, run_training


@pytest.fixture(scope="module")
def darcy_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy_faults") / "data"
    generate_darcy(folder, n_train=8, n_test=4, solve_resolution=9, resolution=9, seed=3)
    return folder


def overrides(folder: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        f"data.path={folder}",
        f"output_dir={output_dir}",
        "training.epochs=2",
        "training.batch_size=4",
        "training.eval_batch_size=4",
        *TINY_LRSA,
        *QUIET,
        *extra,
    ]


def train(folder: Path, output_dir: Path, *extra: str) -> dict:
    return run_training(compose_config(overrides(folder, output_dir, *extra)))


def command_line(monkeypatch, capsys, *arguments: str) -> tuple[int, str, str]:
    """``lrsa-train <arguments>`` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["lrsa-train", *arguments])
    # Hydra points the root logger at this test's captured stdout; later tests must not write there.
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    try:
        main()
        status = 0
    except SystemExit as stop:
        status = stop.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


# ------------------------------------------------------------ one run per folder


def _ctrl_c_as_in_a_terminal() -> None:
    # A suite started in the background of a script (`make test &`) ignores SIGINT, as POSIX
    # has it, and so would the runs it starts: Python then installs no KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_checkpoint(run: subprocess.Popen, checkpoint: Path) -> None:
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists(), run.stderr.read() if run.poll() is not None else "no checkpoint"


def _stop_with(run: subprocess.Popen, signum: int) -> str:
    """Send ``signum`` and return the run's stderr; a run that ignores it is aborted,
    and faulthandler (PYTHONFAULTHANDLER) shows where it was."""
    run.send_signal(signum)
    try:
        return run.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        run.send_signal(signal.SIGABRT)
        pytest.fail(f"{signal.Signals(signum).name} did not stop lrsa-train within 60 s; its stacks:\n"
                    f"{run.communicate(timeout=30)[1]}")


def test_a_second_launch_on_a_busy_folder_is_refused_and_ctrl_c_says_how_to_resume(darcy_folder, tmp_path):
    output_dir = tmp_path / "run"
    command = [sys.executable, "-m", "modulus_lrsa.train",
               *overrides(darcy_folder, output_dir, "training.epochs=1000000")]
    # faulthandler: a run that ignores Ctrl-C is aborted below and shows where it was.
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    # Nothing reads the first run's log until it stops: on a pipe, about 200 epochs of it
    # fill the 64 KiB buffer and block the run in a write, which is not what is tested.
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment,
                             preexec_fn=_ctrl_c_as_in_a_terminal)
    try:
        _wait_for_checkpoint(first, output_dir / "checkpoints" / "checkpoint.0.1.pt")
        snapshot = (output_dir / "hydra" / "config.yaml").read_bytes()

        second = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
        assert second.returncode == 1
        assert f"is in use by lrsa-train pid {first.pid} on host" in second.stderr
        assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1
        assert (output_dir / "hydra" / "config.yaml").read_bytes() == snapshot
        assert (output_dir / "train.log").read_text().count("lrsa-train: darcy with") == 1

        stderr = _stop_with(first, signal.SIGINT)
    finally:
        first.kill()
    assert first.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("lrsa-train: interrupted; launch the same command again")
    assert str(output_dir / "checkpoints") in stderr


def test_sigterm_stops_a_run_like_ctrl_c_with_the_resume_hint_and_whole_checkpoints(darcy_folder, tmp_path):
    """kill, a scheduler's preemption or time limit: the run unwinds, says how to resume,
    exits 128 + 15, and the relaunch resumes from a whole checkpoint."""
    output_dir = tmp_path / "run"
    command = [sys.executable, "-m", "modulus_lrsa.train",
               *overrides(darcy_folder, output_dir, "training.epochs=1000000")]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        _wait_for_checkpoint(run, output_dir / "checkpoints" / "checkpoint.0.3.pt")
        stderr = _stop_with(run, signal.SIGTERM)
    finally:
        run.kill()
    assert run.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("lrsa-train: interrupted; launch the same command again")
    saved = int(re.search(r"checkpoint of epoch (\d+)", stderr).group(1))
    assert saved >= 3
    resumed = train(darcy_folder, output_dir, f"training.epochs={saved + 2}")
    assert [entry["epoch"] for entry in resumed["history"]][-3:] == [saved, saved + 1, saved + 2]


def test_a_rejected_config_leaves_a_finished_run_untouched(darcy_folder, tmp_path, monkeypatch, capsys):
    output_dir = tmp_path / "run"
    train(darcy_folder, output_dir, "training.epochs=1", "training/scheduler=constant")
    before = files_of(output_dir)
    assert "hydra/config.yaml" in before and "train.log" in before

    status, _, stderr = command_line(
        monkeypatch, capsys, *overrides(darcy_folder, output_dir, "training.epochs=abc", "training.precision=fp8")
    )
    assert status == 1
    assert stderr == (
        "lrsa-train: error: invalid configuration:\n"
        "  training.epochs: expected an integer >= 1, got 'abc'\n"
        "  training.precision: expected one of fp32, bf16, fp16, got 'fp8'\n"
    )
    assert files_of(output_dir) == before
    # A bad launch on a new folder does not create it.
    status, _, _ = command_line(monkeypatch, capsys, *overrides(darcy_folder, tmp_path / "new", "model.n_layers=abc"))
    assert status == 1 and not (tmp_path / "new").exists()


# ------------------------------------------------------ resume knows what it resumes


def test_resuming_on_other_data_is_refused_with_what_changed(darcy_folder, tmp_path):
    output_dir = tmp_path / "run"
    train(darcy_folder, output_dir)
    before = files_of(output_dir / "checkpoints")

    other = tmp_path / "other"
    generate_darcy(other, n_train=12, n_test=4, solve_resolution=9, resolution=9, seed=4)
    with pytest.raises(ResumeMismatchError) as refused:
        train(other, output_dir, "training.epochs=3")
    message = str(refused.value)
    assert f"data.path: '{darcy_folder}' -> '{other}'" in message
    assert "data: 8 -> 12 training samples" in message
    assert "choose another output_dir" in message

    # Same path, other files: the normalization statistics give it away.
    changed = tmp_path / "changed"
    shutil.copytree(darcy_folder, changed)
    train(changed, tmp_path / "run2")
    arrays = dict(np.load(changed / "train.npz"))
    arrays["solution"] = arrays["solution"] * np.float32(2.0)
    np.savez(changed / "train.npz", **arrays)
    with pytest.raises(ResumeMismatchError, match=r"the dataset under data\.path: normalization\.solution\.mean"):
        train(changed, tmp_path / "run2")
    assert files_of(output_dir / "checkpoints") == before


def test_raising_epochs_extends_a_finished_onecycle_run(darcy_folder, tmp_path, caplog):
    output_dir = tmp_path / "run"
    train(darcy_folder, output_dir)
    with caplog.at_level(logging.INFO):
        extended = train(darcy_folder, output_dir, "training.epochs=3")
    assert [entry["epoch"] for entry in extended["history"]] == [1, 2, 3]
    assert extended["global_step"] == 6
    assert "training.epochs: 2 -> 3: continuing from epoch 2 on the onecycle schedule recomputed for 3 epochs" in caplog.text
    schedule = torch.load(output_dir / "checkpoints" / "checkpoint.0.3.pt", weights_only=False)["scheduler_state_dict"]
    assert schedule["total_steps"] == 6 and schedule["last_epoch"] == 6


@pytest.mark.parametrize(
    "change, reported",
    [
        ("model.n_layers=2", "model.n_layers: 1 -> 2"),
        ("training/scheduler=cosine", "training.scheduler.name: 'onecycle' -> 'cosine'"),
        ("training.optimizer.lr=0.01", "training.optimizer.lr: 0.001 -> 0.01"),
    ],
)
def test_resuming_with_another_model_or_schedule_is_refused(darcy_folder, tmp_path, change, reported):
    train(darcy_folder, tmp_path, "training.epochs=1", "training.batch_size=2")
    with pytest.raises(ResumeMismatchError) as refused:
        train(darcy_folder, tmp_path, "training.epochs=2", "training.batch_size=2", change)
    assert reported in str(refused.value)


@pytest.mark.parametrize("damaged_file", ["checkpoint.0.2.pt", "LRSA.0.2.mdlus"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(darcy_folder, tmp_path, caplog, damaged_file):
    with caplog.at_level(logging.INFO):
        train(darcy_folder, tmp_path)
    # Log lines name the files where they end up, not the staging folder they are written in.
    assert f"checkpoint of epoch 2: {tmp_path / 'checkpoints' / 'LRSA.0.2.mdlus'}" in caplog.text
    assert ".staging" not in caplog.text
    damaged = tmp_path / "checkpoints" / damaged_file
    os.truncate(damaged, damaged.stat().st_size // 2)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        resumed = train(darcy_folder, tmp_path)
    assert f"damaged checkpoint file, skipped: {damaged}" in caplog.text
    assert "resumed from" in caplog.text and "at epoch 1 (step 2)" in caplog.text
    assert resumed["global_step"] == 4 and [entry["epoch"] for entry in resumed["history"]] == [1, 2]
    torch.load(tmp_path / "checkpoints" / "checkpoint.0.2.pt", weights_only=False)  # rewritten whole


def test_no_readable_checkpoint_names_every_damaged_file(darcy_folder, tmp_path):
    train(darcy_folder, tmp_path)
    for epoch in (1, 2):
        (tmp_path / "checkpoints" / f"checkpoint.0.{epoch}.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"checkpoint\.0\.2\.pt: .*\n.*checkpoint\.0\.1\.pt: "):
        train(darcy_folder, tmp_path)


# ------------------------------------------------------------------ torchrun


def test_a_batch_that_torchrun_cannot_split_is_one_message_from_rank_zero(darcy_folder, tmp_path, monkeypatch, capsys):
    # What torchrun --nproc_per_node=4 sets; the config is checked before any process group starts.
    monkeypatch.setenv("WORLD_SIZE", "4")
    arguments = [f"data.path={darcy_folder}", f"output_dir={tmp_path / 'run'}", "training=airfoil", *TINY_LRSA, *QUIET]
    for rank in ("1", "2", "3"):
        monkeypatch.setenv("RANK", rank)
        assert command_line(monkeypatch, capsys, *arguments)[::2] == (1, "")
    monkeypatch.setenv("RANK", "0")
    status, _, stderr = command_line(monkeypatch, capsys, *arguments)
    assert status == 1
    assert "training.batch_size: the global batch 2 does not split evenly over the 4 ranks" in stderr
    assert "training.batch_size=4" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------- schedule and data


def test_onecycle_with_too_few_steps_to_warm_up_starts_at_the_peak(darcy_folder, tmp_path, caplog):
    # 2 epochs x 2 steps with pct_start 0.25: one warm-up step, where torch divides by zero.
    with caplog.at_level(logging.WARNING):
        result = train(darcy_folder, tmp_path, "training.scheduler.pct_start=0.25")
    assert "too few to ramp, so it starts at the peak learning rate" in caplog.text
    assert result["global_step"] == 4 and np.isfinite(result["history"][-1]["train/loss"])


def test_a_nan_in_a_darcy_target_names_the_file_field_and_sample(darcy_folder, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "data"
    shutil.copytree(darcy_folder, folder)
    arrays = dict(np.load(folder / "train.npz"))
    arrays["solution"][3, 4, 4] = np.nan
    np.savez(folder / "train.npz", **arrays)
    expected = f"{folder / 'train.npz'}: field 'solution' holds NaN/Inf in 1 of 8 samples (index 3)"
    with pytest.raises(DataError, match=expected.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        train(folder, tmp_path / "run")
    status, _, stderr = command_line(monkeypatch, capsys, *overrides(folder, tmp_path / "cli"))
    assert status == 1 and stderr.startswith(f"lrsa-train: error: data.path: {expected}")
    assert "Traceback" not in stderr


# ---------------------------------------------------------- messages and help


def test_tracebacks_only_with_hydra_full_error(darcy_folder, tmp_path, monkeypatch, capsys):
    arguments = overrides(darcy_folder, tmp_path, "model.n_layers=abc")
    status, _, stderr = command_line(monkeypatch, capsys, *arguments)
    assert status == 1 and stderr == "lrsa-train: error: invalid configuration:\n  model.n_layers: expected an integer, got 'abc'\n"
    # What only the constructor knows comes out the same way.
    status, _, stderr = command_line(monkeypatch, capsys, *overrides(darcy_folder, tmp_path, "model.n_hidden=30", "model.n_head=4"))
    assert status == 1 and stderr == (
        "lrsa-train: error: model: modulus_lrsa.models.LRSA refused the model.* settings: "
        "LRSA: n_hidden (30) must be a multiple of n_head (4)\n"
    )
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError, match=r"model\.n_layers"):
        command_line(monkeypatch, capsys, *arguments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_asking_for_a_gpu_on_a_machine_without_one_is_a_config_error(darcy_folder, tmp_path):
    with pytest.raises(ConfigError, match=r"training\.device: cuda asked for, but torch sees no CUDA GPU"):
        validate_config(compose_config(overrides(darcy_folder, tmp_path, "training.device=cuda")))


def test_data_messages_use_the_config_keys():
    config = compose_config(["data=vtk_folder", "data.path=/cases", "data.volume_fields=[p]", "data.test_fraction=1.5"])
    with pytest.raises(ConfigError, match=r"data: data\.test_fraction must be in \[0, 1\), got 1\.5"):
        mesh_cache_config(config.data)
    assert in_config_terms(
        "/cases/c1: no volume file: set data.volume_file (MeshCacheConfig.volume_file) to a glob"
    ) == "/cases/c1: no volume file: set data.volume_file to a glob"


def test_help_says_what_the_tool_does(monkeypatch, capsys):
    status, text, _ = command_line(monkeypatch, capsys, "--help")
    assert status == 0
    assert text.startswith("lrsa-train: train LRSA")
    for expected in ("Main keys:", "training.batch_size", "Examples:", "torchrun", "== Configuration groups ==",
                     "model: flare, geotransolver, lrsa, transolver", "HYDRA_FULL_ERROR=1"):
        assert expected in text, expected
    assert "powered by Hydra" not in text

