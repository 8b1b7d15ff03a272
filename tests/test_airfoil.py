# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Airfoil RANS data generator: NACA geometry, C-grid mesh, SA physics, dataset runner, CLI."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import vtk
from openfoam_utils import require_openfoam  # noqa: F401  (pytest fixture)
from vtk.util.numpy_support import vtk_to_numpy

from modulus_lrsa.data.airfoil import (
    RESOLUTIONS,
    DatasetError,
    FlowCase,
    NacaSection,
    ParameterRanges,
    SolverControls,
    generate_airfoil_dataset,
    run_case,
    sample_flow_case,
)
from modulus_lrsa.data.airfoil.case import write_case
from modulus_lrsa.data.airfoil.dataset import MANIFEST_FILE, assign_splits
from modulus_lrsa.data.airfoil.mesh import AIRFOIL_PATCH, geometric_ratio
from modulus_lrsa.data.airfoil.naca import cosine_stations
from modulus_lrsa.data.airfoil.openfoam import OpenFOAM
from modulus_lrsa.data.airfoil.run import (
    SolveHistory,
    assess_convergence,
    check_mesh,
    read_function_object_table,
)
from modulus_lrsa.data.cli import main as lrsa_data

COARSE = RESOLUTIONS["coarse"]


# --------------------------------------------------------------------------------------
# NACA geometry
# --------------------------------------------------------------------------------------


def test_symmetric_section_thickness_and_closed_edges():
    section = NacaSection.from_code("0012")
    x = np.linspace(0.0, 1.0, 20001)
    upper, lower = section.surfaces(x)
    thickness = upper[:, 1] - lower[:, 1]
    assert thickness.max() == pytest.approx(0.12, abs=2e-4)
    assert x[thickness.argmax()] == pytest.approx(0.30, abs=0.01)
    np.testing.assert_allclose(upper[:, 1], -lower[:, 1])
    # Sharp closed trailing edge and leading edge at the origin.
    np.testing.assert_allclose(upper[-1], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(lower[-1], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(upper[0], [0.0, 0.0], atol=1e-12)


def test_cambered_section_camber_line():
    section = NacaSection.from_code("2412")
    assert (section.m, section.p, section.t) == (0.02, 0.4, 0.12)
    x = np.linspace(0.0, 1.0, 10001)
    yc, slope = section.camber(x)
    assert yc.max() == pytest.approx(0.02, abs=1e-8)
    assert x[yc.argmax()] == pytest.approx(0.4, abs=1e-3)
    assert yc[0] == pytest.approx(0.0) and yc[-1] == pytest.approx(0.0, abs=1e-12)
    # The two camber branches meet with matching value and zero slope at p.
    left, _ = section.camber(np.array([0.4 - 1e-9]))
    right, slope_p = section.camber(np.array([0.4 + 1e-9]))
    assert left[0] == pytest.approx(right[0], abs=1e-9) and slope_p[0] == pytest.approx(0.0, abs=1e-7)
    # The surfaces straddle the camber line: their midpoint is the camber point.
    upper, lower = section.surfaces(x)
    np.testing.assert_allclose((upper + lower) / 2, np.stack([x, yc], axis=1), atol=1e-12)
    assert np.all(upper[1:-1, 1] > lower[1:-1, 1])


def test_naca_code_round_trip_and_errors():
    assert NacaSection.from_code("NACA 4415").code == "4415"
    assert NacaSection(m=0.0212, p=0.387, t=0.1234).code == "2412"
    assert NacaSection(m=0.0, p=0.0, t=0.09).code == "0009"
    with pytest.raises(ValueError, match="4-digit"):
        NacaSection.from_code("23012")
    with pytest.raises(ValueError, match="thickness"):
        NacaSection(m=0.02, p=0.4, t=0.0)
    with pytest.raises(ValueError, match="camber position"):
        NacaSection(m=0.02, p=1.0, t=0.12)


def test_cosine_stations_cluster_at_the_edges():
    x = cosine_stations(0.0, 1.0, 51)
    steps = np.diff(x)
    assert x[0] == 0.0 and x[-1] == pytest.approx(1.0)
    assert steps[0] < steps[25] / 10 and steps[-1] < steps[25] / 10


# --------------------------------------------------------------------------------------
# Mesh and case files (no OpenFOAM needed)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("length, n, first", [(25.0, 45, 1e-3), (0.7, 30, 0.04), (1.0, 10, 0.1)])
def test_geometric_ratio_fills_the_edge(length, n, first):
    q = geometric_ratio(length, n, first)
    sizes = first * q ** np.arange(n)
    assert sizes.sum() == pytest.approx(length, rel=1e-9)
    with pytest.raises(ValueError, match="does not fit"):
        geometric_ratio(1.0, 10, 2.0)


def test_case_files_follow_the_angle_of_attack(tmp_path):
    flow = FlowCase(NacaSection.from_code("0012"), aoa_deg=30.0, speed=50.0)
    write_case(tmp_path, flow, COARSE, SolverControls(max_iterations=120))
    control = (tmp_path / "system/controlDict").read_text()
    assert "endTime         120;" in control and "writeInterval   10;" in control
    assert "liftDir         (-0.5 0.866025403784 0)" in control
    assert "dragDir         (0.866025403784 0.5 0)" in control
    assert "U               " not in control and "magUInf         50;" in control
    velocity = (tmp_path / "0/U").read_text()
    assert "uniform (43.3012701892 25 0)" in velocity
    assert "SpalartAllmaras" in (tmp_path / "constant/turbulenceProperties").read_text()
    assert flow.reynolds == pytest.approx(50.0 / 1.5e-5)


def test_flow_case_rejects_bad_values():
    section = NacaSection.from_code("0012")
    with pytest.raises(ValueError, match="speed must be positive"):
        FlowCase(section, 0.0, -5.0)
    with pytest.raises(ValueError, match="angle of attack"):
        FlowCase(section, 45.0, 50.0)


# --------------------------------------------------------------------------------------
# Sampling, splits, convergence judgement
# --------------------------------------------------------------------------------------


def test_sampling_is_deterministic_per_seed_and_index():
    ranges = ParameterRanges()
    first = [sample_flow_case(3, i, ranges).to_dict() for i in range(20)]
    assert first == [sample_flow_case(3, i, ranges).to_dict() for i in range(20)]
    assert first[5] != sample_flow_case(4, 5, ranges).to_dict()
    for p in first:
        assert 0.0 <= p["m"] <= 0.06 and 0.2 <= p["p"] <= 0.6 and 0.09 <= p["t"] <= 0.18
        assert -4.0 <= p["aoa_deg"] <= 10.0 and 30.0 <= p["U"] <= 90.0
        assert 2e6 <= p["Re"] <= 6e6


def test_parameter_ranges_reject_bad_input():
    with pytest.raises(DatasetError, match="aoa_deg: min 10.0 is greater than max -4.0"):
        ParameterRanges(aoa_deg=(10.0, -4.0))
    with pytest.raises(DatasetError, match=r"thickness .* must lie within"):
        ParameterRanges(thickness=(0.0, 0.5))
    with pytest.raises(DatasetError, match="finite"):
        ParameterRanges(speed=(30.0, math.nan))


def test_splits_exclude_unusable_cases_and_ignore_failures_elsewhere():
    statuses = ["ok"] * 10
    splits = assign_splits(statuses, seed=1, test_fraction=0.3)
    assert splits.count("test") == 3 and splits.count("train") == 7
    statuses[2], statuses[7] = "failed", "unconverged"
    with_failures = assign_splits(statuses, seed=1, test_fraction=0.3)
    assert with_failures[2] == with_failures[7] == "excluded"
    # Other cases keep their split when some fail.
    assert all(a == b for i, (a, b) in enumerate(zip(splits, with_failures)) if i not in (2, 7))


def _history(cl, cd, residual):
    n = len(cl)
    return SolveHistory(
        iterations=np.arange(1, n + 1, dtype=float), cl=np.asarray(cl, float), cd=np.asarray(cd, float),
        residuals={"p": np.full(n, residual), "Ux": np.full(n, residual)},
    )


def test_convergence_needs_settled_coefficients_and_low_residuals():
    controls = SolverControls(coefficient_window=50, coefficient_tolerance=1e-3, converged_residual=1e-3)
    i = np.arange(300)
    settled_cl = 0.5 + 0.2 * np.exp(-i / 20.0)
    settled = assess_convergence(_history(settled_cl, 0.01 + 0 * i, 1e-5), controls)
    assert settled.converged and settled.cl_variation < 1e-3
    # A period-2 limit cycle in Cd of 1 % is not convergence, however low the residuals.
    cycling = assess_convergence(_history(settled_cl, 0.0128 + 0.00013 * (i % 2), 1e-6), controls)
    assert not cycling.converged and "Cd varied" in cycling.reason
    high_residual = assess_convergence(_history(settled_cl, 0.01 + 0 * i, 5e-3), controls)
    assert not high_residual.converged and "residual of" in high_residual.reason
    short = assess_convergence(_history(settled_cl[:30], 0.01 + 0 * i[:30], 1e-6), controls)
    assert not short.converged and "fewer than 50" in short.reason


def test_divergence_detection():
    assert _history([0.1, 0.2], [0.01, 0.01], 1e-3).divergence() is None
    assert "non-finite" in _history([0.1, math.nan], [0.01, 0.01], 1e-3).divergence()
    assert "exceeded" in _history([0.1, 3e5], [0.01, 0.01], 1e-3).divergence()


def test_function_object_table_skips_partial_lines(tmp_path):
    path = tmp_path / "solverInfo.dat"
    path.write_text(
        "# Solver information\n# Time\tU_solver\tUx_initial\tp_initial\n"
        "1\tsmoothSolver\t1.0\t1.0\n2\tsmoothSolver\t0.5\t0.25\n3\tsmooth"
    )
    table = read_function_object_table(path)
    np.testing.assert_array_equal(table["Time"], [1.0, 2.0])
    np.testing.assert_array_equal(table["p_initial"], [1.0, 0.25])
    assert "U_solver" not in table


def test_history_is_empty_while_simpleFoam_has_not_written_the_headers(tmp_path):
    # Polled right after simpleFoam creates its function-object files: empty, or the
    # header line half written. Neither is a history yet, nor an error.
    coeffs = tmp_path / "postProcessing/forceCoeffs/0/coefficient.dat"
    info = tmp_path / "postProcessing/solverInfo/0/solverInfo.dat"
    for path in (coeffs, info):
        path.parent.mkdir(parents=True)
    info.write_text("# Solver information\n# Time\tUx_initial\tp_initial\n1\t1.0\t1.0\n")
    coeffs.write_text("")
    assert len(SolveHistory.read(tmp_path)) == 0
    coeffs.write_text("# Force coefficients\n# Time\tCd\tC")
    assert len(SolveHistory.read(tmp_path)) == 0
    coeffs.write_text("# Force coefficients\n# Time\tCd\tCl\n1\t0.02\t0.3\n")
    history = SolveHistory.read(tmp_path)
    np.testing.assert_array_equal(history.cl, [0.3])


# --------------------------------------------------------------------------------------
# Command-line errors (no OpenFOAM needed)
# --------------------------------------------------------------------------------------


def test_cli_rejects_inverted_range(tmp_path, capsys):
    status = lrsa_data(["airfoil", "--out", str(tmp_path / "d"), "--aoa-range", "12", "2"])
    assert status == 2
    assert "aoa_deg: min 12.0 is greater than max 2.0" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_cli_rejects_unknown_option(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        lrsa_data(["airfoil", "--out", str(tmp_path), "--reynolds", "1e6"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --reynolds" in capsys.readouterr().err


def test_cli_rejects_bad_cases_file(tmp_path, capsys):
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([{"naca": "0012", "aoa_deg": 2, "U": 50}, {"naca": "0012", "U": 50}]))
    assert lrsa_data(["airfoil", "--out", str(tmp_path / "d"), "--cases-file", str(cases)]) == 2
    assert f"cases file {cases}, entry 1: missing key 'aoa_deg'" in capsys.readouterr().err


def test_cli_rejects_iteration_limit_below_the_settling_window(tmp_path, capsys):
    assert lrsa_data(["airfoil", "--out", str(tmp_path / "d"), "--max-iterations", "40"]) == 2
    assert "max_iterations=40 is below the 100-iteration window" in capsys.readouterr().err


def test_cli_explains_how_to_install_openfoam(tmp_path, monkeypatch, capsys):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    assert lrsa_data(["airfoil", "--out", str(tmp_path / "d"), "--n-cases", "1"]) == 3
    err = capsys.readouterr().err
    assert "simpleFoam" in err and "make openfoam" in err and "apt-get install openfoam" in err
    assert not (tmp_path / "d").exists()


def test_refuses_a_folder_that_is_not_a_dataset(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    # The folder is checked before any OpenFOAM tool runs, so no installation is needed.
    unused_install = OpenFOAM(project_dir=tmp_path / "no-openfoam")
    with pytest.raises(DatasetError, match="not empty and has no manifest.json"):
        generate_airfoil_dataset(tmp_path, n_cases=1, resolution="coarse", openfoam=unused_install)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["notes.txt"]


# --------------------------------------------------------------------------------------
# With OpenFOAM: mesh, physics, dataset runs
# --------------------------------------------------------------------------------------


def _read_vtk(path: Path):
    reader = vtk.vtkXMLUnstructuredGridReader() if path.suffix == ".vtu" else vtk.vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()


@pytest.mark.openfoam
@pytest.mark.parametrize("resolution", list(RESOLUTIONS))
def test_mesh_passes_checkmesh_and_follows_the_section(tmp_path, require_openfoam, resolution):
    section = NacaSection(m=0.05, p=0.3, t=0.1)
    mesh = RESOLUTIONS[resolution]
    write_case(tmp_path, FlowCase(section, 8.0, 50.0), mesh, SolverControls())
    require_openfoam.run("blockMesh", tmp_path)
    stats = check_mesh(require_openfoam, tmp_path)
    assert stats["n_cells"] == mesh.n_cells
    assert stats["max_non_orthogonality"] < 50.0
    require_openfoam.run("foamToVTK", tmp_path, ("-constant", "-time", "constant", "-patches", f"({AIRFOIL_PATCH})"))
    surface = _read_vtk(next((tmp_path / "VTK").glob(f"*/boundary/{AIRFOIL_PATCH}.vtp")))
    points = vtk_to_numpy(surface.GetPoints().GetData())[:, :2]
    assert surface.GetNumberOfCells() == 2 * (mesh.n_front + mesh.n_rear)
    upper, lower = section.surfaces(cosine_stations(0.0, 1.0, 4001))
    contour = np.concatenate([upper, lower])
    distance = np.min(np.linalg.norm(points[:, None, :] - contour[None, :, :], axis=2), axis=1)
    assert distance.max() < 2e-4  # wall vertices lie on the NACA surface
    # Far field at least 20 chords from the airfoil in every direction.
    bounds = _read_vtk(next((tmp_path / "VTK").glob("*/internal.vtu"))).GetBounds()
    assert bounds[0] <= -20.0 and bounds[1] >= 21.0 and bounds[2] <= -20.0 and bounds[3] >= 20.0


@pytest.fixture(scope="module")
def naca0012_polar(tmp_path_factory, require_openfoam):
    """NACA 0012 at 0 and 4 degrees, Re 4e6, coarse mesh."""
    root = tmp_path_factory.mktemp("polar")
    return {
        aoa: run_case(root / f"aoa{aoa}", FlowCase(NacaSection.from_code("0012"), float(aoa), 60.0), COARSE,
                      SolverControls(max_iterations=1500), openfoam=require_openfoam) | {"dir": root / f"aoa{aoa}"}
        for aoa in (0, 4)
    }


@pytest.mark.openfoam
def test_symmetric_section_lift_and_drag(naca0012_polar):
    zero, four = naca0012_polar[0], naca0012_polar[4]
    for record in (zero, four):
        assert record["status"] == "ok", record["reason"]
        assert record["results"]["converged"] and record["results"]["stopped_by"] == "settled"
        assert record["results"]["Cd"] > 0.0
    assert abs(zero["results"]["Cl"]) < 0.02
    slope = (four["results"]["Cl"] - zero["results"]["Cl"]) / math.radians(4.0)
    assert slope == pytest.approx(2 * math.pi, rel=0.15)
    # Fully turbulent NACA 0012 at Re 4e6: Cd ~ 0.008-0.012 (coarse wall-function mesh).
    assert 0.006 < zero["results"]["Cd"] < 0.015


@pytest.mark.openfoam
def test_case_export_and_cleanup(naca0012_polar):
    record, case_dir = naca0012_polar[4], naca0012_polar[4]["dir"]
    assert json.loads((case_dir / "case.json").read_text())["results"]["Cl"] == record["results"]["Cl"]
    for key in ("n_cells", "iterations", "final_residuals", "seconds", "y_plus"):
        assert record["results"][key] is not None, key
    assert max(record["results"]["final_residuals"].values()) < 1e-3
    volume = _read_vtk(case_dir / record["files"]["volume"])
    surface = _read_vtk(case_dir / record["files"]["surface"])
    assert volume.GetNumberOfCells() == record["results"]["n_cells"]
    for name in ("p", "U", "nut", "nuTilda"):
        assert volume.GetCellData().HasArray(name), name
    assert surface.GetCellData().HasArray("wallShearStress") and surface.GetCellData().HasArray("p")
    # Suction on the upper surface at positive incidence.
    pressure = vtk_to_numpy(surface.GetCellData().GetArray("p"))
    centres = vtk.vtkCellCenters()
    centres.SetInputData(surface)
    centres.Update()
    y = vtk_to_numpy(centres.GetOutput().GetPoints().GetData())[:, 1]
    assert pressure[y > 0].mean() < pressure[y < 0].mean()
    assert (case_dir / record["files"]["multiblock"]).is_file()
    # Raw OpenFOAM output is gone; setup, logs and histories stay.
    assert not (case_dir / "constant/polyMesh").exists()
    assert not [p for p in case_dir.iterdir() if p.name.replace(".", "").isdigit() and p.name != "0"]
    assert (case_dir / "logs/log.simpleFoam.gz").is_file() and (case_dir / "history/coefficient.dat.gz").is_file()


@pytest.mark.openfoam
def test_dataset_records_failures_and_resumes(tmp_path, require_openfoam):
    out = tmp_path / "airfoil"
    cases = [
        FlowCase(NacaSection.from_code("0012"), 2.0, 50.0),
        # 9 % camber peaking at 10 % chord on a 1 % thick section: the C-grid folds over
        # at the nose and checkMesh finds inverted cells. A real broken input, not a mock.
        FlowCase(NacaSection.from_code("9101"), 0.0, 50.0),
        FlowCase(NacaSection.from_code("2412"), 3.0, 70.0),
    ]
    options = dict(cases=cases, resolution="coarse", test_fraction=0.0, max_iterations=1500, openfoam=require_openfoam)
    manifest = generate_airfoil_dataset(out, jobs=2, **options)

    by_id = {case["id"]: case for case in manifest["cases"]}
    assert [by_id[i]["status"] for i in ("case_0000", "case_0001", "case_0002")] == ["ok", "failed", "ok"]
    failed = by_id["case_0001"]
    assert failed["split"] == "excluded" and failed["reason"].startswith("checkMesh: Failed")
    assert "negative" in failed["reason"].lower()
    assert by_id["case_0000"]["split"] == by_id["case_0002"]["split"] == "train"
    assert manifest["summary"] == {"ok": 2, "unconverged": 0, "failed": 1, "interrupted": 0, "pending": 0, "train": 2,
                                   "test": 0}
    assert json.loads((out / MANIFEST_FILE).read_text()) == manifest
    failed_record = json.loads((out / "cases/case_0001/case.json").read_text())
    assert failed_record["status"] == "failed" and failed_record["files"] == {}
    assert (out / "cases/case_0001/logs/log.checkMesh.gz").is_file()
    assert not (out / ".work").exists()

    # Resume: finished cases (including the failed one) are kept as they are.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("cases/*/case.json")}
    (out / ".work/case_0002-deadbeef/case_0002").mkdir(parents=True)  # an interrupted build
    again = generate_airfoil_dataset(out, jobs=2, **options)
    assert again["cases"] == manifest["cases"]
    assert {p: p.stat().st_mtime_ns for p in out.glob("cases/*/case.json")} == stamps
    assert not (out / ".work").exists()

    # Other settings: clear error, nothing touched.
    before = (out / MANIFEST_FILE).read_bytes()
    with pytest.raises(DatasetError, match=r"other settings.*solver.max_iterations: folder has 1500, requested 900"):
        generate_airfoil_dataset(out, **(options | {"max_iterations": 900}))
    assert (out / MANIFEST_FILE).read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in out.glob("cases/*/case.json")} == stamps

    # A solved case that lost a VTK file is not listed as usable: it runs again, alone.
    lost = out / "cases/case_0002" / json.loads((out / "cases/case_0002/case.json").read_text())["files"]["volume"]
    lost.unlink()
    rebuilt = generate_airfoil_dataset(out, jobs=2, **options)
    assert rebuilt["cases"][2]["status"] == "ok" and lost.is_file()
    assert rebuilt["cases"][2]["Cl"] == manifest["cases"][2]["Cl"]  # the same solve, bit for bit
    assert all(p.stat().st_mtime_ns == stamps[p] for p in stamps if "case_0002" not in str(p))


@pytest.mark.openfoam
def test_cli_records_unconverged_case(tmp_path, require_openfoam, capsys):
    out = tmp_path / "d"
    args = ["airfoil", "--out", str(out), "--n-cases", "1", "--resolution", "coarse", "--max-iterations", "100",
            "--seed", "5", "--test-fraction", "0"]
    assert lrsa_data(args) == 1  # no usable case
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    (case,) = manifest["cases"]
    assert case["status"] == "unconverged" and case["split"] == "excluded"
    assert case["reason"].startswith("not converged after 100 iterations")
    assert case["params"] == sample_flow_case(5, 0, ParameterRanges()).to_dict()
    record = json.loads((out / "cases/case_0000/case.json").read_text())
    assert record["results"]["converged"] is False and record["results"]["stopped_by"] == "max_iterations"
    assert (out / "cases/case_0000" / record["files"]["volume"]).is_file()
    assert manifest["dataset"]["seed"] == 5 and manifest["dataset"]["resolution"]["name"] == "coarse"
    assert os.listdir(out / "cases") == ["case_0000"]


@pytest.mark.openfoam
def test_sigterm_stops_solvers_and_keeps_the_dataset_resumable(require_openfoam, tmp_path):
    """A scheduler's SIGTERM must not leave simpleFoam running or a broken manifest."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    out = tmp_path / "ds"
    command = [sys.executable, "-m", "modulus_lrsa.data.cli", "airfoil", "--out", str(out),
               "--n-cases", "3", "--jobs", "2", "--resolution", "coarse"]
    generator = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    solvers = []
    while time.monotonic() < deadline and generator.poll() is None:
        descendants = psutil.Process(generator.pid).children(recursive=True)
        solvers = [p for p in descendants if p.name() == "simpleFoam"]
        if solvers:
            break
        time.sleep(0.5)
    assert solvers, "simpleFoam never started"
    generator.send_signal(signal.SIGTERM)
    output, _ = generator.communicate(timeout=120)
    assert generator.returncode == 130, output
    assert "run the same command again to resume" in output
    gone, alive = psutil.wait_procs(solvers, timeout=30)
    assert not alive, f"simpleFoam still running after SIGTERM: {alive}"
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["summary"]["failed"] == 0  # an interrupted case is not recorded as failed
