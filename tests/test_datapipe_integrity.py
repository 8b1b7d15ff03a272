# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Damaged files never turn into training data: fuzzing every supported format.

Each format is written by VTK itself from one small mesh with point and cell fields,
then cut at many offsets and hit by single-bit flips in its header and in its data.
Every damaged copy must either raise a ``MeshDataError`` when read the way the cache
reads it (the mesh, then every field of the intact file), or give back exactly the
intact data. The one exception is stated, not hidden: a flip inside an uncompressed
value can turn it into another valid value, and these formats carry no checksum, so
such a copy may differ in the one or two numbers the flipped byte encodes (never in
shape, names, counts or anything else).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import vtk
from vtk.util.numpy_support import numpy_to_vtk

from modulus_lrsa.errors import CorruptFileError, MeshDataError
from modulus_lrsa.io.readers import available_fields, cell_connectivity, point_coordinates, read_fields, read_vtk

N_TRUNCATIONS = 40
N_FLIPS = 40


def _mesh() -> vtk.vtkUnstructuredGrid:
    """A 6x5 quad grid in 3D with a scalar and a vector on points and on cells."""
    points = vtk.vtkPoints()
    nx, ny = 7, 6
    for j in range(ny):
        for i in range(nx):
            points.InsertNextPoint(0.1 * i, 0.13 * j + 0.01 * i, 0.0)
    grid = vtk.vtkUnstructuredGrid()
    grid.SetPoints(points)
    for j in range(ny - 1):
        for i in range(nx - 1):
            ids = [j * nx + i, j * nx + i + 1, (j + 1) * nx + i + 1, (j + 1) * nx + i]
            grid.InsertNextCell(vtk.VTK_QUAD, 4, ids)
    rng = np.random.default_rng(0)
    for data, rows in ((grid.GetPointData(), grid.GetNumberOfPoints()), (grid.GetCellData(), grid.GetNumberOfCells())):
        for name, width in (("p", 1), ("U", 3)):
            array = numpy_to_vtk(rng.normal(size=(rows, width)).astype(np.float32), deep=True)
            array.SetName(name)
            data.AddArray(array)
    return grid


def _surface() -> vtk.vtkPolyData:
    geometry = vtk.vtkGeometryFilter()
    geometry.SetInputData(_mesh())
    geometry.Update()
    return geometry.GetOutput()


def _xml(writer: vtk.vtkXMLWriter, dataset, path: Path, mode: str) -> None:
    writer.SetInputData(dataset)
    writer.SetFileName(str(path))
    if mode == "inline":  # what OpenFOAM's foamToVTK writes: inline base64, uncompressed
        writer.SetDataModeToBinary()
        writer.SetCompressorTypeToNone()
    elif mode == "appended-zlib":  # VTK's and ParaView's default
        writer.SetDataModeToAppended()
        writer.SetCompressorTypeToZLib()
    assert writer.Write() == 1


def _legacy(path: Path, binary: bool, version: int) -> None:
    writer = vtk.vtkUnstructuredGridWriter()
    writer.SetInputData(_mesh())
    writer.SetFileName(str(path))
    writer.SetFileVersion(version)
    writer.SetFileTypeToBinary() if binary else writer.SetFileTypeToASCII()
    assert writer.Write() == 1


def _stl(path: Path, binary: bool) -> None:
    triangles = vtk.vtkTriangleFilter()
    triangles.SetInputData(_surface())
    writer = vtk.vtkSTLWriter()
    writer.SetInputConnection(triangles.GetOutputPort())
    writer.SetFileName(str(path))
    writer.SetFileTypeToBinary() if binary else writer.SetFileTypeToASCII()
    assert writer.Write() == 1


def _multiblock(path: Path) -> None:
    blocks = vtk.vtkMultiBlockDataSet()
    blocks.SetBlock(0, _mesh())
    blocks.GetMetaData(0).Set(vtk.vtkCompositeDataSet.NAME(), "internal")
    blocks.SetBlock(1, _surface())
    blocks.GetMetaData(1).Set(vtk.vtkCompositeDataSet.NAME(), "walls")
    _xml(vtk.vtkXMLMultiBlockDataWriter(), blocks, path, "inline")


FORMATS = {
    "vtu-inline": ("mesh.vtu", lambda p: _xml(vtk.vtkXMLUnstructuredGridWriter(), _mesh(), p, "inline"), None),
    "vtu-appended-zlib": ("mesh.vtu", lambda p: _xml(vtk.vtkXMLUnstructuredGridWriter(), _mesh(), p, "appended-zlib"), None),
    "vtp-inline": ("walls.vtp", lambda p: _xml(vtk.vtkXMLPolyDataWriter(), _surface(), p, "inline"), None),
    "vtk-ascii-v4.2": ("mesh.vtk", lambda p: _legacy(p, binary=False, version=42), None),
    "vtk-binary-v4.2": ("mesh.vtk", lambda p: _legacy(p, binary=True, version=42), None),
    "vtk-ascii-v5.1": ("mesh.vtk", lambda p: _legacy(p, binary=False, version=51), None),
    "vtk-binary-v5.1": ("mesh.vtk", lambda p: _legacy(p, binary=True, version=51), None),
    "stl-ascii": ("walls.stl", lambda p: _stl(p, binary=False), None),
    "stl-binary": ("walls.stl", lambda p: _stl(p, binary=True), None),
    "vtm": ("case.vtm", _multiblock, "internal"),
}


def _read_as_cache_does(path: Path, block: str | None, fields: dict[str, list[str]] | None) -> dict[str, np.ndarray]:
    """Mesh, connectivity and the given fields (default: all there are) as arrays."""
    dataset = read_vtk(path, block)
    connectivity, offsets = cell_connectivity(dataset)
    if path.suffix == ".stl":
        # The STL reader merges coincident vertices, so compare the triangles as stored.
        content = {"triangle_vertices": point_coordinates(dataset)[connectivity], "offsets": offsets}
    else:
        content = {"points": point_coordinates(dataset), "connectivity": connectivity, "offsets": offsets}
    fields = fields if fields is not None else {loc: sorted(names) for loc, names in available_fields(dataset).items()}
    for location, names in fields.items():
        for name in names:
            content[f"{location}/{name}"] = read_fields(dataset, [name], location, str(path))[0]
    return content


def _differing_values(got: dict[str, np.ndarray], intact: dict[str, np.ndarray]) -> int:
    if got.keys() != intact.keys() or any(got[k].shape != intact[k].shape for k in intact):
        return 1 << 30
    return sum(int(np.count_nonzero(got[k] != intact[k])) for k in intact)


def _damaged_copies(data: bytes, seed: int):
    """(label, bytes, allowed differing values): truncations, then header and data bit flips."""
    for offset in sorted({int(len(data) * f) for f in np.linspace(0.0, 0.995, N_TRUNCATIONS)}):
        yield f"cut at {offset}", data[:offset], 0
    rng = random.Random(seed)
    header = min(len(data), 600)
    for flip in range(N_FLIPS):
        position = rng.randrange(header) if flip % 2 == 0 else rng.randrange(len(data))
        damaged = bytearray(data)
        damaged[position] ^= 1 << rng.randrange(8)
        yield f"bit flip at byte {position}", bytes(damaged), 2


@pytest.mark.parametrize("kind", list(FORMATS))
def test_damaged_file_raises_or_reads_back_the_intact_data(kind, tmp_path):
    name, write, block = FORMATS[kind]
    original = tmp_path / "intact" / name
    original.parent.mkdir()
    write(original)
    intact = _read_as_cache_does(original, block, None)
    fields = {loc: sorted(names) for loc, names in available_fields(read_vtk(original, block)).items()}
    # Damage the file the reader opens; for the multiblock, its internal mesh as well.
    victims = [original]
    if kind == "vtm":
        victims += sorted(p for p in original.parent.rglob("*.vt[up]"))
    problems = []
    for victim in victims:
        data = victim.read_bytes()
        for label, damaged, allowed in _damaged_copies(data, seed=len(data)):
            victim.write_bytes(damaged)
            try:
                got = _read_as_cache_does(original, block, fields)
            except MeshDataError:
                continue
            finally:
                victim.write_bytes(data)
            differing = _differing_values(got, intact)
            if differing > allowed:
                problems.append(f"{victim.name}: {label}: {differing} values differ")
    assert not problems, "damaged files read without error:\n" + "\n".join(problems[:20])


def test_multiblock_with_a_missing_or_empty_referenced_file_names_it(tmp_path):
    index = tmp_path / "case.vtm"
    _multiblock(index)
    piece = next(p for p in tmp_path.rglob("*.vtp"))
    piece.write_bytes(b"")
    with pytest.raises(CorruptFileError, match=rf"case.vtm: references .*{piece.name}, which is empty"):
        read_vtk(index, "internal")
    piece.unlink()
    with pytest.raises(CorruptFileError, match=rf"case.vtm: references .*{piece.name}, which does not exist"):
        read_vtk(index, "internal")


@pytest.mark.parametrize("mode", ["inline", "appended-zlib"])
def test_a_truncated_piece_of_a_multiblock_is_named_not_the_index(tmp_path, mode):
    # A copy of case_500/internal.vtu cut short: VTK's message quoted a line and byte of
    # "case.vtm", a file that is intact, sending the user to the wrong file.
    index = tmp_path / "case.vtm"
    _multiblock(index)
    piece = next(tmp_path.rglob("*.vtu"))
    _xml(vtk.vtkXMLUnstructuredGridWriter(), _mesh(), piece, mode)
    piece.write_bytes(piece.read_bytes()[: piece.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match=rf"^{re.escape(str(piece))}: .*truncated"):
        read_vtk(index, "internal")


def test_legacy_file_cut_in_its_cell_data_names_the_short_array(tmp_path):
    path = tmp_path / "mesh.vtk"
    _legacy(path, binary=False, version=42)
    text = path.read_bytes()
    cut = text.index(b"CELL_DATA") + 200
    path.write_bytes(text[:cut] + b"\n")
    with pytest.raises(CorruptFileError, match=r"mesh.vtk: .*declares \d+ values but the file ends"):
        read_vtk(path)


def test_short_binary_legacy_array_is_an_error_not_a_warning(tmp_path):
    path = tmp_path / "mesh.vtk"
    _legacy(path, binary=True, version=42)
    data = path.read_bytes()
    path.write_bytes(data[: int(0.9 * len(data))])
    with pytest.raises(CorruptFileError, match="mesh.vtk"):
        read_vtk(path)


def test_array_longer_or_shorter_than_the_mesh_is_rejected(tmp_path):
    grid = _mesh()
    short = numpy_to_vtk(np.zeros(grid.GetNumberOfCells() - 1, dtype=np.float32), deep=True)
    short.SetName("nut")
    grid.GetCellData().AddArray(short)
    # The legacy writer stores the short array as it is and VTK's reader accepts it.
    path = tmp_path / "mesh.vtk"
    writer = vtk.vtkUnstructuredGridWriter()
    writer.SetInputData(grid)
    writer.SetFileName(str(path))
    writer.Write()
    with pytest.raises(CorruptFileError, match=r"cell array 'nut' has \d+ values, but the mesh has \d+ cells"):
        read_vtk(path)


def test_a_truncated_case_is_skipped_and_counted_never_cached(tmp_path):
    from modulus_lrsa.datapipes import MeshCacheConfig, build_cache

    root = tmp_path / "cases"
    for index in range(3):
        (root / f"case{index}").mkdir(parents=True)
        _legacy(root / f"case{index}" / "mesh.vtk", binary=True, version=42)
    damaged = root / "case1" / "mesh.vtk"
    data = damaged.read_bytes()
    damaged.write_bytes(data[: int(0.9 * len(data))])
    config = MeshCacheConfig(volume_fields=["p", "U"], volume_file="mesh.vtk", case_pattern="case*", test_fraction=0.0)
    cache = build_cache(root, tmp_path / "cache", config, on_error="skip")
    assert [case["case_id"] for case in cache.cases()] == ["case0", "case2"]
    assert len(cache.index.skipped) == 1 and cache.index.skipped[0]["case_id"] == "case1"
    assert "mesh.vtk" in cache.index.skipped[0]["reason"] and "truncated" in cache.index.skipped[0]["reason"]
    with pytest.raises(CorruptFileError, match="case1/mesh.vtk"):
        build_cache(root, tmp_path / "cache_raise", config, on_error="raise")


def test_errors_with_extra_attributes_survive_the_trip_from_a_worker_process():
    # build_cache's preprocessing workers send a case's error to the parent by pickle; one
    # that does not unpickle breaks the whole pool, on_error="skip" or not.
    import pickle

    from modulus_lrsa.errors import MissingCaseFileError, SurfaceAsVolumeError

    for error in (
        MissingCaseFileError("case_3: no volume file", Path("case_3"), "volume", "VTK/*.vtm"),
        SurfaceAsVolumeError("wall.vtp: faces, not cells", Path("wall.vtp"), 2, 3),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and vars(copy) == vars(error)
