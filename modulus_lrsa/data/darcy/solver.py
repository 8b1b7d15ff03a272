# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Darcy flow in a random two-phase medium, with the recipe of the FNO paper: the physics.

The problem is steady single-phase flow in a heterogeneous medium on the unit square::

    -div(a(x, y) grad u(x, y)) = 1    in (0, 1)^2
                          u = 0    on the boundary

The permeability ``a`` is piecewise constant: ``a = 12`` where a Gaussian random field
with covariance ``(-Laplace + 9 I)^-2`` (zero Neumann conditions) is non-negative, and
``a = 3`` elsewhere. The field is sampled through its cosine (Karhunen-Loeve) expansion in
the eigenfunctions of the Neumann Laplacian, and the PDE is discretised with second-order
finite differences on a node grid that includes the boundary, the face coefficients being
the mean of the two neighboring nodes. The benchmark solves on 421 x 421 nodes and keeps
every 5th node (85 x 85); solving directly at 85 x 85 is the cheap variant.

Every sample draws its random numbers from a generator seeded by ``(seed, split, index)``,
so a dataset does not depend on the number of worker processes or on the shard layout, and
the test split does not change when ``n_train`` does.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

# Part of each sample's seed, so train and test samples never share random numbers.
_SPLIT_SEED_KEYS = {"train": 0, "test": 1}

GRF_ALPHA = 2
GRF_TAU = 3
A_PLUS = 12
A_MINUS = 3
FORCING = 1


# --------------------------------------------------------------------------------------
# Random permeability
# --------------------------------------------------------------------------------------


def node_coordinates(resolution: int) -> np.ndarray:
    """Coordinates of the grid nodes along one axis of the unit square.

    Parameters
    ----------
    resolution : int
        Number of nodes per axis, boundary nodes included (at least 3).

    Returns
    -------
    np.ndarray
        Shape ``(resolution,)``, float64, ``linspace(0, 1, resolution)``.
    """
    check_resolution(resolution, "resolution")
    return np.linspace(0.0, 1.0, resolution)


def gaussian_random_field(
    rng: np.random.Generator,
    resolution: int,
    alpha: float = GRF_ALPHA,
    tau: float = GRF_TAU,
) -> np.ndarray:
    """Sample a zero-mean Gaussian random field with covariance ``(-Laplace + tau^2 I)^-alpha``.

    The field is the truncated Karhunen-Loeve expansion in the L2-orthonormal eigenfunctions
    of the Laplacian on the unit square with zero Neumann conditions,
    ``phi_kl(x, y) = c_k c_l cos(pi k x) cos(pi l y)`` (``c_0 = 1``, ``c_k = sqrt(2)``), with
    ``resolution`` modes per axis, evaluated exactly at the grid nodes. As in FNO's
    generator the constant mode is dropped and the amplitudes carry the factor
    ``tau^(alpha - 1)``; only the sign of the field matters for the permeability.

    Parameters
    ----------
    rng : np.random.Generator
        Source of the ``resolution**2`` standard normal expansion coefficients.
    resolution : int
        Number of nodes (and of cosine modes) per axis.
    alpha, tau : float
        Exponent and shift of the covariance operator.

    Returns
    -------
    np.ndarray
        Shape ``(resolution, resolution)``, float64; entry ``[i, j]`` is the field at
        node ``(x[i], y[j])``.
    """
    modes = np.arange(resolution)
    basis = np.cos(np.pi * np.outer(node_coordinates(resolution), modes))
    basis[:, 1:] *= np.sqrt(2.0)
    laplace_eigenvalues = np.pi**2 * (modes[:, None] ** 2 + modes[None, :] ** 2)
    mode_std = tau ** (alpha - 1) * (laplace_eigenvalues + tau**2) ** (-alpha / 2)
    mode_std[0, 0] = 0.0
    expansion = mode_std * rng.standard_normal((resolution, resolution))
    return basis @ expansion @ basis.T


def sample_coefficient(rng: np.random.Generator, resolution: int) -> np.ndarray:
    """Sample one permeability field of the FNO Darcy benchmark.

    Parameters
    ----------
    rng : np.random.Generator
        Random source (consumed by :func:`gaussian_random_field`).
    resolution : int
        Number of nodes per axis.

    Returns
    -------
    np.ndarray
        Shape ``(resolution, resolution)``, float64, values in ``{A_MINUS, A_PLUS}``.
    """
    field = gaussian_random_field(rng, resolution, GRF_ALPHA, GRF_TAU)
    return np.where(field >= 0.0, float(A_PLUS), float(A_MINUS))


# --------------------------------------------------------------------------------------
# Finite-difference solver
# --------------------------------------------------------------------------------------


def assemble_darcy_operator(coeff: np.ndarray) -> scipy.sparse.csc_matrix:
    """Assemble the finite-difference matrix of ``-div(a grad u)`` with ``u = 0`` on the boundary.

    The grid is the node grid of the unit square, spacing ``h = 1 / (R - 1)``. The unknowns
    are the interior nodes, numbered row-major over ``(i, j)`` with ``i`` along ``x``.
    The flux through the face between two neighboring nodes uses the mean of their
    coefficients, which keeps the matrix symmetric and the scheme second-order accurate
    for smooth ``a``.

    Parameters
    ----------
    coeff : np.ndarray
        Shape ``(R, R)``, nodal coefficient values (all positive), ``R >= 3``.

    Returns
    -------
    scipy.sparse.csc_matrix
        Shape ``((R - 2)**2, (R - 2)**2)``, symmetric positive definite.
    """
    coeff = np.asarray(coeff, dtype=np.float64)
    if coeff.ndim != 2 or coeff.shape[0] != coeff.shape[1] or coeff.shape[0] < 3:
        raise ValueError(f"coeff must have shape (R, R) with R >= 3, got {coeff.shape}")
    if not np.all(np.isfinite(coeff)) or np.any(coeff <= 0.0):
        raise ValueError("coeff must be finite and strictly positive at every node")
    resolution = coeff.shape[0]
    n_interior = resolution - 2
    inv_h2 = float(resolution - 1) ** 2

    # face_x[i, j] sits between nodes (i, j) and (i + 1, j); face_y[i, j] between (i, j) and (i, j + 1).
    face_x = 0.5 * (coeff[1:, :] + coeff[:-1, :])
    face_y = 0.5 * (coeff[:, 1:] + coeff[:, :-1])
    diagonal = face_x[:-1, 1:-1] + face_x[1:, 1:-1] + face_y[1:-1, :-1] + face_y[1:-1, 1:]
    # Couplings between interior neighbors only; boundary neighbors carry u = 0.
    coupling_x = -face_x[1:-1, 1:-1]  # (n - 1, n): interior i to i + 1
    coupling_y = np.zeros((n_interior, n_interior))
    coupling_y[:, :-1] = -face_y[1:-1, 1:-1]  # last column would wrap to the next row: stays 0
    coupling_y = coupling_y.ravel()[:-1]

    matrix = scipy.sparse.diags(
        [diagonal.ravel(), coupling_x.ravel(), coupling_x.ravel(), coupling_y, coupling_y],
        [0, n_interior, -n_interior, 1, -1],
        format="csc",
    )
    return matrix * inv_h2


def solve_darcy(coeff: np.ndarray, forcing: float | np.ndarray = FORCING) -> np.ndarray:
    """Solve ``-div(coeff grad u) = forcing`` on the unit square with ``u = 0`` on the boundary.

    Parameters
    ----------
    coeff : np.ndarray
        Shape ``(R, R)``, nodal coefficient values (positive).
    forcing : float or np.ndarray
        Right-hand side: a constant, or nodal values of shape ``(R, R)`` (only the interior
        nodes are used).

    Returns
    -------
    np.ndarray
        Shape ``(R, R)``, float64, nodal solution including the zero boundary.
    """
    matrix = assemble_darcy_operator(coeff)
    resolution = coeff.shape[0]
    if np.ndim(forcing) == 0:
        rhs = np.full(matrix.shape[0], float(forcing))
    else:
        forcing = np.asarray(forcing, dtype=np.float64)
        if forcing.shape != coeff.shape:
            raise ValueError(
                f"forcing must be a scalar or have the shape of coeff {coeff.shape}, got {forcing.shape}"
            )
        rhs = forcing[1:-1, 1:-1].ravel()
    # A symmetric fill-reducing ordering suits the symmetric 5-point structure best.
    interior = scipy.sparse.linalg.spsolve(matrix, rhs, permc_spec="MMD_AT_PLUS_A")
    solution = np.zeros((resolution, resolution))
    solution[1:-1, 1:-1] = interior.reshape(resolution - 2, resolution - 2)
    return solution


# --------------------------------------------------------------------------------------
# Samples and parameters
# --------------------------------------------------------------------------------------


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Random generator of one sample, derived from ``(seed, split, index)`` only."""
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_SEED_KEYS[split], index]))


def generate_sample(
    seed: int, split: str, index: int, solve_resolution: int, resolution: int
) -> tuple[np.ndarray, np.ndarray]:
    """Generate one (coefficient, solution) pair, solved fine and subsampled.

    Parameters
    ----------
    seed : int
        Dataset seed.
    split : str
        ``"train"`` or ``"test"``.
    index : int
        Sample index within the split.
    solve_resolution : int
        Nodes per axis of the grid the PDE is solved on.
    resolution : int
        Nodes per axis kept in the output; ``(solve_resolution - 1)`` must be a multiple
        of ``(resolution - 1)``.

    Returns
    -------
    coeff, solution : np.ndarray
        Each of shape ``(resolution, resolution)``, float32.
    """
    stride = (solve_resolution - 1) // (resolution - 1)
    coeff = sample_coefficient(sample_rng(seed, split, index), solve_resolution)
    solution = solve_darcy(coeff, FORCING)
    return (
        coeff[::stride, ::stride].astype(np.float32),
        solution[::stride, ::stride].astype(np.float32),
    )




def check_resolution(value: int, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer >= 3 (nodes per axis)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 3:
        raise ValueError(f"{name} must be an integer >= 3 (nodes per axis, boundary included), got {value!r}")
