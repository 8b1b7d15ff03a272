# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""One-time conversion of a folder of CFD cases into compact per-case arrays.

:func:`build_cache` reads every case once (in a process pool), computes its geometry
features with Warp, and writes ``<cache_dir>/cases/<case>.npz`` plus
``<cache_dir>/index.json``: settings, channel layout, per-case point counts and
per-case moments, skipped cases with reasons, and normalization statistics of the
training split. All writes are atomic.

Re-running with the same settings and unchanged input files (size and modification
time) reuses every cached case; a case whose files changed is rebuilt; different
settings (a different settings hash) rebuild all. Statistics are always re-merged from
the stored per-case moments, so changing the split costs no re-read. A rerun that
changes nothing writes nothing, so an up-to-date cache in a read-only folder serves as
it is; a cache folder that cannot be written is named, before any case is read, with
``data.cache_dir`` to move it (:class:`CacheFolderError`).

Entries cannot lie. The index records each entry's byte size and SHA-256
(``size``, ``sha256``). :func:`build_cache`, which ``lrsa-train`` runs at every launch,
checks both for every entry it would reuse and rebuilds a missing, truncated or altered
one from its case's files, with one warning naming the file and why.
:meth:`MeshCache.load_case` checks the size (one ``stat``, about 3 us) and reads the
archive so that the CRC-32 of every array and the layout the index promises (names,
shapes, dtypes) are checked on every read; a damaged entry is one ``MeshDataError``
naming it. The SHA-256 is checked once per build, not per read: on a 10 MB entry
(216,000 cells, this CPU) it costs 7 ms against 6.5 ms for the read itself (BLAKE2b took
17 ms), which would double the cost of every training sample, while the CRC-32s already
catch damage done after the build. An entry recorded without checksums is verified by
such a full read at the next build, adopted if intact (its size and checksum are then
recorded) and rebuilt if not. Such entries came from format 2 indexes written before the
checksums: those came without a new format version because the arrays did not change,
and the version is part of the settings hash, so bumping it rebuilds every existing
cache. Format 3 did change the arrays (wall normals point into the mesh's fluid; see
:mod:`~modulus_lrsa.datapipes.index`), so a cache of format 2, with checksums or not, is
now rebuilt whole.

Each entry holds the arrays of one case, :class:`~modulus_lrsa.datapipes.features.CaseArrays`
(made by :func:`~modulus_lrsa.datapipes.features.extract_features`); the index is a
:class:`~modulus_lrsa.datapipes.index.CacheIndex`.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import lzma
import multiprocessing
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modulus_lrsa.atomic import atomic_save_npz, atomic_write_json, temporary_sibling
from modulus_lrsa.datapipes.cases import (
    CaseEntry,
    CaseSource,
    MeshCacheConfig,
    free_stream_scales,
    list_cases,
    resolve_case,
)
from modulus_lrsa.datapipes.features import CaseArrays, extract_features
from modulus_lrsa.datapipes.index import CACHE_FORMAT_VERSION, CacheIndex, assemble_index, disagreements, format_change
from modulus_lrsa.datapipes.normalization import RunningMoments
from modulus_lrsa.errors import MeshDataError
from modulus_lrsa.io.fields import target_layout

logger = logging.getLogger(__name__)

INDEX_NAME = "index.json"
CASES_FOLDER = "cases"
ON_ERROR_CHOICES = ("raise", "skip")


def settings_hash(config: MeshCacheConfig) -> str:
    """SHA-256 of the cache format version and every setting that changes cached content."""
    payload = {"format_version": CACHE_FORMAT_VERSION, "config": config.to_dict()}
    # Splitting and manifest filtering do not change a case's arrays.
    for key in ("test_fraction", "split_seed", "accepted_statuses", "case_pattern"):
        payload["config"].pop(key)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def case_fingerprint(source: CaseSource, settings: str) -> str:
    """Hash of the settings, the case's input files (path, size, mtime) and its conditions."""
    digest = hashlib.sha256(settings.encode())
    for path in source.input_files():
        stat = path.stat() if path.exists() else None
        digest.update(f"{path}|{stat.st_size if stat else -1}|{stat.st_mtime_ns if stat else -1}".encode())
    digest.update(json.dumps(source.conditions, sort_keys=True).encode())
    for ref in (source.volume, source.surface, source.geometry):
        digest.update(f"{ref.block if ref else None}".encode())
    return digest.hexdigest()


def case_file_name(case_id: str) -> str:
    """A file-system-safe, collision-free file name for a case id."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "__", case_id).strip("_") or "case"
    return f"{safe[:80]}-{hashlib.sha1(case_id.encode()).hexdigest()[:8]}.npz"


class CacheFolderError(MeshDataError):
    """The cache folder cannot be written (read-only data folder, no space, not a folder).

    Never a case's fault: :func:`build_cache` raises it whatever ``on_error`` says.
    """


def _cannot_write(cache_dir: Path, error: OSError) -> CacheFolderError:
    where = f": {error.filename}" if error.filename and Path(error.filename) != cache_dir else ""
    return CacheFolderError(
        f"{cache_dir}: cannot write the preprocessing cache ({error.strerror or error}{where}); "
        "set data.cache_dir=<writable folder> (build_cache's cache_dir argument)"
    )


def _check_writable(cache_dir: Path) -> None:
    """Create the cache folders and a file in each, before any case is read."""
    try:
        for target in (cache_dir / INDEX_NAME, cache_dir / CASES_FOLDER / "write-check.npz"):
            temporary_sibling(target).unlink()
    except OSError as error:
        raise _cannot_write(cache_dir, error) from None


def _file_digest(path: Path) -> dict[str, Any]:
    """``{"size", "sha256"}`` of a file, read in 1 MiB chunks: what the index records per entry."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


class _Damaged(Exception):
    """Why a cache entry cannot be used (internal: callers turn it into a message or a rebuild)."""


#: What parsing a damaged archive raises, found by fuzzing (RuntimeError: a flipped "encrypted" flag).
_ARCHIVE_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, NotImplementedError, RuntimeError,
                   OverflowError, struct.error, zlib.error, lzma.LZMAError)


#: The most a deflated member may expand (zlib's limit is about 1032:1).
_DEFLATE_RATIO = 1032


def _entry_problem(case: Any) -> str | None:
    """Why an index entry is not one :func:`build_cache` writes, or None.

    The index travels with the cache and may have been written by anyone: its entry
    names the file to read (a plain name inside ``cases/``, never a path) and the layout
    to expect, so both are checked before either is used.
    """
    if not isinstance(case, dict):
        return f"the index entry is a {type(case).__name__}, not an object"
    name = case.get("file")
    if not isinstance(name, str) or not name.endswith(".npz") or any(c in name for c in "/\\\0") or name.startswith("."):
        return f"its index entry names the file {str(name)[:80]!r}, not a plain .npz name inside {CASES_FOLDER}/"
    for key in ("num_volume_points", "num_surface_points"):
        value = case.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"its index entry's {key} is {repr(value)[:40]}, not a count"
    if case.get("dimension") not in (2, 3):
        return f"its index entry's dimension is {repr(case.get('dimension'))[:40]}, not 2 or 3"
    for key in ("volume_channels", "surface_channels"):
        value = case.get(key)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return f"its index entry's {key} is not a list of names"
    if not isinstance(case.get("conditions"), list):
        return "its index entry's conditions are not a list"
    if "size" in case and (not isinstance(case["size"], int) or not isinstance(case.get("sha256"), str)):
        return "its index entry's size and sha256 are not a byte count and a digest"
    return None


def _entry_layout(case: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array of a case's entry, from its index entry."""
    return CaseArrays.layout(case["num_volume_points"], case["num_surface_points"], case["dimension"],
                             len(case["volume_channels"]), len(case["surface_channels"]), len(case["conditions"]))


def _read_into(stream: Any, array: np.ndarray) -> int:
    """Fill ``array``'s bytes from ``stream``; the count read. In 256 KiB pieces: as fast as
    ``np.load``, where one ``readinto`` of a zip member copies the whole array twice."""
    view = memoryview(array).cast("B") if array.nbytes else memoryview(bytearray())
    filled = 0
    while filled < len(view):
        chunk = stream.read(min(1 << 18, len(view) - filled))
        if not chunk:
            break
        view[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
    return filled


def _read_entry(path: Path, case: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of a cache entry, every byte checked but the SHA-256 (see the module docstring).

    Each array's header is checked against the index before anything is allocated, and
    each array is read to its end, where zipfile checks its CRC-32.

    Raises
    ------
    _Damaged
        Missing, of another size than recorded, not a readable archive, or another layout.
    """
    problem = _entry_problem(case)
    if problem is not None:
        raise _Damaged(problem)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise _Damaged("missing") from None
    except OSError as error:
        raise _Damaged(f"cannot be read: {error.strerror}") from None
    if "size" in case and size != case["size"]:
        raise _Damaged(f"size {size} != recorded {case['size']}")
    layout = _entry_layout(case)
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(archive.namelist())
            if names != sorted(f"{key}.npy" for key in layout):
                raise _Damaged(f"holds {names[:12]}, not the {len(layout)} arrays of a cache entry")
            for key, (shape, dtype) in layout.items():
                info = archive.getinfo(f"{key}.npy")
                # Before anything is allocated: the index and the header may claim any shape, the file holds its bytes.
                expansion = 1 if info.compress_type == zipfile.ZIP_STORED else _DEFLATE_RATIO
                held = min(info.file_size, expansion * min(info.compress_size, size))
                needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if needed > held:
                    raise _Damaged(f"array '{key}' would take {needed} bytes for {dtype} {shape}, "
                                   f"but its member holds at most {held}")
                with archive.open(f"{key}.npy") as member:
                    version = np.lib.format.read_magic(member)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    found_shape, fortran_order, found_dtype = read_header(member)
                    if (found_shape, found_dtype) != (shape, dtype):
                        raise _Damaged(f"array '{key}' is {found_dtype} {found_shape}, the index says {dtype} {shape}")
                    # A Fortran-ordered array is stored as the C-ordered buffer of its transpose.
                    buffer = np.empty(shape[::-1] if fortran_order else shape, dtype)
                    # Reading past the data (nothing must be left) reaches the member's end and its CRC-32 check.
                    if _read_into(member, buffer) != buffer.nbytes or member.read(1):
                        raise _Damaged(f"array '{key}' does not hold the {buffer.nbytes} bytes of {dtype} {shape}")
                    arrays[key] = buffer.T if fortran_order else buffer
    except _ARCHIVE_ERRORS as error:
        raise _Damaged(f"unreadable archive: {' '.join(str(error).split())[:200]}") from None
    return arrays


def _reuse_problem(path: Path, case: dict[str, Any]) -> str | None:
    """Why an index entry's file cannot be reused as it is, or None: size and SHA-256 as recorded,
    or, for an entry recorded before checksums were, a full read (:func:`_read_entry`)."""
    problem = _entry_problem(case)
    if problem is not None:
        return problem
    if "sha256" not in case:
        try:
            _read_entry(path, case)
        except _Damaged as damage:
            return str(damage)
        return None
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    if size != case["size"]:
        return f"size {size} != recorded {case['size']}"
    try:
        found = _file_digest(path)
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    if found["sha256"] != case["sha256"]:
        return f"SHA-256 {found['sha256'][:12]}... != recorded {case['sha256'][:12]}..."
    return None


def process_case(source: CaseSource, config: MeshCacheConfig, output_file: Path, device: str = "cpu") -> dict[str, Any]:
    """Extract one case (:func:`~modulus_lrsa.datapipes.features.extract_features`) and write its ``.npz`` atomically.

    Returns
    -------
    dict
        The summary of :func:`~modulus_lrsa.datapipes.features.extract_features` plus the per-case moments and the file's
        ``size`` and ``sha256``.

    Raises
    ------
    CacheFolderError
        The file cannot be written (no space, read-only folder).
    """
    arrays, summary = extract_features(source, config, device)
    moments = _case_moments(arrays, summary["volume_channels"], summary["surface_channels"], summary["dimension"],
                            config)
    try:
        atomic_save_npz(output_file, arrays.to_dict())
        digest = _file_digest(output_file)
    except OSError as error:
        raise _cannot_write(output_file.parent, error) from None
    return {**summary, "moments": {key: value.to_dict() for key, value in moments.items()}, **digest}


def _case_moments(
    arrays: CaseArrays, volume_channels: list[str], surface_channels: list[str], dim: int, config: MeshCacheConfig,
) -> dict[str, RunningMoments]:
    names = target_layout(volume_channels, surface_channels)
    # Statistics of what the model learns: targets divided by their free-stream scales.
    scales = free_stream_scales(config.free_stream, names, config.conditions, arrays.conditions)
    target = RunningMoments(len(names))
    for prefix, channels in (("volume", volume_channels), ("surface", surface_channels)):
        values = arrays.part(prefix)["targets"]
        if values.shape[0] == 0 or not channels:
            continue
        placed = np.zeros((values.shape[0], len(names)))
        valid = np.zeros((values.shape[0], len(names)), dtype=bool)
        columns = [names.index(name) for name in channels]
        placed[:, columns] = values / scales[columns]
        valid[:, columns] = True
        target.update(placed, valid)
    coordinates = RunningMoments(dim)
    for positions in (arrays.volume_positions, arrays.surface_positions):
        if positions.shape[0]:
            coordinates.update(positions)
    distance = RunningMoments(1)
    if arrays.volume_distance.shape[0]:
        distance.update(arrays.volume_distance[:, None])
    return {"target": target, "coordinates": coordinates, "distance": distance}


def _init_worker() -> None:
    # One torch thread per worker process: the pool already uses every core.
    import torch

    torch.set_num_threads(1)


def _reused_summary(entry: CaseEntry, old: dict[str, Any] | None, fingerprint: str, cache_dir: Path) -> dict[str, Any] | None:
    """The index entry of a case whose cached entry is still good (same fingerprint, intact file), or None."""
    if old is None or old.get("fingerprint") != fingerprint:
        return None
    problem = _entry_problem(old)
    path = cache_dir / CASES_FOLDER / (old["file"] if problem is None else case_file_name(entry.case_id))
    problem = problem or _reuse_problem(path, old)
    if problem is not None:
        logger.warning("%s: the cache entry of case '%s' is damaged (%s); rebuilding it from %s",
                       path, entry.case_id, problem, entry.location)
        return None
    # An entry recorded before checksums were, verified by reading it, gets them now.
    return {**old, "split": entry.split, **({} if "sha256" in old else _file_digest(path))}


def build_cache(
    root: str | os.PathLike,
    cache_dir: str | os.PathLike,
    config: MeshCacheConfig,
    num_workers: int = 0,
    on_error: str = "raise",
    stats_split: str = "train",
    device: str = "cpu",
) -> MeshCache:
    """Convert (or refresh) the cache of every case under ``root``.

    Parameters
    ----------
    root : str or PathLike
        Data folder (with manifest.json, or matching ``config.case_pattern``).
    cache_dir : str or PathLike
        Output folder; created if needed.
    config : MeshCacheConfig
        What to extract.
    num_workers : int
        Process-pool size; 0 processes the cases in this process.
    on_error : {"raise", "skip"}
        On a bad case (:class:`~modulus_lrsa.errors.MeshDataError`): stop, or
        log it, record it under ``skipped`` in the index and go on. Other exceptions
        (bugs) always propagate.
    stats_split : str
        Split whose cases define the normalization statistics.
    device : str
        Device of the Warp distance queries (``"cuda"`` only with ``num_workers=0``).

    Returns
    -------
    MeshCache
        The opened cache.
    """
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    root, cache_dir = Path(root).resolve(), Path(cache_dir)
    settings = settings_hash(config)
    stored, previous = _load_previous_index(cache_dir, settings)
    entries = list_cases(root, config)

    skipped: list[dict[str, str]] = []
    kept_summaries: dict[str, dict[str, Any]] = {}
    pending: list[tuple[CaseEntry, CaseSource, str]] = []

    def reject(case_id: str, error: MeshDataError) -> None:
        if on_error == "raise":
            error.add_note(f"while preprocessing case '{case_id}' (use on_error='skip' to skip bad cases)")
            raise error
        logger.warning("skipping case '%s': %s", case_id, error)
        skipped.append({"case_id": case_id, "reason": str(error)})

    for entry in entries:
        try:
            source = resolve_case(entry, config)
        except MeshDataError as error:
            reject(entry.case_id, error)
            continue
        fingerprint = case_fingerprint(source, settings)
        reused = _reused_summary(entry, previous.get(entry.case_id), fingerprint, cache_dir)
        if reused is not None:
            kept_summaries[entry.case_id] = reused
        else:
            pending.append((entry, source, fingerprint))

    logger.info(
        "cache %s: %d case(s) reused, %d to build, %d rejected before reading",
        cache_dir, len(kept_summaries), len(pending), len(skipped),
    )
    if pending:
        _check_writable(cache_dir)
    results = _run_cases(pending, config, cache_dir, num_workers, device)
    try:
        for entry, summary, error in results:
            if isinstance(error, CacheFolderError):
                raise error
            if error is not None:
                reject(entry.case_id, error)
            else:
                kept_summaries[entry.case_id] = summary
    finally:
        # Stops the worker pool right away when reject() raised.
        results.close()

    ordered = [kept_summaries[entry.case_id] for entry in entries if entry.case_id in kept_summaries]
    locations = {entry.case_id: entry.location for entry in entries}
    disagreeing = set()
    for summary, disagreement in disagreements(ordered):
        reject(summary["case_id"], MeshDataError(f"{locations[summary['case_id']]}: {disagreement}"))
        disagreeing.add(summary["case_id"])
    ordered = [summary for summary in ordered if summary["case_id"] not in disagreeing]
    index = assemble_index(ordered, skipped, config, settings, stats_split)
    _write_index(cache_dir, index, stored, {summary["file"] for summary in ordered})
    logger.info("cache %s: %d case(s) ready, %d skipped", cache_dir, len(ordered), len(skipped))
    return MeshCache(cache_dir, index)


def _without_checksums(index: dict[str, Any]) -> dict[str, Any]:
    return {**index, "cases": [{key: value for key, value in case.items() if key not in ("size", "sha256")}
                               for case in index.get("cases", [])]}


def _write_index(cache_dir: Path, index: CacheIndex, stored: dict[str, Any] | None, keep: set[str]) -> None:
    """Remove the entries no case uses and write the index, unless nothing changed.

    Writing nothing then keeps an up-to-date cache usable in a read-only folder; one whose
    only change is the checksums of entries adopted from an older index is used unrecorded.
    """
    folder = cache_dir / CASES_FOLDER
    stale = [path for path in folder.glob("*.npz") if path.name not in keep] if folder.is_dir() else []
    payload = index.to_dict()
    # As it would read back (tuples as lists), to compare with the stored index.
    written = json.loads(json.dumps(payload))
    if not stale and written == stored:
        return
    try:
        for path in stale:
            path.unlink()
        atomic_write_json(cache_dir / INDEX_NAME, payload)
    except OSError as error:
        if stale or stored is None or _without_checksums(written) != _without_checksums(stored):
            raise _cannot_write(cache_dir, error) from None
        logger.warning("%s: cannot record the entries' checksums (%s); they were verified by reading them, "
                       "as they will be at every build until they can be recorded", cache_dir, error.strerror)


def _run_cases(
    pending: list[tuple[CaseEntry, CaseSource, str]],
    config: MeshCacheConfig,
    cache_dir: Path,
    num_workers: int,
    device: str,
) -> Iterable[tuple[CaseEntry, dict[str, Any] | None, MeshDataError | None]]:
    def finish(entry: CaseEntry, fingerprint: str, summary: dict[str, Any]) -> dict[str, Any]:
        return {**summary, "split": entry.split, "file": case_file_name(entry.case_id), "fingerprint": fingerprint}

    if num_workers == 0 or len(pending) <= 1:
        for entry, source, fingerprint in pending:
            try:
                summary = process_case(source, config, cache_dir / CASES_FOLDER / case_file_name(entry.case_id), device)
            except MeshDataError as error:
                yield entry, None, error
                continue
            yield entry, finish(entry, fingerprint, summary), None
        return

    # Spawned workers: forking a process that already initialized CUDA or Warp is unsafe.
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=min(num_workers, len(pending)), mp_context=context, initializer=_init_worker
    )
    try:
        futures = {
            pool.submit(process_case, source, config, cache_dir / CASES_FOLDER / case_file_name(entry.case_id), device): (
                entry,
                fingerprint,
            )
            for entry, source, fingerprint in pending
        }
        for future in concurrent.futures.as_completed(futures):
            entry, fingerprint = futures[future]
            try:
                summary = future.result()
            except MeshDataError as error:
                yield entry, None, error
                continue
            except BrokenProcessPool as error:
                raise RuntimeError(
                    "build_cache(num_workers > 0): the worker processes died. They are spawned and "
                    "re-import the calling script, so a script must call build_cache under "
                    "`if __name__ == \"__main__\":` (or use num_workers=0)"
                ) from error
            yield entry, finish(entry, fingerprint, summary), None
    finally:
        # On a raised error, do not start the cases still queued.
        pool.shutdown(wait=True, cancel_futures=True)


def _load_previous_index(cache_dir: Path, settings: str) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The stored index (None if there is none or it cannot be parsed) and its reusable entries by case id."""
    index_path = cache_dir / INDEX_NAME
    if not index_path.is_file():
        return None, {}
    try:
        index = json.loads(index_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        logger.warning("cache index %s is unreadable; rebuilding every case", index_path)
        return None, {}
    if not isinstance(index, dict):
        logger.warning("cache index %s is not a JSON object; rebuilding every case", index_path)
        return None, {}
    if index.get("format_version") != CACHE_FORMAT_VERSION:
        logger.warning("cache %s: %s; rebuilding every case", cache_dir, format_change(index))
        return index, {}
    if index.get("settings_hash") != settings:
        logger.info("cache %s was built with other settings; rebuilding every case", cache_dir)
        return index, {}
    cases = index.get("cases")
    # Entries of other shapes are rebuilt (_reused_summary checks each one before it is used).
    entries = [case for case in cases if isinstance(case, dict) and isinstance(case.get("case_id"), str)] \
        if isinstance(cases, list) else []
    return index, {case["case_id"]: case for case in entries}



@dataclass
class MeshCache:
    """An opened preprocessing cache: its index and per-case arrays.

    Attributes
    ----------
    cache_dir : Path
    index : CacheIndex
        Contents of ``index.json``, the one typed form of the index: its layout, statistics
        and skipped cases are read there (``cache.index.target_channels``,
        ``cache.index.normalizer("target")``), not through shortcuts of their own.
    """

    cache_dir: Path
    index: CacheIndex

    @classmethod
    def open(cls, cache_dir: str | os.PathLike) -> MeshCache:
        """Open a cache written by :func:`build_cache`."""
        cache_dir = Path(cache_dir)
        index_path = cache_dir / INDEX_NAME
        if not index_path.is_file():
            raise FileNotFoundError(f"{index_path}: no cache index; run build_cache first")
        try:
            index = json.loads(index_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise MeshDataError(f"{index_path}: not a cache index (not valid JSON: {' '.join(str(error).split())[:120]}); "
                                "rebuild it with build_cache (lrsa-train does so by itself)") from None
        if not isinstance(index, dict):
            raise MeshDataError(f"{index_path}: not a cache index (a JSON {type(index).__name__}, not an object); "
                                "rebuild it with build_cache (lrsa-train does so by itself)")
        if index.get("format_version") != CACHE_FORMAT_VERSION:
            raise MeshDataError(
                f"{index_path}: {format_change(index)}; rebuild it with build_cache (lrsa-train does so by itself)"
            )
        return cls(cache_dir, CacheIndex.from_dict(index, str(index_path)))

    def cases(self, split: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Index entries of the cases in ``split`` (one name, several, or all when None)."""
        if split is None:
            return list(self.index.cases)
        wanted = {split} if isinstance(split, str) else set(split)
        return [case for case in self.index.cases if case["split"] in wanted]

    def load_case(self, case: str | dict[str, Any]) -> dict[str, np.ndarray]:
        """Arrays of one case (by id or index entry), by name (:meth:`CaseArrays.to_dict`'s keys).

        Raises
        ------
        MeshDataError
            The entry's file is missing or damaged (its size differs from the index, an
            array's CRC-32 fails, or its layout is not the index's): one line naming it.
        """
        if isinstance(case, str):
            matches = [entry for entry in self.index.cases if entry["case_id"] == case]
            if not matches:
                raise KeyError(f"case '{case}' is not in the cache {self.cache_dir}")
            case = matches[0]
        problem = _entry_problem(case)
        path = self.cache_dir / (f"{CASES_FOLDER}/{case['file']}" if problem is None else INDEX_NAME)
        try:
            return _read_entry(path, case)
        except _Damaged as damage:
            raise MeshDataError(
                f"{path}: the cache entry of case '{case['case_id']}' is damaged ({damage}); run build_cache again "
                "to rebuild it from the case's files (lrsa-train does so at every launch)"
            ) from None
