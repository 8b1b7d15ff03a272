# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Distance and nearest-surface direction from query points to a body surface or wall.

3D surfaces use PhysicsNeMo's Warp ``signed_distance_field`` (BVH closest point) with the
winding-number sign, which stays sensible on surfaces that are not closed: the sign
flips where the generalised winding number crosses 1/2, i.e. across the surface and
smoothly across its holes. 2D contours use this package's Warp kernel
(:mod:`modulus_lrsa.geometry.kernels`), the same construction in the plane.

The winding number itself (:func:`winding_number`) tells the fluid side of a wall that
is not watertight: it sums what every face contributes, wherever it is, so holes blur
it only near them, and overlapping or duplicated closed parts add up (at least 1 inside
any of them): thresholded at 1/2, the body is the union of the parts.

Two conventions:

* :func:`signed_distance`: negative inside the body, positive in the fluid. Only a closed
  body in an external flow has an inside; it tells fluid from body where nothing else does.
* :func:`wall_distance`: the unsigned distance, for points known to be in the fluid (the
  cells of a CFD mesh), whatever the wall's shape: an open patch, several patches, a duct
  around the fluid or a body inside it. The winding number of a duct or of one channel
  wall says nothing about which side is fluid, so a sign there would be wrong.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import warp as wp

from modulus_lrsa.geometry.kernels import mesh_winding_number_kernel, segment_signed_distance_kernel
from modulus_lrsa.geometry.surface import BodySurface

#: Inside the body where the winding number is at least this.
INSIDE_WINDING = 0.5

#: Warp's fast winding number: BVH clusters of triangles farther from the point than this
#: times their radius are taken by their dipole expansion (Warp's default, as PhysicsNeMo uses it).
WINDING_ACCURACY = 2.0


@dataclass(frozen=True)
class SignedDistance:
    """Distance features of query points.

    Attributes
    ----------
    distance : torch.Tensor
        float32, shape (N,): distance, negative inside the body (:func:`signed_distance`)
        or never negative (:func:`wall_distance`).
    closest_points : torch.Tensor
        float32, shape (N, D): nearest point on the surface.
    direction : torch.Tensor
        float32, shape (N, D): unit gradient of the distance. Signed, it points away from
        the body on both sides of the wall; unsigned, away from the nearest wall point.
        For points on the wall, the normal of the nearest face (into the fluid).
    face_index : torch.Tensor
        int64, shape (N,): nearest triangle (3D) or segment (2D).
    """

    distance: torch.Tensor
    closest_points: torch.Tensor
    direction: torch.Tensor
    face_index: torch.Tensor


def as_points_tensor(points: np.ndarray | torch.Tensor, dim: int, device: str | torch.device | None) -> torch.Tensor:
    """Query points as a float64 (N, dim) tensor on ``device`` (default: where they are)."""
    tensor = torch.as_tensor(points)
    if device is not None:
        tensor = tensor.to(device)
    if tensor.ndim != 2 or tensor.shape[1] != dim:
        raise ValueError(f"points must have shape (N, {dim}) for a {dim}D surface, got {tuple(tensor.shape)}")
    return tensor.to(torch.float64).contiguous()


def _direction(
    queries: torch.Tensor,
    closest: torch.Tensor,
    distance: torch.Tensor,
    face_index: torch.Tensor,
    face_normals: torch.Tensor,
    length_scale: float,
) -> torch.Tensor:
    """Unit gradient of ``distance``: the offset from the nearest point, flipped where negative."""
    offset = queries - closest
    length = offset.norm(dim=1, keepdim=True)
    sign = torch.where(distance < 0, -1.0, 1.0).to(offset.dtype).unsqueeze(1)
    gradient = sign * offset / length.clamp_min(torch.finfo(offset.dtype).tiny)
    # On the wall the offset has no direction; the face normal is the limit from outside.
    on_wall = length <= 1e-9 * length_scale
    return torch.where(on_wall, face_normals[face_index.clamp_min(0)], gradient)


def signed_distance(
    surface: BodySurface,
    points: np.ndarray | torch.Tensor,
    device: str | torch.device | None = None,
) -> SignedDistance:
    """Signed distance, nearest point and direction from each query point to the surface.

    Parameters
    ----------
    surface : BodySurface
        Oriented body surface (triangles in 3D, segments in 2D).
    points : np.ndarray or torch.Tensor
        Query points, shape (N, D) with D = ``surface.dim``.
    device : str or torch.device, optional
        Where to compute (``"cpu"``, ``"cuda:0"``); default: the device of ``points``.

    Returns
    -------
    SignedDistance
        Tensors on ``device``; the distance is negative inside the body.
    """
    return _distance_features(surface, points, device, signed=True)[0]


def wall_distance(
    surface: BodySurface,
    points: np.ndarray | torch.Tensor,
    device: str | torch.device | None = None,
) -> SignedDistance:
    """Unsigned distance, nearest point and direction from fluid points to the wall.

    For points known to be in the fluid, such as the cells of a CFD mesh: internal and
    external flows alike, whatever the wall's shape.

    Parameters
    ----------
    surface : BodySurface
        The wall (triangles in 3D, segments in 2D): open or closed, one or several patches.
    points : np.ndarray or torch.Tensor
        Query points, shape (N, D) with D = ``surface.dim``.
    device : str or torch.device, optional
        Where to compute (``"cpu"``, ``"cuda:0"``); default: the device of ``points``.

    Returns
    -------
    SignedDistance
        Tensors on ``device``; the distance is >= 0 and the direction points away from
        the nearest wall point.
    """
    return _distance_features(surface, points, device, signed=False)[0]


def _distance_features(
    surface: BodySurface,
    points: np.ndarray | torch.Tensor,
    device: str | torch.device | None,
    signed: bool,
    with_winding: bool = False,
) -> tuple[SignedDistance, torch.Tensor | None]:
    """The features, and the winding number where asked for (else None)."""
    queries = as_points_tensor(points, surface.dim, device)
    target = queries.device
    face_normals = torch.as_tensor(surface.face_normals(), dtype=torch.float64, device=target)
    lower, upper = surface.bounds()
    length_scale = float(np.linalg.norm(upper - lower)) or 1.0
    if queries.shape[0] == 0:
        empty = torch.zeros((0, surface.dim), dtype=torch.float32, device=target)
        features = SignedDistance(
            torch.zeros(0, device=target), empty, empty.clone(), torch.zeros(0, dtype=torch.int64, device=target)
        )
        return features, torch.zeros(0, dtype=torch.float64, device=target) if with_winding else None

    if surface.dim == 3:
        # Imported on first 3D use: loading physicsnemo.nn.functional takes seconds, and
        # 2D cases (and their preprocessing workers) never need it.
        from physicsnemo.nn.functional import signed_distance_field

        vertices = torch.as_tensor(surface.vertices, dtype=torch.float32, device=target)
        faces = torch.as_tensor(surface.faces, dtype=torch.int32, device=target)
        # Unsigned needs no winding number; the cheaper normal sign is dropped below.
        distance, closest, face_index = signed_distance_field(
            vertices, faces, queries.to(torch.float32), max_dist=1e30, use_sign_winding_number=signed
        )
        distance, closest = distance.to(torch.float64), closest.to(torch.float64)
        if torch.isnan(distance).any():
            raise RuntimeError("signed distance query found no surface triangle for some points")
        winding = winding_number(surface, queries) if with_winding else None
    else:
        distance, closest, face_index, winding = _segment_signed_distance(surface, queries)
        winding = winding if with_winding else None
    if not signed:
        distance = distance.abs()

    direction = _direction(queries, closest, distance, face_index, face_normals, length_scale)
    features = SignedDistance(
        distance=distance.to(torch.float32),
        closest_points=closest.to(torch.float32),
        direction=direction.to(torch.float32),
        face_index=face_index.to(torch.int64),
    )
    return features, winding


def _segment_signed_distance(
    surface: BodySurface, queries: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    wp.init()  # idempotent; device_from_torch needs an initialized runtime
    device = queries.device
    vertices = torch.as_tensor(surface.vertices, dtype=torch.float64, device=device).contiguous()
    segments = torch.as_tensor(surface.faces, dtype=torch.int32, device=device).contiguous()
    count = queries.shape[0]
    distance = torch.empty(count, dtype=torch.float64, device=device)
    closest = torch.empty((count, 2), dtype=torch.float64, device=device)
    face_index = torch.empty(count, dtype=torch.int32, device=device)
    winding = torch.empty(count, dtype=torch.float64, device=device)
    wp.launch(
        segment_signed_distance_kernel,
        dim=count,
        inputs=[
            wp.from_torch(queries, dtype=wp.vec2d),
            wp.from_torch(vertices, dtype=wp.vec2d),
            wp.from_torch(segments, dtype=wp.int32),
        ],
        outputs=[
            wp.from_torch(distance, dtype=wp.float64),
            wp.from_torch(closest, dtype=wp.vec2d),
            wp.from_torch(face_index, dtype=wp.int32),
            wp.from_torch(winding, dtype=wp.float64),
        ],
        device=wp.device_from_torch(device),
        stream=warp_stream_for(device),
    )
    return distance, closest, face_index.to(torch.int64), winding


def winding_number(
    surface: BodySurface,
    points: np.ndarray | torch.Tensor,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Generalised winding number of the surface at each query point.

    About 1 inside a closed, outward body and 0 outside; the sum over parts where closed
    parts overlap; in between near the holes of an open wall. Points where it is at least
    :data:`INSIDE_WINDING` are inside the body (the sign :func:`signed_distance` gives).

    * 2D: the exact sum of the signed angles the segments subtend, over 2*pi (float64).
    * 3D: Warp's hierarchical fast winding number (float32 sums, accuracy
      :data:`WINDING_ACCURACY`), within a few 1e-3 of the exact sum of solid angles.

    Parameters
    ----------
    surface : BodySurface
        Triangles (3D) or segments (2D), oriented outward; need not be closed.
    points : np.ndarray or torch.Tensor
        Query points, shape (N, D) with D = ``surface.dim``.
    device : str or torch.device, optional
        Where to compute; default: the device of ``points``.

    Returns
    -------
    torch.Tensor
        float64, shape (N,), on ``device``.
    """
    queries = as_points_tensor(points, surface.dim, device)
    if queries.shape[0] == 0:
        return torch.zeros(0, dtype=torch.float64, device=queries.device)
    if surface.dim == 2:
        return _segment_signed_distance(surface, queries)[3]
    wp.init()  # idempotent; device_from_torch needs an initialized runtime
    target = queries.device
    vertices = torch.as_tensor(surface.vertices, dtype=torch.float32, device=target).contiguous()
    indices = torch.as_tensor(surface.faces, dtype=torch.int32, device=target).reshape(-1).contiguous()
    single = queries.to(torch.float32).contiguous()
    winding = torch.empty(queries.shape[0], dtype=torch.float32, device=target)
    warp_device = wp.device_from_torch(target)
    stream = warp_stream_for(target)
    with wp.ScopedStream(stream) if stream is not None else contextlib.nullcontext():
        mesh = wp.Mesh(
            points=wp.from_torch(vertices, dtype=wp.vec3),
            indices=wp.from_torch(indices, dtype=wp.int32),
            support_winding_number=True,
        )
        wp.launch(
            mesh_winding_number_kernel,
            dim=queries.shape[0],
            inputs=[mesh.id, wp.from_torch(single, dtype=wp.vec3), WINDING_ACCURACY],
            outputs=[wp.from_torch(winding, dtype=wp.float32)],
            device=warp_device,
            stream=stream,
        )
    return winding.to(torch.float64)


def wall_distance_with_winding(
    surface: BodySurface,
    points: np.ndarray | torch.Tensor,
    device: str | torch.device | None = None,
) -> tuple[SignedDistance, torch.Tensor]:
    """:func:`wall_distance` and :func:`winding_number` at once (one kernel launch in 2D).

    For candidates whose side is not known yet: the winding number tells the fluid ones,
    whose features are then those of :func:`wall_distance`.
    """
    features, winding = _distance_features(surface, points, device, signed=False, with_winding=True)
    return features, winding


def warp_stream_for(device: torch.device) -> wp.Stream | None:
    """Torch's current CUDA stream as a Warp stream (so launches order with torch ops); None on CPU."""
    if device.type != "cuda":
        return None
    return wp.stream_from_torch(torch.cuda.current_stream(device))
