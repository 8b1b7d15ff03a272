# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The settings lrsa-train reads, as OmegaConf structured configs (dataclass schemas).

:func:`~modulus_lrsa.training.config.validate_config` sets a launch's values onto these
schemas key by key, so OmegaConf decides what is an unknown key and what has the wrong
type, and every problem is still reported at once. What OmegaConf's types do not say
(a range, a set of choices, an example for the message) sits in each field's metadata,
made by :func:`setting`.

Which schema says what:

* ``training``, ``logging`` and the top-level keys: :class:`Config`;
* ``data``: :class:`DarcyData` or :class:`MeshData`, chosen by ``data.kind`` (the
  presets of ``conf/data/`` are one or the other); ``data.forces`` comes from
  :class:`~modulus_lrsa.forces.ForceSettings` itself (:func:`forces_schema`), so a setting
  added there is a key here too;
* ``model`` and the other ``_target_`` mappings: the target's own signature
  (:func:`signature_schema`). Four model classes, two of them PhysicsNeMo's, already
  declare their arguments and types in ``__init__``; a copy of each here would fall
  behind them. The optimizer's and scheduler's mappings name the keys lrsa-train reads
  or that the presets set (:class:`Optimizer`, :class:`Scheduler`); any other key must be
  an argument of their ``_target_``.

:func:`check_against` sets a mapping's values onto a schema and reports each refusal
in one line naming the key, the value and what was expected.

A field without a default is one that every preset of its group sets and that the run
reads without a fallback: a config that lacks it is refused. Values come from the presets
in ``conf/``, which differ (``data/airfoil.yaml`` and ``data/ahmed.yaml`` draw different
point counts), so the schema repeats none of them; a default here is the reader's own
fallback for a key the presets leave out (``training.cuda_graphs``, and the
:class:`~modulus_lrsa.datapipes.cases.MeshCacheConfig` fields set with ``+data.<key>``).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from logging import getLevelNamesMapping
from typing import Any

from hydra.utils import get_method
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from modulus_lrsa.datapipes.cache import ON_ERROR_CHOICES
from modulus_lrsa.datapipes.grid import GRID_VIEWS
from modulus_lrsa.forces import ForceSettings
from modulus_lrsa.io.fields import FIELD_LOCATIONS
from modulus_lrsa.surrogate import PRECISIONS

DEVICES = ("auto", "cpu", "cuda")
DATA_KINDS = ("darcy", "mesh")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_FIELDS_EXAMPLE = "[p, 'U[0,1]']"


def setting(
    default: Any = MISSING,
    *,
    minimum: float | None = None,
    above: float | None = None,
    choices: tuple[Any, ...] | None = None,
    expected: str | None = None,
    example: str | None = None,
    accepts: typing.Callable[[Any], bool] | None = None,
    read_by_lrsa_train: bool = False,
) -> Any:
    """A schema field and what its values must also satisfy beyond their type.

    Parameters
    ----------
    default : optional
        The reader's fallback; MISSING (the default): the key is required.
    minimum, above : float, optional
        ``value >= minimum``, ``value > above``.
    choices : tuple, optional
        The values allowed.
    expected : str, optional
        What the refusal says is expected, where the type does not say it well
        (``a folder for the run``).
    example : str, optional
        An example the refusal quotes (lists of names).
    accepts : callable, optional
        A further test of a value of the right type.
    read_by_lrsa_train : bool
        A key of a ``_target_`` mapping that lrsa-train reads itself, not an argument of
        the target (``training.scheduler.name``).
    """
    metadata = {"minimum": minimum, "above": above, "choices": choices, "expected": expected, "example": example,
                "accepts": accepts, "read_by_lrsa_train": read_by_lrsa_train}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


# ------------------------------------------------- schemas from signatures

_SIMPLE = (int, float, bool, str)


def omegaconf_type(annotation: Any) -> Any:
    """The type OmegaConf 2.3 can check for an annotation: a simple type, a list of one, Optional of those; else Any."""
    if annotation in _SIMPLE:
        return annotation
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = [kind for kind in arguments if kind is not type(None)]
        inner = omegaconf_type(kinds[0]) if len(kinds) == 1 else Any
        return Any if inner is Any or len(kinds) == len(arguments) else inner | None
    if origin is list and len(arguments) == 1 and arguments[0] in _SIMPLE:
        return list[arguments[0]]
    return Any


def signature_schema(name: str, target: Any, extra: dict[str, tuple[Any, Any]] | None = None) -> type:
    """A dataclass schema of ``target``'s keyword arguments, as their annotations type them.

    Every field is MISSING: the target's defaults and required arguments are its own
    business (lrsa-train fills ``model.functional_dim`` and the other ``???`` widths from
    the data). ``extra`` adds or replaces fields: ``{name: (type, dataclasses.field)}``.

    Raises
    ------
    NameError, TypeError, ValueError
        The annotations do not evaluate here, or ``target`` has no signature.
    """
    parameters = list(inspect.signature(target, eval_str=True).parameters.values())
    specs = {
        parameter.name: (omegaconf_type(parameter.annotation), field(default=MISSING))
        for parameter in parameters
        if parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and parameter.name != "self"
    }
    specs.update(extra or {})
    schema = dataclasses.make_dataclass(name, [(key, kind, spec) for key, (kind, spec) in specs.items()])
    schema.CHECKS_PRESENT_KEYS_ONLY = True
    schema.TAKES_ANY_KEY = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)
    return schema


# ------------------------------------------------------------------ training


@dataclass
class Optimizer:
    """``training.optimizer``: a torch optimizer built with the model's parameters."""

    _target_: str = MISSING
    _partial_: bool = True
    lr: float = setting(above=0.0)
    weight_decay: float = setting(minimum=0.0)
    betas: list[float] | None = None


@dataclass
class Scheduler:
    """``training.scheduler``: the keys of the presets in ``conf/training/scheduler/``."""

    _target_: str = MISSING
    _partial_: bool = True
    name: str | None = setting(None, read_by_lrsa_train=True)
    pct_start: float | None = setting(None, expected="a fraction in (0, 1)", accepts=lambda value: 0.0 < value < 1.0)
    div_factor: float | None = setting(None, above=0.0)
    final_div_factor: float | None = setting(None, above=0.0)
    warmup_epochs: float | None = setting(None, minimum=0.0)
    min_lr: float | None = setting(None, minimum=0.0)
    factor: float | None = None
    total_iters: int | None = None


@dataclass
class Loss:
    """``training.loss``: the opt-in terms of the objective (:class:`~modulus_lrsa.training.metrics.TrainingLoss`).

    Read with these fallbacks, so a config without the mapping trains on the relative L2
    of the fields alone, as before the terms existed.
    """

    force_weight: float = setting(0.0, minimum=0.0)
    surface_area_weighted: bool = False


@dataclass
class Training:
    """``training`` (``conf/training/default.yaml``)."""

    seed: int = setting(minimum=0)
    epochs: int = setting(minimum=1)
    batch_size: int = setting(minimum=1)
    domain_parallel_size: int = setting(minimum=1)
    compile: bool = MISSING
    # Read with a fallback: the capture of the training step is opt-in (training/step.py).
    cuda_graphs: bool = False
    eval_batch_size: int = setting(minimum=1)
    num_workers: int = setting(minimum=0)
    optimizer: Optimizer = field(default_factory=Optimizer)
    scheduler: Scheduler = field(default_factory=Scheduler)
    grad_clip_norm: float | None = setting(above=0.0)
    precision: str = setting(choices=PRECISIONS)
    device: str = setting(choices=DEVICES)
    checkpoint_every_epochs: int = setting(minimum=1)
    validate_every_epochs: int = setting(minimum=1)
    keep_checkpoints: int = setting(minimum=1)
    max_consecutive_nonfinite: int = setting(minimum=1)
    resume: bool = MISSING
    time_limit_minutes: float | None = setting(above=0.0)
    eval_chunk_points: int = setting(minimum=1)
    loss: Loss | None = setting(None, expected="a mapping (force_weight, surface_area_weighted)")


# ---------------------------------------------------------------------- data


@dataclass
class DarcyData:
    """``data`` with ``kind: darcy`` (``conf/data/darcy.yaml``)."""

    kind: str = setting(choices=DATA_KINDS)
    name: str = MISSING
    path: str = setting(expected="a folder")
    view: str = setting(choices=GRID_VIEWS)
    train_points: int | None = setting(minimum=1)
    max_train_samples: int | None = setting(minimum=1)
    max_val_samples: int | None = setting(minimum=1)


@dataclass
class FreeStream:
    """``data.free_stream``; :class:`~modulus_lrsa.datapipes.cases.MeshCacheConfig` checks speed against the conditions."""

    enabled: bool = True
    speed: str | None = None
    length: float = setting(1.0, above=0.0)
    fields: dict[str, str] = setting({}, expected="{field name: velocity | pressure | viscosity}")


#: ``data.forces``: :class:`~modulus_lrsa.forces.ForceSettings`' fields and ``enabled``. Only
#: ``enabled`` is read when it is false, so the other keys (absent or ``???`` ones included)
#: are checked by building the settings, which the config check does for enabled forces.
Forces = signature_schema(
    "Forces", ForceSettings,
    {"enabled": (bool, setting(False)), "chord": (float, setting(above=0.0)), "span": (float, setting(above=0.0)),
     "wall_shear_sign": (float, setting(choices=(1, -1), expected="1 or -1"))},
)


@dataclass
class MeshData:
    """``data`` with ``kind: mesh`` (``conf/data/airfoil.yaml``, ``ahmed.yaml``, ``vtk_folder.yaml``).

    Besides the presets' keys, every :class:`~modulus_lrsa.datapipes.cases.MeshCacheConfig`
    field (:func:`~modulus_lrsa.training.data.mesh_cache_config` passes them on), with
    its default where no preset sets it.
    """

    kind: str = setting(choices=DATA_KINDS)
    name: str = MISSING
    path: str = setting(expected="a folder")
    cache_dir: str = MISSING
    volume_fields: list[str] = setting(example=_FIELDS_EXAMPLE)
    surface_fields: list[str] = setting(example=_FIELDS_EXAMPLE)
    volume_location: str = setting(choices=FIELD_LOCATIONS)
    surface_location: str = setting(choices=FIELD_LOCATIONS)
    conditions: list[str] = setting(example="[U, aoa_deg]")
    free_stream: FreeStream | None = setting(expected="a mapping (speed, length, fields)")
    volume_file: str | None = MISSING
    surface_file: str | None = MISSING
    geometry_file: str | None = MISSING
    volume_block: str | None = MISSING
    surface_block: str | None = MISSING
    case_pattern: str = MISSING
    test_fraction: float = setting(minimum=0.0)
    split_seed: int = setting(minimum=0)
    train_split: str = MISSING
    val_split: str = MISSING
    volume_points: int | None = setting(minimum=0)
    surface_points: int | None = setting(minimum=0)
    preprocess_workers: int = setting(minimum=0)
    on_error: str = setting(choices=ON_ERROR_CHOICES)
    forces: Forces | None = setting(None, expected="a mapping (enabled, pressure, ...)")
    # MeshCacheConfig's fields that no preset sets; MeshCacheConfig checks dimension's values.
    geometry_block: str | None = None
    dimension: Any = "auto"
    condition_values: dict[str, dict[str, float]] | None = setting(None, expected="{case id: {condition: number}}")
    accepted_statuses: list[str] = setting(["ok", "success", "converged", "done", "completed"], example="[ok, converged]")


#: The schema of the ``data`` group, by ``data.kind``.
DATA_SCHEMAS = {"darcy": DarcyData, "mesh": MeshData}


# ------------------------------------------------------------------- logging


@dataclass
class TensorBoard:
    enabled: bool = MISSING
    dir: str = MISSING


@dataclass
class MLflow:
    enabled: bool = MISSING
    tracking_dir: str = MISSING
    experiment_name: str = MISSING
    run_name: str | None = MISSING
    user: str | None = MISSING


@dataclass
class Logging:
    """``logging`` (``conf/logging/console.yaml`` and the presets built on it)."""

    level: str = setting(expected=f"one of {', '.join(LOG_LEVELS)}", accepts=lambda value: value.upper() in getLevelNamesMapping())
    progress_bar: bool = MISSING
    log_every_steps: int = setting(minimum=1)
    tensorboard: TensorBoard = field(default_factory=TensorBoard)
    mlflow: MLflow = field(default_factory=MLflow)


@dataclass
class Config:
    """The composed config; ``model`` and ``data`` are checked against their own schemas."""

    model: Any = MISSING
    data: Any = MISSING
    training: Training = field(default_factory=Training)
    logging: Logging = field(default_factory=Logging)
    experiment_name: str = MISSING
    output_dir: str = setting(expected="a folder for the run")


# ------------------------------------------- checking values against a schema

#: Reports one problem: ``report(dotted key, message)``.
Report = Callable[[str, str], None]
#: Arguments lrsa-train passes to a ``_target_`` itself; a config never sets them.
_PASSED_BY_LRSA_TRAIN = ("self", "params", "optimizer")
#: Any key goes: the ``_target_`` takes ``**kwargs``, or cannot be imported (its check says so).
_ANY_KEY = None


def non_finite(value: Any) -> bool:
    """NaN or +-Inf (the config check reports it once, wherever it is)."""
    return isinstance(value, float) and not math.isfinite(value)


#: What importing a ``_target_`` named in a config may raise.
IMPORT_ERRORS = (ImportError, ValueError, AttributeError, TypeError)


@functools.cache
def target_arguments(target: str) -> frozenset[str] | None:
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


def _initials(name: str) -> str:
    """``learning_rate`` -> ``lr``; a name of one word has none."""
    words = [word for word in name.split("_") if word]
    return "".join(word[0] for word in words) if len(words) > 1 else ""


def _abbreviated(key: str, names: typing.Iterable[str]) -> list[str]:
    """The names that ``key`` abbreviates by their initials, or that abbreviate it (``lerning_rate`` and ``lr``)."""
    return [name for name in names if _initials(key) == name or _initials(name) == key]


def _unknown(report: Report, dotted: str, key: str, known: dict[str, Any], where: str) -> None:
    """Report ``dotted``, naming the nearest known key: a sibling, else one further down that it resembles.

    A key resembles a known one when the two are spelled alike, or when one's initials spell
    the other (``lerning_rate`` and ``optimizer.lr``); only then the nearest sibling at all.
    """
    siblings = [str(name) for name in known]
    nearest = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
    if not nearest:
        # ``training.lr`` most likely meant ``training.optimizer.lr``: the last part of each deeper key is compared.
        deeper = {name.rpartition(".")[2]: name for name in reversed(_descendants(known))}
        close = difflib.get_close_matches(key, list(deeper), n=1, cutoff=0.6) or _abbreviated(key, deeper)
        nearest = ([deeper[close[0]]] if close else _abbreviated(key, siblings)
                   or difflib.get_close_matches(key, siblings, n=1, cutoff=0.0))
    suggestion = f"; the nearest known key is {where}{nearest[0]}" if nearest else ""
    report(dotted, f"unknown key, which nothing reads{suggestion} (fix its name, or remove it from the override "
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
        arguments = target_arguments(str(target))
    except IMPORT_ERRORS:
        return _ANY_KEY  # the checks of the optimizer, scheduler and model name the target
    if arguments is None:
        return _ANY_KEY
    own = {name for name, item in fields.items() if item.metadata.get("read_by_lrsa_train")}
    return sorted((arguments - set(_PASSED_BY_LRSA_TRAIN)) | own)


def check_against(report: Report, schema: type, values: dict[str, Any], prefix: str,
                delegated: dict[str, Callable[[Any], None]] | None = None) -> None:
    """Set ``values`` onto the structured config of ``schema`` key by key, reporting each refusal.

    OmegaConf refuses the keys the schema lacks and the values its types cannot hold; the
    field metadata adds ranges and choices. A mapping with a ``_target_`` takes the
    target's arguments besides its fields; one with ``enabled: false`` is read for that
    switch alone (``logging.mlflow``, ``data.forces``). A schema made from a signature
    (:func:`signature_schema`) checks the keys that are
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
            nearest = (difflib.get_close_matches(str(key), accepted, n=1, cutoff=0.6) or _abbreviated(str(key), accepted)
                       or difflib.get_close_matches(str(key), accepted, n=1, cutoff=0.0))
            report(dotted, f"{target} takes no argument '{key}'"
                         + (f"; the nearest it takes is {where}{nearest[0]}" if nearest else "")
                         + f" (it takes: {', '.join(accepted)})")
        elif key not in fields:
            if not target:
                _unknown(report, dotted, str(key), _key_tree(schema), where)
        elif value == "???":
            if not present_only:
                report(dotted, f"is required (still ??? in the config); set it on the command line, e.g. {dotted}=...")
        elif delegated and key in delegated:
            delegated[key](value)
        elif not non_finite(value):
            _check_value(report, node, key, hints[key], fields[key].metadata, value, dotted)
    if not present_only:
        for key, item in fields.items():
            nested = dataclasses.is_dataclass(_unwrapped(hints[key])[0])
            required = item.default == "???" or (item.default is dataclasses.MISSING and nested)
            if required and key not in values and not key.startswith("_"):
                report(f"{where}{key}", "is missing from the config")


def _check_value(report: Report, node: DictConfig, key: str, hint: Any, metadata: typing.Mapping[str, Any],
                 value: Any, dotted: str) -> None:
    """One value onto its field of ``node``: a nested schema is checked key by key."""
    kind, nullable = _unwrapped(hint)
    if value is None and nullable:
        return
    if dataclasses.is_dataclass(kind):
        if isinstance(value, dict):
            check_against(report, kind, value, dotted)
        else:
            report(dotted, f"expected {_expected(hint, metadata)}, got {value!r}")
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
        report(dotted, f"expected {_expected(hint, metadata)}, got {value!r}")
