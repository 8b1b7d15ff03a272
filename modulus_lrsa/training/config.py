# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Checks on the composed Hydra config, run before any data is read or any process group starts.

A typo in a launch command on a cluster should cost seconds, not a queue slot: every
check here names the offending key (``training.precision``, ``data.path``...), the
value it got and what it expected, and all problems are reported together.
"""

from __future__ import annotations

import inspect
import math
import os
import types
import typing
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class, get_method
from omegaconf import DictConfig, OmegaConf

from modulus_lrsa.datapipes.cache import ON_ERROR_CHOICES
from modulus_lrsa.datapipes.grid import GRID_VIEWS
from modulus_lrsa.errors import ConfigError
from modulus_lrsa.io.darcy import METADATA_FILE
from modulus_lrsa.io.fields import FIELD_LOCATIONS
from modulus_lrsa.models import LRSA
from modulus_lrsa.surrogate import PRECISIONS

DEVICES = ("auto", "cpu", "cuda")
#: The schedule presets, ``training/scheduler=<file name>``.
SCHEDULER_PRESETS = Path(__file__).resolve().parents[1] / "conf" / "training" / "scheduler"
DATA_KINDS = ("darcy", "mesh")


class _Problems:
    """Collects ``key: message`` lines so that one run reports every mistake at once."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.lines: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.lines.append(f"{key}: {message}")

    def value(self, key: str) -> Any:
        """The value at a dotted key, or :data:`REPORTED` after reporting it as absent or ``???``."""
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(self.cfg, parent, default=None) if parent else self.cfg
        if not isinstance(node, DictConfig) or leaf not in node.keys():
            self.add(key, "is missing from the config")
            return REPORTED
        if OmegaConf.is_missing(node, leaf):
            self.add(key, f"is required (still ??? in the config); set it on the command line, e.g. {key}=...")
            return REPORTED
        return node[leaf]

    def integer(self, key: str, minimum: int, allow_none: bool = False) -> None:
        value = self.value(key)
        if value is REPORTED or (allow_none and value is None):
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.add(key, f"expected an integer >= {minimum}, got {value!r}")

    def number(self, key: str, minimum: float, inclusive: bool = True, allow_none: bool = False) -> None:
        value = self.value(key)
        if value is REPORTED or (allow_none and value is None):
            return
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            ok = value >= minimum if inclusive else value > minimum
        if not ok:
            relation = ">=" if inclusive else ">"
            self.add(key, f"expected a number {relation} {minimum}, got {value!r}")

    def choice(self, key: str, choices: tuple[str, ...]) -> None:
        value = self.value(key)
        if value is not REPORTED and value not in choices:
            self.add(key, f"expected one of {', '.join(choices)}, got {value!r}")

    def boolean(self, key: str) -> None:
        value = self.value(key)
        if value is not REPORTED and not isinstance(value, bool):
            self.add(key, f"expected true or false, got {value!r}")


#: Returned by :meth:`_Problems.value` for a key already reported as absent or missing.
REPORTED = object()


def _check_training(problems: _Problems, world_size: int) -> None:
    problems.integer("training.seed", 0)
    problems.integer("training.epochs", 1)
    problems.integer("training.batch_size", 1)
    data_ranks = _check_domain_parallel(problems, world_size)
    batch_size = OmegaConf.select(problems.cfg, "training.batch_size", default=None)
    if isinstance(batch_size, int) and batch_size >= 1 and batch_size % data_ranks:
        ranks = (
            f"{data_ranks} ranks of this launch" if data_ranks == world_size
            else f"{data_ranks} data groups of this launch ({world_size} ranks / training.domain_parallel_size)"
        )
        problems.add(
            "training.batch_size",
            f"the global batch {batch_size} does not split evenly over the {ranks} "
            f"(each takes training.batch_size / {data_ranks} samples per step); use a multiple of "
            f"{data_ranks}, e.g. training.batch_size={data_ranks * math.ceil(batch_size / data_ranks)}",
        )
    problems.integer("training.eval_batch_size", 1)
    problems.integer("training.num_workers", 0)
    problems.number("training.optimizer.lr", 0.0, inclusive=False)
    problems.number("training.optimizer.weight_decay", 0.0)
    _check_scheduler(problems)
    pct_start = OmegaConf.select(problems.cfg, "training.scheduler.pct_start", default=None)
    if isinstance(pct_start, (int, float)) and not 0.0 < pct_start < 1.0:
        problems.add("training.scheduler.pct_start", f"expected a fraction in (0, 1), got {pct_start!r}")
    problems.number("training.grad_clip_norm", 0.0, inclusive=False, allow_none=True)
    problems.choice("training.precision", PRECISIONS)
    problems.choice("training.device", DEVICES)
    if OmegaConf.select(problems.cfg, "training.device", default=None) == "cuda" and not torch.cuda.is_available():
        problems.add(
            "training.device",
            "cuda asked for, but torch sees no CUDA GPU (CUDA_VISIBLE_DEVICES="
            f"{os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')!r}); use training.device=auto to train on "
            "what this machine has, or training.device=cpu",
        )
    problems.integer("training.checkpoint_every_epochs", 1)
    problems.integer("training.validate_every_epochs", 1)
    problems.integer("training.keep_checkpoints", 1)
    problems.integer("training.max_consecutive_nonfinite", 1)
    problems.integer("training.eval_chunk_points", 1)
    problems.boolean("training.resume")
    problems.boolean("training.compile")
    problems.number("training.time_limit_minutes", 0.0, inclusive=False, allow_none=True)


def _check_domain_parallel(problems: _Problems, world_size: int) -> int:
    """``training.domain_parallel_size`` against the launch and the model; returns the data ranks.

    Sharding a sample's points needs LRSA (:class:`~modulus_lrsa.models.DomainParallelLRSA`
    merges its compression exactly), on point clouds (a grid's convolution would need
    halos across shard borders), without dropout (the latents are replicated over a
    domain group, so every rank would have to draw the same masks).
    """
    key = "training.domain_parallel_size"
    problems.integer(key, 1)
    domain = OmegaConf.select(problems.cfg, key, default=1)
    if isinstance(domain, bool) or not isinstance(domain, int) or domain < 1:
        return world_size
    if world_size % domain:
        problems.add(
            key,
            f"world size {world_size} does not split into domain groups of {domain} ranks: a launch is "
            f"data x domain ranks, so the world size must be a multiple of {domain} (or {key} a divisor "
            f"of {world_size})",
        )
        return world_size
    if domain == 1:
        return world_size
    target = str(OmegaConf.select(problems.cfg, "model._target_", default=None))
    try:
        is_lrsa = issubclass(get_class(target), LRSA)
    except (ImportError, ValueError, AttributeError):
        return world_size // domain  # _check_model reports the target
    if not is_lrsa:
        problems.add(
            key,
            f"{domain} shards each sample's points, which only LRSA models support (DomainParallelLRSA); "
            f"model._target_ is {target}: train it with {key}=1 (data parallelism)",
        )
    if OmegaConf.select(problems.cfg, "model.structured_shape", default=None) is not None or (
        OmegaConf.select(problems.cfg, "data.kind", default=None) == "darcy"
        and OmegaConf.select(problems.cfg, "data.view", default=None) == "grid"
    ):
        problems.add(
            key,
            f"{domain} shards point clouds only: a structured grid's convolutional point FFN needs "
            "neighbours across shard borders; use data.view=points (and model.structured_shape=null)",
        )
    if OmegaConf.select(problems.cfg, "training.compile", default=False) is True:
        problems.add(
            key,
            f"{domain} runs the sharded forward, whose merge of the compression over ranks is a "
            "collective inside autograd that torch.compile does not trace; use training.compile=false "
            f"with {key}={domain}, or training.compile=true with {key}=1",
        )
    dropout = OmegaConf.select(problems.cfg, "model.dropout", default=0.0)
    if isinstance(dropout, (int, float)) and dropout > 0:
        problems.add(
            key,
            f"{domain} replicates the latents over each domain group, so every rank would need the same "
            f"dropout masks, which sharded training does not provide; use model.dropout=0 (got {dropout})",
        )
    return world_size // domain


def _check_scheduler(problems: _Problems) -> None:
    """A ``_target_`` that takes the configured keys, and a ``name`` that agrees with it.

    ``name`` chose the schedule before schedules were built from ``_target_``; now the
    config group does (``training/scheduler=cosine``), and a ``name`` set on its own is
    refused with that advice rather than silently ignored.
    """
    scheduler = OmegaConf.select(problems.cfg, "training.scheduler", default=None)
    presets = {path.stem: OmegaConf.load(path) for path in sorted(SCHEDULER_PRESETS.glob("*.yaml"))}
    choose = f"choose a schedule with training/scheduler=<{' | '.join(presets)}> (a config group)"
    if not isinstance(scheduler, DictConfig) or not scheduler.get("_target_"):
        problems.add("training.scheduler._target_", f"names no scheduler; {choose}")
        return
    target = str(scheduler._target_)
    name = scheduler.get("name")
    targets = {preset_name: preset._target_ for preset_name, preset in presets.items()}
    if name is not None and targets.get(name) != target and (name in targets or target in targets.values()):
        if name in targets:
            problems.add(
                "training.scheduler.name",
                f"'{name}' no longer chooses the schedule (this config builds {target}); use training/scheduler={name}",
            )
        else:
            problems.add("training.scheduler.name", f"expected one of {', '.join(targets)}, got {name!r}; {choose}")
        return
    if not scheduler.get("_partial_", False):
        problems.add("training.scheduler._partial_", "must be true: lrsa-train passes the optimizer and the run length")
    try:
        parameters = inspect.signature(get_method(target)).parameters
    except (ImportError, ValueError, AttributeError, TypeError) as error:
        problems.add("training.scheduler._target_", f"cannot import {target} ({error})")
        return
    for key in scheduler.keys():
        if key != "name" and not str(key).startswith("_") and key not in parameters:
            accepted = ", ".join(parameter for parameter in parameters if parameter != "optimizer")
            problems.add(f"training.scheduler.{key}", f"{target} takes no argument '{key}' (it takes: {accepted})")
    for key, minimum, inclusive in (
        ("pct_start", 0.0, False), ("div_factor", 0.0, False), ("final_div_factor", 0.0, False),
        ("warmup_epochs", 0.0, True), ("min_lr", 0.0, True),
    ):
        if key in scheduler.keys():
            problems.number(f"training.scheduler.{key}", minimum, inclusive=inclusive)


def _check_data(problems: _Problems) -> None:
    kind = problems.value("data.kind")
    if kind is REPORTED:
        return
    if kind not in DATA_KINDS:
        problems.add("data.kind", f"expected one of {', '.join(DATA_KINDS)}, got {kind!r}")
        return
    path = problems.value("data.path")
    if path is not REPORTED:
        folder = Path(str(path))
        if not folder.is_dir():
            hint = (
                f"build it with `lrsa-data darcy --out {folder}`"
                if kind == "darcy"
                else "point data.path at a folder of cases (see examples/cfd/airfoil/README.md)"
            )
            problems.add("data.path", f"folder {folder.resolve()} does not exist; {hint}")
        elif kind == "darcy" and not (folder / METADATA_FILE).is_file():
            problems.add(
                "data.path",
                f"{folder.resolve()} holds no {METADATA_FILE}, so it is not a Darcy dataset "
                f"(build one with `lrsa-data darcy --out {folder}`)",
            )
    if kind == "darcy":
        problems.choice("data.view", GRID_VIEWS)
        for key in ("data.train_points", "data.max_train_samples", "data.max_val_samples"):
            problems.integer(key, 1, allow_none=True)
        if (
            OmegaConf.select(problems.cfg, "data.train_points", default=None) is not None
            and OmegaConf.select(problems.cfg, "data.view", default=None) == "grid"
        ):
            problems.add("data.train_points", "random point subsets need data.view=points (the grid view keeps every node)")
        return
    for key in ("data.volume_fields", "data.surface_fields", "data.conditions"):
        value = problems.value(key)
        if value is not REPORTED and not OmegaConf.is_list(value):
            problems.add(key, f"expected a list of field names, e.g. [p, 'U[0,1]'], got {value!r}")
    volume = OmegaConf.select(problems.cfg, "data.volume_fields", default=None)
    surface = OmegaConf.select(problems.cfg, "data.surface_fields", default=None)
    if OmegaConf.is_list(volume) and OmegaConf.is_list(surface) and not volume and not surface:
        problems.add("data.volume_fields", "volume_fields and surface_fields are both empty: there is nothing to learn")
    problems.choice("data.volume_location", FIELD_LOCATIONS)
    problems.choice("data.surface_location", FIELD_LOCATIONS)
    problems.choice("data.on_error", ON_ERROR_CHOICES)
    problems.integer("data.preprocess_workers", 0)
    problems.number("data.test_fraction", 0.0)
    for key in ("data.volume_points", "data.surface_points"):
        problems.integer(key, 0, allow_none=True)
    problems.value("data.train_split")
    problems.value("data.val_split")
    if OmegaConf.select(problems.cfg, "data.forces.enabled", default=False):
        problems.number("data.forces.chord", 0.0, inclusive=False)
        problems.number("data.forces.span", 0.0, inclusive=False)
        problems.value("data.forces.pressure")
        problems.value("data.forces.speed")
        problems.value("data.forces.angle_of_attack_deg")
        sign = OmegaConf.select(problems.cfg, "data.forces.wall_shear_sign", default=None)
        if sign not in (1, -1, 1.0, -1.0):
            problems.add("data.forces.wall_shear_sign", f"expected 1 or -1, got {sign!r}")


def _check_logging(problems: _Problems) -> None:
    problems.integer("logging.log_every_steps", 1)
    problems.boolean("logging.progress_bar")
    problems.boolean("logging.tensorboard.enabled")
    problems.boolean("logging.mlflow.enabled")


#: Descriptions of the argument types the model check understands.
_SIMPLE_TYPES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _simple_types(annotation: Any) -> tuple[list[type], bool] | None:
    """(types, None allowed) of an ``int``/``float``/``bool``/``str`` annotation or a union of them."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = typing.get_args(annotation) if union else (annotation,)
    kinds = [member for member in members if member is not type(None)]
    if not kinds or any(kind not in _SIMPLE_TYPES for kind in kinds):
        return None
    return kinds, len(kinds) < len(members)


def _matches(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _check_model(problems: _Problems) -> None:
    """The class exists and takes every ``model.*`` key, with values of the annotated types."""
    target = OmegaConf.select(problems.cfg, "model._target_", default=None)
    if not target:
        problems.add("model._target_", "the model config names no class to instantiate (e.g. model=lrsa)")
        return
    try:
        model_class = get_class(str(target))
    except (ImportError, ValueError, AttributeError) as error:
        problems.add("model._target_", f"cannot import {target} ({error})")
        return
    try:
        parameters = inspect.signature(model_class.__init__, eval_str=True).parameters
    except (NameError, TypeError, ValueError):
        # Annotations that do not evaluate here: instantiation reports what is wrong.
        return
    takes_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values())
    model_cfg = problems.cfg.model
    for key in model_cfg.keys():
        if str(key).startswith("_") or OmegaConf.is_missing(model_cfg, key):
            continue
        if key not in parameters:
            if not takes_any:
                accepted = ", ".join(name for name in parameters if name != "self")
                problems.add(f"model.{key}", f"{target} takes no argument '{key}' (it takes: {accepted})")
            continue
        accepted_types = _simple_types(parameters[key].annotation)
        if accepted_types is None:
            continue
        kinds, allows_none = accepted_types
        value = model_cfg[key]
        if (value is None and allows_none) or any(_matches(value, kind) for kind in kinds):
            continue
        expected = " or ".join(_SIMPLE_TYPES[kind] for kind in kinds) + (" or null" if allows_none else "")
        problems.add(f"model.{key}", f"expected {expected}, got {value!r}")


def validate_config(cfg: DictConfig, world_size: int = 1) -> None:
    """Check every key the training run reads.

    Parameters
    ----------
    cfg : DictConfig
        The composed config (``model``, ``data``, ``training``, ``logging``, ``output_dir``).
    world_size : int
        Processes of the launch (torchrun's ``WORLD_SIZE``), for the batch split and
        the data x domain mesh.

    Raises
    ------
    ConfigError
        One line per problem, each starting with the dotted key.
    """
    problems = _Problems(cfg)
    problems.value("output_dir")
    _check_model(problems)
    _check_training(problems, world_size)
    _check_data(problems)
    _check_logging(problems)
    if problems.lines:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems.lines))
