# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Warp geometry: signed distance, orientation, surface and volume sampling (CPU Warp)."""

import numpy as np
import pytest
import scipy.stats
import torch
import vtk

from modulus_lrsa.errors import MeshDataError
from modulus_lrsa.geometry import (
    BodySurface,
    detect_planar_axis,
    sample_surface,
    sample_volume,
    signed_distance,
    surface_cell_normals,
    surface_from_vtk,
    wall_distance,
)

RADIUS = 1.0


def sphere_polydata(theta=48, phi=24, radius=RADIUS):
    source = vtk.vtkSphereSource()
    source.SetRadius(radius)
    source.SetThetaResolution(theta)
    source.SetPhiResolution(phi)
    source.Update()
    return source.GetOutput()


def circle_contour(segments=200, radius=RADIUS, gap_segments=0, clockwise=False):
    angles = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    if clockwise:
        angles = angles[::-1]
    vertices = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    faces = np.stack([np.arange(segments), (np.arange(segments) + 1) % segments], axis=1)
    faces = faces[: segments - gap_segments]
    return vertices, faces


def ribbon_polydata(vertices2d, faces, thickness=0.1):
    """Wall patch of a one-cell-thick mesh: one quad per contour segment, spanning z."""
    points = vtk.vtkPoints()
    for x, y in vertices2d:
        points.InsertNextPoint(x, y, 0.0)
    for x, y in vertices2d:
        points.InsertNextPoint(x, y, thickness)
    count = len(vertices2d)
    quads = vtk.vtkCellArray()
    for a, b in faces:
        # OpenFOAM's order: normal out of the fluid, i.e. into the body.
        quads.InsertNextCell(4, [int(a), int(a) + count, int(b) + count, int(b)])
    polydata = vtk.vtkPolyData()
    polydata.SetPoints(points)
    polydata.SetPolys(quads)
    return polydata


@pytest.fixture(scope="module")
def sphere():
    return surface_from_vtk(sphere_polydata(), None, "sphere")


def test_sphere_signed_distance_matches_analytic(sphere):
    rng = np.random.default_rng(0)
    points = rng.uniform(-2.0, 2.0, size=(3000, 3))
    exact = np.linalg.norm(points, axis=1) - RADIUS
    result = signed_distance(sphere, points)
    # The polygonal sphere sits inside the true one by at most the chord sagitta.
    sagitta = RADIUS * (1 - np.cos(np.pi / 24))
    assert np.abs(result.distance.numpy() - exact).max() <= sagitta + 1e-5
    clear = np.abs(exact) > sagitta
    assert np.all(np.sign(result.distance.numpy()[clear]) == np.sign(exact[clear]))
    radial = points / np.linalg.norm(points, axis=1, keepdims=True)
    far = np.abs(exact) > 0.2
    cosine = np.einsum("ij,ij->i", result.direction.numpy()[far], radial[far])
    assert cosine.min() > 0.99, "direction must point away from the body, inside and outside"
    on_surface = np.linalg.norm(result.closest_points.numpy(), axis=1)
    assert np.all((on_surface <= RADIUS + 1e-5) & (on_surface >= RADIUS - sagitta - 1e-5))


def test_orientation_is_outward_whatever_the_file_order():
    reversed_faces = vtk.vtkReverseSense()
    reversed_faces.SetInputData(sphere_polydata(16, 8))
    reversed_faces.Update()
    flipped = surface_from_vtk(reversed_faces.GetOutput(), None, "inward sphere")
    assert flipped.orientation_sign == -1
    assert flipped.enclosed_measure() > 0
    normals = flipped.face_normals()
    assert np.all(np.einsum("ij,ij->i", normals, flipped.face_centroids()) > 0)
    result = signed_distance(flipped, np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 3.0]]))
    assert result.distance[0] < 0 < result.distance[1]


def test_open_sphere_sign_follows_winding_number():
    closed = surface_from_vtk(sphere_polydata(), None, "sphere")
    centroids = closed.face_centroids()
    keep = centroids[:, 2] < 0.8  # cut a cap off the top: a hole of radius 0.6
    open_surface = BodySurface(closed.vertices, closed.faces[keep])
    probes = np.array(
        [
            [0.0, 0.0, 0.0],  # centre: winding number close to 1
            [0.0, 0.0, -0.5],  # inside, far from the hole
            [0.0, 0.0, 2.0],  # outside, above the hole
            [1.5, 0.0, 0.0],  # outside, beside the body
            [0.0, 0.0, -2.0],  # outside, below
        ]
    )
    distance = signed_distance(open_surface, probes).distance.numpy()
    assert distance[0] < 0 and distance[1] < 0
    assert np.all(distance[2:] > 0)


def test_circle_contour_signed_distance_2d():
    vertices, faces = circle_contour(segments=256)
    surface = BodySurface(vertices, faces, planar_axis=2)
    points = np.random.default_rng(1).uniform(-2.0, 2.0, size=(2000, 2))
    exact = np.linalg.norm(points, axis=1) - RADIUS
    result = signed_distance(surface, points)
    sagitta = RADIUS * (1 - np.cos(np.pi / 256))
    assert np.abs(result.distance.numpy() - exact).max() <= sagitta + 1e-6
    clear = np.abs(exact) > sagitta
    assert np.all(np.sign(result.distance.numpy()[clear]) == np.sign(exact[clear]))
    radial = points / np.linalg.norm(points, axis=1, keepdims=True)
    assert np.einsum("ij,ij->i", result.direction.numpy(), radial).min() > 0.999


def test_wall_ribbon_of_one_cell_thick_mesh_becomes_2d_contour():
    vertices, faces = circle_contour(segments=64)
    ribbon = ribbon_polydata(vertices, faces)
    points3d = np.array([ribbon.GetPoint(i) for i in range(ribbon.GetNumberOfPoints())])
    axis = detect_planar_axis(points3d)
    assert axis == 2
    surface = surface_from_vtk(ribbon, axis, "ribbon")
    assert surface.dim == 2 and surface.faces.shape == (64, 2)
    # OpenFOAM orders wall faces into the body: the orientation must be flipped.
    assert surface.orientation_sign == -1
    assert surface.enclosed_measure() == pytest.approx(0.5 * 64 * np.sin(2 * np.pi / 64), rel=1e-6)
    normals = surface_cell_normals(ribbon, surface, "ribbon")
    centres = surface.face_centroids()
    assert np.all(np.einsum("ij,ij->i", normals, centres) > 0), "wall normals must point into the fluid"
    inside_outside = signed_distance(surface, np.array([[0.0, 0.0], [0.0, 3.0]])).distance
    assert inside_outside[0] < 0 < inside_outside[1]


def test_detect_planar_axis_rejects_3d_meshes():
    grid = np.stack(np.meshgrid(*(np.linspace(0, 1, 3),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    assert detect_planar_axis(grid) is None
    slab = grid.copy()
    slab[:, 1] = np.where(slab[:, 1] > 0.5, 0.01, 0.0)
    assert detect_planar_axis(slab) == 1


def test_open_contour_sign_is_sensible_2d():
    vertices, faces = circle_contour(segments=120, gap_segments=10)  # 30 degree gap
    surface = BodySurface(vertices, faces, planar_axis=2)
    probes = np.array([[0.0, 0.0], [-0.5, 0.0], [3.0, 0.0], [0.0, -3.0], [2.0, 0.0]])
    distance = signed_distance(surface, probes).distance.numpy()
    assert distance[0] < 0 and distance[1] < 0
    assert np.all(distance[2:] > 0)


def channel_walls(closed):
    """Walls of the channel 0 < x < 4, 0 < y < 1: its two sides (open), or the whole rectangle."""
    corners = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 1.0], [0.0, 1.0]])
    sides = [[0, 1], [2, 3]] + ([[1, 2], [3, 0]] if closed else [])
    return BodySurface(corners, np.array(sides), planar_axis=2)


@pytest.mark.parametrize("closed", [False, True], ids=["two open walls", "duct around the fluid"])
def test_wall_distance_of_an_internal_flow_is_the_distance_to_the_nearer_wall(closed):
    points = np.random.default_rng(4).uniform([0.0, 0.0], [4.0, 1.0], size=(2000, 2))
    exact = np.minimum(points[:, 1], 1.0 - points[:, 1])
    if closed:
        exact = np.minimum(exact, np.minimum(points[:, 0], 4.0 - points[:, 0]))
    # The winding number signs part (open walls) or all (duct) of the fluid negative.
    assert (signed_distance(channel_walls(closed), points).distance.numpy() < 0).any()
    result = wall_distance(channel_walls(closed), points)
    np.testing.assert_allclose(result.distance.numpy(), exact, atol=1e-6)
    # Away from the nearest wall point, into the fluid: it never flips with a sign.
    offset = points - result.closest_points.numpy()
    assert np.einsum("ij,ij->i", result.direction.numpy(), offset).min() > 0
    np.testing.assert_allclose(np.linalg.norm(result.direction.numpy(), axis=1), 1.0, atol=1e-6)


def test_wall_distance_around_a_closed_body_is_its_signed_distance_outside(sphere):
    points = np.random.default_rng(5).uniform(-2.0, 2.0, size=(2000, 3))
    signed, unsigned = signed_distance(sphere, points), wall_distance(sphere, points)
    outside = signed.distance.numpy() > 0
    np.testing.assert_allclose(unsigned.distance.numpy()[outside], signed.distance.numpy()[outside], atol=1e-6)
    # The two BVH queries round the float32 nearest point apart: directions of points close
    # to the wall differ by that round-off over the distance.
    np.testing.assert_allclose(unsigned.direction.numpy()[outside], signed.direction.numpy()[outside], atol=1e-3)
    np.testing.assert_allclose(unsigned.distance.numpy(), np.abs(signed.distance.numpy()), atol=1e-6)


def _chi_square_pvalue(face_index, measures, num_points):
    counts = np.bincount(face_index, minlength=measures.size)
    expected = num_points * measures / measures.sum()
    return scipy.stats.chisquare(counts, expected).pvalue


def test_surface_samples_are_area_uniform_3d():
    # A coarse UV sphere has triangles of very different areas (small at the poles).
    surface = surface_from_vtk(sphere_polydata(12, 8), None, "sphere")
    measures = surface.face_measures()
    assert measures.max() / measures.min() > 2
    num_points = 60_000
    sample = sample_surface(surface, num_points, seed=3)
    assert _chi_square_pvalue(sample.face_index.numpy(), measures, num_points) > 1e-3
    # Points lie on their triangles' planes, and normals point outward.
    corners = surface.vertices[surface.faces[sample.face_index.numpy()]]
    plane_normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    offset = np.einsum("ij,ij->i", sample.points.numpy() - corners[:, 0], plane_normal)
    assert np.abs(offset).max() < 1e-5
    assert np.all(np.einsum("ij,ij->i", sample.normals.numpy(), sample.points.numpy()) > 0)
    again = sample_surface(surface, num_points, seed=3)
    assert torch.equal(again.points, sample.points), "same seed, same points"


def test_points_are_uniform_inside_a_triangle():
    triangle = BodySurface(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), np.array([[0, 1, 2]]))
    points = sample_surface(triangle, 40_000, seed=1).points.numpy().astype(np.float64)
    # Uniform on the triangle x, y >= 0, x + y <= 1: P(x < 1/2) = 3/4, corr(x, y) = -1/2.
    assert (points[:, 0] < 0.5).mean() == pytest.approx(0.75, abs=0.01)
    assert (points[:, :2].sum(axis=1) < 0.5).mean() == pytest.approx(0.25, abs=0.01)
    assert np.corrcoef(points[:, 0], points[:, 1])[0, 1] == pytest.approx(-0.5, abs=0.02)


def test_surface_samples_are_length_uniform_2d():
    rng = np.random.default_rng(5)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
    vertices = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    faces = np.stack([np.arange(40), (np.arange(40) + 1) % 40], axis=1)
    surface = BodySurface(vertices, faces, planar_axis=2)
    num_points = 40_000
    sample = sample_surface(surface, num_points, seed=11)
    assert _chi_square_pvalue(sample.face_index.numpy(), surface.face_measures(), num_points) > 1e-3


def test_volume_samples_stay_in_box_outside_body_and_crowd_the_wall(sphere):
    box_min, box_max = [-2.0, -2.0, -2.0], [2.0, 2.0, 2.0]
    uniform = sample_volume(sphere, 2000, box_min, box_max, seed=1)
    near = sample_volume(sphere, 2000, box_min, box_max, seed=1, near_wall_fraction=1.0, near_wall_thickness=0.05)
    for sample in (uniform, near):
        points = sample.points.numpy()
        assert points.shape == (2000, 3)
        assert np.all((points >= -2.0) & (points <= 2.0))
        assert np.all(sample.distance.numpy() > 0)
        assert np.all(np.linalg.norm(points, axis=1) > RADIUS * (1 - np.cos(np.pi / 24)) - 1e-6)
        # The features of a CFD mesh's cells at the same points (drawn in float64, returned
        # in float32): one feature path.
        cells = wall_distance(sphere, points)
        np.testing.assert_allclose(sample.distance.numpy(), cells.distance.numpy(), atol=1e-6)
        assert np.einsum("ij,ij->i", sample.direction.numpy(), cells.direction.numpy()).min() > 0.999
    assert np.median(near.distance.numpy()) < 0.1 < np.median(uniform.distance.numpy())


def test_volume_sampler_reports_a_box_inside_the_body(sphere):
    # A MeshDataError, which lrsa-predict turns into its one line (a RuntimeError was a traceback).
    with pytest.raises(MeshDataError, match="outside the body") as refused:
        sample_volume(sphere, 100, [-0.1] * 3, [0.1] * 3, seed=0, max_rounds=3)
    assert str(refused.value).startswith("sphere: sample_volume: only 0 of 100 points") and "\n" not in str(refused.value)


@pytest.mark.parametrize("near_wall_fraction", [0.0, 0.7])
def test_volume_sample_weights_integrate_over_the_fluid(near_wall_fraction):
    """Weighted sums estimate integrals: the fluid area, and a boundary-layer-like field."""
    vertices, faces = circle_contour(segments=400)
    circle = BodySurface(vertices, faces, planar_axis=2)
    sample = sample_volume(circle, 40_000, [-4.0, -4.0], [4.0, 4.0], seed=3,
                           near_wall_fraction=near_wall_fraction, near_wall_thickness=0.1)
    weights = sample.weights.double().numpy()
    assert np.all(weights > 0)
    assert weights.sum() == pytest.approx(64.0 - np.pi * RADIUS**2, rel=0.02)
    # f = exp(-d / s) decays within the box: its integral is 2 pi s (R + s).
    s = 0.05
    estimate = float(np.sum(weights * np.exp(-sample.distance.double().numpy() / s)))
    exact = 2 * np.pi * s * (RADIUS + s)
    # Uniform points see the thin layer rarely (about 2% of them), so their estimate is
    # noisier; points crowded at the wall estimate it far better.
    assert estimate == pytest.approx(exact, rel=0.15 if near_wall_fraction == 0.0 else 0.05)
