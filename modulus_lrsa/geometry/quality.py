# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""What a wall's topology says about telling its fluid side; walls whose side cannot be told.

Real CAD exports are rarely watertight: panels of a multi-part vehicle meet without
sharing vertices (open edges), parts overlap, touch or repeat faces (non-manifold edges).
The generalised winding number (:func:`~modulus_lrsa.geometry.sdf.winding_number`) still
tells inside from outside there, except near the holes. :func:`assess_wall` counts what
keeps a wall from being watertight and says what each finding may change;
:func:`require_fluid_side` refuses the walls whose fluid side cannot be told at all.

Topology is read after merging vertices that fall in one cell of a grid of spacing
:data:`MERGE_TOLERANCE` times the largest extent (an STL repeats every vertex for each of
its triangles), without degenerate faces. In 2D the contour's points play the part of
the edges: an open end is a point of one segment only (an edge of one face of a
one-cell-thick wall patch), a non-manifold point one of more than two.

When the fluid side cannot be told
----------------------------------
The winding number is 1 inside a closed, outward wall and 0 outside it, to round-off. A
hole makes it fall smoothly from 1 to 0 across the hole, so that the level 1/2 closes the
hole with (about) the smallest cap over its rim, exactly the flat cap of a planar rim.
A seam whose sides share no vertex, a crack, leaves it untouched beyond the crack's
width. Where the caps are small, the body is the wall's own; where they are large it is
mostly made up: half an airfoil contour becomes the region between its one side and the
chord, with the airfoil's other half taken as fluid. The winding number says so itself:
it is *undecided* (between 1/4 and 3/4, :data:`UNDECIDED_WINDING`) over much of what it
takes as body. Its *undecided share* is the share of the region where it is at least
1/4 where it is below 3/4, estimated from :data:`PROBES` random points in the wall's
bounding box grown by :data:`PROBE_MARGIN` of its largest extent on every side. Walls
above :data:`MAX_UNDECIDED_SHARE` are refused. Measured: half a circle or half an airfoil
contour and a flat plate 1.0, a hemisphere 0.71, a circle missing a quarter 0.44, a sphere
missing a cap of 60 degrees 0.33; accepted (with a warning) are a circle missing a sixth
(0.23), a sphere missing a cap of 45 degrees (0.20), a sphere whose two halves meet along
a seam of unshared vertices (0.0) and an airfoil with an open trailing edge (0.0).

Cost
----
One pass of sorts over the edges, and one winding-number query of 3 :data:`PROBES`
points. Measured in CPU seconds on Warp's CPU device (one core) for a closed UV sphere:
200,000 triangles, :func:`assess_wall` 1.2 s and
:func:`~modulus_lrsa.geometry.sampling.sample_volume` of 20,000 points (half near the
wall, the assessment included) 3.0 s; 1,000,000 triangles, 4.2 s and 9.4 s, most of it
building Warp's BVHs, the distance queries and the edge sorts. Both take ``device``, so a
CUDA device runs the queries there (not measured here).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from modulus_lrsa.errors import MeshDataError
from modulus_lrsa.geometry.sdf import INSIDE_WINDING, winding_number
from modulus_lrsa.geometry.surface import BodySurface, validate_surface

#: Vertices in one cell of a grid this share of the surface's largest extent apart are one
#: vertex for the topology (the 2D contour merge uses the same).
MERGE_TOLERANCE = 1e-7

#: The winding number is undecided in ``[low, high)``: neither near 0 (fluid) nor near 1 (body).
UNDECIDED_WINDING = (0.25, 0.75)

#: Walls whose winding number is undecided over more than this share of the body it bounds are refused.
MAX_UNDECIDED_SHARE = 0.3

#: Random points for each estimate: in the box around the wall, and on the wall.
PROBES = 1 << 14

#: The box of the undecided share: the wall's bounding box grown by this share of its
#: largest extent on every side (the undecided region around a hole reaches out of it).
PROBE_MARGIN = 0.25

#: Wall points are probed this share of their face's size (square root of its area in 3D,
#: its length in 2D) off the face, on both sides.
BURIED_PROBE_OFFSET = 1e-3

#: Seed of the probe points: the same wall gets the same report.
PROBE_SEED = 29


@dataclass(frozen=True)
class WallQuality:
    """How far a wall is from watertight, and what that may change.

    In 2D, "edges" are the contour's points (see the module notes).

    Attributes
    ----------
    source : str
        The wall's file.
    dim : int
        2 or 3.
    faces : int
        Triangles (3D) or segments (2D).
    parts : int
        Connected pieces (sharing vertices).
    degenerate_faces : int
        Faces of zero area (length), or with merged corners; left out of the topology.
    open_edges : int
        Edges of one face only (2D: open ends of the contour).
    non_manifold_edges : int
        Edges shared by more than two faces (2D: points of more than two segments).
    inconsistent_edges : int
        Edges between two faces ordered in opposite senses (2D: points where two
        segments both start or both end).
    duplicate_faces : int
        Faces with the same corners as another, in either order.
    inverted_parts : int
        Closed parts (no open edge) that enclose a negative volume (area).
    buried_share : float
        Share of the wall's area (length) with the body on both sides: overlapping or
        intersecting parts, a part inside another, internal faces (estimated from
        :data:`PROBES` points).
    undecided_share : float
        Share of the body the winding number bounds where it is undecided (see the
        module notes); 0 for a closed wall.
    warnings : tuple of str
        One sentence per finding, saying what it may change; empty when watertight.
    sampled_points, uncertain_points : int or None
        Set by :func:`~modulus_lrsa.geometry.sampling.sample_volume`: the points it
        returned, and how many of them have an undecided winding number (near the
        holes, where the side is uncertain).
    """

    source: str
    dim: int
    faces: int
    parts: int
    degenerate_faces: int
    open_edges: int
    non_manifold_edges: int
    inconsistent_edges: int
    duplicate_faces: int
    inverted_parts: int
    buried_share: float
    undecided_share: float
    warnings: tuple[str, ...] = ()
    sampled_points: int | None = None
    uncertain_points: int | None = None

    @property
    def watertight(self) -> bool:
        """No open, non-manifold or inconsistently ordered edge."""
        return self.open_edges == 0 and self.non_manifold_edges == 0 and self.inconsistent_edges == 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every attribute, ``warnings`` as a list, and ``watertight``."""
        record = dataclasses.asdict(self)
        record["warnings"] = list(self.warnings)
        record["watertight"] = self.watertight
        return record


def _merge_vertices(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merged id of every vertex, and the merged vertices' positions."""
    lower = vertices.min(axis=0)
    extent = max(float(np.ptp(vertices, axis=0).max()), np.finfo(float).tiny)
    keys = np.round((vertices - lower) / (extent * MERGE_TOLERANCE)).astype(np.int64)
    _, first, merged = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return merged.reshape(-1), vertices[first]


def _components(pairs: np.ndarray, count: int) -> np.ndarray:
    """Component label of each of ``count`` nodes joined by the (M, 2) ``pairs``."""
    graph = coo_matrix((np.ones(pairs.shape[0]), (pairs[:, 0], pairs[:, 1])), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def _signed_measure_by_part(corners: np.ndarray, part: np.ndarray, parts: int) -> np.ndarray:
    """Enclosed volume (area) of each part, from cones at the part's own centroid."""
    counts = np.bincount(part, minlength=parts).clip(min=1)
    centroid = np.stack(
        [np.bincount(part, weights=corners[:, :, axis].mean(axis=1), minlength=parts) for axis in range(corners.shape[2])],
        axis=1,
    ) / counts[:, None]
    relative = corners - centroid[part][:, None, :]
    if corners.shape[1] == 2:
        cone = 0.5 * (relative[:, 0, 0] * relative[:, 1, 1] - relative[:, 0, 1] * relative[:, 1, 0])
    else:
        cone = np.einsum("ij,ij->i", relative[:, 0], np.cross(relative[:, 1], relative[:, 2])) / 6.0
    return np.bincount(part, weights=cone, minlength=parts)


def _topology(surface: BodySurface) -> dict[str, int]:
    """Counts of parts, open, non-manifold and inconsistent edges, repeated faces and inverted parts."""
    merged, positions = _merge_vertices(surface.vertices)
    kept = ~surface.degenerate_faces()
    faces = merged[surface.faces[kept]]
    faces = faces[np.all([faces[:, i] != faces[:, (i + 1) % surface.dim] for i in range(surface.dim)], axis=0)]
    count = positions.shape[0]
    if surface.dim == 2:
        # The contour's points are its edges: counted by the segments that use them.
        uses = np.bincount(faces.reshape(-1), minlength=count)
        starts = np.bincount(faces[:, 0], minlength=count)
        open_nodes = np.flatnonzero(uses == 1)
        open_edges = open_nodes.size
        inconsistent = int(((uses == 2) & (starts != 1)).sum())
        non_manifold = int((uses > 2).sum())
    else:
        directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        low, high = directed.min(axis=1), directed.max(axis=1)
        _, edge, uses = np.unique(low * count + high, return_inverse=True, return_counts=True)
        edge = edge.reshape(-1)
        forward = np.bincount(edge, weights=directed[:, 0] < directed[:, 1], minlength=uses.size)
        inconsistent = int(((uses == 2) & (forward != 1)).sum())
        non_manifold = int((uses > 2).sum())
        open_edges = int((uses == 1).sum())
        open_nodes = directed[uses[edge] == 1, 0]
    used = np.zeros(count, dtype=bool)
    used[faces.reshape(-1)] = True
    label = _components(np.concatenate([faces[:, [0, i]] for i in range(1, surface.dim)]), count)
    _, part_of_node = np.unique(label[used], return_inverse=True)
    part_label = np.full(count, -1)
    part_label[used] = part_of_node.reshape(-1)
    parts = int(part_of_node.max()) + 1 if part_of_node.size else 0
    closed = np.ones(parts, dtype=bool)
    closed[part_label[open_nodes]] = False
    enclosed = _signed_measure_by_part(positions[faces], part_label[faces[:, 0]], parts)
    return {
        "faces_kept": int(faces.shape[0]),
        "parts": parts,
        "open_edges": int(open_edges),
        "non_manifold_edges": non_manifold,
        "inconsistent_edges": inconsistent,
        "duplicate_faces": int(faces.shape[0] - np.unique(np.sort(faces, axis=1), axis=0).shape[0]),
        "inverted_parts": int((closed & (enclosed < 0)).sum()),
    }


def _wall_points(surface: BodySurface, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` area-uniform (2D: length-uniform) points on the wall, and their faces."""
    cumulative = np.cumsum(surface.face_measures())
    face = np.minimum(np.searchsorted(cumulative, rng.uniform(0.0, cumulative[-1], count), side="right"), cumulative.size - 1)
    corners = surface.vertices[surface.faces[face]]
    if surface.dim == 2:
        weights = rng.uniform(size=(count, 1))
        return corners[:, 0] + weights * (corners[:, 1] - corners[:, 0]), face
    # Folding the unit square onto the triangle keeps the points uniform in area.
    u, v = rng.uniform(size=(2, count))
    flip = u + v > 1.0
    u, v = np.where(flip, 1.0 - u, u), np.where(flip, 1.0 - v, v)
    return corners[:, 0] + u[:, None] * (corners[:, 1] - corners[:, 0]) + v[:, None] * (corners[:, 2] - corners[:, 0]), face


def _winding_estimates(surface: BodySurface, device: str | torch.device) -> tuple[float, float]:
    """The undecided share, and the share of the wall with the body on both sides."""
    rng = np.random.default_rng(PROBE_SEED)
    lower, upper = surface.bounds()
    margin = PROBE_MARGIN * float(np.max(upper - lower))
    around = rng.uniform(lower - margin, upper + margin, size=(PROBES, surface.dim))
    on_wall, face = _wall_points(surface, PROBES, rng)
    step = (BURIED_PROBE_OFFSET * surface.face_measures()[face] ** (1.0 / (surface.dim - 1)))[:, None] * surface.face_normals()[face]
    winding = winding_number(surface, np.concatenate([around, on_wall + step, on_wall - step]), device=device).cpu().numpy()
    around_winding, outer, inner = np.split(winding, 3)
    low, high = UNDECIDED_WINDING
    undecided = int(((around_winding >= low) & (around_winding < high)).sum())
    decided_inside = int((around_winding >= high).sum())
    buried = (outer >= INSIDE_WINDING) & (inner >= INSIDE_WINDING)
    return undecided / max(undecided + decided_inside, 1), float(buried.mean())


def _percent(share: float) -> str:
    """A share as a percentage that a small nonzero share does not print as 0.0%."""
    return f"{100.0 * share:.2g}%" if 0.0 < share < 0.001 else f"{share:.1%}"


def _count(number: int, noun: str) -> str:
    """``number`` and ``noun``, with an "s" unless one."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _warnings(found: dict[str, Any], dim: int, faces: int) -> tuple[str, ...]:
    face, whole, measure = ("triangle", "wall", "area") if dim == 3 else ("segment", "contour", "length")
    notes = []
    if found["open_edges"]:
        what = "open edge" if dim == 3 else "open end"
        notes.append(
            f"{_count(found['open_edges'], what)} ({'edges of one triangle' if dim == 3 else 'contour points of one segment'} "
            f"only): the {whole} has holes, gaps or seams whose sides share no vertex; the generalised winding number "
            f"closes them, undecided over {_percent(found['undecided_share'])} of the body it bounds, so sample points near "
            f"them may be taken for the wrong side, and their wall distance is to the {whole} as it is, holes included"
        )
    if found["non_manifold_edges"]:
        what = "non-manifold edge" if dim == 3 else "non-manifold point"
        shared = "triangles" if dim == 3 else "segments"
        notes.append(
            f"{_count(found['non_manifold_edges'], what)} (shared by more than two {shared}): parts touch, cross or "
            "repeat faces there; the winding number adds what every face contributes, so inside/outside stays right "
            "away from open edges, but wall distances and directions there follow whichever face is nearest"
        )
    if found["buried_share"]:
        notes.append(
            f"{_percent(found['buried_share'])} of the {whole}'s {measure} has the body on both sides (parts overlap or "
            "intersect, one lies inside another, or internal faces): the winding number takes the union of the parts "
            "as the body, so inside/outside stays right, but that part bounds no fluid: it still counts in the "
            "near-wall sampling density and in forces integrated over the wall, and wall predictions on it mean nothing"
        )
    if found["inconsistent_edges"]:
        what = "edge" if dim == 3 else "contour point"
        notes.append(
            f"{_count(found['inconsistent_edges'], what)} between {face}s ordered in opposite senses: the faces "
            "disagree on which side is outside, so the winding number, wall normals and forces are wrong near them"
        )
    if found["duplicate_faces"]:
        notes.append(
            f"{_count(found['duplicate_faces'], face)} repeating others: a copy in the same sense counts its face twice "
            "(in the winding number, inside/outside unchanged; in the near-wall density and in forces), one in the "
            "opposite sense cancels it (a hole to the winding number)"
        )
    if found["inverted_parts"]:
        notes.append(
            f"{found['inverted_parts']} of {_count(found['parts'], 'part')} closed and enclosing a negative "
            f"{'volume' if dim == 3 else 'area'} (their faces point into them): the winding number is about -1 "
            "inside them, so their insides are taken as fluid"
        )
    degenerate = faces - found["faces_kept"]
    if degenerate:
        notes.append(f"{_count(degenerate, face)} of zero {measure}, left out")
    return tuple(notes)


def assess_wall(surface: BodySurface, device: str | torch.device = "cpu") -> WallQuality:
    """Count what keeps the wall from being watertight, and say what each finding may change.

    Parameters
    ----------
    surface : BodySurface
        An oriented wall that :func:`~modulus_lrsa.geometry.surface.validate_surface`
        accepts.
    device : str or torch.device
        Where the winding-number queries run.

    Returns
    -------
    WallQuality
        Counts, shares and warnings (none for a watertight, consistently oriented wall
        without repeated, buried or degenerate faces).
    """
    found: dict[str, Any] = _topology(surface)
    found["undecided_share"], found["buried_share"] = _winding_estimates(surface, device)
    faces = int(surface.faces.shape[0])
    return WallQuality(
        source=surface.source,
        dim=surface.dim,
        faces=faces,
        parts=found["parts"],
        degenerate_faces=faces - found["faces_kept"],
        open_edges=found["open_edges"],
        non_manifold_edges=found["non_manifold_edges"],
        inconsistent_edges=found["inconsistent_edges"],
        duplicate_faces=found["duplicate_faces"],
        inverted_parts=found["inverted_parts"],
        buried_share=found["buried_share"],
        undecided_share=found["undecided_share"],
        warnings=_warnings(found, surface.dim, faces),
    )


def require_fluid_side(surface: BodySurface, device: str | torch.device = "cpu") -> WallQuality:
    """:func:`assess_wall`, refusing a wall whose fluid side cannot be told.

    Parameters
    ----------
    surface : BodySurface
        An oriented wall.
    device : str or torch.device
        Where the winding-number queries run.

    Returns
    -------
    WallQuality
        The report of :func:`assess_wall`.

    Raises
    ------
    MeshDataError
        In one line naming ``surface.source``: what
        :func:`~modulus_lrsa.geometry.surface.validate_surface` refuses (no face, NaN or
        Inf coordinates, every face degenerate), or an undecided share above
        :data:`MAX_UNDECIDED_SHARE` (half a contour, one part of a wall, a lone panel).
    """
    validate_surface(surface)
    quality = assess_wall(surface, device)
    if quality.undecided_share > MAX_UNDECIDED_SHARE:
        whole, edges = ("wall", "open edges") if surface.dim == 3 else ("contour", "open ends")
        causes = [f"{quality.open_edges} {edges}"] + (
            [f"{quality.inconsistent_edges} inconsistently ordered edges"] if quality.inconsistent_edges else []
        )
        low, high = UNDECIDED_WINDING
        raise MeshDataError(
            f"{surface.source}: cannot tell the fluid side of this {whole}: with its {' and '.join(causes)}, the winding "
            f"number is undecided (between {low:g} and {high:g}) over {quality.undecided_share:.0%} of the body it bounds "
            f"(at most {MAX_UNDECIDED_SHARE:.0%} is accepted); is this only part of the {whole}?"
        )
    return quality
