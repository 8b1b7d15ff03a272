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

A field without a default is one that every preset of its group sets and that the run
reads without a fallback: a config that lacks it is refused. Values come from the presets
in ``conf/``, which differ (``data/airfoil.yaml`` and ``data/ahmed.yaml`` draw different
point counts), so the schema repeats none of them; a default here is the reader's own
fallback for a key the presets leave out (``training.cuda_graphs``, and the
:class:`~modulus_lrsa.datapipes.cases.MeshCacheConfig` fields set with ``+data.<key>``).
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass, field
from logging import getLevelNamesMapping
from typing import Any

from omegaconf import MISSING

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
