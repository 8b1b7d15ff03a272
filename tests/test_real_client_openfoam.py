# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""A user's own OpenFOAM cases, end to end through the documented commands.

The icoFoam ``cavity`` tutorial (2D, one cell thick) and a 3D variant of it (4 cells deep,
front and back as walls) are solved here with several lid speeds and exported with
``foamToVTK`` in both its XML (``VTK/<case>_<time>.vtm``) and ``-legacy`` layouts, exactly
as a user has them. Each set goes through ``lrsa-train data=vtk_folder`` with only the
path, the file glob and the fields set, and then through ``lrsa-predict`` on a case
folder, a single ``.vtm``, a single ``.vtu`` and a single legacy ``.vtk``; the outputs are
read back with plain ``vtk``. Skipped without OpenFOAM, failed under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vtk
from openfoam_utils import require_openfoam, tutorial_folder  # noqa: F401  (pytest fixture)
from vtk.util.numpy_support import vtk_to_numpy

pytestmark = pytest.mark.openfoam

TINY_MODEL = ["model.n_layers=1", "model.n_hidden=16", "model.n_head=2", "model.n_latents=4",
              "model.n_frequencies=2", "model.mlp_ratio=1"]
QUIET = ["logging=console", "logging.progress_bar=false"]


def _solve_cavities(openfoam, root: Path, three_d: bool) -> Path:
    """Four cavities with lid speeds 1..4, solved 20 steps and exported as XML and legacy VTK."""
    cases = root / ("cavity3d" if three_d else "cavity2d")
    for index in range(4):
        case = cases / f"lid{index + 1}"
        shutil.copytree(tutorial_folder("incompressible/icoFoam/cavity/cavity"), case)
        (case / "0" / "U").write_text(
            (case / "0" / "U").read_text().replace("uniform (1 0 0)", f"uniform ({index + 1} 0 0)")
        )
        control = case / "system" / "controlDict"
        text = control.read_text()
        text = re.sub(r"^endTime\s+\S+;", "endTime 0.1;", text, flags=re.M)
        control.write_text(re.sub(r"^writeInterval\s+\S+;", "writeInterval 20;", text, flags=re.M))
        if three_d:
            mesh = case / "system" / "blockMeshDict"
            text = mesh.read_text().replace("(20 20 1)", "(8 8 4)")
            mesh.write_text(re.sub(r"(frontAndBack\s*\{\s*type\s+)empty;", r"\1wall;", text))
            for field, condition in (("U", "noSlip"), ("p", "zeroGradient")):
                path = case / "0" / field
                path.write_text(re.sub(r"(frontAndBack\s*\{\s*type\s+)empty;", rf"\g<1>{condition};", path.read_text()))
        openfoam.run("blockMesh", case)
        openfoam.run("icoFoam", case)
        openfoam.run("foamToVTK", case, ("-latestTime",))
        openfoam.run("foamToVTK", case, ("-latestTime", "-legacy"), log_name="log.foamToVTK.legacy")
    return cases


def _cli(module: str, *arguments: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", module, *arguments], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{module} {' '.join(arguments)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _read(path: Path) -> vtk.vtkDataObject:
    reader = {".vtu": vtk.vtkXMLUnstructuredGridReader, ".vtp": vtk.vtkXMLPolyDataReader,
              ".vtm": vtk.vtkXMLMultiBlockDataReader}[path.suffix]()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutputDataObject(0)


def _array_names(dataset: vtk.vtkDataSet) -> set[str]:
    data = dataset.GetCellData()
    return {data.GetArrayName(i) for i in range(data.GetNumberOfArrays())}


@pytest.fixture(scope="module")
def trained(require_openfoam, tmp_path_factory, request):
    three_d = request.param
    root = tmp_path_factory.mktemp("real_client")
    cases = _solve_cavities(require_openfoam, root, three_d)
    run = root / "run"
    overrides = [f"data.path={cases}", "data.volume_file=VTK/*_*.vtm", "data.volume_fields=[U,p]"]
    if three_d:
        # The walls as a second point set and as the body for distances.
        overrides += ["data.surface_fields=[p]", "data.surface_file=VTK/*_*.vtm", "data.surface_block=fixedWalls"]
    _cli("modulus_lrsa.train", "data=vtk_folder", *overrides, "training.epochs=2", f"output_dir={run}",
         *TINY_MODEL, *QUIET)
    return cases, run / "best_model.mdlus", three_d


@pytest.mark.parametrize("trained", [False, True], ids=["cavity2d", "cavity3d"], indirect=True)
def test_vtk_folder_case_trains_and_predicts_on_every_input_form(trained, tmp_path):
    cases, model, three_d = trained
    descriptor = json.loads(model.with_name("best_model.data.json").read_text())
    index = descriptor["cache_index"]
    # 2D: the out-of-plane velocity is dropped like the empty axis; 3D keeps all three.
    assert index["volume_channels"] == (["U[0]", "U[1]", "U[2]", "p"] if three_d else ["U[0]", "U[1]", "p"])
    assert index["dimension"] == (3 if three_d else 2) and index["has_geometry"] == three_d

    case = cases / "lid3"
    vtm = sorted((case / "VTK").glob("*_*.vtm"))[-1]
    inputs = {
        "folder": [str(case)],
        "vtm": [str(vtm)],
        "vtu": [str(next(vtm.with_suffix("").glob("internal.vtu")))],
        "legacy": [str(next(p for p in (case / "VTK").glob("*.vtk")))],
    }
    if three_d:
        wall = next(vtm.with_suffix("").glob("boundary/fixedWalls.vtp"))
        legacy_wall = next((case / "VTK" / "fixedWalls").glob("*.vtk"))
        inputs["vtu"] += ["--surface", str(wall)]
        inputs["legacy"] += ["--surface", str(legacy_wall)]
    results = {}
    for form, arguments in inputs.items():
        output = tmp_path / form
        _cli("modulus_lrsa.inference.predict", str(model), *arguments, "-o", str(output))
        quantities = json.loads((output / "quantities.json").read_text())
        assert set(quantities["rel_l2"]) >= {"U[0]", "U[1]", "p"}, form
        blocks = _read(output / "prediction.vtm")
        assert blocks.GetNumberOfBlocks() == (2 if three_d else 1), form
        volume = _read(output / "volume.vtu")
        assert volume.GetNumberOfCells() == (256 if three_d else 400)
        assert {"U_predicted", "p_predicted", "U_error", "p_error"} <= _array_names(volume), form
        if three_d:
            assert {"p_predicted", "p_error"} <= _array_names(_read(output / "surface.vtp")), form
        results[form] = quantities["rel_l2"]
    # One feature path: every form of the same case gives the same prediction.
    for form, errors in results.items():
        for key, value in errors.items():
            assert value == pytest.approx(results["folder"][key], rel=1e-5), (form, key)


@pytest.mark.parametrize("trained", [True], ids=["cavity3d"], indirect=True)
def test_a_wall_model_given_only_a_volume_file_says_in_one_line_how_to_give_the_wall(trained, tmp_path):
    cases, model, _ = trained  # the 3D cavities' wall model, trained once for this module
    vtu = next((cases / "lid1" / "VTK").glob("*/internal.vtu"))
    result = subprocess.run(
        [sys.executable, "-m", "modulus_lrsa.inference.predict", str(model), str(vtu),
         "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()
    assert len(message) == 1 and "needs the wall surface" in message[0] and "--surface" in message[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def _cell_arrays(dataset: vtk.vtkDataSet) -> dict[str, np.ndarray]:
    data = dataset.GetCellData()
    return {data.GetArrayName(i): vtk_to_numpy(data.GetArray(i)) for i in range(data.GetNumberOfArrays())}


@pytest.mark.parametrize("trained", [False, True], ids=["cavity2d", "cavity3d"], indirect=True)
def test_domain_parallel_predict_on_a_foam_to_vtk_case_folder_writes_the_single_process_prediction(trained, tmp_path):
    # The documented command, `torchrun --nproc_per_node=N -m modulus_lrsa.inference.predict
    # model.mdlus case/ -o out --domain-parallel`, on two gloo ranks (400 and 256 cells: even
    # shards; the 3D walls, 96 faces, are split with the volume).
    from modulus_lrsa.inference.predict import main

    cases, model, three_d = trained
    case = cases / "lid2"
    assert main([str(model), str(case), "-o", str(tmp_path / "single")]) == 0
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "modulus_lrsa.inference.predict", str(model), str(case), "-o", str(tmp_path / "sharded"), "--domain-parallel"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("wrote ") == 1  # rank 0 alone writes
    names = ["volume.vtu", "surface.vtp"] if three_d else ["volume.vtu"]
    assert sorted(path.name for path in (tmp_path / "sharded").iterdir()) == sorted(
        path.name for path in (tmp_path / "single").iterdir()
    )
    for name in names:
        single, sharded = _cell_arrays(_read(tmp_path / "single" / name)), _cell_arrays(_read(tmp_path / "sharded" / name))
        assert single.keys() == sharded.keys() and "p_predicted" in single, name
        for key in single:
            np.testing.assert_allclose(sharded[key], single[key], rtol=1e-5, atol=1e-6, err_msg=f"{name}: {key}")
    errors = [json.loads((tmp_path / run / "quantities.json").read_text())["rel_l2"] for run in ("single", "sharded")]
    assert errors[1] == pytest.approx(errors[0], rel=1e-5)


@pytest.mark.parametrize("trained", [False, True], ids=["cavity2d", "cavity3d"], indirect=True)
def test_a_case_exported_only_with_foam_to_vtk_legacy_is_explained_in_each_tools_terms(trained, tmp_path, capsys):
    # A user who ran only `foamToVTK -legacy`: VTK/<case>_<time>.vtk and VTK/<patch>/<patch>_<time>.vtk.
    # lrsa-train without data.volume_file, and lrsa-predict on the folder of a model trained on
    # the XML export, used to answer "set data.volume_file", a key lrsa-predict does not take.
    from modulus_lrsa.datapipes.cases import CaseEntry, MeshCacheConfig, resolve_case
    from modulus_lrsa.errors import MissingCaseFileError
    from modulus_lrsa.inference.predict import main

    cases, model, three_d = trained
    case = tmp_path / "lid2"
    shutil.copytree(cases / "lid2" / "VTK", case / "VTK", ignore=shutil.ignore_patterns("*.vtm", "*.series", "lid2_*[0-9]"))
    legacy_volume = next((case / "VTK").glob("lid2_*.vtk"))

    with pytest.raises(MissingCaseFileError, match=r"-legacy export VTK/lid2_\d+\.vtk: set data\.volume_file='VTK/\*_\*\.vtk'"):
        resolve_case(CaseEntry("lid2", "train", case), MeshCacheConfig(volume_fields=("p",)))
    with pytest.raises(MissingCaseFileError, match=r"-legacy patches \['fixedWalls', .*data\.surface_file='VTK/fixedWalls/\*\.vtk'"):
        resolve_case(CaseEntry("lid2", "train", case),
                     MeshCacheConfig(volume_fields=("p",), volume_file="VTK/*_*.vtk", surface_fields=("p",)))

    assert main([str(model), str(case), "-o", str(tmp_path / "out")]) == 1
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1 and "data.volume_file='VTK/*_*.vtm'" in message[0], message
    assert f"pass the file itself instead of the folder, e.g. {legacy_volume}" in message[0]
    assert ("--surface WALL" in message[0]) == three_d
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("trained", [False], ids=["cavity2d"], indirect=True)
def test_a_parallel_run_exported_without_reconstruct_par_is_refused_with_what_to_run(trained, require_openfoam, tmp_path):
    # decomposePar, the solver on the processors, then a serial foamToVTK: the case folder
    # has only time 0, so VTK/ holds the initial fields, not the results in processor*/.
    from modulus_lrsa.datapipes import MeshCacheConfig, build_cache
    from modulus_lrsa.errors import MeshDataError

    cases, model, _ = trained
    case = tmp_path / "lid2"
    shutil.copytree(cases / "lid2", case, ignore=shutil.ignore_patterns("VTK"))
    (case / "system" / "decomposeParDict").write_text(
        "FoamFile { version 2.0; format ascii; class dictionary; object decomposeParDict; }\n"
        "numberOfSubdomains 2;\nmethod simple;\ncoeffs { n (2 1 1); }\n"
    )
    require_openfoam.run("decomposePar", case, ("-time", "0:"))
    for results in case.glob("0.*"):
        shutil.rmtree(results)  # the solver ran on the processors only
    require_openfoam.run("foamToVTK", case)
    require_openfoam.run("foamToVTK", case, ("-legacy",), log_name="log.foamToVTK.legacy")
    expected = r"lid2_0\.vt[mk]: holds time 0, the initial conditions, but the case has results up to time 0\.1; .*reconstructPar"
    for pattern in ("VTK/*_*.vtm", "VTK/*_*.vtk"):
        with pytest.raises(MeshDataError, match=expected):
            build_cache(tmp_path, tmp_path / "cache", MeshCacheConfig(volume_fields=["p"], volume_file=pattern,
                                                                      case_pattern="lid2"))
    result = subprocess.run([sys.executable, "-m", "modulus_lrsa.inference.predict", str(model), str(case),
                             "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "mpirun -np 2 foamToVTK -parallel" in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("trained", [False], ids=["cavity2d"], indirect=True)
def test_lrsa_predict_on_the_vtk_folder_itself_names_the_case_folder_and_a_file(trained, tmp_path, capsys):
    from modulus_lrsa.inference.predict import main

    cases, model, _ = trained
    vtk_folder = cases / "lid2" / "VTK"
    assert main([str(model), str(vtk_folder), "-o", str(tmp_path / "out")]) == 1
    message = capsys.readouterr().err.strip().splitlines()
    latest = sorted(vtk_folder.glob("lid2_*.vtm"))[-1]
    assert len(message) == 1 and f"foamToVTK's output folder: pass its case folder {cases / 'lid2'}" in message[0], message
    assert f"e.g. {latest}" in message[0] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("trained", [False], ids=["cavity2d"], indirect=True)
def test_several_wall_patches_exported_as_one_boundary_are_one_wall(trained, require_openfoam, tmp_path):
    # The documented way to learn several wall patches at once (pitzDaily's upperWall and
    # lowerWall, the cavity's movingWall and fixedWalls): foamToVTK -patches (...) -one-boundary.
    from modulus_lrsa.datapipes import MeshCacheConfig
    from modulus_lrsa.datapipes.cases import CaseEntry, resolve_case
    from modulus_lrsa.datapipes.features import extract_features

    cases, _, _ = trained
    case = tmp_path / "lid2"
    shutil.copytree(cases / "lid2", case, ignore=shutil.ignore_patterns("VTK"))
    require_openfoam.run("foamToVTK", case, ("-latestTime", "-patches", "(movingWall fixedWalls)", "-one-boundary"))
    config = MeshCacheConfig(volume_fields=["p"], volume_file="VTK/*_*.vtm", surface_fields=["p"],
                             surface_block="boundary")
    _, summary = extract_features(resolve_case(CaseEntry("lid2", "train", case), config), config)
    assert summary["has_geometry"] and summary["num_surface_points"] == 4 * 20  # the cavity's four sides


@pytest.mark.parametrize("trained", [True], ids=["cavity3d"], indirect=True)
def test_the_3d_cavitys_wall_normals_point_into_the_fluid_they_enclose(trained):
    # fixedWalls (the sides and the bottom) wrap the fluid: the enclosed-volume vote of the open
    # wall kept OpenFOAM's faces pointing out of the fluid (cache format 2); the cells now decide.
    from modulus_lrsa.datapipes import MeshCache

    cases, _, _ = trained
    arrays = MeshCache.open(cases / ".cache").load_case("lid1")
    centre = 0.5 * (arrays["volume_positions"].min(axis=0) + arrays["volume_positions"].max(axis=0))
    inwards = np.einsum("ij,ij->i", arrays["surface_normals"], centre - arrays["surface_positions"])
    assert len(inwards) == 3 * 8 * 4 and (inwards > 0).all()
