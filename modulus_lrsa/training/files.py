"""Atomic writes of small result files (JSON) with ordinary file permissions.

``tempfile.mkstemp`` creates files readable by their owner only; results meant to be
shared (exported models, metrics, predictions) get the permissions a plain ``open``
would give them under the process umask before they are renamed into place.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


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


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` so that readers see the old or the complete new file."""
    target = Path(path)
    temporary = temporary_sibling(target)
    try:
        with open(temporary, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)
    return target


def atomic_write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Indented JSON, written atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
