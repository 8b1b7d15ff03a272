# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Running one Ahmed-body case: STL, mesh, check, solve, average, export, clean up.

Steps: the body's STL is written and proven closed (:func:`.geometry.write_body_stl`);
``surfaceFeatureExtract``, ``blockMesh`` and ``snappyHexMesh`` mesh the box around it;
the body patch must exist and ``checkMesh`` must say ``Mesh OK.``; ``simpleFoam`` runs
under the airfoil runner (:func:`modulus_lrsa.data.airfoil.run.solve`: judged at fixed
checkpoints, killed with its runner, diverged runs stopped); Cd, Cl, side force and
moment coefficients are averaged over the preset's last iterations, where a steady
RANS of a bluff body still oscillates; ``foamToVTK`` exports the internal mesh and the
body patch of the result iteration, and the STL is copied beside them.

The case ends with a ``case.json`` with ``status`` ``ok``, ``unconverged`` (the averaged
coefficients still drift or oscillate by more than the preset's tolerance, or the
residuals stay high), ``failed`` (geometry, a tool, the mesh check, divergence, or the
Python side) or ``interrupted`` (stopped by the machine; see
:func:`modulus_lrsa.data.airfoil.run.environment_cause`), with a ``reason``.
"""

from __future__ import annotations

import math
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modulus_lrsa.atomic import atomic_write_json
from modulus_lrsa.data.airfoil.case import SolverControls
from modulus_lrsa.data.airfoil.openfoam import OpenFOAM, OpenFOAMNotFoundError, OpenFOAMToolError, find_openfoam
from modulus_lrsa.data.airfoil.run import (
    INTERRUPTED,
    CaseFailure,
    _interrupt,
    _python_failure,
    check_mesh,
    clean_case,
    environment_cause,
    environment_error_kind,
    read_function_object_table,
    solve,
)

from .case import BODY_PATCH, STL_NAME, DomainLayout, FlowCase, Preset, centre_of_moments, write_case
from .geometry import GeometryError, write_body_stl

#: Version of the case.json layout.
FORMAT_VERSION = 1
CASE_FILE = "case.json"
#: Tools a case needs beyond the airfoil runner's.
MESHING_TOOLS = ("surfaceFeatureExtract", "snappyHexMesh")
#: Early stop: a checkpoint ends the run only when it is far steadier than the averaging
#: verdict asks (airfoil runner criteria), so most cases run to the preset's limit.
_EARLY_STOP_RESIDUAL = 1e-5
_EARLY_STOP_TOLERANCE = 1e-3


def find_ahmed_openfoam() -> OpenFOAM:
    """The OpenFOAM installation, with the meshing tools this generator needs too.

    Raises
    ------
    OpenFOAMNotFoundError
        A tool is missing (with the install hint).
    """
    openfoam = find_openfoam()
    missing = [tool for tool in MESHING_TOOLS if shutil.which(tool, path=openfoam.environment().get("PATH")) is None]
    if missing:
        raise OpenFOAMNotFoundError(
            f"OpenFOAM tools not found on PATH: {', '.join(missing)} (the Ahmed-body cases mesh with snappyHexMesh). "
            "Install the full openfoam package (`make openfoam`)"
        )
    return openfoam


# --------------------------------------------------------------------------------------
# Averaged coefficients
# --------------------------------------------------------------------------------------


def read_vector_table(path: Path) -> dict[str, np.ndarray]:
    """Columns of a ``forces`` function-object file (``force.dat``, ``moment.dat``).

    Its rows hold vectors in parentheses, ``1 (fx fy fz) (px py pz) (vx vy vz)``, under a
    header ``# Time (total_x total_y total_z) ...``; read like
    :func:`~modulus_lrsa.data.airfoil.run.read_function_object_table`: an unfinished last
    line is ignored.
    """
    header: list[str] | None = None
    rows: list[list[float]] = []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            parts = line.replace("(", " ").replace(")", " ").split()
            if line.startswith("#"):
                if len(parts) > 1 and parts[1] == "Time":
                    header = parts[1:]
                continue
            if header is not None and len(parts) == len(header):
                try:
                    rows.append([float(v) for v in parts])
                except ValueError:
                    continue
    if header is None or not rows:
        return {}
    table = np.array(rows)
    return {name: table[:, j] for j, name in enumerate(header)}


@dataclass(frozen=True)
class Averages:
    """Coefficients averaged over the last ``window`` iterations, and how settled they are."""

    window: int
    mean: dict[str, float]
    std: dict[str, float]
    drift: dict[str, float]

    def settled(self, drift_tolerance: float, oscillation_tolerance: float) -> list[str]:
        """Why the averages of Cd and Cl cannot be trusted; empty if they can.

        Their means over the two halves of the window must differ by at most
        ``drift_tolerance`` x |Cd|, their standard deviations be at most
        ``oscillation_tolerance`` x |Cd|.
        """
        problems = []
        for name in ("Cd", "Cl"):
            if self.drift[name] > drift_tolerance:
                problems.append(f"mean {name} drifted by {self.drift[name]:.2g} x |Cd| between the halves of the "
                                f"last {self.window} iterations > {drift_tolerance:g}")
            if self.std[name] > oscillation_tolerance * abs(self.mean["Cd"]):
                problems.append(f"{name} oscillates with std {self.std[name]:.2g} > {oscillation_tolerance:g} x |Cd|")
        return problems


#: forceCoeffs columns (v1912) kept in the results, under their own names.
COEFFICIENTS = ("Cd", "Cl", "Cs", "CmRoll", "CmPitch", "CmYaw")


def average_coefficients(case_dir: Path, flow: FlowCase, last_iteration: int, window: int) -> Averages:
    """Average the force coefficients of iterations ``last_iteration - window + 1 .. last_iteration``.

    Cd, Cl, Cs (side force), CmRoll, CmPitch and CmYaw come from ``forceCoeffs``; the
    pressure and viscous parts of Cd (``Cd_pressure``, ``Cd_viscous``) from ``forces``,
    on the same reference (frontal area, ``0.5 U^2``; simpleFoam's pressure is kinematic).
    ``drift`` is the difference of the means of the window's two halves over |mean Cd|.

    Raises
    ------
    CaseFailure
        The function-object files lack the window's iterations.
    """
    post = Path(case_dir) / "postProcessing"
    coeffs = read_function_object_table(post / "forceCoeffs/0/coefficient.dat")
    forces = read_vector_table(post / "forces/0/force.dat")
    series: dict[str, np.ndarray] = {}
    for name, table, column, scale in [
        *((n, coeffs, n, 1.0) for n in COEFFICIENTS),
        ("Cd_pressure", forces, "pressure_x", 0.5 * flow.speed**2 * flow.body.frontal_area),
        ("Cd_viscous", forces, "viscous_x", 0.5 * flow.speed**2 * flow.body.frontal_area),
    ]:
        if "Time" not in table or column not in table:
            raise CaseFailure(f"the forces function objects wrote no {column} column (postProcessing of {case_dir})")
        keep = (table["Time"] > last_iteration - window) & (table["Time"] <= last_iteration)
        if int(keep.sum()) != window:
            raise CaseFailure(f"{column}: {int(keep.sum())} of the last {window} iterations recorded, up to {last_iteration}")
        series[name] = table[column][keep] / scale
    scale = max(abs(float(series["Cd"].mean())), 1e-12)
    half = window // 2
    return Averages(
        window=window,
        mean={name: float(v.mean()) for name, v in series.items()},
        std={name: float(v.std()) for name, v in series.items()},
        drift={name: abs(float(v[half:].mean() - v[:half].mean())) / scale for name, v in series.items()},
    )


# --------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------


def _run_tool(openfoam: OpenFOAM, tool: str, case_dir: Path, args: tuple[str, ...] = ()) -> None:
    try:
        openfoam.run(tool, case_dir, args)
    except OpenFOAMToolError as err:
        raise CaseFailure(f"{tool}: {err}", err.returncode) from None


_PATCH_ENTRY = re.compile(r"^\s*(\w+)\s*\{([^}]*)\}", re.MULTILINE)


def patch_faces(case_dir: Path) -> dict[str, int]:
    """Face count of every patch of ``constant/polyMesh/boundary``."""
    text = (Path(case_dir) / "constant/polyMesh/boundary").read_text(errors="replace")
    counts = {}
    for name, entry in _PATCH_ENTRY.findall(text):
        m = re.search(r"nFaces\s+(\d+)", entry)
        if m:
            counts[name] = int(m.group(1))
    return counts


def check_body_patch(case_dir: Path) -> int:
    """The body patch's face count after snappyHexMesh; CaseFailure if it has none."""
    try:
        counts = patch_faces(case_dir)
    except OSError as err:
        raise CaseFailure(f"snappyHexMesh wrote no mesh: {err}") from None
    if counts.get(BODY_PATCH, 0) == 0:
        raise CaseFailure(
            f"snappyHexMesh made no '{BODY_PATCH}' patch faces (patches: {counts}): the body was not meshed; "
            "is locationInMesh outside the body and the STL closed?"
        )
    return counts[BODY_PATCH]


def _y_plus_stats(case_dir: Path, iteration: int) -> dict | None:
    path = Path(case_dir) / "postProcessing/yPlus/0/yPlus.dat"
    if not path.is_file():
        return None
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 5 and not line.startswith("#") and parts[1] == BODY_PATCH and float(parts[0]) == iteration:
            return {"min": float(parts[2]), "max": float(parts[3]), "mean": float(parts[4])}
    return None


def export_vtk(openfoam: OpenFOAM, case_dir: Path, iteration: int) -> dict[str, str]:
    """foamToVTK of ``iteration``: the internal mesh and the body patch; the case-relative paths.

    Raises
    ------
    CaseFailure
        foamToVTK failed, or wrote no body patch (``-patches`` matched none).
    """
    _run_tool(openfoam, "foamToVTK", case_dir, ("-time", str(iteration), "-patches", f"({BODY_PATCH})"))
    vtk_dir = Path(case_dir) / "VTK"
    multiblocks = sorted(vtk_dir.glob("*.vtm"))
    if len(multiblocks) != 1:
        raise CaseFailure(f"foamToVTK: expected one .vtm file in {vtk_dir}, found {len(multiblocks)}")
    block_dir = multiblocks[0].with_suffix("")
    files = {
        "multiblock": multiblocks[0],
        "volume": block_dir / "internal.vtu",
        "surface": block_dir / "boundary" / f"{BODY_PATCH}.vtp",
    }
    if not files["surface"].is_file():
        written = sorted(p.name for p in (block_dir / "boundary").glob("*.vtp"))
        raise CaseFailure(
            f"foamToVTK: no body patch file {files['surface'].name} (-patches '({BODY_PATCH})' matched "
            f"{'only ' + ', '.join(written) if written else 'no patch'})"
        )
    if not files["volume"].is_file():
        raise CaseFailure(f"foamToVTK: the internal mesh {files['volume']} was not written")
    return {key: str(path.relative_to(case_dir)) for key, path in files.items()}


def _solver_controls(preset: Preset) -> SolverControls:
    return SolverControls(
        max_iterations=preset.max_iterations, converged_residual=_EARLY_STOP_RESIDUAL,
        coefficient_window=preset.average_window, coefficient_tolerance=_EARLY_STOP_TOLERANCE,
        check_interval=preset.check_interval,
    )


def clean_ahmed_case(case_dir: Path, last_iteration: int | None) -> None:
    """The airfoil clean-up (logs and histories gzipped, fields and polyMesh removed), and the feature edges."""
    clean_case(case_dir, last_iteration)
    shutil.rmtree(Path(case_dir) / "constant" / "extendedFeatureEdgeMesh", ignore_errors=True)
    (Path(case_dir) / "constant" / "triSurface" / f"{BODY_PATCH}.eMesh").unlink(missing_ok=True)


# --------------------------------------------------------------------------------------
# Whole case
# --------------------------------------------------------------------------------------


def run_case(
    case_dir: Path, flow: FlowCase, preset: Preset, layout: DomainLayout | None = None,
    openfoam: OpenFOAM | None = None,
) -> dict:
    """Run one case in ``case_dir`` (its name prefixes the VTK files) and write its ``case.json``.

    Returns
    -------
    dict
        The record: ``id``, ``status``, ``reason``, ``params``, ``results`` (averaged
        coefficients, their spread, cells, y+, iterations, seconds per step), ``files``
        (``volume``, ``surface``, ``multiblock``, ``geometry``: case-relative), ``mesh``,
        ``solver``; an interrupted one also ``interruption``.

    Raises
    ------
    OSError
        Only one that is no failure of the environment, while storing the finished case.
    """
    openfoam = openfoam or find_ahmed_openfoam()
    layout = layout or DomainLayout()
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
        "mesh": {"preset": preset.name, "settings": preset.to_dict(), "layout": layout.to_dict()},
        "solver": {
            "application": "simpleFoam", "turbulence_model": "kOmegaSST", "wall_treatment": "wall functions",
            "max_iterations": preset.max_iterations, "average_window": preset.average_window,
            "settle_tolerance": preset.settle_tolerance, "oscillation_tolerance": preset.oscillation_tolerance,
            "residual_limit": preset.residual_limit,
            "reference": {"area": flow.body.frontal_area, "length": flow.body.length,
                          "centre_of_moments": list(centre_of_moments(flow.body))},
        },
    }
    results = record["results"]
    steps: dict[str, float] = {}

    def step(name: str, since: float) -> float:
        now = time.monotonic()
        steps[name] = round(now - since, 2)
        return now

    try:
        domain = write_case(case_dir, flow, preset, layout)
        record["mesh"]["background"] = {"cells": list(domain.cells), "spacing": domain.spacing}
        try:
            surface = write_body_stl(flow.body, case_dir / "constant" / "triSurface" / STL_NAME)
        except GeometryError as err:
            raise CaseFailure(f"geometry: {err}") from None
        record["mesh"]["stl"] = surface.to_dict()
        t = time.monotonic()
        _run_tool(openfoam, "surfaceFeatureExtract", case_dir)
        _run_tool(openfoam, "blockMesh", case_dir)
        _run_tool(openfoam, "snappyHexMesh", case_dir, ("-overwrite",))
        results["body_faces"] = check_body_patch(case_dir)
        stats = check_mesh(openfoam, case_dir)
        t = step("mesh", t)
        results["n_cells"] = stats.pop("n_cells")
        record["mesh"]["quality"] = stats
        history, stopped_by = solve(openfoam, case_dir, _solver_controls(preset))
        t = step("solve", t)
        last = int(history.iterations[-1])
        averages = average_coefficients(case_dir, flow, last, min(preset.average_window, last))
        results.update(averages.mean)
        results.update(
            Cd_last=float(history.cd[-1]), Cl_last=float(history.cl[-1]),
            std={k: v for k, v in averages.std.items()}, drift={k: v for k, v in averages.drift.items()},
            average_window=averages.window, iterations=last, stopped_by=stopped_by,
            final_residuals=history.final_residuals(), y_plus=_y_plus_stats(case_dir, last),
        )
        if not results["Cd"] > 0.0:
            raise CaseFailure(f"non-physical drag coefficient Cd={results['Cd']:.3g}")
        problems = averages.settled(preset.settle_tolerance, preset.oscillation_tolerance)
        residuals = results["final_residuals"]
        worst = max(residuals, key=residuals.get) if residuals else None
        if worst is not None and residuals[worst] > preset.residual_limit:
            problems.append(f"residual of {worst} is {residuals[worst]:.2g} > {preset.residual_limit:g}")
        results["converged"] = not problems
        record["files"] = export_vtk(openfoam, case_dir, last)
        shutil.copyfile(case_dir / "constant" / "triSurface" / STL_NAME, case_dir / STL_NAME)
        record["files"]["geometry"] = STL_NAME
        step("export", t)
        record["status"] = "ok" if not problems else "unconverged"
        record["reason"] = None if not problems else f"not settled after {last} iterations: " + "; ".join(problems)
    except CaseFailure as failure:
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
        results["step_seconds"] = steps
    try:
        clean_ahmed_case(case_dir, results.get("iterations"))
        atomic_write_json(case_dir / CASE_FILE, _finite(record), allow_nan=False)
    except OSError as error:
        kind = environment_error_kind(error)
        if kind is None:
            raise
        if record["status"] != INTERRUPTED:
            _interrupt(record, kind, f"{type(error).__name__} while storing the case: {error}")
    return record


def _finite(value):
    """``value`` with non-finite floats as None: JSON has no NaN (a diverged history may hold them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
