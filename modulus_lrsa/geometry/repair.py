# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The repairs a CAD export's wall gets before a prediction on its own faces.

STL exports of real bodies carry faces no flow sees: triangles of zero area (collapsed
corners, three points on a line), the same triangle written twice, and triangles whose
corners run against their neighbours'. :func:`repair_wall` removes the first two and
reorders the third, so that the wall's faces are the prediction's surface points:

* a zero-area face has no normal and no quadrature weight (the feature path refuses it);
* a repeated face counts twice in every force and in the frontal area (a 7 % share of
  repeats raised an Ahmed body's Cd by 27 %);
* a face ordered against its neighbours turns its normal, and its pressure force, inwards.

A repeat in the opposite sense (the two sides of a zero-thickness sheet) is kept: it is a
wall of its own, warned about by :func:`~modulus_lrsa.geometry.quality.assess_wall`.
Faces are matched on their corners merged on a grid of
:data:`~modulus_lrsa.geometry.quality.MERGE_TOLERANCE` times the largest extent, the same
merge the wall assessment uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy

from modulus_lrsa.geometry.quality import _components, _merge_vertices
from modulus_lrsa.geometry.surface import DEGENERATE_TOLERANCE, polygon_area_vectors
from modulus_lrsa.io.readers import as_polydata, cell_connectivity, point_coordinates


@dataclass(frozen=True)
class WallRepair:
    """What :func:`repair_wall` changed.

    Attributes
    ----------
    faces_read : int
        Faces of the file.
    degenerate_removed, repeats_removed : int
        Faces of zero area, and faces repeating another in the same sense, left out.
    reordered : int
        Triangles whose corner order was reversed to agree with their neighbours'.
    """

    faces_read: int
    degenerate_removed: int = 0
    repeats_removed: int = 0
    reordered: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.degenerate_removed or self.repeats_removed or self.reordered)

    def as_dict(self) -> dict[str, int]:
        return {"faces_read": self.faces_read, "degenerate_removed": self.degenerate_removed,
                "repeats_removed": self.repeats_removed, "reordered": self.reordered}

    def warnings(self) -> list[str]:
        """One sentence per repair, for the log and ``quantities.json``."""
        notes = []
        if self.degenerate_removed:
            notes.append(f"{self.degenerate_removed} of {self.faces_read} faces have zero area (no normal, no force): "
                         "left out of the prediction")
        if self.repeats_removed:
            notes.append(f"{self.repeats_removed} of {self.faces_read} faces repeat another in the same sense: left out, "
                         "so that no face counts twice in the forces and the frontal area")
        if self.reordered:
            notes.append(f"{self.reordered} {'triangle was' if self.reordered == 1 else 'triangles were'} ordered against "
                         "their neighbours: reversed, so that every face's normal points to the same side")
        return notes


def _subset(data: vtk.vtkDataSetAttributes, rows: np.ndarray, target: vtk.vtkDataSetAttributes) -> None:
    """Copy the numeric arrays of ``data`` at ``rows`` into ``target``."""
    for index in range(data.GetNumberOfArrays()):
        array = data.GetArray(index)
        if array is not None:
            copy = numpy_to_vtk(np.ascontiguousarray(vtk_to_numpy(array)[rows]), deep=True, array_type=array.GetDataType())
            copy.SetName(array.GetName())
            target.AddArray(copy)


def _keep(polydata: vtk.vtkPolyData, kept: np.ndarray) -> vtk.vtkPolyData:
    """The polygons of ``polydata`` where ``kept`` and the points they use, with their numeric arrays."""
    connectivity, offsets = cell_connectivity(polydata)
    sizes = np.diff(offsets)[kept]
    starts = offsets[:-1][kept]
    flat = connectivity[np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes) + np.arange(sizes.sum())]
    # Points of removed faces only are dropped too: a point of no cell has no place in the wall.
    used, flat = np.unique(flat, return_inverse=True)
    points = vtk.vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(point_coordinates(polydata)[used]), deep=True))
    cells = vtk.vtkCellArray()
    cells.SetData(numpy_to_vtkIdTypeArray(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64), deep=True),
                  numpy_to_vtkIdTypeArray(flat.reshape(-1).astype(np.int64), deep=True))
    result = vtk.vtkPolyData()
    result.SetPoints(points)
    result.SetPolys(cells)
    _subset(polydata.GetPointData(), used, result.GetPointData())
    _subset(polydata.GetCellData(), np.flatnonzero(kept), result.GetCellData())
    return result


def _rotated(corners: np.ndarray) -> np.ndarray:
    """Each triangle's corners rotated so the smallest comes first: one row per face and sense."""
    first = np.argmin(corners, axis=1)
    return corners[np.arange(corners.shape[0])[:, None], (first[:, None] + np.arange(3)) % 3]


def _same_sense_repeats(corners: np.ndarray) -> np.ndarray:
    """Mask of the (F, 3) triangles repeating an earlier one with the same corners in the same cyclic order."""
    rotated = _rotated(corners)
    order = np.lexsort(rotated.T[::-1])
    sorted_rows = rotated[order]
    repeated = np.zeros(corners.shape[0], dtype=bool)
    repeated[order[1:]] = (sorted_rows[1:] == sorted_rows[:-1]).all(axis=1)
    return repeated


def _has_inconsistent_edge(corners: np.ndarray) -> bool:
    """Whether an edge of exactly two of the (F, 3) triangles is run along in the same direction by both."""
    directed = np.concatenate([corners[:, [0, 1]], corners[:, [1, 2]], corners[:, [2, 0]]])
    directed = directed[directed[:, 0] != directed[:, 1]]
    count = int(corners.max()) + 1
    keys = directed.min(axis=1) * count + directed.max(axis=1)
    order = np.argsort(keys, kind="stable")
    keys, forward = keys[order], (directed[:, 0] < directed[:, 1])[order]
    _, start, uses = np.unique(keys, return_index=True, return_counts=True)
    pairs = start[uses == 2]
    return bool((forward[pairs] == forward[pairs + 1]).any())


def _consistently_ordered(polydata: vtk.vtkPolyData, corners: np.ndarray) -> tuple[vtk.vtkPolyData, int]:
    """Triangles reordered to agree with their neighbours across manifold edges, and how many were reversed.

    VTK's traversal keeps the sense of each region's first triangle; where that one was
    the odd one out, the region is turned back, so the file's majority sense wins.
    """
    normals = vtk.vtkPolyDataNormals()
    normals.SetInputData(polydata)
    normals.ConsistencyOn()
    normals.SplittingOff()
    normals.AutoOrientNormalsOff()
    normals.NonManifoldTraversalOff()
    # VTK reorders the polygons only on its way to point normals; those are dropped below.
    normals.ComputePointNormalsOn()
    normals.ComputeCellNormalsOff()
    normals.Update()
    before = cell_connectivity(polydata)[0].reshape(-1, 3)
    after = cell_connectivity(normals.GetOutput())[0].reshape(-1, 3).copy()
    reversed_faces = ~(_rotated(before) == _rotated(after)).all(axis=1)
    part = _components(np.concatenate([corners[:, [0, 1]], corners[:, [0, 2]]]), int(corners.max()) + 1)[corners[:, 0]]
    parts = int(part.max()) + 1
    turned_back = np.bincount(part, weights=reversed_faces, minlength=parts) > 0.5 * np.bincount(part, minlength=parts)
    flip = turned_back[part]
    after[flip] = after[flip][:, ::-1]
    cells = vtk.vtkCellArray()
    cells.SetData(3, numpy_to_vtkIdTypeArray(after.reshape(-1).astype(np.int64), deep=True))
    ordered = vtk.vtkPolyData()
    ordered.SetPoints(polydata.GetPoints())
    ordered.SetPolys(cells)
    ordered.GetPointData().ShallowCopy(polydata.GetPointData())
    ordered.GetCellData().ShallowCopy(polydata.GetCellData())
    return ordered, int((reversed_faces != flip).sum())


def repair_wall(dataset: vtk.vtkDataSet) -> tuple[vtk.vtkPolyData, WallRepair]:
    """The wall without zero-area or repeated faces, its triangles ordered alike; what changed.

    Parameters
    ----------
    dataset : vtk.vtkDataSet
        A 3D wall surface, as :func:`~modulus_lrsa.io.readers.read_vtk` returns it.

    Returns
    -------
    polydata : vtk.vtkPolyData
        The repaired wall; ``dataset`` itself (as polydata) where nothing needed a repair.
    repair : WallRepair
        The counts of each repair.
    """
    polydata = as_polydata(dataset)
    faces_read = polydata.GetNumberOfCells()
    points = point_coordinates(polydata)
    connectivity, offsets = cell_connectivity(polydata)
    sizes = np.diff(offsets)
    triangles = bool((sizes == 3).all())
    if triangles:
        corners = connectivity.reshape(-1, 3)
        areas = 0.5 * np.linalg.norm(np.cross(points[corners[:, 1]] - points[corners[:, 0]],
                                              points[corners[:, 2]] - points[corners[:, 0]]), axis=1)
    else:
        areas = np.linalg.norm(polygon_area_vectors(points, connectivity, offsets), axis=1)
    extent = float(np.ptp(points, axis=0).max()) if points.size else 0.0
    degenerate = areas <= DEGENERATE_TOLERANCE * extent**2
    if degenerate.all() or not triangles:
        # Nothing would be left (the surface checks downstream refuse it, naming the file), or
        # polygons other than triangles (no STL): their zero-area faces alone are left out.
        if degenerate.any() and not degenerate.all():
            polydata = _keep(polydata, ~degenerate)
        return polydata, WallRepair(faces_read, int(degenerate.sum()) if not degenerate.all() else 0)
    merged = _merge_vertices(points)[0][corners]
    repeats = _same_sense_repeats(merged) & ~degenerate
    removed = degenerate | repeats
    if removed.any():
        polydata = _keep(polydata, ~removed)
    reordered = 0
    if _has_inconsistent_edge(merged[~removed]):
        polydata, reordered = _consistently_ordered(polydata, merged[~removed])
    return polydata, WallRepair(faces_read, int(degenerate.sum()), int(repeats.sum()), reordered)
