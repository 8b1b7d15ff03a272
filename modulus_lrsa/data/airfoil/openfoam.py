# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Locating OpenFOAM and running its tools as subprocesses.

The tools are owned by the Python process that starts them: each runs in a process group
of its own (so the runner can kill a tool with everything it started) and, on Linux,
gets SIGKILL from the kernel when that Python process dies, even by SIGKILL, so no
solver outlives its runner.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: Tools a case run needs.
REQUIRED_TOOLS = ("blockMesh", "checkMesh", "simpleFoam", "foamToVTK")

#: Where the Debian/Ubuntu ``openfoam`` package keeps its ``etc`` directory; the tools
#: abort with "Could not find mandatory etc entry 'controlDict'" unless
#: WM_PROJECT_DIR points at its parent.
_DEBIAN_PROJECT_DIR = Path("/usr/share/openfoam")

INSTALL_HINT = (
    "Install OpenFOAM with `make openfoam` from the repository root, or directly with "
    "`apt-get install openfoam` (Debian/Ubuntu package, v1912 is tested). If OpenFOAM is "
    "installed elsewhere, put its bin directory on PATH and set WM_PROJECT_DIR."
)


class OpenFOAMNotFoundError(RuntimeError):
    """OpenFOAM tools are not on PATH or the installation is incomplete."""


class OpenFOAMToolError(RuntimeError):
    """An OpenFOAM tool exited with an error; ``returncode`` is its exit status (negative: the signal that ended it)."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode

    def __reduce__(self):
        return type(self), (self.args[0], self.returncode)


#: prctl option that sets the signal a process receives when its parent exits.
_PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl():
    """libc's prctl, looked up once in the parent: a forked child must not call dlopen."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def set_parent_death_signal(signum: int, parent_pid: int) -> bool:
    """Have the kernel send ``signum`` to this process when its parent exits.

    Parameters
    ----------
    signum : int
        Signal to receive once the parent is gone.
    parent_pid : int
        The parent this process must outlive no longer. If it already exited before the
        call (then nothing would ever send the signal), ``signum`` is sent right away.

    Returns
    -------
    bool
        False where the kernel offers no such request (only Linux does).
    """
    prctl = _prctl()
    if prctl is None:
        return False
    if prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG, {signum}) failed: {os.strerror(err)}")
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signum)
    return True


def _tie_tool_to(parent_pid: int) -> None:
    """preexec_fn of the tools: die by SIGKILL with the process that started them."""
    set_parent_death_signal(signal.SIGKILL, parent_pid)


def kill_tool(proc: subprocess.Popen) -> None:
    """Kill a tool started by :class:`OpenFOAM` with its whole process group and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is already gone
    proc.wait()


@dataclass(frozen=True)
class OpenFOAM:
    """An OpenFOAM installation usable from Python.

    Parameters
    ----------
    project_dir : Path
        Value for ``WM_PROJECT_DIR`` (the directory holding ``etc/controlDict``).
    bin_dirs : tuple of Path
        Directories holding the tools, searched before ``PATH``.
    """

    project_dir: Path
    bin_dirs: tuple[Path, ...] = ()

    def environment(self) -> dict[str, str]:
        """Environment for the tools' subprocesses."""
        env = dict(os.environ)
        env["WM_PROJECT_DIR"] = str(self.project_dir)
        if self.bin_dirs:
            env["PATH"] = os.pathsep.join([*map(str, self.bin_dirs), env.get("PATH", "")])
        return env

    def _owned(self) -> dict:
        """Popen options that tie a tool to this process (see the module docstring)."""
        return dict(
            env=self.environment(), stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=functools.partial(_tie_tool_to, os.getpid()) if _prctl() else None,
        )

    def run(self, tool: str, case_dir: Path, args: tuple[str, ...] = (), log_name: str | None = None) -> Path:
        """Run ``tool`` in ``case_dir`` with its output in ``log.<tool>``.

        Returns
        -------
        Path
            The log file.

        Raises
        ------
        OpenFOAMToolError
            If the tool exits non-zero; the message carries the tail of its log.
        """
        log_path = Path(case_dir) / (log_name or f"log.{tool}")
        with open(log_path, "w") as log:
            proc = subprocess.run([tool, *args], cwd=case_dir, stdout=log, stderr=subprocess.STDOUT, **self._owned())
        if proc.returncode != 0:
            how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"code {proc.returncode}"
            raise OpenFOAMToolError(f"{tool} exited with {how}: {log_error_summary(log_path)}", proc.returncode)
        return log_path

    def popen(self, tool: str, case_dir: Path, log_path: Path) -> subprocess.Popen:
        """Start ``tool`` without waiting, writing its output to ``log_path``; stop it with :func:`kill_tool`."""
        with open(log_path, "w") as log:
            return subprocess.Popen([tool], cwd=case_dir, stdout=log, stderr=subprocess.STDOUT, **self._owned())


def find_openfoam() -> OpenFOAM:
    """Find an OpenFOAM installation with all of :data:`REQUIRED_TOOLS`.

    Raises
    ------
    OpenFOAMNotFoundError
        With instructions to install it, if a tool is missing.
    """
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise OpenFOAMNotFoundError(f"OpenFOAM tools not found on PATH: {', '.join(missing)}. {INSTALL_HINT}")
    env_dir = os.environ.get("WM_PROJECT_DIR")
    project_dir = Path(env_dir) if env_dir else _DEBIAN_PROJECT_DIR
    if not (project_dir / "etc" / "controlDict").is_file():
        raise OpenFOAMNotFoundError(
            f"OpenFOAM's etc/controlDict is not under {project_dir} "
            f"({'from WM_PROJECT_DIR' if env_dir else 'the Debian default'}). {INSTALL_HINT}"
        )
    return OpenFOAM(project_dir=project_dir)


def openfoam_available() -> bool:
    """Whether :func:`find_openfoam` would succeed."""
    try:
        find_openfoam()
    except OpenFOAMNotFoundError:
        return False
    return True


#: Where a log says why its tool stopped: the ``--> FOAM FATAL ERROR`` or ``--> FOAM FATAL IO
#: ERROR`` block, or the stack trace OpenFOAM prints from its signal handlers (a floating
#: point exception, a segmentation fault). The banner's ``trapFpe: Floating point exception
#: trapping enabled`` is not one of them.
_ERROR_START = re.compile(r"^\s*--> FOAM FATAL|Foam::sig\w+::sigHandler")
#: Lines of an error block that locate the C++ source of the message, not its cause.
_SOURCE_LOCATION = re.compile(r"^\s*(From function|in file)\b")
_ERROR_END = re.compile(r"^\s*FOAM (exiting|aborting)")


def log_error_summary(log_path: Path, max_lines: int = 8) -> str:
    """Why a tool stopped, on one line: its log's first fatal error block, or the log's last lines.

    The block is the ``FOAM FATAL (IO) ERROR`` line and the message lines after it, up to
    ``FOAM exiting`` (without the lines that name OpenFOAM's own source files), or the
    first frames of a signal handler's stack trace.
    """
    try:
        lines = Path(log_path).read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {log_path})"
    for i, line in enumerate(lines):
        if _ERROR_START.search(line):
            block = []
            for text in lines[i:]:
                if _ERROR_END.match(text) or len(block) == max_lines:
                    break
                if text.strip() and not _SOURCE_LOCATION.match(text):
                    block.append(text.strip())
            return " | ".join(block)
    tail = [ln.strip() for ln in lines[-max_lines:] if ln.strip()]
    return " | ".join(tail) if tail else "(empty log)"
