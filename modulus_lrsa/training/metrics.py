"""Loss, per-field errors and integrated aerodynamic coefficients.

Shapes: B samples, N points (padded), C target channels. A ``valid`` tensor of shape
(B, N, C) marks the entries that exist: real points (``mask``) where the channel is
defined (``target_mask``; e.g. wall shear only on surface points).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

#: Keeps the relative error finite for a channel that is identically zero in one sample.
_EPS = 1e-12


def valid_entries(batch: dict, target: torch.Tensor) -> torch.Tensor:
    """Which target entries count, (B, N, C) bool, from the batch's ``mask``/``target_mask``.

    Parameters
    ----------
    batch : dict
        May hold ``mask`` (B, N) and ``target_mask`` (B, N, C); grids have neither.
    target : torch.Tensor
        (B, N, C), for the shape and device.
    """
    valid = torch.ones_like(target, dtype=torch.bool)
    if "mask" in batch:
        valid = valid & batch["mask"].to(target.device).reshape(target.shape[0], -1, 1)
    if "target_mask" in batch:
        valid = valid & batch["target_mask"].to(target.device).reshape(target.shape)
    return valid


def per_sample_relative_l2(
    prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relative L2 error of each sample and channel over its valid points.

    Parameters
    ----------
    prediction, target : torch.Tensor
        (B, N, C).
    valid : torch.Tensor
        (B, N, C) bool.

    Returns
    -------
    errors : torch.Tensor
        (B, C) float32: ``||p - y|| / ||y||`` over the valid points (0 where none).
    present : torch.Tensor
        (B, C) bool: the channel has at least one valid point in the sample.
    """
    prediction = prediction.float()
    target = target.float()
    weight = valid.float()
    squared_error = ((prediction - target) ** 2 * weight).sum(dim=1)
    squared_norm = (target**2 * weight).sum(dim=1)
    errors = torch.sqrt(squared_error) / torch.sqrt(squared_norm + _EPS)
    present = valid.any(dim=1)
    return torch.where(present, errors, torch.zeros_like(errors)), present


def relative_l2_loss(prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over samples and channels of the per-channel relative L2 error.

    Each channel is measured on its own before averaging, so a field with small values
    (wall shear) weighs as much as a large one (pressure). With one channel this is the
    benchmark loss of FNO/Transolver/LRSA.

    Parameters
    ----------
    prediction, target : torch.Tensor
        (B, N, C), normalised.
    valid : torch.Tensor
        (B, N, C) bool.

    Returns
    -------
    torch.Tensor
        Scalar, float32.
    """
    errors, present = per_sample_relative_l2(prediction, target, valid)
    return errors.sum() / present.sum().clamp_min(1)


class FieldErrorMeter:
    """Mean relative L2 error per named field over many samples (and ranks).

    Parameters
    ----------
    names : sequence of str
        The C channel names.
    device : torch.device
        Where the running sums live (the collective needs them on the process's device).
    """

    def __init__(self, names: Sequence[str], device: torch.device) -> None:
        self.names = list(names)
        self.sums = torch.zeros(len(self.names), dtype=torch.float64, device=device)
        self.counts = torch.zeros(len(self.names), dtype=torch.float64, device=device)

    def update(self, prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> None:
        """Add a batch; all tensors (B, N, C) in the same (physical) units."""
        errors, present = per_sample_relative_l2(prediction, target, valid)
        self.sums += errors.double().sum(dim=0).to(self.sums.device)
        self.counts += present.double().sum(dim=0).to(self.counts.device)

    def all_reduce(self) -> None:
        """Sum the accumulators over all ranks."""
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.sums)
            dist.all_reduce(self.counts)

    def results(self, prefix: str = "rel_l2/") -> dict[str, float]:
        """``{prefix + name: mean error}`` for every field seen at least once."""
        means = (self.sums / self.counts.clamp_min(1)).tolist()
        return {f"{prefix}{name}": value for name, value, count in zip(self.names, means, self.counts.tolist()) if count}


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
