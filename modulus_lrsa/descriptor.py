# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The data descriptor beside a ``.mdlus``, typed: what training hands to prediction.

``lrsa-train`` writes ``<model>.data.json`` beside every exported model (normalization
statistics and feature layout, so a new case is preprocessed exactly like the training
data); this module is its one home: where it lives (:func:`descriptor_path`), the file
(:func:`write_descriptor`, :func:`read_descriptor`) and its typed form. :class:`MeshDescriptor` (``kind: mesh``) carries the channel names,
the training cache's layout and statistics (a :class:`~modulus_lrsa.datapipes.index.CacheIndex`
without its cases), which parts the model uses and the force settings;
:class:`DarcyDescriptor` (``kind: darcy``) the view, the grid resolution and the two
normalizers. :meth:`ModelDescriptor.from_dict` reads either, :meth:`ModelDescriptor.to_dict`
writes the JSON object key for key and in the order earlier versions wrote it, so files
written before this type existed read and write unchanged.

The file travels with a model from elsewhere, so it is untrusted (``docs/security.md``):
every key is checked for its type where it is read, and a missing, unknown or
wrong-typed key is one :class:`DescriptorError` line naming the
file and the key, never a ``KeyError`` deep in a prediction.

The room sits above ``forces`` (whose :class:`~modulus_lrsa.forces.ForceSettings` it
holds), below ``training`` and ``inference``, its writer and its readers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from omegaconf.errors import OmegaConfBaseException

from modulus_lrsa.atomic import atomic_write_json
from modulus_lrsa.datapipes.cases import MeshCacheConfig, outside_case_folder
from modulus_lrsa.datapipes.grid import GRID_VIEWS, DarcyNormalizers
from modulus_lrsa.datapipes.index import CacheIndex
from modulus_lrsa.datapipes.normalization import Normalizer
from modulus_lrsa.errors import MeshDataError, one_line
from modulus_lrsa.forces import ForceSettings

DESCRIPTOR_FORMAT = "modulus-lrsa-data-descriptor"
DESCRIPTOR_VERSION = 1


class DescriptorError(ValueError):
    """A model's data descriptor is missing or is not one."""


def descriptor_path(model_path: str | os.PathLike) -> Path:
    """Where the data descriptor of ``model.mdlus`` lives: ``model.data.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".data.json")


def write_descriptor(descriptor: dict[str, Any], model_path: str | os.PathLike) -> Path:
    """Write the data descriptor next to an exported model, atomically; returns its path."""
    path = descriptor_path(model_path)
    atomic_write_json(path, descriptor)
    return path


def read_descriptor(model_path: str | os.PathLike) -> dict[str, Any]:
    """The data descriptor saved beside ``model_path``.

    Raises
    ------
    DescriptorError
        It is missing, or the file is not a modulus-lrsa data descriptor.
    """
    sidecar = descriptor_path(model_path)
    if not sidecar.is_file():
        raise DescriptorError(
            f"{sidecar}: missing; lrsa-train writes it beside every exported model with the "
            "normalization statistics needed to predict (copy it along with the .mdlus file)"
        )
    try:
        descriptor = json.loads(sidecar.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DescriptorError(f"{sidecar}: not a modulus-lrsa data descriptor (not valid JSON: {one_line(error)})") from None
    if not isinstance(descriptor, dict):
        raise DescriptorError(f"{sidecar}: not a modulus-lrsa data descriptor (a JSON {type(descriptor).__name__}, "
                              "not an object)")
    if descriptor.get("format") != DESCRIPTOR_FORMAT:
        raise DescriptorError(f"{sidecar}: not a modulus-lrsa data descriptor (format {descriptor.get('format')!r})")
    return descriptor


#: The normalizers a mesh descriptor's cache index holds (CacheIndex.normalizer's kinds).
_MESH_NORMALIZERS = ("target", "conditions", "coordinates", "distance")
#: How a message names a parsed JSON value's type.
_JSON_TYPES = {dict: "object", list: "list"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_numbers(value: Any) -> bool:
    return isinstance(value, list) and all(_is_int(item) or isinstance(item, float) for item in value)


def _checked_normalizer(payload: Any) -> Normalizer:
    """A normalizer's stored payload, its keys and their types checked before it is built.

    Raises
    ------
    ValueError
        What is wrong, for the caller's one line.
    """
    if not isinstance(payload, dict):
        raise ValueError(f"a JSON {_JSON_TYPES.get(type(payload), type(payload).__name__)}, not an object")
    unknown = sorted(str(key) for key in set(payload) - {"names", "mean", "std", "min", "max"})
    if unknown or not _is_names(payload.get("names")):
        raise ValueError(f"expected names (a list of strings), mean, std and optionally min and max; unknown keys {unknown}")
    bad = [key for key in ("mean", "std", "min", "max") if (key in payload or key in ("mean", "std"))
           and not _is_numbers(payload.get(key))]
    if bad:
        raise ValueError(f"{', '.join(bad)} must be lists of numbers")
    return Normalizer.from_dict(payload)


def _is_metrics(value: Any) -> bool:
    # Validation metrics: numbers, null where undefined (JSON has no NaN).
    return isinstance(value, dict) and all(
        isinstance(key, str) and (item is None or _is_int(item) or isinstance(item, float)) for key, item in value.items()
    )


#: Each stored key's check and how a message names what it expects.
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "format": (lambda value: value == DESCRIPTOR_FORMAT, repr(DESCRIPTOR_FORMAT)),
    "version": (_is_int, "an integer"),
    "kind": (lambda value: value in ("darcy", "mesh"), "'darcy' or 'mesh'"),
    "name": (lambda value: isinstance(value, str), "a string"),
    "fx_names": (_is_names, "a list of strings"),
    "embedding_names": (_is_names, "a list of strings"),
    "target_names": (_is_names, "a list of strings"),
    "epoch": (_is_int, "an integer"),
    "metrics": (_is_metrics, "an object of numbers"),
    "cache_index": (lambda value: isinstance(value, dict), "an object (the training cache index)"),
    "uses_volume": (lambda value: isinstance(value, bool), "true or false"),
    "uses_surface": (lambda value: isinstance(value, bool), "true or false"),
    "forces": (lambda value: value is None or isinstance(value, dict), "null or an object (data.forces)"),
    "view": (lambda value: value in GRID_VIEWS, f"one of {list(GRID_VIEWS)}"),
    "resolution": (lambda value: _is_int(value) and value > 0, "a positive integer"),
    "normalization": (lambda value: isinstance(value, dict), "an object of the coefficient and solution normalizers"),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelDescriptor:
    """What a trained model needs to be fed and to be read: the contents of ``<model>.data.json``.

    Build one of :class:`MeshDescriptor` or :class:`DarcyDescriptor`; this base holds
    what both have and reads either (:meth:`from_dict`, :meth:`read`).

    Attributes
    ----------
    name : str
        ``data.name`` of the training run.
    fx_names, embedding_names, target_names : tuple of str
        The channels of the model's inputs and outputs.
    version : int
        ``DESCRIPTOR_VERSION`` of the writer.
    epoch : int, optional
        The epoch of the exported model (None before export).
    metrics : dict, optional
        Its validation metrics (None before export).
    """

    #: The ``kind`` key of this class's descriptors.
    KIND: ClassVar[str] = ""

    name: str
    fx_names: tuple[str, ...]
    embedding_names: tuple[str, ...]
    target_names: tuple[str, ...]
    version: int = DESCRIPTOR_VERSION
    epoch: int | None = None
    metrics: Mapping[str, float | None] | None = None

    def __post_init__(self) -> None:
        for key in ("fx_names", "embedding_names", "target_names"):
            object.__setattr__(self, key, tuple(getattr(self, key)))

    @property
    def kind(self) -> str:
        """``mesh`` or ``darcy``."""
        return self.KIND

    # ------------------------------------------------------------------ reading

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any], where: str = "data descriptor") -> ModelDescriptor:
        """Read the JSON object :meth:`to_dict` writes, as the class its ``kind`` names.

        Parameters
        ----------
        payload : mapping
            The parsed ``<model>.data.json``.
        where : str
            How messages name the file.

        Raises
        ------
        DescriptorError
            Not a descriptor, or a key is missing, unknown or of the wrong type: one line
            naming ``where`` and the key.
        """
        if not isinstance(payload, Mapping):
            raise DescriptorError(f"{where}: not a modulus-lrsa data descriptor (a {type(payload).__name__}, not an object)")
        for key in ("format", "kind"):
            _check_key(payload, key, where)
        subclass = next(kind for kind in (MeshDescriptor, DarcyDescriptor) if kind.KIND == payload["kind"])
        if cls is not ModelDescriptor and cls is not subclass:
            raise DescriptorError(f"{where}: a {payload['kind']} model's descriptor, not a {cls.KIND} one")
        keys = subclass._stored_keys()
        required = [key for key in keys if key not in ("epoch", "metrics")]
        missing = [key for key in required if key not in payload]
        unknown = sorted(str(key) for key in set(payload) - set(keys))
        if missing or unknown:
            raise DescriptorError(f"{where}: not a modulus-lrsa data descriptor of this version (missing keys {missing}, "
                                  f"unknown keys {unknown}); export the model again with this version's lrsa-train")
        for key in payload:
            if key not in ("epoch", "metrics") or payload[key] is not None:
                _check_key(payload, key, where)
        common = {key: payload[key] for key in ("name", "fx_names", "embedding_names", "target_names", "version")}
        common.update(epoch=payload.get("epoch"), metrics=payload.get("metrics"))
        return subclass._from_payload(payload, common, where)

    @classmethod
    def read(cls, model_path: str | os.PathLike) -> ModelDescriptor:
        """The descriptor saved beside ``model_path`` (``<model>.data.json``).

        Raises
        ------
        DescriptorError
            It is missing, is not JSON, or is not a descriptor of this version (the
            message names the file and the key).
        """
        return cls.from_dict(read_descriptor(model_path), str(descriptor_path(model_path)))

    # ------------------------------------------------------------------ writing

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``<model>.data.json``, keys in the order earlier versions wrote them."""
        payload: dict[str, Any] = {"format": DESCRIPTOR_FORMAT, "version": self.version, "kind": self.KIND, "name": self.name}
        payload.update(self._kind_payload())
        # lrsa-train adds these last, at export.
        if self.epoch is not None:
            payload["epoch"] = self.epoch
        if self.metrics is not None:
            payload["metrics"] = dict(self.metrics)
        return payload

    def write(self, model_path: str | os.PathLike) -> Path:
        """Write ``<model>.data.json`` beside ``model_path``, atomically; returns its path."""
        return write_descriptor(self.to_dict(), model_path)

    def _names(self) -> dict[str, list[str]]:
        return {key: list(getattr(self, key)) for key in ("fx_names", "embedding_names", "target_names")}

    # ------------------------------------------------------------------ per kind

    @classmethod
    def _stored_keys(cls) -> tuple[str, ...]:
        raise NotImplementedError

    @classmethod
    def _from_payload(cls, payload: Mapping[str, Any], common: dict[str, Any], where: str) -> ModelDescriptor:
        raise NotImplementedError

    def _kind_payload(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeshDescriptor(ModelDescriptor):
    """The descriptor of a model trained on CFD cases (``kind: mesh``).

    Attributes
    ----------
    cache_index : CacheIndex
        The training cache's index without its cases: settings, channel layout,
        normalization statistics, the training domain.
    uses_volume, uses_surface : bool
        Whether the model was trained on volume points, on wall points.
    forces : ForceSettings or None
        ``data.forces`` when lift and drag were evaluated.
    """

    KIND: ClassVar[str] = "mesh"

    cache_index: CacheIndex
    uses_volume: bool
    uses_surface: bool
    forces: ForceSettings | None = None

    @classmethod
    def _stored_keys(cls) -> tuple[str, ...]:
        return ("format", "version", "kind", "name", "cache_index", "uses_volume", "uses_surface", "fx_names",
                "embedding_names", "target_names", "forces", "epoch", "metrics")

    @classmethod
    def _from_payload(cls, payload: Mapping[str, Any], common: dict[str, Any], where: str) -> MeshDescriptor:
        try:
            index = CacheIndex.from_dict(payload["cache_index"], f"{where} (cache_index)")
        except MeshDataError as error:
            raise DescriptorError(str(error)) from None
        # Checked here, not at the first prediction: the settings and statistics prediction rebuilds.
        for kind in _MESH_NORMALIZERS:
            try:
                _checked_normalizer(index.normalization.get(kind))
            except ValueError as error:
                raise DescriptorError(f"{where}: cache_index.normalization.{kind} is not a normalizer "
                                      f"({one_line(error)})") from None
        try:
            MeshCacheConfig(**{**index.settings, "dimension": index.dimension})
        except (TypeError, ValueError) as error:
            raise DescriptorError(f"{where}: cache_index.settings are not the data settings of this version "
                                  f"({one_line(error)})") from None
        _check_data_files(index.settings, where)
        _check_training_domain(index, where)
        _check_channels(payload, index, where)
        forces = None
        if payload["forces"] is not None:
            try:
                forces = ForceSettings.from_config(payload["forces"])
            except (ValueError, TypeError, OmegaConfBaseException) as error:
                raise DescriptorError(f"{where}: forces are not force settings ({one_line(error)})") from None
            _check_forces(forces, index, where)
        return cls(**common, cache_index=index, uses_volume=payload["uses_volume"], uses_surface=payload["uses_surface"],
                   forces=forces)

    def _kind_payload(self) -> dict[str, Any]:
        return {
            "cache_index": self.cache_index.to_dict(cases=False),
            "uses_volume": self.uses_volume,
            "uses_surface": self.uses_surface,
            **self._names(),
            "forces": self.forces.as_dict() if self.forces is not None else None,
        }


@dataclasses.dataclass(frozen=True, kw_only=True)
class DarcyDescriptor(ModelDescriptor):
    """The descriptor of a model trained on Darcy flow (``kind: darcy``).

    Attributes
    ----------
    view : str
        ``grid`` or ``points`` (:data:`~modulus_lrsa.datapipes.grid.GRID_VIEWS`).
    resolution : int
        The training grid's side.
    normalization : DarcyNormalizers
        The coefficient and solution statistics of the training split.
    """

    KIND: ClassVar[str] = "darcy"

    view: str
    resolution: int
    normalization: DarcyNormalizers

    @classmethod
    def _stored_keys(cls) -> tuple[str, ...]:
        return ("format", "version", "kind", "name", "view", "resolution", "fx_names", "embedding_names", "target_names",
                "normalization", "epoch", "metrics")

    @classmethod
    def _from_payload(cls, payload: Mapping[str, Any], common: dict[str, Any], where: str) -> DarcyDescriptor:
        stored = payload["normalization"]
        try:
            if sorted(stored) != ["coefficient", "solution"]:
                raise ValueError(f"keys {sorted(stored)}, not ['coefficient', 'solution']")
            normalization = DarcyNormalizers(**{key: _checked_normalizer(stored[key]) for key in stored})
        except ValueError as error:
            raise DescriptorError(f"{where}: normalization is not the coefficient and solution normalizers "
                                  f"({one_line(error)})") from None
        return cls(**common, view=payload["view"], resolution=payload["resolution"], normalization=normalization)

    def _kind_payload(self) -> dict[str, Any]:
        return {"view": self.view, "resolution": self.resolution, **self._names(),
                "normalization": self.normalization.to_dict()}


#: The settings naming a case's files, resolved inside each case folder.
_DATA_FILE_SETTINGS = ("volume_file", "surface_file", "geometry_file")


def _check_data_files(settings: Mapping[str, Any], where: str) -> None:
    """The file patterns a descriptor's settings give must stay inside the case folder they are resolved in.

    Prediction reads the files a descriptor names in the case it is given: an absolute
    pattern or one with ``..`` would read another folder's files instead.
    """
    for key in _DATA_FILE_SETTINGS:
        pattern = settings.get(key)
        if pattern is None:
            continue
        if not isinstance(pattern, str) or outside_case_folder(pattern):
            raise DescriptorError(f"{where}: cache_index.settings.{key} is {str(pattern)[:80]!r}; expected a file "
                                  "pattern inside the case folder (relative, without '..')")


#: The largest median point count a descriptor may give ``--sample-volume``: beyond, the draw
#: alone would take gigabytes (real training cases hold up to tens of millions of points).
MAX_MEDIAN_VOLUME_POINTS = 100_000_000
#: Coordinates beyond this are no mesh a float32 model was trained on.
_COORDINATE_LIMIT = 1e15


def _check_training_domain(index: CacheIndex, where: str) -> None:
    """The training domain (``--sample-volume``'s default box and point count) must be one a cache could record."""
    domain = index.training_domain
    if domain is None:
        return
    key = f"{where}: cache_index.training_domain"
    width = len(index.coordinate_names)
    low, high = domain.get("min"), domain.get("max")
    if not (_is_numbers(low) and _is_numbers(high) and len(low) == len(high) == width):
        raise DescriptorError(f"{key}: min and max must be lists of {width} numbers, got {str(low)[:60]} and {str(high)[:60]}")
    if not all(math.isfinite(a) and math.isfinite(b) and -_COORDINATE_LIMIT < a < b < _COORDINATE_LIMIT
               for a, b in zip(low, high)):
        raise DescriptorError(f"{key}: min {low} and max {high} must be finite, each min below its max "
                              f"(within +-{_COORDINATE_LIMIT:g})")
    for name, required in (("median_volume_points", True), ("median_surface_points", False)):
        count = domain.get(name)
        if count is None and not required:
            continue  # recorded since cache indexes count the wall faces of the training cases
        if not (_is_int(count) and 1 <= count <= MAX_MEDIAN_VOLUME_POINTS):
            raise DescriptorError(f"{key}.{name} is {str(count)[:30]}; expected a count from 1 to "
                                  f"{MAX_MEDIAN_VOLUME_POINTS}")


def _check_channels(payload: Mapping[str, Any], index: CacheIndex, where: str) -> None:
    """The channel lists must be those the cache index gives, as lrsa-train writes them.

    Prediction builds the model's inputs from the index and reads its outputs by the
    index's target channels; lists that disagree describe another model.
    """
    surface_targets = set(index.surface_channels)
    unknown = [name for name in index.target_channels if name not in set(index.volume_channels) | surface_targets]
    if unknown:
        raise DescriptorError(f"{where}: cache_index.target_channels {unknown} are neither volume nor surface channels")
    embedding = list(index.coordinate_names)
    if index.has_geometry:
        embedding += ["distance"] + [f"direction_{axis}" for axis in index.coordinate_names]
    # The is_surface flag follows uses_volume and uses_surface, whose pairing inference checks against the model.
    stored_embedding = list(payload["embedding_names"])
    if stored_embedding[-1:] == ["is_surface"]:
        embedding.append("is_surface")
    for key, expected in (("fx_names", list(index.condition_names)), ("embedding_names", embedding),
                          ("target_names", list(index.target_channels))):
        if list(payload[key]) != expected:
            raise DescriptorError(f"{where}: '{key}' is {_names(payload[key])}, but its cache_index gives {_names(expected)}")


def _names(names: Any) -> str:
    text = repr(list(names))
    return text if len(text) <= 120 else text[:117] + "..."


def _check_forces(forces: ForceSettings, index: CacheIndex, where: str) -> None:
    """The force settings must name channels and conditions of the index, and positive finite lengths."""
    surface = list(index.surface_channels)
    if forces.pressure not in surface:
        raise DescriptorError(f"{where}: forces.pressure {forces.pressure!r} is not a surface channel ({_names(surface)})")
    if forces.wall_shear is not None and not forces.wall_shear_channels(surface):
        raise DescriptorError(f"{where}: forces.wall_shear {forces.wall_shear!r} is not a surface channel "
                              f"({_names(surface)})")
    for key in ("speed", "angle_of_attack_deg"):
        name = getattr(forces, key)
        if (name is not None or key == "speed") and name not in index.condition_names:
            raise DescriptorError(f"{where}: forces.{key} {name!r} is not a condition ({_names(index.condition_names)})")
    for key in ("chord", "span", "wall_shear_sign"):
        value = getattr(forces, key)
        if not math.isfinite(value) or (key != "wall_shear_sign" and value <= 0):
            raise DescriptorError(f"{where}: forces.{key} is {value!r}; expected a "
                                  f"{'finite number' if key == 'wall_shear_sign' else 'positive finite number'}")


def _check_key(payload: Mapping[str, Any], key: str, where: str) -> None:
    """One line naming ``where`` and ``key`` unless ``payload[key]`` is of its stored type."""
    check, expected = _CHECKS[key]
    if key not in payload:
        raise DescriptorError(f"{where}: not a modulus-lrsa data descriptor (no '{key}' key)")
    value = payload[key]
    if not check(value):
        plain = isinstance(value, (str, int, float, bool)) or value is None
        found = repr(value) if plain else f"a JSON {_JSON_TYPES.get(type(value), type(value).__name__)}"
        if key == "format":
            # The wording read_descriptor has always used for another file.
            raise DescriptorError(f"{where}: not a modulus-lrsa data descriptor (format {value!r})")
        raise DescriptorError(f"{where}: '{key}' must be {expected}, got {found[:80]}")
