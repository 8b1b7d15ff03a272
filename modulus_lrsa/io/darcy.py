# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The Darcy dataset on disk, and its loader.

A dataset is a folder with ``metadata.json``, ``train.npz`` and ``test.npz``; each ``.npz``
holds ``coeff`` and ``solution`` (float32, shape ``(S, R, R)``) and the node coordinates
``x`` and ``y`` (float64, shape ``(R,)``); ``coeff[s, i, j]`` is the value at
``(x[i], y[j])``. ``metadata.json`` is written last and marks the dataset complete; an
unfinished generation keeps its shards in ``.partial/``.

``lrsa-data darcy`` (:mod:`modulus_lrsa.data.darcy`) writes this format;
:func:`load_darcy` reads it back and checks it, for the grid datapipe
(:mod:`modulus_lrsa.datapipes.grid`) and for ``lrsa-predict``. NumPy only, so the
generator's worker processes stay light.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

DATASET_NAME = "darcy"
FORMAT_VERSION = 1
SPLITS = ("train", "test")
METADATA_FILE = "metadata.json"
PARTIAL_DIR = ".partial"
ARRAY_KEYS = ("coeff", "solution", "x", "y")
#: What np.load raises on a truncated or corrupted .npz: a cut-off zip directory
#: (BadZipFile), a damaged member (BadZipFile "Bad CRC-32", zlib.error), a mangled .npy
#: header (ValueError) or an empty file (EOFError).
UNREADABLE_NPZ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)


class DarcyDatasetError(ValueError):
    """A Darcy dataset folder holds something other than what was asked for or expected."""


def split_file(folder: str | os.PathLike[str], split: str) -> Path:
    """The ``.npz`` file of one split."""
    return Path(folder) / f"{split}.npz"


#: The most a deflated archive member may expand (zlib's limit is about 1032:1).
_DEFLATE_RATIO = 1032


def array_size_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the arrays of an ``.npy`` or ``.npz`` file cannot hold what their headers claim, or None.

    Read before ``np.load``, which allocates the shape a header claims before reading a
    byte: a header of a few bytes may claim hundreds of gigabytes.
    """
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if not info.filename.endswith(".npy"):
                        continue
                    expansion = 1 if info.compress_type == zipfile.ZIP_STORED else _DEFLATE_RATIO
                    held = min(info.file_size, expansion * info.compress_size)
                    with archive.open(info) as member:
                        problem = _header_problem(member, held, f"array '{info.filename[:-4]}'")
                    if problem:
                        return problem
            return None
        with open(path, "rb") as stream:
            return _header_problem(stream, path.stat().st_size, "the array")
    except UNREADABLE_NPZ_ERRORS:
        return None  # np.load names the damage itself


def _header_problem(stream: Any, held: int, what: str) -> str | None:
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(stream)
    needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if needed > held:
        return f"{what} claims shape {shape} of {dtype} ({needed} bytes), but the file holds at most {held} bytes"
    return None


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`DarcyDatasetError` if it is not one."""
    try:
        with open(path, encoding="utf-8") as stream:
            payload = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DarcyDatasetError(f"{path} is not valid JSON ({' '.join(str(exc).split())[:120]})") from exc
    if not isinstance(payload, dict):
        raise DarcyDatasetError(f"{path} must hold a JSON object, found {type(payload).__name__}")
    return payload



def load_darcy(folder: str | os.PathLike[str], split: str) -> dict[str, Any]:
    """Read one split of a Darcy dataset written by :func:`~modulus_lrsa.data.darcy.generate_darcy`.

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
    metadata = read_json(metadata_path)
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

    data_path = split_file(folder, split)
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
    problem = array_size_problem(data_path)
    if problem:
        raise DarcyDatasetError(f"{data_path}: {problem}")
    try:
        with np.load(data_path, allow_pickle=False) as stored:
            missing = [key for key in ARRAY_KEYS if key not in stored]
            if missing:
                raise DarcyDatasetError(f"{data_path} lacks array(s) {', '.join(missing)}; expected {', '.join(ARRAY_KEYS)}")
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
    except UNREADABLE_NPZ_ERRORS as exc:
        raise DarcyDatasetError(
            f"{data_path} is truncated or corrupt and cannot be read as .npz ({type(exc).__name__}: {exc}); "
            f"delete it and run `lrsa-data darcy --out {folder}` again with the parameters in {metadata_path} "
            f"({', '.join(f'{key}={value}' for key, value in params.items())}) to regenerate it"
        ) from exc
    result["metadata"] = metadata
    return result
