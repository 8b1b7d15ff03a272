# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Aerodynamic coefficients: lift, drag and side force integrated from surface pressure and wall shear.

* :func:`force_coefficients`: the integral over the faces of one body, in the plane of the
  first two coordinates (2D sections, reference area chord x span) or, given
  :class:`BodyAxes`, in 3D (drag along the free stream, lift normal to the ground, side
  force across, reference area the frontal area, as OpenFOAM's ``forceCoeffs``);
* :func:`shadow_area`: a surface's frontal area as the union of its projected triangles
  (parts hidden behind others count once), and :class:`ReferenceArea`: which area a
  prediction from an STL divides by, and why;
* :func:`surface_force`: the sum over faces both integrals are made of, in torch
  (batched and differentiable, so the training loss of ``training.loss.force_weight``
  integrates predictions with it too), and :func:`coefficient_frame`: the directions and
  the dynamic pressure x reference area the force is projected on and divided by;
* :class:`ForceSettings`: which channels and conditions hold pressure, wall shear, speed
  and angle (``data.forces``, stored in the model's data descriptor);
* :func:`integrate_forces`: the integral of fields laid out as target channels;
* :class:`SurfaceForceEvaluator`: predicted against CFD coefficients of the cases of a
  preprocessing cache, on exactly the same faces (validation in ``lrsa-train``).

``lrsa-predict`` integrates its predictions with the same :func:`integrate_forces`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from modulus_lrsa.datapipes.cache import MeshCache
from modulus_lrsa.errors import ConfigError
from modulus_lrsa.io.fields import channels_of, columns_in, place_channels


@dataclass(frozen=True)
class ForceCoefficients:
    """Lift and drag coefficients of one body; in 3D also the side force and the drag's parts.

    Attributes
    ----------
    lift, drag : float
    side : float, optional
        Side-force coefficient (3D only).
    drag_pressure, drag_viscous : float, optional
        The pressure and wall-shear parts of ``drag`` (3D only; OpenFOAM's ``Cd(p)`` and ``Cd(v)``).
    reference_area : float, optional
        The area the coefficients are divided by (3D only).
    """

    lift: float
    drag: float
    side: float | None = None
    drag_pressure: float | None = None
    drag_viscous: float | None = None
    reference_area: float | None = None

    def as_dict(self) -> dict[str, float]:
        values = {"Cl": self.lift, "Cd": self.drag}
        extra = {"Cs": self.side, "Cd_pressure": self.drag_pressure, "Cd_viscous": self.drag_viscous,
                 "reference_area": self.reference_area}
        values.update({key: value for key, value in extra.items() if value is not None})
        return values


@dataclass(frozen=True)
class BodyAxes:
    """The 3D force directions of a body at zero angle of attack.

    Attributes
    ----------
    drag : tuple of float
        The free-stream direction (OpenFOAM's ``dragDir``), e.g. ``(1, 0, 0)``.
    lift : tuple of float
        Normal to the ground, pointing away from it (``liftDir``), e.g. ``(0, 0, 1)``;
        orthogonal to ``drag``.

    The side force is along ``lift x drag`` (``+y`` for the two above), OpenFOAM's
    ``Cs`` direction. An angle of attack turns drag and lift about that axis.
    """

    drag: tuple[float, float, float]
    lift: tuple[float, float, float]

    def __post_init__(self) -> None:
        unit = {}
        for name in ("drag", "lift"):
            vector = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
            norm = float(np.linalg.norm(vector)) if vector.shape == (3,) and np.isfinite(vector).all() else 0.0
            if norm == 0.0:
                raise ValueError(f"BodyAxes.{name}: expected 3 finite numbers, not all zero, got {getattr(self, name)!r}")
            unit[name] = vector / norm
            object.__setattr__(self, name, tuple(float(v) for v in unit[name]))
        if abs(float(unit["drag"] @ unit["lift"])) > 1e-6:
            raise ValueError(f"BodyAxes: drag {self.drag} and lift {self.lift} must be orthogonal")

    def turned(self, angle_of_attack_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit drag, lift and side directions with the free stream turned by the angle towards lift."""
        angle = math.radians(angle_of_attack_deg)
        drag0, lift0 = np.array(self.drag), np.array(self.lift)
        drag = math.cos(angle) * drag0 + math.sin(angle) * lift0
        lift = -math.sin(angle) * drag0 + math.cos(angle) * lift0
        return drag, lift, np.cross(lift0, drag0)


def frontal_area(normals: np.ndarray, areas: np.ndarray, direction: Sequence[float]) -> float:
    """Area of a closed body projected on the plane normal to ``direction``: ``0.5 sum |n . e| A``.

    Exact where every line along ``direction`` crosses the surface twice (an Ahmed body, a
    car without overhangs that shadow other parts); above the true shadow where the body
    hides parts of itself (a motorbike: 3.6 times), and half of it for an open sheet:
    :func:`shadow_area` measures those.
    """
    unit = np.asarray(direction, dtype=np.float64) / np.linalg.norm(direction)
    return float(0.5 * np.sum(np.abs(np.asarray(normals, dtype=np.float64) @ unit) * np.asarray(areas, dtype=np.float64)))


#: Pixels along the longer side of a shadow's bounding box: the raster's relative error is
#: about its boundary length times half a pixel over its area (2e-4 for an Ahmed body's front).
SHADOW_RESOLUTION = 2048
#: How far the faces' formula may lie from the rasterised shadow for it to count as the same
#: area (a body that hides none of itself), measured to this share of the raster's resolution.
SHADOW_AGREEMENT = 2e-3
#: A reference area from the faces' formula more than this share above the shadow is recorded beside it, with a warning.
FORMULA_WARNING = 0.02
#: (triangle, pixel row) pairs rasterised at once: about 150 MB of temporary arrays.
_SHADOW_CHUNK = 1 << 20


def _plane_basis(direction: Sequence[float]) -> np.ndarray:
    """(3, 2) orthonormal axes of the plane normal to ``direction`` (a ValueError for a zero or non-finite one)."""
    unit = np.asarray(direction, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(unit)) if unit.shape == (3,) and np.isfinite(unit).all() else 0.0
    if norm == 0.0:
        raise ValueError(f"shadow direction: expected 3 finite numbers, not all zero, got {direction!r}")
    unit = unit / norm
    first = np.cross(unit, np.eye(3)[int(np.argmin(np.abs(unit)))])
    first /= np.linalg.norm(first)
    return np.stack([first, np.cross(unit, first)], axis=1)


def fan_triangles(connectivity: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(T, 3) point ids of the polygons ``connectivity[offsets[i]:offsets[i+1]]`` split into fans from their first corner."""
    connectivity, offsets = np.asarray(connectivity, dtype=np.int64), np.asarray(offsets, dtype=np.int64)
    fans = np.maximum(np.diff(offsets) - 2, 0)
    start = np.repeat(offsets[:-1], fans)
    corner = np.arange(int(fans.sum())) - np.repeat(np.cumsum(fans) - fans, fans) + 1
    return np.stack([connectivity[start], connectivity[start + corner], connectivity[start + corner + 1]], axis=1)


def shadow_area(points: np.ndarray, triangles: np.ndarray, direction: Sequence[float],
                resolution: int = SHADOW_RESOLUTION) -> float:
    """The area of a surface's shadow along ``direction``: the union of its triangles projected on the normal plane.

    Unlike :func:`frontal_area`, parts that hide one another count once, and the surface
    need not be closed. The projection is rasterised on a grid of ``resolution`` square
    pixels along the longer side of its bounding box (a pixel counts where its centre lies
    in a triangle), row by row: each (triangle, row) pair marks the span of pixels it
    covers, in chunks of bounded size, so a surface of 2 million facets takes seconds.

    Parameters
    ----------
    points : np.ndarray
        (N, 3) coordinates.
    triangles : np.ndarray
        (T, 3) point ids (:func:`fan_triangles` splits polygons).
    direction : sequence of float
        The view direction, e.g. the free stream; its length does not matter.
    resolution : int
        Pixels along the longer side of the shadow's bounding box.

    Returns
    -------
    float
        The shadow's area, within about half a pixel along its boundary.
    """
    corners = (np.asarray(points, dtype=np.float64) @ _plane_basis(direction))[np.asarray(triangles, dtype=np.int64).reshape(-1, 3)]
    if corners.size == 0:
        return 0.0
    lower = corners.reshape(-1, 2).min(axis=0)
    extent = corners.reshape(-1, 2).max(axis=0) - lower
    if not extent.max() > 0:
        return 0.0
    cell = float(extent.max()) / resolution
    columns, rows = (max(int(math.ceil(side / cell)), 1) for side in extent)
    scaled = (corners - lower) / cell
    # Corners in rising v: the long edge 0-2 and one of the short edges 0-1, 1-2 bound each row.
    order = np.argsort(scaled[..., 1], axis=1)
    u = np.take_along_axis(scaled[..., 0], order, axis=1)
    v = np.take_along_axis(scaled[..., 1], order, axis=1)
    first = np.ceil(v[:, 0] - 0.5).astype(np.int64).clip(0, rows)
    spans = np.maximum(np.floor(v[:, 2] - 0.5).astype(np.int64).clip(-1, rows - 1) - first + 1, 0)
    keep = spans > 0
    u, v, first, spans = u[keep], v[keep], first[keep], spans[keep]

    def slope(low: int, high: int) -> np.ndarray:
        rise = v[:, high] - v[:, low]
        return np.where(rise > 0, (u[:, high] - u[:, low]) / np.where(rise > 0, rise, 1.0), 0.0)

    long_slope, low_slope, high_slope = slope(0, 2), slope(0, 1), slope(1, 2)
    # +1 where a row's covered span starts, -1 past its end; a running sum over the row counts coverers.
    marks = np.zeros(rows * (columns + 1), dtype=np.int64)
    ends = np.cumsum(spans)
    start = 0
    while start < len(spans):
        done = int(ends[start - 1]) if start else 0
        stop = max(int(np.searchsorted(ends, done + _SHADOW_CHUNK, side="right")), start + 1)
        count = spans[start:stop]
        owner = np.repeat(np.arange(start, stop), count)
        row = first[owner] + np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
        centre = row + 0.5
        v0, v1 = v[owner, 0], v[owner, 1]
        along_long = u[owner, 0] + (centre - v0) * long_slope[owner]
        along_short = np.where(centre < v1, u[owner, 0] + (centre - v0) * low_slope[owner],
                               u[owner, 1] + (centre - v1) * high_slope[owner])
        begin = np.ceil(np.minimum(along_long, along_short) - 0.5).clip(0, columns).astype(np.int64)
        end = (np.floor(np.maximum(along_long, along_short) - 0.5) + 1).clip(0, columns).astype(np.int64)
        hit = end > begin
        base = row[hit] * (columns + 1)
        marks += np.bincount(base + begin[hit], minlength=marks.size)
        marks -= np.bincount(base + end[hit], minlength=marks.size)
        start = stop
    covered = np.count_nonzero(np.cumsum(marks.reshape(rows, columns + 1)[:, :columns], axis=1) > 0)
    return float(covered) * cell * cell


@dataclass(frozen=True)
class ReferenceArea:
    """The area a 3D body's forces are divided by, and where it came from.

    Attributes
    ----------
    area : float
    method : str
        ``"given"`` (``lrsa-predict --reference-area``), ``"model"`` (the descriptor's
        ``data.forces.reference_area``), ``"frontal_formula"`` (:func:`frontal_area`, exact
        where it agrees with the shadow to :data:`SHADOW_AGREEMENT`: the body hides none of
        itself) or ``"shadow"`` (:func:`shadow_area`, where the formula counts hidden parts again).
    shadow : float, optional
        The rasterised shadow (None where the area was given).
    formula : float, optional
        :func:`frontal_area`'s value (None where the area was given).
    """

    area: float
    method: str
    shadow: float | None = None
    formula: float | None = None

    @classmethod
    def measured(cls, points: np.ndarray, triangles: np.ndarray, normals: np.ndarray, areas: np.ndarray,
                 direction: Sequence[float]) -> ReferenceArea:
        """The shadow of the faces along ``direction``, or the formula's exact value where the two agree."""
        shadow = shadow_area(points, triangles, direction)
        formula = frontal_area(normals, areas, direction)
        if shadow > 0 and abs(formula - shadow) <= SHADOW_AGREEMENT * shadow:
            return cls(formula, "frontal_formula", shadow, formula)
        return cls(shadow, "shadow", shadow, formula)

    def warning(self) -> str | None:
        """A line where the faces' formula lies more than :data:`FORMULA_WARNING` above the shadow used."""
        if self.method != "shadow" or not self.formula > (1.0 + FORMULA_WARNING) * self.shadow:
            return None
        return (f"reference area: the body's shadow along the free stream is {self.shadow:.6g} m^2, while the sum over its "
                f"faces 0.5 sum |n.d| A gives {self.formula:.6g} m^2 (parts of the body hide others, or it is open); the "
                "coefficients use the shadow (give another area with --reference-area)")

    def as_dict(self) -> dict[str, Any]:
        """``reference_area``, ``reference_area_method``, the ``shadow_area`` and, where it differs by more than
        :data:`FORMULA_WARNING`, the formula's ``frontal_area_formula``."""
        record: dict[str, Any] = {"reference_area": self.area, "reference_area_method": self.method}
        if self.shadow is not None:
            record["shadow_area"] = self.shadow
        if self.formula is not None and self.shadow and abs(self.formula - self.shadow) > FORMULA_WARNING * self.shadow:
            record["frontal_area_formula"] = self.formula
        return record


def surface_force(
    pressure: torch.Tensor,
    normals: torch.Tensor,
    areas: torch.Tensor,
    wall_shear: torch.Tensor | None = None,
    wall_shear_sign: float = -1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pressure and wall-shear forces on a surface: ``sum_f -p_f n_f A_f`` and ``sum_f s tau_f A_f``.

    The one place the force integral is written: :func:`force_coefficients` calls it on
    float64 copies of its arrays, the training loss on batches of predictions (any
    leading axes, differentiable; a face with ``A_f = 0`` adds nothing, so padding and
    volume points drop out).

    Parameters
    ----------
    pressure : torch.Tensor
        (..., Ns) kinematic pressure.
    normals : torch.Tensor
        (..., Ns, D) unit normals out of the body into the fluid.
    areas : torch.Tensor
        (..., Ns) face areas (or any quadrature weights over the faces).
    wall_shear : torch.Tensor, optional
        (..., Ns, D') kinematic wall shear, D' <= D leading components; None: pressure only.
    wall_shear_sign : float
        -1 for OpenFOAM's wall-on-fluid ``wallShearStress``, +1 for a traction on the body.

    Returns
    -------
    pressure_force, viscous_force : torch.Tensor
        (..., D) each (the viscous one zero without ``wall_shear``).
    """
    pressure_force = -((pressure * areas).unsqueeze(-1) * normals).sum(dim=-2)
    if wall_shear is not None and wall_shear.shape[-1] > normals.shape[-1]:
        raise ValueError(f"wall shear {tuple(wall_shear.shape)} has more components than the normals {tuple(normals.shape)}")
    if wall_shear is None:
        return pressure_force, torch.zeros_like(pressure_force)
    viscous = wall_shear_sign * (wall_shear * areas.unsqueeze(-1)).sum(dim=-2)
    return pressure_force, torch.nn.functional.pad(viscous, (0, normals.shape[-1] - wall_shear.shape[-1]))


def coefficient_frame(
    normals: np.ndarray,
    areas: np.ndarray,
    speed: float,
    angle_of_attack_deg: float,
    chord: float,
    span: float,
    axes: BodyAxes | None = None,
    reference_area: float | None = None,
) -> tuple[np.ndarray, float, float | None]:
    """What turns a body's force into its coefficients: ``C_k = F . e_k / dynamic``.

    Parameters
    ----------
    normals, areas, speed, angle_of_attack_deg, chord, span, axes, reference_area
        As :func:`force_coefficients` takes them; the normals and areas only size the
        directions and, in 3D without ``reference_area``, give the frontal area.

    Returns
    -------
    directions : np.ndarray
        (K, D) float64 unit rows: drag and lift (2D, in the plane of the first two
        coordinates, zero beyond them), and in 3D also the side force.
    dynamic : float
        ``0.5 U^2 A_ref``: ``chord * span`` in 2D, the reference area in 3D.
    area : float or None
        The 3D reference area (None in 2D).

    Raises
    ------
    ValueError
        Non-positive speed, chord or span; 3D axes without 3D normals; no frontal area.
    """
    if speed <= 0 or chord <= 0 or span <= 0:
        raise ValueError(f"speed, chord and span must be > 0, got {speed}, {chord}, {span}")
    dimension = normals.shape[1]
    if axes is not None:
        if dimension != 3:
            raise ValueError(f"3D force axes need (Ns, 3) normals, got {normals.shape}")
        directions = np.stack(axes.turned(angle_of_attack_deg))
        area = frontal_area(normals, areas, directions[0]) if reference_area is None else float(reference_area)
        if not area > 0:
            raise ValueError(f"reference area must be > 0, got {area} (a surface with no frontal area?)")
        return directions, 0.5 * speed**2 * area, area
    angle = math.radians(angle_of_attack_deg)
    directions = np.zeros((2, dimension))
    directions[0, :2] = math.cos(angle), math.sin(angle)
    directions[1, :2] = -math.sin(angle), math.cos(angle)
    return directions, 0.5 * speed**2 * chord * span, None


def force_coefficients(
    pressure: np.ndarray,
    normals: np.ndarray,
    areas: np.ndarray,
    speed: float,
    angle_of_attack_deg: float,
    chord: float,
    span: float,
    wall_shear: np.ndarray | None = None,
    wall_shear_sign: float = -1.0,
    axes: BodyAxes | None = None,
    reference_area: float | None = None,
) -> ForceCoefficients:
    """Integrate surface pressure and wall shear into lift and drag (and, in 3D, side-force) coefficients.

    The force on the body is ``F = sum_f (-p_f n_f + s * tau_f) A_f`` with ``n`` the unit
    normal pointing out of the body into the fluid. ``p`` and ``tau`` are kinematic
    (divided by density, as simpleFoam writes them), so ``Cl = F . e_lift / (0.5 U^2 c
    span)`` and ``Cd = F . e_drag / (...)`` need no density. The drag direction is the
    free stream ``(cos a, sin a)`` and the lift direction ``(-sin a, cos a)``, in the
    plane of the first two coordinates; a 3D body is projected onto that plane.

    With ``axes`` (3D), drag, lift and side force are along :meth:`BodyAxes.turned`,
    divided by ``0.5 U^2 A_ref`` with ``A_ref`` the ``reference_area`` or, without it,
    the body's :func:`frontal_area` seen along the free stream (``chord`` and ``span``
    are then not used); the drag is also returned split into its pressure and
    wall-shear parts, as OpenFOAM's ``forceCoeffs`` writes them.

    Parameters
    ----------
    pressure : np.ndarray
        (Ns,) kinematic pressure on the surface faces (or points).
    normals : np.ndarray
        (Ns, D) unit normals out of the body, D = 2 or 3.
    areas : np.ndarray
        (Ns,) face areas (in 2D: face length times the slab thickness).
    speed : float
        Free-stream speed U.
    angle_of_attack_deg : float
        Angle of the free stream to the x axis, degrees.
    chord, span : float
        Reference length and span; the reference area is ``chord * span``.
    wall_shear : np.ndarray, optional
        (Ns, D') kinematic wall shear stress, D' <= D leading components; None for a
        pressure-only estimate.
    wall_shear_sign : float
        ``-1`` for OpenFOAM's ``wallShearStress`` (the stress the wall exerts on the
        fluid), ``+1`` for a field that is already the traction on the body.
    axes : BodyAxes, optional
        The 3D directions; None: the 2D plane of the first two coordinates.
    reference_area : float, optional
        3D only: the reference area; None: the frontal area measured on the faces.

    Returns
    -------
    ForceCoefficients
    """
    pressure = np.asarray(pressure, dtype=np.float64).reshape(-1)
    normals = np.asarray(normals, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    if not (pressure.shape[0] == normals.shape[0] == areas.shape[0]):
        raise ValueError(
            f"pressure {pressure.shape}, normals {normals.shape} and areas {areas.shape} "
            "must describe the same surface faces"
        )
    directions, dynamic, area = coefficient_frame(normals, areas, speed, angle_of_attack_deg, chord, span, axes, reference_area)
    shear = None
    if wall_shear is not None:
        shear = torch.from_numpy(np.asarray(wall_shear, dtype=np.float64).reshape(pressure.shape[0], -1))
    pressure_force, viscous_force = (
        part.numpy() for part in surface_force(torch.from_numpy(pressure), torch.from_numpy(normals),
                                               torch.from_numpy(areas), shear, wall_shear_sign)
    )
    drag, lift, *side = (pressure_force + viscous_force) @ directions.T / dynamic
    if axes is None:
        return ForceCoefficients(lift=float(lift), drag=float(drag))
    return ForceCoefficients(
        lift=float(lift),
        drag=float(drag),
        side=float(side[0]),
        drag_pressure=float(pressure_force @ directions[0] / dynamic),
        drag_viscous=float(viscous_force @ directions[0] / dynamic),
        reference_area=area,
    )


def integrate_forces(
    settings: ForceSettings,
    channels: Sequence[str],
    surface_values: np.ndarray,
    normals: np.ndarray,
    areas: np.ndarray,
    speed: float,
    angle_of_attack_deg: float,
) -> ForceCoefficients:
    """Lift and drag (3D: and side force) of surface fields laid out as ``channels`` (the
    pressure and wall-shear channels named by ``settings``); see :func:`force_coefficients`."""
    shear_columns = columns_in(channels, settings.wall_shear_channels(channels))
    return force_coefficients(
        pressure=surface_values[:, list(channels).index(settings.pressure)],
        normals=normals,
        areas=areas,
        speed=speed,
        angle_of_attack_deg=angle_of_attack_deg,
        chord=settings.chord,
        span=settings.span,
        wall_shear=surface_values[:, shear_columns] if shear_columns else None,
        wall_shear_sign=settings.wall_shear_sign,
        axes=settings.axes,
        reference_area=settings.reference_area,
    )


@dataclass(frozen=True)
class ForceSettings:
    """How to integrate lift and drag from the surface fields (``data.forces``).

    Attributes
    ----------
    pressure : str
        Target channel of the kinematic surface pressure.
    wall_shear : str or None
        Base name of the wall-shear channels (``wallShearStress`` for
        ``wallShearStress[0]``, ``wallShearStress[1]``); None: pressure only.
    wall_shear_sign : float
        -1 for OpenFOAM's wall-on-fluid convention, +1 for traction on the body.
    speed : str
        Condition name holding the free-stream speed.
    angle_of_attack_deg : str or None
        Condition name holding the angle of attack (degrees); None: zero (a 3D body at a
        fixed attitude, e.g. an Ahmed body).
    chord, span : float
        2D: reference length and span.
    drag_direction, lift_direction : list of float, optional
        3D: the free stream and the ground normal (:class:`BodyAxes`), e.g. ``[1, 0, 0]``
        and ``[0, 0, 1]``; both None (the default, and every descriptor written before
        they existed): the 2D integral in the plane of the first two coordinates.
    reference_area : float, optional
        3D: the reference area; None: each body's frontal area, measured on its faces
        (:func:`frontal_area`; OpenFOAM's ``Aref`` of the ``lrsa-data ahmed`` cases is
        ``width * height``, which that equals; ``lrsa-predict`` from an STL measures
        :meth:`ReferenceArea.measured`, the shadow where the two differ).
    """

    pressure: str
    wall_shear: str | None
    wall_shear_sign: float
    speed: str
    angle_of_attack_deg: str | None
    chord: float
    span: float
    drag_direction: list[float] | None = None
    lift_direction: list[float] | None = None
    reference_area: float | None = None

    def __post_init__(self) -> None:
        if (self.drag_direction is None) != (self.lift_direction is None):
            raise ValueError("ForceSettings: drag_direction and lift_direction are given together (3D) or not at all (2D)")
        if self.reference_area is not None and not (math.isfinite(self.reference_area) and self.reference_area > 0):
            raise ValueError(f"ForceSettings.reference_area must be a positive number or None, got {self.reference_area!r}")
        if self.drag_direction is not None:
            # Stored as plain lists (JSON in the descriptor); checked here.
            object.__setattr__(self, "drag_direction", [float(v) for v in self.drag_direction])
            object.__setattr__(self, "lift_direction", [float(v) for v in self.lift_direction])
            BodyAxes(tuple(self.drag_direction), tuple(self.lift_direction))

    @property
    def axes(self) -> BodyAxes | None:
        """The 3D directions; None for the 2D integral."""
        if self.drag_direction is None:
            return None
        return BodyAxes(tuple(self.drag_direction), tuple(self.lift_direction))

    @classmethod
    def ground_vehicle(cls, speed: str, pressure: str = "p", wall_shear: str | None = "wallShearStress",
                       reference_area: float | None = None) -> ForceSettings:
        """3D settings of a body over a ground ``z = 0`` in a free stream along ``+x`` (``lrsa-data ahmed``)."""
        return cls(pressure=pressure, wall_shear=wall_shear, wall_shear_sign=-1.0, speed=speed, angle_of_attack_deg=None,
                   chord=1.0, span=1.0, drag_direction=[1.0, 0.0, 0.0], lift_direction=[0.0, 0.0, 1.0],
                   reference_area=reference_area)

    def angle_of(self, conditions: Mapping[str, float]) -> float:
        """The angle of attack in ``conditions`` (degrees); 0 where the settings name none."""
        return 0.0 if self.angle_of_attack_deg is None else float(conditions[self.angle_of_attack_deg])

    @classmethod
    def from_config(cls, forces: DictConfig | dict[str, Any]) -> ForceSettings:
        """``data.forces`` (less its ``enabled`` switch), typed by this dataclass as a structured config."""
        values = OmegaConf.to_container(forces, resolve=True) if isinstance(forces, DictConfig) else dict(forces)
        values.pop("enabled", None)
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), values))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def wall_shear_channels(self, channels: Sequence[str]) -> list[str]:
        """The channels holding the wall shear (``tau`` or ``tau[0]``, ``tau[1]``); [] without it."""
        return [] if self.wall_shear is None else channels_of(self.wall_shear, channels)


class SurfaceForceEvaluator:
    """Lift and drag of a case from predicted (or true) surface fields.

    Normals, face areas and the free-stream conditions come from the case's cached
    arrays, in physical units, so coefficients from predictions and from the CFD fields
    are integrated on exactly the same faces.

    Parameters
    ----------
    cache : MeshCache
        Cache holding the cases.
    settings : ForceSettings
        What to integrate.
    source : str
        Config key prefix for error messages (``data.forces``).

    Raises
    ------
    ConfigError
        The pressure or wall-shear channels are not surface targets, or the speed or
        angle condition is not among the cache's conditions.
    """

    def __init__(self, cache: MeshCache, settings: ForceSettings, source: str = "data.forces") -> None:
        self.cache = cache
        self.settings = settings
        surface = cache.index.surface_channels
        if settings.pressure not in surface:
            raise ConfigError(
                f"{source}.pressure: '{settings.pressure}' is not a surface target channel; "
                f"surface channels are {surface} (data.surface_fields)"
            )
        if settings.wall_shear is not None and not settings.wall_shear_channels(surface):
            raise ConfigError(
                f"{source}.wall_shear: no surface channel named '{settings.wall_shear}' or "
                f"'{settings.wall_shear}[i]'; surface channels are {surface} (set it to null "
                "for a pressure-only estimate)"
            )
        conditions = cache.index.condition_names
        for key in ("speed", "angle_of_attack_deg"):
            name = getattr(settings, key)
            if name is None and key == "angle_of_attack_deg":
                continue
            if name not in conditions:
                raise ConfigError(
                    f"{source}.{key}: condition '{name}' is not among data.conditions {conditions}; "
                    "the free stream must be an input of the model"
                )
        self._speed_index = conditions.index(settings.speed)
        self._angle_index = None if settings.angle_of_attack_deg is None else conditions.index(settings.angle_of_attack_deg)
        self._case_arrays: dict[str, dict[str, np.ndarray]] = {}
        self._frames: dict[str, tuple[np.ndarray, float]] = {}

    def _arrays(self, case_id: str) -> dict[str, np.ndarray]:
        if case_id not in self._case_arrays:
            arrays = self.cache.load_case(case_id)
            self._case_arrays[case_id] = {
                key: arrays[key] for key in ("surface_normals", "surface_weights", "surface_targets", "conditions")
            }
        return self._case_arrays[case_id]

    def _integrate(self, arrays: dict[str, np.ndarray], surface_values: np.ndarray) -> ForceCoefficients:
        conditions = arrays["conditions"]
        return integrate_forces(
            self.settings,
            self.cache.index.target_channels,
            surface_values,
            normals=arrays["surface_normals"],
            areas=arrays["surface_weights"],
            speed=float(conditions[self._speed_index]),
            angle_of_attack_deg=0.0 if self._angle_index is None else float(conditions[self._angle_index]),
        )

    def frame(self, case_id: str) -> tuple[np.ndarray, float]:
        """The case's coefficient directions (K, D) and ``0.5 U^2 A_ref`` (:func:`coefficient_frame`).

        What the training loss of ``training.loss.force_weight`` projects and divides each
        case's force by; kept per case (a few numbers), the case's arrays are not.
        """
        if case_id not in self._frames:
            arrays = self._case_arrays.get(case_id) or self.cache.load_case(case_id)
            conditions = arrays["conditions"]
            settings = self.settings
            directions, dynamic, _ = coefficient_frame(
                np.asarray(arrays["surface_normals"], dtype=np.float64),
                np.asarray(arrays["surface_weights"], dtype=np.float64),
                speed=float(conditions[self._speed_index]),
                angle_of_attack_deg=0.0 if self._angle_index is None else float(conditions[self._angle_index]),
                chord=settings.chord, span=settings.span, axes=settings.axes, reference_area=settings.reference_area,
            )
            self._frames[case_id] = (directions, dynamic)
        return self._frames[case_id]

    def true_surface_values(self, case_id: str) -> np.ndarray:
        """The case's CFD surface fields in the target layout, (Ns, C), NaN where undefined."""
        arrays = self._arrays(case_id)
        return place_channels(arrays["surface_targets"], self.cache.index.surface_channels, self.cache.index.target_channels)

    def coefficients(self, case_id: str, surface_prediction: np.ndarray) -> tuple[ForceCoefficients, ForceCoefficients]:
        """Coefficients from a prediction and from the CFD fields of the same case.

        Parameters
        ----------
        case_id : str
            Case in the cache.
        surface_prediction : np.ndarray
            (Ns, C) predicted targets at the case's surface points, in cache order,
            physical units.

        Returns
        -------
        predicted, true : ForceCoefficients
        """
        arrays = self._arrays(case_id)
        expected = arrays["surface_weights"].shape[0]
        if surface_prediction.shape[0] != expected:
            raise ValueError(
                f"case '{case_id}': {surface_prediction.shape[0]} predicted surface points, the "
                f"cache has {expected}; forces need the whole surface (evaluate with surface_points=None)"
            )
        predicted = self._integrate(arrays, np.asarray(surface_prediction, dtype=np.float64))
        true = self._integrate(arrays, self.true_surface_values(case_id))
        return predicted, true
