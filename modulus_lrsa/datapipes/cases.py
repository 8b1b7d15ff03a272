# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Finding cases, their files, split and global conditions under a data folder.

Two layouts are understood, neither required:

* With ``<root>/manifest.json`` (as written by ``modulus_lrsa.data.airfoil``): the cases
  are its ``"cases"`` entries (``id``, ``status``, ``split``, optional ``path``); a case
  lives in ``<root>/<path>``, else ``<root>/cases/<id>/``, else ``<root>/<id>/``. Entries
  whose status is not accepted (e.g. ``failed``, ``unconverged``) are reported as
  skipped, never used.
* Without a manifest: every path matching ``config.case_pattern`` under the root is a
  case (a folder, or a single VTK file; only folders once a file glob is set), split
  into train/test by a seeded shuffle.

Inside a case folder, file globs from the config pick the volume, surface and geometry
files; when a glob is not set, ``case.json``'s ``"files"`` entry is used, else the
latest ``VTK/*.vtm`` that OpenFOAM's ``foamToVTK`` writes. Globs that
match several files (e.g. several OpenFOAM time folders) take the last one in natural
order, i.e. the latest time, within one series of files (see :func:`latest_of_series`).
Global conditions come from ``config.condition_values`` or ``case.json``'s ``"params"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modulus_lrsa.errors import CaseConfigError, MissingCaseFileError
from modulus_lrsa.io.fields import FIELD_LOCATIONS, FieldSelector
from modulus_lrsa.io.readers import SUPPORTED_SUFFIXES, vtm_referenced_files

MANIFEST_NAME = "manifest.json"
CASE_JSON_NAME = "case.json"
FOAM_TO_VTK_GLOB = "VTK/*.vtm"


@dataclass(frozen=True)
class MeshCacheConfig:
    """What to extract from every case, and where to find it.

    Attributes
    ----------
    volume_fields : sequence of str
        Target fields on volume points, e.g. ``("U[0,1]", "p", "nut")``; see
        :class:`~modulus_lrsa.io.fields.FieldSelector`.
    surface_fields : sequence of str
        Target fields on surface (wall) points, e.g. ``("p", "wallShearStress[0,1]")``.
        A channel with the same name as a volume channel (``p``) shares its target column.
    conditions : sequence of str
        Global inputs broadcast to every point (e.g. ``("U", "aoa_deg")``), looked up in
        ``condition_values`` or case.json ``"params"``.
    volume_file, surface_file, geometry_file : str, optional
        Globs relative to the case folder. ``None``: case.json ``files.volume`` /
        ``files.surface``; the geometry (body surface for distances) defaults to the
        surface file. The surface file also serves as geometry when it is the wall patch.
    volume_block, surface_block, geometry_block : str, optional
        Block to use when the file is a ``.vtm`` (``"internal"``, ``"walls"``).
    volume_location, surface_location : {"cell", "point"}
        Train on cell data at cell centres (weights = cell volumes/areas) or on point data.
    dimension : {"auto", 2, 3}
        ``"auto"`` treats one-cell-thick meshes as 2D (see :mod:`modulus_lrsa.geometry.surface`).
    case_pattern : str
        Glob for cases under the root when there is no manifest.
    condition_values : mapping, optional
        ``{case_id: {name: value}}``; takes precedence over case.json.
    test_fraction : float
        Share of cases held out for testing when no manifest gives splits.
    split_seed : int
        Seed of that split.
    accepted_statuses : sequence of str
        Manifest statuses of usable cases.
    free_stream : mapping, optional
        Free-stream scaling of the targets, e.g. ``{"speed": "U", "length": 1.0,
        "fields": {"U": "velocity", "p": "pressure", "nut": "viscosity"}}``: the model
        learns ``U / U_inf``, ``p / (0.5 U_inf^2)`` (Cp), wall stress ``/ (0.5 U_inf^2)``
        and ``nut / (U_inf L)``, with ``U_inf`` the condition named ``speed``. The cache
        keeps physical units; errors and predictions are reported in them. See
        :func:`free_stream_scales`.
    """

    volume_fields: Sequence[str] = ()
    surface_fields: Sequence[str] = ()
    conditions: Sequence[str] = ()
    volume_file: str | None = None
    surface_file: str | None = None
    geometry_file: str | None = None
    volume_block: str | None = "internal"
    surface_block: str | None = None
    geometry_block: str | None = None
    volume_location: str = "cell"
    surface_location: str = "cell"
    dimension: str | int = "auto"
    case_pattern: str = "*"
    condition_values: Mapping[str, Mapping[str, float]] | None = None
    test_fraction: float = 0.2
    split_seed: int = 0
    accepted_statuses: Sequence[str] = ("ok", "success", "converged", "done", "completed")
    free_stream: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("volume_fields", "surface_fields", "conditions", "accepted_statuses"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"MeshCacheConfig.{name} must be a list of names, got the string {value!r}")
            object.__setattr__(self, name, tuple(value))
        for selector in (*self.volume_fields, *self.surface_fields):
            FieldSelector.parse(selector)
        for name in ("volume_location", "surface_location"):
            if getattr(self, name) not in FIELD_LOCATIONS:
                raise ValueError(f"MeshCacheConfig.{name} must be one of {FIELD_LOCATIONS}, got {getattr(self, name)!r}")
        if self.dimension not in ("auto", 2, 3):
            raise ValueError(f"MeshCacheConfig.dimension must be 'auto', 2 or 3, got {self.dimension!r}")
        if not self.volume_fields and not self.surface_fields:
            raise ValueError("MeshCacheConfig needs at least one of volume_fields or surface_fields")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ValueError(f"MeshCacheConfig.test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.free_stream is not None:
            object.__setattr__(self, "free_stream", _checked_free_stream(self.free_stream, self.conditions))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, used for the settings hash and stored in the cache index."""
        payload = asdict(self)
        for key, value in payload.items():
            if isinstance(value, tuple):
                payload[key] = list(value)
        if payload["free_stream"] is not None:
            payload["free_stream"] = {**payload["free_stream"], "fields": dict(payload["free_stream"]["fields"])}
        if payload["condition_values"] is not None:
            payload["condition_values"] = {
                str(case): {str(k): float(v) for k, v in sorted(values.items())}
                for case, values in sorted(payload["condition_values"].items())
            }
        return payload


#: How each kind of field scales with the free stream (speed U, reference length L).
FREE_STREAM_KINDS = {
    "velocity": lambda speed, length: speed,
    "pressure": lambda speed, length: 0.5 * speed**2,  # also kinematic wall shear stress
    "viscosity": lambda speed, length: speed * length,
}


def _checked_free_stream(settings: Mapping[str, Any], conditions: Sequence[str]) -> dict[str, Any]:
    settings = dict(settings)
    unknown = sorted(set(settings) - {"speed", "length", "fields"})
    if unknown:
        raise ValueError(f"MeshCacheConfig.free_stream: unknown key(s) {unknown}; expected speed, length, fields")
    speed = settings.get("speed")
    if speed not in conditions:
        raise ValueError(
            f"MeshCacheConfig.free_stream.speed: '{speed}' must be one of the conditions {list(conditions)}, "
            "which hold each case's free-stream speed"
        )
    length = float(settings.get("length", 1.0))
    if not length > 0:
        raise ValueError(f"MeshCacheConfig.free_stream.length must be > 0, got {length}")
    fields = {str(name): str(kind) for name, kind in dict(settings.get("fields") or {}).items()}
    bad = {name: kind for name, kind in fields.items() if kind not in FREE_STREAM_KINDS}
    if bad:
        raise ValueError(f"MeshCacheConfig.free_stream.fields: {bad}: kinds are {sorted(FREE_STREAM_KINDS)}")
    return {"speed": speed, "length": length, "fields": dict(sorted(fields.items()))}


def free_stream_scales(
    free_stream: Mapping[str, Any] | None, channels: Sequence[str], condition_names: Sequence[str],
    conditions: Sequence[float],
) -> np.ndarray:
    """Per-channel divisor that makes a case's targets dimensionless (1 for unlisted fields).

    Returns
    -------
    np.ndarray
        float64, shape (len(channels),), > 0.

    Raises
    ------
    CaseConfigError
        The case's free-stream speed is not positive.
    """
    scales = np.ones(len(channels))
    if free_stream is None:
        return scales
    speed = float(conditions[list(condition_names).index(free_stream["speed"])])
    if not speed > 0:
        raise CaseConfigError(f"free-stream speed {free_stream['speed']} = {speed} must be > 0 to scale the targets")
    for column, channel in enumerate(channels):
        kind = free_stream["fields"].get(FieldSelector.parse(channel).name)
        if kind is not None:
            scales[column] = FREE_STREAM_KINDS[kind](speed, free_stream["length"])
    return scales


@dataclass(frozen=True)
class FileRef:
    """One VTK file (and block, for ``.vtm``) of a case."""

    path: Path
    block: str | None = None


@dataclass(frozen=True)
class CaseSource:
    """A case found under the root, with its files resolved.

    Attributes
    ----------
    case_id : str
        Unique id (manifest id, or the path relative to the root).
    split : str
        ``"train"``, ``"test"``, or whatever the manifest says (e.g. ``"val"``).
    location : Path
        Case folder (or the single file that is the case).
    volume, surface, geometry : FileRef or None
        Resolved files; ``None`` when not configured.
    conditions : dict of str to float
        Values of ``config.conditions``.
    """

    case_id: str
    split: str
    location: Path
    volume: FileRef | None
    surface: FileRef | None
    geometry: FileRef | None
    conditions: dict[str, float]

    def input_files(self) -> list[Path]:
        """Every file the case's cache entry depends on (for change detection)."""
        files = {ref.path for ref in (self.volume, self.surface, self.geometry) if ref is not None}
        for path in list(files):
            if path.suffix.lower() == ".vtm":
                files.update(vtm_referenced_files(path))
        return sorted(files)


@dataclass(frozen=True)
class CaseEntry:
    """A case as listed, before its files are resolved."""

    case_id: str
    split: str
    location: Path
    status_problem: str | None = None


# A number in a file name: a time index (20), or an OpenFOAM time name (0.005, 1e-05).
_NUMBER = r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"


def natural_key(path: Path) -> list:
    """Sort key comparing embedded numbers as numbers: case2 < case10, time 0.5 < 10, 2e-05 < 0.0001."""
    key = []
    for part in re.split(f"({_NUMBER})", str(path)):
        try:
            key.append((0, float(part)))
        except ValueError:
            key.append((1, part))
    return key


def read_json(path: Path, what: str) -> dict[str, Any]:
    """Load a JSON object, with an error naming the file when it is not valid JSON."""
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CaseConfigError(f"{path}: {what} is not valid JSON ({error})") from error
    except RecursionError:
        # json's parser recurses once per nested list or object: a crafted file exhausts the stack.
        raise CaseConfigError(f"{path}: {what} is not valid JSON (nested too deeply)") from None
    except OSError as error:
        raise CaseConfigError(f"{path}: cannot read {what} ({error})") from error
    if not isinstance(payload, dict):
        raise CaseConfigError(f"{path}: {what} must hold a JSON object, got {type(payload).__name__}")
    return payload


def outside_case_folder(name: str) -> bool:
    """Whether a file name or glob, taken relative to a case folder, can name a file outside it.

    An absolute path, or one with a ``..`` part, would read another folder's files; an empty
    name is the folder itself.
    """
    parts = Path(name).parts
    return not parts or Path(name).is_absolute() or ".." in parts


def list_cases(root: str | Path, config: MeshCacheConfig) -> list[CaseEntry]:
    """List the cases under ``root`` (manifest.json, else ``config.case_pattern``), sorted by id.

    Raises
    ------
    CaseConfigError
        The root does not exist, the manifest is malformed, or no case matches.
    """
    root = Path(root)
    if not root.is_dir():
        raise CaseConfigError(f"{root}: data folder does not exist")
    manifest_path = root / MANIFEST_NAME
    if manifest_path.is_file():
        return _cases_from_manifest(root, manifest_path, config)
    matches = sorted(
        (path for path in root.glob(config.case_pattern) if path.is_dir() or path.suffix.lower() in SUPPORTED_SUFFIXES),
        key=natural_key,
    )
    matches = [path for path in matches if not path.name.startswith(".")]
    if not matches:
        raise CaseConfigError(f"{root}: no case matches case_pattern '{config.case_pattern}' and there is no {MANIFEST_NAME}")
    globs = [f"MeshCacheConfig.{name}='{getattr(config, name)}'" for name in ("volume_file", "surface_file", "geometry_file")
             if getattr(config, name) is not None]
    if globs:
        # File globs look inside case folders: a file beside them is no case of its own.
        folders = [path for path in matches if path.is_dir()]
        if not folders:
            names = ", ".join(path.name for path in matches[:4]) + (", ..." if len(matches) > 4 else "")
            raise CaseConfigError(
                f"{root}: holds files ({names}) but no case folder, and {globs[0]} looks inside case folders; "
                "set the data folder to the one holding a folder per case, or leave the file globs unset "
                "for one file per case"
            )
        matches = folders
    ids = [str(path.relative_to(root).with_suffix("") if path.is_file() else path.relative_to(root)) for path in matches]
    first_of = {}
    for case_id, path in zip(ids, matches):
        if case_id in first_of:
            # Files of one case side by side (case_1.vtu, case_1.vtp) are no two cases, nor is
            # foamToVTK's case_1.vtm beside the folder case_1/ of its blocks: a folder has no
            # suffix to choose it by ('*' is what matched both), file globs choose folders.
            pair = (first_of[case_id], path)
            kinds = " or ".join(f"'*{other.suffix}'" for other in pair if other.is_file())
            folders = ("or give each case a folder of its own with volume_file / surface_file globs"
                       if all(other.is_file() for other in pair) else
                       "or set volume_file / surface_file globs to read the folders (only folders are cases then)")
            raise CaseConfigError(
                f"{pair[0]} and {pair[1]} are both case '{case_id}'; a flat folder holds one file per case: "
                f"choose one kind with MeshCacheConfig.case_pattern (e.g. {kinds}), {folders}"
            )
        first_of[case_id] = path
    order = np.random.default_rng(config.split_seed).permutation(len(ids))
    num_test = int(round(config.test_fraction * len(ids)))
    test_positions = set(order[:num_test].tolist())
    return [
        CaseEntry(case_id=case_id, split="test" if index in test_positions else "train", location=path)
        for index, (case_id, path) in enumerate(zip(ids, matches))
    ]


def _cases_from_manifest(root: Path, manifest_path: Path, config: MeshCacheConfig) -> list[CaseEntry]:
    manifest = read_json(manifest_path, "the manifest")
    entries = manifest.get("cases")
    if not isinstance(entries, list):
        raise CaseConfigError(f"{manifest_path}: expected a list under 'cases', got {type(entries).__name__}")
    accepted = {status.lower() for status in config.accepted_statuses}
    cases: list[CaseEntry] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or "id" not in entry:
            raise CaseConfigError(f"{manifest_path}: case entry {position} has no 'id'")
        case_id = str(entry["id"])
        if case_id in seen:
            raise CaseConfigError(f"{manifest_path}: case id '{case_id}' appears twice")
        seen.add(case_id)
        if entry.get("path"):
            folder = root / str(entry["path"])
        elif (root / "cases" / case_id).is_dir():
            folder = root / "cases" / case_id
        else:
            folder = root / case_id
        status = str(entry.get("status", "ok"))
        problem = None
        if status.lower() not in accepted:
            problem = f"manifest status is '{status}' (accepted: {', '.join(sorted(accepted))})"
        split = str(entry.get("split") or "train")
        cases.append(CaseEntry(case_id=case_id, split=split, location=folder, status_problem=problem))
    return sorted(cases, key=lambda case: natural_key(Path(case.case_id)))


def _tokens(folder: Path, path: Path) -> tuple[tuple[str, ...], list[str]]:
    """A file's path in the case split into its text between numbers and its numbers."""
    parts = re.split(f"({_NUMBER})", path.relative_to(folder).as_posix())
    return tuple(parts[::2]), parts[1::2]


def _starred(texts: Sequence[str], numbers: Sequence[str], position: int) -> str:
    """The path put together again with number ``position`` as ``*``."""
    return "".join(text + ("" if index == len(numbers) else "*" if index == position else numbers[index])
                   for index, text in enumerate(texts))


def _named_after_case(folder: Path, series: str) -> bool:
    named = f"{folder.name}_*"  # a file VTK/<case>_*.vtm or a folder VTK/<case>_*/internal.vtu
    return any(name == named or name.startswith(f"{named}.") for name in series.split("/"))


def _series_groups(folder: Path, matches: Sequence[Path]) -> dict[str, list[Path]]:
    """The files grouped into time series, each named with its time as ``*`` and ordered by time.

    Files are one series when their paths in the case have the same text between their
    numbers and differ in one number, the time: ``VTK/cav_20/boundary/wall1.vtp`` and
    ``VTK/cav_40/boundary/wall1.vtp`` are ``VTK/cav_*/boundary/wall1.vtp``. Which number
    is the time:

    * the one after the case folder's name, as foamToVTK writes it (``VTK/<case>_*``),
      wherever it occurs: ``inlet8_20.vtm`` beside ``inlet12_20.vtm`` (a copied case's
      export) are two series, not one ordered by the case number;
    * else the only number that differs among the files;
    * else (a single file, or several numbers that differ) the last one. Files differing
      in several numbers then make several series, so that the caller refuses them with
      the choices rather than ordering case copies or patches as if they were times.
    """
    structures: dict[tuple[str, ...], list[tuple[Path, list[str]]]] = {}
    for path in matches:
        texts, numbers = _tokens(folder, path)
        structures.setdefault(texts, []).append((path, numbers))
    groups: dict[str, list[Path]] = {}
    for texts, files in structures.items():
        count = len(texts) - 1
        if count == 0:  # no number: the one file of that path
            groups[texts[0]] = [path for path, _ in files]
            continue
        varying = [index for index in range(count) if len({numbers[index] for _, numbers in files}) > 1]
        named = [index for index in range(count)
                 if any(_named_after_case(folder, _starred(texts, numbers, index)) for _, numbers in files)]
        time = named[0] if named else varying[0] if len(varying) == 1 else (varying or [count - 1])[-1]
        for path, numbers in sorted(files, key=lambda file: (float(file[1][time]), natural_key(file[0]))):
            groups.setdefault(_starred(texts, numbers, time), []).append(path)
    return groups


def latest_of_series(folder: Path, matches: Sequence[Path], part: str, pattern: str, default: bool = False) -> Path:
    """The latest time among the files a glob found in a case folder.

    The files must be one series (one file per time; see :func:`_series_groups`).
    foamToVTK names the whole mesh after the case folder, ``VTK/<case>_<time index>.vtm``;
    a ``-cellSet`` export, or the export of the case this one was copied from, shares the
    VTK folder and the glob, so the series named after the case wins. Any other mix is
    refused: taking the last name would pick an unrelated file silently.

    Raises
    ------
    CaseConfigError
        The files form several series, none (or several) named after the case folder.
    """
    groups = _series_groups(folder, matches)
    if len(groups) > 1:
        own = [series for series in groups if _named_after_case(folder, series)]
        if len(own) != 1:
            choices = sorted(groups, key=lambda series: natural_key(Path(series)))
            raise CaseConfigError(
                f"{folder}: data.{part}_file='{pattern}'{' (the default)' if default else ''} matches several "
                f"exports ({', '.join(choices)}), {'several' if own else 'none'} named after the case folder "
                f"'{folder.name}' as foamToVTK names its export; name the one to use, e.g. "
                f"data.{part}_file='{_one_series_glob(folder, groups)}' (lrsa-predict: pass the file itself)"
            )
        groups = {own[0]: groups[own[0]]}
    return next(iter(groups.values()))[-1]


def _one_series_glob(folder: Path, groups: dict[str, list[Path]]) -> str:
    """A glob for the first series that matches none of the others' files, else its latest file.

    A series' own glob can match another: ``volume_*.vtu`` also takes ``volume_1_coarse.vtu``.
    """
    for series in sorted(groups, key=lambda name: natural_key(Path(name))):
        if {path for path in folder.glob(series) if path.is_file()} <= set(groups[series]):
            return series
    first = min(groups, key=lambda name: natural_key(Path(name)))
    return groups[first][-1].relative_to(folder).as_posix()


def _glob_one(folder: Path, pattern: str, what: str) -> Path:
    matches = [path for path in folder.glob(pattern) if path.is_file()]
    if not matches:
        raise MissingCaseFileError(
            f"{folder}: no {what} file matches data.{what}_file='{pattern}'{folder_files_hint(folder, what)}",
            folder, what, pattern,
        )
    return latest_of_series(folder, matches, what, pattern)


#: File types that can hold each part of a case, the likeliest first.
_PART_SUFFIXES = {"volume": (".vtu", ".vtm", ".vtk"), "surface": (".vtp", ".vtk", ".stl"),
                  "geometry": (".stl", ".vtp", ".vtk")}


def vtk_files(folder: Path) -> list[Path]:
    """The files in ``folder`` (not below it) that the readers take, in natural order."""
    return sorted((path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES),
                  key=natural_key)


def folder_files_hint(folder: Path, part: str) -> str:
    """What VTK files ``folder`` holds and a glob for ``part`` that fits every such folder, or ''.

    E.g. PhysicsNeMo's DrivAerML runs (``run_1/volume_1.vtu``, ``boundary_1.vtp``,
    ``drivaer_1.stl``) give ``data.volume_file='volume_*.vtu'``.
    """
    files = vtk_files(folder)
    if not files:
        return ""
    names = [path.name for path in files]
    hint = "; the folder holds " + ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    for suffix in _PART_SUFFIXES[part]:
        candidates = [path for path in files if path.suffix.lower() == suffix]
        if candidates:
            # Run numbers differ from folder to folder: a wildcard in their place fits every run.
            return hint + f": e.g. data.{part}_file='{re.sub(r'[0-9]+', '*', candidates[0].name)}'"
    return hint


def legacy_foam_to_vtk_hint(folder: Path, part: str, block: str | None = None) -> str:
    """How to point ``part`` at a ``foamToVTK -legacy`` export in ``folder``, or ''.

    The legacy layout is ``VTK/<case>_<time>.vtk`` for the volume and
    ``VTK/<patch>/<patch>_<time>.vtk`` for each patch; the patch a ``block`` setting names
    (``buildings`` or foamToVTK's ``boundary/buildings``) is the one suggested, if there.
    """
    if part == "volume":
        files = sorted(folder.glob("VTK/*.vtk"), key=natural_key)
        if files:
            return (f"; the folder has foamToVTK's -legacy export {files[-1].relative_to(folder)}: "
                    "set data.volume_file='VTK/*_*.vtk'")
    else:
        patches = sorted({path.parent.name for path in folder.glob("VTK/*/*.vtk")})
        if patches:
            named = block.rsplit("/", 1)[-1] if block else None
            patch, which = (named, f"data.{part}_block={block}") if named in patches else (patches[0], "your wall patch")
            return (f"; the folder has foamToVTK's -legacy patches {patches}: "
                    f"set data.{part}_file='VTK/{patch}/*.vtk' ({which})")
    return ""


def _file_ref(path: Path, block: str | None) -> FileRef:
    # A block only applies to multiblock files; dropping it elsewhere keeps messages accurate.
    return FileRef(path, block if path.suffix.lower() == ".vtm" else None)


def _resolve_file(
    entry: CaseEntry, pattern: str | None, case_files: Mapping[str, Any], key: str, block: str | None, required: bool
) -> FileRef | None:
    if entry.location.is_file():
        # A case given as one file provides only the parts the config asks for: a lone
        # volume file is no wall, and its outer faces are no body to measure distances to.
        return _file_ref(entry.location, block) if required else None
    if pattern is not None:
        return _file_ref(_glob_one(entry.location, pattern, key), block)
    if key in case_files:
        name = case_files[key]
        if not isinstance(name, str) or outside_case_folder(name):
            raise CaseConfigError(f"{entry.location / CASE_JSON_NAME}: files.{key} is {str(name)[:240]!r}; expected a file "
                                  "inside the case folder (relative, without '..')")
        path = entry.location / name
        if not path.is_file():
            raise CaseConfigError(f"{entry.location / CASE_JSON_NAME}: files.{key} points to {path}, which does not exist")
        return _file_ref(path, block)
    if required:
        # OpenFOAM's foamToVTK layout: VTK/<case>_<time index>.vtm, the latest time last.
        exports = list(entry.location.glob(FOAM_TO_VTK_GLOB))
        if exports:
            return _file_ref(latest_of_series(entry.location, exports, key, FOAM_TO_VTK_GLOB, default=True), block)
        raise MissingCaseFileError(
            f"{entry.location}: no {key} file: data.{key}_file is not set, {CASE_JSON_NAME} lists no files.{key} "
            f"and there is no foamToVTK export {FOAM_TO_VTK_GLOB}"
            + (legacy_foam_to_vtk_hint(entry.location, key, block)
               or folder_files_hint(entry.location, key)
               or f"; set data.{key}_file (MeshCacheConfig.{key}_file) to a glob such as 'VTK/*.vtm' or "
                  f"'internal.vtu', or list files.{key} in {CASE_JSON_NAME}"),
            entry.location, key, None,
        )
    return None


def _time_directories(folder: Path) -> list[float]:
    """The times of the time directories (``0``, ``0.005``, ``1e-05``) in an OpenFOAM folder."""
    times = []
    for path in folder.iterdir():
        try:
            time = float(path.name)
        except ValueError:
            continue
        if path.is_dir() and np.isfinite(time):
            times.append(time)
    return times


def check_export_has_results(folder: Path, export: Path, export_time: float | None) -> None:
    """Refuse a foamToVTK export of an OpenFOAM case's initial conditions when the case has results.

    A parallel run exported by a serial ``foamToVTK`` before ``reconstructPar`` (or a
    case exported before it was run) has only its start time in ``VTK/``: the latest
    export is then the initial fields, which would train or be compared with silently.

    Parameters
    ----------
    folder : Path
        The case folder; checked only when it is an OpenFOAM case (``system/controlDict``).
    export : Path
        The file chosen for the case, for the message.
    export_time : float, optional
        Its time (foamToVTK's ``TimeValue`` field data); None skips the check.

    Raises
    ------
    CaseConfigError
        The export holds the case's earliest time and later time directories exist.
    """
    if export_time is None or not (folder / "system" / "controlDict").is_file():
        return
    processors = sorted(path for path in folder.glob("processor*") if path.is_dir())
    root_times = _time_directories(folder)
    times = root_times + (_time_directories(processors[0]) if processors else [])
    if not times or export_time > min(times) or export_time >= max(times):
        return
    newest = max(times)
    if newest > max(root_times, default=-np.inf):
        how = (f"the results are only in {processors[0].name}/ and the other processor folders (a parallel run, "
               f"not reconstructed): run reconstructPar, then foamToVTK, or mpirun -np {len(processors)} "
               "foamToVTK -parallel")
    else:
        how = "export them with foamToVTK (or foamToVTK -latestTime)"
    raise CaseConfigError(
        f"{export}: holds time {export_time:g}, the initial conditions, but the case has results up to "
        f"time {newest:g}; {how}"
    )


def resolve_case(entry: CaseEntry, config: MeshCacheConfig) -> CaseSource:
    """Resolve a listed case's files and conditions.

    Raises
    ------
    CaseConfigError
        The case was rejected by the manifest, a file is missing, or a condition is unknown.
    """
    if entry.status_problem is not None:
        raise CaseConfigError(f"case '{entry.case_id}': {entry.status_problem}")
    if not entry.location.exists():
        raise CaseConfigError(f"{entry.location}: case '{entry.case_id}' has no folder")
    case_json_path = entry.location / CASE_JSON_NAME if entry.location.is_dir() else None
    case_json = read_json(case_json_path, CASE_JSON_NAME) if case_json_path and case_json_path.is_file() else {}
    case_files = case_json.get("files") or {}
    if not isinstance(case_files, dict):
        raise CaseConfigError(f"{case_json_path}: files must be a JSON object such as "
                              f'{{"volume": "internal.vtu"}}, got {type(case_files).__name__}')
    volume = (
        _resolve_file(entry, config.volume_file, case_files, "volume", config.volume_block, required=True)
        if config.volume_fields or config.volume_file is not None
        else None
    )
    surface_needed = bool(config.surface_fields) or config.surface_file is not None
    surface = _resolve_file(entry, config.surface_file, case_files, "surface", config.surface_block, required=surface_needed)
    if config.geometry_file is not None:
        geometry = _resolve_file(entry, config.geometry_file, case_files, "geometry", config.geometry_block, required=True)
    else:
        geometry = surface
    if entry.location.is_file() and entry.location.suffix.lower() != ".vtm" and volume is not None and (
        surface is not None or geometry is not None
    ):
        raise CaseConfigError(
            f"{entry.location}: a case given as one file cannot be both the volume and the wall surface "
            "(MeshCacheConfig.volume_fields and MeshCacheConfig.surface_fields, surface_file or geometry_file "
            "are set); give each case a folder of its own (one folder per case, with volume_file and "
            "surface_file globs), or one .vtm holding the volume and the wall as blocks"
        )
    conditions = _conditions(entry, config, case_json, case_json_path)
    return CaseSource(
        case_id=entry.case_id,
        split=entry.split,
        location=entry.location,
        volume=volume,
        surface=surface,
        geometry=geometry,
        conditions=conditions,
    )


def _conditions(
    entry: CaseEntry, config: MeshCacheConfig, case_json: Mapping[str, Any], case_json_path: Path | None
) -> dict[str, float]:
    table = (config.condition_values or {}).get(entry.case_id, {})
    params = case_json.get("params") or {}
    values: dict[str, float] = {}
    for name in config.conditions:
        if name in table:
            raw = table[name]
        elif name in params:
            raw = params[name]
        else:
            where = f"{case_json_path}" if case_json_path and case_json_path.is_file() else f"case '{entry.case_id}' (no {CASE_JSON_NAME})"
            raise CaseConfigError(
                f"{where}: condition '{name}' not found; case.json params has "
                f"{sorted(params) or 'nothing'}, condition_values has {sorted(table) or 'nothing'}"
            )
        try:
            value = float(raw)
        except (TypeError, ValueError) as error:
            raise CaseConfigError(f"case '{entry.case_id}': condition '{name}' = {raw!r} is not a number") from error
        if not np.isfinite(value):
            raise CaseConfigError(f"case '{entry.case_id}': condition '{name}' is {value}")
        values[name] = value
    return values
