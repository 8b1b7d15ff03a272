# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Read CFD results from VTK files into NumPy arrays, failing loudly on bad input.

Supported files: XML ``.vtu`` / ``.vtp``, multiblock ``.vtm`` (the OpenFOAM ``foamToVTK``
layout ``VTK/<case>_<time>.vtm`` pointing at ``<folder>/internal.vtu`` and
``<folder>/boundary/<patch>.vtp``), legacy ``.vtk`` and ``.stl``.

VTK readers report most problems (truncated XML, short legacy data, missing files)
only as printed messages and still hand back a dataset, sometimes with the declared
number of points filled with garbage. :func:`read_vtk` therefore captures VTK's error
output during the read and raises :class:`~modulus_lrsa.errors.CorruptFileError`
naming the file when anything was reported, and checks for empty meshes and
non-finite coordinates itself.

Fields are selected by name; a selector ``"U"`` keeps every component of a vector,
``"U[0]"`` or ``"U[0,1]"`` keeps the listed components (e.g. drop the empty z velocity
of a 2D case). Cell data lives at cell centres, and the cell measures (volume, area or
length, by the cell's dimension) are returned as quadrature weights. Point data gets
lumped weights: each cell hands an equal share of its measure to each of its points.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

from modulus_lrsa.errors import (
    CorruptFileError,
    EmptyMeshError,
    MeshDataError,
    MissingFieldError,
    NonFiniteFieldError,
)
from modulus_lrsa.io.fields import FIELD_LOCATIONS, FieldSelector
from modulus_lrsa.io.integrity import check_legacy_vtk, check_stl_length, check_xml_closed, check_xml_inline_data

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".vtu", ".vtp", ".vtm", ".vtk", ".stl")

#: Cell-type queries (dimension, class name): vtkCellTypeUtilities since VTK 9.6, where
#: vtkCellTypes' static methods became deprecated; vtkCellTypes before it (vtk>=9.3 is allowed).
_CELL_TYPES = getattr(vtk, "vtkCellTypeUtilities", vtk.vtkCellTypes)

_READERS = {
    ".vtu": vtk.vtkXMLUnstructuredGridReader,
    ".vtp": vtk.vtkXMLPolyDataReader,
    ".vtm": vtk.vtkXMLMultiBlockDataReader,
    ".vtk": vtk.vtkDataSetReader,
    ".stl": vtk.vtkSTLReader,
}


@contextlib.contextmanager
def _captured_vtk_errors() -> Iterator[vtk.vtkStringOutputWindow]:
    """Route VTK's error/warning text into a string buffer instead of stderr."""
    window = vtk.vtkStringOutputWindow()
    previous_window = vtk.vtkOutputWindow.GetInstance()
    previous_verbosity = vtk.vtkLogger.GetCurrentVerbosityCutoff()
    vtk.vtkOutputWindow.SetInstance(window)
    # vtkLogger prints the same errors to stderr on its own; they are re-raised as
    # exceptions naming the file, so the duplicate console noise is silenced meanwhile.
    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_OFF)
    try:
        yield window
    finally:
        vtk.vtkOutputWindow.SetInstance(previous_window)
        vtk.vtkLogger.SetStderrVerbosity(previous_verbosity)


def _first_vtk_problem(captured_text: str) -> str | None:
    """The first ERROR or warning message of captured VTK output, on one line, or None.

    Warnings count: VTK's legacy reader reports short binary data ("Error reading binary
    data!") only as a warning and still returns the arrays it filled with garbage.
    """
    blocks = [block.strip() for block in captured_text.split("\n\n") if block.strip()]
    for block in blocks:
        first_line = block.splitlines()[0]
        if first_line.startswith("ERROR") or "Warning" in first_line:
            lines = [line.strip() for line in block.splitlines()[1:] if line.strip()]
            message = " ".join(lines) or block
            # Drop the object address VTK prefixes, it means nothing to the user.
            return re.sub(r"\(0x[0-9a-fA-F]+\)", "", message).strip()
    return None


def _iterate_blocks(
    composite: vtk.vtkCompositeDataSet, prefix: str = ""
) -> Iterator[tuple[str, vtk.vtkDataObject | None]]:
    """Yield ``(path, leaf)`` for every leaf of a multiblock tree, path like ``boundary/walls``."""
    for index in range(composite.GetNumberOfBlocks()):
        child = composite.GetBlock(index)
        metadata = composite.GetMetaData(index) if composite.HasMetaData(index) else None
        name = None
        if metadata is not None and metadata.Has(vtk.vtkCompositeDataSet.NAME()):
            name = metadata.Get(vtk.vtkCompositeDataSet.NAME())
        name = name or f"block{index}"
        path = f"{prefix}/{name}" if prefix else name
        if isinstance(child, vtk.vtkMultiBlockDataSet):
            yield from _iterate_blocks(child, path)
        else:
            yield path, child


def _select_block(blocks: dict[str, vtk.vtkDataObject | None], block: str | None, source: Path):
    available = ", ".join(blocks) or "(none)"
    if block is None:
        if len(blocks) == 1:
            return next(iter(blocks.values()))
        raise MeshDataError(
            f"{source}: multiblock file has {len(blocks)} blocks ({available}); choose one: "
            "lrsa-train data.volume_block= / data.surface_block=, lrsa-predict --volume-block / "
            "--surface-block, or block= in Python"
        )
    if block in blocks:
        return blocks[block]
    by_leaf_name = [path for path in blocks if path.rsplit("/", 1)[-1] == block]
    if len(by_leaf_name) == 1:
        return blocks[by_leaf_name[0]]
    if len(by_leaf_name) > 1:
        raise MeshDataError(
            f"{source}: block name '{block}' is ambiguous, matching {by_leaf_name}; "
            "give the full path"
        )
    raise MeshDataError(f"{source}: no block named '{block}' (available: {available})")


#: How deep ``.vtm`` files may nest; ParaView and foamToVTK write one level.
_VTM_NESTING_LIMIT = 16


def _check_complete(source: Path, referenced_by: Path | None = None, within: tuple[Path, ...] = ()) -> None:
    """Completeness checks VTK's readers skip; a multiblock's referenced files included.

    ``within`` holds the ``.vtm`` files being checked around this one: a multiblock that
    references itself, directly or through others, would send VTK's reader round forever.
    """
    suffix = source.suffix.lower()
    if referenced_by is not None:
        if not source.is_file():
            raise CorruptFileError(f"{referenced_by}: references {source}, which does not exist")
        if source.stat().st_size == 0:
            raise CorruptFileError(f"{referenced_by}: references {source}, which is empty (0 bytes)")
    if suffix == ".stl":
        check_stl_length(source)
    elif suffix == ".vtk":
        check_legacy_vtk(source)
    else:
        check_xml_closed(source)
        check_xml_inline_data(source)
    if suffix == ".vtm":
        here = source.resolve()
        if here in within:
            raise CorruptFileError(f"{referenced_by}: references {source}, which references it back (a cycle of .vtm files)")
        if len(within) >= _VTM_NESTING_LIMIT:
            raise CorruptFileError(f"{source}: .vtm files nest more than {_VTM_NESTING_LIMIT} deep")
        for piece in vtm_referenced_files(source):
            _check_complete(piece, referenced_by=source, within=(*within, here))


def vtm_referenced_files(path: Path) -> list[Path]:
    """The files a ``.vtm`` multiblock index points to, resolved against its folder."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [(path.parent / name).resolve() for name in re.findall(r"file=['\"]([^'\"]+)['\"]", text)]


def _check_array_lengths(dataset: vtk.vtkDataSet, where: str) -> None:
    """Every point/cell array has one tuple per point/cell, and cells use existing points."""
    for location, data, rows in (
        ("point", dataset.GetPointData(), dataset.GetNumberOfPoints()),
        ("cell", dataset.GetCellData(), dataset.GetNumberOfCells()),
    ):
        for index in range(data.GetNumberOfArrays()):
            array = data.GetAbstractArray(index)
            if array is not None and array.GetNumberOfTuples() != rows:
                raise CorruptFileError(
                    f"{where}: {location} array '{array.GetName()}' has {array.GetNumberOfTuples()} "
                    f"values, but the mesh has {rows} {location}s (truncated or corrupt file?)"
                )
    if isinstance(dataset, (vtk.vtkUnstructuredGrid, vtk.vtkPolyData)):
        connectivity, _ = cell_connectivity(dataset)
        if connectivity.size and (connectivity.min() < 0 or connectivity.max() >= dataset.GetNumberOfPoints()):
            raise CorruptFileError(
                f"{where}: cells refer to point ids outside 0..{dataset.GetNumberOfPoints() - 1} (corrupt file?)"
            )


def list_blocks(path: str | os.PathLike) -> list[str]:
    """Paths of the leaf blocks of a ``.vtm`` file, e.g. ``['internal', 'boundary/walls']``."""
    source = Path(path)
    composite = _read_raw(source)
    return [name for name, _ in _iterate_blocks(composite)]


def _read_raw(source: Path) -> vtk.vtkDataObject:
    suffix = source.suffix.lower()
    if suffix not in _READERS:
        raise CorruptFileError(
            f"{source}: unsupported file type '{suffix}'; expected one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not source.is_file():
        raise CorruptFileError(f"{source}: file does not exist")
    if source.stat().st_size == 0:
        raise CorruptFileError(f"{source}: file is empty (0 bytes)")
    _check_complete(source)
    reader = _READERS[suffix]()
    reader.SetFileName(str(source))
    if suffix == ".vtk":
        # Legacy files may hold several arrays of each kind; read them all.
        reader.ReadAllScalarsOn()
        reader.ReadAllVectorsOn()
        reader.ReadAllFieldsOn()
    with _captured_vtk_errors() as window:
        reader.Update()
    error = _first_vtk_problem(window.GetOutput())
    if error is not None:
        raise CorruptFileError(f"{source}: the VTK reader failed (truncated or corrupt file?): {error}")
    output = reader.GetOutputDataObject(0)
    if output is None:
        raise CorruptFileError(f"{source}: the VTK reader returned no data")
    return output


def read_vtk(
    path: str | os.PathLike, block: str | None = None, *, files_read: dict[Path, vtk.vtkDataObject] | None = None
) -> vtk.vtkDataSet:
    """Read one dataset from a VTK file and check that it is usable.

    Parameters
    ----------
    path : str or PathLike
        ``.vtu``, ``.vtp``, ``.vtm``, legacy ``.vtk`` or ``.stl`` file.
    block : str, optional
        For ``.vtm`` files: the block to return, by full path (``"boundary/walls"``)
        or by unique leaf name (``"walls"``, ``"internal"``). Required when the file has
        more than one block; ignored for other file types.
    files_read : dict, optional
        Files already read, by path, filled by this call: several blocks of one ``.vtm``
        (volume and walls) then cost one read of the file and its pieces.

    Returns
    -------
    vtk.vtkDataSet
        The dataset, with at least one point and one cell and finite coordinates.

    Raises
    ------
    CorruptFileError
        Missing, empty, truncated or unreadable file (the message quotes VTK's error).
    EmptyMeshError
        The dataset (or selected block) has no points or no cells.
    NonFiniteFieldError
        Point coordinates contain NaN or Inf.
    MeshDataError
        The requested block does not exist or is ambiguous.
    """
    source = Path(path)
    if files_read is None:
        output = _read_raw(source)
    else:
        if source not in files_read:
            files_read[source] = _read_raw(source)
        output = files_read[source]
    where = str(source)
    if isinstance(output, vtk.vtkMultiBlockDataSet):
        blocks = dict(_iterate_blocks(output))
        output = _select_block(blocks, block, source)
        where = f"{source} (block '{block}')"
        if output is None:
            raise EmptyMeshError(f"{where}: block is empty (no dataset was loaded for it)")
    if not isinstance(output, vtk.vtkDataSet):
        raise CorruptFileError(f"{where}: expected a VTK dataset, got {type(output).__name__}")
    if output.GetNumberOfPoints() == 0 or output.GetNumberOfCells() == 0:
        raise EmptyMeshError(
            f"{where}: mesh is empty ({output.GetNumberOfPoints()} points, "
            f"{output.GetNumberOfCells()} cells)"
        )
    _check_array_lengths(output, where)
    output = _usable_part(output, where)
    coordinates = point_coordinates(output)
    if not np.isfinite(coordinates).all():
        bad = int((~np.isfinite(coordinates)).any(axis=1).sum())
        raise NonFiniteFieldError(f"{where}: {bad} point coordinates are NaN or Inf")
    return output


def _usable_part(dataset: vtk.vtkDataSet, where: str) -> vtk.vtkDataSet:
    """The dataset's cells of its highest dimension and the points they use; what else there is, left out.

    meshio writes a mesh's boundary facets into the same file as its volume cells, and
    surface files may carry feature lines or vertices: their areas or lengths are no
    quadrature weights of the volume (or surface), nor their rows samples of it. Points
    of no cell (a script that kept only the tetrahedra of a Gmsh mesh keeps all its
    points) lie outside the domain and have no weight.
    """
    if not isinstance(dataset, (vtk.vtkUnstructuredGrid, vtk.vtkPolyData)):
        return dataset
    types = cell_types(dataset)
    dimension_of = {int(kind): _CELL_TYPES.GetDimension(int(kind)) for kind in np.unique(types)}
    dimensions = np.array([dimension_of[int(kind)] for kind in types])
    top = int(dimensions.max())
    usable = dataset
    if not (dimensions == top).all():
        kept = np.flatnonzero(dimensions == top)
        left_out = {dimension: int((dimensions == dimension).sum())
                    for dimension in sorted(set(dimension_of.values())) if dimension != top}
        logger.warning(
            "%s: left out %s cell(s) beside its %d %dD cells (boundary facets or markers, as meshio writes them); "
            "the dataset is its %dD cells", where,
            ", ".join(f"{count} {dimension}D" for dimension, count in left_out.items()), kept.size, top, top,
        )
        cell_ids = vtk.vtkIdList()
        cell_ids.SetNumberOfIds(kept.size)
        for position, cell in enumerate(kept.tolist()):
            cell_ids.SetId(position, cell)
        extract = vtk.vtkExtractCells()
        extract.SetInputData(as_unstructured_grid(dataset))
        extract.SetCellList(cell_ids)
        extract.AssumeSortedAndUniqueIdsOn()
        extract.PassThroughCellIdsOff()
        extract.Update()
        usable = extract.GetOutput()
    connectivity, _ = cell_connectivity(usable)
    unused = usable.GetNumberOfPoints() - int(np.count_nonzero(np.bincount(connectivity,
                                                                           minlength=usable.GetNumberOfPoints())))
    if unused:
        logger.warning("%s: left out %d point(s) that belong to no cell", where, unused)
        compact = vtk.vtkRemoveUnusedPoints()
        compact.SetInputData(as_unstructured_grid(usable))
        compact.GenerateOriginalPointIdsOff()
        compact.Update()
        usable = compact.GetOutput()
    if (cell_types(usable) == vtk.VTK_TRIANGLE_STRIP).any():
        usable = _strips_as_triangles(usable)
    if usable is dataset or not isinstance(dataset, vtk.vtkPolyData):
        return usable
    return as_polydata(usable)


def _strips_as_triangles(dataset: vtk.vtkDataSet) -> vtk.vtkPolyData:
    """Every triangle strip split into its triangles, each with the strip's cell data; other faces kept.

    A strip is one cell of many triangles: no face of the mesh, and the polygon normal of
    its zig-zag outline points anywhere. Faces keep the order of the cells they come from.
    """
    connectivity, offsets = cell_connectivity(dataset)
    sizes = np.diff(offsets)
    strips = np.flatnonzero(cell_types(dataset) == vtk.VTK_TRIANGLE_STRIP)
    kept = np.setdiff1d(np.arange(sizes.size), strips)
    counts = sizes[strips] - 2
    strip_of = np.repeat(strips, counts)
    step = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    corner = offsets[strip_of] + step
    # Every other triangle of a strip runs backwards; swapping two corners keeps one orientation.
    odd = step % 2 == 1
    triangles = np.stack([connectivity[np.where(odd, corner + 1, corner)],
                          connectivity[np.where(odd, corner, corner + 1)], connectivity[corner + 2]], axis=1)
    # Faces in the order of the cells they come from; each a run of the pool below.
    pool = np.concatenate([connectivity, triangles.ravel()])
    source_cells = np.concatenate([kept, strip_of])
    order = np.lexsort((np.concatenate([np.zeros(kept.size, np.int64), step]), source_cells))
    starts = np.concatenate([offsets[kept], connectivity.size + 3 * np.arange(len(triangles))])[order]
    face_sizes = np.concatenate([sizes[kept], np.full(len(triangles), 3)])[order]
    source_cells = source_cells[order]
    face_offsets = np.concatenate([[0], np.cumsum(face_sizes)])
    faces = pool[np.repeat(starts - face_offsets[:-1], face_sizes) + np.arange(face_offsets[-1])]
    polygons = vtk.vtkCellArray()
    polygons.SetData(numpy_to_vtk(face_offsets.astype(np.int64), deep=True),
                     numpy_to_vtk(faces.astype(np.int64), deep=True))
    result = vtk.vtkPolyData()
    result.SetPoints(dataset.GetPoints())
    result.SetPolys(polygons)
    result.GetPointData().ShallowCopy(dataset.GetPointData())
    cell_data = dataset.GetCellData()
    for index in range(cell_data.GetNumberOfArrays()):
        array = cell_data.GetArray(index)  # None for string arrays: no field to learn
        if array is not None:
            copied = numpy_to_vtk(vtk_to_numpy(array)[source_cells].copy(), deep=True, array_type=array.GetDataType())
            copied.SetName(array.GetName())
            result.GetCellData().AddArray(copied)
    return result


def point_coordinates(dataset: vtk.vtkDataSet) -> np.ndarray:
    """Point coordinates as float64, shape (N_points, 3)."""
    if isinstance(dataset, vtk.vtkPointSet):
        points = dataset.GetPoints()
        if points is None:
            return np.zeros((0, 3))
        return vtk_to_numpy(points.GetData()).astype(np.float64).reshape(-1, 3)
    # Image data and rectilinear grids have implicit points.
    return np.array([dataset.GetPoint(i) for i in range(dataset.GetNumberOfPoints())], dtype=np.float64)


def _describe_arrays(data: vtk.vtkFieldData) -> str:
    entries = []
    for index in range(data.GetNumberOfArrays()):
        array = data.GetAbstractArray(index)
        if array is None or array.GetName() is None:
            continue
        entries.append(f"{array.GetName()}({array.GetNumberOfComponents()})")
    return ", ".join(entries) if entries else "none"


def available_fields(dataset: vtk.vtkDataSet) -> dict[str, dict[str, int]]:
    """Names and component counts of the point and cell arrays, by location."""
    result: dict[str, dict[str, int]] = {}
    for location, data in (("point", dataset.GetPointData()), ("cell", dataset.GetCellData())):
        result[location] = {}
        for index in range(data.GetNumberOfArrays()):
            array = data.GetAbstractArray(index)
            if array is not None and array.GetName() is not None:
                result[location][array.GetName()] = array.GetNumberOfComponents()
    return result


def read_fields(
    dataset: vtk.vtkDataSet,
    selectors: Sequence[str | FieldSelector],
    location: str,
    source: str,
) -> tuple[np.ndarray, list[str]]:
    """Gather the selected fields at one location into one float32 array.

    Parameters
    ----------
    dataset : vtk.vtkDataSet
        Mesh holding the arrays.
    selectors : sequence of str or FieldSelector
        Fields to read, in channel order; see :class:`FieldSelector`.
    location : {"cell", "point"}
        Read cell data (one row per cell) or point data (one row per point).
    source : str
        File description used in error messages.

    Returns
    -------
    values : np.ndarray
        float32, shape (N_cells or N_points, C) with C the total selected components.
    channel_names : list of str
        One name per column, e.g. ``["p", "U[0]", "U[1]"]``.

    Raises
    ------
    MissingFieldError
        A field is absent; the message lists the available point and cell arrays.
    NonFiniteFieldError
        A selected field holds NaN or Inf.
    """
    if location not in FIELD_LOCATIONS:
        raise ValueError(f"location must be one of {FIELD_LOCATIONS}, got {location!r}")
    data = dataset.GetCellData() if location == "cell" else dataset.GetPointData()
    n_rows = dataset.GetNumberOfCells() if location == "cell" else dataset.GetNumberOfPoints()
    columns: list[np.ndarray] = []
    names: list[str] = []
    for selector in selectors:
        selector = FieldSelector.parse(selector) if isinstance(selector, str) else selector
        array = data.GetArray(selector.name)
        if array is None:
            other, other_data = ("point", dataset.GetPointData()) if location == "cell" else ("cell", dataset.GetCellData())
            hint = (f"; '{selector.name}' is {other} data here: read it at location '{other}' "
                    f"(lrsa-train: data.volume_location={other} or data.surface_location={other})"
                    if other_data.GetArray(selector.name) is not None else "")
            raise MissingFieldError(
                f"{source}: no {location} field named '{selector.name}'. "
                f"Available {location} fields: {_describe_arrays(data)}; "
                f"other location: {_describe_arrays(other_data)}{hint}"
            )
        values = vtk_to_numpy(array).reshape(n_rows, -1)
        n_components = values.shape[1]
        if selector.components is not None:
            out_of_range = [c for c in selector.components if c >= n_components]
            if out_of_range:
                raise MissingFieldError(
                    f"{source}: {location} field '{selector.name}' has {n_components} "
                    f"component(s); component(s) {out_of_range} do not exist"
                )
            values = values[:, list(selector.components)]
        values = values.astype(np.float32)
        finite = np.isfinite(values)
        if not finite.all():
            bad_rows = int((~finite).any(axis=1).sum())
            raise NonFiniteFieldError(
                f"{source}: {location} field '{selector.name}' has NaN/Inf values at "
                f"{bad_rows} of {n_rows} {location}s"
            )
        columns.append(values)
        names.extend(selector.channel_names(n_components))
    if not columns:
        return np.zeros((n_rows, 0), dtype=np.float32), []
    return np.concatenate(columns, axis=1), names


def cell_measures(dataset: vtk.vtkDataSet, source: str) -> np.ndarray:
    """Size of every cell by its own dimension: volume (3D), area (2D) or length (1D).

    Returns
    -------
    np.ndarray
        float64, shape (N_cells,), all > 0.

    Raises
    ------
    MeshDataError
        Some cells have zero measure (degenerate), so they cannot carry quadrature weight.
    """
    sizer = vtk.vtkCellSizeFilter()
    sizer.SetInputData(dataset)
    sizer.ComputeVertexCountOff()
    sizer.ComputeSumOff()
    sizer.Update()
    cell_data = sizer.GetOutput().GetCellData()
    n_cells = dataset.GetNumberOfCells()
    measure = np.zeros(n_cells, dtype=np.float64)
    # A cell's own measure is the highest-dimensional one that is non-zero.
    for name in ("Length", "Area", "Volume"):
        array = cell_data.GetArray(name)
        if array is None:
            continue
        values = np.abs(vtk_to_numpy(array).astype(np.float64))
        measure = np.where(values > 0, values, measure)
    degenerate = int((measure <= 0).sum())
    if degenerate:
        kinds, counts = np.unique(cell_types(dataset)[measure <= 0], return_counts=True)
        named = ", ".join(f"{count} {_CELL_TYPES.GetClassNameFromTypeId(int(kind))}"
                          for kind, count in zip(kinds, counts))
        raise MeshDataError(
            f"{source}: {degenerate} of {n_cells} cells have zero size ({named}), so they cannot be used as "
            "quadrature weights: degenerate cells, or the vertex cells of a point cloud, which has no cell sizes"
        )
    return measure


def cell_centres(dataset: vtk.vtkDataSet) -> np.ndarray:
    """Centre of every cell, float64 shape (N_cells, 3).

    VTK's parametric centre (vtkCellCenters), except for pyramids: theirs, (0.4, 0.4, 0.2),
    lies off the axis, so a pyramid gets its volume centroid (two tetrahedra, exact for
    a planar base).
    """
    centres = vtk.vtkCellCenters()
    centres.SetInputData(dataset)
    centres.VertexCellsOff()
    centres.CopyArraysOff()
    centres.Update()
    result = point_coordinates(centres.GetOutput())
    if not isinstance(dataset, vtk.vtkUnstructuredGrid):
        return result
    pyramids = np.flatnonzero(cell_types(dataset) == vtk.VTK_PYRAMID)
    if pyramids.size:
        connectivity, offsets = cell_connectivity(dataset)
        corners = point_coordinates(dataset)[connectivity[offsets[pyramids][:, None] + np.arange(5)]]
        halves = (corners[:, [0, 1, 2, 4]], corners[:, [0, 2, 3, 4]])
        volumes = [np.abs(np.linalg.det(tet[:, 1:] - tet[:, :1])) for tet in halves]
        total = volumes[0] + volumes[1]
        centroid = sum(volume[:, None] * tet.mean(axis=1) for volume, tet in zip(volumes, halves))
        # A degenerate pyramid is refused by cell_measures; its centre only has to be finite here.
        result[pyramids] = np.where(total[:, None] > 0, centroid / np.where(total > 0, total, 1.0)[:, None],
                                    corners.mean(axis=1))
    return result


def as_unstructured_grid(dataset: vtk.vtkDataSet) -> vtk.vtkUnstructuredGrid:
    """The dataset as an unstructured grid, cells in the same order (polydata: verts, lines, polys, strips)."""
    if isinstance(dataset, vtk.vtkUnstructuredGrid):
        return dataset
    append = vtk.vtkAppendFilter()
    append.AddInputData(dataset)
    append.Update()
    return append.GetOutput()


def cell_connectivity(dataset: vtk.vtkDataSet) -> tuple[np.ndarray, np.ndarray]:
    """Flat point-id connectivity and offsets of all cells, in cell-id order.

    Returns
    -------
    connectivity : np.ndarray
        int64, shape (sum of cell sizes,).
    offsets : np.ndarray
        int64, shape (N_cells + 1,); cell ``i`` uses ``connectivity[offsets[i]:offsets[i+1]]``.
    """
    cells = as_unstructured_grid(dataset).GetCells()
    connectivity = vtk_to_numpy(cells.GetConnectivityArray()).astype(np.int64)
    offsets = vtk_to_numpy(cells.GetOffsetsArray()).astype(np.int64)
    return connectivity, offsets


def cell_dimension(dataset: vtk.vtkDataSet) -> int:
    """Topological dimension of the dataset's cells: 3 volumes, 2 faces, 1 lines, 0 vertices.

    :func:`read_vtk` keeps the cells of one dimension, so the first cell tells.
    """
    return int(_CELL_TYPES.GetDimension(dataset.GetCellType(0)))


def cell_types(dataset: vtk.vtkDataSet) -> np.ndarray:
    """VTK cell type id of every cell (e.g. ``vtk.VTK_QUAD``), int64 shape (N_cells,)."""
    return vtk_to_numpy(as_unstructured_grid(dataset).GetCellTypes()).astype(np.int64)


def lumped_point_measures(dataset: vtk.vtkDataSet, measures: np.ndarray) -> np.ndarray:
    """Give each point an equal share of the measure of every cell that uses it.

    Parameters
    ----------
    dataset : vtk.vtkDataSet
        Mesh.
    measures : np.ndarray
        Cell measures, shape (N_cells,).

    Returns
    -------
    np.ndarray
        float64, shape (N_points,); sums to ``measures.sum()``.
    """
    connectivity, offsets = cell_connectivity(dataset)
    sizes = np.diff(offsets)
    shares = np.repeat(measures / np.maximum(sizes, 1), sizes)
    return np.bincount(connectivity, weights=shares, minlength=dataset.GetNumberOfPoints())


@dataclass(frozen=True)
class PointSet:
    """Field samples at points of a mesh, with quadrature weights.

    Attributes
    ----------
    positions : np.ndarray
        float64, shape (N, 3): cell centres (cell data) or mesh points (point data).
    values : np.ndarray
        float32, shape (N, C): the selected field components.
    channel_names : list of str
        C names, e.g. ``["p", "U[0]", "U[1]"]``.
    weights : np.ndarray
        float64, shape (N,), > 0: cell measures or lumped point measures.
    """

    positions: np.ndarray
    values: np.ndarray
    channel_names: list[str]
    weights: np.ndarray


def extract_point_set(
    dataset: vtk.vtkDataSet,
    selectors: Sequence[str | FieldSelector],
    location: str = "cell",
    source: str = "<dataset>",
) -> PointSet:
    """Read the selected fields with their positions and quadrature weights.

    Parameters
    ----------
    dataset : vtk.vtkDataSet
        Mesh from :func:`read_vtk`.
    selectors : sequence of str or FieldSelector
        Fields, see :class:`FieldSelector`. May be empty (positions and weights only).
    location : {"cell", "point"}
        ``"cell"``: one sample per cell at its centre, weight = cell measure.
        ``"point"``: one sample per mesh point, weight = lumped cell measure.
    source : str
        File description for error messages.

    Returns
    -------
    PointSet
    """
    values, names = read_fields(dataset, selectors, location, source)
    measures = cell_measures(dataset, source)
    if location == "cell":
        positions = cell_centres(dataset)
        weights = measures
    else:
        positions = point_coordinates(dataset)
        weights = lumped_point_measures(dataset, measures)
        unused = int((weights <= 0).sum())
        if unused:
            raise MeshDataError(
                f"{source}: {unused} points belong to no cell, so point data there has no "
                "quadrature weight; use location='cell' or clean the mesh"
            )
    return PointSet(positions=positions, values=values, channel_names=names, weights=weights)


def as_polydata(dataset: vtk.vtkDataSet) -> vtk.vtkPolyData:
    """The dataset as polydata (surfaces read from .vtu/.vtk are converted, order kept)."""
    if isinstance(dataset, vtk.vtkPolyData):
        return dataset
    geometry = vtk.vtkGeometryFilter()
    geometry.SetInputData(dataset)
    geometry.MergingOff()
    geometry.Update()
    return geometry.GetOutput()
