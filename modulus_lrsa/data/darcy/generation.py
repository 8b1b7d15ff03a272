# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Darcy dataset generation: sharded, resumable, deterministic per seed.

Samples are produced in shards (``<out>/.partial/``) by worker processes, each sample from
its own ``(seed, split, index)`` random stream (:mod:`~modulus_lrsa.data.darcy.solver`),
then assembled into the split files of :mod:`modulus_lrsa.io.darcy`, which also reads
them back. While it writes, the generator holds the folder's dataset lock
(:mod:`modulus_lrsa.data.lock`): a second generator on the same folder is refused, naming
the first, and readers can ask :func:`~modulus_lrsa.data.lock.dataset_writer`.

Nothing a failure of the machine interrupts is lost or needs more than a rerun: shards
are written atomically, so a full disk, a killed worker or a Ctrl-C leaves the finished
shards, and the next run with the same parameters resumes from them.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from modulus_lrsa import __version__
from modulus_lrsa.atomic import atomic_save_npz, atomic_write_json
from modulus_lrsa.data.darcy.solver import (
    A_MINUS,
    A_PLUS,
    FORCING,
    GRF_ALPHA,
    GRF_TAU,
    check_resolution,
    generate_sample,
    node_coordinates,
)
from modulus_lrsa.data.lock import DatasetLockedError, hold_dataset_lock
from modulus_lrsa.io.darcy import (
    DATASET_NAME,
    FORMAT_VERSION,
    METADATA_FILE,
    PARTIAL_DIR,
    SPLITS,
    UNREADABLE_NPZ_ERRORS,
    DarcyDatasetError,
    read_json,
    split_file,
)

logger = logging.getLogger(__name__)

RECIPE = "fno-darcy-2d"

DEFAULT_N_TRAIN = 1000
DEFAULT_N_TEST = 200
DEFAULT_SOLVE_RESOLUTION = 421
DEFAULT_RESOLUTION = 85
DEFAULT_SHARD_SIZE = 50

_PROGRESS_FILE = "progress.json"


class DarcyWorkerError(RuntimeError):
    """A worker process died before finishing its shard; the finished shards are kept."""


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
    check_resolution(solve_resolution, "solve_resolution")
    check_resolution(resolution, "resolution")
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
# Shards
# --------------------------------------------------------------------------------------


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
    except UNREADABLE_NPZ_ERRORS:
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
    data_paths = [split_file(out, split) for split in SPLITS]
    if metadata_path.is_file():
        try:
            metadata = read_json(metadata_path)
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
            resumable = read_json(partial_progress).get("params") == dict(params)
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
            previous = read_json(progress_path) if progress_path.is_file() else None
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
            raise DarcyWorkerError(
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
        split_file(out, split),
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
        When ``out`` holds a different dataset and ``overwrite`` is False, or another
        generator is writing it (the message names its pid).
    DarcyWorkerError
        A worker process died (killed, e.g. out of memory); rerun to resume.
    OSError
        A file could not be written (e.g. no space left); rerun to resume.
    """
    params = darcy_params(n_train, n_test, solve_resolution, resolution, seed)
    _check_positive(jobs, "jobs")
    _check_positive(shard_size, "shard_size")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DarcyDatasetError(f"output path {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    try:
        with hold_dataset_lock(out, "lrsa-data darcy"):
            return _generate_locked(out, params, jobs, shard_size, overwrite)
    except DatasetLockedError as err:
        raise DarcyDatasetError(str(err)) from None


def _generate_locked(out: Path, params: Mapping[str, int], jobs: int, shard_size: int, overwrite: bool) -> Path:
    """:func:`generate_darcy` once the folder's lock is held."""
    n_train, n_test = params["n_train"], params["n_test"]
    solve_resolution, resolution = params["solve_resolution"], params["resolution"]
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
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_json(out / METADATA_FILE, metadata)
    shutil.rmtree(partial_dir)
    logger.info("darcy: dataset complete in %s", out)
    return out


