# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Warp kernels for what PhysicsNeMo does not provide.

PhysicsNeMo's ``signed_distance_field`` covers 3D triangle meshes (BVH closest point,
winding-number sign). Missing, and written here:

* signed distance to a 2D contour (segments) with a 2D winding-number sign;
* the value of the 3D winding number, which ``signed_distance_field`` only thresholds;
* independent area-uniform (3D) or length-uniform (2D) random points on a surface
  (PhysicsNeMo's mesh sampler produces Poisson-disk, i.e. deliberately non-independent,
  point sets).

All run on CPU and CUDA devices; float64 keeps the 2D winding-number sums and the
cumulative-area search exact enough for meshes with millions of faces.
"""

from __future__ import annotations

import warp as wp

_TWO_PI = 6.283185307179586


@wp.kernel
def segment_signed_distance_kernel(
    points: wp.array(dtype=wp.vec2d),
    vertices: wp.array(dtype=wp.vec2d),
    segments: wp.array2d(dtype=wp.int32),
    signed_distance: wp.array(dtype=wp.float64),
    closest_point: wp.array(dtype=wp.vec2d),
    closest_segment: wp.array(dtype=wp.int32),
    winding_number: wp.array(dtype=wp.float64),
):
    """Closest point on a set of segments, and the generalised 2D winding number.

    One thread per query point, looping over all segments: 2D wall contours have
    hundreds to a few thousand segments, so a hierarchy would not pay off. The winding
    number is the sum of the signed angles the segments subtend, over 2*pi: 1 inside a
    counter-clockwise closed contour, 0 outside, and a smooth in-between value near the
    gap of an open contour. Points with winding number > 0.5 get a negative distance.
    """
    tid = wp.tid()
    p = points[tid]
    best_distance = wp.float64(1.0e300)
    best_point = p
    best_segment = wp.int32(-1)
    angle_sum = wp.float64(0.0)
    for s in range(segments.shape[0]):
        a = vertices[segments[s, 0]]
        b = vertices[segments[s, 1]]
        ab = b - a
        length_sq = wp.dot(ab, ab)
        t = wp.float64(0.0)
        if length_sq > wp.float64(0.0):
            t = wp.clamp(wp.dot(p - a, ab) / length_sq, wp.float64(0.0), wp.float64(1.0))
        q = a + t * ab
        distance = wp.length(p - q)
        if distance < best_distance:
            best_distance = distance
            best_point = q
            best_segment = wp.int32(s)
        pa = a - p
        pb = b - p
        angle_sum += wp.atan2(pa[0] * pb[1] - pa[1] * pb[0], wp.dot(pa, pb))
    winding = angle_sum / wp.float64(_TWO_PI)
    sign = wp.float64(1.0)
    if winding > wp.float64(0.5):
        sign = wp.float64(-1.0)
    signed_distance[tid] = sign * best_distance
    closest_point[tid] = best_point
    closest_segment[tid] = best_segment
    winding_number[tid] = winding


@wp.func_native("return wp::mesh_query_winding_number(id, point, accuracy);")
def _mesh_winding_number(id: wp.uint64, point: wp.vec3, accuracy: float) -> float:
    """Warp's fast winding number, the value its ``mesh_query_point_sign_winding_number`` thresholds.

    Warp's Python API gives only that sign, so this calls the C++ function under it (the
    tests check it against the exact sum of solid angles).
    """
    ...


@wp.kernel
def mesh_winding_number_kernel(
    mesh: wp.uint64,
    points: wp.array(dtype=wp.vec3),
    accuracy: float,
    winding_number: wp.array(dtype=wp.float32),
):
    """Generalised 3D winding number of a triangle mesh at each point (one thread each).

    The sum of the signed solid angles of the triangles, over 4*pi (Jacobson et al. 2013),
    evaluated hierarchically (Barill et al. 2018): triangles near the point exactly, far
    BVH clusters (farther than ``accuracy`` times their radius) by their dipole expansion.
    The mesh needs ``support_winding_number=True``.
    """
    tid = wp.tid()
    winding_number[tid] = _mesh_winding_number(mesh, points[tid], accuracy)


@wp.kernel
def sample_faces_kernel(
    seed: wp.int32,
    cumulative_measure: wp.array(dtype=wp.float64),
    vertices: wp.array(dtype=wp.vec3d),
    faces: wp.array2d(dtype=wp.int32),
    sampled_points: wp.array(dtype=wp.vec3d),
    sampled_faces: wp.array(dtype=wp.int32),
):
    """Independent uniform points on triangles (faces with 3 ids) or segments (2 ids).

    A face is drawn with probability proportional to its measure by searching the
    cumulative measures, then a uniform point on it: ``a + r (b - a)`` on a segment,
    and on a triangle barycentric weights from ``sqrt`` of a uniform variate, which is
    uniform in area.
    """
    tid = wp.tid()
    state = wp.rand_init(seed, tid)
    total = cumulative_measure[cumulative_measure.shape[0] - 1]
    target = wp.float64(wp.randf(state)) * total
    last = cumulative_measure.shape[0] - 1
    face = wp.min(wp.lower_bound(cumulative_measure, target), last)
    # Step past zero-measure faces (equal cumulative values), which must never be drawn.
    while face < last and cumulative_measure[face] <= target:
        face += 1
    a = vertices[faces[face, 0]]
    b = vertices[faces[face, 1]]
    point = a
    if faces.shape[1] == 2:
        point = a + wp.float64(wp.randf(state)) * (b - a)
    else:
        c = vertices[faces[face, 2]]
        root = wp.sqrt(wp.float64(wp.randf(state)))
        r2 = wp.float64(wp.randf(state))
        point = (wp.float64(1.0) - root) * a + root * (wp.float64(1.0) - r2) * b + root * r2 * c
    sampled_points[tid] = point
    sampled_faces[tid] = wp.int32(face)
