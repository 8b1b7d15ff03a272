# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Body surfaces (triangles in 3D, segments in 2D) built from VTK wall patches or STL files.

How 2D is handled
-----------------
OpenFOAM runs 2D cases on a mesh one cell thick, with ``empty`` front and back patches.
:func:`detect_planar_axis` recognizes such a mesh (every point lies on one of two planes
normal to one axis), and the case is then treated as truly 2D: coordinates drop that
axis, and the wall patch (a ribbon of faces spanning the thickness) is reduced to its
2D contour, one segment per face. Distances and winding numbers are computed in the
plane, so the thickness of the slab never leaks into the geometry features.

Orientation
-----------
Faces are oriented so that their normals point out of the body, into the fluid.
OpenFOAM wall patches point the other way (out of the fluid domain) and STL files
usually point outward, so the orientation is decided from the data: faces keep the
file's ordering unless the enclosed signed volume (3D) or area (2D) comes out negative,
in which case every face is reversed. A surface whose faces are inconsistently ordered
among themselves is not repaired (:func:`~modulus_lrsa.geometry.quality.assess_wall`
counts the edges where they disagree).

Unusable surfaces
-----------------
:func:`validate_surface` refuses, in one line naming the file, what no geometry feature
can be computed from: no face, NaN or Inf coordinates, or every face degenerate (zero
area in 3D, zero length in 2D, relative to the surface's extent).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from modulus_lrsa.errors import EmptyMeshError, MeshDataError, NonFiniteFieldError
from modulus_lrsa.io.readers import as_polydata, cell_connectivity, cell_types, point_coordinates

_LINE_CELL_TYPES = (vtk.VTK_LINE, vtk.VTK_POLY_LINE)


#: Share of a mesh's largest extent within which points count as lying on one plane.
PLANAR_TOLERANCE = 1e-6

#: A face is degenerate when its area (3D) or length (2D) is at most this share of the
#: surface's largest extent squared (3D) or of that extent (2D): round-off, not geometry.
DEGENERATE_TOLERANCE = 1e-12


def detect_planar_axis(
    points: np.ndarray, relative_tolerance: float = PLANAR_TOLERANCE, require_thin: bool = True
) -> int | None:
    """Find the empty direction of a one-cell-thick (2D) mesh.

    Parameters
    ----------
    points : np.ndarray
        Mesh points, shape (N, 3).
    relative_tolerance : float
        Distance to a bounding plane, relative to the largest extent, under which a
        point counts as lying on it.
    require_thin : bool
        Also require the slab to be thinner than the in-plane extents, which tells a
        one-cell-thick mesh from a 3D block with points only on two faces. False for a
        wall patch alone (a 1 m slab around a 0.1 m thick airfoil), when 2D is known.

    Returns
    -------
    int or None
        The axis (0, 1 or 2) along which every point sits on one of the two bounding
        planes, with the thinnest such extent; None for a genuinely 3D mesh.
    """
    points = np.asarray(points, dtype=np.float64)
    lower, upper = points.min(axis=0), points.max(axis=0)
    extent = upper - lower
    tolerance = relative_tolerance * max(float(extent.max()), np.finfo(float).tiny)
    candidates = []
    for axis in range(3):
        on_planes = (np.abs(points[:, axis] - lower[axis]) <= tolerance) | (
            np.abs(points[:, axis] - upper[axis]) <= tolerance
        )
        # The slab must be thinner than the in-plane extents, else it is a 3D block.
        others = np.delete(extent, axis)
        if on_planes.all() and (not require_thin or extent[axis] < others.min()):
            candidates.append(axis)
    if not candidates:
        return None
    return min(candidates, key=lambda axis: extent[axis])


def in_plane_axes(planar_axis: int | None) -> list[int]:
    """Coordinate axes kept for a case: all three in 3D, the two in-plane ones in 2D."""
    return [axis for axis in range(3) if axis != planar_axis]


def project(points: np.ndarray, planar_axis: int | None) -> np.ndarray:
    """Drop the empty axis of 2D cases; a no-op (copy to float64) in 3D. (N, 3) -> (N, D)."""
    return np.asarray(points, dtype=np.float64)[:, in_plane_axes(planar_axis)]


def polygon_area_vectors(points: np.ndarray, connectivity: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Newell area vector of every polygon: direction = normal (right-hand rule), length = area.

    Parameters
    ----------
    points : np.ndarray
        (N_points, 3).
    connectivity, offsets : np.ndarray
        Flat cell point ids and (N_cells + 1) offsets, as from
        :func:`~modulus_lrsa.io.readers.cell_connectivity`.

    Returns
    -------
    np.ndarray
        (N_cells, 3) float64; zero for cells with fewer than 3 points.
    """
    sizes = np.diff(offsets)
    starts = offsets[:-1]
    position_in_cell = np.arange(connectivity.size) - np.repeat(starts, sizes)
    next_position = (position_in_cell + 1) % np.repeat(np.maximum(sizes, 1), sizes)
    next_ids = connectivity[np.repeat(starts, sizes) + next_position]
    # Cross products relative to each cell's first point keep the sum well conditioned.
    origin = points[connectivity[np.repeat(starts, sizes)]]
    crosses = np.cross(points[connectivity] - origin, points[next_ids] - origin)
    cell_ids = np.repeat(np.arange(sizes.size), sizes)
    area_vectors = np.zeros((sizes.size, 3))
    np.add.at(area_vectors, cell_ids, 0.5 * crosses)
    area_vectors[sizes < 3] = 0.0
    return area_vectors


def _normalize(vectors: np.ndarray) -> np.ndarray:
    lengths = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, lengths, out=np.zeros_like(vectors), where=lengths > 0)


@dataclass(frozen=True)
class BodySurface:
    """Closed or open boundary of a body, oriented with normals pointing into the fluid.

    Attributes
    ----------
    vertices : np.ndarray
        float64, shape (V, D) with D = 3 (triangles) or D = 2 (segments of a 2D contour).
    faces : np.ndarray
        int64, shape (F, D): vertex ids of each triangle (D = 3) or segment (D = 2).
    orientation_sign : int
        +1 if the file's face ordering already pointed out of the body, -1 if every face
        was reversed. Multiply normals computed from the file's ordering by it.
    planar_axis : int or None
        The dropped axis for 2D surfaces, None in 3D.
    source : str
        The file it came from, for messages.
    """

    vertices: np.ndarray
    faces: np.ndarray
    orientation_sign: int = 1
    planar_axis: int | None = None
    source: str = field(default="<surface>", compare=False)

    @property
    def dim(self) -> int:
        """Spatial dimension D (2 or 3)."""
        return int(self.vertices.shape[1])

    def face_measures(self) -> np.ndarray:
        """Triangle areas (3D) or segment lengths (2D), shape (F,)."""
        corners = self.vertices[self.faces]
        if self.dim == 2:
            return np.linalg.norm(corners[:, 1] - corners[:, 0], axis=1)
        return 0.5 * np.linalg.norm(
            np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
        )

    def degenerate_faces(self) -> np.ndarray:
        """Mask of faces with no area (3D) or length (2D) beyond round-off, shape (F,).

        The tolerance is :data:`DEGENERATE_TOLERANCE` relative to the largest extent of
        the vertices (squared in 3D).
        """
        finite = self.vertices[np.isfinite(self.vertices).all(axis=1)]
        extent = float(np.ptp(finite, axis=0).max()) if finite.size else 0.0
        return self.face_measures() <= DEGENERATE_TOLERANCE * extent ** (self.dim - 1)

    def face_normals(self) -> np.ndarray:
        """Unit normals pointing out of the body, shape (F, D); zero for degenerate faces."""
        corners = self.vertices[self.faces]
        if self.dim == 2:
            tangent = corners[:, 1] - corners[:, 0]
            # Counter-clockwise contour: the body is on the left, the outside on the right.
            return _normalize(np.stack([tangent[:, 1], -tangent[:, 0]], axis=1))
        return _normalize(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]))

    def face_centroids(self) -> np.ndarray:
        """Face centroids, shape (F, D)."""
        return self.vertices[self.faces].mean(axis=1)

    def enclosed_measure(self) -> float:
        """Signed enclosed volume (3D) or area (2D); positive when oriented outward.

        Exact for closed surfaces; for open ones it is the measure of the cone from
        the vertex centroid, still a sound vote on the orientation.
        """
        centre = self.vertices.mean(axis=0)
        corners = self.vertices[self.faces] - centre
        if self.dim == 2:
            return float(0.5 * np.sum(corners[:, 0, 0] * corners[:, 1, 1] - corners[:, 0, 1] * corners[:, 1, 0]))
        return float(np.sum(np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2]))) / 6.0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners of the bounding box, each shape (D,)."""
        used = np.zeros(self.vertices.shape[0], dtype=bool)
        used[self.faces.reshape(-1)] = True
        return self.vertices[used].min(axis=0), self.vertices[used].max(axis=0)


def validate_surface(surface: BodySurface) -> None:
    """Refuse a surface no geometry feature can be computed from, naming ``surface.source``.

    Raises
    ------
    EmptyMeshError
        No face, or every face degenerate (see :meth:`BodySurface.degenerate_faces`).
    NonFiniteFieldError
        A vertex coordinate is NaN or Inf.
    MeshDataError
        Faces of the wrong width, or vertex ids out of range.
    """
    source, dim = surface.source, surface.dim
    if surface.vertices.ndim != 2 or dim not in (2, 3) or surface.faces.ndim != 2 or surface.faces.shape[1] != dim:
        raise MeshDataError(
            f"{source}: expected (V, D) vertices and (F, D) faces with D = 2 or 3, got "
            f"{surface.vertices.shape} and {surface.faces.shape}"
        )
    if surface.faces.shape[0] == 0:
        raise EmptyMeshError(f"{source}: the surface has no {'triangle' if dim == 3 else 'segment'}")
    if surface.faces.min() < 0 or surface.faces.max() >= surface.vertices.shape[0]:
        raise MeshDataError(f"{source}: face vertex ids outside 0..{surface.vertices.shape[0] - 1}")
    bad = int((~np.isfinite(surface.vertices)).any(axis=1).sum())
    if bad:
        raise NonFiniteFieldError(f"{source}: {bad} vertex coordinates are NaN or Inf")
    if surface.degenerate_faces().all():
        what = "triangle of the surface has zero area" if dim == 3 else "segment of the contour has zero length"
        raise EmptyMeshError(f"{source}: every {what}")


def _oriented(vertices: np.ndarray, faces: np.ndarray, planar_axis: int | None, source: str) -> BodySurface:
    surface = BodySurface(vertices, faces, orientation_sign=1, planar_axis=planar_axis, source=source)
    validate_surface(surface)
    if surface.enclosed_measure() < 0:
        surface = BodySurface(vertices, faces[:, ::-1].copy(), orientation_sign=-1, planar_axis=planar_axis, source=source)
    return surface


def _contour_segments(
    dataset: vtk.vtkDataSet, planar_axis: int, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """2D contour of a wall ribbon (or of line cells): merged 2D vertices and oriented segments."""
    points3d = point_coordinates(dataset)
    planar = project(points3d, planar_axis)
    # Front and back copies of a contour point coincide once projected: merge them.
    scale = max(float(np.ptp(planar, axis=0).max()), np.finfo(float).tiny)
    keys = np.round(planar / (scale * 1e-7)).astype(np.int64)
    _, first_index, merged_ids = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    merged_ids = merged_ids.reshape(-1)
    vertices2d = planar[first_index]

    connectivity, offsets = cell_connectivity(dataset)
    sizes = np.diff(offsets)
    ugrid_types = cell_types(dataset)
    area_vectors = polygon_area_vectors(points3d, connectivity, offsets)
    in_plane = in_plane_axes(planar_axis)
    segments: list[np.ndarray] = []
    for cell, (start, size) in enumerate(zip(offsets[:-1], sizes)):
        ids = merged_ids[connectivity[start : start + size]]
        if ugrid_types[cell] in _LINE_CELL_TYPES:
            chain = np.stack([ids[:-1], ids[1:]], axis=1)
            segments.append(chain[chain[:, 0] != chain[:, 1]])
            continue
        distinct = np.unique(ids)
        if distinct.size != 2:
            raise MeshDataError(
                f"{source}: surface cell {cell} covers {distinct.size} distinct in-plane points, "
                f"expected 2 (a face spanning the one-cell thickness along axis {planar_axis}); "
                "is this the wall patch of a one-cell-thick 2D mesh?"
            )
        first, second = distinct
        tangent = vertices2d[second] - vertices2d[first]
        normal_from_file = area_vectors[cell, in_plane]
        # Keep the file's face orientation: segment normal (t_y, -t_x) along the face normal.
        if tangent[1] * normal_from_file[0] - tangent[0] * normal_from_file[1] < 0:
            first, second = second, first
        segments.append(np.array([[first, second]]))
    faces = np.concatenate(segments, axis=0) if segments else np.zeros((0, 2), dtype=np.int64)
    return vertices2d, faces.astype(np.int64)


def surface_from_vtk(dataset: vtk.vtkDataSet, planar_axis: int | None = None, source: str = "<surface>") -> BodySurface:
    """Build the oriented body surface from a wall patch, an STL or any surface dataset.

    Parameters
    ----------
    dataset : vtk.vtkDataSet
        Surface cells (polygons, triangle strips; in 2D also lines), e.g. from
        :func:`~modulus_lrsa.io.readers.read_vtk`.
    planar_axis : int, optional
        The empty axis of a one-cell-thick 2D case (see :func:`detect_planar_axis`);
        None for 3D.
    source : str
        File description for error messages.

    Returns
    -------
    BodySurface
        Triangles (3D) or segments (2D), oriented with normals into the fluid; open,
        non-manifold or overlapping walls included (see
        :func:`~modulus_lrsa.geometry.quality.assess_wall`).

    Raises
    ------
    MeshDataError
        What :func:`validate_surface` refuses, found before any geometry is built.
    """
    bad = int((~np.isfinite(point_coordinates(dataset))).any(axis=1).sum())
    if bad:
        raise NonFiniteFieldError(f"{source}: {bad} point coordinates are NaN or Inf")
    if planar_axis is not None:
        vertices, faces = _contour_segments(dataset, planar_axis, source)
        if faces.shape[0] == 0:
            raise EmptyMeshError(f"{source}: the surface has no segment in the plane")
        return _oriented(vertices, faces, planar_axis, source)

    triangulate = vtk.vtkTriangleFilter()
    triangulate.SetInputData(as_polydata(dataset))
    triangulate.PassLinesOff()
    triangulate.PassVertsOff()
    triangulate.Update()
    triangles_polydata = triangulate.GetOutput()
    polys = triangles_polydata.GetPolys()
    if polys.GetNumberOfCells() == 0:
        raise EmptyMeshError(f"{source}: the surface has no polygon to triangulate")
    connectivity = vtk_to_numpy(polys.GetConnectivityArray()).astype(np.int64)
    faces = connectivity.reshape(-1, 3)
    vertices = point_coordinates(triangles_polydata)
    return _oriented(vertices, faces, None, source)


def surface_cell_normals(
    dataset: vtk.vtkDataSet, surface: BodySurface, source: str = "<surface>"
) -> np.ndarray:
    """Unit outward normals of the surface dataset's own cells (the surface training points).

    Parameters
    ----------
    dataset : vtk.vtkDataSet
        The same surface dataset ``surface`` was built from (cell order is kept).
    surface : BodySurface
        Gives the orientation decision and the planar axis.
    source : str
        File description for error messages.

    Returns
    -------
    np.ndarray
        float64, shape (N_cells, D), pointing out of the body.
    """
    points3d = point_coordinates(dataset)
    connectivity, offsets = cell_connectivity(dataset)
    area_vectors = polygon_area_vectors(points3d, connectivity, offsets)
    types = cell_types(dataset)
    is_line = np.isin(types, _LINE_CELL_TYPES)
    if is_line.any():
        if surface.planar_axis is None:
            raise MeshDataError(f"{source}: line cells cannot carry surface normals in a 3D case")
        # A line's normal is its tangent turned clockwise, in the plane.
        starts = connectivity[offsets[:-1]]
        ends = connectivity[offsets[1:] - 1]
        tangent = points3d[ends] - points3d[starts]
        u, v = in_plane_axes(surface.planar_axis)
        line_normals = np.zeros_like(tangent)
        line_normals[:, u], line_normals[:, v] = tangent[:, v], -tangent[:, u]
        area_vectors = np.where(is_line[:, None], line_normals, area_vectors)
    normals = project(area_vectors, surface.planar_axis) * surface.orientation_sign
    if (np.linalg.norm(normals, axis=1) == 0).any():
        raise MeshDataError(f"{source}: some surface cells are degenerate (no normal direction)")
    return _normalize(normals)


def lumped_vertex_normals(dataset: vtk.vtkDataSet, surface: BodySurface, source: str = "<surface>") -> np.ndarray:
    """Area-weighted unit outward normals at the surface dataset's points, shape (N_points, D)."""
    cell_normals = surface_cell_normals(dataset, surface, source)
    connectivity, offsets = cell_connectivity(dataset)
    sizes = np.diff(offsets)
    points3d = point_coordinates(dataset)
    weights = np.linalg.norm(polygon_area_vectors(points3d, connectivity, offsets), axis=1)
    weights = np.where(weights > 0, weights, 1.0)
    contributions = np.repeat(cell_normals * weights[:, None], sizes, axis=0)
    accumulated = np.zeros((dataset.GetNumberOfPoints(), cell_normals.shape[1]))
    np.add.at(accumulated, connectivity, contributions)
    return _normalize(accumulated)
