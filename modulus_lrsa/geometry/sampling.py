# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Random points on a body surface and in the fluid volume around it.

Used to build query point sets where no CFD mesh exists (inference on a new geometry,
extra geometry tokens). Every function takes an integer ``seed``; the same seed gives the
same points. Candidates are always drawn on the CPU, so results agree across devices
except where a candidate lies within round-off of the wall and the CPU and GPU distance
queries disagree on accepting it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import warp as wp

from modulus_lrsa.errors import MeshDataError
from modulus_lrsa.geometry.kernels import sample_faces_kernel
from modulus_lrsa.geometry.quality import UNDECIDED_WINDING, WallQuality, require_fluid_side
from modulus_lrsa.geometry.sdf import INSIDE_WINDING, wall_distance_with_winding, warp_stream_for
from modulus_lrsa.geometry.surface import BodySurface

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SurfaceSample:
    """Points drawn uniformly by area (3D) or length (2D) on a surface.

    Attributes
    ----------
    points : torch.Tensor
        float32, shape (K, D).
    normals : torch.Tensor
        float32, shape (K, D): unit outward normal of the face each point lies on.
    face_index : torch.Tensor
        int64, shape (K,).
    """

    points: torch.Tensor
    normals: torch.Tensor
    face_index: torch.Tensor


@dataclass(frozen=True)
class VolumeSample:
    """Points in the fluid around a body, with their distance features.

    Attributes
    ----------
    points : torch.Tensor
        float32, shape (K, D), inside the box and outside the body.
    distance : torch.Tensor
        float32, shape (K,), > 0: the wall distance, as of a CFD mesh's cells
        (:func:`~modulus_lrsa.geometry.sdf.wall_distance`).
    direction : torch.Tensor
        float32, shape (K, D): unit direction away from the nearest wall point.
    weights : torch.Tensor
        float32, shape (K,), > 0: quadrature weight of each point, the inverse of the
        sampling density there, scaled so they sum to the fluid volume (area in 2D) of
        the box. Weighted sums over the points then estimate integrals over the fluid,
        as cell volumes do on a CFD mesh.
    wall : WallQuality
        How far the wall is from watertight, with the count of uncertain points and the
        warnings that were logged.
    """

    points: torch.Tensor
    distance: torch.Tensor
    direction: torch.Tensor
    weights: torch.Tensor
    wall: WallQuality


def _warp_seed(seed: int, round_index: int) -> int:
    # Warp's RNG takes a 32-bit seed; mix the round in so rounds differ.
    return int(np.random.SeedSequence([seed, round_index]).generate_state(1)[0] & 0x7FFFFFFF)


def sample_surface(
    surface: BodySurface,
    num_points: int,
    seed: int,
    device: str | torch.device = "cpu",
) -> SurfaceSample:
    """Draw independent points uniformly over the surface (Warp kernel).

    Parameters
    ----------
    surface : BodySurface
        Triangles (3D) or segments (2D).
    num_points : int
        K >= 0.
    seed : int
        Random seed.
    device : str or torch.device
        ``"cpu"`` or a CUDA device.

    Returns
    -------
    SurfaceSample
    """
    if num_points < 0:
        raise ValueError(f"num_points must be >= 0, got {num_points}")
    device = torch.device(device)
    measures = surface.face_measures()
    if not (measures > 0).any():
        raise ValueError("the surface has zero total area/length; nothing to sample")
    vertices = np.zeros((surface.vertices.shape[0], 3))
    vertices[:, : surface.dim] = surface.vertices
    cumulative = torch.as_tensor(np.cumsum(measures), dtype=torch.float64, device=device)
    vertices_t = torch.as_tensor(vertices, dtype=torch.float64, device=device)
    faces_t = torch.as_tensor(surface.faces, dtype=torch.int32, device=device).contiguous()
    points = torch.empty((num_points, 3), dtype=torch.float64, device=device)
    face_index = torch.empty(num_points, dtype=torch.int32, device=device)
    if num_points:
        wp.init()  # idempotent; device_from_torch needs an initialized runtime
        wp.launch(
            sample_faces_kernel,
            dim=num_points,
            inputs=[
                _warp_seed(seed, 0),
                wp.from_torch(cumulative, dtype=wp.float64),
                wp.from_torch(vertices_t, dtype=wp.vec3d),
                wp.from_torch(faces_t, dtype=wp.int32),
            ],
            outputs=[wp.from_torch(points, dtype=wp.vec3d), wp.from_torch(face_index, dtype=wp.int32)],
            device=wp.device_from_torch(device),
            stream=warp_stream_for(device),
        )
    face_index = face_index.to(torch.int64)
    normals = torch.as_tensor(surface.face_normals(), dtype=torch.float32, device=device)[face_index]
    return SurfaceSample(
        points=points[:, : surface.dim].to(torch.float32), normals=normals, face_index=face_index
    )


def sample_volume(
    surface: BodySurface,
    num_points: int,
    box_min: Sequence[float],
    box_max: Sequence[float],
    seed: int,
    near_wall_fraction: float = 0.0,
    near_wall_thickness: float | None = None,
    device: str | torch.device = "cpu",
    max_rounds: int = 50,
) -> VolumeSample:
    """Draw points in a box, outside the body, optionally denser near the wall.

    For an external flow. The body is where the generalised winding number is at least
    1/2 (:func:`~modulus_lrsa.geometry.sdf.winding_number`), so a wall with holes, cracks,
    overlapping or repeated parts still has its fluid side told (overlapping parts count
    as their union); :func:`~modulus_lrsa.geometry.quality.require_fluid_side` refuses
    the walls whose side cannot be told (half a contour, NaN coordinates, no area), and
    what is not watertight is logged as warnings and returned in ``wall``. The walls of
    an internal flow (a duct, a channel wall) have no outside; predict on the case's own
    mesh there.

    A fraction ``1 - near_wall_fraction`` is uniform in the box; the rest starts from
    uniform surface points and moves out along the face normal by an exponentially
    distributed distance with mean ``near_wall_thickness``, so the density decays away
    from the wall like a boundary-layer mesh. Candidates inside the body, on the wall or
    outside the box are rejected and redrawn.

    The sampling density at a point at wall distance ``d`` is
    ``n_u / V + n_w exp(-d / h) / (A h)`` (``n_u``, ``n_w`` uniform and near-wall counts,
    ``V`` the fluid volume of the box, estimated from the uniform acceptance rate,
    ``A`` the body's area or length, ``h`` the thickness); the near-wall term treats the
    wall as locally flat. Each point's weight is the inverse of that density.

    Parameters
    ----------
    surface : BodySurface
        The body.
    num_points : int
        K >= 0 points to return.
    box_min, box_max : sequence of float
        Box corners, D values each.
    seed : int
        Random seed.
    near_wall_fraction : float
        In [0, 1].
    near_wall_thickness : float, optional
        Mean wall distance of near-wall points; default 5% of the body's largest extent.
    device : str or torch.device
        Where the Warp queries run.
    max_rounds : int
        Give up after this many rejection rounds (the box is then mostly inside the body).

    Returns
    -------
    VolumeSample
        Exactly ``num_points`` points.

    Raises
    ------
    MeshDataError
        The wall's fluid side cannot be told, or too few points lie outside the body within
        ``max_rounds`` (one line naming ``surface.source``).
    """
    dim = surface.dim
    lower = torch.as_tensor(box_min, dtype=torch.float64)
    upper = torch.as_tensor(box_max, dtype=torch.float64)
    if lower.shape != (dim,) or upper.shape != (dim,) or not bool((upper > lower).all()):
        raise ValueError(
            f"box_min and box_max must each hold {dim} values with box_max > box_min, "
            f"got {list(box_min)} and {list(box_max)}"
        )
    if not 0.0 <= near_wall_fraction <= 1.0:
        raise ValueError(f"near_wall_fraction must be in [0, 1], got {near_wall_fraction}")
    if num_points < 0:
        raise ValueError(f"num_points must be >= 0, got {num_points}")
    device = torch.device(device)
    quality = require_fluid_side(surface, device)
    body_lower, body_upper = surface.bounds()
    if near_wall_thickness is None:
        near_wall_thickness = 0.05 * float(np.max(body_upper - body_lower))
    if near_wall_thickness <= 0:
        raise ValueError(f"near_wall_thickness must be > 0, got {near_wall_thickness}")
    generator = torch.Generator().manual_seed(seed)
    wanted_near = int(round(near_wall_fraction * num_points))
    wanted = {"uniform": num_points - wanted_near, "near_wall": wanted_near}
    # Per kind: accepted points, their wall distance, direction and winding number.
    accepted: dict[str, list[tuple[torch.Tensor, ...]]] = {"uniform": [], "near_wall": []}
    have = {"uniform": 0, "near_wall": 0}
    uniform_drawn = uniform_outside = 0

    for round_index in range(max_rounds):
        missing = {kind: wanted[kind] - have[kind] for kind in wanted}
        if all(value <= 0 for value in missing.values()):
            break
        drawn: dict[str, torch.Tensor] = {}
        for kind, count in missing.items():
            if count <= 0:
                continue
            # Oversample: rejection typically drops a modest fraction.
            draw = max(64, 2 * count)
            if kind == "uniform":
                candidates = lower + (upper - lower) * torch.rand((draw, dim), generator=generator, dtype=torch.float64)
            else:
                base = sample_surface(surface, draw, seed=_warp_seed(seed, round_index + 1), device="cpu")
                offsets = torch.empty(draw, dtype=torch.float64).exponential_(generator=generator)
                candidates = base.points.to(torch.float64) + base.normals.to(torch.float64) * (
                    near_wall_thickness * offsets
                ).unsqueeze(1)
                candidates = candidates[((candidates >= lower) & (candidates <= upper)).all(dim=1)]
            drawn[kind] = candidates
        # One query for both kinds: each builds the wall's BVHs anew, which dominates on large walls.
        # Accepted points are in the fluid: their features come out as a CFD mesh's cells do.
        features, winding = wall_distance_with_winding(surface, torch.cat(list(drawn.values())), device=device)
        outside_all = (winding.cpu() < INSIDE_WINDING) & (features.distance.cpu() > 0)
        start = 0
        for kind, candidates in drawn.items():
            span = slice(start, start + candidates.shape[0])
            start = span.stop
            outside = outside_all[span]
            if kind == "uniform":
                uniform_drawn += candidates.shape[0]
                uniform_outside += int(outside.sum())
            kept = torch.nonzero(outside).reshape(-1)[: missing[kind]]
            on_device = kept.to(features.distance.device) + span.start
            accepted[kind].append(
                (candidates[kept], features.distance[on_device], features.direction[on_device], winding[on_device].cpu())
            )
            have[kind] += kept.shape[0]
    else:
        if any(have[kind] < wanted[kind] for kind in wanted):
            raise MeshDataError(
                f"{surface.source}: sample_volume: only {sum(have.values())} of {num_points} points found outside the "
                f"body after {max_rounds} rounds; is the box {list(box_min)}..{list(box_max)} "
                "mostly inside the body, or is the wall a duct around the fluid (an internal flow, "
                "which has no outside to sample)?"
            )
    parts = accepted["uniform"] + accepted["near_wall"]
    points = torch.cat([torch.zeros((0, dim), dtype=torch.float64)] + [part[0] for part in parts])
    wall_distances = torch.cat([torch.zeros(0, device=device)] + [part[1] for part in parts])
    directions = torch.cat([torch.zeros((0, dim), device=device)] + [part[2] for part in parts])
    windings = torch.cat([torch.zeros(0, dtype=torch.float64)] + [part[3] for part in parts])
    quality = _with_uncertain_points(quality, windings)
    for warning in quality.warnings:
        logger.warning("%s: %s", quality.source, warning)
    box_measure = float(torch.prod(upper - lower))
    fluid_measure = box_measure * (uniform_outside / uniform_drawn if uniform_drawn else 1.0)
    distance = wall_distances.detach().cpu().to(torch.float64)
    density = torch.full_like(distance, wanted["uniform"] / fluid_measure)
    if wanted["near_wall"]:
        body_measure = float(surface.face_measures().sum())
        density += wanted["near_wall"] * torch.exp(-distance / near_wall_thickness) / (
            body_measure * near_wall_thickness
        )
    weights = 1.0 / density
    weights *= fluid_measure / weights.sum().clamp_min(1e-300)
    return VolumeSample(
        points=points.to(device=device, dtype=torch.float32),
        distance=wall_distances,
        direction=directions,
        weights=weights.to(device=device, dtype=torch.float32),
        wall=quality,
    )


def _with_uncertain_points(quality: WallQuality, windings: torch.Tensor) -> WallQuality:
    """The report with the count of sampled points whose winding number is undecided (all below the inside threshold)."""
    low = UNDECIDED_WINDING[0]
    uncertain = int((windings >= low).sum())
    warnings = quality.warnings
    if uncertain:
        warnings += (
            f"{uncertain} of the {windings.numel()} sampled points ({uncertain / windings.numel():.1%}) have a winding "
            f"number between {low:g} and {INSIDE_WINDING:g}, near the wall's gaps: some of them may lie inside the body",
        )
    return dataclasses.replace(quality, sampled_points=int(windings.numel()), uncertain_points=uncertain, warnings=warnings)
