# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The dataset lock: one generator writes a dataset folder, and readers can tell.

``lrsa-data airfoil`` and ``lrsa-data darcy`` hold an exclusive ``fcntl.flock`` on
``<dataset>/.lock`` for as long as they write the folder, with a record of who they are
(pid, host, generator, start time) in the file, and delete the file when they are done.
The kernel drops the lock when the process ends, however it ends (SIGKILL included), so
a crashed generator never leaves a lock that counts: the file and record it leaves
behind are ignored, and the next generator takes them over.

A reader (``lrsa-train``, a script) asks :func:`dataset_writer`::

    from modulus_lrsa.data.lock import dataset_writer

    writer = dataset_writer("datasets/airfoil")
    if writer is not None:
        raise SystemExit(f"datasets/airfoil is being written by {writer}; wait for it to finish")

It takes no lock that a generator could trip over for more than an instant, needs only
read access to the folder, and returns None for a folder no generator holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: The lock file inside a dataset folder.
LOCK_FILE = ".lock"
#: How long a generator keeps trying to take the lock: a reader holds it for an instant.
_TAKE_SECONDS = 2.0
#: How long a reader waits for a holder that has just taken the lock to write its record.
_RECORD_SECONDS = 1.0
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class DatasetWriter:
    """The generator process holding a dataset's lock.

    Attributes
    ----------
    pid : int or None
        Its process id (None: a generator of an older version, which wrote no record).
    host : str or None
        The host it runs on (the folder may be shared between machines).
    generator : str or None
        What writes, e.g. ``"lrsa-data airfoil"``.
    since : str or None
        When it took the lock (local time).
    """

    pid: int | None
    host: str | None = None
    generator: str | None = None
    since: str | None = None

    def __str__(self) -> str:
        who = self.generator or "a dataset generator"
        if self.pid is None:
            return f"{who} (pid unknown)"
        where = f" on host {self.host}" if self.host else ""
        when = f", since {self.since}" if self.since else ""
        return f"{who} (pid {self.pid}{where}{when})"


class DatasetLockedError(RuntimeError):
    """Another generator process is writing the dataset folder (:attr:`writer` says which)."""

    def __init__(self, message: str, writer: DatasetWriter) -> None:
        super().__init__(message)
        self.writer = writer

    def __reduce__(self):
        return type(self), (self.args[0], self.writer)


def _parse(record: str) -> DatasetWriter:
    try:
        fields = json.loads(record)
        pid = fields["pid"]
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise TypeError(pid)
        return DatasetWriter(pid, fields.get("host"), fields.get("generator"), fields.get("since"))
    except (ValueError, KeyError, TypeError):
        return DatasetWriter(None)


def dataset_writer(folder: str | os.PathLike) -> DatasetWriter | None:
    """The generator writing ``folder`` now, or None if none is.

    Parameters
    ----------
    folder : path-like
        A dataset folder (``lrsa-data airfoil --out`` or ``lrsa-data darcy --out``).

    Returns
    -------
    DatasetWriter or None
        Who holds the folder's lock. None when nobody does: no lock file, or one left by
        a generator that has ended (its pid is then dead, or belongs to another process).
    """
    path = Path(folder) / LOCK_FILE
    try:
        handle = open(path, encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    with handle:
        try:
            # A shared lock is refused only while a generator holds the exclusive one.
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return None
        deadline = time.monotonic() + _RECORD_SECONDS
        while True:
            handle.seek(0)
            writer = _parse(handle.read())
            if writer.pid is not None or time.monotonic() >= deadline:
                return writer
            time.sleep(_POLL_SECONDS)


@contextlib.contextmanager
def hold_dataset_lock(folder: str | os.PathLike, generator: str) -> Iterator[Path]:
    """Hold ``folder``'s dataset lock for the block, with a record of this process in it.

    Parameters
    ----------
    folder : path-like
        The dataset folder; it must exist.
    generator : str
        What writes, for the record (``"lrsa-data airfoil"``).

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    DatasetLockedError
        Another process holds the lock; the message names it.
    """
    path = Path(folder) / LOCK_FILE
    deadline = time.monotonic() + _TAKE_SECONDS
    while True:
        # "a+": neither truncates a holder's record before the lock is ours nor fails if absent.
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            writer = _parse(handle.read())
            handle.close()
            if time.monotonic() >= deadline:
                raise DatasetLockedError(
                    f"{folder} is being written by {writer}; two generators in one folder would overwrite "
                    "each other's data. Wait for it to finish, stop it, or choose another output folder",
                    writer,
                ) from None
            time.sleep(_POLL_SECONDS)
            continue
        # A holder deletes the file before letting go: a lock on a file no longer (or no
        # longer the one) at ``path`` is worth nothing, so try again with the file there now.
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()
    with handle:
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "generator": generator,
            "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }))
        handle.flush()
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
