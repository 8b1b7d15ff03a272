# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Atomic file writes shared by every package: a reader sees the old or the complete new file.

Each write goes to a temporary sibling in the target's folder (so ``os.replace`` is a
rename on one filesystem), is flushed and fsynced, then renamed into place, and the folder
is fsynced so the rename survives a crash. ``tempfile.mkstemp`` creates files readable by
their owner only; results meant to be shared (datasets, exported models, metrics,
predictions) get the permissions a plain ``open`` would give them under the umask.
Standard library and numpy only, so the model package can use it in either Modulus host.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np


def shared_file_mode() -> int:
    """``0o666`` minus the process umask: the mode ``open(path, "w")`` would create."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temporary_sibling(target: Path, suffix: str = ".tmp") -> Path:
    """An empty, uniquely named file next to ``target`` with ordinary permissions."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    os.chmod(name, shared_file_mode())
    return Path(name)


def fsync_directory(folder: Path) -> None:
    """Make renames inside ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def atomic_replace(
    path: str | os.PathLike, produce: Callable[[Path], None], suffix: str = ".tmp"
) -> Path:
    """Let ``produce(temporary)`` create the file next to ``path``, then move it into place.

    For writers that take a path rather than a stream (``Module.save``); the file gets
    ordinary permissions even if the writer recreated it.
    """
    target = Path(path)
    temporary = temporary_sibling(target, suffix)
    try:
        produce(temporary)
        os.chmod(temporary, shared_file_mode())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)
    return target


def atomic_write_with(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(stream)`` on a temporary sibling, fsync it, then move it onto ``path``."""

    def produce(temporary: Path) -> None:
        with open(temporary, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())

    return atomic_replace(path, produce)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write_with(path, lambda stream: stream.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, payload: Any, *, allow_nan: bool = True) -> Path:
    """Indented JSON, written atomically; ``allow_nan=False`` rejects NaN/Inf values."""
    return atomic_write_text(path, json.dumps(payload, indent=2, allow_nan=allow_nan) + "\n")


def atomic_save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Save ``arrays`` as an uncompressed ``.npz`` atomically.

    Uncompressed because such files are read every training step, where decompression
    costs more than the disk space it saves for float32 fields.
    """
    return atomic_write_with(path, lambda stream: np.savez(stream, **arrays))
