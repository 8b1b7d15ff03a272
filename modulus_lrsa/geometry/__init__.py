# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Geometry features and sampling with NVIDIA Warp (CPU and CUDA).

* :mod:`~modulus_lrsa.geometry.surface`: body surfaces from wall patches or STL files,
  oriented outward; 2D handling of one-cell-thick meshes.
* :mod:`~modulus_lrsa.geometry.sdf`: signed distance to a body, unsigned distance of fluid
  points to the wall, nearest point and direction.
* :mod:`~modulus_lrsa.geometry.sampling`: random points on the surface and in the
  fluid around it.
"""

from modulus_lrsa.geometry.sampling import SurfaceSample, VolumeSample, sample_surface, sample_volume
from modulus_lrsa.geometry.sdf import SignedDistance, signed_distance, wall_distance
from modulus_lrsa.geometry.surface import (
    BodySurface,
    detect_planar_axis,
    in_plane_axes,
    project,
    surface_cell_normals,
    surface_from_vtk,
)

__all__ = [
    "BodySurface",
    "SignedDistance",
    "SurfaceSample",
    "VolumeSample",
    "detect_planar_axis",
    "in_plane_axes",
    "project",
    "sample_surface",
    "sample_volume",
    "signed_distance",
    "surface_cell_normals",
    "surface_from_vtk",
    "wall_distance",
]
