# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The cache index (``<cache_dir>/index.json``): its typed form and how it is assembled.

:class:`CacheIndex` is the one contract of the index: :func:`~modulus_lrsa.datapipes.cache.build_cache`
writes it, :class:`~modulus_lrsa.datapipes.cache.MeshCache` serves it, and a model's data
descriptor carries its layout (every key but ``cases`` and ``skipped``) to ``lrsa-predict``.
:meth:`CacheIndex.to_dict` gives the JSON object as it is stored, key for key and in the
same order, so an index written before this type existed reads and writes unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modulus_lrsa.datapipes.cases import MeshCacheConfig
from modulus_lrsa.datapipes.normalization import Normalizer, RunningMoments
from modulus_lrsa.errors import MeshDataError
from modulus_lrsa.io.fields import target_layout

CACHE_FORMAT_VERSION = 3
#: Why a cache of an older format is rebuilt, by the format it has.
_FORMAT_CHANGES = {
    1: "format 1 signed the wall distance of mesh cells by winding number, negative across much of "
       "an internal flow's fluid; format 3 stores the unsigned distance",
    2: "format 2 pointed the wall normals out of the fluid where the wall encloses it (a duct, a cavity) "
       "or is a ground plane exported with the body; format 3 points them into the fluid of the mesh",
}
AXIS_NAMES = ("x", "y", "z")


def _is_names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


#: Each key's check and how a message names it: ``index.json`` and a model descriptor's copy
#: come from files, so a wrong type is named where it is read, not met deep in a prediction.
_INDEX_TYPES: dict[str, tuple[Any, str]] = {
    "format_version": (lambda value: isinstance(value, int) and not isinstance(value, bool), "an integer"),
    "settings_hash": (lambda value: isinstance(value, str), "a string"),
    "training_domain": (lambda value: value is None or isinstance(value, dict), "null or an object"),
    "settings": (lambda value: isinstance(value, dict), "an object"),
    "dimension": (lambda value: value in (2, 3) and not isinstance(value, bool), "2 or 3"),
    "planar_axis": (lambda value: value is None or (value in (0, 1, 2) and not isinstance(value, bool)), "null, 0, 1 or 2"),
    "coordinate_names": (_is_names, "a list of strings"),
    "volume_channels": (_is_names, "a list of strings"),
    "surface_channels": (_is_names, "a list of strings"),
    "target_channels": (_is_names, "a list of strings"),
    "condition_names": (_is_names, "a list of strings"),
    "has_geometry": (lambda value: isinstance(value, bool), "true or false"),
    "stats_split": (lambda value: isinstance(value, str), "a string"),
    "cases": (_is_records, "a list of objects"),
    "skipped": (_is_records, "a list of objects"),
    "normalization": (lambda value: isinstance(value, dict), "an object"),
}


@dataclasses.dataclass(kw_only=True)
class CacheIndex:
    """The contents of a cache's ``index.json``.

    Attributes
    ----------
    format_version : int
        :data:`CACHE_FORMAT_VERSION` of the writer.
    settings_hash : str
        SHA-256 of the settings that change cached content.
    training_domain : dict or None
        ``min``, ``max`` and ``median_volume_points`` of the statistics split's volumes, and
        ``median_surface_points`` where the cases have walls (None without volume data, or in
        an index written before it was recorded).
    settings : dict
        The :class:`~modulus_lrsa.datapipes.cases.MeshCacheConfig` as a dict.
    dimension : int
        2 or 3.
    planar_axis : int or None
        The empty axis of 2D cases.
    coordinate_names, volume_channels, surface_channels, target_channels, condition_names : list of str
        The channel layout every case shares.
    has_geometry : bool
        The cases have a body surface (wall distances).
    stats_split : str
        The split whose cases define the normalization statistics.
    cases : list of dict
        One entry per cached case (summary, split, file, fingerprint, moments, size, sha256);
        empty in a model descriptor's copy.
    skipped : list of dict
        Cases left out, each ``{"case_id", "reason"}``; empty in a model descriptor's copy.
    normalization : dict
        :class:`~modulus_lrsa.datapipes.normalization.Normalizer` payloads of ``target``,
        ``conditions``, ``coordinates`` and ``distance``.
    """

    format_version: int
    settings_hash: str
    training_domain: dict[str, Any] | None = None
    settings: dict[str, Any]
    dimension: int
    planar_axis: int | None
    coordinate_names: list[str]
    volume_channels: list[str]
    surface_channels: list[str]
    target_channels: list[str]
    condition_names: list[str]
    has_geometry: bool
    stats_split: str
    cases: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)
    normalization: dict[str, dict[str, Any]]

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any], where: str = "cache index") -> CacheIndex:
        """Read the JSON object :meth:`to_dict` writes (or a descriptor's copy, without cases).

        Raises
        ------
        MeshDataError
            A key is missing, unknown or of another type: one line naming ``where`` and the keys.
        """
        fields = dataclasses.fields(cls)
        required = [field.name for field in fields
                    if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in payload]
        unknown = sorted(set(payload) - {field.name for field in fields})
        if missing or unknown:
            raise MeshDataError(f"{where}: not a cache index of this version (missing keys {missing}, unknown keys "
                                f"{unknown}); rebuild the cache with build_cache (lrsa-train does so by itself)")
        for key, value in payload.items():
            check, expected = _INDEX_TYPES[key]
            if not check(value):
                found = repr(value)[:60] if isinstance(value, (str, int, float)) or value is None else type(value).__name__
                raise MeshDataError(f"{where}: '{key}' must be {expected}, got {found}; rebuild the cache with build_cache")
        return cls(**payload)

    def to_dict(self, cases: bool = True) -> dict[str, Any]:
        """The JSON object of ``index.json``; ``cases=False`` leaves ``cases`` and ``skipped`` out (a descriptor's copy)."""
        payload = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        if not cases:
            del payload["cases"], payload["skipped"]
        return payload

    def normalizer(self, kind: str) -> Normalizer:
        """The normalizer of ``"target"``, ``"conditions"``, ``"coordinates"`` or ``"distance"``."""
        return Normalizer.from_dict(self.normalization[kind])



def format_change(index: dict[str, Any]) -> str:
    """Why a cache index of another format cannot be used as it is."""
    version = index.get("format_version")
    reason = _FORMAT_CHANGES.get(version, f"this version reads format {CACHE_FORMAT_VERSION} only")
    return f"cache format {version} is not the supported {CACHE_FORMAT_VERSION} ({reason})"


#: What every case must share, and how a message names it.
_LAYOUT_KEYS = (
    ("dimension", "dimension"),
    ("planar_axis", "planar axis"),
    ("volume_channels", "volume channels"),
    ("surface_channels", "surface channels"),
    ("has_geometry", "a body surface (has_geometry)"),
)


def disagreements(summaries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """The cases whose layout differs from the most common one (ties: the first case's), each with why.

    Comparing with the majority names the odd case out, wherever it sorts.
    """
    layouts = [json.dumps([summary[key] for key, _ in _LAYOUT_KEYS]) for summary in summaries]
    if len(set(layouts)) <= 1:
        return []
    reference = max(layouts, key=lambda layout: (layouts.count(layout), -layouts.index(layout)))
    agreeing = layouts.count(reference)
    expected = summaries[layouts.index(reference)]
    found = []
    for summary, layout in zip(summaries, layouts):
        if layout != reference:
            differences = "; ".join(
                f"{what} {summary[key]}, but the {agreeing} other case(s) have {expected[key]}"
                for key, what in _LAYOUT_KEYS if summary[key] != expected[key]
            )
            found.append((summary, f"case '{summary['case_id']}' has {differences}; every case must agree"))
    return found


def _reject_constant_targets(names: Sequence[str], moments: RunningMoments, num_cases: int, split: str) -> None:
    """A target that never varies cannot be learnt, and its relative error is undefined."""
    scale = np.maximum(np.abs(moments.mean), 1.0)
    constant = [name for name, std, ref in zip(names, moments.std, scale) if std <= 1e-7 * ref]
    if constant:
        values = ", ".join(f"{name} = {moments.mean[names.index(name)]:.6g}" for name in constant)
        raise MeshDataError(
            f"target channel(s) {constant} are constant over the {num_cases} '{split}' case(s) ({values}); "
            "they carry nothing to learn. Leave them out of data.volume_fields / data.surface_fields, "
            "e.g. U[0,1] keeps two components of U"
        )


def _training_domain(cases: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Bounding box and typical point counts of the training cases: where, and how densely,
    ``lrsa-predict`` samples query points around a new geometry, and how many of its wall
    faces the model sees beside them. None without volume data."""
    bounds = [case["volume_bounds"] for case in cases if "volume_bounds" in case]
    if not bounds or len(bounds) != len(cases):
        return None
    domain = {
        "min": np.min([low for low, _ in bounds], axis=0).tolist(),
        "max": np.max([high for _, high in bounds], axis=0).tolist(),
        "median_volume_points": int(np.median([case["num_volume_points"] for case in cases])),
    }
    # How many wall faces go with that many cells: the share of the wall in the model's point set.
    surfaces = [case.get("num_surface_points", 0) for case in cases]
    if all(surfaces):
        domain["median_surface_points"] = int(np.median(surfaces))
    return domain


def assemble_index(
    summaries: list[dict[str, Any]],
    skipped: list[dict[str, str]],
    config: MeshCacheConfig,
    settings: str,
    stats_split: str,
) -> CacheIndex:
    """The index of the cases ``summaries`` (they agree on the layout), with the statistics of ``stats_split``."""
    if not summaries:
        raise MeshDataError(f"no usable case ({len(skipped)} skipped): " + "; ".join(s["reason"] for s in skipped[:3]))
    # Every case agrees on these (build_cache rejected the others).
    dimension, planar_axis, volume_channels, surface_channels, has_geometry = (
        summaries[0][key] for key, _ in _LAYOUT_KEYS
    )
    targets = target_layout(volume_channels, surface_channels)
    coordinate_names = [AXIS_NAMES[axis] for axis in range(3) if axis != planar_axis]

    stats_cases = [summary for summary in summaries if summary["split"] == stats_split]
    if not stats_cases:
        splits = sorted({summary["split"] for summary in summaries})
        raise MeshDataError(f"no case in split '{stats_split}' to compute normalization statistics (splits: {splits})")
    merged = {
        "target": RunningMoments(len(targets)),
        "coordinates": RunningMoments(dimension),
        "distance": RunningMoments(1),
    }
    conditions = RunningMoments(len(config.conditions))
    for summary in stats_cases:
        for key, accumulator in merged.items():
            accumulator.merge(RunningMoments.from_dict(summary["moments"][key]))
        if config.conditions:
            conditions.update(np.asarray(summary["conditions"])[None, :])

    _reject_constant_targets(targets, merged["target"], len(stats_cases), stats_split)
    coordinate_scale = float(np.sqrt(merged["coordinates"].variance.mean())) or 1.0
    distance_moments = merged["distance"]
    distance_rms = float(np.sqrt(distance_moments.variance[0] + distance_moments.mean[0] ** 2)) or 1.0
    normalization = {
        "target": Normalizer.from_moments(targets, merged["target"]).to_dict(),
        "conditions": Normalizer.from_moments(list(config.conditions), conditions).to_dict()
        if config.conditions
        else Normalizer.identity([]).to_dict(),
        # One scale for all axes keeps shapes undistorted and matches the unit directions.
        "coordinates": Normalizer(
            names=coordinate_names, mean=merged["coordinates"].mean, std=np.full(dimension, coordinate_scale)
        ).to_dict(),
        # Scale only: the distance keeps its zero on the wall.
        "distance": Normalizer(names=["distance"], mean=np.zeros(1), std=np.array([distance_rms])).to_dict(),
    }
    return CacheIndex(
        format_version=CACHE_FORMAT_VERSION,
        settings_hash=settings,
        training_domain=_training_domain(stats_cases),
        settings=config.to_dict(),
        dimension=dimension,
        planar_axis=planar_axis,
        coordinate_names=coordinate_names,
        volume_channels=volume_channels,
        surface_channels=surface_channels,
        target_channels=targets,
        condition_names=list(config.conditions),
        has_geometry=has_geometry,
        stats_split=stats_split,
        cases=summaries,
        skipped=skipped,
        normalization=normalization,
    )

