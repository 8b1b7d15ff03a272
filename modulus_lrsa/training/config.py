# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Checks on the composed Hydra config, run before any data is read or any process group starts.

A typo in a launch command on a cluster should cost seconds, not a queue slot: every
check here names the offending key (``training.precision``, ``data.path``...), the
value it got and what it expected, and all problems are reported together, one line
each, before ``output_dir`` or its lock exist.

What is checked:

* every key is one that lrsa-train reads: the keys of the presets in ``conf/`` (their
  union, so a key of one data preset is known to all), the arguments of each
  ``_target_`` (optimizer, scheduler, model) and the fields of
  :class:`~modulus_lrsa.datapipes.cases.MeshCacheConfig`; a key added with ``+`` or in a
  user's yaml that nothing reads is refused with the nearest known key;
* every value resolves (interpolations), every number is finite, and each key has the
  type and range its reader needs;
* what the data keys say holds for ``data.path`` as far as it can be told without
  reading a case: the folder is there, no generator is writing it, the splits exist,
  the lift/drag channels are among the fields;
* the optimizer and the schedule accept their settings (built once on a dummy
  parameter), and ``output_dir`` can be a folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import logging
import math
import os
import types
import typing
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class, get_method, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError, OmegaConfBaseException

from modulus_lrsa.data.lock import dataset_writer
from modulus_lrsa.datapipes.cache import ON_ERROR_CHOICES
from modulus_lrsa.datapipes.cases import MANIFEST_NAME, MeshCacheConfig, list_cases
from modulus_lrsa.datapipes.grid import GRID_VIEWS
from modulus_lrsa.errors import ConfigError, MeshDataError
from modulus_lrsa.io.darcy import METADATA_FILE
from modulus_lrsa.io.fields import FIELD_LOCATIONS, FieldSelector
from modulus_lrsa.models import LRSA
from modulus_lrsa.surrogate import PRECISIONS
from modulus_lrsa.training.data import in_config_terms, mesh_cache_config
from modulus_lrsa.training.schedules import build_scheduler

DEVICES = ("auto", "cpu", "cuda")
#: lrsa-train's config folder: its presets define which keys exist.
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
#: The schedule presets, ``training/scheduler=<file name>``.
SCHEDULER_PRESETS = CONF_DIR / "training" / "scheduler"
DATA_KINDS = ("darcy", "mesh")
#: Mappings whose keys are names from the data (field names), not settings.
_NAMED_ENTRIES = ("data.free_stream.fields",)
#: Arguments lrsa-train passes to a ``_target_`` itself; a config never sets them.
_PASSED_BY_LRSA_TRAIN = ("self", "params", "optimizer")


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

    def value(self, key: str) -> Any:
        """The value at a dotted key, or :data:`REPORTED` after reporting it as absent or ``???``."""
        parent, _, leaf = key.rpartition(".")
        node = self.get(parent) if parent else self.cfg
        if not isinstance(node, DictConfig) or leaf not in node.keys():
            where = f" ({parent} is {node!r}, not a mapping)" if node is not None and not isinstance(node, DictConfig) else ""
            self.add(key, f"is missing from the config{where}")
            return REPORTED
        if OmegaConf.is_missing(node, leaf):
            self.add(key, f"is required (still ??? in the config); set it on the command line, e.g. {key}=...")
            return REPORTED
        return node[leaf]

    def get(self, key: str, default: Any = None) -> Any:
        """The value at a dotted key, or ``default`` where the path does not lead to one (a list on the way)."""
        try:
            return OmegaConf.select(self.cfg, key, default=default)
        except OmegaConfBaseException:
            return default

    def integer(self, key: str, minimum: int, allow_none: bool = False, hint: str = "") -> None:
        value = self.value(key)
        if value is REPORTED or (allow_none and value is None) or _non_finite(value):
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.add(key, f"expected an integer >= {minimum}{' or null' if allow_none else ''}, got {value!r}{hint}")

    def number(self, key: str, minimum: float, inclusive: bool = True, allow_none: bool = False) -> None:
        value = self.value(key)
        if value is REPORTED or (allow_none and value is None) or _non_finite(value):
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

    def string(self, key: str, allow_none: bool = False) -> None:
        value = self.value(key)
        if value is REPORTED or (allow_none and value is None):
            return
        if not isinstance(value, str) or not value.strip():
            self.add(key, f"expected a non-empty string{' or null' if allow_none else ''}, got {value!r}")

    def strings(self, key: str, example: str) -> None:
        """A list of non-empty strings."""
        value = self.value(key)
        if value is REPORTED:
            return
        if not OmegaConf.is_list(value):
            self.add(key, f"expected a list of names, e.g. {example}, got {value!r}")
        elif not all(isinstance(item, str) and item.strip() for item in value):
            self.add(key, f"expected a list of non-empty names, e.g. {example}, got {list(value)!r}")


def _non_finite(value: Any) -> bool:
    """NaN or +-Inf (reported once, by :func:`_check_finite`)."""
    return isinstance(value, float) and not math.isfinite(value)


#: Returned by :meth:`_Problems.value` for a key already reported as absent or missing.
REPORTED = object()


#: What importing a ``_target_`` named in a config may raise.
_IMPORT_ERRORS = (ImportError, ValueError, AttributeError, TypeError)


@functools.cache
def _target_arguments(target: str) -> frozenset[str] | None:
    """The keyword arguments the class or function ``target`` takes; None when it takes any (``**kwargs``).

    Raises
    ------
    ImportError, ValueError, AttributeError, TypeError
        ``target`` cannot be imported or has no signature.
    """
    parameters = inspect.signature(get_method(target)).parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return frozenset(parameter.name for parameter in parameters)


def _preset(path: Path) -> tuple[dict[str, Any], list[str]]:
    """A preset's keys (unresolved) and the config groups its defaults list pulls in below it."""
    content = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    groups = []
    for entry in content.pop("defaults", []) or []:
        # ``- scheduler: onecycle`` pulls in a group; ``- override ...``, ``- _self_`` and
        # ``- default`` (another preset of the same folder) add no key of their own.
        if isinstance(entry, dict):
            groups += [str(name) for name in entry if not str(name).startswith("override ")]
    return content, groups


def _merge_keys(tree: dict[str, Any], preset: dict[str, Any], prefix: str, passed_through: dict[str, set[str]]) -> None:
    """Add a preset's keys to ``tree`` (a mapping is a dict of its keys, a value None).

    A mapping with a ``_target_`` also records its keys that are not arguments of the
    target: lrsa-train reads them itself (``training.scheduler.name``).
    """
    target = preset.get("_target_")
    if isinstance(target, str):
        arguments = _target_arguments(target) or frozenset()
        passed_through.setdefault(prefix, set()).update(
            key for key in preset if not str(key).startswith("_") and key not in arguments
        )
    for key, value in preset.items():
        if isinstance(value, dict):
            child = tree.get(key)
            if not isinstance(child, dict):
                child = tree[key] = {}
            _merge_keys(child, value, f"{prefix}.{key}" if prefix else str(key), passed_through)
        else:
            tree.setdefault(key, None)


def _group_keys(folder: Path, prefix: str, passed_through: dict[str, set[str]]) -> dict[str, Any]:
    """The union of the keys of every preset in a config group's folder, its sub-groups included."""
    tree: dict[str, Any] = {}
    for path in sorted(folder.glob("*.yaml")):
        content, groups = _preset(path)
        _merge_keys(tree, content, prefix, passed_through)
        for group in groups:
            if (folder / group).is_dir():
                child = tree.setdefault(group, {})
                _merge_keys(child, _group_keys(folder / group, f"{prefix}.{group}", passed_through),
                            f"{prefix}.{group}", passed_through)
    return tree


@functools.cache
def known_keys() -> tuple[dict[str, Any], dict[str, frozenset[str]]]:
    """The keys lrsa-train reads, from its presets in ``conf/``, so that the list cannot fall behind them.

    Returns
    -------
    tuple
        The key tree (a dict per mapping, None for a value) and, per dotted key of a
        mapping with a ``_target_``, the keys of it that lrsa-train reads itself rather
        than passing them to the target.

    Notes
    -----
    ``model`` is a value here: its keys are the arguments of ``model._target_``, which
    :func:`_check_model` checks. ``data`` also takes every field of
    :class:`~modulus_lrsa.datapipes.cases.MeshCacheConfig`, all of which
    :func:`~modulus_lrsa.training.data.mesh_cache_config` passes on.
    """
    passed_through: dict[str, set[str]] = {}
    root, groups = _preset(CONF_DIR / "config.yaml")
    root.pop("hydra", None)
    tree: dict[str, Any] = {key: None for key in root}
    for group in groups:
        tree[group] = None if group == "model" else _group_keys(CONF_DIR / group, group, passed_through)
    for mesh_field in dataclasses.fields(MeshCacheConfig):
        tree["data"].setdefault(mesh_field.name, None)
    return tree, {key: frozenset(keys) for key, keys in passed_through.items()}


def _descendants(known: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys below the mappings of ``known`` (``optimizer.lr``...)."""
    keys = []
    for key, child in known.items():
        if isinstance(child, dict):
            keys += [f"{prefix}{key}.{name}" for name in child]
            keys += _descendants(child, f"{prefix}{key}.")
    return keys


def _unknown(problems: _Problems, dotted: str, key: str, known: dict[str, Any], where: str) -> None:
    """Report ``dotted``, naming the nearest known key: a sibling, else one further down that it resembles."""
    siblings = [str(name) for name in known]
    nearest = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
    if not nearest:
        # ``training.lr`` most likely meant ``training.optimizer.lr``.
        deeper = {name.rpartition(".")[2]: name for name in reversed(_descendants(known))}
        close = difflib.get_close_matches(key, list(deeper), n=1, cutoff=0.6)
        nearest = [deeper[close[0]]] if close else difflib.get_close_matches(key, siblings, n=1, cutoff=0.0)
    suggestion = f"; the nearest known key is {where}{nearest[0]}" if nearest else ""
    problems.add(dotted, f"unknown key, which nothing reads{suggestion} (fix its name, or remove it from the override "
                         "or yaml that adds it)")


def _check_keys(problems: _Problems, node: dict[str, Any], known: dict[str, Any], prefix: str) -> None:
    """Every key of ``node`` is in ``known``, or an argument of the node's ``_target_``."""
    where = f"{prefix}." if prefix else ""
    target = node.get("_target_")
    if "_target_" in known and isinstance(target, str):
        try:
            arguments = _target_arguments(target)
        except _IMPORT_ERRORS:
            return  # the checks of the optimizer, scheduler and model name the target
        if arguments is None:
            return
        accepted = sorted((arguments - set(_PASSED_BY_LRSA_TRAIN)) | known_keys()[1].get(prefix, frozenset()))
        for key in node:
            if not str(key).startswith("_") and key not in accepted:
                nearest = difflib.get_close_matches(str(key), accepted, n=1, cutoff=0.0)
                problems.add(f"{where}{key}", f"{target} takes no argument '{key}'"
                             + (f"; the nearest it takes is {where}{nearest[0]}" if nearest else "")
                             + f" (it takes: {', '.join(accepted)})")
        return
    for key, value in node.items():
        dotted = f"{where}{key}"
        if key not in known:
            _unknown(problems, dotted, str(key), known, where)
        elif isinstance(known[key], dict) and isinstance(value, dict) and dotted not in _NAMED_ENTRIES:
            _check_keys(problems, value, known[key], dotted)


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
        if _non_finite(value):
            problems.add(dotted, f"expected a finite number, got {value}")
        else:
            _check_finite(problems, value, dotted)


def _check_training(problems: _Problems, world_size: int) -> None:
    problems.integer("training.seed", 0)
    problems.integer("training.epochs", 1)
    problems.integer("training.batch_size", 1)
    data_ranks = _check_domain_parallel(problems, world_size)
    batch_size = problems.get("training.batch_size", None)
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
    pct_start = problems.get("training.scheduler.pct_start", None)
    if isinstance(pct_start, (int, float)) and not _non_finite(pct_start) and not 0.0 < pct_start < 1.0:
        problems.add("training.scheduler.pct_start", f"expected a fraction in (0, 1), got {pct_start!r}")
    problems.number("training.grad_clip_norm", 0.0, inclusive=False, allow_none=True)
    problems.choice("training.precision", PRECISIONS)
    problems.choice("training.device", DEVICES)
    if problems.get("training.device", None) == "cuda" and not torch.cuda.is_available():
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
    _build_optimizer_and_schedule(problems)


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


def _check_domain_parallel(problems: _Problems, world_size: int) -> int:
    """``training.domain_parallel_size`` against the launch and the model; returns the data ranks.

    Sharding a sample's points needs LRSA (:class:`~modulus_lrsa.models.DomainParallelLRSA`
    merges its compression exactly), on point clouds (a grid's convolution would need
    halos across shard borders), without dropout (the latents are replicated over a
    domain group, so every rank would have to draw the same masks).
    """
    key = "training.domain_parallel_size"
    problems.integer(key, 1)
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
    if problems.get("model.structured_shape", None) is not None or (
        problems.get("data.kind", None) == "darcy"
        and problems.get("data.view", None) == "grid"
    ):
        problems.add(
            key,
            f"{domain} shards point clouds only: a structured grid's convolutional point FFN needs "
            "neighbours across shard borders; use data.view=points (and model.structured_shape=null)",
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
        problems.add("training.scheduler._target_", f"names no scheduler; {choose}")
        return
    target = str(scheduler._target_)
    name = scheduler.get("name")
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
        _target_arguments(target)
    except _IMPORT_ERRORS as error:
        problems.add("training.scheduler._target_", f"cannot import {target} ({_one_line(error)})")
        return
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
    problems.string("data.name")
    folder = _check_data_path(problems, kind)
    if kind == "darcy":
        problems.choice("data.view", GRID_VIEWS)
        for key in ("data.train_points", "data.max_train_samples", "data.max_val_samples"):
            problems.integer(key, 1, allow_none=True)
        if (
            problems.get("data.train_points", None) is not None
            and problems.get("data.view", None) == "grid"
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
    path = problems.value("data.path")
    if path is REPORTED:
        return None
    if not isinstance(path, str) or not path.strip():
        problems.add("data.path", f"expected a folder, got {path!r}")
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
    """Types and ranges of the ``kind: mesh`` keys, each field selector parsed."""
    problems.strings("data.volume_fields", "[p, 'U[0,1]']")
    problems.strings("data.surface_fields", "[p, 'U[0,1]']")
    problems.strings("data.conditions", "[U, aoa_deg]")
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
        if OmegaConf.is_list(fields) and fields:
            # Training draws points per case; 0 would train on none of the targets validation scores.
            problems.integer(
                f"data.{where}_points", 1, allow_none=True,
                hint=f" (points per case and epoch; null: all), as data.{where}_fields lists {where} targets; "
                     f"to train without them, set data.{where}_fields=[]",
            )
        else:
            problems.integer(f"data.{where}_points", 0, allow_none=True)
    problems.choice("data.volume_location", FIELD_LOCATIONS)
    problems.choice("data.surface_location", FIELD_LOCATIONS)
    problems.choice("data.on_error", ON_ERROR_CHOICES)
    problems.integer("data.preprocess_workers", 0)
    problems.number("data.test_fraction", 0.0)
    problems.integer("data.split_seed", 0)
    for key in ("data.cache_dir", "data.case_pattern", "data.train_split", "data.val_split"):
        problems.string(key)
    for key in ("data.volume_file", "data.surface_file", "data.geometry_file", "data.volume_block", "data.surface_block"):
        problems.string(key, allow_none=True)
    data = problems.cfg.data
    for key in ("geometry_block", "accepted_statuses", "condition_values"):
        if key not in data.keys():
            continue  # optional MeshCacheConfig fields, defaults unless set with +data.<key>
        value = data[key]
        if key == "geometry_block":
            problems.string("data.geometry_block", allow_none=True)
        elif key == "accepted_statuses":
            problems.strings("data.accepted_statuses", "[ok, converged]")
        elif value is not None and not (
            OmegaConf.is_dict(value) and all(
                OmegaConf.is_dict(values) and all(_is_number(number) for number in values.values())
                for values in value.values()
            )
        ):
            problems.add("data.condition_values", f"expected {{case id: {{condition: number}}}}, got {value!r}")
    free_stream = data.get("free_stream")
    if free_stream is not None and not OmegaConf.is_dict(free_stream):
        problems.add("data.free_stream", f"expected a mapping (speed, length, fields) or null, got {free_stream!r}")
    elif free_stream is not None:
        if "enabled" in free_stream.keys():
            problems.boolean("data.free_stream.enabled")
        fields = free_stream.get("fields")
        if fields is not None and not OmegaConf.is_dict(fields):
            problems.add("data.free_stream.fields", f"expected {{field name: velocity | pressure | viscosity}}, got {fields!r}")
        if "length" in free_stream.keys():
            problems.number("data.free_stream.length", 0.0, inclusive=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
    """The lift/drag settings name channels and conditions that the data has (as far as the config tells)."""
    forces = problems.cfg.data.get("forces")
    if forces is None:
        return
    if not OmegaConf.is_dict(forces):
        problems.add("data.forces", f"expected a mapping (enabled, pressure, ...) or null, got {forces!r}")
        return
    problems.boolean("data.forces.enabled")
    if forces.get("enabled") is not True:
        return
    problems.number("data.forces.chord", 0.0, inclusive=False)
    problems.number("data.forces.span", 0.0, inclusive=False)
    for key in ("pressure", "speed", "angle_of_attack_deg"):
        problems.string(f"data.forces.{key}")
    problems.string("data.forces.wall_shear", allow_none=True)
    sign = forces.get("wall_shear_sign")
    if isinstance(sign, bool) or sign not in (1, -1):
        problems.add("data.forces.wall_shear_sign", f"expected 1 or -1, got {sign!r}")
    if problems.reported("data.forces"):
        return
    conditions = list(problems.cfg.data.conditions)
    for key in ("speed", "angle_of_attack_deg"):
        if forces[key] not in conditions:
            problems.add(f"data.forces.{key}", f"condition '{forces[key]}' is not among data.conditions {conditions}; "
                                               "the free stream must be an input of the model")
    surface = sorted({FieldSelector.parse(selector).name for selector in problems.cfg.data.surface_fields})
    for key in ("pressure", "wall_shear"):
        if forces[key] is not None and forces[key] not in surface:
            problems.add(f"data.forces.{key}", f"'{forces[key]}' is not among the surface fields {surface} "
                                               "(data.surface_fields); name one, or set data.forces.enabled=false")


def _check_logging(problems: _Problems) -> None:
    problems.integer("logging.log_every_steps", 1)
    problems.boolean("logging.progress_bar")
    level = problems.value("logging.level")
    if level is not REPORTED and (not isinstance(level, str) or level.upper() not in logging.getLevelNamesMapping()):
        problems.add("logging.level", f"expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {level!r}")
    problems.boolean("logging.tensorboard.enabled")
    problems.boolean("logging.mlflow.enabled")
    if problems.get("logging.tensorboard.enabled", False) is True:
        problems.string("logging.tensorboard.dir")
    if problems.get("logging.mlflow.enabled", False) is True:
        problems.string("logging.mlflow.tracking_dir")
        problems.string("logging.mlflow.experiment_name")
        problems.string("logging.mlflow.run_name", allow_none=True)
        problems.string("logging.mlflow.user", allow_none=True)


def _check_output_dir(problems: _Problems) -> None:
    """``output_dir`` is, or can become, a folder (the lock creates it once every check passed)."""
    problems.string("experiment_name")
    path = problems.value("output_dir")
    if path is REPORTED:
        return
    if not isinstance(path, str) or not path.strip():
        problems.add("output_dir", f"expected a folder for the run, got {path!r}")
        return
    folder = existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        problems.add("output_dir", f"{folder} cannot be a folder: {existing} is a file; choose another output_dir")
    elif existing != folder and not os.access(existing, os.W_OK | os.X_OK):
        problems.add("output_dir", f"{folder} cannot be created: {existing} is not writable; choose another output_dir")


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
    target = problems.get("model._target_", None)
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
    problems = _Problems(OmegaConf.create())
    resolved = _resolved(cfg, "", problems)
    if not problems.lines:
        for group in ("model", "data", "training", "logging"):
            if group in resolved and not isinstance(resolved[group], dict):
                problems.add(group, f"expected the settings of a config group (e.g. {group}=<preset>), got {resolved[group]!r}")
    if problems.lines:
        # Unresolvable or misplaced settings: the other checks would only repeat them.
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems.lines))
    _check_keys(problems, resolved, known_keys()[0], "")
    _check_finite(problems, resolved, "")
    problems.cfg = OmegaConf.create(resolved)
    _check_output_dir(problems)
    _check_model(problems)
    _check_training(problems, world_size)
    _check_data(problems)
    _check_logging(problems)
    if problems.lines:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems.lines))
