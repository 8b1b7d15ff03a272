# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Walls that are not watertight: the winding number, the wall report, and the walls refused (issue 29 item 5).

Every shape is built here and, where a file is the point, written to ``tmp_path`` and read
back as ``lrsa-predict --sample-volume`` reads it. Sampled points are checked against the
body's exact shape: each body here is a convex polyhedron (polygon), or a union of two,
so "inside" is "behind every face plane".
"""

import json
import logging

import numpy as np
import pytest
import vtk

from modulus_lrsa.errors import EmptyMeshError, MeshDataError, NonFiniteFieldError
from modulus_lrsa.geometry import (
    BodySurface,
    assess_wall,
    require_fluid_side,
    sample_volume,
    surface_from_vtk,
    winding_number,
)
from modulus_lrsa.geometry.quality import MAX_UNDECIDED_SHARE
from modulus_lrsa.io.readers import read_vtk

SAMPLING_LOGGER = "modulus_lrsa.geometry.sampling"


def uv_sphere(theta=48, phi=24, start_phi=0.0, end_phi=180.0, rotate_z=0.0):
    """Unit UV sphere (or the band of it between two polar angles), optionally turned about z."""
    source = vtk.vtkSphereSource()
    source.SetRadius(1.0)
    source.SetThetaResolution(theta)
    source.SetPhiResolution(phi)
    source.SetStartPhi(start_phi)
    source.SetEndPhi(end_phi)
    source.Update()
    transform = vtk.vtkTransform()
    transform.RotateZ(rotate_z)
    turned = vtk.vtkTransformFilter()
    turned.SetTransform(transform)
    turned.SetInputData(source.GetOutput())
    turned.Update()
    return turned.GetOutput()


def box_polydata(lower, upper, subdivisions=2):
    """Closed, outward box, each face split into 2 * 4**subdivisions triangles."""
    cube = vtk.vtkCubeSource()
    cube.SetBounds(lower[0], upper[0], lower[1], upper[1], lower[2], upper[2])
    triangles = vtk.vtkTriangleFilter()
    triangles.SetInputConnection(cube.GetOutputPort())
    finer = vtk.vtkLinearSubdivisionFilter()
    finer.SetInputConnection(triangles.GetOutputPort())
    finer.SetNumberOfSubdivisions(subdivisions)
    finer.Update()
    return finer.GetOutput()


def polydata(vertices, faces):
    """Triangles (3 ids a face) or, with 2D vertices, the one-cell-thick ribbon of a contour (2 ids)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    points = vtk.vtkPoints()
    cells = vtk.vtkCellArray()
    if vertices.shape[1] == 3:
        for point in vertices:
            points.InsertNextPoint(*point)
        for face in faces:
            cells.InsertNextCell(3, [int(index) for index in face])
    else:
        count = len(vertices)
        for depth in (0.0, 0.1):
            for x, y in vertices:
                points.InsertNextPoint(x, y, depth)
        for a, b in faces:
            # OpenFOAM's order: the normal out of the fluid, into the body.
            cells.InsertNextCell(4, [int(a), int(a) + count, int(b) + count, int(b)])
    data = vtk.vtkPolyData()
    data.SetPoints(points)
    data.SetPolys(cells)
    return data


def append(*parts):
    """The parts as one dataset, their vertices kept apart."""
    joined = vtk.vtkAppendPolyData()
    for part in parts:
        joined.AddInputData(part)
    joined.Update()
    return joined.GetOutput()


def surface_of(data):
    """A dataset's triangles as an outward BodySurface (no file)."""
    return surface_from_vtk(data, None, "<test>")


def write(data, path):
    """Write an STL (binary) or a VTP file, as a CAD export or a wall patch would be."""
    writer = vtk.vtkSTLWriter() if path.suffix == ".stl" else vtk.vtkXMLPolyDataWriter()
    if path.suffix == ".stl":
        writer.SetFileTypeToBinary()
    writer.SetFileName(str(path))
    writer.SetInputData(data)
    assert writer.Write() == 1
    return path


def load(path, planar_axis=None):
    """The wall as ``lrsa-predict --sample-volume`` builds it from the file."""
    return surface_from_vtk(read_vtk(path), planar_axis, str(path))


def circle(segments=240, keep=1.0):
    """Unit circle, counter-clockwise, with its last ``1 - keep`` of segments left out."""
    angles = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    vertices = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    faces = np.stack([np.arange(segments), (np.arange(segments) + 1) % segments], axis=1)
    return vertices, faces[: int(round(keep * segments))]


def depth_inside(points, normals, offsets):
    """How far each point is behind every plane ``normal . x = offset`` (negative: in front of one)."""
    return -(points @ np.asarray(normals).T - np.asarray(offsets)).max(axis=1)


def planes_of(surface):
    """Outward unit normals and offsets of a convex surface's face planes."""
    keep = surface.face_measures() > 0
    normals = surface.face_normals()[keep]
    return normals, np.einsum("ij,ij->i", normals, surface.face_centroids()[keep])


def box_planes(lower, upper):
    eye = np.eye(3)
    return np.concatenate([eye, -eye]), np.concatenate([np.asarray(upper), -np.asarray(lower)])


def exact_winding_number_3d(vertices, faces, points):
    """Sum of the triangles' signed solid angles over 4 pi (Van Oosterom and Strackee), in float64."""
    a, b, c = (vertices[faces[:, i]][None, :, :] - points[:, None, :] for i in range(3))
    la, lb, lc = (np.linalg.norm(v, axis=2) for v in (a, b, c))
    triple = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
    dots = np.einsum("pfi,pfi->pf", a, b) * lc + np.einsum("pfi,pfi->pf", a, c) * lb + np.einsum("pfi,pfi->pf", b, c) * la
    return (2.0 * np.arctan2(triple, la * lb * lc + dots)).sum(axis=1) / (4 * np.pi)


def exact_winding_number_2d(vertices, faces, points):
    """Sum of the segments' signed angles over 2 pi, in float64."""
    a = vertices[faces[:, 0]][None, :, :] - points[:, None, :]
    b = vertices[faces[:, 1]][None, :, :] - points[:, None, :]
    cross = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return np.arctan2(cross, np.einsum("pfi,pfi->pf", a, b)).sum(axis=1) / (2 * np.pi)


def one_line_refusal(error, path):
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(str(path)), message
    return message


def wall_warnings(caplog):
    return [record.getMessage() for record in caplog.records if record.name == SAMPLING_LOGGER and record.levelno == logging.WARNING]


# The generalised winding number itself.


def test_winding_number_3d_matches_the_exact_solid_angle_sum_on_an_open_wall():
    sphere = surface_of(uv_sphere(24, 12))
    keep = sphere.face_centroids()[:, 2] < 0.6  # a hole around the north pole
    opened = BodySurface(sphere.vertices, sphere.faces[keep])
    points = np.random.default_rng(0).uniform(-1.5, 1.5, size=(400, 3))
    exact = exact_winding_number_3d(opened.vertices, opened.faces, points)
    fast = winding_number(opened, points).numpy()
    # Warp's hierarchy takes far clusters by their dipole expansion, in float32.
    np.testing.assert_allclose(fast, exact, atol=5e-3)
    assert (exact > 0.05).any() and (exact < 0.95).any(), "the probes must see the hole's in-between values"


def test_winding_number_counts_overlapping_closed_parts_and_is_0_or_1_about_a_closed_one():
    boxes = surface_of(append(box_polydata((0.0, 0.0, 0.0), (2.0, 1.0, 1.0), 1), box_polydata((1.0, 0.2, 0.3), (3.0, 1.2, 1.3), 1)))
    probes = np.array([[0.5, 0.5, 0.5], [1.5, 0.6, 0.6], [2.5, 0.7, 0.8], [1.5, 0.1, 0.1], [4.0, 0.0, 0.0], [-1.0, 2.0, 3.0]])
    np.testing.assert_allclose(winding_number(boxes, probes).numpy(), [1, 2, 1, 1, 0, 0], atol=2e-3)


def test_winding_number_2d_matches_the_exact_angle_sum():
    vertices, faces = circle(90, keep=0.8)
    contour = BodySurface(vertices, faces, planar_axis=2)
    points = np.random.default_rng(1).uniform(-1.5, 1.5, size=(500, 2))
    exact = exact_winding_number_2d(vertices, faces, points)
    np.testing.assert_allclose(winding_number(contour, points).numpy(), exact, atol=1e-9)


# Walls whose fluid side is told: sampled outside the body, with the findings logged.


def test_a_closed_sphere_stl_is_watertight_and_sampled_without_warnings(tmp_path, caplog):
    path = write(uv_sphere(), tmp_path / "sphere.stl")
    sphere = load(path)
    with caplog.at_level(logging.WARNING, logger=SAMPLING_LOGGER):
        sample = sample_volume(sphere, 1500, [-2.0] * 3, [2.0] * 3, seed=0, near_wall_fraction=0.5)
    wall = sample.wall
    assert wall.watertight and wall.warnings == () and wall_warnings(caplog) == []
    assert (wall.open_edges, wall.non_manifold_edges, wall.duplicate_faces, wall.parts) == (0, 0, 0, 1)
    assert wall.undecided_share == 0.0 and wall.buried_share == 0.0
    assert (wall.sampled_points, wall.uncertain_points) == (1500, 0)
    assert wall.source == str(path)
    record = json.loads(json.dumps(wall.as_dict()))
    assert record["watertight"] is True and record["open_edges"] == 0


def test_a_sphere_stl_with_a_hole_is_sampled_outside_the_truncated_sphere_and_warns(tmp_path, caplog):
    sphere = surface_of(uv_sphere(48, 24))
    cut = np.cos(np.radians(45.0))
    # Whole latitude bands are cut, so the rim is one planar ring of 48 edges at height z_rim.
    keep = sphere.face_centroids()[:, 2] < cut
    z_rim = sphere.vertices[sphere.faces[keep]][:, :, 2].max()
    path = write(polydata(sphere.vertices, sphere.faces[keep]), tmp_path / "holed_sphere.stl")
    wall = load(path)
    with caplog.at_level(logging.WARNING, logger=SAMPLING_LOGGER):
        sample = sample_volume(wall, 4000, [-2.0] * 3, [2.0] * 3, seed=2, near_wall_fraction=0.5, near_wall_thickness=0.1)
    report = sample.wall
    assert report.open_edges == 48 and report.non_manifold_edges == 0 and not report.watertight
    assert 0.1 < report.undecided_share < MAX_UNDECIDED_SHARE
    messages = wall_warnings(caplog)
    assert any(message.startswith(f"{path}: 48 open edges") and "wrong side" in message for message in messages), messages
    # The winding number's level 1/2 closes a planar hole with the flat cap: the body is the
    # sphere's polyhedron cut by the rim's plane, and the missing cap beyond it is fluid.
    normals, offsets = planes_of(sphere)
    normals, offsets = np.concatenate([normals, [[0.0, 0.0, 1.0]]]), np.append(offsets, z_rim)
    points = sample.points.double().numpy()
    # Float32 winding numbers blur the cap by little more than round-off.
    assert depth_inside(points, normals, offsets).max() < 2e-3
    axis = np.zeros((40, 3))
    axis[:, 2] = np.linspace(-0.95, 0.95, 40)
    side = winding_number(wall, axis).numpy() >= 0.5
    np.testing.assert_array_equal(side[np.abs(axis[:, 2] - z_rim) > 0.02], axis[np.abs(axis[:, 2] - z_rim) > 0.02, 2] < z_rim)
    # Points near the hole are told apart less surely, and the report says how many.
    assert report.uncertain_points > 0
    assert any(f"{report.uncertain_points} of the 4000 sampled points" in message for message in messages)


def test_a_sphere_of_two_halves_meeting_without_shared_vertices_is_not_refused(tmp_path, caplog):
    """A seam of a multi-part export: the halves' rims are holes to the topology, not to the winding number."""
    upper, lower = uv_sphere(48, 24, 0.0, 90.0), uv_sphere(32, 24, 90.0, 180.0, rotate_z=1.3)
    path = write(append(upper, lower), tmp_path / "two_halves.stl")
    wall = load(path)
    with caplog.at_level(logging.WARNING, logger=SAMPLING_LOGGER):
        sample = sample_volume(wall, 3000, [-2.0] * 3, [2.0] * 3, seed=4, near_wall_fraction=0.5, near_wall_thickness=0.1)
    report = sample.wall
    assert report.parts == 2 and report.open_edges == 48 + 32 and report.undecided_share < 0.01
    assert any(message.startswith(f"{path}: 80 open edges") for message in wall_warnings(caplog))
    points = sample.points.double().numpy()
    for half, below in ((surface_of(upper), False), (surface_of(lower), True)):
        normals, offsets = planes_of(half)
        side = np.array([[0.0, 0.0, -1.0 if not below else 1.0]])
        in_half = depth_inside(points, np.concatenate([normals, side]), np.append(offsets, 0.0))
        assert in_half.max() < 1e-4


def test_two_overlapping_closed_boxes_are_sampled_outside_their_union(tmp_path, caplog):
    first, second = ((0.0, 0.0, 0.0), (2.0, 1.0, 1.0)), ((1.05, 0.45, 0.55), (3.05, 1.45, 1.55))
    path = write(append(box_polydata(*first), box_polydata(*second)), tmp_path / "overlapping.stl")
    wall = load(path)
    with caplog.at_level(logging.WARNING, logger=SAMPLING_LOGGER):
        sample = sample_volume(wall, 3000, [-1.0] * 3, [4.0, 2.5, 2.5], seed=1, near_wall_fraction=0.5, near_wall_thickness=0.1)
    report = sample.wall
    assert report.watertight and report.parts == 2 and report.undecided_share == 0.0
    # Each box has 1.1975 of its area 10 inside the other.
    assert report.buried_share == pytest.approx(2 * 1.1975 / 20.0, abs=0.01)
    assert any("has the body on both sides" in message for message in wall_warnings(caplog))
    points = sample.points.double().numpy()
    for box in (first, second):
        assert depth_inside(points, *box_planes(*box)).max() < 1e-5


def test_boxes_glued_along_an_edge_name_their_non_manifold_edges(tmp_path, caplog):
    # The boxes share the edge x = y = 1, split into 4 edges by the subdivision: each used by four triangles.
    first, second = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), ((1.0, 1.0, 0.0), (2.0, 2.0, 1.0))
    path = write(append(box_polydata(*first), box_polydata(*second)), tmp_path / "glued.stl")
    wall = load(path)
    with caplog.at_level(logging.WARNING, logger=SAMPLING_LOGGER):
        sample = sample_volume(wall, 2000, [-0.5] * 3, [2.5, 2.5, 1.5], seed=3, near_wall_fraction=0.5, near_wall_thickness=0.1)
    report = sample.wall
    assert (report.non_manifold_edges, report.open_edges, report.parts) == (4, 0, 1)
    assert any(message.startswith(f"{path}: 4 non-manifold edges") and "nearest" in message for message in wall_warnings(caplog))
    points = sample.points.double().numpy()
    for box in (first, second):
        assert depth_inside(points, *box_planes(*box)).max() < 1e-5


def test_a_duplicated_face_is_named_and_the_body_unchanged(tmp_path, caplog):
    box = surface_of(box_polydata((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    path = write(polydata(box.vertices, np.concatenate([box.faces, box.faces[:1]])), tmp_path / "duplicated.stl")
    wall = load(path)
    with caplog.at_level(logging.WARNING, logger=SAMPLING_LOGGER):
        sample = sample_volume(wall, 2000, [-0.5] * 3, [1.5] * 3, seed=5, near_wall_fraction=0.5, near_wall_thickness=0.05)
    report = sample.wall
    assert (report.duplicate_faces, report.non_manifold_edges, report.open_edges) == (1, 3, 0)
    messages = wall_warnings(caplog)
    assert any(message.startswith(f"{path}: 3 non-manifold edges") for message in messages), messages
    assert any(message.startswith(f"{path}: 1 triangle repeating others") for message in messages), messages
    assert depth_inside(sample.points.double().numpy(), *box_planes((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))).max() < 1e-5


def test_a_circle_contour_with_a_gap_is_sampled_outside_the_cut_disc(tmp_path, caplog):
    vertices, faces = circle(240, keep=11 / 12)  # a 30 degree gap
    path = write(polydata(vertices, faces), tmp_path / "gap.vtp")
    contour = load(path, planar_axis=2)
    with caplog.at_level(logging.WARNING, logger=SAMPLING_LOGGER):
        sample = sample_volume(contour, 3000, [-2.0, -2.0], [2.0, 2.0], seed=6, near_wall_fraction=0.5, near_wall_thickness=0.05)
    report = sample.wall
    assert report.dim == 2 and report.open_edges == 2 and report.undecided_share < MAX_UNDECIDED_SHARE
    assert any(message.startswith(f"{path}: 2 open ends") for message in wall_warnings(caplog))
    # The body is the polygon closed by the gap's chord: convex, its sides and the chord.
    a, b = vertices[faces[:, 0]], vertices[faces[:, 1]]
    normals = np.stack([b[:, 1] - a[:, 1], a[:, 0] - b[:, 0]], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = np.einsum("ij,ij->i", normals, a)
    end, start = vertices[faces[-1, 1]], vertices[faces[0, 0]]
    chord = np.array([start[1] - end[1], end[0] - start[0]]) / np.linalg.norm(start - end)
    normals, offsets = np.concatenate([normals, [chord]]), np.append(offsets, chord @ end)
    assert depth_inside(sample.points.double().numpy(), normals, offsets).max() < 1e-4
    # Through the gap: body up to the chord, fluid beyond it (still inside the full circle).
    ray = np.linspace(0.0, 0.999, 60)[:, None] * chord
    side = winding_number(contour, ray).numpy() >= 0.5
    np.testing.assert_array_equal(side, ray @ chord < chord @ end)


# Walls whose fluid side cannot be told: refused in one line naming the file.


@pytest.mark.parametrize("keep", [0.5, 0.25], ids=["half a circle", "a quarter"])
def test_part_of_a_contour_is_refused(tmp_path, keep):
    vertices, faces = circle(120, keep=keep)
    path = write(polydata(vertices, faces), tmp_path / "half.vtp")
    with pytest.raises(MeshDataError) as error:
        sample_volume(load(path, planar_axis=2), 100, [-2.0, -2.0], [2.0, 2.0], seed=0)
    message = one_line_refusal(error, path)
    assert "cannot tell the fluid side of this contour" in message and "2 open ends" in message


def test_a_lone_panel_and_a_hemisphere_are_refused(tmp_path):
    panel = write(polydata([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]]), tmp_path / "panel.stl")
    hemisphere = write(uv_sphere(32, 16, 0.0, 90.0), tmp_path / "hemisphere.stl")
    for path in (panel, hemisphere):
        with pytest.raises(MeshDataError) as error:
            sample_volume(load(path), 100, [-2.0] * 3, [2.0] * 3, seed=0)
        assert "cannot tell the fluid side of this wall" in one_line_refusal(error, path)


def test_nan_coordinates_are_refused(tmp_path):
    sphere = surface_of(uv_sphere(16, 8))
    vertices = sphere.vertices.copy()
    vertices[3] = np.nan
    path = write(polydata(vertices, sphere.faces), tmp_path / "nan.vtp")
    with pytest.raises(NonFiniteFieldError) as error:
        load(path)
    assert "NaN or Inf" in one_line_refusal(error, path)
    # The same vertices reaching the sampler by another road.
    with pytest.raises(NonFiniteFieldError) as error:
        sample_volume(BodySurface(vertices, sphere.faces, source=str(path)), 100, [-2.0] * 3, [2.0] * 3, seed=0)
    assert "1 vertex coordinates are NaN or Inf" in one_line_refusal(error, path)


def test_zero_area_and_empty_surfaces_are_refused(tmp_path):
    # Triangles whose corners lie on one line: distinct points, no area.
    line = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    flat = write(polydata(line, [[0, 1, 2], [1, 2, 3], [0, 1, 3]]), tmp_path / "flat.stl")
    with pytest.raises(EmptyMeshError) as error:
        load(flat)
    assert "every triangle of the surface has zero area" in one_line_refusal(error, flat)
    # A contour of segments of no length (a point), reaching the sampler directly.
    point = BodySurface(np.zeros((3, 2)), np.array([[0, 1], [1, 2], [2, 0]]), planar_axis=2, source=str(tmp_path / "point.vtp"))
    with pytest.raises(EmptyMeshError) as error:
        sample_volume(point, 10, [-1.0, -1.0], [1.0, 1.0], seed=0)
    assert "every segment of the contour has zero length" in one_line_refusal(error, point.source)
    nothing = BodySurface(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), source=str(tmp_path / "empty.stl"))
    with pytest.raises(EmptyMeshError) as error:
        require_fluid_side(nothing)
    assert "has no triangle" in one_line_refusal(error, nothing.source)
    empty = tmp_path / "empty.stl"
    empty.write_bytes(b"solid-less binary STL".ljust(80, b" ") + (0).to_bytes(4, "little"))
    with pytest.raises(MeshDataError) as error:
        load(empty)
    one_line_refusal(error, empty)


# Findings that change nothing's side but are still named.


def test_inconsistent_inverted_and_degenerate_faces_are_named():
    box = surface_of(box_polydata((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 1))
    flipped = BodySurface(box.vertices, np.concatenate([box.faces[1:], box.faces[:1, ::-1]]))
    report = assess_wall(flipped)
    assert report.inconsistent_edges == 3 and not report.watertight
    assert any(warning.startswith("3 edges between triangles ordered in opposite senses") for warning in report.warnings)

    # A small box with its faces turned inward, beside the big outward one.
    small = surface_of(box_polydata((3.0, 0.0, 0.0), (3.5, 0.5, 0.5), 1))
    vertices = np.concatenate([box.vertices, small.vertices])
    faces = np.concatenate([box.faces, small.faces[:, ::-1] + box.vertices.shape[0]])
    report = assess_wall(BodySurface(vertices, faces))
    assert report.inverted_parts == 1 and report.watertight
    assert any(warning.startswith("1 of 2 parts closed and enclosing a negative volume") for warning in report.warnings)

    degenerate = np.concatenate([box.faces, [[0, 0, 1], [2, 2, 2]]])
    report = assess_wall(BodySurface(box.vertices, degenerate))
    assert report.degenerate_faces == 2 and report.watertight
    assert "2 triangles of zero area, left out" in report.warnings
