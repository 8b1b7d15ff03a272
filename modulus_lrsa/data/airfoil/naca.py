# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""NACA 4-digit airfoil sections with a closed trailing edge.

The section is defined by three numbers: the maximum camber ``m`` (fraction of chord),
the chordwise position of maximum camber ``p`` (fraction of chord) and the maximum
thickness ``t`` (fraction of chord). The chord runs from the leading edge at (0, 0) to
the trailing edge at (1, 0). The last thickness coefficient is -0.1036 instead of the
classic -0.1015 so that the thickness is exactly zero at x = 1: a sharp, closed trailing
edge meshes with a single vertex and needs no base patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Thickness polynomial: y_t = 5 t (a0 sqrt(x) + a1 x + a2 x^2 + a3 x^3 + a4 x^4).
_THICKNESS_COEFFS = (0.2969, -0.1260, -0.3516, 0.2843, -0.1036)


@dataclass(frozen=True)
class NacaSection:
    """A NACA 4-digit section.

    Parameters
    ----------
    m : float
        Maximum camber as a fraction of chord, in [0, 0.095].
    p : float
        Chordwise position of maximum camber as a fraction of chord, in (0, 1). Ignored
        (the section is symmetric) when ``m == 0``.
    t : float
        Maximum thickness as a fraction of chord, in (0, 0.4].
    """

    m: float
    p: float
    t: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.m <= 0.095:
            raise ValueError(f"NACA max camber m={self.m} must lie in [0, 0.095] (fraction of chord)")
        if self.m > 0.0 and not 0.0 < self.p < 1.0:
            raise ValueError(
                f"NACA camber position p={self.p} must lie strictly between 0 and 1 when m > 0"
            )
        if not 0.0 < self.t <= 0.4:
            raise ValueError(f"NACA thickness t={self.t} must lie in (0, 0.4] (fraction of chord)")

    @classmethod
    def from_code(cls, code: str) -> NacaSection:
        """Build a section from its 4-digit designation, e.g. ``"2412"`` or ``"NACA 0012"``."""
        digits = code.upper().replace("NACA", "").strip()
        if len(digits) != 4 or not digits.isdigit():
            raise ValueError(f"NACA code {code!r} is not a 4-digit designation such as '2412'")
        return cls(m=int(digits[0]) / 100.0, p=int(digits[1]) / 10.0, t=int(digits[2:]) / 100.0)

    @property
    def code(self) -> str:
        """Nearest 4-digit designation; ``m``, ``p`` and ``t`` hold the exact values used."""
        camber_digit = min(9, int(round(self.m * 100)))
        position_digit = min(9, int(round(self.p * 10))) if camber_digit > 0 else 0
        return f"{camber_digit}{position_digit}{min(99, int(round(self.t * 100))):02d}"

    def thickness(self, x: np.ndarray) -> np.ndarray:
        """Half thickness y_t(x) measured normal to the camber line."""
        x = np.asarray(x, dtype=float)
        a0, a1, a2, a3, a4 = _THICKNESS_COEFFS
        return 5.0 * self.t * (a0 * np.sqrt(x) + x * (a1 + x * (a2 + x * (a3 + x * a4))))

    def camber(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Camber line height y_c(x) and its slope dy_c/dx."""
        x = np.asarray(x, dtype=float)
        if self.m == 0.0:
            return np.zeros_like(x), np.zeros_like(x)
        m, p = self.m, self.p
        fore = x < p
        yc = np.where(fore, m / p**2 * (2 * p * x - x**2), m / (1 - p) ** 2 * (1 - 2 * p + 2 * p * x - x**2))
        slope = np.where(fore, 2 * m / p**2 * (p - x), 2 * m / (1 - p) ** 2 * (p - x))
        return yc, slope

    def surfaces(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper and lower surface points for camber-line stations ``x`` in [0, 1].

        The thickness is laid off normal to the camber line, so the surface x coordinates
        differ slightly from ``x`` on cambered sections.

        Returns
        -------
        upper, lower : ndarray, shape (len(x), 2)
        """
        x = np.asarray(x, dtype=float)
        if np.any((x < 0.0) | (x > 1.0)):
            raise ValueError("camber-line stations must lie in [0, 1]")
        yt = self.thickness(x)
        yc, slope = self.camber(x)
        theta = np.arctan(slope)
        upper = np.stack([x - yt * np.sin(theta), yc + yt * np.cos(theta)], axis=-1)
        lower = np.stack([x + yt * np.sin(theta), yc - yt * np.cos(theta)], axis=-1)
        return upper, lower


def cosine_stations(start: float, stop: float, n: int) -> np.ndarray:
    """``n`` camber-line stations from ``start`` to ``stop``, clustered towards x = 0 and x = 1.

    The half-cosine maps a uniform angle to x = (1 - cos(phi)) / 2, which concentrates
    points where the surface curvature is largest (leading edge) and at the trailing edge.
    """
    phi = np.linspace(np.arccos(1 - 2 * start), np.arccos(1 - 2 * stop), n)
    return 0.5 * (1.0 - np.cos(phi))
