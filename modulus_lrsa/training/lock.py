# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""One writer per run folder: an advisory lock on ``<output_dir>/.lrsa-train.lock``.

Two launches on the same ``output_dir`` would both resume from the same checkpoint and
then overwrite each other's checkpoints, best model and metrics. :class:`RunLock` takes
an exclusive ``fcntl.flock`` on a lock file inside the folder for as long as the run
lasts; the kernel drops it when the process ends, however it ends (SIGKILL included),
so a crashed run never leaves a stale lock. The holder writes its pid, host, start time
and command line into the file, so a refused launch can say who is training there.
Under torchrun only rank 0 takes it, and every rank learns the outcome (see
:func:`modulus_lrsa.distributed.all_ranks_agree`).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from modulus_lrsa.errors import LaunchError

LOCK_NAME = ".lrsa-train.lock"


class RunLockedError(LaunchError):
    """Another process is training in the same ``output_dir``."""


class RunLock:
    """Exclusive, non-blocking lock of a run folder (a context manager).

    Parameters
    ----------
    output_dir : path-like
        The run folder; created if needed (after the config has been checked).
    """

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / LOCK_NAME
        self._handle = None

    def acquire(self) -> None:
        """Take the lock and record who holds it.

        Raises
        ------
        RunLockedError
            Another process holds it; the message names its pid, host and start time.
        """
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # "a+" neither truncates the holder's record before the lock is ours nor fails if absent.
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read()
            handle.close()
            raise RunLockedError(
                f"output_dir: {self.output_dir} is in use by {_describe(holder)}; two runs in one folder "
                "would overwrite each other's checkpoints. Wait for it to finish (relaunching then "
                "resumes), stop it, or choose another output_dir"
            ) from None
        except OSError as error:
            handle.close()
            raise LaunchError(
                f"output_dir: cannot lock {self.path} ({error}); its file system does not support flock "
                "(e.g. a Lustre or NFS mount without locking): put output_dir on one that does"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Drop the lock (the file stays: deleting it would race with a new holder)."""
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.release()


def _describe(record: str) -> str:
    """``lrsa-train pid 123 on host h, started ...`` from a holder's record."""
    try:
        holder = json.loads(record)
        return (
            f"lrsa-train pid {holder['pid']} on host {holder['host']}, started {holder['started']} "
            f"({holder['command']})"
        )
    except (ValueError, KeyError, TypeError):
        # The holder has the lock but has not written its record yet.
        return "another lrsa-train process that has just started"
