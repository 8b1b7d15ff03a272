# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The one process-group start-up (``modulus_lrsa.distributed``), the wrapper protocols the
trainer reaches the domain-parallel model through, and the resume protocol of
``training/resume.py`` on its own (the full runs are in test_training_resume/faults)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from modulus_lrsa.distributed import SupportsDomainParallel, Unwrappable, shard_sizes
from modulus_lrsa.errors import ConfigError
from modulus_lrsa.models import LRSA
from modulus_lrsa.training.checkpoint import unwrap_model
from modulus_lrsa.training.resume import ResumeMismatchError, RunCheckpoints, RunState, StepCounters

PACKAGE = Path(__file__).resolve().parents[1] / "modulus_lrsa"


def run_python(code: str, **env: str) -> str:
    """``code`` in a fresh interpreter (process groups are per process); returns its stdout."""
    clean = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID")}
    completed = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                               timeout=120, env={**clean, "CUDA_VISIBLE_DEVICES": "", **env})
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_a_one_process_torchrun_launch_on_cpu_gets_a_gloo_group():
    # PhysicsNeMo's own start-up passes device_id=cpu, which torch refuses: this crashed before.
    out = run_python(
        """
        import torch.distributed as dist
        from modulus_lrsa.distributed import process_group
        with process_group("cpu") as manager:
            print(manager.rank, manager.world_size, manager.device, dist.get_backend())
        print("after", dist.is_initialized())
        """,
        RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT="29613",
    )
    assert out.split("\n")[:2] == ["0 1 cpu gloo", "after False"]


def test_a_process_group_the_caller_started_is_used_and_left_up(tmp_path):
    out = run_python(
        f"""
        import torch.distributed as dist
        from physicsnemo.distributed import DistributedManager
        from modulus_lrsa.distributed import process_group
        dist.init_process_group("gloo", init_method="file://{tmp_path / 'init'}", rank=0, world_size=1)
        with process_group("cpu") as manager:
            print(manager.world_size, manager.distributed, manager.device)
        print(dist.is_initialized(), DistributedManager.is_initialized())
        dist.destroy_process_group()
        """
    )
    assert out.split("\n")[:2] == ["1 True cpu", "True False"]


def test_the_domain_parallel_wrapper_is_reached_and_unwrapped_through_the_protocols(tmp_path):
    out = run_python(
        f"""
        import torch, torch.distributed as dist
        from modulus_lrsa.distributed import SupportsDomainParallel, Unwrappable
        from modulus_lrsa.models import LRSA
        from modulus_lrsa.models.domain_parallel import DomainParallelMixin, GatheredDomainParallelLRSA
        from modulus_lrsa.training.checkpoint import unwrap_model
        dist.init_process_group("gloo", init_method="file://{tmp_path / 'init'}", rank=0, world_size=1)
        model = LRSA(functional_dim=2, out_dim=1, embedding_dim=2, n_layers=1, n_hidden=8, n_head=2, n_latents=4)
        wrapped = DomainParallelMixin.domain_parallel(model, reduce_gradients=False)
        gathered = GatheredDomainParallelLRSA(model)
        print(isinstance(wrapped, Unwrappable), isinstance(gathered, Unwrappable))
        print(unwrap_model(wrapped) is model, gathered.unwrap() is model, wrapped.reduce_gradients)
        fx, pos = torch.randn(1, 7, 2), torch.randn(1, 7, 2)
        print(torch.allclose(wrapped(fx, pos), model(fx, pos), atol=1e-6))
        dist.destroy_process_group()
        """
    )
    assert out.split("\n")[:3] == ["True True", "True True False", "True"]


def test_a_model_without_domain_parallel_is_not_taken_for_one():
    assert not isinstance(torch.nn.Linear(2, 2), SupportsDomainParallel)
    assert not isinstance(torch.nn.Linear(2, 2), Unwrappable)
    plain = torch.nn.Linear(2, 2)
    assert unwrap_model(plain) is plain
    assert shard_sizes(7, 3) == [3, 2, 2] and shard_sizes(2, 3) == [1, 1, 0]


def test_checkpoints_and_the_resume_protocol_import_no_model():
    """The trainer reaches the models room only through the trusted loader."""
    importers = {}
    for name in ("checkpoint.py", "resume.py", "train.py", "model_setup.py", "reporting.py"):
        tree = ast.parse((PACKAGE / "training" / name).read_text())
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        importers[name] = sorted(m for m in modules if m.startswith("modulus_lrsa.models") and m != "modulus_lrsa.models.trusted")
    assert importers == {name: [] for name in importers}


class Notes:
    """Collects what the protocol reports (the RunLogger's info/warning interface)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    warning = info


def tiny_run(seed: int):
    torch.manual_seed(seed)
    model = LRSA(functional_dim=2, out_dim=1, embedding_dim=2, n_layers=1, n_hidden=8, n_head=2, n_latents=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return model, optimizer, torch.amp.GradScaler("cpu", enabled=False)


FINGERPRINT = {
    "data": {"settings": {"path": "/d"}, "descriptor": {}, "train_samples": 4, "validation_samples": 2},
    "model": {"n_hidden": 8},
    "schedule": {"epochs": 3, "batch_size": 2, "steps_per_epoch": 2, "optimizer": {"lr": 0.1},
                 "scheduler": {"_target_": "torch.optim.lr_scheduler.ConstantLR", "name": "constant"}},
}


def test_the_resume_protocol_restores_what_it_saved_and_only_for_the_same_run(tmp_path):
    model, optimizer, scaler = tiny_run(0)
    notes = Notes()
    checkpoints = RunCheckpoints(tmp_path / "checkpoints", 2, FINGERPRINT, 0, 1, notes)
    assert checkpoints.resume(model, optimizer, scaler, allowed=True) == RunState()  # a fresh run
    scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    state = RunState(epoch=2, counters=StepCounters(4, 1, 0), best_metric=0.5, best_epoch=2, history=[{"epoch": 2}])
    checkpoints.save(2, model, optimizer, scheduler, scaler, state)

    other, other_optimizer, other_scaler = tiny_run(1)
    resumed = RunCheckpoints(tmp_path / "checkpoints", 2, FINGERPRINT, 0, 1, notes).resume(
        other, other_optimizer, other_scaler, allowed=True)
    assert (resumed.epoch, resumed.counters, resumed.best_metric, resumed.best_epoch, resumed.history) == (
        2, StepCounters(4, 1, 0), 0.5, 2, [{"epoch": 2}])
    assert resumed.resumed and resumed.checkpoint_epochs is None and resumed.scheduler_state is not None
    for mine, theirs in zip(model.parameters(), other.parameters()):
        assert torch.equal(mine, theirs)
    assert any("resumed from" in line and "epoch 2 (step 4)" in line for line in notes.lines)

    longer = {**FINGERPRINT, "schedule": {**FINGERPRINT["schedule"], "epochs": 5}}
    extended = RunCheckpoints(tmp_path / "checkpoints", 2, longer, 0, 1, notes).resume(*tiny_run(2), allowed=True)
    assert extended.checkpoint_epochs == 3
    with pytest.raises(ResumeMismatchError, match="model.n_hidden: 8 -> 16"):
        RunCheckpoints(tmp_path / "checkpoints", 2, {**FINGERPRINT, "model": {"n_hidden": 16}}, 0, 1, notes).resume(
            *tiny_run(3), allowed=True)
    with pytest.raises(ConfigError, match="training.resume: false, but .* holds checkpoints up to epoch 2"):
        checkpoints.resume(*tiny_run(4), allowed=False)
