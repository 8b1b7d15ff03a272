# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Aerodynamic coefficients: lift and drag integrated from surface pressure and wall shear.

* :func:`force_coefficients`: the integral over the faces of one body;
* :class:`ForceSettings`: which channels and conditions hold pressure, wall shear, speed
  and angle (``data.forces``, stored in the model's data descriptor);
* :func:`integrate_forces`: the integral of fields laid out as target channels;
* :class:`SurfaceForceEvaluator`: predicted against CFD coefficients of the cases of a
  preprocessing cache, on exactly the same faces (validation in ``lrsa-train``).

``lrsa-predict`` integrates its predictions with the same :func:`integrate_forces`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from modulus_lrsa.datapipes.cache import MeshCache
from modulus_lrsa.errors import ConfigError
from modulus_lrsa.io.fields import channels_of, columns_in, place_channels


@dataclass(frozen=True)
class ForceCoefficients:
    """Lift and drag coefficients of one body."""

    lift: float
    drag: float

    def as_dict(self) -> dict[str, float]:
        return {"Cl": self.lift, "Cd": self.drag}


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
) -> ForceCoefficients:
    """Integrate surface pressure and wall shear into lift and drag coefficients.

    The force on the body is ``F = sum_f (-p_f n_f + s * tau_f) A_f`` with ``n`` the unit
    normal pointing out of the body into the fluid. ``p`` and ``tau`` are kinematic
    (divided by density, as simpleFoam writes them), so ``Cl = F . e_lift / (0.5 U^2 c
    span)`` and ``Cd = F . e_drag / (...)`` need no density. The drag direction is the
    free stream ``(cos a, sin a)`` and the lift direction ``(-sin a, cos a)``, in the
    plane of the first two coordinates; a 3D body is projected onto that plane.

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
    if speed <= 0 or chord <= 0 or span <= 0:
        raise ValueError(f"speed, chord and span must be > 0, got {speed}, {chord}, {span}")
    traction = -pressure[:, None] * normals
    if wall_shear is not None:
        wall_shear = np.asarray(wall_shear, dtype=np.float64).reshape(pressure.shape[0], -1)
        traction[:, : wall_shear.shape[1]] += wall_shear_sign * wall_shear
    force = (traction * areas[:, None]).sum(axis=0)
    angle = math.radians(angle_of_attack_deg)
    drag_direction = np.array([math.cos(angle), math.sin(angle)])
    lift_direction = np.array([-math.sin(angle), math.cos(angle)])
    dynamic_pressure_area = 0.5 * speed**2 * chord * span
    return ForceCoefficients(
        lift=float(force[:2] @ lift_direction / dynamic_pressure_area),
        drag=float(force[:2] @ drag_direction / dynamic_pressure_area),
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
    """Lift and drag of surface fields laid out as ``channels`` (the pressure and wall-shear
    channels named by ``settings``); see :func:`force_coefficients`."""
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
    speed, angle_of_attack_deg : str
        Condition names holding the free-stream speed and angle of attack (degrees).
    chord, span : float
        Reference length and span.
    """

    pressure: str
    wall_shear: str | None
    wall_shear_sign: float
    speed: str
    angle_of_attack_deg: str
    chord: float
    span: float

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
        surface = cache.surface_channels
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
        conditions = cache.condition_names
        for key in ("speed", "angle_of_attack_deg"):
            name = getattr(settings, key)
            if name not in conditions:
                raise ConfigError(
                    f"{source}.{key}: condition '{name}' is not among data.conditions {conditions}; "
                    "the free stream must be an input of the model"
                )
        self._speed_index = conditions.index(settings.speed)
        self._angle_index = conditions.index(settings.angle_of_attack_deg)
        self._case_arrays: dict[str, dict[str, np.ndarray]] = {}

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
            self.cache.target_channels,
            surface_values,
            normals=arrays["surface_normals"],
            areas=arrays["surface_weights"],
            speed=float(conditions[self._speed_index]),
            angle_of_attack_deg=float(conditions[self._angle_index]),
        )

    def true_surface_values(self, case_id: str) -> np.ndarray:
        """The case's CFD surface fields in the target layout, (Ns, C), NaN where undefined."""
        arrays = self._arrays(case_id)
        return place_channels(arrays["surface_targets"], self.cache.surface_channels, self.cache.target_channels)

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
