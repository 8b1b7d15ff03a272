# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Geometry features and sampling with NVIDIA Warp (CPU and CUDA).

* :mod:`~modulus_lrsa.geometry.surface`: body surfaces from wall patches or STL files,
  oriented outward; 2D handling of one-cell-thick meshes.
* :mod:`~modulus_lrsa.geometry.sdf`: signed distance to a body, unsigned distance of fluid
  points to the wall, nearest point and direction; the generalised winding number.
* :mod:`~modulus_lrsa.geometry.quality`: open, non-manifold and inconsistent edges of a
  wall, what they may change, and the walls whose fluid side cannot be told.
* :mod:`~modulus_lrsa.geometry.sampling`: random points on the surface and in the
  fluid around it.
"""

from modulus_lrsa.geometry.quality import WallQuality, assess_wall, require_fluid_side
from modulus_lrsa.geometry.sampling import SurfaceSample, VolumeSample, sample_surface, sample_volume
from modulus_lrsa.geometry.sdf import SignedDistance, signed_distance, wall_distance, winding_number
from modulus_lrsa.geometry.surface import (
    BodySurface,
    detect_planar_axis,
    in_plane_axes,
    project,
    surface_cell_normals,
    surface_from_vtk,
    validate_surface,
)

__all__ = [
    "BodySurface",
    "SignedDistance",
    "SurfaceSample",
    "VolumeSample",
    "WallQuality",
    "assess_wall",
    "detect_planar_axis",
    "in_plane_axes",
    "project",
    "require_fluid_side",
    "sample_surface",
    "sample_volume",
    "signed_distance",
    "surface_cell_normals",
    "surface_from_vtk",
    "validate_surface",
    "wall_distance",
    "winding_number",
]
