# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Checks on the composed Hydra config, run before any data is read or any process group starts.

A typo in a launch command on a cluster should cost seconds, not a queue slot: every
check here names the offending key (``training.precision``, ``data.path``...), the
value it got and what it expected, and all problems are reported together, one line
each, before ``output_dir`` or its lock exist.

What is checked, in two passes:

* the schemas (:mod:`modulus_lrsa.training.schema`): every value is set onto its
  OmegaConf structured config one key at a time, so OmegaConf refuses unknown keys and
  wrong types (and this module refuses the conversions it would make silently, ``'3'``
  to 3, ``yes`` to true, as the run reads the values as given), each refusal becoming
  one line naming the key, the value and what was expected. Unknown keys are named
  with the nearest known key; a key of a ``_target_`` mapping must be an argument of
  the target. Every value resolves (interpolations) and every number is finite;
* what one key cannot say alone: the batch against the launch's ranks, what domain
  parallelism can shard, ``data.path`` as far as it can be told without reading a case
  (the folder is there, no generator is writing it, the splits exist, the lift/drag
  channels are among the fields), the optimizer and the schedule (built once on a
  dummy parameter), and whether ``output_dir`` and ``data.cache_dir`` can be folders.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue, OmegaConfBaseException

from modulus_lrsa.data.lock import dataset_writer
from modulus_lrsa.datapipes.cases import MANIFEST_NAME, MeshCacheConfig, list_cases
from modulus_lrsa.errors import ConfigError, MeshDataError
from modulus_lrsa.forces import ForceSettings
from modulus_lrsa.io.darcy import METADATA_FILE
from modulus_lrsa.io.fields import FieldSelector
from modulus_lrsa.training.data import in_config_terms, mesh_cache_config
from modulus_lrsa.training.schedules import build_scheduler
from modulus_lrsa.training.schema import (
    DATA_KINDS,
    DATA_SCHEMAS,
    IMPORT_ERRORS,
    Config,
    check_against,
    non_finite,
    signature_schema,
    target_arguments,
)
from modulus_lrsa.training.step import check_cuda_graphs

#: lrsa-train's config folder.
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
#: The schedule presets, ``training/scheduler=<file name>``.
SCHEDULER_PRESETS = CONF_DIR / "training" / "scheduler"
class _Problems:
    """Collects ``key: message`` lines so that one run reports every mistake at once."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.lines: list[str] = []

    def add(self, key: str, message: str) -> None:
        # One line per problem, whatever the text it quotes (an import error, a path) holds.
        line = f"{key}: " + " ".join(part.strip() for part in message.splitlines() if part.strip())
        if line not in self.lines:
            self.lines.append(line)

    def reported(self, prefix: str) -> bool:
        """Whether a line names ``prefix`` or a key below it."""
        return any(line.startswith((f"{prefix}:", f"{prefix}.", f"{prefix}[")) for line in self.lines)

    def get(self, key: str, default: Any = None) -> Any:
        """The value at a dotted key, or ``default`` where the path does not lead to one (a list on the way)."""
        try:
            return OmegaConf.select(self.cfg, key, default=default)
        except OmegaConfBaseException:
            return default







# ------------------------------------------------------------- the schemas


@functools.cache
def _model_schema(model_class: type) -> type:
    """The schema of ``model.*``: the class's ``__init__`` arguments, typed as annotated.

    Raises
    ------
    NameError, TypeError, ValueError
        The annotations do not evaluate here.
    """
    return signature_schema(f"{model_class.__name__}Settings", model_class.__init__,
                            {"_target_": (str, dataclasses.field(default="???"))})


def _check_model(problems: _Problems, model: Any) -> None:
    """The class exists and takes every ``model.*`` key, with values of the annotated types."""
    target = model.get("_target_")
    if not target:
        problems.add("model._target_", "the model config names no class to instantiate (e.g. model=lrsa)")
        return
    try:
        model_class = get_class(str(target))
    except (ImportError, ValueError, AttributeError) as error:
        problems.add("model._target_", f"cannot import {target} ({error})")
        return
    try:
        schema = _model_schema(model_class)
    except (NameError, TypeError, ValueError):
        return  # annotations that do not evaluate here: instantiation reports what is wrong
    check_against(problems.add, schema, model, "model")


def _check_data_schema(problems: _Problems, data: Any) -> None:
    """``data`` against the schema of its ``data.kind``."""
    kind = data.get("kind")
    if "kind" not in data:
        problems.add("data.kind", "is missing from the config")
    elif kind == "???":
        problems.add("data.kind", "is required (still ??? in the config); set it on the command line, e.g. data.kind=...")
    elif isinstance(kind, str) and kind in DATA_KINDS:
        check_against(problems.add, DATA_SCHEMAS[kind], data, "data")
    else:
        problems.add("data.kind", f"expected one of {', '.join(DATA_KINDS)}, got {kind!r}")


def _check_schemas(problems: _Problems, resolved: dict[str, Any]) -> None:
    """Every key against :class:`~modulus_lrsa.training.schema.Config`, the model's signature and the data kind's schema.

    :func:`validate_config` has made sure that ``model`` and ``data`` are mappings.
    """
    check_against(problems.add, Config, resolved, "", delegated={
        "model": functools.partial(_check_model, problems), "data": functools.partial(_check_data_schema, problems)})


def _resolved(node: DictConfig | ListConfig, prefix: str, problems: _Problems) -> Any:
    """``node`` as plain dicts and lists with every interpolation resolved.

    A value that cannot be resolved is reported under its own key; one that refers to a
    ``???`` value becomes ``???`` too (the key it refers to is reported as required).
    Resolved strings that read like an interpolation are escaped, so that the copy built
    from the result does not resolve them a second time.
    """
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    result: dict[Any, Any] | list[Any] = {} if isinstance(node, DictConfig) else []
    for key in keys:
        dotted = (f"{prefix}.{key}" if prefix else str(key)) if isinstance(node, DictConfig) else f"{prefix}[{key}]"
        if not prefix and key == "hydra":
            continue  # Hydra's own settings: Hydra checks them
        try:
            value = "???" if OmegaConf.is_missing(node, key) else node[key]
        except InterpolationToMissingValueError:
            value = "???"
        except OmegaConfBaseException as error:
            problems.add(dotted, f"cannot be resolved: {_one_line(error)}")
            value = None
        if isinstance(value, (DictConfig, ListConfig)):
            value = _resolved(value, dotted, problems)
        elif isinstance(value, str):
            value = value.replace("${", "\\${")
        if isinstance(result, dict):
            result[key] = value
        else:
            result.append(value)
    return result


def _check_finite(problems: _Problems, node: Any, prefix: str) -> None:
    """No NaN or Inf anywhere: no setting means anything with one (null means 'none' where allowed)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        dotted = (f"{prefix}.{key}" if prefix else str(key)) if isinstance(node, dict) else f"{prefix}[{key}]"
        if non_finite(value):
            problems.add(dotted, f"expected a finite number, got {value}")
        else:
            _check_finite(problems, value, dotted)



# ------------------------------------------------------- across the keys


def _check_training(problems: _Problems, world_size: int) -> None:
    """The batch against the launch, the device against the machine, the optimizer and the schedule built."""
    data_ranks = _check_domain_parallel(problems, world_size)
    batch_size = problems.get("training.batch_size", None)
    if not problems.reported("training.batch_size") and isinstance(batch_size, int) and batch_size % data_ranks:
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
    if problems.get("training.device", None) == "cuda" and not torch.cuda.is_available():
        problems.add(
            "training.device",
            "cuda asked for, but torch sees no CUDA GPU (CUDA_VISIBLE_DEVICES="
            f"{os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')!r}); use training.device=auto to train on "
            "what this machine has, or training.device=cpu",
        )
    if not problems.reported("training.cuda_graphs"):
        check_cuda_graphs(problems.cfg, world_size, problems.add)
    _check_loss(problems)
    _check_scheduler(problems)
    _build_optimizer_and_schedule(problems)


def _check_loss(problems: _Problems) -> None:
    """``training.loss``'s terms against the data: both integrate over a body's surface points.

    The force term also needs ``data.forces`` (which channels hold the pressure and wall
    shear, the free stream, the reference area), whose own check names its channels.
    """
    if problems.reported("training.loss"):
        return
    weight = problems.get("training.loss.force_weight", 0.0)
    area_weighted = problems.get("training.loss.surface_area_weighted", False)
    asked = [(key, what) for key, what, on in (
        ("training.loss.force_weight", f"{weight} integrates the forces", isinstance(weight, (int, float)) and weight > 0),
        ("training.loss.surface_area_weighted", "true weights the surface errors", area_weighted is True),
    ) if on]
    if not asked:
        return
    kind = problems.get("data.kind", None)
    surface = problems.get("data.surface_fields", None)
    for key, what in asked:
        off = f"{key.rpartition('.')[2]}={'0' if key.endswith('weight') else 'false'}"
        if kind != "mesh":
            problems.add(key, f"{what} over a body's surface points, and data.kind={kind} has none; "
                              f"use mesh data with data.surface_fields, or training.loss.{off}")
        elif OmegaConf.is_list(surface) and not surface:
            problems.add(key, f"{what} over the surface points, and data.surface_fields is empty; "
                              f"list the surface fields (e.g. data.surface_fields=[p]), or training.loss.{off}")
        elif key.endswith("force_weight") and problems.get("data.forces.enabled", False) is not True:
            problems.add(key, f"{what} with the data's lift/drag settings, and data.forces is not enabled; "
                              f"set data.forces.enabled=true (and its pressure, speed, ... keys), or training.loss.{off}")


def _build_optimizer_and_schedule(problems: _Problems) -> None:
    """Build ``training.optimizer`` and ``training.scheduler`` once, on a dummy parameter.

    Torch checks its own arguments (betas, eps, a ConstantLR factor...) only when they are
    built, which the run does after ``output_dir`` is locked and the data is read; built
    here, a refusal costs nothing. Skipped where a key of theirs is already reported.
    """
    optimizer_cfg = problems.get("training.optimizer", None)
    if problems.reported("training.optimizer") or problems.reported("training.epochs"):
        return
    if not isinstance(optimizer_cfg, DictConfig) or not isinstance(optimizer_cfg.get("_target_"), str):
        problems.add("training.optimizer._target_", "names no optimizer class, e.g. torch.optim.AdamW")
        return
    target = optimizer_cfg._target_
    if optimizer_cfg.get("_partial_") is not True:
        problems.add("training.optimizer._partial_", "must be true: lrsa-train passes the model's parameters")
        return
    try:
        optimizer = instantiate(optimizer_cfg)([torch.nn.Parameter(torch.zeros(1))])
    except Exception as error:  # noqa: BLE001 - whatever the class refuses, the config cannot train
        problems.add("training.optimizer", f"{target} refuses these settings: {_one_line(error)}")
        return
    if problems.reported("training.scheduler"):
        return
    scheduler_cfg = problems.cfg.training.scheduler
    try:
        build_scheduler(scheduler_cfg, optimizer, int(problems.cfg.training.epochs), 1,
                        peak_lr=float(optimizer_cfg.lr), warn=lambda note: None)
    except Exception as error:  # noqa: BLE001 - as above
        problems.add("training.scheduler", f"{scheduler_cfg._target_} refuses these settings: {_one_line(error)}")


def _one_line(error: BaseException) -> str:
    """The first line of what a constructor said (Hydra wraps it in InstantiationException)."""
    cause = error.__cause__ or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}".rstrip(": ")


def _shards_points(target: str) -> bool | None:
    """Whether the model class ``target`` can shard its points (it has ``domain_parallel``, the
    :class:`~modulus_lrsa.distributed.SupportsDomainParallel` protocol, as LRSA and its ablations
    do); None when it cannot be imported. Asked of the class, so the check imports no model room."""
    try:
        model_class = get_class(target)
    except (ImportError, ValueError, AttributeError):
        return None
    return callable(getattr(model_class, "domain_parallel", None))


def _check_domain_parallel(problems: _Problems, world_size: int) -> int:
    """``training.domain_parallel_size`` against the launch and the model; returns the data ranks.

    Sharding a sample's points needs LRSA (:class:`~modulus_lrsa.models.DomainParallelLRSA`
    merges its compression exactly), on point clouds (a grid's convolution would need
    halos across shard borders), without dropout (the latents are replicated over a
    domain group, so every rank would have to draw the same masks).
    """
    key = "training.domain_parallel_size"
    domain = problems.get(key, 1)
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
    target = str(problems.get("model._target_", None))
    shards_points = _shards_points(target)
    if shards_points is None:
        return world_size // domain  # _check_model reports the target
    if not shards_points:
        problems.add(
            key,
            f"{domain} shards each sample's points, which only LRSA models support (DomainParallelLRSA); "
            f"model._target_ is {target}: train it with {key}=1 (data parallelism)",
        )
    if problems.get("model.structured_shape", None) is not None or (
        problems.get("data.kind", None) == "darcy"
        and problems.get("data.view", None) == "grid"
    ):
        problems.add(
            key,
            f"{domain} shards point clouds only: a structured grid's convolutional point FFN needs "
            "neighbors across shard borders; use data.view=points (and model.structured_shape=null)",
        )
    if problems.get("training.compile", False) is True:
        problems.add(
            key,
            f"{domain} runs the sharded forward, whose merge of the compression over ranks is a "
            "collective inside autograd that torch.compile does not trace; use training.compile=false "
            f"with {key}={domain}, or training.compile=true with {key}=1",
        )
    dropout = problems.get("model.dropout", 0.0)
    if isinstance(dropout, (int, float)) and dropout > 0:
        problems.add(
            key,
            f"{domain} replicates the latents over each domain group, so every rank would need the same "
            f"dropout masks, which sharded training does not provide; use model.dropout=0 (got {dropout})",
        )
    return world_size // domain


@functools.cache
def _scheduler_targets() -> dict[str, str]:
    """The ``_target_`` of each schedule preset, by preset name."""
    return {path.stem: str(OmegaConf.load(path)._target_) for path in sorted(SCHEDULER_PRESETS.glob("*.yaml"))}


def _check_scheduler(problems: _Problems) -> None:
    """A ``_target_`` that takes the configured keys, and a ``name`` that agrees with it.

    ``name`` chose the schedule before schedules were built from ``_target_``; now the
    config group does (``training/scheduler=cosine``), and a ``name`` set on its own is
    refused with that advice rather than silently ignored.
    """
    scheduler = problems.get("training.scheduler", None)
    targets = _scheduler_targets()
    choose = f"choose a schedule with training/scheduler=<{' | '.join(targets)}> (a config group)"
    if not isinstance(scheduler, DictConfig) or not scheduler.get("_target_"):
        if not problems.reported("training.scheduler"):
            problems.add("training.scheduler._target_", f"names no scheduler; {choose}")
        return
    target = str(scheduler._target_)
    name = scheduler.get("name")
    if isinstance(name, str) and targets.get(name) != target and (name in targets or target in targets.values()):
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
        target_arguments(target)
    except IMPORT_ERRORS as error:
        problems.add("training.scheduler._target_", f"cannot import {target} ({_one_line(error)})")


def _check_data(problems: _Problems) -> None:
    """The dataset folder and, for meshes, what the data keys say about each other and about the cases."""
    kind = problems.get("data.kind", None)
    if problems.reported("data.kind") or kind not in DATA_KINDS:
        return
    folder = _check_data_path(problems, kind)
    if kind == "darcy":
        if (
            problems.get("data.train_points", None) is not None
            and problems.get("data.view", None) == "grid"
            and not problems.reported("data.train_points")
        ):
            problems.add("data.train_points", "random point subsets need data.view=points (the grid view keeps every node)")
        return
    _check_mesh_settings(problems)
    if problems.reported("data"):
        return
    try:
        config = mesh_cache_config(problems.cfg.data)
    except ConfigError as error:
        # "data: data.<key> must be ..." -> "data.<key>: must be ..."
        message = str(error).removeprefix("data: ")
        key, separator, rest = message.partition(" ")
        if key.startswith("data.") and separator:
            problems.add(key.rstrip(":"), rest)
        else:
            problems.add("data", message)
        return
    if folder is not None:
        _check_splits(problems, folder, config)
        _check_cache_dir(problems)
    _check_forces(problems)


def _check_data_path(problems: _Problems, kind: str) -> Path | None:
    """``data.path`` is a dataset folder that no generator is writing; returns it, or None if not."""
    path = problems.get("data.path", None)
    if problems.reported("data.path") or not isinstance(path, str):
        return None
    folder = Path(path)
    if not folder.is_dir():
        hint = (
            f"build it with `lrsa-data darcy --out {folder}`"
            if kind == "darcy"
            else "point data.path at a folder of cases (see examples/cfd/airfoil/README.md)"
        )
        problems.add("data.path", f"folder {folder.resolve()} does not exist; {hint}")
        return None
    writer = dataset_writer(folder)
    if writer is not None:
        problems.add(
            "data.path",
            f"{folder.resolve()} is being written by {writer}: training now would read a half-written dataset; "
            "wait for it to finish (or stop it), then launch again",
        )
        return None
    if kind == "darcy" and not (folder / METADATA_FILE).is_file():
        problems.add(
            "data.path",
            f"{folder.resolve()} holds no {METADATA_FILE}, so it is not a Darcy dataset "
            f"(build one with `lrsa-data darcy --out {folder}`)",
        )
        return None
    return folder


def _check_mesh_settings(problems: _Problems) -> None:
    """Each field selector parses, there is something to learn, and points are drawn for every target listed."""
    for key in ("data.volume_fields", "data.surface_fields"):
        selectors = problems.get(key, None)
        if OmegaConf.is_list(selectors) and not problems.reported(key):
            for selector in selectors:
                try:
                    FieldSelector.parse(selector)
                except ValueError as error:
                    problems.add(key, str(error))
                    break
    volume = problems.get("data.volume_fields", None)
    surface = problems.get("data.surface_fields", None)
    if OmegaConf.is_list(volume) and OmegaConf.is_list(surface) and not volume and not surface:
        problems.add("data.volume_fields", "volume_fields and surface_fields are both empty: there is nothing to learn")
    for where, fields in (("volume", volume), ("surface", surface)):
        key = f"data.{where}_points"
        # Training draws points per case; 0 would train on none of the targets validation scores.
        if OmegaConf.is_list(fields) and fields and problems.get(key, None) == 0 and not problems.reported(key):
            problems.add(key, f"expected an integer >= 1 or null, got 0 (points per case and epoch; null: all), as "
                              f"data.{where}_fields lists {where} targets; to train without them, set data.{where}_fields=[]")


def _check_splits(problems: _Problems, folder: Path, config: MeshCacheConfig) -> None:
    """``data.train_split`` and ``data.val_split`` are splits of the cases under ``data.path``.

    Only the case list is read (``manifest.json``, else the folder names), no case: a case
    skipped as bad while the cache is built can still empty a split, which the run reports.
    """
    try:
        cases = list_cases(folder, config)
    except MeshDataError as error:
        problems.add("data.path", in_config_terms(str(error)))
        return
    splits = sorted({case.split for case in cases})
    for key in ("train_split", "val_split"):
        split = problems.cfg.data[key]
        if split in splits:
            continue
        hint = ""
        if split == "test" and not (folder / MANIFEST_NAME).is_file():
            hint = (f"; data.test_fraction={config.test_fraction} holds out none of the {len(cases)} cases: "
                    "raise it so that at least one case is held out for validation")
        problems.add(f"data.{key}", f"no case of split '{split}' in {folder} (splits there: {splits}){hint}")


def _check_cache_dir(problems: _Problems) -> None:
    """A cache that does not exist yet can be created (a read-only ``data.path`` says what to set)."""
    cache_dir = Path(str(problems.cfg.data.cache_dir))
    existing = cache_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == cache_dir and cache_dir.is_dir():
        return  # built before: reading it needs no write access
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        why = "not a folder" if not existing.is_dir() else "not writable (a read-only data.path?)"
        problems.add(
            "data.cache_dir",
            f"{cache_dir} cannot be created: {existing} is {why}; set data.cache_dir to a writable folder, "
            "e.g. data.cache_dir=/tmp/lrsa_cache",
        )


def _check_forces(problems: _Problems) -> None:
    """Enabled lift/drag settings build, and name channels and conditions that the data has (as far as the config tells)."""
    forces = problems.cfg.data.get("forces")
    if not OmegaConf.is_dict(forces) or forces.get("enabled") is not True or problems.reported("data.forces"):
        return
    try:
        ForceSettings.from_config(forces)
    except MissingMandatoryValue as error:
        problems.add(f"data.forces.{error.full_key}", "is required when data.forces.enabled is true")
        return
    except (ValueError, OmegaConfBaseException) as error:
        problems.add("data.forces", _one_line(error))
        return
    conditions = list(problems.cfg.data.conditions)
    for key in ("speed", "angle_of_attack_deg"):
        if forces[key] is not None and forces[key] not in conditions:
            problems.add(f"data.forces.{key}", f"condition '{forces[key]}' is not among data.conditions {conditions}; "
                                               "the free stream must be an input of the model")
    surface = sorted({FieldSelector.parse(selector).name for selector in problems.cfg.data.surface_fields})
    for key in ("pressure", "wall_shear"):
        if forces[key] is not None and forces[key] not in surface:
            problems.add(f"data.forces.{key}", f"'{forces[key]}' is not among the surface fields {surface} "
                                               "(data.surface_fields); name one, or set data.forces.enabled=false")


def _check_output_dir(problems: _Problems) -> None:
    """``output_dir`` is, or can become, a folder (the lock creates it once every check passed)."""
    path = problems.get("output_dir", None)
    if problems.reported("output_dir") or not isinstance(path, str):
        return
    folder = existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        problems.add("output_dir", f"{folder} cannot be a folder: {existing} is a file; choose another output_dir")
    elif existing != folder and not os.access(existing, os.W_OK | os.X_OK):
        problems.add("output_dir", f"{folder} cannot be created: {existing} is not writable; choose another output_dir")


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
    problems = _Problems(OmegaConf.create())
    resolved = _resolved(cfg, "", problems)
    if not problems.lines:
        for group in ("model", "data", "training", "logging"):
            if group in resolved and not isinstance(resolved[group], dict):
                problems.add(group, f"expected the settings of a config group (e.g. {group}=<preset>), got {resolved[group]!r}")
    if problems.lines:
        # Unresolvable or misplaced settings: the other checks would only repeat them.
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems.lines))
    _check_finite(problems, resolved, "")
    _check_schemas(problems, resolved)
    problems.cfg = OmegaConf.create(resolved)
    _check_output_dir(problems)
    _check_training(problems, world_size)
    _check_data(problems)
    if problems.lines:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems.lines))
