# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Atomic file writes shared by every package: a reader sees the old or the complete new file.

Each write goes to a temporary sibling in the target's folder (so ``os.replace`` is a
rename on one filesystem), is flushed and fsynced, then renamed into place, and the folder
is fsynced so the rename survives a crash. ``tempfile.mkstemp`` creates files readable by
their owner only; results meant to be shared (datasets, exported models, metrics,
predictions) get the permissions a plain ``open`` would give them under the umask.

A result made of several files (a prediction's meshes and ``quantities.json``) is written
as a whole folder with :func:`atomic_folder`: into a hidden sibling that is renamed into
place at the end, so a reader sees the old folder or the complete new one, never a mix;
what a killed run leaves is removed by the next run for the same folder.
Standard library and numpy only, so the model package can use it in either Modulus host.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

logger = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------------------
# Whole folders
# --------------------------------------------------------------------------------------

#: Room kept below PATH_MAX for the files written inside a folder (their temporary names included).
_FILE_NAME_RESERVE = 64


class OutputFolderError(ValueError):
    """An output folder cannot be written or replaced; the message names it and why."""


def _host_token() -> str:
    """Eight hex digits naming this machine, so that a folder shared between machines
    never has a live run of another host taken for a dead one of this host."""
    return hashlib.sha1(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]


def _sibling_name(name: str, role: str, token: str) -> str:
    return f".{name}.{role}-{token}"


def _sibling_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.(?:partial|old)-(?P<host>[0-9a-f]{{8}})-(?P<pid>[0-9]+)-[0-9a-f]{{8}}")


def _new_token() -> str:
    return f"{_host_token()}-{os.getpid()}-{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False  # not a process of its own (0 and -1 would signal groups)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    except (OverflowError, ValueError):
        return False  # no process can have that number
    return True


def remove_stale_partials(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of ``target`` that killed runs of this host left behind.

    Those are the ``.<name>.partial-*`` folders being written and the ``.<name>.old-*``
    folders being removed by :func:`atomic_folder`, whose process is gone; folders of
    live processes and of other hosts are left alone. Each removal is logged.

    Returns
    -------
    list of Path
        The folders removed.
    """
    target = Path(target)
    pattern, host = _sibling_pattern(target.name), _host_token()
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or match["host"] != host or _pid_alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        if not os.path.lexists(path):
            logger.warning("%s: removed %s, left by a run that was killed before it finished (pid %s)",
                           target, path.name, match["pid"])
            removed.append(path)
    return removed


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor)


def check_folder_target(
    target: str | os.PathLike, replaceable: Callable[[Path], bool], expected: str
) -> Path:
    """Check, before any work is done, that :func:`atomic_folder` can write ``target``.

    The name (with the temporary sibling's suffix) must fit the filesystem's NAME_MAX and
    the path PATH_MAX; the nearest existing folder above must be writable (a real folder
    is created and removed there); an existing ``target`` must be an empty folder or one
    that ``replaceable`` accepts.

    Parameters
    ----------
    target : path-like
        The folder to write.
    replaceable : callable
        ``replaceable(folder)`` is True for an existing folder that holds an earlier
        result of the same kind, which may be replaced.
    expected : str
        What such a folder is, for the message (``"an lrsa-predict output ..."``).

    Returns
    -------
    Path
        ``target`` made absolute, symbolic links resolved: the folder that is replaced.

    Raises
    ------
    OutputFolderError
        One line naming the path and the reason.
    """
    lexical = Path(os.path.abspath(os.fspath(target)))
    if not lexical.name:
        raise OutputFolderError(f"{target}: a filesystem root cannot be an output folder")
    ancestor = _nearest_existing(lexical.parent)
    if not ancestor.is_dir():
        raise OutputFolderError(f"{target}: {ancestor} is a file, not a folder, so the output folder cannot be made")
    try:
        name_max = os.pathconf(ancestor, "PC_NAME_MAX")
        path_max = os.pathconf(ancestor, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    probe_name = _sibling_name(lexical.name, "partial", _new_token())
    overhead = len(os.fsencode(probe_name)) - len(os.fsencode(lexical.name))
    for part in lexical.relative_to(ancestor).parts[:-1]:
        if len(os.fsencode(part)) > name_max:
            raise OutputFolderError(f"{target}: the folder name {part[:40]}... is {len(os.fsencode(part))} bytes; "
                                    f"names here take at most {name_max}")
    size = len(os.fsencode(lexical.name))
    if size + overhead > name_max:
        raise OutputFolderError(
            f"{target}: the folder name is {size} bytes; at most {name_max - overhead} fit here "
            f"(names take {name_max}, and the temporary '.NAME.partial-...' folder beside it needs {overhead} more)"
        )
    length = len(os.fsencode(str(lexical.parent / probe_name))) + 1 + _FILE_NAME_RESERVE
    if length >= path_max:
        raise OutputFolderError(
            f"{target}: the path is {len(os.fsencode(str(lexical)))} bytes; with the files written inside it, it "
            f"needs {length - len(os.fsencode(str(lexical)))} more, and paths here take fewer than {path_max}"
        )
    resolved = lexical.resolve()
    if os.path.lexists(resolved):
        _check_replaceable(resolved, target, replaceable, expected)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputFolderError(f"{target}: {ancestor} is not writable")
    # A real folder made and removed: catches read-only mounts and filesystems where root is not all-powerful.
    probe = ancestor / (probe_name if ancestor == lexical.parent else _sibling_name(
        lexical.relative_to(ancestor).parts[0], "partial", _new_token()))
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as error:
        raise OutputFolderError(f"{target}: cannot write in {ancestor} ({error.strerror})") from None
    return resolved


def _check_replaceable(folder: Path, target: str | os.PathLike, replaceable: Callable[[Path], bool],
                       expected: str) -> None:
    if not folder.is_dir():
        raise OutputFolderError(f"{target}: exists and is not a folder; give a folder to write the output in")
    if any(folder.iterdir()) and not replaceable(folder):
        raise OutputFolderError(
            f"{target}: exists and is not {expected}, so it is not replaced; give a new folder, or empty this one"
        )


def _publish(staging: Path, target: Path, replaceable: Callable[[Path], bool], expected: str) -> None:
    """Rename ``staging`` to ``target``; an earlier ``target`` is renamed aside first and removed after."""
    # A few tries: a concurrent run may publish the same target between our two renames.
    for _ in range(8):
        aside = None
        if os.path.lexists(target):
            _check_replaceable(target, target, replaceable, expected)
            aside = target.parent / _sibling_name(target.name, "old", _new_token())
            try:
                os.rename(target, aside)
            except FileNotFoundError:
                continue
        try:
            os.rename(staging, target)
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                if aside is not None:
                    os.rename(aside, target)
                raise
            if aside is not None:
                shutil.rmtree(aside, ignore_errors=True)
            continue
        fsync_directory(target.parent)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        return
    raise OutputFolderError(f"{target}: other runs kept replacing it while this one tried to; nothing was written")


@contextlib.contextmanager
def atomic_folder(
    target: str | os.PathLike, replaceable: Callable[[Path], bool], expected: str
) -> Iterator[Path]:
    """Write a whole folder so that readers see the old one or the complete new one.

    Yields a hidden sibling, ``.<name>.partial-<host>-<pid>-<random>``, to write into;
    when the block ends without an exception the sibling is renamed to ``target`` (an
    earlier ``target`` is first renamed aside, then removed) and the parent is fsynced.
    On an exception the sibling is removed and ``target`` is untouched. A SIGKILL leaves
    the sibling, which the next call for the same target removes
    (:func:`remove_stale_partials`). Files inside are written as usual (atomically, e.g.
    with :func:`atomic_write_json`), so they are durable before the rename.

    Parameters
    ----------
    target, replaceable, expected
        As for :func:`check_folder_target`, which runs first.

    Raises
    ------
    OutputFolderError
        ``target`` cannot be written or replaced.
    """
    resolved = check_folder_target(target, replaceable, expected)
    remove_stale_partials(resolved)
    resolved.parent.mkdir(parents=True, exist_ok=True)
    staging = resolved.parent / _sibling_name(resolved.name, "partial", _new_token())
    os.mkdir(staging)
    try:
        yield staging
        fsync_directory(staging)
        _publish(staging, resolved, replaceable, expected)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def remove_result(path: str | os.PathLike) -> None:
    """Remove a file that marks a result set complete, durably, before the set is rewritten."""
    path = Path(path)
    if os.path.lexists(path):
        path.unlink()
        fsync_directory(path.parent)


def remove_temporaries_of(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings that killed writes of ``path`` left (``.<name>.XXXXXXXX<suffix>``).

    Only for a folder one process owns (e.g. a demo's output): a concurrent writer's
    temporary would go too.
    """
    path = Path(path)
    removed = []
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}(?:\.tmp|{re.escape(path.suffix)})")
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*"):
        if pattern.fullmatch(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed
