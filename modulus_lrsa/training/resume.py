# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""What a checkpoint was trained on, so that a relaunch resumes the same run and nothing else.

Every checkpoint carries a *fingerprint* of its run:

* data: the ``data.*`` settings (with ``data.path`` made absolute), the data descriptor
  (feature layout and normalisation statistics of the training split) and the number of
  training and validation samples;
* model: the model config with the widths taken from the data;
* schedule: ``training.epochs``, the global batch, the steps per epoch and the
  optimiser and scheduler settings (``training.scheduler``, its ``_target_`` included).

A relaunch compares the checkpoint's fingerprint with its own. Anything but
``training.epochs`` that differs means another run: resuming would mix two
normalisations, two validation sets (so the best-model choice compares unlike numbers)
or two learning-rate schedules, so it is refused with the list of differences.
``training.epochs`` may change; the trainer then rebuilds the schedule for the new
total, which extends (or shortens) the run, but not below the epoch the newest
checkpoint has reached (:func:`ensure_epochs_reach_checkpoint`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from modulus_lrsa.errors import ConfigError
from modulus_lrsa.training.checkpoint import newest_saved_epoch
from modulus_lrsa.training.data import TrainingData
from modulus_lrsa.training.schedules import scheduler_name

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
            "Resuming would mix the two runs (normalisation, validation set, learning-rate schedule, "
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
