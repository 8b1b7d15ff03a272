# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``lrsa-data ahmed``: the body's STL, the case dictionaries, the averaged coefficients, and real solves.

The OpenFOAM-marked tests run three coarse cases (about a minute each on a loaded
2-core machine): Ahmed's 25 degree body and the same body scaled by 1.25 in every
length, solved together in one dataset (:func:`solve_pair`, shared with
``tests/test_predict_3d.py``), and one case whose generator is killed.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import vtk
from openfoam_utils import require_openfoam, tutorial_folder  # noqa: F401  (pytest fixture)
from test_airfoil_lifetime import _descendants, _name, _survivors, _wait_until
from vtk.util.numpy_support import vtk_to_numpy

from modulus_lrsa.data import cli as data_cli
from modulus_lrsa.data.ahmed import (
    PRESETS,
    AhmedBody,
    FlowCase,
    GeometryError,
    ParameterRanges,
    check_closed_surface,
    generate_ahmed_dataset,
    read_stl,
    sample_flow_case,
    write_body_stl,
)
from modulus_lrsa.data.ahmed.case import BODY_PATCH, STL_NAME, Domain, DomainLayout, control_dict, snappy_hex_mesh_dict
from modulus_lrsa.data.ahmed.geometry import stl_bytes
from modulus_lrsa.data.ahmed.run import average_coefficients, check_body_patch, export_vtk, read_vector_table
from modulus_lrsa.data.airfoil import DatasetError
from modulus_lrsa.data.airfoil.run import CaseFailure
from modulus_lrsa.datapipes.cache import build_cache
from modulus_lrsa.datapipes.cases import MeshCacheConfig, list_cases, resolve_case
from modulus_lrsa.forces import ForceSettings, SurfaceForceEvaluator
from modulus_lrsa.inference.new_geometry import wall_force_coefficients
from modulus_lrsa.io.readers import read_vtk

# --------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------

BODIES = {
    "ahmed-25": AhmedBody(),
    "square-back": AhmedBody(slant_deg=0.0),
    "steep-40": AhmedBody(slant_deg=40.0),
    "small-sharp-front": AhmedBody(length=0.8, width=0.28, height=0.24, clearance=0.03, slant_deg=40.0, front_radius=0.115),
    "large": AhmedBody(length=1.3, width=0.48, height=0.34, clearance=0.085, slant_deg=12.5, front_radius=0.09),
}


@pytest.mark.parametrize("name", list(BODIES))
def test_stl_is_watertight_and_encloses_the_exact_volume(tmp_path, name):
    body = BODIES[name]
    path = tmp_path / "body.stl"
    report = write_body_stl(body, path)
    assert path.stat().st_size == 84 + 50 * report.n_faces
    # Proven again on what the file holds, independently of write_body_stl's own check.
    vertices, faces = read_stl(path)
    again = check_closed_surface(vertices, faces, str(path))
    assert again.n_faces == report.n_faces
    # The faceted rounded front is inscribed in the exact one: a hair less volume.
    assert again.volume == pytest.approx(body.volume, rel=5e-4)
    assert again.volume < body.volume
    lo, hi = np.array(again.bounds[0]), np.array(again.bounds[1])
    np.testing.assert_allclose(lo, [0.0, -body.width / 2, body.clearance], atol=1e-6)
    np.testing.assert_allclose(hi, [body.length, body.width / 2, body.clearance + body.height], atol=1e-6)


def test_exact_volume_of_the_square_back_body():
    # The closed form of the rounded front against a direct quadrature of its cross-sections.
    body = AhmedBody(slant_deg=0.0)
    r, w, h = body.front_radius, body.width, body.height
    x = (np.arange(200000) + 0.5) / 200000 * r
    inset = r - np.sqrt(r**2 - (r - x) ** 2)
    front = np.sum((w - 2 * inset) * (h - 2 * inset)) * (r / len(x))
    assert body.volume == pytest.approx(front + w * h * (body.length - r), rel=1e-7)
    assert body.frontal_area == pytest.approx(w * h)


def _box():
    vertices, faces = AhmedBody().triangulate(edge_length=0.1, arc_segments=2)
    return vertices, faces


def test_closed_surface_check_finds_holes_flips_and_extra_pieces():
    vertices, faces = _box()
    check_closed_surface(vertices, faces)
    with pytest.raises(GeometryError, match="not watertight: 3 edges belong to one face only"):
        check_closed_surface(vertices, faces[1:])
    flipped = faces.copy()
    flipped[5] = flipped[5, ::-1]
    with pytest.raises(GeometryError, match="inconsistent orientation"):
        check_closed_surface(vertices, flipped)
    with pytest.raises(GeometryError, match="faces point inward"):
        check_closed_surface(vertices, faces[:, ::-1])
    two = np.concatenate([vertices, vertices + [0.0, 2.0, 0.0]])
    with pytest.raises(GeometryError, match="Euler characteristic 4"):
        check_closed_surface(two, np.concatenate([faces, faces + len(vertices)]))
    squashed = vertices.copy()
    squashed[faces[0, 1]] = squashed[faces[0, 0]]
    with pytest.raises(GeometryError, match="degenerate"):
        check_closed_surface(squashed, faces)


def test_stl_reader_rejects_a_truncated_file(tmp_path):
    data = stl_bytes(*_box())
    path = tmp_path / "cut.stl"
    path.write_bytes(data[:-7])
    with pytest.raises(GeometryError, match=r"cut.stl: .* bytes, but a binary STL of \d+ triangles has"):
        read_stl(path)


@pytest.mark.parametrize("change, message", [
    ({"clearance": 0.0}, "clearance must be > 0.*through the ground"),
    ({"clearance": -0.01}, "clearance must be > 0"),
    ({"front_radius": 0.2}, "front_radius = 0.2 is above"),
    ({"slant_deg": 60.0}, r"slant_deg must lie in \[0, 50\]"),
    ({"height": 0.12, "front_radius": 0.05, "slant_deg": 45.0}, "the slant drops"),
    ({"width": float("nan")}, "width must be a finite number"),
    ({"length": "1"}, "length must be a finite number"),
])
def test_body_rejects_bad_parameters_in_one_line(change, message):
    with pytest.raises(GeometryError, match=message) as info:
        AhmedBody(**change)
    assert "\n" not in str(info.value)


def test_sampling_depends_on_seed_and_index_only_and_stays_in_range():
    ranges = ParameterRanges()
    first = [sample_flow_case(3, i, ranges).to_dict() for i in range(200)]
    assert [sample_flow_case(3, i, ranges).to_dict() for i in (7, 150)] == [first[7], first[150]]
    assert sample_flow_case(4, 7, ranges).to_dict() != first[7]
    for name, (lo, hi) in ranges.to_dict().items():
        values = [case[name] for case in first]
        assert lo <= min(values) and max(values) <= hi, name
        assert max(values) - min(values) > 0.8 * (hi - lo), name  # the draws fill the range


def test_ranges_that_allow_impossible_bodies_are_refused_before_any_run():
    with pytest.raises(DatasetError, match="case 0 of seed 0: .*front_radius.*narrow the sampling ranges"):
        sample_flow_case(0, 0, ParameterRanges(front_radius=(0.2, 0.25)))
    with pytest.raises(DatasetError, match="range slant_deg: min 30.0 is greater than max 10.0"):
        ParameterRanges(slant_deg=(30, 10))


# --------------------------------------------------------------------------------------
# Case dictionaries and averaged coefficients
# --------------------------------------------------------------------------------------


def test_dictionaries_name_one_body_patch_and_the_frontal_reference():
    flow = FlowCase(AhmedBody(), speed=40.0)
    snappy = snappy_hex_mesh_dict(flow.body, PRESETS["coarse"])
    # The STL's geometry entry names the patch that forceCoeffs, wallShearStress and foamToVTK use.
    assert f"{STL_NAME} {{ type triSurfaceMesh; name {BODY_PATCH}; }}" in snappy
    assert "addLayers       false;" in snappy  # no layers in the coarse preset
    control = control_dict(flow, PRESETS["coarse"])
    assert control.count(f"patches         ({BODY_PATCH});") == 3
    assert f"Aref            {0.389 * 0.288:.10g};" in control
    assert "lRef            1.044;" in control
    assert "magUInf         40;" in control


def test_domain_is_whole_background_cells_around_the_body():
    body = AhmedBody()
    layout = DomainLayout()
    domain = Domain.around(body, PRESETS["coarse"], layout)
    lower, upper = np.array(domain.lower), np.array(domain.upper)
    np.testing.assert_allclose((upper - lower) / domain.spacing, domain.cells)
    assert lower[2] == 0.0 and lower[1] == -upper[1]  # ground at z = 0, symmetric about y = 0
    assert -lower[0] >= layout.upstream * body.length and upper[0] >= (1 + layout.downstream) * body.length
    assert upper[2] >= body.clearance + (1 + layout.above) * body.height


def _write_history(case: Path, n: int, cd, cl, px, vx) -> None:
    coeffs = case / "postProcessing/forceCoeffs/0/coefficient.dat"
    forces = case / "postProcessing/forces/0/force.dat"
    coeffs.parent.mkdir(parents=True)
    forces.parent.mkdir(parents=True)
    columns = "Time Cd Cs Cl CmRoll CmPitch CmYaw Cd(f) Cd(r) Cs(f) Cs(r) Cl(f) Cl(r)".split()
    with open(coeffs, "w") as f:
        f.write("# Aref : 1\n# Time " + "\t".join(columns[1:]) + "\n")
        for i in range(1, n + 1):
            f.write(f"{i} {cd(i)} 0.001 {cl(i)} 0 0.01 -0.0002 0 0 0 0 0 0\n")
        f.write("999 0.5 0.0")  # an unfinished line the solver is writing
    with open(forces, "w") as f:
        f.write("# Force\n# Time (total_x total_y total_z) (pressure_x pressure_y pressure_z) (viscous_x viscous_y viscous_z)\n")
        for i in range(1, n + 1):
            f.write(f"{i} ({px(i) + vx(i)} 0 0) ({px(i)} 0 0) ({vx(i)} 0 0)\n")
        f.write("999 (1 2")


def test_coefficients_are_averaged_over_the_window_and_split_into_pressure_and_friction(tmp_path):
    flow = FlowCase(AhmedBody(), speed=10.0)
    q_area = 0.5 * 10.0**2 * flow.body.frontal_area
    # Cd oscillates about 0.3 with a slow rise of 0.002 over the window; Cl about 0.1.
    _write_history(tmp_path, 300, cd=lambda i: 0.3 + 0.01 * math.sin(i) + 2e-5 * (i - 250),
                   cl=lambda i: 0.1 + 0.02 * math.cos(i), px=lambda i: 0.28 * q_area, vx=lambda i: 0.02 * q_area)
    table = read_vector_table(tmp_path / "postProcessing/forces/0/force.dat")
    assert list(table) == ["Time", "total_x", "total_y", "total_z", "pressure_x", "pressure_y", "pressure_z",
                           "viscous_x", "viscous_y", "viscous_z"]
    assert len(table["Time"]) == 300  # the unfinished last line is left out
    averages = average_coefficients(tmp_path, flow, last_iteration=300, window=100)
    i = np.arange(201, 301)
    assert averages.mean["Cd"] == pytest.approx(np.mean(0.3 + 0.01 * np.sin(i) + 2e-5 * (i - 250)))
    assert averages.mean["Cd_pressure"] == pytest.approx(0.28)
    assert averages.mean["Cd_viscous"] == pytest.approx(0.02)
    assert averages.mean["CmYaw"] == pytest.approx(-0.0002)
    assert averages.drift["Cd"] == pytest.approx(2e-5 * 50 / averages.mean["Cd"], rel=0.1)
    assert averages.settled(0.05, 0.1) == []
    # A mean that moves is refused, an oscillation about a steady mean only beyond its own bound.
    problems = averages.settled(0.002, 0.1)
    assert len(problems) == 1 and problems[0].startswith("mean Cd drifted by 0.003")
    problems = averages.settled(0.05, 0.03)
    assert len(problems) == 1 and "Cl oscillates with std 0.014 > 0.03 x |Cd|" in problems[0]
    with pytest.raises(CaseFailure, match="of the last 100 iterations recorded, up to 400"):
        average_coefficients(tmp_path, flow, last_iteration=400, window=100)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def test_cli_refuses_bad_ranges_and_cases_files(tmp_path, capsys):
    assert data_cli.main(["ahmed", "--out", str(tmp_path / "a"), "--slant-range", "30", "10"]) == 2
    assert "range slant_deg: min 30.0 is greater than max 10.0" in capsys.readouterr().err
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([{"slant_deg": 25, "U": 40, "colour": "red"}]))
    assert data_cli.main(["ahmed", "--out", str(tmp_path / "b"), "--cases-file", str(cases)]) == 2
    assert "entry 0: unknown keys ['colour']" in capsys.readouterr().err
    cases.write_text(json.dumps([{"clearance": 0, "U": 40}]))
    assert data_cli.main(["ahmed", "--out", str(tmp_path / "c"), "--cases-file", str(cases)]) == 2
    assert "entry 0: AhmedBody.clearance must be > 0" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abc")


def test_refuses_a_folder_that_is_not_a_dataset(tmp_path, require_openfoam):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="is not empty and has no manifest.json"):
        generate_ahmed_dataset(tmp_path, n_cases=1)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["notes.txt"]


# --------------------------------------------------------------------------------------
# Real solves
# --------------------------------------------------------------------------------------

AHMED = AhmedBody()
SCALE = 1.25
SCALED = AhmedBody(**{k: v * SCALE if k != "slant_deg" else v for k, v in AHMED.to_dict().items()})


PAIR = [FlowCase(AHMED, speed=40.0), FlowCase(SCALED, speed=40.0)]


def solve_pair(tmp_path_factory, openfoam) -> tuple[Path, list[FlowCase], dict, float]:
    """Ahmed's body and the same body 1.25 times larger, coarse, both jobs at once.

    Solved once per test session in one folder: the generator resumes, so every module
    that needs the pair (tests/test_predict_3d.py too) finds it solved.
    """
    out = tmp_path_factory.getbasetemp() / "ahmed-coarse-pair" / "ds"
    out.parent.mkdir(exist_ok=True)
    started = time.monotonic()
    manifest = generate_ahmed_dataset(out, cases=PAIR, preset="coarse", jobs=2, test_fraction=0.5, openfoam=openfoam)
    return out, PAIR, manifest, time.monotonic() - started


@pytest.fixture(scope="module")
def solved(require_openfoam, tmp_path_factory):
    return solve_pair(tmp_path_factory, require_openfoam)


def _record(out: Path, index: int) -> dict:
    return json.loads((out / "cases" / f"case_{index:04d}" / "case.json").read_text())


@pytest.mark.openfoam
def test_coarse_case_solves_symmetric_with_its_files(solved):
    out, _, manifest, _ = solved
    assert [case["status"] for case in manifest["cases"]] == ["ok", "ok"], manifest["cases"]
    record = _record(out, 0)
    res = record["results"]
    # Symmetric body, symmetric domain: side force and yaw moment are noise.
    assert abs(res["Cs"]) < 0.01 and abs(res["CmYaw"]) < 0.005 and abs(res["CmRoll"]) < 0.005, res
    # A coarse RANS of the 25 degree body: above the experiment's 0.285, in the range RANS gives.
    assert 0.25 < res["Cd"] < 0.45 and res["Cd_pressure"] > 5 * res["Cd_viscous"] > 0
    assert res["Cd"] == pytest.approx(res["Cd_pressure"] + res["Cd_viscous"], rel=1e-6)
    assert res["average_window"] == PRESETS["coarse"].average_window and res["std"]["Cd"] < 0.01 * res["Cd"]
    assert record["mesh"]["quality"]["max_non_orthogonality"] < 65  # checkMesh ran and passed
    assert 5000 < res["n_cells"] < 40000 and res["body_faces"] > 500
    case = out / "cases" / "case_0000"
    assert set(record["files"]) == {"multiblock", "volume", "surface", "geometry"}
    assert (case / record["files"]["geometry"]).read_bytes() == (case / "constant/triSurface" / STL_NAME).read_bytes()
    reader = vtk.vtkXMLPolyDataReader()
    reader.SetFileName(str(case / record["files"]["surface"]))
    reader.Update()
    surface = reader.GetOutput()
    assert surface.GetNumberOfCells() == res["body_faces"]
    names = {surface.GetCellData().GetArrayName(i) for i in range(surface.GetCellData().GetNumberOfArrays())}
    assert {"p", "wallShearStress", "yPlus"} <= names
    points = vtk_to_numpy(surface.GetPoints().GetData())
    assert points[:, 2].min() == pytest.approx(AHMED.clearance, abs=0.01)  # the body patch, not the ground
    # The training datapipe finds the case's files and its speed from case.json.
    config = MeshCacheConfig(volume_fields=["U", "p"], surface_fields=["p", "wallShearStress"], conditions=["U"])
    sources = [resolve_case(entry, config) for entry in list_cases(out, config)]
    assert [s.split for s in sources] == [c["split"] for c in manifest["cases"]]
    assert sources[0].surface.path == case / record["files"]["surface"] and sources[0].conditions == {"U": 40.0}


@pytest.mark.openfoam
def test_drag_grows_with_frontal_area_at_fixed_shape(solved):
    out, cases, _, _ = solved
    small, large = (_record(out, i)["results"] for i in (0, 1))
    area_ratio = cases[1].body.frontal_area / cases[0].body.frontal_area
    assert area_ratio == pytest.approx(SCALE**2)
    # Drag area Cd * A (Cd on a fixed reference area) grows with the frontal area, in proportion;
    # Cd on each body's own frontal area stays the same, but for the 25 % higher Reynolds number.
    drag_area_ratio = large["Cd"] * cases[1].body.frontal_area / (small["Cd"] * cases[0].body.frontal_area)
    assert drag_area_ratio == pytest.approx(area_ratio, rel=0.1)
    assert large["Cd"] == pytest.approx(small["Cd"], rel=0.08)


@pytest.mark.openfoam
def test_3d_force_integral_equals_openfoams_force_coeffs(solved, tmp_path):
    # The training path (cache, SurfaceForceEvaluator) and the prediction path (the body
    # patch's own faces) against the forceCoeffs and forces lines of the exported iteration.
    out, cases, manifest, _ = solved
    record = _record(out, 0)
    case = out / "cases" / "case_0000"
    iteration = record["results"]["iterations"]

    def line(name: str) -> list[str]:
        with gzip.open(case / "history" / name, "rt") as stream:
            return next(row for row in stream if row.split()[:1] == [str(iteration)]).replace("(", " ").replace(")", " ").split()

    coefficients = [float(value) for value in line("coefficient.dat.gz")[1:4]]  # Cd, Cs, Cl
    force = [float(value) for value in line("force.dat.gz")[1:]]  # total, pressure, viscous (x, y, z)
    body = cases[0].body
    dynamic_area = 0.5 * cases[0].speed**2 * body.frontal_area
    settings = ForceSettings.ground_vehicle(speed="U", reference_area=body.frontal_area)  # OpenFOAM's Aref
    surface = read_vtk(case / record["files"]["surface"])
    on_faces = wall_force_coefficients(surface, settings, {"U": cases[0].speed}, suffix="", where=str(case))
    config = MeshCacheConfig(volume_fields=["p"], surface_fields=["p", "wallShearStress"], conditions=["U"],
                             volume_location="cell", surface_location="cell")
    cache = build_cache(out, tmp_path / "cache", config)
    evaluator = SurfaceForceEvaluator(cache, settings)
    true_values = evaluator.true_surface_values("case_0000")
    _, from_cache = evaluator.coefficients("case_0000", np.nan_to_num(true_values))
    assert [on_faces.drag, on_faces.side, on_faces.lift] == pytest.approx(coefficients, rel=1e-5, abs=1e-7)
    assert on_faces.drag_pressure == pytest.approx(force[3] / dynamic_area, rel=1e-5)
    assert on_faces.drag_viscous == pytest.approx(force[6] / dynamic_area, rel=1e-5)
    # The cache's surface arrays give the same coefficients to a few counts (measured: 0.7 in Cd,
    # 2.3 in Cl), not to round-off as the patch's own faces do.
    assert [from_cache.drag, from_cache.side, from_cache.lift] == pytest.approx(coefficients, abs=1e-3)
    # Without a reference area, each body's frontal area is measured on its snapped patch: within 0.5 %.
    measured = wall_force_coefficients(surface, ForceSettings.ground_vehicle(speed="U"), {"U": cases[0].speed}, suffix="")
    assert measured.reference_area == pytest.approx(body.frontal_area, rel=5e-3)
    # The 2D integral (projected on x-y, chord x span) is not the 3D lift: it would read the side force.
    planar = ForceSettings(**{**settings.as_dict(), "drag_direction": None, "lift_direction": None})
    assert abs(SurfaceForceEvaluator(cache, planar).coefficients("case_0000", np.nan_to_num(true_values))[1].lift
               - coefficients[2]) > 0.01


@pytest.mark.openfoam
def test_rerun_keeps_finished_cases_and_clears_stale_work(solved, require_openfoam):
    out, cases, manifest, _ = solved
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("cases/*/case.json")}
    stale = out / ".work" / "case_0001-deadbeef"
    stale.mkdir(parents=True)
    (stale / "half.vtu").write_text("left by a run that died before claiming it")
    started = time.monotonic()
    again = generate_ahmed_dataset(out, cases=cases, preset="coarse", jobs=2, test_fraction=0.5, openfoam=require_openfoam)
    assert time.monotonic() - started < 10  # nothing was solved
    assert again["cases"] == manifest["cases"]
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before
    assert not (out / ".work").exists()
    # Other settings are refused without touching the folder.
    with pytest.raises(DatasetError, match="made with other settings.*preset.name: folder has \"coarse\", requested \"medium\""):
        generate_ahmed_dataset(out, cases=cases, preset="medium", test_fraction=0.5, openfoam=require_openfoam)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before


@pytest.mark.openfoam
def test_a_mesh_or_export_without_the_body_patch_is_a_named_failure(require_openfoam, tmp_path):
    # The cavity tutorial has walls but no body patch: what snappyHexMesh leaves when it
    # meshes no body, and what foamToVTK exports when -patches matches nothing.
    case = tmp_path / "cavity"
    shutil.copytree(tutorial_folder("incompressible/icoFoam/cavity/cavity"), case)
    require_openfoam.run("blockMesh", case)
    with pytest.raises(CaseFailure, match=r"snappyHexMesh made no 'body' patch faces \(patches: \{'movingWall': 20, "):
        check_body_patch(case)
    with pytest.raises(CaseFailure, match=r"foamToVTK: no body patch file body.vtp \(-patches '\(body\)' matched no patch\)"):
        export_vtk(require_openfoam, case, 0)


MESHING_AND_SOLVING = ("surfaceFeatureExtract", "blockMesh", "snappyHexMesh", "checkMesh", "simpleFoam", "foamToVTK")


@pytest.mark.openfoam
def test_sigkill_leaves_no_solver_and_the_relaunch_reruns_the_case(require_openfoam, tmp_path):
    out = tmp_path / "ds"
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([{"slant_deg": 35.0, "U": 30.0}]))
    command = [sys.executable, "-m", "modulus_lrsa.data.cli", "ahmed", "--out", str(out), "--cases-file", str(cases),
               "--preset", "coarse", "--test-fraction", "0"]
    generator = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tracked: dict[int, psutil.Process] = {}

    def solving() -> bool:
        tracked.update({p.pid: p for p in _descendants(generator.pid)})
        return any(_name(p) == "simpleFoam" for p in tracked.values())

    try:
        _wait_until(solving, 120, "simpleFoam to start")
    finally:
        generator.kill()
        generator.wait()
    assert not list(out.glob("cases/*")), "a half-built case was published"
    relaunch = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        tools = _survivors(tracked, out, relaunch.pid, timeout=10, names=MESHING_AND_SOLVING)
    finally:
        output, _ = relaunch.communicate(timeout=400)
    assert not tools, f"OpenFOAM tools still running 10 s after the generator was killed: {tools}"
    assert relaunch.returncode == 0, output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [case["status"] for case in manifest["cases"]] == ["ok"]
    record = _record(out, 0)
    assert record["params"]["slant_deg"] == 35.0 and record["params"]["length"] == AHMED.length
    assert not (out / ".work").exists()


def test_presets_fit_their_budget():
    # The coarse preset is sized for CI (docs/data_ahmed.md): a background of a few
    # thousand cells and a few hundred iterations.
    coarse, medium = PRESETS["coarse"], PRESETS["medium"]
    cells = np.prod(Domain.around(AHMED, coarse, DomainLayout()).cells)
    assert cells < 10000 and coarse.max_iterations <= 300 and coarse.layers == 0
    assert medium.cells_per_length > coarse.cells_per_length and medium.surface_levels[0] > coarse.surface_levels[0]
    for preset in PRESETS.values():
        assert preset.max_iterations % preset.check_interval == 0 and preset.average_window <= preset.max_iterations
