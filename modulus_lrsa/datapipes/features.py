# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Per-case feature extraction: the one feature path of training and prediction.

:func:`extract_features` reads one resolved case (its volume, wall and body files),
finds the planar axis of a one-cell-thick 2D mesh, selects the target fields, computes
the geometry features (wall distances with Warp, wall normals) and returns them as
:class:`CaseArrays`. The preprocessing cache (:mod:`~modulus_lrsa.datapipes.cache`)
stores exactly these arrays, one ``.npz`` per case; ``lrsa-predict`` runs the same code
on its input, so a prediction is preprocessed like the training data.

Per-case arrays (float32 unless noted; D = 2 or 3; absent parts have 0 rows):

============================  =============  ===============================================
``volume_positions``          (Nv, D)        cell centers or mesh points
``volume_targets``            (Nv, Cv)       ``config.volume_fields``, physical units (always)
``volume_weights``            (Nv,)          cell volumes (lumped for point data)
``volume_distance``           (Nv,)          distance to the wall, >= 0 (0 if no geometry)
``volume_direction``          (Nv, D)        unit direction away from the nearest wall point
``surface_positions``         (Ns, D)        wall face centers or wall points
``surface_targets``           (Ns, Cs)       ``config.surface_fields``
``surface_weights``           (Ns,)          face areas (lengths x thickness in 2D)
``surface_normals``           (Ns, D)        unit normals into the fluid (out of the body)
``conditions``                (G,) float64   ``config.conditions``
============================  =============  ===============================================
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modulus_lrsa.datapipes.cases import CaseSource, FileRef, MeshCacheConfig, check_export_has_results
from modulus_lrsa.errors import CaseConfigError, MeshDataError, SurfaceAsVolumeError
from modulus_lrsa.geometry.sdf import wall_distance
from modulus_lrsa.geometry.surface import (
    PLANAR_TOLERANCE,
    BodySurface,
    detect_planar_axis,
    in_plane_axes,
    lumped_vertex_normals,
    project,
    surface_cell_normals,
    surface_from_vtk,
)
from modulus_lrsa.io.fields import FieldSelector, place_channels
from modulus_lrsa.io.readers import available_fields, cell_dimension, extract_point_set, point_coordinates, read_vtk

logger = logging.getLogger(__name__)

#: The parts of a case and the arrays of each, by the suffix of their key (``volume_<name>``).
PART_ARRAYS = {
    "volume": ("positions", "targets", "weights", "distance", "direction"),
    "surface": ("positions", "targets", "weights", "normals"),
}
_FLOAT32 = np.dtype("<f4")
_FLOAT64 = np.dtype("<f8")


@dataclasses.dataclass(frozen=True)
class CaseArrays:
    """The arrays of one case, as :func:`extract_features` makes them and the cache stores them.

    The attributes are the arrays of the module docstring, under the same names; the
    cache's ``.npz`` entries hold them by these names (:meth:`to_dict`).
    """

    volume_positions: np.ndarray
    volume_targets: np.ndarray
    volume_weights: np.ndarray
    volume_distance: np.ndarray
    volume_direction: np.ndarray
    surface_positions: np.ndarray
    surface_targets: np.ndarray
    surface_weights: np.ndarray
    surface_normals: np.ndarray
    conditions: np.ndarray

    @classmethod
    def from_parts(
        cls,
        dimension: int,
        conditions: Sequence[float] | np.ndarray,
        volume: Mapping[str, np.ndarray] | None = None,
        surface: Mapping[str, np.ndarray] | None = None,
        volume_channels: int = 0,
        surface_channels: int = 0,
    ) -> CaseArrays:
        """The arrays of a case from the parts it has, in the stored dtypes.

        Parameters
        ----------
        dimension : int
            D, the width of positions, directions and normals.
        conditions : sequence of float
            The case's global conditions.
        volume, surface : mapping, optional
            A part's arrays by :data:`PART_ARRAYS` name (``{"positions": ..., "targets": ...}``);
            a part left out has 0 rows.
        volume_channels, surface_channels : int
            The target width of a part left out.
        """
        arrays: dict[str, np.ndarray] = {}
        for prefix, part, channels in (("volume", volume, volume_channels), ("surface", surface, surface_channels)):
            for name in PART_ARRAYS[prefix]:
                if part is None:
                    shape = {"targets": (0, channels), "weights": (0,), "distance": (0,)}.get(name, (0, dimension))
                    arrays[f"{prefix}_{name}"] = np.zeros(shape, _FLOAT32)
                else:
                    arrays[f"{prefix}_{name}"] = np.asarray(part[name]).astype(_FLOAT32, copy=False)
        return cls(**arrays, conditions=np.array(conditions, dtype=_FLOAT64))

    @classmethod
    def from_dict(cls, arrays: Mapping[str, np.ndarray]) -> CaseArrays:
        """The arrays of a mapping by name (a cache entry as :meth:`to_dict` wrote it).

        Raises
        ------
        ValueError
            An array is missing, or a name is not one of a case's arrays.
        """
        names = [field.name for field in dataclasses.fields(cls)]
        missing, unknown = [name for name in names if name not in arrays], sorted(set(arrays) - set(names))
        if missing or unknown:
            raise ValueError(f"the arrays of a case are {names}; missing {missing}, unknown {unknown}")
        return cls(**{name: arrays[name] for name in names})

    def to_dict(self) -> dict[str, np.ndarray]:
        """The arrays by name, in the order the cache writes them."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def part(self, prefix: str) -> dict[str, np.ndarray]:
        """One part's arrays (``"volume"`` or ``"surface"``) by :data:`PART_ARRAYS` name."""
        return {name: getattr(self, f"{prefix}_{name}") for name in PART_ARRAYS[prefix]}

    @staticmethod
    def layout(
        num_volume: int, num_surface: int, dimension: int, volume_channels: int, surface_channels: int, conditions: int
    ) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Shape and dtype of every array of a case with these counts (see the module docstring)."""
        rows = {"volume": num_volume, "surface": num_surface}
        widths = {"targets": {"volume": volume_channels, "surface": surface_channels}}
        found: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        for prefix, names in PART_ARRAYS.items():
            for name in names:
                if name in ("weights", "distance"):
                    shape: tuple[int, ...] = (rows[prefix],)
                else:
                    shape = (rows[prefix], widths[name][prefix] if name in widths else dimension)
                found[f"{prefix}_{name}"] = (shape, _FLOAT32)
        found["conditions"] = ((conditions,), _FLOAT64)
        return found


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


def _check_body_fits(
    body: Any, volume_positions: np.ndarray, mesh_points: np.ndarray, body_where: str, volume_where: str
) -> None:
    """Refuse a body that cannot be the wall of this volume: in other units, or somewhere else.

    An STL in millimetres beside a mesh in metres (or the other way round) would give
    every cell a distance to a wall that is not there. A body is at most a few times the
    size of the fluid around it (an internal flow's walls enclose it) and at least 1e-4 of
    it: an external flow's far field lies tens to a thousand body lengths away (2D airfoil
    grids reach 500 chords), while a millimetre body in a metre domain of tens of body
    lengths comes out near 1e-5. It must also lie where the fluid is: where the mesh's
    points are, since its cell centres stay half a cell off a lone flat wall (a ground).
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
    low, high = np.minimum(low, mesh_points.min(axis=0)), np.maximum(high, mesh_points.max(axis=0))
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



class _Datasets:
    """The case's files, each read once (a ``.vtm`` holds several of the parts)."""

    def __init__(self) -> None:
        self.datasets: dict[FileRef, Any] = {}
        self.files_read: dict[Path, Any] = {}

    def __call__(self, ref: FileRef) -> Any:
        if ref not in self.datasets:
            self.datasets[ref] = read_vtk(ref.path, ref.block, files_read=self.files_read)
        return self.datasets[ref]


def _check_export(source: CaseSource, dataset: Any, ref: FileRef) -> None:
    """Refuse a case folder's initial-conditions export; warn about a file named by itself."""
    if source.location.is_dir():
        check_export_has_results(source.location, ref.path, _export_time(dataset))
    else:
        _warn_if_initial_export(source.location, _export_time(dataset))


def _check_volume_cells(dataset: Any, ref: FileRef, planar_axis: int | None) -> None:
    """Refuse a volume file made of cells of too low a dimension (a wall patch given as the volume)."""
    dim = 2 if planar_axis is not None else 3
    cells, needed = cell_dimension(dataset), _volume_cell_dimension(point_coordinates(dataset), planar_axis)
    if cells < needed:
        shape = "one-cell-thick 2D" if needed > dim else f"{dim}D"
        raise SurfaceAsVolumeError(
            f"{_describe(ref)}: the volume is made of {cells}D cells, a surface in this {shape} case; "
            f"a volume needs {needed}D cells: is this the wall file? (MeshCacheConfig.volume_file, case_pattern)",
            ref.path, cells, needed,
        )


def _selected_points(
    dataset: Any,
    fields: Sequence[str],
    location: str,
    where: str,
    planar_axis: int | None,
    expected_channels: Sequence[str] | None,
) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """The part one file gives, shared by volume and surface: positions, targets and weights.

    Returns
    -------
    part : dict
        ``positions`` (N, 3) as read, ``targets`` and ``weights``.
    channels : list of str
        The target channel names.
    missing : list of str
        Prediction mode: the expected channels the file lacks.
    """
    selectors = in_plane_selectors(fields, dataset, location, planar_axis)
    point_set, missing = _selected_fields(dataset, selectors, location, where, expected_channels)
    part = {"positions": point_set.positions, "targets": point_set.values, "weights": point_set.weights}
    return part, list(point_set.channel_names), missing


def _in_plane(part: dict[str, np.ndarray], location: str, planar_axis: int | None) -> dict[str, np.ndarray]:
    """A part with its positions projected to the plane of a 2D case, keeping one plane of point data."""
    if planar_axis is not None and location == "point":
        front = _front_plane(part["positions"], planar_axis)
        part = {name: values[front] for name, values in part.items()}
        part["weights"] = 2.0 * part["weights"]
    return {**part, "positions": project(part["positions"], planar_axis)}


def _volume_part(
    dataset: Any,
    source: CaseSource,
    config: MeshCacheConfig,
    planar_axis: int | None,
    body: BodySurface | None,
    device: str,
    expected_channels: Sequence[str] | None,
) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """The volume part (:func:`_selected_points`) with the distance and direction to the wall."""
    where = _describe(source.volume)
    _check_volume_cells(dataset, source.volume, planar_axis)
    part, channels, missing = _selected_points(dataset, config.volume_fields, config.volume_location, where,
                                               planar_axis, expected_channels)
    part = _in_plane(part, config.volume_location, planar_axis)
    positions = part["positions"]
    if body is not None:
        mesh_points = project(point_coordinates(dataset), planar_axis)
        _check_body_fits(body, positions, mesh_points, _describe(source.geometry), where)
        # Mesh cells are fluid by construction: unsigned, for internal and external flows alike.
        features = wall_distance(body, positions, device=device)
        part["distance"], part["direction"] = features.distance.cpu().numpy(), features.direction.cpu().numpy()
    else:
        part["distance"] = np.zeros(len(positions), dtype=np.float32)
        part["direction"] = np.zeros((len(positions), positions.shape[1]), dtype=np.float32)
    return part, channels, missing


#: At most this many fluid points vote on a wall's orientation (evenly strided over the mesh).
_ORIENTATION_VOTERS = 100_000


def orient_to_fluid(surface: BodySurface, fluid: np.ndarray, device: str = "cpu") -> BodySurface:
    """The wall with its faces ordered so that its normals point into the fluid of the mesh.

    :func:`~modulus_lrsa.geometry.surface.surface_from_vtk` orients a surface by its
    enclosed volume, which is right for a closed body in an external flow but points the
    normals out of the fluid where the wall encloses the fluid (a cavity, a duct) or where
    an open wall has the fluid on the far side from its centre (a ground plane with the
    buildings or the car on it, exported as one boundary). Mesh cells are fluid, so each
    point off the wall votes with the side of its nearest face it lies on; every face is
    reversed when the vote is negative. Without fluid points the surface is kept as it is.

    Parameters
    ----------
    surface : BodySurface
        The wall, in the mesh's coordinates (projected in 2D).
    fluid : np.ndarray
        Points in the fluid, shape (N, D): cell centres or mesh points.
    device : str
        Warp/torch device of the nearest-face queries.

    Returns
    -------
    BodySurface
        ``surface`` itself, or its faces reversed with ``orientation_sign`` negated.
    """
    voters = np.ascontiguousarray(fluid[:: max(1, len(fluid) // _ORIENTATION_VOTERS)])
    if len(voters) == 0:
        return surface
    nearest = wall_distance(surface, voters, device=device)
    low, high = surface.bounds()
    # A point on the wall (point data) gets the face normal as its direction: no vote.
    off_wall = nearest.distance.cpu().numpy() > 1e-6 * float(np.linalg.norm(high - low))
    direction = nearest.direction.cpu().numpy().astype(np.float64)[off_wall]
    normals = surface.face_normals()[nearest.face_index.cpu().numpy()[off_wall]]
    if float(np.einsum("ij,ij->", direction, normals)) >= 0:
        return surface
    return dataclasses.replace(surface, faces=surface.faces[:, ::-1].copy(), orientation_sign=-surface.orientation_sign)


def _surface_part(
    dataset: Any,
    source: CaseSource,
    config: MeshCacheConfig,
    planar_axis: int | None,
    body: BodySurface | None,
    expected_channels: Sequence[str] | None,
    fluid: np.ndarray | None,
    device: str,
) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """The surface part (:func:`_selected_points`) with the unit normals into the fluid (:func:`orient_to_fluid`)."""
    where = _describe(source.surface)
    part, channels, missing = _selected_points(dataset, config.surface_fields, config.surface_location, where,
                                               planar_axis, expected_channels)
    # Normals follow the orientation decided for this surface's own faces.
    if source.geometry == source.surface and body is not None:
        own_body = body
    else:
        own_body = surface_from_vtk(dataset, planar_axis, where)
        if fluid is not None:
            own_body = orient_to_fluid(own_body, fluid, device)
    normals = surface_cell_normals if config.surface_location == "cell" else lumped_vertex_normals
    part["normals"] = normals(dataset, own_body, where)
    return _in_plane(part, config.surface_location, planar_axis), channels, missing


def _summary(
    source: CaseSource, arrays: CaseArrays, planar_axis: int | None, has_geometry: bool, channels: dict[str, list[str]]
) -> dict[str, Any]:
    """What the cache index records of a case (see :func:`extract_features`)."""
    summary = {
        "case_id": source.case_id,
        "planar_axis": planar_axis,
        "dimension": 2 if planar_axis is not None else 3,
        "has_geometry": has_geometry,
        "num_volume_points": int(arrays.volume_positions.shape[0]),
        "num_surface_points": int(arrays.surface_positions.shape[0]),
        "volume_channels": channels["volume"],
        "surface_channels": channels["surface"],
        "conditions": arrays.conditions.tolist(),
    }
    if arrays.volume_positions.shape[0]:
        summary["volume_bounds"] = [arrays.volume_positions.min(axis=0).tolist(), arrays.volume_positions.max(axis=0).tolist()]
    return summary


def extract_features(
    source: CaseSource,
    config: MeshCacheConfig,
    device: str = "cpu",
    expected_channels: tuple[Sequence[str], Sequence[str]] | None = None,
) -> tuple[CaseArrays, dict[str, Any]]:
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
    arrays : CaseArrays
        The per-case arrays of the module docstring.
    summary : dict
        Point counts, channel names, dimension, planar axis, ``has_geometry``,
        ``conditions``, ``volume_bounds`` (with volume points) and, in prediction mode,
        ``missing_channels``.

    Raises
    ------
    MeshDataError
        Anything wrong with the case's files or fields (message names the file).
    """
    load = _Datasets()
    axis_source = source.volume or source.surface
    axis_dataset = load(axis_source)
    _check_export(source, axis_dataset, axis_source)
    planar_axis = _planar_axis(point_coordinates(axis_dataset), config.dimension, _describe(axis_source))
    expected = dict(zip(("volume", "surface"), expected_channels or (None, None)))
    body = None
    if source.geometry is not None:
        body = surface_from_vtk(load(source.geometry), planar_axis, _describe(source.geometry))
    parts: dict[str, dict[str, np.ndarray] | None] = {"volume": None, "surface": None}
    channels: dict[str, list[str]] = {"volume": [], "surface": []}
    missing: list[str] = []
    fluid = None
    if source.volume is not None:
        parts["volume"], channels["volume"], absent = _volume_part(
            load(source.volume), source, config, planar_axis, body, device, expected["volume"]
        )
        missing += absent
        fluid = parts["volume"]["positions"]
        if body is not None:
            body = orient_to_fluid(body, fluid, device)
    if source.surface is not None and config.surface_fields:
        parts["surface"], channels["surface"], absent = _surface_part(
            load(source.surface), source, config, planar_axis, body, expected["surface"], fluid, device
        )
        missing += [name for name in absent if name not in missing]
    arrays = CaseArrays.from_parts(
        2 if planar_axis is not None else 3, [source.conditions[name] for name in config.conditions],
        volume=parts["volume"], surface=parts["surface"],
    )
    summary = _summary(source, arrays, planar_axis, body is not None, channels)
    if expected_channels is not None:
        summary["missing_channels"] = missing
    return arrays, summary

