# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""A user's own 3D OpenFOAM case, as foamToVTK exports it, without running OpenFOAM.

The defects here were found on the windAroundBuildings tutorial (simpleFoam, snappyHexMesh:
buildings on a ground plane, docs/datapipes.md "A 3D external flow"); the fixtures rebuild
their shape in miniature: a block mesh of unit hexahedra with the cells of a building left
out, its boundary faces oriented as OpenFOAM orients them (out of the fluid), written in
foamToVTK's XML layout (``VTK/<case>_<time>.vtm`` with ``internal.vtu`` and either one
``boundary/<patch>.vtp`` per patch or, with ``-one-boundary``, one ``boundary.vtp``).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import shutil

import numpy as np
import pytest
import vtk
from openfoam_utils import require_openfoam, tutorial_folder  # noqa: F401  (pytest fixture)
from vtk.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray

from modulus_lrsa.datapipes import MeshCache, MeshCacheConfig, build_cache
from modulus_lrsa.datapipes.cases import CaseEntry, resolve_case
from modulus_lrsa.datapipes.features import extract_features
from modulus_lrsa.errors import MeshDataError, MissingCaseFileError
from modulus_lrsa.geometry.surface import surface_from_vtk
from modulus_lrsa.io.readers import read_vtk

# Hexahedron faces as VTK numbers its corners (0-3 bottom, 4-7 top), each ordered so that
# its right-hand normal points out of the cell, with the neighbour across it.
_HEX_FACES = (
    ((0, 3, 2, 1), (0, 0, -1)), ((4, 5, 6, 7), (0, 0, 1)),
    ((0, 1, 5, 4), (0, -1, 0)), ((3, 7, 6, 2), (0, 1, 0)),
    ((0, 4, 7, 3), (-1, 0, 0)), ((1, 2, 6, 5), (1, 0, 0)),
)
_CORNERS = ((0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1))


def _grid(shape, solid):
    """Unit hexahedra on ``shape`` cells, those where ``solid`` is true left out (a body, not fluid).

    Returns the volume (cell data ``p`` and ``U``) and the boundary faces by patch, each a
    list of corner-id quads ordered out of the fluid, as OpenFOAM orders wall faces.
    """
    nx, ny, nz = shape
    point_id = np.arange((nx + 1) * (ny + 1) * (nz + 1)).reshape(nx + 1, ny + 1, nz + 1)
    points = np.stack(np.meshgrid(*(np.arange(n + 1.0) for n in shape), indexing="ij"), axis=-1).reshape(-1, 3)
    cells, patches = [], {"ground": [], "buildings": [], "top": [], "sides": []}
    for i, j, k in np.ndindex(*shape):
        if solid[i, j, k]:
            continue
        corners = [point_id[i + a, j + b, k + c] for a, b, c in _CORNERS]
        cells.append(corners)
        for face, (di, dj, dk) in _HEX_FACES:
            ni, nj, nk = i + di, j + dj, k + dk
            inside = 0 <= ni < nx and 0 <= nj < ny and 0 <= nk < nz
            if inside and not solid[ni, nj, nk]:
                continue
            patch = "buildings" if inside else "ground" if nk < 0 else "top" if nk >= nz else "sides"
            patches[patch].append([corners[n] for n in face])
    centres = points[np.array(cells)].mean(axis=1)
    volume = vtk.vtkUnstructuredGrid()
    volume.SetPoints(_points(points))
    volume.SetCells(vtk.VTK_HEXAHEDRON, _cell_array(cells))
    _add(volume, "p", 1.0 + centres[:, 2])
    _add(volume, "U", np.stack([centres[:, 2], 0 * centres[:, 0], 0 * centres[:, 0]], axis=1))
    return volume, points, {name: faces for name, faces in patches.items() if faces}


def _points(coordinates):
    points = vtk.vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(coordinates, dtype=np.float64), deep=True))
    return points


def _cell_array(cells):
    cells = np.asarray(cells, dtype=np.int64)
    flat = np.hstack([np.full((len(cells), 1), cells.shape[1]), cells]).ravel()
    array = vtk.vtkCellArray()
    array.ImportLegacyFormat(numpy_to_vtkIdTypeArray(flat, deep=True))
    return array


def _add(dataset, name, values):
    array = numpy_to_vtk(np.ascontiguousarray(values, dtype=np.float32), deep=True)
    array.SetName(name)
    dataset.GetCellData().AddArray(array)


def _patch(points, faces):
    """A patch as foamToVTK writes it: its own points only, faces renumbered."""
    used, local = np.unique(np.asarray(faces), return_inverse=True)
    surface = vtk.vtkPolyData()
    surface.SetPoints(_points(points[used]))
    surface.SetPolys(_cell_array(local.reshape(len(faces), 4)))
    _add(surface, "p", np.ones(len(faces)))
    return surface


def _write(dataset, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = vtk.vtkXMLUnstructuredGridWriter() if isinstance(dataset, vtk.vtkUnstructuredGrid) else vtk.vtkXMLPolyDataWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(dataset)
    assert writer.Write() == 1


def foam_to_vtk_case(case, shape, solid, one_boundary=None, time_index=100):
    """``case/VTK/<case>_<time_index>.vtm`` as foamToVTK writes it; ``one_boundary`` lists the
    patches of a ``-patches (...) -one-boundary`` export (written as the block ``boundary``)."""
    volume, points, patches = _grid(shape, solid)
    stem = f"{case.name}_{time_index}"
    folder = case / "VTK" / stem
    _write(volume, folder / "internal.vtu")
    if one_boundary is None:
        for name, faces in patches.items():
            _write(_patch(points, faces), folder / "boundary" / f"{name}.vtp")
        entries = "    <Block name='boundary'>\n" + "".join(
            f"      <DataSet name='{name}' file='{stem}/boundary/{name}.vtp' />\n" for name in patches
        ) + "    </Block>\n"
    else:
        _write(_patch(points, [face for name in one_boundary for face in patches[name]]), folder / "boundary.vtp")
        entries = f"    <DataSet name='boundary' file='{stem}/boundary.vtp' />\n"
    (case / "VTK" / f"{stem}.vtm").write_text(
        "<?xml version='1.0'?>\n<VTKFile type='vtkMultiBlockDataSet' version='1.0' byte_order='LittleEndian' "
        "header_type='UInt64'>\n  <vtkMultiBlockDataSet>\n"
        f"    <DataSet name='internal' file='{stem}/internal.vtu' />\n{entries}"
        "  </vtkMultiBlockDataSet>\n</VTKFile>\n"
    )
    return case


SHAPE = (8, 8, 4)


def _building():
    solid = np.zeros(SHAPE, dtype=bool)
    # A 2 x 1 x 3 tower on the ground: slender, off the centre of its vertices, like the tutorial's
    # buildings against their large ground (the open wall's enclosed volume then comes out positive).
    solid[2:4, 2:3, 0:3] = True
    return solid


def _surface(case, block):
    config = MeshCacheConfig(volume_fields=["U", "p"], surface_fields=["p"], surface_block=block)
    arrays, summary = extract_features(resolve_case(CaseEntry(case.name, "train", case), config), config)
    assert summary["has_geometry"]
    return arrays


def _away_from_the_building(positions):
    """The outward normal of the building's face at each face centre: the side of the block it lies on."""
    low, high = np.array([2.0, 2.0, 0.0]), np.array([4.0, 3.0, 3.0])
    return np.where(np.isclose(positions, high), 1.0, np.where(np.isclose(positions, low), -1.0, 0.0))


def test_a_ground_exported_with_the_body_as_one_boundary_has_its_normals_into_the_fluid(tmp_path):
    # foamToVTK -patches '(buildings ground)' -one-boundary, then data.surface_block=boundary (the
    # documented way to learn several walls): the enclosed-volume vote of the open wall made the
    # ground's normals and every building face's point down and in, out of the fluid, so the
    # surface points' direction inputs and the integrated forces had the wrong sign.
    case = foam_to_vtk_case(tmp_path / "wind8", SHAPE, _building(), one_boundary=("buildings", "ground"))
    arrays = _surface(case, "boundary")
    positions, normals = arrays.surface_positions.astype(np.float64), arrays.surface_normals.astype(np.float64)
    ground = np.isclose(positions[:, 2], 0.0)
    assert ground.sum() == 8 * 8 - 2 * 1
    np.testing.assert_allclose(normals[ground], np.tile([0.0, 0.0, 1.0], (ground.sum(), 1)), atol=1e-6)
    np.testing.assert_allclose(normals[~ground], _away_from_the_building(positions[~ground]), atol=1e-6)
    # The wall distances do not depend on the orientation: the nearest cells are half a cell off.
    assert arrays.volume_distance.min() == pytest.approx(0.5) and arrays.volume_distance.max() < 4.0
    # The fix is not the enclosed-volume vote's: the same open wall, alone, is oriented the other way.
    wall = surface_from_vtk(read_vtk(next((case / "VTK").glob("*.vtm")), "boundary"), None, "boundary")
    assert wall.orientation_sign == 1


def test_the_body_patch_alone_keeps_its_normals_out_of_the_body(tmp_path):
    # data.surface_block=buildings: an open surface (no bottom faces), oriented right before too.
    case = foam_to_vtk_case(tmp_path / "wind8", SHAPE, _building())
    arrays = _surface(case, "buildings")
    positions = arrays.surface_positions.astype(np.float64)
    assert len(positions) == 2 * 1 + 2 * (2 * 3 + 1 * 3)  # the roof and four sides
    np.testing.assert_allclose(arrays.surface_normals, _away_from_the_building(positions), atol=1e-6)


def test_walls_that_enclose_the_fluid_have_their_normals_into_it(tmp_path):
    # An internal flow (a 3D cavity or duct): all walls as one boundary enclose the fluid, so the
    # enclosed-volume vote kept OpenFOAM's faces pointing out of the fluid, into the walls.
    case = foam_to_vtk_case(tmp_path / "box", (4, 4, 4), np.zeros((4, 4, 4), dtype=bool),
                            one_boundary=("ground", "top", "sides"))
    arrays = _surface(case, "boundary")
    towards_centre = np.array([2.0, 2.0, 2.0]) - arrays.surface_positions
    assert len(towards_centre) == 6 * 16
    assert (np.einsum("ij,ij->i", arrays.surface_normals, towards_centre) > 0).all()


def test_a_cache_of_format_2_is_rebuilt_saying_its_normals_may_point_out_of_the_fluid(tmp_path, caplog):
    root = tmp_path / "cases"
    for speed in (6, 8, 10):
        foam_to_vtk_case(root / f"wind{speed}", SHAPE, _building(), one_boundary=("buildings", "ground"))
    config = MeshCacheConfig(volume_fields=["p"], surface_fields=["p"], surface_block="boundary", test_fraction=0.0)
    cache = build_cache(root, tmp_path / "cache", config)
    fresh = cache.load_case("wind6")["surface_normals"]
    index_path = tmp_path / "cache" / "index.json"
    index = json.loads(index_path.read_text())
    index["format_version"] = 2
    index_path.write_text(json.dumps(index))
    with pytest.raises(MeshDataError, match=r"cache format 2 .*wall normals out of the fluid.*rebuild"):
        MeshCache.open(tmp_path / "cache")
    rebuilt = build_cache(root, tmp_path / "cache", config)
    assert "cache format 2" in caplog.text and "rebuilding every case" in caplog.text
    np.testing.assert_array_equal(rebuilt.load_case("wind6")["surface_normals"], fresh)


def foam_to_vtk_legacy_case(case, shape, solid, time_index=100):
    """``foamToVTK -legacy``: ``VTK/<case>_<time>.vtk`` and ``VTK/<patch>/<patch>_<time>.vtk``."""
    volume, points, patches = _grid(shape, solid)
    files = [(volume, case / "VTK" / f"{case.name}_{time_index}.vtk")]
    files += [(_patch(points, faces), case / "VTK" / name / f"{name}_{time_index}.vtk") for name, faces in patches.items()]
    for dataset, path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = vtk.vtkUnstructuredGridWriter() if isinstance(dataset, vtk.vtkUnstructuredGrid) else vtk.vtkPolyDataWriter()
        writer.SetFileName(str(path))
        writer.SetInputData(dataset)
        assert writer.Write() == 1
    return case


def test_a_legacy_export_with_a_surface_block_set_is_told_the_file_of_that_patch(tmp_path):
    # data.surface_block=ground on a -legacy export (which has no blocks): the advice named the
    # first patch in alphabetical order ('buildings'), not the one asked for.
    case = foam_to_vtk_legacy_case(tmp_path / "wind8", SHAPE, _building())
    config = MeshCacheConfig(volume_fields=["p"], volume_file="VTK/*_*.vtk", surface_fields=["p"], surface_block="ground")
    with pytest.raises(MissingCaseFileError, match=r"set data\.surface_file='VTK/ground/\*\.vtk' \(data\.surface_block=ground\)"):
        resolve_case(CaseEntry("wind8", "train", case), config)
    config = dataclasses.replace(config, surface_file="VTK/ground/*.vtk")  # the advice, followed
    arrays, _ = extract_features(resolve_case(CaseEntry("wind8", "train", case), config), config)
    assert len(arrays.surface_positions) == 8 * 8 - 2 * 1


def test_the_ground_alone_as_the_wall_of_a_coarse_mesh_is_accepted_with_its_normals_up(tmp_path):
    # data.surface_block=ground: the flat wall lies half a cell below the lowest cell centre, more
    # than the 5% margin of the cell centres' box on a coarse mesh, and was refused as lying
    # outside the volume; its enclosed volume is zero, so nothing oriented its normals either.
    case = foam_to_vtk_case(tmp_path / "wind8", SHAPE, _building())
    arrays = _surface(case, "ground")
    assert len(arrays.surface_normals) == 8 * 8 - 2 * 1
    np.testing.assert_allclose(arrays.surface_normals, np.tile([0.0, 0.0, 1.0], (62, 1)), atol=1e-6)
    # Away from the hole the building leaves in the ground, a cell's distance is its height.
    x, y, z = arrays.volume_positions.T
    clear = (np.abs(x - 3.0) > 2.0) | (np.abs(y - 2.5) > 1.5)
    np.testing.assert_allclose(arrays.volume_distance[clear], z[clear], rtol=1e-6)


def _coarse_wind_around_buildings(openfoam, case):
    """The simpleFoam windAroundBuildings tutorial, meshed coarsely (about 4,000 cells) and run 20 steps."""
    shutil.copytree(tutorial_folder("incompressible/simpleFoam/windAroundBuildings"), case)
    for packed in case.rglob("*.gz"):
        packed.with_suffix("").write_bytes(gzip.decompress(packed.read_bytes()))
        packed.unlink()
    mesh = case / "system" / "blockMeshDict"
    text = mesh.read_text()
    for axis, cells in (("x", 12), ("y", 10), ("z", 5)):
        text = re.sub(rf"{axis}Cells\s+\d+;", f"{axis}Cells {cells};", text)
    mesh.write_text(text)
    snappy = case / "system" / "snappyHexMeshDict"
    snappy.write_text(snappy.read_text().replace("level (3 3);", "level (1 1);").replace("levels ((1E15 2));", "levels ((1E15 1));"))
    control = case / "system" / "controlDict"
    text = re.sub(r"functions\s*\{.*?\n\}", "functions\n{\n}", control.read_text(), flags=re.S)
    text = re.sub(r"^endTime\s+\S+;", "endTime 20;", text, flags=re.M)
    control.write_text(re.sub(r"^writeInterval\s+\S+;", "writeInterval 20;", text, flags=re.M))
    for tool, arguments in (("surfaceFeatureExtract", ()), ("blockMesh", ()), ("snappyHexMesh", ("-overwrite",))):
        openfoam.run(tool, case, arguments)
    shutil.copytree(case / "0.orig", case / "0")
    openfoam.run("simpleFoam", case)
    return case


@pytest.mark.openfoam
def test_wind_around_buildings_exported_with_its_ground_as_one_boundary_has_its_normals_into_the_fluid(
    require_openfoam, tmp_path
):
    # The real export the synthetic fixtures above stand for: snappyHexMesh's buildings on the
    # ground, foamToVTK -patches '(buildings ground)' -one-boundary, data.surface_block=boundary.
    case = _coarse_wind_around_buildings(require_openfoam, tmp_path / "wind10")
    require_openfoam.run("foamToVTK", case, ("-latestTime", "-patches", "(buildings ground)", "-one-boundary"))
    arrays = _surface(case, "boundary")
    positions, normals = arrays.surface_positions, arrays.surface_normals
    ground = np.abs(positions[:, 2]) < 1e-3  # the ground is z = 0, the roofs are metres up
    assert ground.sum() > 100 and (~ground).sum() > 100
    np.testing.assert_allclose(normals[ground], np.tile([0.0, 0.0, 1.0], (ground.sum(), 1)), atol=1e-5)
    roofs = ~ground & (np.abs(normals[:, 2]) > 0.99)
    assert roofs.sum() > 10 and (normals[roofs, 2] > 0).all()  # up, out of the buildings
    # Distances: never negative, at most the domain's height (140 m) away from the ground.
    assert arrays.volume_distance.min() > 0 and arrays.volume_distance.max() < 140.0
