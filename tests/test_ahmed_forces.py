# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""3D force coefficients: closed-form integrals on a closed body, the settings, and 2D descriptors kept as they were.

The comparison with OpenFOAM's own ``forceCoeffs`` on a solved Ahmed body is in
``tests/test_ahmed.py`` (OpenFOAM-marked).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from modulus_lrsa.data.ahmed import AhmedBody
from modulus_lrsa.forces import BodyAxes, ForceSettings, force_coefficients, frontal_area, integrate_forces


def _box(lower, upper):
    """The six faces of a box: centers, outward unit normals and areas."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    size, center = upper - lower, 0.5 * (lower + upper)
    centers, normals, areas = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            normal = np.zeros(3)
            normal[axis] = sign
            face = center.copy()
            face[axis] = upper[axis] if sign > 0 else lower[axis]
            centers.append(face)
            normals.append(normal)
            areas.append(np.prod(np.delete(size, axis)))
    return np.array(centers), np.array(normals), np.array(areas)


def _ahmed_faces(body: AhmedBody):
    vertices, faces = body.triangulate()
    corners = vertices[faces]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    areas = 0.5 * np.linalg.norm(cross, axis=1)
    return corners.mean(axis=1), cross / (2.0 * areas[:, None]), areas


GROUND_VEHICLE = BodyAxes(drag=(1.0, 0.0, 0.0), lift=(0.0, 0.0, 1.0))


def test_linear_pressure_on_a_closed_box_gives_the_divergence_theorem_forces():
    # p = a x + b y + c z: the force on the body is -grad(p) times its volume (exact on planar faces).
    lower, upper = (0.0, -0.2, 0.05), (1.0, 0.2, 0.35)
    centers, normals, areas = _box(lower, upper)
    volume = 1.0 * 0.4 * 0.3
    a, b, c, speed = 3.0, -2.0, 5.0, 20.0
    pressure = centers @ np.array([a, b, c])
    result = force_coefficients(pressure, normals, areas, speed, 0.0, 1.0, 1.0, axes=GROUND_VEHICLE)
    dynamic_area = 0.5 * speed**2 * 0.4 * 0.3  # frontal area of the box: width x height
    assert result.reference_area == pytest.approx(0.4 * 0.3, rel=1e-12)
    assert result.drag == pytest.approx(-a * volume / dynamic_area, rel=1e-12)
    # Side force along lift x drag = +y, as OpenFOAM's forceCoeffs writes Cs.
    assert result.side == pytest.approx(-b * volume / dynamic_area, rel=1e-12)
    assert result.lift == pytest.approx(-c * volume / dynamic_area, rel=1e-12)
    assert result.drag_pressure == pytest.approx(result.drag) and result.drag_viscous == 0.0
    # A given reference area replaces the measured one.
    fixed = force_coefficients(pressure, normals, areas, speed, 0.0, 1.0, 1.0, axes=GROUND_VEHICLE, reference_area=0.5)
    assert fixed.drag * 0.5 == pytest.approx(result.drag * 0.12, rel=1e-12)
    assert set(result.as_dict()) == {"Cl", "Cd", "Cs", "Cd_pressure", "Cd_viscous", "reference_area"}


def test_wall_shear_is_friction_drag_and_the_angle_turns_drag_towards_lift():
    centers, normals, areas = _box((0.0, -0.2, 0.05), (1.0, 0.2, 0.35))
    speed = 10.0
    # OpenFOAM's wallShearStress (wall on fluid) of -0.4 along x: the fluid drags the body downstream.
    shear = np.tile([-0.4, 0.0, 0.0], (len(areas), 1))
    result = force_coefficients(np.zeros(len(areas)), normals, areas, speed, 0.0, 1.0, 1.0, shear, -1.0,
                                axes=GROUND_VEHICLE)
    expected = 0.4 * areas.sum() / (0.5 * speed**2 * 0.12)
    assert result.drag == pytest.approx(expected, rel=1e-12) and result.drag_viscous == pytest.approx(expected)
    assert result.drag_pressure == 0.0
    # A lift-only force (p = c z) turned by 90 degrees becomes drag; the reference area follows the stream.
    pressure = 4.0 * centers[:, 2]
    level = force_coefficients(pressure, normals, areas, speed, 0.0, 1.0, 1.0, axes=GROUND_VEHICLE, reference_area=1.0)
    turned = force_coefficients(pressure, normals, areas, speed, 90.0, 1.0, 1.0, axes=GROUND_VEHICLE, reference_area=1.0)
    assert turned.drag == pytest.approx(level.lift, rel=1e-12) and abs(turned.lift) < 1e-12


@pytest.mark.parametrize("body", [AhmedBody(), AhmedBody(slant_deg=40.0, front_radius=0.115, clearance=0.03)])
def test_frontal_area_of_the_ahmed_stl_is_width_times_height(body):
    # The rounded front and the slant project inside the width x height rectangle, once each.
    _, normals, areas = _ahmed_faces(body)
    assert frontal_area(normals, areas, (1.0, 0.0, 0.0)) == pytest.approx(body.frontal_area, rel=1e-9)


def test_a_symmetric_body_in_a_uniform_stream_has_no_side_force():
    centers, normals, areas = _ahmed_faces(AhmedBody())
    pressure = 1.0 - centers[:, 0] ** 2 + 0.3 * centers[:, 2]  # symmetric in y
    result = force_coefficients(pressure, normals, areas, 40.0, 0.0, 1.0, 1.0, axes=GROUND_VEHICLE)
    assert abs(result.side) < 1e-9 * (abs(result.drag) + abs(result.lift))


def test_a_descriptor_written_before_3d_keeps_the_2d_integral():
    # data.forces as descriptors stored it before the 3D fields existed (tests/test_training.py trains one).
    stored = json.loads(json.dumps({"pressure": "p", "wall_shear": "wallShearStress", "wall_shear_sign": -1.0,
                                    "speed": "U", "angle_of_attack_deg": "aoa_deg", "chord": 1.0, "span": 0.5}))
    settings = ForceSettings(**stored)
    assert settings.axes is None and settings.reference_area is None
    assert ForceSettings.from_config(OmegaConf.create({"enabled": True, **stored})) == settings
    centers, normals, areas = _box((0.0, -0.2, 0.05), (1.0, 0.2, 0.35))
    values = np.stack([centers @ [1.0, 2.0, 3.0], np.full(6, 0.1), np.zeros(6), np.zeros(6)], axis=1)
    channels = ["p", "wallShearStress[0]", "wallShearStress[1]", "wallShearStress[2]"]
    old = integrate_forces(settings, channels, values, normals, areas, speed=5.0, angle_of_attack_deg=10.0)
    planar = force_coefficients(values[:, 0], normals, areas, 5.0, 10.0, 1.0, 0.5, values[:, 1:], -1.0)
    assert old == planar and old.side is None and set(old.as_dict()) == {"Cl", "Cd"}


def test_3d_settings_round_trip_through_the_descriptor_and_bad_ones_are_named():
    settings = ForceSettings.ground_vehicle(speed="U", reference_area=0.112)
    assert ForceSettings(**json.loads(json.dumps(settings.as_dict()))) == settings
    assert settings.angle_of({"U": 40.0}) == 0.0 and settings.axes == GROUND_VEHICLE
    config = OmegaConf.create({"enabled": False, **settings.as_dict()})
    assert ForceSettings.from_config(config) == settings
    base = settings.as_dict()
    with pytest.raises(ValueError, match="drag_direction and lift_direction are given together"):
        ForceSettings(**{**base, "lift_direction": None})
    with pytest.raises(ValueError, match="drag .* and lift .* must be orthogonal"):
        ForceSettings(**{**base, "lift_direction": [1.0, 0.0, 1.0]})
    with pytest.raises(ValueError, match=r"BodyAxes.drag: expected 3 finite numbers"):
        ForceSettings(**{**base, "drag_direction": [0.0, 0.0, 0.0]})
    with pytest.raises(ValueError, match="reference_area must be a positive number"):
        ForceSettings(**{**base, "reference_area": -1.0})
    with pytest.raises(ValueError, match=r"3D force axes need \(Ns, 3\) normals"):
        force_coefficients(np.zeros(2), np.zeros((2, 2)), np.ones(2), 1.0, 0.0, 1.0, 1.0, axes=GROUND_VEHICLE)
