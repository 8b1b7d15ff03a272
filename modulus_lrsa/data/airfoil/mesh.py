# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Structured C-grid around a NACA section, written as an OpenFOAM ``blockMeshDict``.

Topology (z = 0 plane; the mesh is extruded one cell in z, with ``empty`` front/back)::

            OU ---------- TT ------------------------ WT
          /  |   upper     |        upper wake         |
        /    |   rear      |                           |
      / upper U ---------- TE ----------------------- W    (outlet at x = 1 + wake_length)
    OF--- LE   front/back  |        lower wake         |
      \\ lower L ---------- TE                         |
        \\    |   lower     |                           |
          \\  |   rear      |                           |
            OL ---------- TB ------------------------ WB

Six hexahedral blocks: a front block from the leading edge LE to the split points U/L
on each surface (the outer boundary there is a quarter circle of radius
``farfield_radius`` centred at the split station), a rear block from U/L to the trailing
edge TE, and a wake block from TE to the outlet. The airfoil surfaces are ``spline``
edges through densely sampled surface points. Cell sizes are geometric series: the
wall-normal direction starts at ``wall_spacing`` on the airfoil; along the surface the
cells start at ``le_spacing`` at the leading edge and each block continues the spacing
of its upstream neighbor, so the size changes smoothly across block interfaces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import brentq

from .naca import NacaSection, cosine_stations

#: Names of the boundary patches written to the mesh.
AIRFOIL_PATCH = "airfoil"
FARFIELD_PATCH = "farfield"
EMPTY_PATCH = "frontAndBack"


#: Far-field arc cell next to the rear block, in units of the surface cell at the split
#: point: smaller makes the corner cells non-orthogonal (~80 deg at 1), larger makes the
#: size jump across the block face (divergence at ~40); 10 keeps them under ~30 deg.
_ARC_END_FACTOR = 10.0


@dataclass(frozen=True)
class MeshResolution:
    """Cell counts and spacings of the C-grid.

    Parameters
    ----------
    name : str
        Preset name, recorded in ``case.json``.
    n_front, n_rear : int
        Cells along each surface from the leading edge to the split station, and from
        the split station to the trailing edge.
    n_wake : int
        Cells along the wake line from the trailing edge to the outlet.
    n_normal : int
        Cells from the wall to the far field.
    wall_spacing : float
        Height of the first cell on the airfoil (chords).
    le_spacing : float
        Surface length of the first cell at the leading edge (chords).
    outlet_spacing : float
        Height of the cells next to the wake line at the outlet (chords); larger than
        ``wall_spacing`` so far-wake cells do not become needlessly thin.
    """

    name: str
    n_front: int
    n_rear: int
    n_wake: int
    n_normal: int
    wall_spacing: float
    le_spacing: float
    outlet_spacing: float

    @property
    def n_cells(self) -> int:
        """Number of cells the mesh will have."""
        return 2 * (self.n_front + self.n_rear + self.n_wake) * self.n_normal


#: Presets chosen so that wall functions (Spalding's law, valid for any y+) apply; the
#: first-cell y+ is roughly 60 (coarse), 15 (medium) and 3 (fine) at Re = 4e6.
RESOLUTIONS: dict[str, MeshResolution] = {
    "coarse": MeshResolution("coarse", 24, 30, 30, 45, 1.0e-3, 4.0e-3, 4.0e-2),
    "medium": MeshResolution("medium", 40, 56, 48, 70, 2.5e-4, 2.0e-3, 2.0e-2),
    "fine": MeshResolution("fine", 70, 100, 80, 110, 5.0e-5, 1.0e-3, 1.0e-2),
}


@dataclass(frozen=True)
class DomainLayout:
    """Extent of the computational domain, in chords.

    Parameters
    ----------
    farfield_radius : float
        Distance from the airfoil to the upper, lower and upstream boundaries.
    wake_length : float
        Distance from the trailing edge to the outlet.
    split_station : float
        Camber-line station separating the front and rear blocks.
    span : float
        Thickness of the one-cell-thick 2D mesh in z; also the force reference area
        (span x unit chord).
    """

    farfield_radius: float = 25.0
    wake_length: float = 25.0
    split_station: float = 0.3
    span: float = 1.0

    def __post_init__(self) -> None:
        if self.farfield_radius < 20.0 or self.wake_length < 20.0:
            raise ValueError(
                "the far field must lie at least 20 chords from the airfoil; got "
                f"farfield_radius={self.farfield_radius}, wake_length={self.wake_length}"
            )
        if not 0.1 <= self.split_station <= 0.6:
            raise ValueError(f"split_station={self.split_station} must lie in [0.1, 0.6]")

    def to_dict(self) -> dict:
        return asdict(self)


def geometric_ratio(length: float, n_cells: int, first: float) -> float:
    """Cell-to-cell growth ratio q with ``first * (q**n - 1) / (q - 1) == length``.

    Raises
    ------
    ValueError
        If the first cell is too large for the edge (``first * n_cells > length`` would
        need q < 1/ (n-th root of ...) -- any q in (0, 1) is allowed, so this only fails
        when ``first >= length``).
    """
    if first >= length:
        raise ValueError(f"first cell {first:g} does not fit on an edge of length {length:g}")

    def excess(q: float) -> float:
        if abs(q - 1.0) < 1e-12:
            return first * n_cells - length
        return first * (q**n_cells - 1.0) / (q - 1.0) - length

    if abs(excess(1.0)) < 1e-12 * length:
        return 1.0
    # The series sum grows monotonically with q, so the root is bracketed by (0, q_hi).
    q_hi = 2.0
    while excess(q_hi) < 0.0:
        q_hi *= 2.0
    return brentq(excess, 1e-9, q_hi, xtol=1e-14)


def _expansion(length: float, n_cells: int, first: float) -> tuple[float, float]:
    """blockMesh expansion ratio (last / first cell) and the resulting last cell size."""
    q = geometric_ratio(length, n_cells, first)
    return q ** (n_cells - 1), first * q ** (n_cells - 1)


def _polyline_length(points: np.ndarray) -> float:
    return float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))


@dataclass(frozen=True)
class _SurfaceSegment:
    points: np.ndarray  # (n, 2), ordered away from the leading edge
    length: float


def _surface_segments(section: NacaSection, split: float, n_samples: int = 120):
    """Upper/lower surface point lists LE->split and split->TE."""
    front_x = cosine_stations(0.0, split, n_samples)
    rear_x = cosine_stations(split, 1.0, n_samples)
    up_front, lo_front = section.surfaces(front_x)
    up_rear, lo_rear = section.surfaces(rear_x)
    return {
        key: _SurfaceSegment(pts, _polyline_length(pts))
        for key, pts in {
            "upper_front": up_front,
            "upper_rear": up_rear,
            "lower_front": lo_front,
            "lower_rear": lo_rear,
        }.items()
    }


def _nose_cut(section: NacaSection, far_point: tuple[float, float], n_points: int = 40) -> np.ndarray:
    """Points of the leading-edge cut: a quadratic Bezier curve from (0, 0) to
    ``far_point`` whose tangent at the nose is the camber line's.

    The control point lies one chord ahead of the nose along the camber tangent, so the
    cut turns horizontal within a few chords; over the default sampling ranges this
    keeps the mesh non-orthogonality below ~45 deg (a straight cut gives up to ~63 deg,
    a wider bend moves the problem into the far field).
    """
    _, slope = section.camber(np.array([0.0]))
    direction = -np.array([1.0, slope[0]]) / np.hypot(1.0, slope[0])
    end = np.asarray(far_point, dtype=float)
    control = direction * 1.0
    s = np.linspace(0.0, 1.0, n_points)[:, None]
    return 2 * s * (1 - s) * control + s**2 * end


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def block_mesh_dict(
    section: NacaSection,
    resolution: MeshResolution,
    layout: DomainLayout = DomainLayout(),
) -> str:
    """Text of ``system/blockMeshDict`` for a C-grid around ``section``.

    Parameters
    ----------
    section : NacaSection
        Airfoil, chord 1 from (0, 0) to (1, 0).
    resolution : MeshResolution
        Cell counts and spacings.
    layout : DomainLayout
        Far-field distances and the block split station.
    """
    R = layout.farfield_radius
    xs = layout.split_station
    x_out = 1.0 + layout.wake_length
    seg = _surface_segments(section, xs)
    upper_split = seg["upper_front"].points[-1]
    lower_split = seg["lower_front"].points[-1]

    # Along-surface gradings: each block continues the last cell size of the block before.
    res = resolution
    # The far-field arc of a front block ends next to the narrow rear block, so it is
    # graded down towards it: with a uniform arc the jump from chord-sized to
    # split-sized cells across that block face makes the SIMPLE iteration diverge.
    arc_length = 0.5 * np.pi * R
    grading = {}
    last = {}
    for side in ("upper", "lower"):
        grading[f"{side}_front"], s_split = _expansion(
            seg[f"{side}_front"].length, res.n_front, res.le_spacing
        )
        grading[f"{side}_arc"], _ = _expansion(arc_length, res.n_front, _ARC_END_FACTOR * s_split)
        grading[f"{side}_rear"], last[side] = _expansion(seg[f"{side}_rear"].length, res.n_rear, s_split)
    # Both wake blocks share the wake line, so one grading starting from the smaller TE cell.
    grading["wake"], _ = _expansion(layout.wake_length, res.n_wake, min(last["upper"], last["lower"]))

    # z = 0 vertices; the z = span copies are numbered +n_base.
    vertices = {
        "TE": (1.0, 0.0),
        "U": tuple(upper_split),
        "LE": (0.0, 0.0),
        "L": tuple(lower_split),
        "OF": (xs - R, 0.0),
        "OU": (xs, R),
        "OL": (xs, -R),
        "TT": (1.0, R),
        "TB": (1.0, -R),
        "W": (x_out, 0.0),
        "WT": (x_out, R),
        "WB": (x_out, -R),
    }
    names = list(vertices)
    index = {name: i for i, name in enumerate(names)}
    n_base = len(names)

    # The cut from the leading edge to the far field leaves the nose along the camber
    # line (slope 2m/p there) and bends back to the horizontal: a straight cut would
    # meet the wall of a strongly cambered section 30 deg off normal.
    nose_cut = _nose_cut(section, vertices["OF"])
    curved = {("LE", "OF"): nose_cut}

    def normal_grading(a: str, b: str, first: float) -> float:
        if (a, b) in curved:
            length = _polyline_length(curved[(a, b)])
        else:
            length = float(np.hypot(*(np.subtract(vertices[b], vertices[a]))))
        return _expansion(length, res.n_normal, first)[0]

    def wall_normal(a: str, b: str) -> float:
        return normal_grading(a, b, res.wall_spacing)

    outlet_normal_up = normal_grading("W", "WT", res.outlet_spacing)
    outlet_normal_lo = normal_grading("W", "WB", res.outlet_spacing)

    # Each block: (vertex names v0..v3 counter-clockwise seen from +z), cells (n1, n2),
    # x1 gradings (edge v0-v1, edge v3-v2), x2 gradings (edge v0-v3, edge v1-v2).
    g = grading
    blocks = [
        (("LE", "U", "OU", "OF"), (res.n_front, res.n_normal),
         (g["upper_front"], 1.0 / g["upper_arc"]), (wall_normal("LE", "OF"), wall_normal("U", "OU"))),
        (("U", "TE", "TT", "OU"), (res.n_rear, res.n_normal),
         (g["upper_rear"], g["upper_rear"]), (wall_normal("U", "OU"), wall_normal("TE", "TT"))),
        (("TE", "W", "WT", "TT"), (res.n_wake, res.n_normal),
         (g["wake"], g["wake"]), (wall_normal("TE", "TT"), outlet_normal_up)),
        (("L", "LE", "OF", "OL"), (res.n_front, res.n_normal),
         (1.0 / g["lower_front"], g["lower_arc"]), (wall_normal("L", "OL"), wall_normal("LE", "OF"))),
        (("TE", "L", "OL", "TB"), (res.n_rear, res.n_normal),
         (1.0 / g["lower_rear"], 1.0 / g["lower_rear"]), (wall_normal("TE", "TB"), wall_normal("L", "OL"))),
        (("W", "TE", "TB", "WB"), (res.n_wake, res.n_normal),
         (1.0 / g["wake"], 1.0 / g["wake"]), (outlet_normal_lo, wall_normal("TE", "TB"))),
    ]

    def vid(name: str, top: bool = False) -> int:
        return index[name] + (n_base if top else 0)

    lines = [
        "FoamFile { version 2.0; format ascii; class dictionary; object blockMeshDict; }",
        "",
        "convertToMeters 1;",
        "",
        "vertices",
        "(",
    ]
    for z in (0.0, layout.span):
        for name in names:
            x, y = vertices[name]
            lines.append(f"    ({_fmt(x)} {_fmt(y)} {_fmt(z)})  // {name}{'+' if z else ''}")
    lines += [");", "", "blocks", "("]
    for quad, (n1, n2), (g01, g32), (g03, g12) in blocks:
        bottom = " ".join(str(vid(v)) for v in quad)
        top = " ".join(str(vid(v, True)) for v in quad)
        # blockMesh edge order: x1 edges (0-1, 3-2, 7-6, 4-5), x2 edges (0-3, 1-2, 5-6, 4-7), x3 edges.
        edge_grading = [g01, g32, g32, g01, g03, g12, g12, g03, 1, 1, 1, 1]
        lines.append(
            f"    hex ({bottom} {top}) ({n1} {n2} 1) edgeGrading ({' '.join(_fmt(e) for e in edge_grading)})"
        )
    lines += [");", "", "edges", "("]
    for z, top in ((0.0, False), (layout.span, True)):
        for start, end, key in (
            ("LE", "U", "upper_front"),
            ("U", "TE", "upper_rear"),
            ("LE", "L", "lower_front"),
            ("L", "TE", "lower_rear"),
        ):
            interior = seg[key].points[1:-1]
            pts = " ".join(f"({_fmt(x)} {_fmt(y)} {_fmt(z)})" for x, y in interior)
            lines.append(f"    spline {vid(start, top)} {vid(end, top)} ({pts})")
        c = np.cos(np.pi / 4) * R
        lines.append(f"    arc {vid('OF', top)} {vid('OU', top)} ({_fmt(xs - c)} {_fmt(c)} {_fmt(z)})")
        lines.append(f"    arc {vid('OF', top)} {vid('OL', top)} ({_fmt(xs - c)} {_fmt(-c)} {_fmt(z)})")
        if section.m > 0.0:
            pts = " ".join(f"({_fmt(x)} {_fmt(y)} {_fmt(z)})" for x, y in nose_cut[1:-1])
            lines.append(f"    spline {vid('LE', top)} {vid('OF', top)} ({pts})")
    lines += [");", ""]

    def face(*corners: tuple[str, bool]) -> str:
        return "(" + " ".join(str(vid(n, t)) for n, t in corners) + ")"

    # Faces ordered so their normals point out of the domain.
    airfoil_faces = [
        face(("LE", 0), ("U", 0), ("U", 1), ("LE", 1)),
        face(("U", 0), ("TE", 0), ("TE", 1), ("U", 1)),
        face(("L", 0), ("LE", 0), ("LE", 1), ("L", 1)),
        face(("TE", 0), ("L", 0), ("L", 1), ("TE", 1)),
    ]
    farfield_faces = [
        face(("OF", 0), ("OF", 1), ("OU", 1), ("OU", 0)),
        face(("OU", 0), ("OU", 1), ("TT", 1), ("TT", 0)),
        face(("TT", 0), ("TT", 1), ("WT", 1), ("WT", 0)),
        face(("W", 0), ("WT", 0), ("WT", 1), ("W", 1)),
        face(("OL", 0), ("OL", 1), ("OF", 1), ("OF", 0)),
        face(("TB", 0), ("TB", 1), ("OL", 1), ("OL", 0)),
        face(("WB", 0), ("WB", 1), ("TB", 1), ("TB", 0)),
        face(("W", 0), ("W", 1), ("WB", 1), ("WB", 0)),
    ]
    empty_faces = []
    for quad, *_ in blocks:
        empty_faces.append(face(*((v, 0) for v in (quad[0], quad[3], quad[2], quad[1]))))
        empty_faces.append(face(*((v, 1) for v in quad)))

    lines += ["boundary", "("]
    for name, kind, faces in (
        (AIRFOIL_PATCH, "wall", airfoil_faces),
        (FARFIELD_PATCH, "patch", farfield_faces),
        (EMPTY_PATCH, "empty", empty_faces),
    ):
        lines += [f"    {name}", "    {", f"        type {kind};", "        faces", "        ("]
        lines += [f"            {f}" for f in faces]
        lines += ["        );", "    }"]
    lines += [");", "", "mergePatchPairs ();", ""]
    return "\n".join(lines)
