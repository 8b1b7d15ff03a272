# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""One-time conversion of a folder of CFD cases into compact per-case arrays.

:func:`build_cache` reads every case once (in a process pool), computes its geometry
features with Warp, and writes ``<cache_dir>/cases/<case>.npz`` plus
``<cache_dir>/index.json``: settings, channel layout, per-case point counts and
per-case moments, skipped cases with reasons, and normalisation statistics of the
training split. All writes are atomic.

Re-running with the same settings and unchanged input files (size and modification
time) reuses every cached case; a case whose files changed is rebuilt; different
settings (a different settings hash) rebuild all. Statistics are always re-merged from
the stored per-case moments, so changing the split costs no re-read. A rerun that
changes nothing writes nothing, so an up-to-date cache in a read-only folder serves as
it is; a cache folder that cannot be written is named, before any case is read, with
``data.cache_dir`` to move it (:class:`CacheFolderError`).

Entries cannot lie. The index records each entry's byte size and SHA-256
(``size``, ``sha256``). :func:`build_cache`, which ``lrsa-train`` runs at every launch,
checks both for every entry it would reuse and rebuilds a missing, truncated or altered
one from its case's files, with one warning naming the file and why.
:meth:`MeshCache.load_case` checks the size (one ``stat``, about 3 us) and reads the
archive so that the CRC-32 of every array and the layout the index promises (names,
shapes, dtypes) are checked on every read; a damaged entry is one ``MeshDataError``
naming it. The SHA-256 is checked once per build, not per read: on a 10 MB entry
(216,000 cells, this CPU) it costs 7 ms against 6.5 ms for the read itself (BLAKE2b took
17 ms), which would double the cost of every training sample, while the CRC-32s already
catch damage done after the build. Indexes of format 2 written before the checksums
were recorded have none; their entries are verified by such a full read at the next
build, adopted if intact (their size and checksum are then recorded) and rebuilt if
not. The format version stays 2 because the arrays did not change, and the version is
part of the settings hash: bumping it would rebuild every existing cache for nothing.

Per-case arrays (float32 unless noted; D = 2 or 3; absent parts have 0 rows):

============================  =============  ===============================================
``volume_positions``          (Nv, D)        cell centres or mesh points
``volume_targets``            (Nv, Cv)       ``config.volume_fields``, physical units (always)
``volume_weights``            (Nv,)          cell volumes (lumped for point data)
``volume_distance``           (Nv,)          distance to the wall, >= 0 (0 if no geometry)
``volume_direction``          (Nv, D)        unit direction away from the nearest wall point
``surface_positions``         (Ns, D)        wall face centres or wall points
``surface_targets``           (Ns, Cs)       ``config.surface_fields``
``surface_weights``           (Ns,)          face areas (lengths x thickness in 2D)
``surface_normals``           (Ns, D)        unit normals out of the body
``conditions``                (G,) float64   ``config.conditions``
============================  =============  ===============================================
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import lzma
import multiprocessing
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modulus_lrsa.atomic import atomic_save_npz, atomic_write_json, temporary_sibling
from modulus_lrsa.datapipes.cases import (
    CaseEntry,
    CaseSource,
    FileRef,
    MeshCacheConfig,
    check_export_has_results,
    free_stream_scales,
    list_cases,
    resolve_case,
)
from modulus_lrsa.datapipes.normalization import Normalizer, RunningMoments
from modulus_lrsa.errors import CaseConfigError, MeshDataError, SurfaceAsVolumeError
from modulus_lrsa.geometry.sdf import wall_distance
from modulus_lrsa.geometry.surface import (
    PLANAR_TOLERANCE,
    detect_planar_axis,
    in_plane_axes,
    lumped_vertex_normals,
    project,
    surface_cell_normals,
    surface_from_vtk,
)
from modulus_lrsa.io.fields import FieldSelector, place_channels, target_layout
from modulus_lrsa.io.readers import available_fields, cell_dimension, extract_point_set, point_coordinates, read_vtk

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 2
#: Why a cache of an older format is rebuilt, by the format it has.
_FORMAT_CHANGES = {
    1: "format 1 signed the wall distance of mesh cells by winding number, negative across much of "
       "an internal flow's fluid; format 2 stores the unsigned distance",
}
INDEX_NAME = "index.json"
CASES_FOLDER = "cases"
AXIS_NAMES = ("x", "y", "z")
ON_ERROR_CHOICES = ("raise", "skip")


def settings_hash(config: MeshCacheConfig) -> str:
    """SHA-256 of the cache format version and every setting that changes cached content."""
    payload = {"format_version": CACHE_FORMAT_VERSION, "config": config.to_dict()}
    # Splitting and manifest filtering do not change a case's arrays.
    for key in ("test_fraction", "split_seed", "accepted_statuses", "case_pattern"):
        payload["config"].pop(key)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def case_fingerprint(source: CaseSource, settings: str) -> str:
    """Hash of the settings, the case's input files (path, size, mtime) and its conditions."""
    digest = hashlib.sha256(settings.encode())
    for path in source.input_files():
        stat = path.stat() if path.exists() else None
        digest.update(f"{path}|{stat.st_size if stat else -1}|{stat.st_mtime_ns if stat else -1}".encode())
    digest.update(json.dumps(source.conditions, sort_keys=True).encode())
    for ref in (source.volume, source.surface, source.geometry):
        digest.update(f"{ref.block if ref else None}".encode())
    return digest.hexdigest()


def case_file_name(case_id: str) -> str:
    """A file-system-safe, collision-free file name for a case id."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "__", case_id).strip("_") or "case"
    return f"{safe[:80]}-{hashlib.sha1(case_id.encode()).hexdigest()[:8]}.npz"


class CacheFolderError(MeshDataError):
    """The cache folder cannot be written (read-only data folder, no space, not a folder).

    Never a case's fault: :func:`build_cache` raises it whatever ``on_error`` says.
    """


def _cannot_write(cache_dir: Path, error: OSError) -> CacheFolderError:
    where = f": {error.filename}" if error.filename and Path(error.filename) != cache_dir else ""
    return CacheFolderError(
        f"{cache_dir}: cannot write the preprocessing cache ({error.strerror or error}{where}); "
        "set data.cache_dir=<writable folder> (build_cache's cache_dir argument)"
    )


def _check_writable(cache_dir: Path) -> None:
    """Create the cache folders and a file in each, before any case is read."""
    try:
        for target in (cache_dir / INDEX_NAME, cache_dir / CASES_FOLDER / "write-check.npz"):
            temporary_sibling(target).unlink()
    except OSError as error:
        raise _cannot_write(cache_dir, error) from None


def _file_digest(path: Path) -> dict[str, Any]:
    """``{"size", "sha256"}`` of a file, read in 1 MiB chunks: what the index records per entry."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


class _Damaged(Exception):
    """Why a cache entry cannot be used (internal: callers turn it into a message or a rebuild)."""


#: What parsing a damaged archive raises, found by fuzzing (RuntimeError: a flipped "encrypted" flag).
_ARCHIVE_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, NotImplementedError, RuntimeError,
                   OverflowError, struct.error, zlib.error, lzma.LZMAError)


def _entry_layout(case: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array of a case's entry, from its index entry (see the module docstring)."""
    volume, surface, dim = case["num_volume_points"], case["num_surface_points"], case["dimension"]
    f32 = np.dtype("<f4")
    return {
        "volume_positions": ((volume, dim), f32),
        "volume_targets": ((volume, len(case["volume_channels"])), f32),
        "volume_weights": ((volume,), f32),
        "volume_distance": ((volume,), f32),
        "volume_direction": ((volume, dim), f32),
        "surface_positions": ((surface, dim), f32),
        "surface_targets": ((surface, len(case["surface_channels"])), f32),
        "surface_weights": ((surface,), f32),
        "surface_normals": ((surface, dim), f32),
        "conditions": ((len(case["conditions"]),), np.dtype("<f8")),
    }


def _read_into(stream: Any, array: np.ndarray) -> int:
    """Fill ``array``'s bytes from ``stream``; the count read. In 256 KiB pieces: as fast as
    ``np.load``, where one ``readinto`` of a zip member copies the whole array twice."""
    view = memoryview(array).cast("B") if array.nbytes else memoryview(bytearray())
    filled = 0
    while filled < len(view):
        chunk = stream.read(min(1 << 18, len(view) - filled))
        if not chunk:
            break
        view[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
    return filled


def _read_entry(path: Path, case: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of a cache entry, every byte checked but the SHA-256 (see the module docstring).

    Each array's header is checked against the index before anything is allocated, and
    each array is read to its end, where zipfile checks its CRC-32.

    Raises
    ------
    _Damaged
        Missing, of another size than recorded, not a readable archive, or another layout.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise _Damaged("missing") from None
    except OSError as error:
        raise _Damaged(f"cannot be read: {error.strerror}") from None
    if "size" in case and size != case["size"]:
        raise _Damaged(f"size {size} != recorded {case['size']}")
    layout = _entry_layout(case)
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(archive.namelist())
            if names != sorted(f"{key}.npy" for key in layout):
                raise _Damaged(f"holds {names[:12]}, not the {len(layout)} arrays of a cache entry")
            for key, (shape, dtype) in layout.items():
                with archive.open(f"{key}.npy") as member:
                    version = np.lib.format.read_magic(member)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    found_shape, fortran_order, found_dtype = read_header(member)
                    if (found_shape, found_dtype) != (shape, dtype):
                        raise _Damaged(f"array '{key}' is {found_dtype} {found_shape}, the index says {dtype} {shape}")
                    # A Fortran-ordered array is stored as the C-ordered buffer of its transpose.
                    buffer = np.empty(shape[::-1] if fortran_order else shape, dtype)
                    # Reading past the data (nothing must be left) reaches the member's end and its CRC-32 check.
                    if _read_into(member, buffer) != buffer.nbytes or member.read(1):
                        raise _Damaged(f"array '{key}' does not hold the {buffer.nbytes} bytes of {dtype} {shape}")
                    arrays[key] = buffer.T if fortran_order else buffer
    except _ARCHIVE_ERRORS as error:
        raise _Damaged(f"unreadable archive: {' '.join(str(error).split())[:200]}") from None
    return arrays


def _reuse_problem(path: Path, case: dict[str, Any]) -> str | None:
    """Why an index entry's file cannot be reused as it is, or None: size and SHA-256 as recorded,
    or, for an entry recorded before checksums were, a full read (:func:`_read_entry`)."""
    if "sha256" not in case:
        try:
            _read_entry(path, case)
        except _Damaged as damage:
            return str(damage)
        return None
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    if size != case["size"]:
        return f"size {size} != recorded {case['size']}"
    try:
        found = _file_digest(path)
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    if found["sha256"] != case["sha256"]:
        return f"SHA-256 {found['sha256'][:12]}... != recorded {case['sha256'][:12]}..."
    return None


def _describe(ref: FileRef) -> str:
    return f"{ref.path}" + (f" (block '{ref.block}')" if ref.block else "")


def _warn_if_initial_export(path: Path, export_time: float | None) -> None:
    """Warn when a file given by itself is an OpenFOAM case's initial conditions and it has results.

    A case folder with such an export is refused (:func:`check_export_has_results`); a file
    named by itself (``lrsa-predict VTK/case_0.vtm``) may be an early time on purpose, but
    a serial foamToVTK of an unreconstructed parallel run exports nothing else.
    """
    # The case folder holds VTK/<case>_<t>.vtm (VTK/<case>_<t>/internal.vtu for a block file).
    case = next((folder for folder in list(path.parents)[:3] if (folder / "system" / "controlDict").is_file()), None)
    if case is None:
        return
    try:
        check_export_has_results(case, path, export_time)
    except CaseConfigError as error:
        logger.warning("%s (used, as it was given by name)", error)


def _export_time(dataset: Any) -> float | None:
    """The time foamToVTK stamps on every file it writes (field data ``TimeValue``), if any."""
    array = dataset.GetFieldData().GetArray("TimeValue")
    return float(array.GetTuple1(0)) if array is not None and array.GetNumberOfTuples() else None


def _planar_axis(points: np.ndarray, dimension: str | int, source: str) -> int | None:
    if dimension == 3:
        return None
    # With 2D known, a lone wall patch may be a slab thicker than the body it wraps.
    axis = detect_planar_axis(points, require_thin=dimension != 2)
    if dimension == 2 and axis is None:
        raise MeshDataError(
            f"{source}: dimension=2 was requested but the mesh is not one cell thick "
            "(its points do not all lie on two planes normal to one axis)"
        )
    return axis


def _volume_cell_dimension(points: np.ndarray, planar_axis: int | None) -> int:
    """Dimension of a volume's cells: 2 for a flat 2D mesh, else 3.

    A one-cell-thick mesh is 2D, yet its cells span the thickness; its wall faces do too,
    so only the cells' own dimension tells the mesh from its wall patch.
    """
    if planar_axis is None:
        return 3
    extent = np.ptp(points, axis=0)
    return 2 if extent[planar_axis] <= PLANAR_TOLERANCE * extent.max() else 3


def _front_plane(positions: np.ndarray, axis: int) -> np.ndarray:
    """Point data of a one-cell-thick mesh: mask of the front plane's points (the 2D nodes).

    Every 2D node appears twice, on the front and back planes, so keeping the front
    copies and doubling their lumped weights keeps the quadrature total unchanged.
    """
    lower = positions[:, axis].min()
    extent = np.ptp(positions[:, axis])
    return np.abs(positions[:, axis] - lower) <= 0.5 * extent


def _check_body_fits(body: Any, volume_positions: np.ndarray, body_where: str, volume_where: str) -> None:
    """Refuse a body that cannot be the wall of this volume: in other units, or somewhere else.

    An STL in millimetres beside a mesh in metres (or the other way round) would give
    every cell a distance to a wall that is not there. A body is at most a few times the
    size of the fluid around it (an internal flow's walls enclose it) and at least 1e-4 of
    it: an external flow's far field lies tens to a thousand body lengths away (2D airfoil
    grids reach 500 chords), while a millimetre body in a metre domain of tens of body
    lengths comes out near 1e-5. It must also lie where the fluid is.
    """
    body_low, body_high = body.bounds()
    low, high = volume_positions.min(axis=0), volume_positions.max(axis=0)
    body_extent, extent = float(np.max(body_high - body_low)), float(np.max(high - low))
    ratio = body_extent / extent if extent > 0 else 1.0
    if not 1e-4 <= ratio <= 10.0:
        raise MeshDataError(
            f"{body_where}: the body (extent {body_extent:.3g}) is {ratio:.3g} times the size of the volume "
            f"{volume_where} (extent {extent:.3g}); are they in different units (mm and m)? Scale one to the "
            "other: the body gives the wall distances"
        )
    margin = 0.05 * extent
    if (body_low > high + margin).any() or (body_high < low - margin).any():
        raise MeshDataError(
            f"{body_where}: the body's bounding box {np.round(body_low, 6).tolist()} .. {np.round(body_high, 6).tolist()} "
            f"does not overlap the volume's {np.round(low, 6).tolist()} .. {np.round(high, 6).tolist()} "
            f"({volume_where}); are they in different coordinate frames or units?"
        )


def in_plane_selectors(
    selectors: Sequence[str], dataset: Any, location: str, planar_axis: int | None
) -> list[str]:
    """Selectors with 3-vector fields of a 2D case reduced to their in-plane components.

    A one-cell-thick mesh is treated as 2D: coordinates and directions drop the empty
    axis, so a whole vector field (``"U"``) drops its out-of-plane component too, which
    is zero everywhere and carries nothing to learn. Explicit components (``"U[0,1,2]"``)
    are kept as given.
    """
    if planar_axis is None:
        return list(selectors)
    components = available_fields(dataset)[location]
    reduced = []
    for text in selectors:
        selector = FieldSelector.parse(text)
        if selector.components is None and components.get(selector.name) == 3:
            selector = FieldSelector(selector.name, tuple(in_plane_axes(planar_axis)))
        reduced.append(str(selector))
    return reduced


def _selected_fields(
    dataset: Any,
    selectors: Sequence[str],
    location: str,
    where: str,
    expected_channels: Sequence[str] | None,
) -> tuple[Any, list[str]]:
    """The selected fields, or, for prediction (``expected_channels`` given), the ones the
    file has, laid out as ``expected_channels`` with NaN columns for fields it lacks."""
    if expected_channels is None:
        return extract_point_set(dataset, selectors, location, where), []
    present = available_fields(dataset)[location]
    have = [text for text in selectors if FieldSelector.parse(text).name in present]
    point_set = extract_point_set(dataset, have, location, where)
    values = place_channels(point_set.values, point_set.channel_names, expected_channels, dtype=np.float32)
    missing = [name for name in expected_channels if name not in point_set.channel_names]
    return dataclasses.replace(point_set, values=values, channel_names=list(expected_channels)), missing


def extract_case(
    source: CaseSource,
    config: MeshCacheConfig,
    device: str = "cpu",
    expected_channels: tuple[Sequence[str], Sequence[str]] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read one case and compute its geometry features: the one feature path of training and prediction.

    Parameters
    ----------
    source : CaseSource
        The resolved case.
    config : MeshCacheConfig
        What to extract.
    device : str
        Warp/torch device of the distance queries.
    expected_channels : (volume channels, surface channels), optional
        Prediction mode: target fields the files lack are allowed and come back as NaN
        columns in this layout (a new design has no CFD results). None (the cache):
        every target field must be present.

    Returns
    -------
    arrays : dict
        The per-case arrays of the module docstring.
    summary : dict
        Point counts, channel names, dimension, planar axis, ``has_geometry`` and, in
        prediction mode, ``missing_channels``.

    Raises
    ------
    MeshDataError
        Anything wrong with the case's files or fields (message names the file).
    """
    datasets: dict[FileRef, Any] = {}

    files_read: dict[Path, Any] = {}

    def load(ref: FileRef):
        if ref not in datasets:
            datasets[ref] = read_vtk(ref.path, ref.block, files_read=files_read)
        return datasets[ref]

    axis_source = source.volume or source.surface
    axis_dataset = load(axis_source)
    if source.location.is_dir():
        check_export_has_results(source.location, axis_source.path, _export_time(axis_dataset))
    else:
        _warn_if_initial_export(source.location, _export_time(axis_dataset))
    planar_axis = _planar_axis(point_coordinates(axis_dataset), config.dimension, _describe(axis_source))
    dim = 2 if planar_axis is not None else 3
    expected_volume, expected_surface = expected_channels if expected_channels is not None else (None, None)

    body = None
    if source.geometry is not None:
        body = surface_from_vtk(load(source.geometry), planar_axis, _describe(source.geometry))

    arrays: dict[str, np.ndarray] = {}
    volume_channels: list[str] = []
    missing: list[str] = []
    if source.volume is not None:
        where = _describe(source.volume)
        dataset = load(source.volume)
        cells, needed = cell_dimension(dataset), _volume_cell_dimension(point_coordinates(dataset), planar_axis)
        if cells < needed:
            shape = "one-cell-thick 2D" if needed > dim else f"{dim}D"
            raise SurfaceAsVolumeError(
                f"{where}: the volume is made of {cells}D cells, a surface in this {shape} case; "
                f"a volume needs {needed}D cells: is this the wall file? (MeshCacheConfig.volume_file, case_pattern)",
                source.volume.path, cells, needed,
            )
        selectors = in_plane_selectors(config.volume_fields, dataset, config.volume_location, planar_axis)
        point_set, absent = _selected_fields(dataset, selectors, config.volume_location, where, expected_volume)
        missing += absent
        positions, values, weights = point_set.positions, point_set.values, point_set.weights
        if planar_axis is not None and config.volume_location == "point":
            front = _front_plane(positions, planar_axis)
            positions, values, weights = positions[front], values[front], 2.0 * weights[front]
        volume_positions = project(positions, planar_axis)
        if body is not None:
            _check_body_fits(body, volume_positions, _describe(source.geometry), where)
            # Mesh cells are fluid by construction: unsigned, for internal and external flows alike.
            features = wall_distance(body, volume_positions, device=device)
            distance = features.distance.cpu().numpy()
            direction = features.direction.cpu().numpy()
        else:
            distance = np.zeros(len(volume_positions), dtype=np.float32)
            direction = np.zeros((len(volume_positions), dim), dtype=np.float32)
        volume_channels = point_set.channel_names
        arrays.update(
            volume_positions=volume_positions.astype(np.float32),
            volume_targets=values,
            volume_weights=weights.astype(np.float32),
            volume_distance=distance.astype(np.float32),
            volume_direction=direction.astype(np.float32),
        )
    else:
        arrays.update(
            volume_positions=np.zeros((0, dim), np.float32),
            volume_targets=np.zeros((0, 0), np.float32),
            volume_weights=np.zeros(0, np.float32),
            volume_distance=np.zeros(0, np.float32),
            volume_direction=np.zeros((0, dim), np.float32),
        )

    surface_channels: list[str] = []
    if source.surface is not None and config.surface_fields:
        where = _describe(source.surface)
        surface_dataset = load(source.surface)
        selectors = in_plane_selectors(config.surface_fields, surface_dataset, config.surface_location, planar_axis)
        point_set, absent = _selected_fields(surface_dataset, selectors, config.surface_location, where, expected_surface)
        missing += [name for name in absent if name not in missing]
        # Normals follow the orientation decided for this surface's own faces.
        own_body = body if source.geometry == source.surface else surface_from_vtk(surface_dataset, planar_axis, where)
        if config.surface_location == "cell":
            normals = surface_cell_normals(surface_dataset, own_body, where)
        else:
            normals = lumped_vertex_normals(surface_dataset, own_body, where)
        positions, values, weights = point_set.positions, point_set.values, point_set.weights
        if planar_axis is not None and config.surface_location == "point":
            front = _front_plane(positions, planar_axis)
            positions, values, weights, normals = positions[front], values[front], 2.0 * weights[front], normals[front]
        surface_channels = point_set.channel_names
        arrays.update(
            surface_positions=project(positions, planar_axis).astype(np.float32),
            surface_targets=values,
            surface_weights=weights.astype(np.float32),
            surface_normals=normals.astype(np.float32),
        )
    else:
        arrays.update(
            surface_positions=np.zeros((0, dim), np.float32),
            surface_targets=np.zeros((0, 0), np.float32),
            surface_weights=np.zeros(0, np.float32),
            surface_normals=np.zeros((0, dim), np.float32),
        )
    arrays["conditions"] = np.array([source.conditions[name] for name in config.conditions], dtype=np.float64)
    summary = {
        "case_id": source.case_id,
        "planar_axis": planar_axis,
        "dimension": dim,
        "has_geometry": body is not None,
        "num_volume_points": int(arrays["volume_positions"].shape[0]),
        "num_surface_points": int(arrays["surface_positions"].shape[0]),
        "volume_channels": volume_channels,
        "surface_channels": surface_channels,
        "conditions": arrays["conditions"].tolist(),
    }
    if arrays["volume_positions"].shape[0]:
        summary["volume_bounds"] = [
            arrays["volume_positions"].min(axis=0).tolist(), arrays["volume_positions"].max(axis=0).tolist()
        ]
    if expected_channels is not None:
        summary["missing_channels"] = missing
    return arrays, summary


def process_case(source: CaseSource, config: MeshCacheConfig, output_file: Path, device: str = "cpu") -> dict[str, Any]:
    """Extract one case (:func:`extract_case`) and write its ``.npz`` atomically.

    Returns
    -------
    dict
        The summary of :func:`extract_case` plus the per-case moments and the file's
        ``size`` and ``sha256``.

    Raises
    ------
    CacheFolderError
        The file cannot be written (no space, read-only folder).
    """
    arrays, summary = extract_case(source, config, device)
    moments = _case_moments(arrays, summary["volume_channels"], summary["surface_channels"], summary["dimension"],
                            config)
    try:
        atomic_save_npz(output_file, arrays)
        digest = _file_digest(output_file)
    except OSError as error:
        raise _cannot_write(output_file.parent, error) from None
    return {**summary, "moments": {key: value.to_dict() for key, value in moments.items()}, **digest}


def _case_moments(
    arrays: dict[str, np.ndarray], volume_channels: list[str], surface_channels: list[str], dim: int,
    config: MeshCacheConfig,
) -> dict[str, RunningMoments]:
    names = target_layout(volume_channels, surface_channels)
    # Statistics of what the model learns: targets divided by their free-stream scales.
    scales = free_stream_scales(config.free_stream, names, config.conditions, arrays["conditions"])
    target = RunningMoments(len(names))
    for prefix, channels in (("volume", volume_channels), ("surface", surface_channels)):
        values = arrays[f"{prefix}_targets"]
        if values.shape[0] == 0 or not channels:
            continue
        placed = np.zeros((values.shape[0], len(names)))
        valid = np.zeros((values.shape[0], len(names)), dtype=bool)
        columns = [names.index(name) for name in channels]
        placed[:, columns] = values / scales[columns]
        valid[:, columns] = True
        target.update(placed, valid)
    coordinates = RunningMoments(dim)
    for prefix in ("volume", "surface"):
        if arrays[f"{prefix}_positions"].shape[0]:
            coordinates.update(arrays[f"{prefix}_positions"])
    distance = RunningMoments(1)
    if arrays["volume_distance"].shape[0]:
        distance.update(arrays["volume_distance"][:, None])
    return {"target": target, "coordinates": coordinates, "distance": distance}


def _init_worker() -> None:
    # One torch thread per worker process: the pool already uses every core.
    import torch

    torch.set_num_threads(1)


def build_cache(
    root: str | os.PathLike,
    cache_dir: str | os.PathLike,
    config: MeshCacheConfig,
    num_workers: int = 0,
    on_error: str = "raise",
    stats_split: str = "train",
    device: str = "cpu",
) -> MeshCache:
    """Convert (or refresh) the cache of every case under ``root``.

    Parameters
    ----------
    root : str or PathLike
        Data folder (with manifest.json, or matching ``config.case_pattern``).
    cache_dir : str or PathLike
        Output folder; created if needed.
    config : MeshCacheConfig
        What to extract.
    num_workers : int
        Process-pool size; 0 processes the cases in this process.
    on_error : {"raise", "skip"}
        On a bad case (:class:`~modulus_lrsa.errors.MeshDataError`): stop, or
        log it, record it under ``skipped`` in the index and go on. Other exceptions
        (bugs) always propagate.
    stats_split : str
        Split whose cases define the normalisation statistics.
    device : str
        Device of the Warp distance queries (``"cuda"`` only with ``num_workers=0``).

    Returns
    -------
    MeshCache
        The opened cache.
    """
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    root, cache_dir = Path(root).resolve(), Path(cache_dir)
    settings = settings_hash(config)
    stored, previous = _load_previous_index(cache_dir, settings)
    entries = list_cases(root, config)

    skipped: list[dict[str, str]] = []
    kept_summaries: dict[str, dict[str, Any]] = {}
    pending: list[tuple[CaseEntry, CaseSource, str]] = []

    def reject(case_id: str, error: MeshDataError) -> None:
        if on_error == "raise":
            error.add_note(f"while preprocessing case '{case_id}' (use on_error='skip' to skip bad cases)")
            raise error
        logger.warning("skipping case '%s': %s", case_id, error)
        skipped.append({"case_id": case_id, "reason": str(error)})

    for entry in entries:
        try:
            source = resolve_case(entry, config)
        except MeshDataError as error:
            reject(entry.case_id, error)
            continue
        fingerprint = case_fingerprint(source, settings)
        old = previous.get(entry.case_id)
        if old is not None and old["fingerprint"] == fingerprint:
            path = cache_dir / CASES_FOLDER / old["file"]
            problem = _reuse_problem(path, old)
            if problem is None:
                # An entry recorded before checksums were, verified by reading it, gets them now.
                kept_summaries[entry.case_id] = {**old, "split": entry.split, **({} if "sha256" in old else _file_digest(path))}
                continue
            logger.warning("%s: the cache entry of case '%s' is damaged (%s); rebuilding it from %s",
                           path, entry.case_id, problem, entry.location)
        pending.append((entry, source, fingerprint))

    logger.info(
        "cache %s: %d case(s) reused, %d to build, %d rejected before reading",
        cache_dir, len(kept_summaries), len(pending), len(skipped),
    )
    if pending:
        _check_writable(cache_dir)
    results = _run_cases(pending, config, cache_dir, num_workers, device)
    try:
        for entry, summary, error in results:
            if isinstance(error, CacheFolderError):
                raise error
            if error is not None:
                reject(entry.case_id, error)
            else:
                kept_summaries[entry.case_id] = summary
    finally:
        # Stops the worker pool right away when reject() raised.
        results.close()

    ordered = [kept_summaries[entry.case_id] for entry in entries if entry.case_id in kept_summaries]
    locations = {entry.case_id: entry.location for entry in entries}
    disagreeing = set()
    for summary, disagreement in _disagreements(ordered):
        reject(summary["case_id"], MeshDataError(f"{locations[summary['case_id']]}: {disagreement}"))
        disagreeing.add(summary["case_id"])
    ordered = [summary for summary in ordered if summary["case_id"] not in disagreeing]
    index = _assemble_index(ordered, skipped, config, settings, stats_split)
    _write_index(cache_dir, index, stored, {summary["file"] for summary in ordered})
    logger.info("cache %s: %d case(s) ready, %d skipped", cache_dir, len(ordered), len(skipped))
    return MeshCache(cache_dir, index)


def _without_checksums(index: dict[str, Any]) -> dict[str, Any]:
    return {**index, "cases": [{key: value for key, value in case.items() if key not in ("size", "sha256")}
                               for case in index.get("cases", [])]}


def _write_index(cache_dir: Path, index: dict[str, Any], stored: dict[str, Any] | None, keep: set[str]) -> None:
    """Remove the entries no case uses and write the index, unless nothing changed.

    Writing nothing then keeps an up-to-date cache usable in a read-only folder; one whose
    only change is the checksums of entries adopted from an older index is used unrecorded.
    """
    folder = cache_dir / CASES_FOLDER
    stale = [path for path in folder.glob("*.npz") if path.name not in keep] if folder.is_dir() else []
    if not stale and json.loads(json.dumps(index)) == stored:
        return
    try:
        for path in stale:
            path.unlink()
        atomic_write_json(cache_dir / INDEX_NAME, index)
    except OSError as error:
        if stale or stored is None or _without_checksums(json.loads(json.dumps(index))) != _without_checksums(stored):
            raise _cannot_write(cache_dir, error) from None
        logger.warning("%s: cannot record the entries' checksums (%s); they were verified by reading them, "
                       "as they will be at every build until they can be recorded", cache_dir, error.strerror)


def _run_cases(
    pending: list[tuple[CaseEntry, CaseSource, str]],
    config: MeshCacheConfig,
    cache_dir: Path,
    num_workers: int,
    device: str,
) -> Iterable[tuple[CaseEntry, dict[str, Any] | None, MeshDataError | None]]:
    def finish(entry: CaseEntry, fingerprint: str, summary: dict[str, Any]) -> dict[str, Any]:
        return {**summary, "split": entry.split, "file": case_file_name(entry.case_id), "fingerprint": fingerprint}

    if num_workers == 0 or len(pending) <= 1:
        for entry, source, fingerprint in pending:
            try:
                summary = process_case(source, config, cache_dir / CASES_FOLDER / case_file_name(entry.case_id), device)
            except MeshDataError as error:
                yield entry, None, error
                continue
            yield entry, finish(entry, fingerprint, summary), None
        return

    # Spawned workers: forking a process that already initialised CUDA or Warp is unsafe.
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=min(num_workers, len(pending)), mp_context=context, initializer=_init_worker
    )
    try:
        futures = {
            pool.submit(process_case, source, config, cache_dir / CASES_FOLDER / case_file_name(entry.case_id), device): (
                entry,
                fingerprint,
            )
            for entry, source, fingerprint in pending
        }
        for future in concurrent.futures.as_completed(futures):
            entry, fingerprint = futures[future]
            try:
                summary = future.result()
            except MeshDataError as error:
                yield entry, None, error
                continue
            except BrokenProcessPool as error:
                raise RuntimeError(
                    "build_cache(num_workers > 0): the worker processes died. They are spawned and "
                    "re-import the calling script, so a script must call build_cache under "
                    "`if __name__ == \"__main__\":` (or use num_workers=0)"
                ) from error
            yield entry, finish(entry, fingerprint, summary), None
    finally:
        # On a raised error, do not start the cases still queued.
        pool.shutdown(wait=True, cancel_futures=True)


def _load_previous_index(cache_dir: Path, settings: str) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The stored index (None if there is none or it cannot be parsed) and its reusable entries by case id."""
    index_path = cache_dir / INDEX_NAME
    if not index_path.is_file():
        return None, {}
    try:
        index = json.loads(index_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        logger.warning("cache index %s is unreadable; rebuilding every case", index_path)
        return None, {}
    if not isinstance(index, dict):
        logger.warning("cache index %s is not a JSON object; rebuilding every case", index_path)
        return None, {}
    if index.get("format_version") != CACHE_FORMAT_VERSION:
        logger.warning("cache %s: %s; rebuilding every case", cache_dir, _format_change(index))
        return index, {}
    if index.get("settings_hash") != settings:
        logger.info("cache %s was built with other settings; rebuilding every case", cache_dir)
        return index, {}
    return index, {case["case_id"]: case for case in index.get("cases", [])}


def _format_change(index: dict[str, Any]) -> str:
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


def _disagreements(summaries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
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
    """Bounding box and typical point count of the training volumes: where, and how densely,
    ``lrsa-predict`` samples query points around a new geometry. None without volume data."""
    bounds = [case["volume_bounds"] for case in cases if "volume_bounds" in case]
    if not bounds or len(bounds) != len(cases):
        return None
    return {
        "min": np.min([low for low, _ in bounds], axis=0).tolist(),
        "max": np.max([high for _, high in bounds], axis=0).tolist(),
        "median_volume_points": int(np.median([case["num_volume_points"] for case in cases])),
    }


def _assemble_index(
    summaries: list[dict[str, Any]],
    skipped: list[dict[str, str]],
    config: MeshCacheConfig,
    settings: str,
    stats_split: str,
) -> dict[str, Any]:
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
        raise MeshDataError(f"no case in split '{stats_split}' to compute normalisation statistics (splits: {splits})")
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
    return {
        "format_version": CACHE_FORMAT_VERSION,
        "settings_hash": settings,
        "training_domain": _training_domain(stats_cases),
        "settings": config.to_dict(),
        "dimension": dimension,
        "planar_axis": planar_axis,
        "coordinate_names": coordinate_names,
        "volume_channels": volume_channels,
        "surface_channels": surface_channels,
        "target_channels": targets,
        "condition_names": list(config.conditions),
        "has_geometry": has_geometry,
        "stats_split": stats_split,
        "cases": summaries,
        "skipped": skipped,
        "normalization": normalization,
    }


@dataclass
class MeshCache:
    """An opened preprocessing cache: index, normalisers and per-case arrays.

    Attributes
    ----------
    cache_dir : Path
    index : dict
        Contents of ``index.json``.
    """

    cache_dir: Path
    index: dict[str, Any]

    @classmethod
    def open(cls, cache_dir: str | os.PathLike) -> MeshCache:
        """Open a cache written by :func:`build_cache`."""
        cache_dir = Path(cache_dir)
        index_path = cache_dir / INDEX_NAME
        if not index_path.is_file():
            raise FileNotFoundError(f"{index_path}: no cache index; run build_cache first")
        index = json.loads(index_path.read_text())
        if index.get("format_version") != CACHE_FORMAT_VERSION:
            raise MeshDataError(
                f"{index_path}: {_format_change(index)}; rebuild it with build_cache (lrsa-train does so by itself)"
            )
        return cls(cache_dir, index)

    @property
    def dimension(self) -> int:
        return int(self.index["dimension"])

    @property
    def coordinate_names(self) -> list[str]:
        return list(self.index["coordinate_names"])

    @property
    def target_channels(self) -> list[str]:
        return list(self.index["target_channels"])

    @property
    def volume_channels(self) -> list[str]:
        return list(self.index["volume_channels"])

    @property
    def surface_channels(self) -> list[str]:
        return list(self.index["surface_channels"])

    @property
    def condition_names(self) -> list[str]:
        return list(self.index["condition_names"])

    @property
    def skipped(self) -> list[dict[str, str]]:
        """Cases left out, each ``{"case_id", "reason"}``."""
        return list(self.index["skipped"])

    def normalizer(self, kind: str) -> Normalizer:
        """Normaliser of ``"target"``, ``"conditions"``, ``"coordinates"`` or ``"distance"``."""
        return Normalizer.from_dict(self.index["normalization"][kind])

    def cases(self, split: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Index entries of the cases in ``split`` (one name, several, or all when None)."""
        if split is None:
            return list(self.index["cases"])
        wanted = {split} if isinstance(split, str) else set(split)
        return [case for case in self.index["cases"] if case["split"] in wanted]

    def load_case(self, case: str | dict[str, Any]) -> dict[str, np.ndarray]:
        """Arrays of one case (by id or index entry); see the module docstring for keys.

        Raises
        ------
        MeshDataError
            The entry's file is missing or damaged (its size differs from the index, an
            array's CRC-32 fails, or its layout is not the index's): one line naming it.
        """
        if isinstance(case, str):
            matches = [entry for entry in self.index["cases"] if entry["case_id"] == case]
            if not matches:
                raise KeyError(f"case '{case}' is not in the cache {self.cache_dir}")
            case = matches[0]
        path = self.cache_dir / CASES_FOLDER / case["file"]
        try:
            return _read_entry(path, case)
        except _Damaged as damage:
            raise MeshDataError(
                f"{path}: the cache entry of case '{case['case_id']}' is damaged ({damage}); run build_cache again "
                "to rebuild it from the case's files (lrsa-train does so at every launch)"
            ) from None
