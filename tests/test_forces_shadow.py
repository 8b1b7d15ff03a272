# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The frontal area as a shadow: the union of a surface's triangles projected along the free stream.

``forces.frontal_area`` (``0.5 sum |n.d| A``) is exact only where every line along the
stream crosses the surface twice; :func:`~modulus_lrsa.forces.shadow_area` rasterises the
projection, so parts hidden behind others count once. Checked on shapes whose shadow is
known exactly, on bodies where the formula overestimates it, and on the ``lrsa-data ahmed``
bodies, where the two agree (training keeps the formula; see ``docs/training.md``).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from modulus_lrsa.data.ahmed import AhmedBody
from modulus_lrsa.data.ahmed.geometry import write_body_stl
from modulus_lrsa.forces import SHADOW_AGREEMENT, ReferenceArea, fan_triangles, frontal_area, shadow_area
from modulus_lrsa.io.readers import cell_connectivity, point_coordinates, read_vtk

ALONG_X = (1.0, 0.0, 0.0)


def _box(lower, upper) -> tuple[np.ndarray, np.ndarray]:
    """Points and 12 outward triangles of an axis-aligned box."""
    (x0, y0, z0), (x1, y1, z1) = lower, upper
    points = np.array([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)], dtype=np.float64)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    triangles = np.array([tri for a, b, c, d in quads for tri in ((a, b, c), (a, c, d))], dtype=np.int64)
    return points, triangles


def _merge(*parts) -> tuple[np.ndarray, np.ndarray]:
    points, triangles, offset = [], [], 0
    for part_points, part_triangles in parts:
        points.append(part_points)
        triangles.append(part_triangles + offset)
        offset += len(part_points)
    return np.concatenate(points), np.concatenate(triangles)


def _faces(points: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals and areas of the triangles."""
    corners = points[triangles]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normal, axis=1)
    return normal / np.maximum(length, 1e-300)[:, None], 0.5 * length


def _formula(points: np.ndarray, triangles: np.ndarray, direction=ALONG_X) -> float:
    return frontal_area(*_faces(points, triangles), direction)


def _polydata(source) -> tuple[np.ndarray, np.ndarray]:
    triangulate = vtk.vtkTriangleFilter()
    triangulate.SetInputConnection(source.GetOutputPort())
    triangulate.Update()
    output = triangulate.GetOutput()
    points = vtk_to_numpy(output.GetPoints().GetData()).astype(np.float64)
    return points, vtk_to_numpy(output.GetPolys().GetConnectivityArray()).reshape(-1, 3).astype(np.int64)


def _sphere(radius: float, theta: int, phi: int) -> tuple[np.ndarray, np.ndarray]:
    source = vtk.vtkSphereSource()
    source.SetRadius(radius)
    source.SetThetaResolution(theta)
    source.SetPhiResolution(phi)
    return _polydata(source)


def test_a_cube_seen_face_on_is_its_face_exactly():
    points, triangles = _box((0.0, 0.0, 0.0), (0.5, 0.5, 0.5))
    assert shadow_area(points, triangles, ALONG_X) == pytest.approx(0.25, rel=1e-12)
    assert shadow_area(points, triangles, (0.0, 0.0, -3.0)) == pytest.approx(0.25, rel=1e-12)


def test_a_box_seen_along_each_axis_and_at_an_angle():
    points, triangles = _box((0.1, -0.2, 0.05), (0.5, 0.1, 0.25))
    for axis, expected in ((0, 0.3 * 0.2), (1, 0.4 * 0.2), (2, 0.4 * 0.3)):
        direction = np.eye(3)[axis]
        assert shadow_area(points, triangles, direction) == pytest.approx(expected, rel=1e-3)
    # Seen along a diagonal the box is still convex: its shadow is what the formula gives.
    diagonal = (1.0, 0.7, -0.4)
    assert shadow_area(points, triangles, diagonal) == pytest.approx(_formula(points, triangles, diagonal), rel=2e-3)


def test_a_sphere_casts_a_disc():
    points, triangles = _sphere(0.3, 256, 128)
    assert shadow_area(points, triangles, (0.3, -1.0, 0.2)) == pytest.approx(np.pi * 0.3**2, rel=2e-3)


def test_two_overlapping_boxes_cast_their_union_not_the_sum():
    first = _box((0.0, 0.0, 0.0), (0.4, 0.4, 0.3))
    second = _box((0.2, 0.2, 0.1), (0.6, 0.6, 0.4))  # overlaps the first in y 0.2..0.4, z 0.1..0.3
    points, triangles = _merge(first, second)
    union = 2 * 0.4 * 0.3 - 0.2 * 0.2
    assert shadow_area(points, triangles, ALONG_X) == pytest.approx(union, rel=2e-3)
    assert _formula(points, triangles) == pytest.approx(2 * 0.4 * 0.3, rel=1e-12)


def test_a_ring_seen_from_its_side_is_a_stadium_where_the_formula_counts_both_walls():
    ring, tube = 0.3, 0.08
    torus = vtk.vtkParametricTorus()
    torus.SetRingRadius(ring)
    torus.SetCrossSectionRadius(tube)
    source = vtk.vtkParametricFunctionSource()
    source.SetParametricFunction(torus)
    source.SetUResolution(256)
    source.SetVResolution(96)
    points, triangles = _polydata(source)
    # The torus's axis is z: seen along x, the shadow is the band of circles of radius ``tube``
    # centred on y in [-ring, ring]: a stadium.
    stadium = 4.0 * ring * tube + np.pi * tube**2
    shadow = shadow_area(points, triangles, ALONG_X)
    assert shadow == pytest.approx(stadium, rel=3e-3)
    assert _formula(points, triangles) > 1.4 * shadow
    # Seen along its axis the ring hides nothing: both give the annulus.
    annulus = np.pi * ((ring + tube) ** 2 - (ring - tube) ** 2)
    assert shadow_area(points, triangles, (0.0, 0.0, 1.0)) == pytest.approx(annulus, rel=3e-3)
    assert _formula(points, triangles, (0.0, 0.0, 1.0)) == pytest.approx(annulus, rel=3e-3)


def test_an_l_shaped_body_seen_askew_hides_part_of_itself():
    # An L in the x-z plane, extruded 0.5 along y: foot [0, 2] x [0, 1], upright [0, 1] x [1, 2].
    foot, upright = _box((0.0, 0.0, 0.0), (2.0, 0.5, 1.0)), _box((0.0, 0.0, 1.0), (1.0, 0.5, 2.0))
    points, triangles = _merge(foot, upright)
    askew = (1.0, 0.0, -1.0)  # down the inner corner: the upright shadows part of the foot
    # Projected on the plane normal to (1, 0, -1), x - z ... the L spans s = (x + z) / sqrt 2 from 0 to 3 / sqrt 2,
    # the same as its outer hull would: the shadow is that band times the 0.5 depth.
    shadow = shadow_area(points, triangles, askew)
    assert shadow == pytest.approx(3.0 / np.sqrt(2.0) * 0.5, rel=2e-3)
    assert _formula(points, triangles, askew) > 1.1 * shadow


def test_an_open_sheet_face_on_counts_fully_and_edge_on_not_at_all():
    points = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 0.5]])
    triangles = np.array([[0, 1, 2], [0, 2, 3]])
    assert shadow_area(points, triangles, ALONG_X) == pytest.approx(0.5, rel=1e-12)
    assert _formula(points, triangles) == pytest.approx(0.25)  # half: the formula assumes a closed body
    assert shadow_area(points, triangles, (0.0, 0.0, 1.0)) == 0.0


def test_an_empty_surface_or_a_zero_direction():
    assert shadow_area(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), ALONG_X) == 0.0
    points, triangles = _box((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    for direction in ((0.0, 0.0, 0.0), (np.nan, 1.0, 0.0), (1.0, 0.0)):
        with pytest.raises(ValueError, match="shadow direction: expected 3 finite numbers"):
            shadow_area(points, triangles, direction)


def test_polygons_are_split_into_fans():
    # A quad and a pentagon in one flat connectivity.
    connectivity = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8])
    offsets = np.array([0, 4, 9])
    np.testing.assert_array_equal(fan_triangles(connectivity, offsets),
                                  [[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [4, 7, 8]])


@pytest.mark.parametrize("slant", [0.0, 12.5, 25.0, 30.0, 40.0])
def test_the_ahmed_bodies_shadow_is_width_times_height_as_the_formula_gives(tmp_path, slant):
    body = AhmedBody(slant_deg=slant, front_radius=0.1 if slant < 30 else 0.115, clearance=0.05 if slant < 30 else 0.03)
    stl = tmp_path / "body.stl"
    write_body_stl(body, stl)
    wall = read_vtk(stl)
    points = point_coordinates(wall)
    triangles = fan_triangles(*cell_connectivity(wall))
    shadow, formula = shadow_area(points, triangles, ALONG_X), _formula(points, triangles)
    assert shadow == pytest.approx(body.frontal_area, rel=2e-3)
    assert formula == pytest.approx(body.frontal_area, rel=1e-6)
    # They agree, so the measured reference area is the formula's exact value.
    measured = ReferenceArea.measured(points, triangles, *_faces(points, triangles), ALONG_X)
    assert measured.method == "frontal_formula" and measured.area == formula
    assert abs(shadow - formula) <= SHADOW_AGREEMENT * shadow and measured.warning() is None


def test_a_self_shadowing_body_is_divided_by_its_shadow_with_a_warning_naming_both():
    # Two boxes one behind the other along the stream: the formula counts the front twice.
    points, triangles = _merge(_box((0.0, 0.0, 0.1), (0.2, 0.3, 0.3)), _box((0.5, 0.0, 0.1), (0.7, 0.3, 0.3)))
    measured = ReferenceArea.measured(points, triangles, *_faces(points, triangles), ALONG_X)
    assert measured.method == "shadow" and measured.area == pytest.approx(0.06, rel=2e-3)
    assert measured.formula == pytest.approx(0.12)
    record = measured.as_dict()
    assert record["reference_area_method"] == "shadow" and record["frontal_area_formula"] == pytest.approx(0.12)
    warning = measured.warning()
    assert f"{measured.shadow:.6g}" in warning and "0.12" in warning and "--reference-area" in warning
    assert ReferenceArea(0.5, "given").as_dict() == {"reference_area": 0.5, "reference_area_method": "given"}


def test_two_million_facets_take_seconds():
    points, triangles = _sphere(0.2, 1200, 720)
    assert len(triangles) > 1_700_000
    start = time.perf_counter()
    area = shadow_area(points, triangles, ALONG_X)
    elapsed = time.perf_counter() - start
    assert area == pytest.approx(np.pi * 0.2**2, rel=2e-3)
    assert elapsed < 30.0, f"{elapsed:.1f} s"
