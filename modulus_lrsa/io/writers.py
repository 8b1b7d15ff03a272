# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Writing predictions as VTK XML files that ParaView opens directly.

Every file is written through :func:`modulus_lrsa.atomic.atomic_replace` (temporary
sibling, fsync, rename, folder fsync), so a reader never sees a half-written result.
Vector components (``U[0]``, ``U[1]``, see :mod:`modulus_lrsa.io.fields`) are gathered
back into one multi-component array ``U_predicted``, which ParaView shows as a vector
with its magnitude.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray

from modulus_lrsa.atomic import atomic_replace, atomic_write_text
from modulus_lrsa.io.fields import group_channels

#: VTK's vtkIdType as a NumPy dtype (64-bit in every current build).
_VTK_ID = np.int64 if vtk.vtkIdTypeArray().GetDataTypeSize() == 8 else np.int32

_WRITERS = {
    ".vtu": vtk.vtkXMLUnstructuredGridWriter,
    ".vtp": vtk.vtkXMLPolyDataWriter,
    ".vti": vtk.vtkXMLImageDataWriter,
}


def add_array(dataset: vtk.vtkDataSet, name: str, values: np.ndarray, location: str) -> None:
    """Attach ``values`` (n,) or (n, k) as a float32 point or cell array named ``name``."""
    values = np.ascontiguousarray(np.asarray(values, dtype=np.float32))
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    expected = dataset.GetNumberOfCells() if location == "cell" else dataset.GetNumberOfPoints()
    if values.shape[0] != expected:
        raise ValueError(f"array '{name}' has {values.shape[0]} rows, the dataset has {expected} {location}s")
    array = numpy_to_vtk(values, deep=True)
    array.SetName(name)
    data = dataset.GetCellData() if location == "cell" else dataset.GetPointData()
    data.AddArray(array)


def add_fields(
    dataset: vtk.vtkDataSet,
    names: Sequence[str],
    values: np.ndarray,
    location: str,
    suffix: str,
) -> None:
    """Attach every field of ``values`` (n, C), one array per field named ``<field><suffix>``."""
    for base, columns in group_channels(names).items():
        add_array(dataset, f"{base}{suffix}", values[:, columns], location)


def point_cloud(positions: np.ndarray) -> vtk.vtkPolyData:
    """Vertices at ``positions`` (n, 2 or 3); 2D positions get z = 0."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.shape[1] == 2:
        positions = np.concatenate([positions, np.zeros((positions.shape[0], 1))], axis=1)
    points = vtk.vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(positions), deep=True))
    cloud = vtk.vtkPolyData()
    cloud.SetPoints(points)
    # One vertex cell per point, handed to VTK as whole offset and connectivity arrays:
    # a Python loop of InsertNextCell calls took minutes at 10M points.
    count = positions.shape[0]
    vertices = vtk.vtkCellArray()
    vertices.SetData(numpy_to_vtkIdTypeArray(np.arange(count + 1, dtype=_VTK_ID), deep=True),
                     numpy_to_vtkIdTypeArray(np.arange(count, dtype=_VTK_ID), deep=True))
    cloud.SetVerts(vertices)
    return cloud


def image_grid(x: np.ndarray, y: np.ndarray) -> vtk.vtkImageData:
    """A uniform 2D grid with nodes ``x`` (R,) by ``y`` (R,); point ``(i, j)`` is id ``i + j * R``."""
    grid = vtk.vtkImageData()
    grid.SetDimensions(len(x), len(y), 1)
    grid.SetOrigin(float(x[0]), float(y[0]), 0.0)
    spacing_x = float(x[1] - x[0]) if len(x) > 1 else 1.0
    spacing_y = float(y[1] - y[0]) if len(y) > 1 else 1.0
    grid.SetSpacing(spacing_x, spacing_y, 1.0)
    return grid


def atomic_write_vtk(dataset: vtk.vtkDataSet, path: str | os.PathLike) -> Path:
    """Write ``dataset`` as VTK XML (``.vtu``, ``.vtp`` or ``.vti``) atomically.

    Raises
    ------
    ValueError
        Unknown extension, or a dataset type the extension cannot hold.
    OSError
        The VTK writer failed.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in _WRITERS:
        raise ValueError(f"{target}: unsupported output type '{suffix}'; expected one of {sorted(_WRITERS)}")

    def write(temporary: Path) -> None:
        writer = _WRITERS[suffix]()
        writer.SetFileName(str(temporary))
        writer.SetInputData(dataset)
        writer.SetDataModeToAppended()
        writer.EncodeAppendedDataOff()
        if writer.Write() != 1:
            raise OSError(f"{target}: the VTK writer failed")
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())

    return atomic_replace(target, write, suffix=suffix)


def atomic_write_multiblock_index(path: str | os.PathLike, blocks: Mapping[str, str]) -> Path:
    """Write a ``.vtm`` that groups already written files, ``{block name: relative file}``.

    ParaView opens the ``.vtm`` as one multiblock dataset with one block per file.
    """
    target = Path(path)
    entries = "\n".join(
        f'    <DataSet index="{index}" name={quoteattr(name)} file={quoteattr(file)}/>'
        for index, (name, file) in enumerate(blocks.items())
    )
    text = (
        '<?xml version="1.0"?>\n'
        '<VTKFile type="vtkMultiBlockDataSet" version="1.0" byte_order="LittleEndian">\n'
        "  <vtkMultiBlockDataSet>\n"
        f"{entries}\n"
        "  </vtkMultiBlockDataSet>\n"
        "</VTKFile>\n"
    )
    return atomic_write_text(target, text)
