# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""STL in, forces out: ``lrsa-predict MODEL body.stl --sample-volume --condition U=40 -o OUT`` in 3D.

A tiny LRSA is trained for 2 epochs on the coarse Ahmed pair of ``tests/test_ahmed.py``
(solved once per session; this module reuses it). Its predictions are read back with
plain ``vtk``; bad bodies are refused in one line before anything is written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vtk
from openfoam_utils import require_openfoam  # noqa: F401  (pytest fixture)
from test_ahmed import solve_pair
from test_training import QUIET, TINY_LRSA, compose_config
from vtk.util.numpy_support import vtk_to_numpy

from modulus_lrsa.data.ahmed import AhmedBody, read_stl
from modulus_lrsa.data.ahmed.geometry import write_stl
from modulus_lrsa.inference.common import PredictionError, RunOptions, load_model
from modulus_lrsa.inference.mesh import MeshOptions, predict_case
from modulus_lrsa.inference.new_geometry import NewGeometryOptions, predict_new_geometry, wall_force_coefficients
from modulus_lrsa.training.train import run_training

pytestmark = pytest.mark.openfoam

#: Query points of the STL predictions: a few thousand keep each prediction to seconds.
POINTS = 3000


@pytest.fixture(scope="module")
def ahmed_model(require_openfoam, tmp_path_factory):
    """A 2-epoch LRSA on the coarse pair (one training body, one held out)."""
    out, cases, manifest, _ = solve_pair(tmp_path_factory, require_openfoam)
    run = tmp_path_factory.mktemp("ahmed-model")
    config = compose_config([
        "data=ahmed", f"data.path={out}", f"data.cache_dir={run / 'cache'}", "data.volume_points=512",
        "data.surface_points=256", f"output_dir={run / 'run'}", "training.epochs=2", "training.batch_size=1",
        "training.validate_every_epochs=2", "training.checkpoint_every_epochs=2", *TINY_LRSA, *QUIET,
    ])
    result = run_training(config)
    held_out = next(case for case in manifest["cases"] if case["split"] == "test")
    # The 3D validation integrated the held-out body's forces (conf/data/ahmed.yaml's data.forces).
    errors = result["last_validation"]
    for name in ("Cd", "Cl", "Cs", "Cd_pressure", "Cd_viscous"):
        assert np.isfinite(errors[f"val/{name}_abs_error"]), name
    return Path(result["best_model"]), out / "cases" / held_out["id"]


def _read(path: Path):
    reader = vtk.vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()


def _cell_arrays(dataset) -> dict[str, np.ndarray]:
    data = dataset.GetCellData()
    return {data.GetArrayName(i): vtk_to_numpy(data.GetArray(i)) for i in range(data.GetNumberOfArrays())}


def test_an_stl_predicts_its_wall_fields_and_forces_read_back_with_plain_vtk(ahmed_model, tmp_path):
    model, case = ahmed_model
    stl = case / "body.stl"
    command = [sys.executable, "-m", "modulus_lrsa.inference.predict", str(model), str(stl), "--sample-volume", str(POINTS),
               "--condition", "U=40", "-o", str(tmp_path / "out")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    quantities = json.loads((out / "quantities.json").read_text())
    assert quantities["kind"] == "new_geometry" and quantities["sampling"]["volume_points"] == POINTS
    assert quantities["wall"]["watertight"] and quantities["wall"]["warnings"] == []
    forces = quantities["forces"]["predicted"]
    assert set(forces) == {"Cl", "Cd", "Cs", "Cd_pressure", "Cd_viscous", "reference_area"}
    assert forces["Cd"] == pytest.approx(forces["Cd_pressure"] + forces["Cd_viscous"], rel=1e-9)
    params = json.loads((case / "case.json").read_text())["params"]
    # The frontal area is measured on the STL's own faces: width x height.
    assert forces["reference_area"] == pytest.approx(params["frontal_area"], rel=1e-6)
    assert '"Cd"' in result.stdout  # the summary on the terminal
    # The wall: the STL's faces, one value per face.
    vertices, faces = read_stl(stl)
    surface = _read(out / "surface.vtp")
    assert surface.GetNumberOfCells() == len(faces)
    arrays = _cell_arrays(surface)
    assert {"p_predicted", "wallShearStress_predicted", "Cp_predicted", "Cf_predicted"} <= arrays.keys()
    assert arrays["wallShearStress_predicted"].shape == (len(faces), 3)
    np.testing.assert_allclose(arrays["Cp_predicted"], arrays["p_predicted"] / (0.5 * 40.0**2), rtol=1e-5)
    # The query points: outside the body, above the ground (z = 0), with quadrature weights.
    volume = _read(out / "volume.vtp")
    points = vtk_to_numpy(volume.GetPoints().GetData())
    assert len(points) == POINTS and points[:, 2].min() > 0.0
    weights = vtk_to_numpy(volume.GetPointData().GetArray("quadrature_weight"))
    assert (weights > 0).all()
    assert "U_predicted" in {volume.GetPointData().GetArrayName(i) for i in range(volume.GetPointData().GetNumberOfArrays())}
    multiblock = vtk.vtkXMLMultiBlockDataReader()
    multiblock.SetFileName(str(out / "prediction.vtm"))
    multiblock.Update()
    assert multiblock.GetOutput().GetNumberOfBlocks() == 2
    # The forces in quantities.json are the integral of what surface.vtp holds.
    again = wall_force_coefficients(surface, _settings(quantities), {"U": 40.0})
    assert again.drag == pytest.approx(forces["Cd"], rel=1e-5)


def _settings(quantities):
    from modulus_lrsa.forces import ForceSettings

    return ForceSettings(**quantities["forces"]["settings"])


def test_the_stl_and_the_mesh_give_the_same_forces_within_a_bound(ahmed_model, tmp_path):
    # The same body on its CFD mesh and from its STL: the wall faces differ (snapped patch
    # against STL triangles) and so do the volume points, so the integrals agree only roughly.
    model, case = ahmed_model
    loaded, descriptor = load_model(model, RunOptions().device)
    on_mesh = predict_case(loaded, descriptor, case, tmp_path / "mesh", MeshOptions())
    speed = json.loads((case / "case.json").read_text())["params"]["U"]
    from_stl = predict_new_geometry(loaded, descriptor, case / "body.stl", tmp_path / "stl",
                                    NewGeometryOptions(conditions={"U": speed}, volume_points=POINTS))
    mesh_surface = _read(tmp_path / "mesh" / on_mesh["files"]["surface"])
    mesh_forces = wall_force_coefficients(mesh_surface, _settings(from_stl), {"U": speed})
    # A 2-epoch model: a loose bound, in drag counts (1e-4), that a wrong sign or area would break.
    assert abs(mesh_forces.drag - from_stl["forces"]["predicted"]["Cd"]) < 0.25 * abs(mesh_forces.drag) + 0.005


def _ahmed_triangles(body: AhmedBody):
    return body.triangulate()


def test_a_non_watertight_multi_part_stl_predicts_with_a_warning(ahmed_model, tmp_path):
    # As CAD exports are: the body and a separate part (a box under the nose, as a stilt
    # would be), the body with a few faces missing.
    model, _ = ahmed_model
    vertices, faces = _ahmed_triangles(AhmedBody())
    part = AhmedBody(length=0.2, width=0.08, height=0.06, clearance=0.06, slant_deg=0.0, front_radius=0.02)
    part_vertices, part_faces = _ahmed_triangles(part)
    part_vertices = part_vertices + np.array([0.3, 0.0, 0.3])  # on the roof, apart from the body
    combined_vertices = np.concatenate([vertices, part_vertices])
    combined_faces = np.concatenate([faces[5:], part_faces + len(vertices)])
    stl = tmp_path / "cad.stl"
    write_stl(stl, combined_vertices, combined_faces)
    command = [sys.executable, "-m", "modulus_lrsa.inference.predict", str(model), str(stl), "--sample-volume", str(POINTS),
               "--condition", "U=40", "-o", str(tmp_path / "out")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    wall = json.loads((tmp_path / "out" / "quantities.json").read_text())["wall"]
    assert not wall["watertight"] and wall["open_edges"] > 0 and wall["parts"] == 2 and wall["warnings"]
    assert wall["warnings"][0] in result.stderr
    assert _read(tmp_path / "out" / "surface.vtp").GetNumberOfCells() == len(combined_faces)


@pytest.mark.parametrize("name, change, message", [
    # The body in millimeters beside a training domain in meters.
    ("mm", lambda v: v * 1000.0, r"mm.stl: the body is 1044 x 389 x 288, along z 1\d\d times the extent of the training domain "
                           r"\([\d.]+ x [\d.]+ x [\d.]+\): too large for the model's domain; it looks like millimeters beside a "
                           r"training domain in meters: scale the STL by 0.001"),
    # The body lowered by 0.1 m: its underside is 0.05 m below the ground.
    ("low", lambda v: v - np.array([0.0, 0.0, 0.1]), r"low.stl: the body reaches z = -0.05, at or below the ground at z = .* "
                                              r"\(the training domain's floor\): it passes through the ground"),
    # Moved 20 m downstream: outside the domain.
    ("far", lambda v: v + np.array([20.0, 0.0, 0.0]), r"far.stl: the body .* leaves the training domain .* along x"),
])
def test_a_body_the_domain_cannot_hold_is_refused_in_one_named_line(ahmed_model, tmp_path, name, change, message):
    model, _ = ahmed_model
    vertices, faces = _ahmed_triangles(AhmedBody())
    stl = tmp_path / f"{name}.stl"
    write_stl(stl, change(vertices), faces)
    loaded, descriptor = load_model(model, RunOptions().device)
    with pytest.raises(PredictionError, match=message) as info:
        predict_new_geometry(loaded, descriptor, stl, tmp_path / "out", NewGeometryOptions(conditions={"U": 40.0}))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()
