# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Crash-safe training checkpoints on top of PhysicsNeMo's checkpoint utilities.

PhysicsNeMo's :func:`~physicsnemo.utils.checkpoint.save_checkpoint` writes
``<Model>.0.<epoch>.mdlus`` and ``checkpoint.0.<epoch>.pt`` straight to their final names
(``Module.save`` copies a finished temporary archive into place with ``fs.put``, and the
training state is streamed into the target with ``torch.save``), so a job killed while
saving leaves a truncated file under a valid name, and ``load_checkpoint`` then picks it
as the newest. :class:`CheckpointManager` keeps PhysicsNeMo's file layout and loader but
makes every save atomic: the files are written into a staging folder next to the
checkpoints, then renamed into place with ``os.replace`` (model first, training state
last), and a checkpoint counts as complete only once its training-state file exists.
Older checkpoints are removed only after a newer one is complete.

Resuming reads the files itself instead of through ``load_checkpoint``, for four reasons:
no file in the folder can run code (the training state is unpickled with
``weights_only=True`` and an allow-list of exactly what lrsa-train stores, the model
through :func:`~modulus_lrsa.models.trusted.load_trusted_weights`, which first checks that
its ``args.json`` names the class being resumed); the run's settings stored in the
training state are checked before any weight is loaded; a file that a full disk, a copy
or a dying node left damaged is named and the previous checkpoint used instead; and the
learning-rate scheduler is restored by the trainer once it has built it for the
configured epochs (see :mod:`~modulus_lrsa.training.schedules`).

The training state also carries every rank's random-number-generator states, so a
resumed run draws the same dropout masks and random numbers as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import random
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from physicsnemo.utils.checkpoint import save_checkpoint

from modulus_lrsa.atomic import atomic_replace, fsync_directory
from modulus_lrsa.distributed import Unwrappable
from modulus_lrsa.errors import LaunchError, ModelFileError, UntrustedFileError, one_line
from modulus_lrsa.models.trusted import load_trusted_weights, refused_globals

TRAINING_STATE_PREFIX = "checkpoint"
_STAGING_PREFIX = ".staging-"
_TRAINING_STATE_PATTERN = re.compile(rf"^{TRAINING_STATE_PREFIX}\.0\.(\d+)\.pt$")
#: PhysicsNeMo's checkpoint logger; its lines would name the staging folder.
_PHYSICSNEMO_CHECKPOINT_LOGGER = "checkpoint"
# numpy 2 moved numpy.core to numpy._core; pickles name whichever wrote them.
_MULTIARRAY = (getattr(np, "_core", None) or np.core).multiarray
#: What a training state holds beyond tensors, numbers, strings and containers (which
#: ``weights_only`` always allows): NumPy arrays and scalars, i.e. the NumPy generator state
#: of :func:`capture_rng_state` (optimizer, scheduler and scaler states, the Python and
#: torch generator states and the metadata need nothing more).
TRAINING_STATE_GLOBALS = [
    *((function, f"numpy.{core}.multiarray.{function.__name__}")
      for function in (_MULTIARRAY._reconstruct, _MULTIARRAY.scalar) for core in ("core", "_core")),
    np.ndarray,
    np.dtype,
    *(type(np.dtype(name)) for name in (
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64",
    )),
]


class CheckpointError(LaunchError):
    """The checkpoint folder holds checkpoints that cannot be resumed from."""


def archive_problem(path: Path) -> str | None:
    """Why a checkpoint file cannot be read back, or None when it is intact.

    ``.pt`` files (``torch.save``) and ``.mdlus`` files are zip archives (legacy
    ``.mdlus``: tar), so reading every member checks the CRCs and catches truncation
    without unpickling anything.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                corrupt_member = archive.testzip()
            return None if corrupt_member is None else f"member {corrupt_member} fails its CRC check"
        if tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                for member in archive:
                    if member.isfile():
                        archive.extractfile(member).read()
            return None
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as error:
        return str(error)
    return f"not a complete archive ({path.stat().st_size} bytes; truncated?)"


def newest_saved_epoch(directory: str | os.PathLike) -> int | None:
    """The newest epoch with a training-state file in ``directory`` (written last), or None."""
    folder = Path(directory)
    if not folder.is_dir():
        return None
    epochs = [int(match.group(1)) for path in folder.iterdir() if (match := _TRAINING_STATE_PATTERN.match(path.name))]
    return max(epochs, default=None)


@contextmanager
def _quiet_physicsnemo_checkpoint_logger() -> Iterator[None]:
    logger = logging.getLogger(_PHYSICSNEMO_CHECKPOINT_LOGGER)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass
class ResumePoint:
    """What :meth:`CheckpointManager.load_newest` restored.

    Attributes
    ----------
    epoch : int
        Epoch of the checkpoint that was loaded.
    metadata : dict
        The metadata saved with it (``global_step``, ``rng_states``, ``fingerprint``...).
    damaged : list of str
        ``"<file>: <reason>"`` for each newer checkpoint that could not be read.
    scheduler_state : dict or None
        The learning-rate scheduler's ``state_dict``, for the trainer to restore once it
        has built the scheduler (:func:`~modulus_lrsa.training.schedules.resume_schedule`).
    """

    epoch: int
    metadata: dict[str, Any]
    damaged: list[str] = field(default_factory=list)
    scheduler_state: dict[str, Any] | None = None


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The user module inside DistributedDataParallel, DomainParallelLRSA or ``torch.compile`` wrappers.

    Checkpoints and exported models hold this module's state, so a run resumes (and a
    model serves) whatever the data or domain parallelism it was trained with.
    """
    while True:  # e.g. torch.compile(DistributedDataParallel(model)), as lrsa-train wraps it
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        elif isinstance(model, Unwrappable):  # e.g. DomainParallelLRSA
            model = model.unwrap()
        elif hasattr(model, "_orig_mod"):  # torch.compile
            model = model._orig_mod
        else:
            return model


def atomic_save_module(model: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Save a PhysicsNeMo Module as ``.mdlus`` so that ``path`` is either old or complete.

    Parameters
    ----------
    model : physicsnemo.Module
        Model (DDP / compile wrappers are removed).
    path : path-like
        Destination ending in ``.mdlus``.

    Returns
    -------
    Path
        The destination.
    """
    target = Path(path)
    if target.suffix != ".mdlus":
        raise ValueError(f"{target}: a PhysicsNeMo model file must end in .mdlus")
    return atomic_replace(target, lambda temporary: unwrap_model(model).save(str(temporary)),
                          suffix=".mdlus")


def capture_rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch CPU and CUDA generator states."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def gather_rng_states(world_size: int) -> list[dict[str, Any]]:
    """Every rank's generator states, indexed by rank (a collective when distributed)."""
    local = capture_rng_state()
    if world_size == 1 or not (dist.is_available() and dist.is_initialized()):
        return [local]
    gathered: list[Any] = [None] * world_size
    dist.all_gather_object(gathered, local)
    return gathered


def load_training_state(path: Path) -> dict[str, Any]:
    """A ``checkpoint.0.<epoch>.pt`` training state, unpickled with ``weights_only=True``.

    Only :data:`TRAINING_STATE_GLOBALS` are allowed beyond what ``weights_only`` always
    allows, so a crafted file's pickle cannot run code.

    Raises
    ------
    CheckpointError
        One line naming the file: it holds objects outside the allowed training state
        (with the names it would have imported), cannot be read, or is not a training
        state of lrsa-train.
    """
    with torch.serialization.safe_globals(TRAINING_STATE_GLOBALS):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            # torch's message advises turning the check off: say what was refused instead.
            refused = ", ".join(refused_globals(path))
            raise CheckpointError(
                f"{path}: holds objects outside the allowed training state{f' ({refused})' if refused else ''}; "
                "refused without loading it (lrsa-train writes tensors, numbers, strings, containers and "
                "NumPy random states only)"
            ) from error
        except Exception as error:  # the restricted unpickler fails on damaged bytes in many ways (struct.error, ...)
            raise CheckpointError(f"{path}: cannot be read as a training state ({one_line(error)})") from error
    if not isinstance(state, dict) or not isinstance(state.get("optimizer_state_dict"), dict) or not isinstance(
        state.get("metadata", {}), dict
    ):
        found = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path}: not a training state of lrsa-train (expected a dict with optimizer_state_dict and metadata, "
            f"found {str(found)[:200]})"
        )
    return state


def _check_optimizer_state(optimizer: torch.optim.Optimizer, launch_groups: list[dict[str, Any]]) -> None:
    """Refuse optimizer state that ``load_state_dict`` accepts but the first step would fail on.

    ``load_state_dict`` checks only the number of groups and of parameters: moments of
    another model's shapes, or a learning rate that is not a number, pass it and fail
    (or train wrongly) at the first step.

    Raises
    ------
    ValueError
        Names the parameter or group setting that does not fit.
    """
    for index, (group, launched) in enumerate(zip(optimizer.param_groups, launch_groups)):
        for key, value in launched.items():
            loaded = group.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                    isinstance(loaded, bool) or not isinstance(loaded, (int, float)) or not math.isfinite(loaded)):
                raise ValueError(f"param group {index}'s {key} is {str(loaded)[:40]!r}, not a finite number")
        for position, parameter in enumerate(group["params"]):
            for name, value in optimizer.state.get(parameter, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != parameter.shape:
                    raise ValueError(f"the {name} of parameter {position} of group {index} has shape "
                                     f"{tuple(value.shape)}, the parameter {tuple(parameter.shape)}")


class CheckpointManager:
    """Atomic, resumable checkpoints in one folder, in PhysicsNeMo's layout.

    Parameters
    ----------
    directory : path-like
        Checkpoint folder (``<output_dir>/checkpoints``).
    keep_last : int
        Complete checkpoints kept; older ones are deleted after each successful save.
    writer : bool
        Whether this process writes (rank 0). Every process may read.
    """

    def __init__(self, directory: str | os.PathLike, keep_last: int, writer: bool) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        self.directory = Path(directory)
        self.keep_last = keep_last
        self.writer = writer

    def training_state_file(self, epoch: int) -> Path:
        """``checkpoint.0.<epoch>.pt``: optimizer, scaler, epoch and metadata."""
        return self.directory / f"{TRAINING_STATE_PREFIX}.0.{epoch}.pt"

    def _model_file(self, model: torch.nn.Module, epoch: int) -> Path:
        return self.directory / f"{type(unwrap_model(model)).__name__}.0.{epoch}.mdlus"

    def complete_epochs(self, model: torch.nn.Module) -> list[int]:
        """Epochs whose model and training-state files both exist, oldest first."""
        if not self.directory.is_dir():
            return []
        epochs = []
        for path in self.directory.iterdir():
            match = _TRAINING_STATE_PATTERN.match(path.name)
            if match and self._model_file(model, int(match.group(1))).is_file():
                epochs.append(int(match.group(1)))
        return sorted(epochs)

    def latest_epoch(self, model: torch.nn.Module) -> int | None:
        """The newest complete checkpoint's epoch, or None."""
        epochs = self.complete_epochs(model)
        return epochs[-1] if epochs else None

    def save(
        self,
        epoch: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        scaler: torch.amp.GradScaler,
        metadata: dict[str, Any],
    ) -> Path | None:
        """Write the checkpoint of ``epoch`` (>= 1) atomically; only the writer rank writes.

        Returns
        -------
        list of Path
            The model and training-state files, at their final names, on the writer
            rank; empty elsewhere.

        Raises
        ------
        FloatingPointError
            A model parameter is NaN or Inf: nothing is written, so the previous
            checkpoints stay the newest.
        """
        if epoch < 1:
            raise ValueError(f"checkpoint epochs start at 1, got {epoch}")
        if not self.writer:
            return []
        bad = [name for name, p in unwrap_model(model).named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise FloatingPointError(
                f"refusing to checkpoint epoch {epoch}: parameters {bad[:5]} hold NaN/Inf; "
                f"the last good checkpoint in {self.directory} is kept"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{epoch}-", dir=self.directory))
        try:
            with _quiet_physicsnemo_checkpoint_logger():
                save_checkpoint(
                    str(staging),
                    models=unwrap_model(model),
                    optimizer=optimizer,
                    scheduler=scheduler,
                    scaler=scaler,
                    epoch=epoch,
                    metadata=metadata,
                )
            staged = sorted(staging.iterdir(), key=lambda p: p.name.startswith(TRAINING_STATE_PREFIX))
            for path in staged:
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(path, self.directory / path.name)
            fsync_directory(self.directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._prune(model)
        return [self.directory / path.name for path in staged]

    def _prune(self, model: torch.nn.Module) -> None:
        complete = self.complete_epochs(model)
        for epoch in complete[: -self.keep_last]:
            # Training state first: a half-pruned checkpoint must not look complete.
            self.training_state_file(epoch).unlink(missing_ok=True)
            self._model_file(model, epoch).unlink(missing_ok=True)
        for leftover in self.directory.glob(f"{_STAGING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def load_newest(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        check_metadata: Callable[[int, dict[str, Any]], None],
    ) -> ResumePoint | None:
        """Restore model, optimizer and scaler from the newest checkpoint that reads back.

        A checkpoint whose files are damaged (truncated, corrupt) is skipped for the
        previous one, and named in :attr:`ResumePoint.damaged`. Every rank reads the
        same files, so every rank settles on the same epoch.

        Parameters
        ----------
        model, optimizer, scaler
            Restored in place (the model without its DDP / compile wrappers).
        check_metadata : callable
            ``check_metadata(epoch, metadata)`` runs before any state is loaded and raises
            to refuse the checkpoint (e.g. it was written for other settings).

        Returns
        -------
        ResumePoint or None
            None when the folder holds no checkpoint.

        Raises
        ------
        CheckpointError
            Checkpoints exist but none of them can be read back, or the newest readable
            one does not fit the model or optimizer.
        """
        epochs = self.complete_epochs(model)
        damaged: list[str] = []
        for epoch in reversed(epochs):
            state_file, model_file = self.training_state_file(epoch), self._model_file(model, epoch)
            problems = [f"{path}: {problem}" for path in (state_file, model_file) if (problem := archive_problem(path))]
            if problems:
                damaged.extend(problems)
                continue
            state = load_training_state(state_file)
            if state.get("epoch") != epoch:
                raise CheckpointError(
                    f"{state_file}: holds the training state of epoch {state.get('epoch')!r}, not {epoch}; "
                    "the checkpoint folder was modified by hand?"
                )
            metadata = state.get("metadata", {})
            check_metadata(epoch, metadata)
            try:
                load_trusted_weights(unwrap_model(model), model_file)
            except UntrustedFileError as error:
                raise CheckpointError(str(error)) from error
            except ModelFileError as error:
                # Reached by checkpoints whose metadata could not tell (older lrsa-train versions).
                raise CheckpointError(
                    f"{error}; it was written with other model.* settings: choose another output_dir"
                ) from error
            launch_groups = [dict(group) for group in optimizer.param_groups]
            try:
                optimizer.load_state_dict(state["optimizer_state_dict"])
                _check_optimizer_state(optimizer, launch_groups)
            except (RuntimeError, ValueError, KeyError, TypeError) as error:
                summary = one_line(error, 300)
                raise CheckpointError(
                    f"{state_file}: does not fit the optimizer of this launch ({summary}); it was written with "
                    "other model.* or training.optimizer settings: choose another output_dir"
                ) from error
            if state.get("scaler_state_dict"):
                scaler.load_state_dict(state["scaler_state_dict"])
            return ResumePoint(epoch, metadata, damaged, state.get("scheduler_state_dict"))
        if damaged:
            raise CheckpointError(
                f"no checkpoint in {self.directory} can be read back:\n  " + "\n  ".join(damaged)
                + f"\nMove {self.directory} away to train from epoch 1, or choose another output_dir"
            )
        return None
