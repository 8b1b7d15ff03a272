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

The training state also carries every rank's random-number-generator states, so a
resumed run draws the same dropout masks and random numbers as an uninterrupted one.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from physicsnemo.utils.checkpoint import load_checkpoint, save_checkpoint

from modulus_lrsa.atomic import atomic_replace, fsync_directory

TRAINING_STATE_PREFIX = "checkpoint"
_STAGING_PREFIX = ".staging-"


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The user module inside DistributedDataParallel or ``torch.compile`` wrappers."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    return getattr(model, "_orig_mod", model)


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

    def _training_state_file(self, epoch: int) -> Path:
        return self.directory / f"{TRAINING_STATE_PREFIX}.0.{epoch}.pt"

    def _model_file(self, model: torch.nn.Module, epoch: int) -> Path:
        return self.directory / f"{type(unwrap_model(model)).__name__}.0.{epoch}.mdlus"

    def complete_epochs(self, model: torch.nn.Module) -> list[int]:
        """Epochs whose model and training-state files both exist, oldest first."""
        if not self.directory.is_dir():
            return []
        pattern = re.compile(rf"^{TRAINING_STATE_PREFIX}\.0\.(\d+)\.pt$")
        epochs = []
        for path in self.directory.iterdir():
            match = pattern.match(path.name)
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
        Path or None
            The training-state file on the writer rank, None elsewhere.

        Raises
        ------
        FloatingPointError
            A model parameter is NaN or Inf: nothing is written, so the previous
            checkpoints stay the newest.
        """
        if epoch < 1:
            raise ValueError(f"checkpoint epochs start at 1, got {epoch}")
        if not self.writer:
            return None
        bad = [name for name, p in unwrap_model(model).named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise FloatingPointError(
                f"refusing to checkpoint epoch {epoch}: parameters {bad[:5]} hold NaN/Inf; "
                f"the last good checkpoint in {self.directory} is kept"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{epoch}-", dir=self.directory))
        try:
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
        return self._training_state_file(epoch)

    def _prune(self, model: torch.nn.Module) -> None:
        complete = self.complete_epochs(model)
        for epoch in complete[: -self.keep_last]:
            # Training state first: a half-pruned checkpoint must not look complete.
            self._training_state_file(epoch).unlink(missing_ok=True)
            self._model_file(model, epoch).unlink(missing_ok=True)
        for leftover in self.directory.glob(f"{_STAGING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def load(
        self,
        epoch: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        scaler: torch.amp.GradScaler,
        device: torch.device,
    ) -> dict[str, Any]:
        """Restore model, optimizer, scheduler and scaler from a complete checkpoint.

        Returns
        -------
        dict
            The metadata saved with it (including ``"rng_states"``).
        """
        metadata: dict[str, Any] = {}
        loaded = load_checkpoint(
            str(self.directory),
            models=unwrap_model(model),
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=scaler,
            epoch=epoch,
            metadata_dict=metadata,
            device=device,
        )
        if loaded != epoch:
            raise RuntimeError(
                f"{self._training_state_file(epoch)}: expected the training state of epoch {epoch}, "
                f"found epoch {loaded}; the checkpoint folder was modified by hand?"
            )
        return metadata
