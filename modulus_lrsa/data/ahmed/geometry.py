# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The parametric Ahmed body as a closed triangle surface, and binary STL files of it.

Frame: x downstream from the nose (x = 0) to the base (x = length), y across (the body
is symmetric about y = 0), z up from the ground (z = 0); the underside is at
z = clearance. The body is a box ``length x width x height`` whose four front edges are
rounded with ``front_radius`` in side view and in plan view (the front is the
intersection of the two rounded profiles: the nose is a flat rectangle of
``(width - 2 r) x (height - 2 r)``, the longitudinal edges stay sharp, as on Ahmed's
body) and whose top rear edge is cut by a plane at ``slant_deg`` to the roof. The slant
is :data:`SLANT_LENGTH_RATIO` of the length long, measured along the slanted face
(Ahmed 1984: 222 mm of 1044 mm). There are no stilts: the body floats at its clearance.

The surface is built as rings of the cross-section along x, joined by quads split into
two triangles, and closed by a fan on the nose and on the base; every vertex is shared,
so :func:`check_closed_surface` can prove the result closed and outward oriented.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from modulus_lrsa.atomic import atomic_write_bytes

#: Length of the slanted face over the body length: 222 mm on the 1044 mm original.
SLANT_LENGTH_RATIO = 222.0 / 1044.0
#: Facets on each quarter circle of the rounded front: a chord error of 1.2e-3 r.
ARC_SEGMENTS = 16
#: Largest front radius, as a share of min(width, height): the nose keeps a flat face.
MAX_RADIUS_SHARE = 0.48
#: Largest slant drop, as a share of the height.
MAX_DROP_SHARE = 0.75

_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])
_STL_HEADER_BYTES = 80


class GeometryError(ValueError):
    """A body's parameters or surface cannot be used; the message names the value or the file."""


@dataclass(frozen=True)
class AhmedBody:
    """One Ahmed-type body; lengths in metres, angle in degrees.

    The defaults are Ahmed's (1984) body with the 25 degree slant.

    Parameters
    ----------
    length, width, height : float
        Overall size of the body.
    clearance : float
        Height of the underside above the ground, > 0.
    slant_deg : float
        Angle of the rear slant to the roof, in [0, 50].
    front_radius : float
        Radius of the four rounded front edges, at most :data:`MAX_RADIUS_SHARE` of
        min(width, height).
    """

    length: float = 1.044
    width: float = 0.389
    height: float = 0.288
    clearance: float = 0.05
    slant_deg: float = 25.0
    front_radius: float = 0.1

    def __post_init__(self) -> None:
        for name in ("length", "width", "height", "clearance", "slant_deg", "front_radius"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise GeometryError(f"AhmedBody.{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("length", "width", "height", "front_radius"):
            if getattr(self, name) <= 0:
                raise GeometryError(f"AhmedBody.{name} must be > 0, got {getattr(self, name)}")
        if self.clearance <= 0:
            raise GeometryError(
                f"AhmedBody.clearance must be > 0 (the underside above the ground at z = 0), got {self.clearance}: "
                "the body would touch or pass through the ground"
            )
        if not 0.0 <= self.slant_deg <= 50.0:
            raise GeometryError(f"AhmedBody.slant_deg must lie in [0, 50] degrees, got {self.slant_deg}")
        limit = MAX_RADIUS_SHARE * min(self.width, self.height)
        if self.front_radius > limit:
            raise GeometryError(
                f"AhmedBody.front_radius = {self.front_radius} is above {MAX_RADIUS_SHARE} x min(width, height) = "
                f"{limit:.4g}: the nose would have no flat face"
            )
        if self.slant_drop > MAX_DROP_SHARE * self.height:
            raise GeometryError(
                f"AhmedBody: the slant drops {self.slant_drop:.4g} m, more than {MAX_DROP_SHARE} x height = "
                f"{MAX_DROP_SHARE * self.height:.4g} m; lower slant_deg or raise height"
            )
        if self.length - self.slant_run <= self.front_radius:
            raise GeometryError(
                f"AhmedBody.length = {self.length} leaves no straight roof between the rounded front "
                f"({self.front_radius} m) and the slant ({self.slant_run:.4g} m)"
            )

    # ----------------------------------------------------------------------------------
    # Dimensions
    # ----------------------------------------------------------------------------------

    @property
    def slant_length(self) -> float:
        """Length of the slanted face, along it."""
        return SLANT_LENGTH_RATIO * self.length

    @property
    def slant_run(self) -> float:
        """Streamwise extent of the slant."""
        return self.slant_length * math.cos(math.radians(self.slant_deg))

    @property
    def slant_drop(self) -> float:
        """How far the slant lowers the top of the base."""
        return self.slant_length * math.sin(math.radians(self.slant_deg))

    @property
    def frontal_area(self) -> float:
        """Projected area seen from upstream, ``width * height``: the longitudinal edges are sharp."""
        return self.width * self.height

    @property
    def volume(self) -> float:
        """Enclosed volume of the exact (not faceted) body.

        Behind the rounded front the body is a prism of the side profile; in the front
        part the cross-section at ``x`` is a rectangle inset by
        ``r - sqrt(r^2 - (r - x)^2)`` on each side, which integrates to
        ``a b r + (a + b) pi r^2 / 2 + 8 r^3 / 3`` with ``a = w - 2r``, ``b = h - 2r``.
        """
        r, w, h = self.front_radius, self.width, self.height
        a, b = w - 2 * r, h - 2 * r
        front = a * b * r + (a + b) * math.pi * r**2 / 2 + 8 * r**3 / 3
        rear = w * ((self.length - r) * h - 0.5 * self.slant_run * self.slant_drop)
        return front + rear

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, params: dict) -> AhmedBody:
        return cls(**{name: params[name] for name in ("length", "width", "height", "clearance", "slant_deg", "front_radius")})

    # ----------------------------------------------------------------------------------
    # Surface
    # ----------------------------------------------------------------------------------

    def triangulate(self, edge_length: float | None = None, arc_segments: int = ARC_SEGMENTS) -> tuple[np.ndarray, np.ndarray]:
        """The closed, outward-oriented triangle surface of the body.

        Parameters
        ----------
        edge_length : float, optional
            Largest spacing of rings and of vertices around them on the flat faces
            (default: min(width, height) / 12).
        arc_segments : int
            Facets on each quarter circle of the rounded front.

        Returns
        -------
        vertices : np.ndarray
            float64, shape (n, 3).
        faces : np.ndarray
            int64, shape (m, 3), counter-clockwise seen from outside.
        """
        if arc_segments < 2:
            raise GeometryError(f"arc_segments must be >= 2, got {arc_segments}")
        h_edge = edge_length if edge_length is not None else min(self.width, self.height) / 12
        if not (math.isfinite(h_edge) and h_edge > 0):
            raise GeometryError(f"edge_length must be a positive number, got {edge_length!r}")
        r = self.front_radius
        # Rings of the rounded front: at angle t from the nose, x = r (1 - cos t) and the
        # rectangle is inset by r (1 - sin t).
        angles = np.linspace(0.0, math.pi / 2, arc_segments + 1)
        stations = [(r * (1 - math.cos(t)), r * (1 - math.sin(t))) for t in angles]
        slant_start = self.length - self.slant_run
        for lo, hi in ((r, slant_start), (slant_start, self.length)):
            n = max(1, math.ceil((hi - lo) / h_edge))
            stations += [(x, 0.0) for x in np.linspace(lo, hi, n + 1)[1:]]
        n_y = max(2, math.ceil(self.width / h_edge))
        n_z = max(2, math.ceil(self.height / h_edge))
        rings = [self._ring(x, inset, n_y, n_z) for x, inset in stations]
        per_ring = len(rings[0])
        vertices = np.concatenate([*rings, [_centroid(rings[0]), _centroid(rings[-1])]])
        nose, base = len(vertices) - 2, len(vertices) - 1
        i = np.arange(per_ring)
        j = (i + 1) % per_ring
        faces = []
        for k in range(len(rings) - 1):
            a, b = k * per_ring + i, k * per_ring + j
            d, e = (k + 1) * per_ring + i, (k + 1) * per_ring + j
            faces += [np.stack([a, b, e], axis=1), np.stack([a, e, d], axis=1)]
        last = (len(rings) - 1) * per_ring
        faces.append(np.stack([np.full(per_ring, nose), j, i], axis=1))
        faces.append(np.stack([np.full(per_ring, base), last + i, last + j], axis=1))
        return vertices, np.concatenate(faces).astype(np.int64)

    def _ring(self, x: float, inset: float, n_y: int, n_z: int) -> np.ndarray:
        """Cross-section at ``x``: bottom (+y), right (+z), top (-y), left (-z); counter-clockwise from +x."""
        half = self.width / 2 - inset
        bottom = self.clearance + inset
        top = self.clearance + self.height - inset
        slant_start = self.length - self.slant_run
        if x > slant_start:
            top -= (x - slant_start) * math.tan(math.radians(self.slant_deg))
        ys = np.linspace(-half, half, n_y + 1)[:-1]
        zs = np.linspace(bottom, top, n_z + 1)[:-1]
        points = np.concatenate([
            np.stack([ys, np.full(n_y, bottom)], axis=1),
            np.stack([np.full(n_z, half), zs], axis=1),
            np.stack([-ys, np.full(n_y, top)], axis=1),
            np.stack([np.full(n_z, -half), bottom + top - zs], axis=1),
        ])
        return np.column_stack([np.full(len(points), x), points])


def _centroid(ring: np.ndarray) -> np.ndarray:
    """Centre of a (rectangular) ring, the apex of its closing fan."""
    return 0.5 * (ring.min(axis=0) + ring.max(axis=0))


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurfaceReport:
    """What :func:`check_closed_surface` measured on a closed surface."""

    n_vertices: int
    n_faces: int
    volume: float
    area: float
    bounds: tuple[tuple[float, float, float], tuple[float, float, float]]

    def to_dict(self) -> dict:
        return {"n_vertices": self.n_vertices, "n_faces": self.n_faces, "volume": self.volume, "area": self.area,
                "bounds": [list(self.bounds[0]), list(self.bounds[1])]}


def check_closed_surface(vertices: np.ndarray, faces: np.ndarray, name: str = "surface") -> SurfaceReport:
    """Prove a triangle surface watertight, consistently oriented outward and of one piece.

    Checks: no degenerate face; every edge shared by exactly two faces, which traverse
    it in opposite directions; one connected genus-0 piece (Euler characteristic 2);
    a positive enclosed volume (outward normals).

    Raises
    ------
    GeometryError
        The first check that fails, naming ``name`` and how many edges or faces fail it.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or not len(faces):
        raise GeometryError(f"{name}: expected a non-empty (m, 3) array of triangles, got shape {faces.shape}")
    if not np.all(np.isfinite(vertices)):
        raise GeometryError(f"{name}: vertex coordinates hold NaN or Inf")
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    cross = np.cross(b - a, c - a)
    areas = 0.5 * np.linalg.norm(cross, axis=1)
    scale = float(np.ptp(vertices, axis=0).max())
    degenerate = (areas <= 1e-12 * scale**2) | (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    if degenerate.any():
        raise GeometryError(f"{name}: {int(degenerate.sum())} degenerate (zero-area) faces, e.g. face {int(np.argmax(degenerate))}")
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    undirected = np.sort(directed, axis=1)
    _, edge_counts = np.unique(undirected, axis=0, return_counts=True)
    if np.any(edge_counts != 2):
        open_edges = int(np.sum(edge_counts == 1))
        shared = int(np.sum(edge_counts > 2))
        raise GeometryError(
            f"{name}: not watertight: {open_edges} edges belong to one face only (holes) and {shared} to more than "
            "two (non-manifold); every edge of a closed surface is shared by exactly two faces"
        )
    _, directed_counts = np.unique(directed, axis=0, return_counts=True)
    if np.any(directed_counts != 1):
        raise GeometryError(
            f"{name}: inconsistent orientation: {int(np.sum(directed_counts > 1))} edges are traversed twice in the same "
            "direction, so neighboring faces point to opposite sides"
        )
    used = np.unique(faces)
    euler = len(used) - len(edge_counts) + len(faces)
    if euler != 2:
        raise GeometryError(
            f"{name}: Euler characteristic {euler} instead of 2: the surface is not one closed piece without "
            "handles (several bodies, or a body with a hole through it)"
        )
    volume = float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)
    if volume <= 0:
        raise GeometryError(f"{name}: enclosed volume {volume:.4g} is not positive: the faces point inward")
    lo, hi = vertices[used].min(axis=0), vertices[used].max(axis=0)
    return SurfaceReport(len(used), len(faces), volume, float(areas.sum()), (tuple(map(float, lo)), tuple(map(float, hi))))


# --------------------------------------------------------------------------------------
# Binary STL
# --------------------------------------------------------------------------------------


def stl_bytes(vertices: np.ndarray, faces: np.ndarray, header: str = "modulus_lrsa ahmed body") -> bytes:
    """A binary STL of the triangles (float32 coordinates, unit normals)."""
    tri = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    records = np.zeros(len(tri), dtype=_STL_RECORD)
    records["normal"] = normals
    records["vertices"] = tri
    head = header.encode("ascii", "replace")[:_STL_HEADER_BYTES].ljust(_STL_HEADER_BYTES, b" ")
    return head + np.uint32(len(tri)).tobytes() + records.tobytes()


def write_stl(path: str | Path, vertices: np.ndarray, faces: np.ndarray, header: str = "modulus_lrsa ahmed body") -> Path:
    """Write a binary STL atomically (a reader never sees half a file)."""
    return atomic_write_bytes(path, stl_bytes(vertices, faces, header))


def read_stl(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a binary STL into shared vertices (merged where coordinates are equal) and faces.

    Raises
    ------
    GeometryError
        The file is not a binary STL of the size its triangle count says.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) < _STL_HEADER_BYTES + 4:
        raise GeometryError(f"{path}: {len(data)} bytes is too short for a binary STL (84-byte header)")
    count = int(np.frombuffer(data, "<u4", 1, _STL_HEADER_BYTES)[0])
    expected = _STL_HEADER_BYTES + 4 + count * _STL_RECORD.itemsize
    if len(data) != expected:
        raise GeometryError(f"{path}: {len(data)} bytes, but a binary STL of {count} triangles has {expected}")
    records = np.frombuffer(data, _STL_RECORD, count, _STL_HEADER_BYTES + 4)
    corners = records["vertices"].reshape(-1, 3)
    vertices, inverse = np.unique(corners, axis=0, return_inverse=True)
    return vertices.astype(np.float64), inverse.reshape(-1, 3).astype(np.int64)


def write_body_stl(body: AhmedBody, path: str | Path, edge_length: float | None = None) -> SurfaceReport:
    """Triangulate ``body``, write it as a binary STL and check the file as written.

    The check runs on what is read back from the file (float32 coordinates, vertices
    merged by equality), so it proves the file closed, not only the arrays.

    Raises
    ------
    GeometryError
        The file is not closed, oriented and of one piece, or its volume is more than
        1 % off the body's exact volume.
    """
    vertices, faces = body.triangulate(edge_length)
    write_stl(path, vertices, faces, header=f"modulus_lrsa ahmed body {body.length:g}x{body.width:g}x{body.height:g}")
    report = check_closed_surface(*read_stl(path), name=str(path))
    if abs(report.volume - body.volume) > 0.01 * body.volume:
        raise GeometryError(f"{path}: encloses {report.volume:.6g} m^3, the body {body.volume:.6g} m^3")
    return report
