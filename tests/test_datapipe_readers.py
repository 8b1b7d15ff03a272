# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""VTK readers: exact round trips, cell centres and weights, and clear errors on bad files."""

import numpy as np
import pytest
import vtk
from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

from modulus_lrsa.errors import (
    CorruptFileError,
    EmptyMeshError,
    MeshDataError,
    MissingFieldError,
    NonFiniteFieldError,
)
from modulus_lrsa.geometry.surface import surface_cell_normals, surface_from_vtk
from modulus_lrsa.io import readers
from modulus_lrsa.io.fields import (
    FieldSelector,
    channels_of,
    columns_in,
    field_of,
    group_channels,
    place_channels,
    target_layout,
)
from modulus_lrsa.io.readers import extract_point_set, list_blocks, read_vtk

# Graded spacing so that cell volumes differ from cell to cell.
X_NODES = np.array([0.0, 0.1, 0.3, 0.7, 1.5])
Y_NODES = np.array([0.0, 0.5, 1.0])
Z_NODES = np.array([-1.0, 0.0, 0.25])


def pressure(points):
    return points[:, 0] * points[:, 1] + points[:, 2]


def box_grid():
    """Hexahedral box with point fields T (scalar), U (vector) and cell field p, all analytic."""
    nx, ny, nz = len(X_NODES), len(Y_NODES), len(Z_NODES)
    gx, gy, gz = np.meshgrid(X_NODES, Y_NODES, Z_NODES, indexing="ij")
    points = np.stack([gx, gy, gz], axis=-1).reshape(-1, 3)

    def node(i, j, k):
        return (i * ny + j) * nz + k

    hexes, centres = [], []
    for i in range(nx - 1):
        for j in range(ny - 1):
            for k in range(nz - 1):
                hexes.append(
                    [node(i, j, k), node(i + 1, j, k), node(i + 1, j + 1, k), node(i, j + 1, k),
                     node(i, j, k + 1), node(i + 1, j, k + 1), node(i + 1, j + 1, k + 1), node(i, j + 1, k + 1)]
                )
                centres.append(points[hexes[-1]].mean(axis=0))
    grid = vtk.vtkUnstructuredGrid()
    vtk_points = vtk.vtkPoints()
    vtk_points.SetData(numpy_to_vtk(points.astype(np.float64), deep=True))
    grid.SetPoints(vtk_points)
    for cell in hexes:
        grid.InsertNextCell(vtk.VTK_HEXAHEDRON, 8, cell)
    centres = np.array(centres)
    fields = {
        "T": (points[:, 0] + 2 * points[:, 1] - points[:, 2]).astype(np.float32),
        "U": np.stack([points[:, 1], -points[:, 0], np.full(len(points), 0.5)], axis=1).astype(np.float32),
    }
    for name, values in fields.items():
        array = numpy_to_vtk(values, deep=True)
        array.SetName(name)
        grid.GetPointData().AddArray(array)
    p = numpy_to_vtk(pressure(centres).astype(np.float32), deep=True)
    p.SetName("p")
    grid.GetCellData().AddArray(p)
    return grid, points, centres, fields


def write(dataset, path, writer_class):
    writer = writer_class()
    writer.SetFileName(str(path))
    writer.SetInputData(dataset)
    if hasattr(writer, "SetDataModeToBinary"):
        writer.SetDataModeToBinary()
    assert writer.Write() == 1
    return path


def cell_volumes():
    dx, dy, dz = np.diff(X_NODES), np.diff(Y_NODES), np.diff(Z_NODES)
    return np.einsum("i,j,k->ijk", dx, dy, dz).reshape(-1)


@pytest.mark.parametrize("suffix, writer_class", [(".vtu", vtk.vtkXMLUnstructuredGridWriter), (".vtk", vtk.vtkUnstructuredGridWriter)])
def test_point_fields_round_trip_exactly(tmp_path, suffix, writer_class):
    grid, points, _, fields = box_grid()
    path = write(grid, tmp_path / f"box{suffix}", writer_class)
    point_set = extract_point_set(read_vtk(path), ["T", "U"], "point", str(path))
    assert point_set.channel_names == ["T", "U[0]", "U[1]", "U[2]"]
    np.testing.assert_array_equal(point_set.positions, points)
    np.testing.assert_array_equal(point_set.values, np.concatenate([fields["T"][:, None], fields["U"]], axis=1))
    # Lumped point weights carry the whole volume.
    assert point_set.weights.sum() == pytest.approx(cell_volumes().sum(), rel=1e-12)


def test_cell_data_sits_at_cell_centres_with_volume_weights(tmp_path):
    grid, _, centres, _ = box_grid()
    path = write(grid, tmp_path / "box.vtu", vtk.vtkXMLUnstructuredGridWriter)
    point_set = extract_point_set(read_vtk(path), ["p"], "cell", str(path))
    np.testing.assert_allclose(point_set.positions, centres, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(point_set.values[:, 0], pressure(centres).astype(np.float32))
    np.testing.assert_allclose(point_set.weights, cell_volumes(), rtol=1e-12)


@pytest.mark.parametrize("cell_types", ["vtkCellTypeUtilities", "vtkCellTypes"])  # VTK >= 9.6, and before
def test_boundary_faces_beside_the_volume_cells_are_left_out(tmp_path, caplog, monkeypatch, cell_types):
    monkeypatch.setattr(readers, "_CELL_TYPES", getattr(vtk, cell_types))
    # meshio writes a mesh's boundary facets into the same .vtu as its volume cells: their
    # areas are no volumes, and their rows no volume samples.
    grid, points, centres, _ = box_grid()
    boundary = vtk.vtkGeometryFilter()
    boundary.SetInputData(grid)
    boundary.PassThroughPointIdsOn()
    boundary.Update()
    faces = boundary.GetOutput()
    original_ids = faces.GetPointData().GetArray(boundary.GetOriginalPointIdsName())
    for face in range(faces.GetNumberOfCells()):
        ids = [int(original_ids.GetTuple1(faces.GetCell(face).GetPointId(k))) for k in range(4)]
        grid.InsertNextCell(vtk.VTK_QUAD, 4, ids)
    p = np.concatenate([pressure(centres), np.full(faces.GetNumberOfCells(), 1e3)]).astype(np.float32)
    grid.GetCellData().RemoveArray("p")
    grid.GetCellData().AddArray(numpy_to_vtk(p, deep=True))
    grid.GetCellData().GetArray(0).SetName("p")
    path = write(grid, tmp_path / "meshio.vtu", vtk.vtkXMLUnstructuredGridWriter)
    with caplog.at_level("WARNING"):
        dataset = read_vtk(path)
    assert dataset.GetNumberOfCells() == len(centres) and dataset.GetCellData().GetNumberOfArrays() == 1
    assert "meshio.vtu: left out 40 2D cell(s)" in caplog.text and "its 16 3D cells" in caplog.text
    cells = extract_point_set(dataset, ["p"], "cell", str(path))
    np.testing.assert_allclose(cells.weights, cell_volumes(), rtol=1e-12)
    np.testing.assert_array_equal(cells.values[:, 0], pressure(centres).astype(np.float32))
    nodes = extract_point_set(dataset, ["T"], "point", str(path))
    np.testing.assert_array_equal(nodes.positions, points)
    assert nodes.weights.sum() == pytest.approx(cell_volumes().sum(), rel=1e-12)


def test_points_of_no_cell_are_left_out(tmp_path, caplog):
    # meshio scripts that keep only the tetrahedra of a Gmsh mesh keep all its points too:
    # point data there lies outside the domain and has no quadrature weight.
    grid, points, _, fields = box_grid()
    for extra in ([5.0, 5.0, 5.0], [6.0, 5.0, 5.0]):
        grid.GetPoints().InsertNextPoint(*extra)
    for name, values in fields.items():
        padded = np.concatenate([values, np.zeros((2,) + values.shape[1:], np.float32)])
        grid.GetPointData().RemoveArray(name)
        array = numpy_to_vtk(padded, deep=True)
        array.SetName(name)
        grid.GetPointData().AddArray(array)
    path = write(grid, tmp_path / "orphans.vtu", vtk.vtkXMLUnstructuredGridWriter)
    with caplog.at_level("WARNING"):
        dataset = read_vtk(path)
    assert "orphans.vtu: left out 2 point(s) that belong to no cell" in caplog.text
    nodes = extract_point_set(dataset, ["T", "U"], "point", str(path))
    # The used points are kept with their values (VTK numbers them by first use).
    order = np.lexsort(nodes.positions.T)
    np.testing.assert_array_equal(nodes.positions[order], points[np.lexsort(points.T)])
    np.testing.assert_array_equal(nodes.values[order, 0], fields["T"][np.lexsort(points.T)])
    assert nodes.weights.sum() == pytest.approx(cell_volumes().sum(), rel=1e-12)
    assert dataset.GetPointData().GetNumberOfArrays() == 2


def test_triangle_strips_are_read_as_their_triangles(tmp_path):
    # A strip is one cell of many triangles: its Newell "normal" and its centre mean nothing.
    sphere = vtk.vtkSphereSource()
    sphere.SetThetaResolution(16)
    sphere.SetPhiResolution(8)
    stripper = vtk.vtkStripper()
    stripper.SetInputConnection(sphere.GetOutputPort())
    stripper.Update()
    strips = stripper.GetOutput()
    sizes = np.diff(vtk_to_numpy(strips.GetStrips().GetOffsetsArray()))
    label = numpy_to_vtk(np.arange(len(sizes), dtype=np.float32), deep=True)
    label.SetName("strip")
    strips.GetCellData().AddArray(label)
    path = write(strips, tmp_path / "strips.vtp", vtk.vtkXMLPolyDataWriter)
    dataset = read_vtk(path)
    assert dataset.GetNumberOfCells() == (sizes - 2).sum() and dataset.GetNumberOfStrips() == 0
    faces = extract_point_set(dataset, ["strip"], "cell", str(path))
    np.testing.assert_array_equal(faces.values[:, 0], np.repeat(np.arange(len(sizes)), sizes - 2))
    normals = surface_cell_normals(dataset, surface_from_vtk(dataset))
    assert (np.einsum("ij,ij->i", normals, faces.positions) > 0).all()
    whole = extract_point_set(strips, [], "cell")
    assert faces.weights.sum() == pytest.approx(whole.weights.sum(), rel=1e-12)


@pytest.mark.parametrize("cell_types", ["vtkCellTypeUtilities", "vtkCellTypes"])  # VTK >= 9.6, and before
def test_a_point_cloud_of_vertex_cells_is_refused_naming_the_cells(tmp_path, monkeypatch, cell_types):
    monkeypatch.setattr(readers, "_CELL_TYPES", getattr(vtk, cell_types))
    cloud = vtk.vtkPolyData()
    vtk_points = vtk.vtkPoints()
    vertices = vtk.vtkCellArray()
    for index in range(5):
        vtk_points.InsertNextPoint(index, 0.0, 0.0)
        vertices.InsertNextCell(1, [index])
    cloud.SetPoints(vtk_points)
    cloud.SetVerts(vertices)
    path = write(cloud, tmp_path / "cloud.vtp", vtk.vtkXMLPolyDataWriter)
    with pytest.raises(MeshDataError, match=r"cloud.vtp: 5 of 5 cells have zero size \(5 vtkVertex\)"):
        extract_point_set(read_vtk(path), [], "cell", str(path))


def test_a_pyramid_sample_sits_at_its_centroid():
    # VTK's parametric centre of a pyramid, (0.4, 0.4, 0.2), lies off its axis: 8% of the base
    # width towards the first corner. Hex-dominant meshes have pyramids at every transition.
    grid = vtk.vtkUnstructuredGrid()
    vtk_points = vtk.vtkPoints()
    vtk_points.SetDataTypeToDouble()
    for corner in ([0, 0, 0], [2, 0, 0], [2, 2, 0], [0, 2, 0], [1, 1, 1.2]):
        vtk_points.InsertNextPoint(*corner)
    grid.SetPoints(vtk_points)
    grid.InsertNextCell(vtk.VTK_PYRAMID, 5, list(range(5)))
    pyramid = extract_point_set(grid, [], "cell", "pyramid")
    np.testing.assert_allclose(pyramid.positions[0], [1.0, 1.0, 1.2 / 4], atol=1e-12)
    assert pyramid.weights[0] == pytest.approx(4.0 * 1.2 / 3.0, rel=1e-12)


def test_component_selection_and_parsing():
    assert FieldSelector.parse("U[0, 2]") == FieldSelector("U", (0, 2))
    assert FieldSelector.parse("wallShearStress") == FieldSelector("wallShearStress", None)
    assert FieldSelector("U", (0, 2)).channel_names(3) == ["U[0]", "U[2]"]
    with pytest.raises(ValueError, match="not understood"):
        FieldSelector.parse("U[0")
    grid, _, _, fields = box_grid()
    values = extract_point_set(grid, ["U[1]"], "point").values
    np.testing.assert_array_equal(values[:, 0], fields["U"][:, 1])
    with pytest.raises(MissingFieldError, match=r"component\(s\) \[3\]"):
        extract_point_set(grid, ["U[3]"], "point", "box")


def test_multiblock_in_foamtovtk_layout(tmp_path):
    grid, _, centres, _ = box_grid()
    folder = tmp_path / "VTK" / "case_100"
    (folder / "boundary").mkdir(parents=True)
    write(grid, folder / "internal.vtu", vtk.vtkXMLUnstructuredGridWriter)
    sphere = vtk.vtkSphereSource()
    sphere.Update()
    write(sphere.GetOutput(), folder / "boundary" / "walls.vtp", vtk.vtkXMLPolyDataWriter)
    vtm = tmp_path / "VTK" / "case_100.vtm"
    vtm.write_text(
        "<?xml version='1.0'?>\n"
        "<VTKFile type='vtkMultiBlockDataSet' version='1.0' byte_order='LittleEndian' header_type='UInt64'>\n"
        "  <vtkMultiBlockDataSet>\n"
        "    <DataSet name='internal' file='case_100/internal.vtu' />\n"
        "    <Block name='boundary'>\n"
        "      <DataSet name='walls' file='case_100/boundary/walls.vtp' />\n"
        "    </Block>\n"
        "  </vtkMultiBlockDataSet>\n"
        "</VTKFile>\n"
    )
    assert list_blocks(vtm) == ["internal", "boundary/walls"]
    internal = read_vtk(vtm, "internal")
    np.testing.assert_array_equal(extract_point_set(internal, ["p"], "cell").values[:, 0], pressure(centres).astype(np.float32))
    assert read_vtk(vtm, "walls").GetNumberOfPoints() == sphere.GetOutput().GetNumberOfPoints()
    assert read_vtk(vtm, "boundary/walls").GetNumberOfCells() == sphere.GetOutput().GetNumberOfCells()
    with pytest.raises(ValueError, match=r"no block named 'inlet' \(available: internal, boundary/walls\)"):
        read_vtk(vtm, "inlet")
    with pytest.raises(ValueError, match="blocks .*; choose one: lrsa-train data.volume_block="):
        read_vtk(vtm)


def test_stl_surface_is_read(tmp_path):
    sphere = vtk.vtkSphereSource()
    sphere.Update()
    path = write(sphere.GetOutput(), tmp_path / "body.stl", vtk.vtkSTLWriter)
    surface = read_vtk(path)
    assert surface.GetNumberOfCells() == sphere.GetOutput().GetNumberOfCells()


@pytest.mark.parametrize(
    "suffix, writer_class, keep_fraction",
    [
        (".vtu", vtk.vtkXMLUnstructuredGridWriter, 0.6),
        (".vtk", vtk.vtkUnstructuredGridWriter, 0.6),
        (".stl", vtk.vtkSTLWriter, 0.5),
    ],
)
def test_truncated_files_raise_naming_the_file(tmp_path, suffix, writer_class, keep_fraction):
    if suffix == ".stl":
        source = vtk.vtkSphereSource()
        source.Update()
        dataset = source.GetOutput()
    else:
        dataset = box_grid()[0]
    path = write(dataset, tmp_path / f"whole{suffix}", writer_class)
    data = path.read_bytes()
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(data[: int(len(data) * keep_fraction)])
    with pytest.raises(CorruptFileError, match=f"truncated{suffix}"):
        read_vtk(truncated)


def test_garbage_missing_and_unknown_files(tmp_path):
    garbage = tmp_path / "garbage.vtu"
    garbage.write_text("this is not xml")
    with pytest.raises(CorruptFileError, match="garbage.vtu"):
        read_vtk(garbage)
    with pytest.raises(CorruptFileError, match="does not exist"):
        read_vtk(tmp_path / "missing.vtu")
    unknown = tmp_path / "mesh.msh"
    unknown.write_text("x")
    with pytest.raises(CorruptFileError, match="unsupported file type '.msh'"):
        read_vtk(unknown)


def test_missing_field_lists_what_is_available(tmp_path):
    grid, *_ = box_grid()
    path = write(grid, tmp_path / "box.vtu", vtk.vtkXMLUnstructuredGridWriter)
    with pytest.raises(MissingFieldError) as error:
        extract_point_set(read_vtk(path), ["nut"], "cell", str(path))
    message = str(error.value)
    assert "box.vtu" in message and "'nut'" in message
    assert "Available cell fields: p(1)" in message and "T(1), U(3)" in message
    # Point data asked for at cells (an export of point data only) says how to read it.
    with pytest.raises(MissingFieldError, match=r"'T' is point data here: .*data.volume_location=point"):
        extract_point_set(read_vtk(path), ["T"], "cell", str(path))


def test_non_finite_field_is_reported(tmp_path):
    grid, *_ = box_grid()
    grid.GetCellData().GetArray("p").SetValue(3, np.nan)
    grid.GetCellData().GetArray("p").SetValue(5, np.inf)
    path = write(grid, tmp_path / "nan.vtu", vtk.vtkXMLUnstructuredGridWriter)
    with pytest.raises(NonFiniteFieldError, match=r"nan.vtu: cell field 'p' has NaN/Inf values at 2 of 16 cells"):
        extract_point_set(read_vtk(path), ["p"], "cell", str(path))


def test_empty_mesh_is_reported(tmp_path):
    path = write(vtk.vtkUnstructuredGrid(), tmp_path / "empty.vtu", vtk.vtkXMLUnstructuredGridWriter)
    with pytest.raises(EmptyMeshError, match=r"empty.vtu: mesh is empty \(0 points, 0 cells\)"):
        read_vtk(path)


def test_channel_names_and_layouts_have_one_parser():
    channels = ["U[0]", "U[1]", "p", "tau[0]", "tau[1]"]
    assert [field_of(name) for name in channels] == ["U", "U", "p", "tau", "tau"]
    assert channels_of("tau", channels) == ["tau[0]", "tau[1]"]
    assert channels_of("U", ["Ux", "U[0]"]) == ["U[0]"]
    assert dict(group_channels(channels)) == {"U": [0, 1], "p": [2], "tau": [3, 4]}
    layout = target_layout(["U[0]", "U[1]", "p"], ["p", "tau[0]", "tau[1]"])
    assert layout == channels and columns_in(layout, ["p", "tau[1]"]) == [2, 4]
    surface = np.array([[1.0, 2.0, 3.0]])
    placed = place_channels(surface, ["p", "tau[0]", "tau[1]"], layout)
    np.testing.assert_array_equal(placed[0, 2:], [1.0, 2.0, 3.0])
    assert np.isnan(placed[0, :2]).all()


@pytest.mark.parametrize("width", [2, 3])
def test_point_cloud_writes_one_vertex_cell_per_point(tmp_path, width):
    """The vectorized point cloud (whole offset and connectivity arrays) is the same
    dataset the per-point InsertNextCell loop built: vertex i holds point i, 2D points get
    z = 0, and ParaView's reader gets it back from the .vtp."""
    from modulus_lrsa.io.writers import add_array, atomic_write_vtk, point_cloud

    positions = np.random.default_rng(0).random((257, width))
    cloud = point_cloud(positions)
    add_array(cloud, "p_predicted", positions[:, 0], "point")
    path = tmp_path / "volume.vtp"
    atomic_write_vtk(cloud, path)
    reader = vtk.vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    back = reader.GetOutput()
    assert back.GetNumberOfPoints() == back.GetNumberOfVerts() == back.GetNumberOfCells() == 257
    for index in (0, 100, 256):
        cell = back.GetCell(index)
        assert cell.GetCellType() == vtk.VTK_VERTEX and cell.GetNumberOfPoints() == 1 and cell.GetPointId(0) == index
    expected = np.concatenate([positions, np.zeros((257, 3 - width))], axis=1)
    np.testing.assert_allclose(vtk_to_numpy(back.GetPoints().GetData()), expected)
    np.testing.assert_allclose(vtk_to_numpy(back.GetPointData().GetArray("p_predicted")), positions[:, 0], rtol=1e-6)
