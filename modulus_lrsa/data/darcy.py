"""Darcy flow benchmark data, generated with the recipe of the FNO paper.

The problem is steady single-phase flow in a heterogeneous medium on the unit square::

    -div(a(x, y) grad u(x, y)) = 1    in (0, 1)^2
                          u = 0    on the boundary

The permeability ``a`` is piecewise constant: ``a = 12`` where a Gaussian random field
with covariance ``(-Laplace + 9 I)^-2`` (zero Neumann conditions) is non-negative, and
``a = 3`` elsewhere. The field is sampled through its cosine (Karhunen-Loeve) expansion in
the eigenfunctions of the Neumann Laplacian, and the PDE is discretised with second-order
finite differences on a node grid that includes the boundary, the face coefficients being
the mean of the two neighbouring nodes. The benchmark solves on 421 x 421 nodes and keeps
every 5th node (85 x 85); solving directly at 85 x 85 is the cheap variant.

Every sample draws its random numbers from a generator seeded by ``(seed, split, index)``,
so a dataset does not depend on the number of worker processes or on the shard layout, and
the test split does not change when ``n_train`` does.

On disk a dataset is a folder with ``metadata.json``, ``train.npz`` and ``test.npz``; each
``.npz`` holds ``coeff`` and ``solution`` (float32, shape ``(S, R, R)``) and the node
coordinates ``x`` and ``y`` (float64, shape ``(R,)``); ``coeff[s, i, j]`` is the value at
``(x[i], y[j])``. Generation writes shards into ``<out>/.partial/`` and can be resumed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import json
import logging
import multiprocessing
import os
import shutil
import time
import zipfile
import zlib
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from modulus_lrsa import __version__
from modulus_lrsa.atomic import atomic_save_npz, atomic_write_json

logger = logging.getLogger(__name__)

DATASET_NAME = "darcy"
RECIPE = "fno-darcy-2d"
FORMAT_VERSION = 1
SPLITS = ("train", "test")
# Part of each sample's seed, so train and test samples never share random numbers.
_SPLIT_SEED_KEYS = {"train": 0, "test": 1}

GRF_ALPHA = 2
GRF_TAU = 3
A_PLUS = 12
A_MINUS = 3
FORCING = 1

DEFAULT_N_TRAIN = 1000
DEFAULT_N_TEST = 200
DEFAULT_SOLVE_RESOLUTION = 421
DEFAULT_RESOLUTION = 85
DEFAULT_SHARD_SIZE = 50

METADATA_FILE = "metadata.json"
PARTIAL_DIR = ".partial"
_PROGRESS_FILE = "progress.json"
_ARRAY_KEYS = ("coeff", "solution", "x", "y")
#: What np.load raises on a truncated or corrupted .npz: a cut-off zip directory
#: (BadZipFile), a damaged member (BadZipFile "Bad CRC-32", zlib.error), a mangled .npy
#: header (ValueError) or an empty file (EOFError).
_UNREADABLE_NPZ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)


class DarcyDatasetError(ValueError):
    """A Darcy dataset folder holds something other than what was asked for or expected."""


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
    _check_resolution(resolution, "resolution")
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
    The flux through the face between two neighbouring nodes uses the mean of their
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
    # Couplings between interior neighbours only; boundary neighbours carry u = 0.
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


def _check_resolution(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 3:
        raise ValueError(f"{name} must be an integer >= 3 (nodes per axis, boundary included), got {value!r}")


def _check_non_negative(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def _check_positive(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def compatible_resolutions(solve_resolution: int) -> list[int]:
    """Output resolutions reachable from ``solve_resolution`` by keeping every k-th node."""
    span = solve_resolution - 1
    return [d + 1 for d in range(2, span + 1) if span % d == 0]


def darcy_params(
    n_train: int = DEFAULT_N_TRAIN,
    n_test: int = DEFAULT_N_TEST,
    solve_resolution: int = DEFAULT_SOLVE_RESOLUTION,
    resolution: int = DEFAULT_RESOLUTION,
    seed: int = 0,
) -> dict[str, int]:
    """Validate the generation options and return them as the ``params`` of ``metadata.json``.

    Raises
    ------
    ValueError
        Naming the offending argument, when a count is negative, a resolution is below 3,
        ``(solve_resolution - 1) % (resolution - 1) != 0``, or the seed is negative.
    """
    _check_non_negative(n_train, "n_train")
    _check_non_negative(n_test, "n_test")
    _check_resolution(solve_resolution, "solve_resolution")
    _check_resolution(resolution, "resolution")
    _check_non_negative(seed, "seed")
    if (solve_resolution - 1) % (resolution - 1) != 0:
        choices = ", ".join(str(r) for r in compatible_resolutions(solve_resolution))
        raise ValueError(
            f"resolution {resolution} cannot be taken from solve_resolution {solve_resolution} by "
            f"keeping every k-th node: (solve_resolution - 1) must be a multiple of (resolution - 1). "
            f"Resolutions that work with solve_resolution {solve_resolution}: {choices}"
        )
    return {
        "n_train": int(n_train),
        "n_test": int(n_test),
        "solve_resolution": int(solve_resolution),
        "resolution": int(resolution),
        "seed": int(seed),
        "alpha": GRF_ALPHA,
        "tau": GRF_TAU,
        "a_plus": A_PLUS,
        "a_minus": A_MINUS,
        "forcing": FORCING,
    }


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as stream:
            payload = json.load(stream)
    except json.JSONDecodeError as exc:
        raise DarcyDatasetError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise DarcyDatasetError(f"{path} must hold a JSON object, found {type(payload).__name__}")
    return payload


class _Shard(NamedTuple):
    """A contiguous run of samples of one split, generated and stored as one file."""

    split: str
    start: int
    stop: int

    @property
    def filename(self) -> str:
        return f"{self.split}-{self.start:07d}-{self.stop:07d}.npz"


def _plan_shards(params: Mapping[str, int], shard_size: int) -> list[_Shard]:
    shards = []
    for split in SPLITS:
        count = params[f"n_{split}"]
        shards += [_Shard(split, s, min(s + shard_size, count)) for s in range(0, count, shard_size)]
    return shards


def _shard_is_complete(path: Path, shard: _Shard, resolution: int) -> bool:
    """A shard file counts only if it loads and has the expected arrays (guards against foreign files)."""
    if not path.is_file():
        return False
    expected = (shard.stop - shard.start, resolution, resolution)
    try:
        with np.load(path, allow_pickle=False) as stored:
            return all(
                key in stored and stored[key].shape == expected and stored[key].dtype == np.float32
                for key in ("coeff", "solution")
            )
    except _UNREADABLE_NPZ_ERRORS:
        return False


def _generate_shard(partial_dir: Path, shard: _Shard, params: Mapping[str, int]) -> float:
    """Generate one shard and write it atomically; returns the seconds it took."""
    started = time.perf_counter()
    resolution = params["resolution"]
    count = shard.stop - shard.start
    coeffs = np.empty((count, resolution, resolution), dtype=np.float32)
    solutions = np.empty_like(coeffs)
    for offset, index in enumerate(range(shard.start, shard.stop)):
        coeffs[offset], solutions[offset] = generate_sample(
            params["seed"], shard.split, index, params["solve_resolution"], resolution
        )
    atomic_save_npz(partial_dir / shard.filename, {"coeff": coeffs, "solution": solutions})
    return time.perf_counter() - started


def _params_difference(on_disk: Mapping[str, Any], requested: Mapping[str, Any]) -> str:
    keys = sorted(set(on_disk) | set(requested))
    return "; ".join(
        f"{key}: on disk {on_disk.get(key, '<missing>')!r}, requested {requested.get(key, '<missing>')!r}"
        for key in keys
        if on_disk.get(key) != requested.get(key)
    )


def _prepare_output(out: Path, params: Mapping[str, int], overwrite: bool) -> bool:
    """Check what ``out`` already holds. Returns True when the requested dataset is complete there."""
    metadata_path = out / METADATA_FILE
    data_paths = [out / f"{split}.npz" for split in SPLITS]
    if metadata_path.is_file():
        try:
            metadata = _read_json(metadata_path)
        except DarcyDatasetError:
            if not overwrite:
                raise DarcyDatasetError(
                    f"{metadata_path} cannot be read; refusing to replace the folder's contents. "
                    "Pass overwrite=True (--overwrite) to replace it."
                ) from None
            metadata = {}
        same_dataset = metadata.get("dataset") == DATASET_NAME and metadata.get("params") == dict(params)
        if same_dataset and all(path.is_file() for path in data_paths):
            return True
        if not same_dataset and not overwrite:
            on_disk_params = metadata.get("params")
            if metadata.get("dataset") != DATASET_NAME:
                what = f"a {metadata.get('dataset')!r} dataset"
            elif not isinstance(on_disk_params, dict):
                what = f"a Darcy dataset whose {METADATA_FILE} has no params"
            else:
                what = f"a Darcy dataset with other parameters ({_params_difference(on_disk_params, params)})"
            raise DarcyDatasetError(
                f"{out} already holds {what}; nothing was changed. Choose another output folder "
                "or pass overwrite=True (--overwrite) to replace it."
            )
        # From here the old metadata is being replaced (or was incomplete): unmark the folder
        # first so an interruption never leaves new arrays under old metadata.
        metadata_path.unlink()
        return False

    partial_progress = out / PARTIAL_DIR / _PROGRESS_FILE
    resumable = False
    if partial_progress.is_file():
        try:
            resumable = _read_json(partial_progress).get("params") == dict(params)
        except DarcyDatasetError:
            resumable = False
    stray = [path.name for path in data_paths if path.is_file()]
    if stray and not resumable and not overwrite:
        raise DarcyDatasetError(
            f"{out} holds {', '.join(stray)} but no {METADATA_FILE}, so it is not a dataset this "
            "generator can vouch for; nothing was changed. Choose another output folder or pass "
            "overwrite=True (--overwrite) to replace those files."
        )
    return False


def _prepare_partial(partial_dir: Path, params: Mapping[str, int], shard_size: int) -> None:
    """Keep shards of an interrupted run with the same parameters; discard anything else."""
    progress = {"params": dict(params), "shard_size": shard_size}
    progress_path = partial_dir / _PROGRESS_FILE
    if partial_dir.is_dir():
        try:
            previous = _read_json(progress_path) if progress_path.is_file() else None
        except DarcyDatasetError:
            previous = None
        if previous != progress:
            logger.warning("Discarding the shards in %s: they belong to a run with other settings", partial_dir)
            shutil.rmtree(partial_dir)
        else:
            for leftover in partial_dir.glob(".*.tmp"):
                leftover.unlink()
    partial_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(progress_path, progress)


def _run_shards(partial_dir: Path, shards: list[_Shard], params: Mapping[str, int], jobs: int) -> None:
    if not shards:
        return
    total_samples = sum(shard.stop - shard.start for shard in shards)
    done_samples = 0
    started = time.perf_counter()

    def report(shard: _Shard, shard_seconds: float) -> None:
        nonlocal done_samples
        count = shard.stop - shard.start
        done_samples += count
        elapsed = time.perf_counter() - started
        remaining = elapsed / done_samples * (total_samples - done_samples)
        logger.info(
            "darcy: %s samples %d-%d written, %.2f s/sample (%d/%d this run, %.0f s elapsed, ~%.0f s left)",
            shard.split, shard.start, shard.stop - 1, shard_seconds / count,
            done_samples, total_samples, elapsed, remaining,
        )

    if jobs == 1 or len(shards) == 1:
        for shard in shards:
            report(shard, _generate_shard(partial_dir, shard, params))
        return
    # "spawn" keeps workers free of whatever threads the parent (e.g. torch) already runs.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(shards)), mp_context=context) as pool:
        futures = {pool.submit(_generate_shard, partial_dir, shard, params): shard for shard in shards}
        try:
            for future in concurrent.futures.as_completed(futures):
                report(futures[future], future.result())
        except concurrent.futures.process.BrokenProcessPool as exc:
            raise RuntimeError(
                "a Darcy worker process died before finishing its shard: it was killed (e.g. out of "
                "memory), or the calling script lacks an `if __name__ == \"__main__\":` guard, which "
                "'spawn' workers need. Finished shards are kept; rerun to resume, or use jobs=1."
            ) from exc
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _assemble_split(out: Path, partial_dir: Path, split: str, params: Mapping[str, int], shard_size: int) -> None:
    resolution = params["resolution"]
    shards = [shard for shard in _plan_shards(params, shard_size) if shard.split == split]
    coeffs, solutions = [], []
    for shard in shards:
        with np.load(partial_dir / shard.filename, allow_pickle=False) as stored:
            coeffs.append(stored["coeff"])
            solutions.append(stored["solution"])
    empty = np.empty((0, resolution, resolution), dtype=np.float32)
    coords = node_coordinates(resolution)
    atomic_save_npz(
        out / f"{split}.npz",
        {
            "coeff": np.concatenate(coeffs) if coeffs else empty,
            "solution": np.concatenate(solutions) if solutions else empty,
            "x": coords,
            "y": coords.copy(),
        },
    )


def generate_darcy(
    out: str | os.PathLike[str],
    n_train: int = DEFAULT_N_TRAIN,
    n_test: int = DEFAULT_N_TEST,
    solve_resolution: int = DEFAULT_SOLVE_RESOLUTION,
    resolution: int = DEFAULT_RESOLUTION,
    seed: int = 0,
    jobs: int = 1,
    shard_size: int = DEFAULT_SHARD_SIZE,
    overwrite: bool = False,
) -> Path:
    """Generate (or finish generating) a Darcy dataset in ``out``.

    Samples are produced in shards of ``shard_size`` and written atomically to
    ``out/.partial/``; rerunning after an interruption keeps the finished shards. When all
    shards exist, ``train.npz`` and ``test.npz`` are written atomically, then
    ``metadata.json`` (which marks the dataset complete), and the shards are removed.

    Parameters
    ----------
    out : path-like
        Output folder (created if needed).
    n_train, n_test : int
        Number of samples per split (>= 0). The benchmark uses 1000 and 200.
    solve_resolution : int
        Nodes per axis of the finite-difference grid (421 in the benchmark).
    resolution : int
        Nodes per axis stored (85 in the benchmark); every
        ``(solve_resolution - 1) // (resolution - 1)``-th node is kept.
    seed : int
        Dataset seed (>= 0). Equal seeds and parameters give identical arrays.
    jobs : int
        Worker processes; the output does not depend on it. Workers are started with
        ``spawn``, so a script calling this with ``jobs > 1`` must keep its top-level code
        under ``if __name__ == "__main__":``.
    shard_size : int
        Samples per shard: the amount of work an interruption can lose.
    overwrite : bool
        Replace a dataset in ``out`` generated with other parameters. Without it such a
        folder is left untouched and :class:`DarcyDatasetError` is raised.

    Returns
    -------
    pathlib.Path
        The output folder. If it already held this exact dataset, nothing is recomputed.

    Raises
    ------
    ValueError
        For invalid parameters (see :func:`darcy_params`).
    DarcyDatasetError
        When ``out`` holds a different dataset and ``overwrite`` is False.
    """
    params = darcy_params(n_train, n_test, solve_resolution, resolution, seed)
    _check_positive(jobs, "jobs")
    _check_positive(shard_size, "shard_size")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DarcyDatasetError(f"output path {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    if _prepare_output(out, params, overwrite):
        logger.info("darcy: %s is already complete (same parameters); nothing to do", out)
        return out

    partial_dir = out / PARTIAL_DIR
    _prepare_partial(partial_dir, params, shard_size)
    all_shards = _plan_shards(params, shard_size)
    pending = [s for s in all_shards if not _shard_is_complete(partial_dir / s.filename, s, resolution)]
    if len(pending) < len(all_shards):
        logger.info("darcy: resuming in %s, %d of %d shards already done", out, len(all_shards) - len(pending), len(all_shards))
    logger.info(
        "darcy: generating %d train + %d test samples, solved at %dx%d, stored at %dx%d, in %s",
        n_train, n_test, solve_resolution, solve_resolution, resolution, resolution, out,
    )
    _run_shards(partial_dir, pending, params, jobs)

    for split in SPLITS:
        _assemble_split(out, partial_dir, split, params, shard_size)
    metadata = {
        "dataset": DATASET_NAME,
        "recipe": RECIPE,
        "format_version": FORMAT_VERSION,
        "params": params,
        "generator": f"modulus_lrsa {__version__}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_json(out / METADATA_FILE, metadata)
    shutil.rmtree(partial_dir)
    logger.info("darcy: dataset complete in %s", out)
    return out


def load_darcy(folder: str | os.PathLike[str], split: str) -> dict[str, Any]:
    """Read one split of a Darcy dataset written by :func:`generate_darcy`.

    Parameters
    ----------
    folder : path-like
        Dataset folder holding ``metadata.json`` and ``<split>.npz``.
    split : str
        ``"train"`` or ``"test"``.

    Returns
    -------
    dict
        ``"coeff"`` and ``"solution"``: float32 arrays of shape ``(S, R, R)``; ``"x"`` and
        ``"y"``: float64 node coordinates of shape ``(R,)``; ``"metadata"``: the parsed
        ``metadata.json``.

    Raises
    ------
    FileNotFoundError
        If the folder, ``metadata.json`` or the split file is missing.
    DarcyDatasetError
        If the metadata or arrays do not match the format (wrong dataset, version, keys,
        shapes or dtypes), or the split file is truncated or corrupt.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Darcy dataset folder {folder} does not exist; create it with `lrsa-data darcy --out {folder}`")
    metadata_path = folder / METADATA_FILE
    if not metadata_path.is_file():
        hint = " (generation was interrupted; rerun it to finish)" if (folder / PARTIAL_DIR).is_dir() else ""
        raise FileNotFoundError(f"{metadata_path} is missing, so {folder} is not a complete Darcy dataset{hint}")
    metadata = _read_json(metadata_path)
    if metadata.get("dataset") != DATASET_NAME:
        raise DarcyDatasetError(f"{metadata_path}: dataset is {metadata.get('dataset')!r}, expected {DATASET_NAME!r}")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise DarcyDatasetError(
            f"{metadata_path}: format_version is {metadata.get('format_version')!r}; this reader understands {FORMAT_VERSION}"
        )
    params = metadata.get("params")
    if not isinstance(params, dict) or not all(
        isinstance(params.get(key), int) for key in ("resolution", f"n_{split}")
    ):
        raise DarcyDatasetError(f"{metadata_path}: params must hold integer 'resolution' and 'n_{split}'")

    data_path = folder / f"{split}.npz"
    if not data_path.is_file():
        raise FileNotFoundError(f"{data_path} is missing from the Darcy dataset in {folder}")
    resolution, count = params["resolution"], params[f"n_{split}"]
    expected = {
        "coeff": ((count, resolution, resolution), np.float32),
        "solution": ((count, resolution, resolution), np.float32),
        "x": ((resolution,), np.float64),
        "y": ((resolution,), np.float64),
    }
    result: dict[str, Any] = {}
    try:
        with np.load(data_path, allow_pickle=False) as stored:
            missing = [key for key in _ARRAY_KEYS if key not in stored]
            if missing:
                raise DarcyDatasetError(f"{data_path} lacks array(s) {', '.join(missing)}; expected {', '.join(_ARRAY_KEYS)}")
            for key, (shape, dtype) in expected.items():
                array = stored[key]
                if array.shape != shape or array.dtype != dtype:
                    raise DarcyDatasetError(
                        f"{data_path}: '{key}' has shape {array.shape} and dtype {array.dtype}, "
                        f"expected shape {shape} and dtype {np.dtype(dtype)} (from {METADATA_FILE})"
                    )
                result[key] = array
    except DarcyDatasetError:
        raise
    except _UNREADABLE_NPZ_ERRORS as exc:
        raise DarcyDatasetError(
            f"{data_path} is truncated or corrupt and cannot be read as .npz ({type(exc).__name__}: {exc}); "
            f"delete it and run `lrsa-data darcy --out {folder}` again with the parameters in {metadata_path} "
            f"({', '.join(f'{key}={value}' for key, value in params.items())}) to regenerate it"
        ) from exc
    result["metadata"] = metadata
    return result


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _int_at_least(minimum: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer ({what}), got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum} ({what}), got {value}")
        return value

    return parse


def add_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``darcy`` subcommand of ``lrsa-data``."""
    parser = subparsers.add_parser(
        "darcy",
        help="Darcy flow in a random two-phase medium (FNO benchmark recipe)",
        description=(
            "Generate the FNO Darcy benchmark: -div(a grad u) = 1 on the unit square, u = 0 on "
            "the boundary, a in {12, 3} thresholded from a Gaussian random field. Solves on "
            "--solve-resolution nodes per axis and keeps every k-th node to reach --resolution. "
            "Interrupted runs resume where they stopped."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--n-train", type=_int_at_least(0, "number of samples"), default=DEFAULT_N_TRAIN, help="training samples")
    parser.add_argument("--n-test", type=_int_at_least(0, "number of samples"), default=DEFAULT_N_TEST, help="test samples")
    parser.add_argument(
        "--solve-resolution", type=_int_at_least(3, "nodes per axis"), default=DEFAULT_SOLVE_RESOLUTION,
        help="nodes per axis of the finite-difference grid (boundary included)",
    )
    parser.add_argument(
        "--resolution", type=_int_at_least(3, "nodes per axis"), default=DEFAULT_RESOLUTION,
        help="nodes per axis stored; (solve-resolution - 1) must be a multiple of (resolution - 1)",
    )
    parser.add_argument("--seed", type=_int_at_least(0, "seed"), default=0, help="dataset seed")
    parser.add_argument("--out", type=Path, default=Path("datasets/darcy"), help="output folder")
    parser.add_argument("--jobs", type=_int_at_least(1, "worker processes"), default=1, help="worker processes")
    parser.add_argument(
        "--shard-size", type=_int_at_least(1, "samples per shard"), default=DEFAULT_SHARD_SIZE,
        help="samples per resumable shard",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset in --out generated with other parameters")
    parser.set_defaults(func=functools.partial(_run_from_args, parser=parser))
    return parser


def _run_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        darcy_params(args.n_train, args.n_test, args.solve_resolution, args.resolution, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        generate_darcy(
            args.out,
            n_train=args.n_train,
            n_test=args.n_test,
            solve_resolution=args.solve_resolution,
            resolution=args.resolution,
            seed=args.seed,
            jobs=args.jobs,
            shard_size=args.shard_size,
            overwrite=args.overwrite,
        )
    except (DarcyDatasetError, OSError) as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    return 0
