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
import difflib
import functools
import inspect
import math
import os
import types
import typing
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class, get_method, instantiate
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
from modulus_lrsa.training.schema import DATA_KINDS, DATA_SCHEMAS, Config, signature_schema

#: lrsa-train's config folder.
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
#: The schedule presets, ``training/scheduler=<file name>``.
SCHEDULER_PRESETS = CONF_DIR / "training" / "scheduler"
#: Arguments lrsa-train passes to a ``_target_`` itself; a config never sets them.
_PASSED_BY_LRSA_TRAIN = ("self", "params", "optimizer")
#: The model class whose points ``DomainParallelLRSA`` shards, and its subclasses (the
#: ablations). Named, not imported: the training checks do not reach into ``models``.
_POINT_SHARDED_MODEL = "modulus_lrsa.models.lrsa.LRSA"
#: Any key goes: the ``_target_`` takes ``**kwargs``, or cannot be imported (its check says so).
_ANY_KEY = None


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


def _non_finite(value: Any) -> bool:
    """NaN or +-Inf (reported once, by :func:`_check_finite`)."""
    return isinstance(value, float) and not math.isfinite(value)


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


# ------------------------------------------------------------- the schemas


def _key_tree(schema: type) -> dict[str, Any]:
    """A schema's keys: a dict per nested schema, None for a value (for the nearest-key advice)."""
    hints = typing.get_type_hints(schema)
    tree: dict[str, Any] = {}
    for item in dataclasses.fields(schema):
        kind = _unwrapped(hints[item.name])[0]
        tree[item.name] = _key_tree(kind) if dataclasses.is_dataclass(kind) else None
    return tree


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


def _unwrapped(hint: Any) -> tuple[Any, bool]:
    """(the type inside ``Optional``, whether None is allowed)."""
    arguments = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in arguments:
        (kind,) = [argument for argument in arguments if argument is not type(None)]
        return kind, True
    return hint, False


def _expected(hint: Any, metadata: typing.Mapping[str, Any]) -> str:
    """What a field's refusal says it expects: ``an integer >= 1 or null``, ``one of fp32, bf16, fp16``..."""
    kind, nullable = _unwrapped(hint)
    item = typing.get_args(kind)[0] if typing.get_origin(kind) is list else None
    if metadata.get("expected"):
        text = metadata["expected"]
    elif metadata.get("choices"):
        text = "one of " + ", ".join(str(choice) for choice in metadata["choices"])
    elif kind in (int, float):
        text = "an integer" if kind is int else "a number"
        if metadata.get("minimum") is not None:
            text += f" >= {metadata['minimum']}"
        elif metadata.get("above") is not None:
            text += f" > {metadata['above']}"
    elif kind is bool:
        text = "true or false"
    elif kind is str:
        text = "a non-empty string"
    elif item is str:
        text = f"a list of non-empty names, e.g. {metadata.get('example') or '[a, b]'}"
    elif item is not None:
        text = f"a list of {_expected(item, {}).removeprefix('a ').removeprefix('an ')}s"
    elif dataclasses.is_dataclass(kind):
        text = f"a mapping ({', '.join(field.name for field in dataclasses.fields(kind)[:3])}, ...)"
    else:
        text = f"a value of type {getattr(kind, '__name__', kind)}"
    return text + (" or null" if nullable else "")


def _accepted(hint: Any, metadata: typing.Mapping[str, Any], value: Any) -> bool:
    """Whether a value of the field's type is also in its range, among its choices, not blank."""
    kind = _unwrapped(hint)[0]
    if metadata.get("choices") is not None and value not in metadata["choices"]:
        return False
    if metadata.get("minimum") is not None and value < metadata["minimum"]:
        return False
    if metadata.get("above") is not None and value <= metadata["above"]:
        return False
    if kind is str and not value.strip():
        return False
    if typing.get_origin(kind) is list and typing.get_args(kind)[0] is str and not all(item.strip() for item in value):
        return False
    return metadata.get("accepts") is None or bool(metadata["accepts"](value))


def _same_kind(given: Any, converted: Any) -> bool:
    """Whether OmegaConf kept ``given`` as it is (an integer may become a float): the run reads the value as given."""
    if isinstance(given, dict):
        return isinstance(converted, dict) and given.keys() == converted.keys() and all(
            _same_kind(given[key], converted[key]) for key in given)
    if isinstance(given, list):
        return isinstance(converted, list) and len(given) == len(converted) and all(map(_same_kind, given, converted))
    return type(given) is type(converted) or (type(given) is int and type(converted) is float)


def _target_keys(schema: type, target: Any, fields: dict[str, dataclasses.Field]) -> list[str] | None:
    """The keys a ``_target_`` mapping takes: the target's arguments and the keys lrsa-train reads itself.

    A schema made from the target's signature has the arguments as its fields.
    """
    if getattr(schema, "CHECKS_PRESENT_KEYS_ONLY", False):
        return _ANY_KEY if schema.TAKES_ANY_KEY else sorted(name for name in fields if not name.startswith("_"))
    try:
        arguments = _target_arguments(str(target))
    except _IMPORT_ERRORS:
        return _ANY_KEY  # the checks of the optimizer, scheduler and model name the target
    if arguments is None:
        return _ANY_KEY
    own = {name for name, item in fields.items() if item.metadata.get("read_by_lrsa_train")}
    return sorted((arguments - set(_PASSED_BY_LRSA_TRAIN)) | own)


def _check_node(problems: _Problems, schema: type, values: dict[str, Any], prefix: str,
                delegated: dict[str, typing.Callable[[_Problems, Any], None]] | None = None) -> None:
    """Set ``values`` onto the structured config of ``schema`` key by key, reporting each refusal.

    OmegaConf refuses the keys the schema lacks and the values its types cannot hold; the
    field metadata adds ranges and choices. A mapping with a ``_target_`` takes the
    target's arguments besides its fields; one with ``enabled: false`` is read for that
    switch alone (``logging.mlflow``, ``data.forces``). A schema made from a signature
    (:func:`~modulus_lrsa.training.schema.signature_schema`) checks the keys that are
    there: absent and ``???`` ones are the target's business. ``delegated`` checks the
    keys it names with schemas of their own, in their place in the config (so the lines
    keep its order).
    """
    node = OmegaConf.structured(schema)
    fields = {item.name: item for item in dataclasses.fields(schema)}
    hints = typing.get_type_hints(schema)
    where = f"{prefix}." if prefix else ""
    present_only = getattr(schema, "CHECKS_PRESENT_KEYS_ONLY", False)
    if "enabled" in fields and values.get("enabled", fields["enabled"].default) is False:
        # Switched off: only the switch is read (unknown keys are still named).
        values = {key: value for key, value in values.items() if key == "enabled" or key not in fields}
        present_only = True
    target = "_target_" in fields and values.get("_target_")
    accepted = _target_keys(schema, target, fields) if target else _ANY_KEY
    for key, value in values.items():
        dotted = f"{where}{key}"
        if target and str(key).startswith("_"):
            continue  # Hydra's instantiation keys: the optimizer, scheduler and model checks read them
        if accepted is not _ANY_KEY and key not in accepted:
            nearest = difflib.get_close_matches(str(key), accepted, n=1, cutoff=0.0)
            problems.add(dotted, f"{target} takes no argument '{key}'"
                         + (f"; the nearest it takes is {where}{nearest[0]}" if nearest else "")
                         + f" (it takes: {', '.join(accepted)})")
        elif key not in fields:
            if not target:
                _unknown(problems, dotted, str(key), _key_tree(schema), where)
        elif value == "???":
            if not present_only:
                problems.add(dotted, f"is required (still ??? in the config); set it on the command line, e.g. {dotted}=...")
        elif delegated and key in delegated:
            delegated[key](problems, value)
        elif not _non_finite(value):
            _check_value(problems, node, key, hints[key], fields[key].metadata, value, dotted)
    if not present_only:
        for key, item in fields.items():
            nested = dataclasses.is_dataclass(_unwrapped(hints[key])[0])
            required = item.default == "???" or (item.default is dataclasses.MISSING and nested)
            if required and key not in values and not key.startswith("_"):
                problems.add(f"{where}{key}", "is missing from the config")


def _check_value(problems: _Problems, node: DictConfig, key: str, hint: Any, metadata: typing.Mapping[str, Any],
                 value: Any, dotted: str) -> None:
    """One value onto its field of ``node``: a nested schema is checked key by key."""
    kind, nullable = _unwrapped(hint)
    if value is None and nullable:
        return
    if dataclasses.is_dataclass(kind):
        if isinstance(value, dict):
            _check_node(problems, kind, value, dotted)
        else:
            problems.add(dotted, f"expected {_expected(hint, metadata)}, got {value!r}")
        return
    try:
        node[key] = value
        converted = node[key]
        if isinstance(converted, (DictConfig, ListConfig)):
            converted = OmegaConf.to_container(converted)
        ok = _same_kind(value, converted) and (value is None or _accepted(hint, metadata, value))
    except OmegaConfBaseException:
        ok = False
    if not ok:
        problems.add(dotted, f"expected {_expected(hint, metadata)}, got {value!r}")


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
    _check_node(problems, schema, model, "model")


def _check_data_schema(problems: _Problems, data: Any) -> None:
    """``data`` against the schema of its ``data.kind``."""
    kind = data.get("kind")
    if "kind" not in data:
        problems.add("data.kind", "is missing from the config")
    elif kind == "???":
        problems.add("data.kind", "is required (still ??? in the config); set it on the command line, e.g. data.kind=...")
    elif isinstance(kind, str) and kind in DATA_KINDS:
        _check_node(problems, DATA_SCHEMAS[kind], data, "data")
    else:
        problems.add("data.kind", f"expected one of {', '.join(DATA_KINDS)}, got {kind!r}")


def _check_schemas(problems: _Problems, resolved: dict[str, Any]) -> None:
    """Every key against :class:`~modulus_lrsa.training.schema.Config`, the model's signature and the data kind's schema.

    :func:`validate_config` has made sure that ``model`` and ``data`` are mappings.
    """
    _check_node(problems, Config, resolved, "", delegated={"model": _check_model, "data": _check_data_schema})


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
    _check_scheduler(problems)
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


def _shards_points(target: str) -> bool | None:
    """Whether ``DomainParallelLRSA`` can shard the model class ``target``; None when it cannot be imported."""
    try:
        model_class = get_class(target)
    except (ImportError, ValueError, AttributeError):
        return None
    return any(f"{base.__module__}.{base.__qualname__}" == _POINT_SHARDED_MODEL for base in model_class.__mro__)


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
        _target_arguments(target)
    except _IMPORT_ERRORS as error:
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
