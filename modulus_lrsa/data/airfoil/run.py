# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Running one airfoil case: mesh, check, solve, judge convergence, export, clean up.

The case is run in ``case_dir`` (whose name becomes the prefix of the VTK files) and
ends with a ``case.json`` there (unless the disk is full): ``status`` is ``ok``,
``unconverged`` (ran to the iteration limit without settling), ``failed`` (a tool
crashed, the mesh failed ``checkMesh``, the solution diverged, or the Python side raised),
or ``interrupted`` (stopped by its environment, not by its physics: no space left, a
file size limit, a kill from outside, out of memory), with a ``reason`` that quotes the
cause: the log's ``FOAM FATAL (IO) ERROR`` block, or the exception. An interrupted case
is not a result: the dataset generator runs it again on its next run.

The solve is judged at fixed checkpoints (every ``SolverControls.check_interval``
iterations, where simpleFoam writes its fields), never at whatever iteration the solver
happens to be when the runner looks: the same case and settings give the same
iterations, coefficients and fields on every run.
"""

from __future__ import annotations

import errno
import gzip
import math
import os
import re
import shutil
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modulus_lrsa.atomic import atomic_write_json

from .case import FlowCase, SolverControls, write_case
from .mesh import AIRFOIL_PATCH, DomainLayout, MeshResolution
from .openfoam import OpenFOAM, OpenFOAMToolError, find_openfoam, kill_tool, log_error_summary

#: Version of the case.json / manifest.json layout.
FORMAT_VERSION = 1
CASE_FILE = "case.json"
#: |Cl| or |Cd| beyond this means the SIMPLE iteration has blown up.
_DIVERGED_COEFFICIENT = 20.0
_POLL_SECONDS = 0.5


#: Status of a case its environment stopped; see :func:`environment_cause`.
INTERRUPTED = "interrupted"


class CaseFailure(Exception):
    """A case cannot produce a usable solution; the message is the recorded reason.

    ``returncode`` is the exit status of the tool that failed (negative: the signal that
    ended it), None when no tool did.
    """

    def __init__(self, message: str, returncode: int | None = None) -> None:
        super().__init__(message)
        self.returncode = returncode


# --------------------------------------------------------------------------------------
# Failures of the environment
# --------------------------------------------------------------------------------------

#: Signals that end a tool from outside, not through its own computation, and what they mean.
_OUTSIDE_SIGNALS = {
    signal.SIGKILL: ("signal", "killed by SIGKILL (the out-of-memory killer, or a kill -9)"),
    signal.SIGTERM: ("signal", "stopped by SIGTERM from outside"),
    signal.SIGINT: ("signal", "stopped by SIGINT from outside"),
    signal.SIGHUP: ("signal", "stopped by SIGHUP (its terminal went away)"),
    signal.SIGXFSZ: ("no_space", "killed by SIGXFSZ: a file outgrew the file size limit (ulimit -f)"),
    signal.SIGXCPU: ("signal", "killed by SIGXCPU: the CPU time limit (ulimit -t) ran out"),
}
#: OS errors that say nothing about the case, only about the machine, and their kind.
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "no_space", errno.EDQUOT: "no_space", errno.EFBIG: "no_space",
    errno.ENOMEM: "memory", errno.EMFILE: "system", errno.ENFILE: "system", errno.EIO: "system",
    errno.EROFS: "system",
}
#: What a tool's error says when it could not write its output.
_WRITE_FAILURE = re.compile(
    r"No space left on device|Disk quota exceeded|File too large|[Cc]annot write|"
    r"[Cc]annot open file [^|]*for (writing|output)|error in IOstream [^|]*for operation [^|]*(Ostream|write)"
)
#: A file system with less room than this is full for a CFD case (one field file of a fine
#: mesh is a few MB): a tool that failed there most likely failed for want of space.
LOW_SPACE_BYTES = 16 * 2**20


def free_space(folder: Path) -> tuple[int, int] | None:
    """Bytes and inodes this process may still use on the file system of ``folder``; None if unknown."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    # root may fill the blocks reserved for it; others stop at f_bavail.
    blocks, inodes = (stats.f_bfree, stats.f_ffree) if os.geteuid() == 0 else (stats.f_bavail, stats.f_favail)
    return blocks * stats.f_frsize, (inodes if stats.f_files else -1)


def environment_cause(case_dir: Path, failure: CaseFailure) -> tuple[str, str] | None:
    """Whether a failed step failed because of the machine, not the case: ``(kind, why)`` or None.

    ``kind`` is ``"no_space"`` (the disk or a quota is full, or a file size limit was
    hit), ``"signal"`` (the tool was killed or stopped from outside). A tool that failed
    while the file system of ``case_dir`` has less than :data:`LOW_SPACE_BYTES` or no
    inode left counts as out of space, whatever its log says: a full disk often truncates
    the log before the tool can say so.
    """
    if failure.returncode is not None and -failure.returncode in _OUTSIDE_SIGNALS:
        return _OUTSIDE_SIGNALS[-failure.returncode]
    room = free_space(case_dir)
    left = "" if room is None else f"{room[0] / 2**20:.1f} MiB and {room[1]} inodes left on its file system"
    if _WRITE_FAILURE.search(str(failure)):
        return "no_space", f"could not write its output ({left or 'no space left?'})"
    if room is not None and (room[0] < LOW_SPACE_BYTES or room[1] == 0):
        return "no_space", f"no space left ({left})"
    return None


def environment_error_kind(error: BaseException) -> str | None:
    """The kind of an exception raised by the machine rather than the case, else None."""
    if isinstance(error, MemoryError):
        return "memory"
    if isinstance(error, OSError):
        return _ENVIRONMENT_ERRNOS.get(error.errno)
    return None


def _interrupt(record: dict, kind: str, reason: str) -> None:
    record.update(status=INTERRUPTED, interruption=kind, files={},
                  reason=f"{reason}; not a result of the case: it runs again on the next run")


def _python_failure(case_dir: Path, error: Exception) -> str:
    """The reason of a case the Python side failed: the exception and where it was raised.

    The whole traceback goes to ``log.python``, kept (gzipped) with the other logs.
    """
    frame = traceback.extract_tb(error.__traceback__)[-1]
    try:
        (case_dir / "log.python").write_text("".join(traceback.format_exception(error)))
    except OSError:
        pass  # the reason below still says what happened
    return f"{type(error).__name__}: {error} (raised at {Path(frame.filename).name}:{frame.lineno} in {frame.name})"


# --------------------------------------------------------------------------------------
# Solver history
# --------------------------------------------------------------------------------------


def read_function_object_table(path: Path) -> dict[str, np.ndarray]:
    """Numeric columns of an OpenFOAM function-object ``.dat`` file, keyed by header name.

    Reading stops at an incomplete line (the solver may be writing it); lines with a
    different number of fields than the header are skipped; non-numeric columns are left
    out. Empty if the header is not written yet.
    """
    header: list[str] | None = None
    rows: list[list[str]] = []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # the solver is writing this line, the header included
            if line.startswith("#"):
                names = line[1:].split()
                if names and names[0] == "Time":
                    header = names
                continue
            parts = line.split()
            if header is not None and len(parts) == len(header):
                rows.append(parts)
    if header is None:
        return {}
    table = {}
    for j, name in enumerate(header):
        try:
            table[name] = np.array([float(row[j]) for row in rows])
        except ValueError:
            continue  # solver names, converged flags
    return table


@dataclass
class SolveHistory:
    """Per-iteration Cl, Cd and initial residuals of a simpleFoam run."""

    iterations: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cl: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    residuals: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def read(cls, case_dir: Path) -> SolveHistory:
        """Read ``postProcessing/{forceCoeffs,solverInfo}`` of ``case_dir``; empty if absent."""
        post = Path(case_dir) / "postProcessing"
        # v1906+ name the force file coefficient.dat, older releases forceCoeffs.dat.
        coeff_path = next(
            (p for p in (post / "forceCoeffs/0/coefficient.dat", post / "forceCoeffs/0/forceCoeffs.dat") if p.is_file()),
            None,
        )
        info_path = post / "solverInfo/0/solverInfo.dat"
        if coeff_path is None or not info_path.is_file():
            return cls()
        coeffs = read_function_object_table(coeff_path)
        info = read_function_object_table(info_path)
        if "Time" not in coeffs or "Time" not in info:
            return cls()  # simpleFoam created the files but has not written their headers yet
        n = min(len(coeffs["Time"]), len(info["Time"]))
        residuals = {
            name[: -len("_initial")]: values[:n] for name, values in info.items() if name.endswith("_initial")
        }
        return cls(coeffs["Time"][:n], coeffs["Cl"][:n], coeffs["Cd"][:n], residuals)

    def __len__(self) -> int:
        return len(self.iterations)

    def up_to(self, iteration: int) -> SolveHistory:
        """The history of iterations 1 to ``iteration``."""
        keep = self.iterations <= iteration
        return SolveHistory(
            self.iterations[keep], self.cl[keep], self.cd[keep],
            {name: values[keep] for name, values in self.residuals.items()},
        )

    def reaches(self, iteration: int) -> bool:
        """Whether every iteration up to ``iteration`` is recorded."""
        return len(self) >= iteration and self.iterations[iteration - 1] == iteration

    def final_residuals(self) -> dict[str, float]:
        return {name: float(values[-1]) for name, values in self.residuals.items() if len(values)}

    def divergence(self) -> str | None:
        """Why the run has diverged, or None if it has not."""
        if not len(self):
            return None
        arrays = [self.cl, self.cd, *self.residuals.values()]
        if not all(np.all(np.isfinite(a)) for a in arrays):
            return f"non-finite residual or force coefficient by iteration {int(self.iterations[-1])}"
        worst = max(np.max(np.abs(self.cl)), np.max(np.abs(self.cd)))
        if worst > _DIVERGED_COEFFICIENT:
            i = int(np.argmax(np.maximum(np.abs(self.cl), np.abs(self.cd)) > _DIVERGED_COEFFICIENT))
            return (
                f"diverged: |Cl| or |Cd| exceeded {_DIVERGED_COEFFICIENT:g} at iteration "
                f"{int(self.iterations[i])} (Cl={self.cl[i]:.3g}, Cd={self.cd[i]:.3g})"
            )
        return None


@dataclass(frozen=True)
class Convergence:
    """Verdict on a run: converged only if residuals are low and Cl, Cd have settled."""

    converged: bool
    reason: str
    max_residual: float
    cl_variation: float
    cd_variation: float

    def to_dict(self) -> dict:
        # JSON has no infinity: a measure that could not be taken yet is null.
        finite = lambda v: v if math.isfinite(v) else None  # noqa: E731
        return {
            "max_final_residual": finite(self.max_residual),
            "cl_variation": finite(self.cl_variation),
            "cd_variation": finite(self.cd_variation),
        }


def assess_convergence(history: SolveHistory, controls: SolverControls) -> Convergence:
    """Judge a (possibly running) solve against ``controls``.

    Cl and Cd count as settled when their range over the last
    ``controls.coefficient_window`` iterations, relative to max(|Cl|, 0.1) and to |Cd|,
    is below ``controls.coefficient_tolerance``; the residuals when every final initial
    residual is below ``controls.converged_residual``.
    """
    window = controls.coefficient_window
    if len(history) < window:
        return Convergence(False, f"fewer than {window} iterations", math.inf, math.inf, math.inf)
    cl, cd = history.cl[-window:], history.cd[-window:]
    cl_var = float((cl.max() - cl.min()) / max(abs(cl[-1]), 0.1))
    cd_var = float((cd.max() - cd.min()) / max(abs(cd[-1]), 1e-12))
    residuals = history.final_residuals()
    max_res = max(residuals.values()) if residuals else math.inf
    problems = []
    if max_res > controls.converged_residual:
        worst = max(residuals, key=residuals.get)
        problems.append(f"residual of {worst} is {max_res:.2g} > {controls.converged_residual:g}")
    tol = controls.coefficient_tolerance
    if cl_var > tol:
        problems.append(f"Cl varied by {cl_var:.2g} (relative) over the last {window} iterations > {tol:g}")
    if cd_var > tol:
        problems.append(f"Cd varied by {cd_var:.2g} (relative) over the last {window} iterations > {tol:g}")
    return Convergence(not problems, "; ".join(problems) or "converged", max_res, cl_var, cd_var)


# --------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------

_CHECKMESH_FIELDS = {
    "max_non_orthogonality": re.compile(r"Mesh non-orthogonality Max:\s*([-\d.eE+]+)"),
    "max_skewness": re.compile(r"Max skewness = ([-\d.eE+]+)"),
    "max_aspect_ratio": re.compile(r"Max aspect ratio = ([-\d.eE+]+)"),
}


def check_mesh(openfoam: OpenFOAM, case_dir: Path) -> dict:
    """Run ``checkMesh`` and return cell count and quality figures.

    Raises
    ------
    CaseFailure
        If checkMesh crashes or reports failed checks (the ``***`` lines are quoted).
    """
    try:
        log = openfoam.run("checkMesh", case_dir)
    except OpenFOAMToolError as err:
        raise CaseFailure(f"checkMesh: {err}", err.returncode) from None
    text = log.read_text(errors="replace")
    if "Mesh OK." not in text:
        problems = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("***")]
        failed = re.search(r"Failed (\d+) mesh checks", text)
        summary = f"{failed.group(0) if failed else 'no Mesh OK verdict'}: {' | '.join(problems) or '(see log.checkMesh)'}"
        raise CaseFailure(f"checkMesh: {summary}")
    cells = re.search(r"^\s*cells:\s*(\d+)", text, re.MULTILINE)
    stats = {"n_cells": int(cells.group(1)) if cells else None}
    for key, pattern in _CHECKMESH_FIELDS.items():
        m = pattern.search(text)
        stats[key] = float(m.group(1)) if m else None
    return stats


def solve(openfoam: OpenFOAM, case_dir: Path, controls: SolverControls) -> tuple[SolveHistory, str]:
    """Run simpleFoam and judge its checkpoints in order until one decides the case.

    Checkpoint ``k`` (every ``controls.check_interval`` iterations) is judged on the
    history of iterations 1 to ``k``: a diverged history fails the case, a converged one
    makes ``k`` the result. simpleFoam, which may have run ahead meanwhile, is then
    killed; the fields written at ``k`` are the solution. Without a deciding
    checkpoint the result is the last one, ``controls.max_iterations``.

    Returns
    -------
    history : SolveHistory
        Iterations 1 to the result iteration.
    stopped_by : str
        ``"settled"`` (converged at a checkpoint) or ``"max_iterations"``.

    Raises
    ------
    CaseFailure
        If simpleFoam exits early (crashed, or stopped from outside: see
        :func:`environment_cause`) or the iteration diverges.
    """
    log_path = Path(case_dir) / "log.simpleFoam"
    checkpoints = list(range(controls.check_interval, controls.max_iterations + 1, controls.check_interval))
    proc = openfoam.popen("simpleFoam", case_dir, log_path)
    try:
        while True:
            running = proc.poll() is None
            history = SolveHistory.read(case_dir)  # read after poll: complete once exited
            while checkpoints and history.reaches(checkpoints[0]):
                iteration = checkpoints.pop(0)
                judged = history.up_to(iteration)
                diverged = judged.divergence()
                if diverged:
                    raise CaseFailure(diverged)
                if assess_convergence(judged, controls).converged:
                    return judged, "settled"
                if checkpoints:  # the last checkpoint is the result if none converges
                    shutil.rmtree(_time_dir(case_dir, iteration), ignore_errors=True)
            if not checkpoints:
                return history.up_to(controls.max_iterations), "max_iterations"
            if not running:
                break
            time.sleep(_POLL_SECONDS)
    finally:
        if proc.poll() is None:
            kill_tool(proc)
    how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"code {proc.returncode}"
    raise CaseFailure(
        f"simpleFoam exited with {how} after {len(history)} of {controls.max_iterations} iterations: "
        f"{log_error_summary(log_path)}",
        proc.returncode,
    )


def _time_dir(case_dir: Path, iteration: int) -> Path:
    """The folder simpleFoam writes iteration ``iteration`` to (timeFormat general)."""
    return Path(case_dir) / f"{iteration:d}"


def _y_plus_stats(case_dir: Path, iteration: int) -> dict | None:
    path = Path(case_dir) / "postProcessing/yPlus/0/yPlus.dat"
    if not path.is_file():
        return None
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 5 and not line.startswith("#") and parts[1] == AIRFOIL_PATCH and float(parts[0]) == iteration:
            return {"min": float(parts[2]), "max": float(parts[3]), "mean": float(parts[4])}
    return None


def export_vtk(openfoam: OpenFOAM, case_dir: Path, iteration: int) -> dict[str, str]:
    """Write iteration ``iteration`` to VTK; return the case-relative file paths.

    foamToVTK (v1912) writes ``VTK/<case>_<time>.vtm`` referencing
    ``VTK/<case>_<time>/internal.vtu`` and ``.../boundary/<patch>.vtp``.
    """
    try:
        openfoam.run("foamToVTK", case_dir, ("-time", str(iteration), "-patches", f"({AIRFOIL_PATCH})"))
    except OpenFOAMToolError as err:
        raise CaseFailure(f"foamToVTK: {err}", err.returncode) from None
    vtk_dir = Path(case_dir) / "VTK"
    multiblocks = sorted(vtk_dir.glob("*.vtm"))
    if len(multiblocks) != 1:
        raise CaseFailure(f"foamToVTK: expected one .vtm file in {vtk_dir}, found {len(multiblocks)}")
    block_dir = multiblocks[0].with_suffix("")
    files = {
        "multiblock": multiblocks[0],
        "volume": block_dir / "internal.vtu",
        "surface": block_dir / "boundary" / f"{AIRFOIL_PATCH}.vtp",
    }
    for key, path in files.items():
        if not path.is_file():
            raise CaseFailure(f"foamToVTK: {key} file {path} was not written")
    return {key: str(path.relative_to(case_dir)) for key, path in files.items()}


def _gzip_into(src: Path, dest: Path, last_iteration: int | None = None) -> None:
    """Gzip ``src`` to ``dest``; with ``last_iteration``, drop the rows of later iterations."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, gzip.open(dest, "wb") as fout:
        if last_iteration is None:
            shutil.copyfileobj(fin, fout)
        else:
            fout.writelines(line for line in fin if line.startswith(b"#") or _row_iteration(line) <= last_iteration)
    src.unlink()


def _row_iteration(line: bytes) -> float:
    """Iteration (Time column) of a function-object row; infinite for an unfinished row."""
    try:
        return float(line.split()[0]) if line.endswith(b"\n") else math.inf
    except (IndexError, ValueError):
        return math.inf


def clean_case(case_dir: Path, last_iteration: int | None = None) -> None:
    """Drop what the export made redundant: result time folders, the polyMesh.

    Logs and function-object histories are gzipped into ``logs/`` and ``history/``, the
    histories cut at ``last_iteration`` (the result) when given, since the solver may
    have run past it; ``0/``, ``system/`` and ``constant/*Properties`` stay so the case
    can be re-run.
    """
    case_dir = Path(case_dir)
    for p in list(case_dir.iterdir()):
        if p.is_dir() and (p.name.startswith("processor") or _is_result_time(p.name)):
            shutil.rmtree(p)
    shutil.rmtree(case_dir / "constant" / "polyMesh", ignore_errors=True)
    for log in sorted(case_dir.glob("log.*")):
        _gzip_into(log, case_dir / "logs" / f"{log.name}.gz")
    post = case_dir / "postProcessing"
    if post.is_dir():
        for dat in sorted(post.glob("*/0/*.dat")):
            _gzip_into(dat, case_dir / "history" / f"{dat.name}.gz", last_iteration)
        shutil.rmtree(post)


def _is_result_time(name: str) -> bool:
    try:
        return float(name) > 0
    except ValueError:
        return False


# --------------------------------------------------------------------------------------
# Whole case
# --------------------------------------------------------------------------------------


def run_case(
    case_dir: Path,
    flow: FlowCase,
    resolution: MeshResolution,
    controls: SolverControls,
    layout: DomainLayout = DomainLayout(),
    openfoam: OpenFOAM | None = None,
) -> dict:
    """Run one case in ``case_dir`` and write its ``case.json``.

    Parameters
    ----------
    case_dir : Path
        Empty or missing directory; its name prefixes the VTK files.
    flow, resolution, controls, layout
        What to solve and how.
    openfoam : OpenFOAM, optional
        Installation to use; found with :func:`find_openfoam` when omitted.

    Returns
    -------
    dict
        The ``case.json`` record: ``id``, ``status``, ``reason``, ``params``,
        ``results``, ``files`` and the ``mesh``/``solver`` settings used; an
        ``interrupted`` one also has ``interruption``, the kind of
        :func:`environment_cause` or :func:`environment_error_kind`.

    Raises
    ------
    OSError
        Only one that is no failure of the environment, while storing the finished case.
    """
    openfoam = openfoam or find_openfoam()
    case_dir = Path(case_dir)
    case_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    record: dict = {
        "format_version": FORMAT_VERSION,
        "id": case_dir.name,
        "status": "failed",
        "reason": None,
        "params": flow.to_dict(),
        "results": {},
        "files": {},
        "mesh": {"resolution": resolution.name, "layout": layout.to_dict()},
        "solver": {
            "application": "simpleFoam",
            "turbulence_model": "SpalartAllmaras",
            "max_iterations": controls.max_iterations,
            "converged_residual": controls.converged_residual,
            "coefficient_window": controls.coefficient_window,
            "coefficient_tolerance": controls.coefficient_tolerance,
            "check_interval": controls.check_interval,
        },
    }
    results = record["results"]
    try:
        write_case(case_dir, flow, resolution, controls, layout)
        try:
            openfoam.run("blockMesh", case_dir)
        except OpenFOAMToolError as err:
            raise CaseFailure(f"blockMesh: {err}", err.returncode) from None
        mesh_stats = check_mesh(openfoam, case_dir)
        results["n_cells"] = mesh_stats.pop("n_cells")
        record["mesh"]["quality"] = mesh_stats
        history, stopped_by = solve(openfoam, case_dir, controls)
        verdict = assess_convergence(history, controls)
        results.update(
            Cl=float(history.cl[-1]),
            Cd=float(history.cd[-1]),
            iterations=int(history.iterations[-1]),
            final_residuals=history.final_residuals(),
            converged=verdict.converged,
            stopped_by=stopped_by,
            convergence=verdict.to_dict(),
            y_plus=_y_plus_stats(case_dir, int(history.iterations[-1])),
        )
        if results["Cd"] <= 0.0:
            raise CaseFailure(f"non-physical drag coefficient Cd={results['Cd']:.3g}")
        if not _time_dir(case_dir, results["iterations"]).is_dir():
            raise CaseFailure(f"simpleFoam wrote no fields for iteration {results['iterations']}")
        record["files"] = export_vtk(openfoam, case_dir, results["iterations"])
        record["status"] = "ok" if verdict.converged else "unconverged"
        record["reason"] = None if verdict.converged else f"not converged after {results['iterations']} iterations: {verdict.reason}"
    except CaseFailure as failure:
        # Judged before the clean-up frees the space the tools filled.
        cause = environment_cause(case_dir, failure)
        if cause is not None:
            _interrupt(record, cause[0], f"{cause[1]}: {failure}")
        else:
            record.update(status="failed", reason=str(failure), files={})
    except Exception as error:
        kind = environment_error_kind(error)
        if kind is not None:
            _interrupt(record, kind, f"{type(error).__name__}: {error}")
        else:
            record.update(status="failed", reason=_python_failure(case_dir, error), files={})
    finally:
        results["seconds"] = round(time.monotonic() - started, 2)
    try:
        clean_case(case_dir, results.get("iterations"))
        atomic_write_json(case_dir / CASE_FILE, record, allow_nan=False)
    except OSError as error:
        kind = environment_error_kind(error)
        if kind is None:
            raise
        # A case whose clean-up or record could not be written is no result, whatever it
        # solved to; an interrupted one keeps the first cause.
        if record["status"] != INTERRUPTED:
            _interrupt(record, kind, f"{type(error).__name__} while storing the case: {error}")
    return record
