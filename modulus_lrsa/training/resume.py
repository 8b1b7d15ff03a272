# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The resume protocol: a relaunch continues the same run from its newest readable checkpoint, and nothing else.

Every checkpoint carries a *fingerprint* of its run:

* data: the ``data.*`` settings (with ``data.path`` made absolute), the data descriptor
  (feature layout and normalization statistics of the training split) and the number of
  training and validation samples;
* model: the model config with the widths taken from the data;
* schedule: ``training.epochs``, the global batch, the steps per epoch and the
  optimizer and scheduler settings (``training.scheduler``, its ``_target_`` included).

A relaunch compares the checkpoint's fingerprint with its own. Anything but
``training.epochs`` that differs means another run: resuming would mix two
normalizations, two validation sets (so the best-model choice compares unlike numbers)
or two learning-rate schedules, so it is refused with the list of differences.
``training.epochs`` may change; the trainer then rebuilds the schedule for the new
total, which extends (or shortens) the run, but not below the epoch the newest
checkpoint has reached (:func:`ensure_epochs_reach_checkpoint`).

:class:`RunCheckpoints` is the protocol in one place, for the trainer to call in order:
:meth:`~RunCheckpoints.resume` restores model, optimizer, scaler, step counters, the
run's record and every rank's random streams (or starts a fresh run, or refuses);
:meth:`~RunCheckpoints.scheduler` builds the learning-rate schedule and brings it to the
restored step; :meth:`~RunCheckpoints.save` writes what ``resume`` reads back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf
from torch.optim.lr_scheduler import LRScheduler

from modulus_lrsa.errors import ConfigError, one_line
from modulus_lrsa.training.checkpoint import CheckpointError, CheckpointManager, gather_rng_states, newest_saved_epoch, restore_rng_state
from modulus_lrsa.training.data import TrainingData
from modulus_lrsa.training.loggers import RunLogger
from modulus_lrsa.training.schedules import build_scheduler, param_group_settings, resume_schedule, scheduler_name

#: The checkpoint folder in ``output_dir``.
CHECKPOINTS_NAME = "checkpoints"
#: Key of the fingerprint in a checkpoint's metadata.
FINGERPRINT_KEY = "fingerprint"
#: ``data.*`` keys that say where or how fast the data is prepared, not what it is.
_DATA_KEYS_NOT_FINGERPRINTED = ("cache_dir", "preprocess_workers")
#: ``model.*`` keys that change memory use or speed, not the parameters or outputs.
_MODEL_KEYS_NOT_FINGERPRINTED = ("activation_checkpointing",)
_MAX_LISTED = 12
_MAX_VALUE_CHARS = 80


class ResumeMismatchError(ConfigError):
    """The checkpoints in ``output_dir`` belong to a run with other settings."""


def _container(node: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True)


def run_fingerprint(cfg: DictConfig, data: TrainingData, model_cfg: DictConfig, steps_per_epoch: int) -> dict[str, Any]:
    """The fingerprint of this launch (see the module docstring).

    Parameters
    ----------
    cfg : DictConfig
        The composed config.
    data : TrainingData
        The data as built for this launch.
    model_cfg : DictConfig
        The model config with the data's widths filled in.
    steps_per_epoch : int
        Optimizer steps per epoch (training batches per rank).
    """
    data_settings = {key: value for key, value in _container(cfg.data).items() if key not in _DATA_KEYS_NOT_FINGERPRINTED}
    data_settings["path"] = str(Path(str(data_settings["path"])).resolve())
    scheduler = {key: value for key, value in _container(cfg.training.scheduler).items() if key != "_partial_"}
    scheduler["name"] = scheduler_name(cfg.training.scheduler)
    return {
        "data": {
            "settings": data_settings,
            "descriptor": data.descriptor,
            "train_samples": len(data.train),
            "validation_samples": len(data.validation),
        },
        "model": {key: value for key, value in _container(model_cfg).items() if key not in _MODEL_KEYS_NOT_FINGERPRINTED},
        "schedule": {
            "epochs": int(cfg.training.epochs),
            "batch_size": int(cfg.training.batch_size),
            "steps_per_epoch": int(steps_per_epoch),
            "optimizer": _container(cfg.training.optimizer),
            "scheduler": scheduler,
        },
    }


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def _same(old: Any, new: Any) -> bool:
    """Equal, floats up to round-off (statistics recomputed in another order)."""
    if isinstance(old, float) or isinstance(new, float):
        numbers = (int, float)
        return (
            isinstance(old, numbers) and isinstance(new, numbers) and not isinstance(old, bool)
            and math.isclose(old, new, rel_tol=1e-9, abs_tol=1e-12)
        )
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new))
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same(old[key], new[key]) for key in old)
    return old == new


def differences(old: Any, new: Any, key: str) -> list[str]:
    """``"<key>.<leaf>: <old> -> <new>"`` for every leaf of two nested dicts that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for name in sorted(old.keys() | new.keys(), key=str):
            child = f"{key}.{name}" if key else str(name)
            if name not in old:
                lines.append(f"{child}: not set -> {_short(new[name])}")
            elif name not in new:
                lines.append(f"{child}: {_short(old[name])} -> not set")
            else:
                lines.extend(differences(old[name], new[name], child))
        return lines
    return [] if _same(old, new) else [f"{key}: {_short(old)} -> {_short(new)}"]


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


#: The metadata keys :meth:`RunCheckpoints.resume` reads, their checks and what each must be.
_METADATA_CHECKS: dict[str, tuple[Any, str]] = {
    "global_step": (_is_count, "a count"),
    "skipped_steps": (_is_count, "a count"),
    "best_metric": (lambda value: value is None or _is_number(value), "null or a number"),
    "best_epoch": (lambda value: value is None or _is_count(value), "null or an epoch"),
    "history": (lambda value: isinstance(value, list) and all(isinstance(row, dict) for row in value),
                "a list of per-epoch records"),
    "rng_states": (lambda value: isinstance(value, list) and all(isinstance(row, dict) for row in value),
                   "a list of per-rank generator states"),
    FINGERPRINT_KEY: (lambda value: isinstance(value, dict), "the run's settings (an object)"),
}


def check_metadata(metadata: dict[str, Any], checkpoint: Path) -> None:
    """Refuse a training state whose metadata is not what :meth:`RunCheckpoints.resume` reads.

    A crafted or hand-edited file passes the unpickler's allow-list with any structure;
    checked here, before any weight is loaded, each wrong key is one line instead of a
    traceback at the first step.

    Raises
    ------
    CheckpointError
        Names the file and the first key that is missing or of the wrong type.
    """
    for key, (check, expected) in _METADATA_CHECKS.items():
        optional = key in ("rng_states", FINGERPRINT_KEY)
        if key not in metadata:
            if optional:
                continue
            raise CheckpointError(f"{checkpoint}: its metadata has no '{key}'; not a training state lrsa-train wrote")
        if not check(metadata[key]):
            found = type(metadata[key]).__name__
            raise CheckpointError(f"{checkpoint}: its metadata's '{key}' must be {expected}, got a {found}; "
                                  "not a training state lrsa-train wrote")


def ensure_same_run(saved: dict[str, Any], current: dict[str, Any], checkpoint: Path) -> int | None:
    """Refuse to resume ``checkpoint`` unless it was written by this run.

    Parameters
    ----------
    saved : dict
        The checkpoint's fingerprint.
    current : dict
        This launch's (:func:`run_fingerprint`).
    checkpoint : Path
        The checkpoint's training-state file, for the message.

    Returns
    -------
    int or None
        The checkpoint's ``training.epochs`` when this launch changes it, else None.

    Raises
    ------
    ResumeMismatchError
        Data, model or schedule (other than the epochs) differ; the message lists how.
    """
    try:
        return _compare_runs(saved, current, checkpoint)
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        # A fingerprint of another shape was not written by lrsa-train (all versions write these keys).
        raise CheckpointError(f"{checkpoint}: the run settings in its metadata are not those lrsa-train records "
                              f"({type(error).__name__}: {one_line(error, 80)}); not a training state lrsa-train wrote"
                              ) from None


def _compare_runs(saved: dict[str, Any], current: dict[str, Any], checkpoint: Path) -> int | None:
    old_data, new_data = saved["data"], current["data"]
    changes = differences(old_data["settings"], new_data["settings"], "data")
    if not changes:
        # Same settings, other numbers: the files under data.path were changed or rebuilt.
        changes = [f"the dataset under data.path: {line}" for line in differences(
            old_data["descriptor"], new_data["descriptor"], "")]
    for count, what in (("train_samples", "training"), ("validation_samples", "validation")):
        if old_data[count] != new_data[count]:
            changes.append(f"data: {old_data[count]} -> {new_data[count]} {what} samples")
    changes += differences(saved["model"], current["model"], "model")
    old_schedule, new_schedule = saved["schedule"], current["schedule"]
    changes += differences(old_schedule["batch_size"], new_schedule["batch_size"], "training.batch_size")
    changes += differences(old_schedule["optimizer"], new_schedule["optimizer"], "training.optimizer")
    old_scheduler, new_scheduler = old_schedule["scheduler"], new_schedule["scheduler"]
    if old_scheduler["name"] != new_scheduler["name"]:
        # Another schedule reads other keys: the name says it all.
        changes.append(f"training.scheduler.name: {old_scheduler['name']!r} -> {new_scheduler['name']!r}")
    else:
        if "_target_" not in old_scheduler:
            # Written before schedules were built from _target_: it recorded only the keys its
            # schedule read, under the same names as the preset of the same name.
            new_scheduler = {key: new_scheduler.get(key) for key in old_scheduler}
        changes += differences(old_scheduler, new_scheduler, "training.scheduler")
    if not changes and old_schedule["steps_per_epoch"] != new_schedule["steps_per_epoch"]:
        changes.append(f"steps per epoch: {old_schedule['steps_per_epoch']} -> {new_schedule['steps_per_epoch']}")
    if changes:
        listed = changes[:_MAX_LISTED] + ([f"... and {len(changes) - _MAX_LISTED} more"] if len(changes) > _MAX_LISTED else [])
        raise ResumeMismatchError(
            f"training.resume: {checkpoint} was written by a run with other settings "
            "(checkpoint -> this launch):\n  " + "\n  ".join(listed) + "\n"
            "Resuming would mix the two runs (normalization, validation set, learning-rate schedule, "
            f"best model). To train these settings from scratch, choose another output_dir; to continue "
            f"the run in {checkpoint.parent.parent}, launch it with its own settings (training.epochs "
            "alone may change: that extends or shortens it)."
        )
    return old_schedule["epochs"] if old_schedule["epochs"] != new_schedule["epochs"] else None


def ensure_epochs_reach_checkpoint(epochs: int, checkpoints: Path) -> None:
    """Refuse a launch whose ``training.epochs`` ends before the newest checkpoint in ``checkpoints``.

    Such a launch would train nothing and end the run with the record of a shorter one
    (metrics, config snapshot) written over a run that is further along. It is checked
    before ``output_dir`` is locked, so nothing there is touched.

    Parameters
    ----------
    epochs : int
        ``training.epochs`` of this launch.
    checkpoints : Path
        ``<output_dir>/checkpoints``.

    Raises
    ------
    ConfigError
        One line naming both epochs and what to do.
    """
    newest = newest_saved_epoch(checkpoints)
    if newest is not None and epochs < newest:
        raise ConfigError(
            f"training.epochs: {epochs} is below epoch {newest} of the newest checkpoint in {checkpoints}, so this "
            f"launch would end that run without training; raise training.epochs to at least {newest} ({newest} keeps "
            f"the run as it is, more extends it), or choose another output_dir to train {epochs} epoch(s) from scratch"
        )


@dataclass
class StepCounters:
    """Optimizer-step bookkeeping carried across epochs (and checkpoints)."""

    global_step: int = 0
    skipped_steps: int = 0
    consecutive_nonfinite: int = 0


@dataclass
class RunState:
    """Where a run stands and its record, as a checkpoint carries them.

    Attributes
    ----------
    epoch : int
        The last finished epoch (0 for a fresh run).
    counters : StepCounters
        Optimizer steps so far.
    best_metric, best_epoch : float or None, int or None
        The best validation so far and its epoch.
    history : list of dict
        Every validation's metrics.
    scheduler_state : dict or None
        The checkpoint's learning-rate schedule, for :meth:`RunCheckpoints.scheduler`.
    checkpoint_epochs : int or None
        The checkpoint's ``training.epochs`` when this launch changes it.
    resumed : bool
        Whether a checkpoint was restored.
    """

    epoch: int = 0
    counters: StepCounters = field(default_factory=StepCounters)
    best_metric: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    scheduler_state: dict[str, Any] | None = None
    checkpoint_epochs: int | None = None
    resumed: bool = False


class RunCheckpoints:
    """The checkpoints of one run in ``directory``: resumed only by the same run, saved on every rank's behalf.

    Parameters
    ----------
    directory : Path
        ``<output_dir>/checkpoints``.
    keep_last : int
        ``training.keep_checkpoints``.
    fingerprint : dict
        This launch's :func:`run_fingerprint`.
    rank, world_size : int
        This process's place; rank 0 writes.
    log : RunLogger
        Where resume notes and warnings go.
    """

    def __init__(self, directory: Path, keep_last: int, fingerprint: dict[str, Any], rank: int, world_size: int,
                 log: RunLogger) -> None:
        self.manager = CheckpointManager(directory, keep_last, writer=rank == 0)
        self.fingerprint = fingerprint
        self.rank = rank
        self.world_size = world_size
        self.log = log

    @property
    def directory(self) -> Path:
        return self.manager.directory

    def resume(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               allowed: bool) -> RunState:
        """Restore the newest readable checkpoint of this run into ``model``, ``optimizer`` and ``scaler``.

        Parameters
        ----------
        allowed : bool
            ``training.resume``; with False, a folder that holds checkpoints is refused.

        Returns
        -------
        RunState
            The restored state (this rank's random streams restored too), or a fresh one
            when the folder holds no checkpoint.

        Raises
        ------
        ConfigError
            Checkpoints exist but ``training.resume`` is false.
        ResumeMismatchError
            The checkpoints belong to a run with other settings.
        CheckpointError
            None of the checkpoints reads back.
        """
        latest = self.manager.latest_epoch(model)
        if latest is None:
            return RunState()
        if not allowed:
            raise ConfigError(
                f"training.resume: false, but {self.directory} holds checkpoints up to epoch {latest}; "
                "they are never overwritten: choose another output_dir or delete that folder"
            )
        state = RunState(resumed=True)

        def same_run(epoch: int, metadata: dict[str, Any]) -> None:
            check_metadata(metadata, self.manager.training_state_file(epoch))
            if FINGERPRINT_KEY not in metadata:
                self.log.warning(
                    f"the checkpoint of epoch {epoch} in {self.directory} records no run settings "
                    "(an older lrsa-train wrote it): resuming without checking that data and model match"
                )
                return
            state.checkpoint_epochs = ensure_same_run(
                metadata[FINGERPRINT_KEY], self.fingerprint, self.manager.training_state_file(epoch)
            )

        resumed = self.manager.load_newest(model, optimizer, scaler, same_run)
        metadata = resumed.metadata
        state.epoch = resumed.epoch
        state.scheduler_state = resumed.scheduler_state
        state.counters = StepCounters(metadata["global_step"], metadata["skipped_steps"], 0)
        state.best_metric, state.best_epoch, state.history = (metadata[key] for key in ("best_metric", "best_epoch", "history"))
        for problem in resumed.damaged:
            self.log.warning(f"damaged checkpoint file, skipped: {problem}")
        rng_states = metadata.get("rng_states", [])
        if len(rng_states) == self.world_size:
            try:
                restore_rng_state(rng_states[self.rank])
            except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as error:
                raise CheckpointError(
                    f"{self.manager.training_state_file(state.epoch)}: its random-generator states of rank {self.rank} "
                    f"are not those lrsa-train records ({one_line(error, 120)}); not a training state lrsa-train wrote"
                ) from None
        else:
            self.log.warning(
                f"checkpoint was written by {len(rng_states)} rank(s), this run has {self.world_size}: "
                "random streams restart from the seed (results will differ from an uninterrupted run)"
            )
        fallback = f"; damaged newer checkpoints: epochs up to {latest} are trained again" if resumed.damaged else ""
        self.log.info(
            f"resumed from {self.directory} at epoch {state.epoch} (step {state.counters.global_step}){fallback}"
        )
        return state

    def scheduler(self, cfg: DictConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
                  state: RunState) -> LRScheduler:
        """``training.scheduler`` for ``training.epochs``, at the restored step of a resumed run.

        A checkpoint of a run with other ``training.epochs`` continues on the schedule
        recomputed for the new total (said in a warning), and so does one whose schedule
        state an older lrsa-train wrote for another scheduler class (replayed).
        """
        epochs = int(cfg.training.epochs)
        lr_before = optimizer.param_groups[0]["lr"]
        restored_groups = param_group_settings(optimizer)
        scheduler = build_scheduler(
            cfg.training.scheduler, optimizer, epochs, steps_per_epoch,
            peak_lr=float(cfg.training.optimizer.lr), warn=self.log.warning,
        )
        step = state.counters.global_step
        if state.resumed:
            how = resume_schedule(scheduler, state.scheduler_state, step,
                                  same_length=state.checkpoint_epochs is None, restored_groups=restored_groups)
            if how == "replayed" and state.checkpoint_epochs is None:
                self.log.warning(
                    f"the learning-rate schedule state in {self.directory} was written for another "
                    f"scheduler class (an older lrsa-train): replayed {step} step(s) of "
                    f"training.scheduler instead (learning rate {optimizer.param_groups[0]['lr']:.3g})"
                )
        if state.checkpoint_epochs is not None:
            self.log.warning(
                f"training.epochs: {state.checkpoint_epochs} -> {epochs}: continuing from epoch {state.epoch} on the "
                f"{scheduler_name(cfg.training.scheduler)} schedule recomputed for {epochs} epochs (learning rate "
                f"{lr_before:.3g} -> {optimizer.param_groups[0]['lr']:.3g} at step {step})"
            )
        return scheduler

    def save(self, epoch: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: LRScheduler,
             scaler: torch.amp.GradScaler, state: RunState) -> None:
        """Checkpoint ``epoch`` with what :meth:`resume` reads back (a collective: every rank calls it)."""
        # Gathered on every rank, written by rank 0 only.
        metadata = {
            "best_metric": state.best_metric,
            "best_epoch": state.best_epoch,
            "history": state.history,
            FINGERPRINT_KEY: self.fingerprint,
            "global_step": state.counters.global_step,
            "skipped_steps": state.counters.skipped_steps,
            "world_size": self.world_size,
            "rng_states": gather_rng_states(self.world_size),
        }
        saved = self.manager.save(epoch, model, optimizer, scheduler, scaler, metadata)
        if saved:
            self.log.info(f"checkpoint of epoch {epoch}: {', '.join(str(path) for path in saved)}")
        if self.world_size > 1:
            dist.barrier()
