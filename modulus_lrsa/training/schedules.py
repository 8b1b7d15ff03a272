# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Learning-rate schedules: torch schedulers built from ``training.scheduler`` by its ``_target_``.

The presets in ``conf/training/scheduler/`` (``training/scheduler=onecycle | cosine |
constant``) each name a scheduler by ``_target_`` with ``_partial_: true``; any callable
``f(optimizer, ...)`` returning a per-step ``torch.optim.lr_scheduler.LRScheduler`` works
the same way. Arguments that depend on the run are filled in by :func:`build_scheduler`
when the target takes them and the config leaves them out (:data:`RUN_ARGUMENTS`).

A resumed run restores the scheduler's state from the checkpoint (:func:`resume_schedule`),
so it continues with exactly the learning rates of an uninterrupted run. A run whose
``training.epochs`` changed instead replays its completed steps on the schedule built for
the new length, which extends (or shortens) it.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR

#: Run-dependent arguments lrsa-train passes to a scheduler target that takes them.
RUN_ARGUMENTS = ("total_steps", "steps_per_epoch", "max_lr")


def scheduler_name(scheduler_cfg: DictConfig) -> str:
    """The preset's ``name``, or the ``_target_`` of a scheduler config without one."""
    return str(scheduler_cfg.get("name") or scheduler_cfg.get("_target_"))


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    min_lr: float = 0.0,
) -> LRScheduler:
    """Linear warm-up from ``lr / warmup_steps`` to ``lr`` over ``warmup_epochs``, then cosine decay to ``min_lr``.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Its learning rate is the peak.
    total_steps, steps_per_epoch : int
        Length of the run and of an epoch, in optimizer steps.
    warmup_epochs : float
        Length of the warm-up (rounded to whole steps); 0: none.
    min_lr : float
        Learning rate at the last step.
    """
    warmup_steps = min(int(round(warmup_epochs * steps_per_epoch)), total_steps - 1)
    decay = CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps), eta_min=min_lr)
    if warmup_steps <= 1:
        return decay
    # Step k of the warm-up runs at (k + 1) / warmup_steps of the peak.
    warmup = LinearLR(optimizer, start_factor=1.0 / warmup_steps, end_factor=1.0, total_iters=warmup_steps - 1)
    return SequentialLR(optimizer, [warmup, decay], milestones=[warmup_steps])


def build_scheduler(
    scheduler_cfg: DictConfig,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int,
    peak_lr: float,
    warn: Callable[[str], None] = warnings.warn,
) -> LRScheduler:
    """The per-step scheduler of ``training.scheduler`` for a run of ``epochs`` x ``steps_per_epoch`` steps.

    Parameters
    ----------
    scheduler_cfg : DictConfig
        ``training.scheduler``: ``_target_`` (with ``_partial_: true``), its arguments,
        and ``name``, the preset's name (not passed on).
    optimizer : torch.optim.Optimizer
        The optimizer to schedule.
    epochs, steps_per_epoch : int
        Length of the whole run.
    peak_lr : float
        ``training.optimizer.lr``: ``max_lr`` of targets that take one (OneCycleLR).
    warn : callable
        Receives the note when a ``pct_start`` warm-up has no room in the run.

    Notes
    -----
    OneCycleLR warms up over ``pct_start x total steps``; a run with at most one warm-up
    step (a short run on little data) cannot ramp, and torch divides by zero at exactly
    one. Such a run starts at the peak and only decays, with a warning.
    """
    settings = OmegaConf.to_container(scheduler_cfg, resolve=True)
    settings.pop("name", None)
    factory = instantiate(settings)
    total_steps = epochs * steps_per_epoch
    run = {"total_steps": total_steps, "steps_per_epoch": steps_per_epoch, "max_lr": peak_lr}
    parameters = inspect.signature(factory.func).parameters
    keywords = {key: value for key, value in run.items() if key in parameters and key not in factory.keywords}
    pct_start = factory.keywords.get("pct_start")
    if pct_start is not None and pct_start * total_steps <= 1.0:
        warn(
            f"training.scheduler.pct_start: the warm-up would last {pct_start:g} x {total_steps} steps = "
            f"{pct_start * total_steps:g} step(s) (training.epochs={epochs} x {steps_per_epoch} steps per epoch), "
            "too few to ramp, so it starts at the peak learning rate and only decays; for a warm-up, raise "
            "training.epochs or training.scheduler.pct_start, or lower training.batch_size"
        )
        # Half a step: the warm-up phase ends before step 0, so torch skips it.
        keywords["pct_start"] = 0.5 / total_steps
    return factory(optimizer, **keywords)


def param_group_settings(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """The hyperparameters of each parameter group (learning rate, momentum...), without the parameters."""
    return [{key: value for key, value in group.items() if key != "params"} for group in optimizer.param_groups]


def resume_schedule(
    scheduler: LRScheduler,
    saved_state: dict[str, Any] | None,
    completed_steps: int,
    same_length: bool,
    restored_groups: list[dict[str, Any]],
) -> str:
    """Bring a freshly built ``scheduler`` to step ``completed_steps`` of a resumed run.

    Building a scheduler sets the learning rate (OneCycleLR: the momentum too) of step 0
    on the optimizer, so the restored optimizer's values are put back when the saved
    state is restored.

    Parameters
    ----------
    scheduler : LRScheduler
        Built by :func:`build_scheduler` on the restored optimizer.
    saved_state : dict or None
        The checkpoint's ``scheduler_state_dict``.
    completed_steps : int
        Optimizer steps the checkpoint's run had taken.
    same_length : bool
        Whether this launch keeps the checkpoint's ``training.epochs``.
    restored_groups : list of dict
        :func:`param_group_settings` of the restored optimizer, taken before the
        scheduler was built.

    Returns
    -------
    str
        ``"restored"`` (the saved state was loaded) or ``"replayed"`` (the schedule was
        stepped to ``completed_steps``: the run length changed, or the state was written
        by another scheduler class, as by lrsa-train before schedules were built from
        ``_target_``).
    """
    if same_length and saved_state is not None and saved_state.keys() == scheduler.state_dict().keys():
        scheduler.load_state_dict(saved_state)
        for group, settings in zip(scheduler.optimizer.param_groups, restored_groups):
            group.update(settings)
        return "restored"
    # Stepping without optimizer steps is the point here, not the mistake torch warns about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(completed_steps):
            scheduler.step()
    return "replayed"
