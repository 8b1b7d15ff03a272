# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""lrsa-predict on Darcy arrays and on VTK cases: files ParaView opens, with the right arrays.

Models are untrained tiny LRSAs exported the way lrsa-train exports them; predictions
are checked against the model evaluated directly on the training pipeline's samples,
which pins down that a new case is preprocessed exactly like the training data.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import vtk
from hydra import compose, initialize_config_dir
from synthetic_cfd_cases import N_RADIAL, N_THETA, cylinder_case, cylinder_dataset
from vtk.util.numpy_support import vtk_to_numpy

from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.datapipes.collate import pad_collate
from modulus_lrsa.descriptor import ModelDescriptor, descriptor_path, write_descriptor
from modulus_lrsa.inference.common import load_model
from modulus_lrsa.inference.predict import main
from modulus_lrsa.models import LRSA
from modulus_lrsa.training.checkpoint import atomic_save_module
from modulus_lrsa.training.data import build_training_data
from modulus_lrsa.training.train import CONFIG_DIR


def compose_config(overrides):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def export(model, data, folder):
    path = atomic_save_module(model, folder / "best_model.mdlus")
    write_descriptor(data.descriptor, path)
    return path


def tiny_lrsa(data, structured_shape=None):
    torch.manual_seed(1)
    return LRSA(
        functional_dim=data.functional_dim, out_dim=data.out_dim, embedding_dim=data.embedding_dim,
        n_layers=1, n_hidden=16, n_head=2, n_latents=4, n_frequencies=2, structured_shape=structured_shape,
    ).eval()


def read(path):
    reader = {
        ".vti": vtk.vtkXMLImageDataReader,
        ".vtu": vtk.vtkXMLUnstructuredGridReader,
        ".vtp": vtk.vtkXMLPolyDataReader,
        ".vtm": vtk.vtkXMLMultiBlockDataReader,
    }[path.suffix]()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()


def arrays(data):
    return {data.GetArrayName(i): vtk_to_numpy(data.GetArray(i)) for i in range(data.GetNumberOfArrays())}


# ------------------------------------------------------------------------ Darcy


@pytest.fixture(scope="module")
def darcy_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("darcy_predict")
    generate_darcy(root / "data", n_train=6, n_test=3, solve_resolution=9, resolution=9, seed=11)
    data = build_training_data(compose_config([f"data.path={root / 'data'}"]).data, seed=0)
    model = tiny_lrsa(data, structured_shape=data.structured_shape)
    return export(model, data, root / "model"), data, model, root / "data"


def test_darcy_prediction_writes_images_with_prediction_truth_and_error(darcy_model, tmp_path):
    model_path, data, model, folder = darcy_model
    assert main([str(model_path), str(folder), "--samples", "0", "2", "-o", str(tmp_path)]) == 0

    quantities = json.loads((tmp_path / "quantities.json").read_text())
    assert [entry["sample"] for entry in quantities["samples"]] == [0, 2]
    image = read(tmp_path / "sample_0002.vti")
    assert image.GetDimensions() == (9, 9, 1)
    fields = arrays(image.GetPointData())
    assert set(fields) == {"coeff", "solution", "solution_predicted", "solution_error"}

    sample = data.validation[2]
    with torch.no_grad():
        output = model(sample["fx"][None], sample["embedding"][None])[0]
    expected = data.target_normalizer.denormalize(output.double()).numpy()[..., 0]
    # vtkImageData runs x fastest: entry [i, j] sits at i + 9 j.
    np.testing.assert_allclose(fields["solution_predicted"].reshape(9, 9).T, expected, rtol=1e-5, atol=1e-6)
    truth = fields["solution"].reshape(9, 9).T
    np.testing.assert_allclose(fields["solution_error"].reshape(9, 9).T, expected - truth, rtol=1e-4, atol=1e-6)
    assert quantities["samples"][1]["rel_l2"] == pytest.approx(
        np.linalg.norm(expected - truth) / np.linalg.norm(truth), rel=1e-4
    )


def test_darcy_grid_model_refuses_another_resolution(darcy_model, tmp_path, capsys):
    model_path, *_ = darcy_model
    np.save(tmp_path / "coeff.npy", np.full((11, 11), 3.0, dtype=np.float32))
    assert main([str(model_path), str(tmp_path / "coeff.npy"), "-o", str(tmp_path / "out")]) == 1
    assert "11x11 grid, but the model was trained on the grid view at 9x9" in capsys.readouterr().err


def test_a_model_without_its_descriptor_is_refused_with_the_missing_file(darcy_model, tmp_path, capsys):
    model_path, data, model, folder = darcy_model
    lonely = atomic_save_module(model, tmp_path / "lonely.mdlus")
    assert main([str(lonely), str(folder), "-o", str(tmp_path / "out")]) == 1
    assert "lonely.data.json: missing" in capsys.readouterr().err


# --------------------------------------------------------------- mesh cases


@pytest.fixture(scope="module")
def cylinder_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("cylinder_predict")
    cases = cylinder_dataset(root / "cases")
    config = compose_config(["data=airfoil", f"data.path={cases}", f"data.cache_dir={root / 'cache'}"])
    data = build_training_data(config.data, seed=0)
    model = tiny_lrsa(data)
    return export(model, data, root / "model"), data, model, cases


def test_case_prediction_writes_volume_and_surface_vtk_with_errors_and_forces(cylinder_model, tmp_path):
    model_path, data, model, cases = cylinder_model
    case = cases / "cases" / "case_0005"
    assert main([str(model_path), str(case), "-o", str(tmp_path)]) == 0

    volume = read(tmp_path / "volume.vtu")
    assert volume.GetNumberOfCells() == N_THETA * N_RADIAL
    volume_fields = arrays(volume.GetCellData())
    assert {"U", "p", "nut", "U_predicted", "p_predicted", "nut_predicted", "U_error", "p_error"} <= set(volume_fields)
    assert volume_fields["U_predicted"].shape == (N_THETA * N_RADIAL, 2)
    surface = read(tmp_path / "surface.vtp")
    surface_fields = arrays(surface.GetCellData())
    assert {"p_predicted", "wallShearStress_predicted", "p_error", "Cp_predicted", "Cp"} <= set(surface_fields)
    assert surface_fields["wallShearStress_predicted"].shape == (N_THETA, 2)
    assert read(tmp_path / "prediction.vtm").GetNumberOfBlocks() == 2

    # The same numbers as the model on the training pipeline's sample of this case.
    index = [entry["case_id"] for entry in data.validation.case_entries].index("case_0005")
    sample = data.validation[index]
    batch = pad_collate([sample])
    with torch.no_grad():
        output = model(batch["fx"], batch["embedding"], mask=batch["mask"], weights=batch["weights"])[0]
    # The airfoil config learns free-stream scaled targets: physical = denormalized * scale.
    expected = (data.target_normalizer.denormalize(output.double()) * sample["target_scale"].double()).numpy()
    on_surface = sample["is_surface"].numpy()
    names = data.target_names
    np.testing.assert_allclose(volume_fields["p_predicted"], expected[~on_surface, names.index("p")], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(surface_fields["p_predicted"], expected[on_surface, names.index("p")], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        volume_fields["p_error"], volume_fields["p_predicted"] - volume_fields["p"], rtol=1e-4, atol=1e-4
    )

    quantities = json.loads((tmp_path / "quantities.json").read_text())
    assert {"U[0]", "p", "nut", "surface/p", "surface/wallShearStress[1]"} <= set(quantities["rel_l2"])
    forces = quantities["forces"]
    assert set(forces) == {"predicted", "from_cfd_fields", "abs_error", "reported_by_solver"}
    assert forces["abs_error"]["Cl"] == pytest.approx(abs(forces["predicted"]["Cl"] - forces["from_cfd_fields"]["Cl"]))


def test_chunked_inference_writes_the_same_prediction(cylinder_model, tmp_path):
    model_path, _, _, cases = cylinder_model
    case = cases / "cases" / "case_0004"
    assert main([str(model_path), str(case), "-o", str(tmp_path / "whole")]) == 0
    assert main([str(model_path), str(case), "-o", str(tmp_path / "chunked"), "--chunk-points", "7"]) == 0
    for name in ("volume.vtu", "surface.vtp"):
        whole = arrays(read(tmp_path / "whole" / name).GetCellData())
        chunked = arrays(read(tmp_path / "chunked" / name).GetCellData())
        for key in ("p_predicted",):
            np.testing.assert_allclose(chunked[key], whole[key], rtol=1e-5, atol=1e-6)


def test_a_new_geometry_without_cfd_results_gets_predictions_only(cylinder_model, tmp_path):
    model_path, _, _, _ = cylinder_model
    case = tmp_path / "new_case"
    cylinder_case(case, speed=13.0, aoa_deg=1.0, with_results=False)
    assert main([str(model_path), str(case), "-o", str(tmp_path / "out"), "--condition", "aoa_deg=3"]) == 0

    quantities = json.loads((tmp_path / "out" / "quantities.json").read_text())
    assert quantities["conditions"] == {"U": 13.0, "aoa_deg": 3.0}
    assert quantities["rel_l2"] == {}
    assert set(quantities["forces"]) == {"predicted"}
    volume_fields = arrays(read(tmp_path / "out" / "volume.vtu").GetCellData())
    assert {"U_predicted", "p_predicted", "nut_predicted"} <= set(volume_fields)
    assert not any(name.endswith("_error") for name in volume_fields)
    assert "p" not in volume_fields  # the stand-in zero fields stay out of the output


def test_new_conditions_on_a_solved_case_are_not_compared_with_its_old_solution(cylinder_model, tmp_path):
    model_path, _, _, cases = cylinder_model
    case = cases / "cases" / "case_0005"
    assert main([str(model_path), str(case), "-o", str(tmp_path), "--condition", "aoa_deg=-7.5"]) == 0
    quantities = json.loads((tmp_path / "quantities.json").read_text())
    assert quantities["conditions"]["aoa_deg"] == -7.5
    assert quantities["rel_l2"] == {} and set(quantities["forces"]) == {"predicted"}
    assert not any(name.endswith("_error") for name in arrays(read(tmp_path / "volume.vtu").GetCellData()))


def test_a_missing_case_is_reported_by_path(cylinder_model, tmp_path, capsys):
    model_path, *_ = cylinder_model
    assert main([str(model_path), str(tmp_path / "nowhere"), "-o", str(tmp_path / "out")]) == 1
    assert "nowhere: case does not exist" in capsys.readouterr().err


def test_a_cfd_field_of_zeros_has_an_undefined_relative_error_and_an_absolute_one(cylinder_model, tmp_path, capsys):
    # As U on a wall patch: ||p - 0|| / max(0, 1e-30) was reported as a relative error of 8e31.
    model_path, *_ = cylinder_model
    case = tmp_path / "still"
    cylinder_case(case, speed=14.0, aoa_deg=2.0)
    volume = read(case / "internal.vtu")
    volume.GetCellData().GetArray("U").Fill(0.0)
    writer = vtk.vtkXMLUnstructuredGridWriter()
    writer.SetFileName(str(case / "internal.vtu"))
    writer.SetInputData(volume)
    assert writer.Write() == 1
    assert main([str(model_path), str(case), "-o", str(tmp_path / "out")]) == 0
    quantities = json.loads((tmp_path / "out" / "quantities.json").read_text())
    assert quantities["rel_l2"]["U[0]"] is None and quantities["rel_l2"]["U[1]"] is None
    predicted = arrays(read(tmp_path / "out" / "volume.vtu").GetCellData())["U_predicted"]
    assert quantities["abs_l2"]["U[0]"] == pytest.approx(np.linalg.norm(predicted[:, 0]), rel=1e-5)
    assert quantities["rel_l2"]["p"] > 0 and '"U[0]": null' in capsys.readouterr().out


def test_a_wall_file_given_as_the_volume_is_refused_naming_what_to_give(cylinder_model, tmp_path, capsys):
    # A one-cell-thick case's wall quads are 2D cells like a flat mesh's, but its volume cells are 3D.
    model_path, _, _, cases = cylinder_model
    wall = cases / "cases" / "case_0005" / "wall.vtp"
    assert main([str(model_path), str(wall), "--surface", str(wall), "-o", str(tmp_path / "out")]) == 1
    message = capsys.readouterr().err
    assert f"{wall}: a surface (2D cells), given as the volume; the model predicts on a volume of 3D cells" in message
    assert "the case folder, its .vtm" in message and "internal.vtu" in message
    assert not (tmp_path / "out").exists()


def test_a_wall_only_model_predicts_on_the_wall_and_needs_no_sampled_volume(tmp_path, capsys):
    cases = cylinder_dataset(tmp_path / "cases", n_cases=3, n_test=1)
    config = compose_config(["data=airfoil", f"data.path={cases}", f"data.cache_dir={tmp_path / 'cache'}",
                             "data.volume_fields=[]"])
    data = build_training_data(config.data, seed=0)
    model_path = export(tiny_lrsa(data), data, tmp_path / "model")
    wall = cases / "cases" / "case_0002" / "wall.vtp"
    assert main([str(model_path), str(wall), "-o", str(tmp_path / "wall")]) == 0
    assert json.loads((tmp_path / "wall" / "quantities.json").read_text())["files"] == {"surface": "surface.vtp"}
    assert main([str(model_path), str(wall), "--sample-volume", "-o", str(tmp_path / "sampled")]) == 1
    message = capsys.readouterr().err
    assert "--sample-volume: the model predicts wall fields only" in message and "predates" not in message
    assert not (tmp_path / "sampled").exists()


def test_a_case_folder_the_settings_find_nothing_in_lists_its_files(cylinder_model, tmp_path, capsys):
    model_path, *_ = cylinder_model
    folder = tmp_path / "run_7"
    cylinder_case(folder, speed=12.0, aoa_deg=1.0)
    (folder / "case.json").unlink()
    assert main([str(model_path), str(folder), "-o", str(tmp_path / "out")]) == 1
    assert "pass the file itself instead of the folder; the folder holds internal.vtu, wall.vtp" in capsys.readouterr().err


def test_relative_error_is_undefined_only_for_a_zero_reference():
    from modulus_lrsa.inference.common import absolute_l2, relative_l2

    prediction = np.array([1e-3, -2e-3])
    assert np.isnan(relative_l2(prediction, np.zeros(2))) and absolute_l2(prediction, np.zeros(2)) > 0
    # A near-zero field predicted badly keeps its large ratio instead of reading as undefined.
    assert relative_l2(prediction, np.array([1e-12, 0.0])) > 1e8


def test_a_model_of_signed_wall_distances_is_warned_about(tmp_path, caplog):
    # Cache format 1 signed mesh cells' wall distances; prediction now gives unsigned ones.
    from modulus_lrsa.inference.common import warn_if_signed_wall_distances

    stored = ModelDescriptor.read(Path(__file__).parent / "data" / "descriptor_v1" / "mesh.mdlus")
    for version, warned in ((1, True), (2, False)):
        caplog.clear()
        index = dataclasses.replace(stored.cache_index, has_geometry=True, format_version=version)
        descriptor = dataclasses.replace(stored, cache_index=index)
        with caplog.at_level("WARNING"):
            warn_if_signed_wall_distances(tmp_path / "model.mdlus", descriptor)
        assert ("model.mdlus: trained on cache format 1" in caplog.text) == warned


def test_a_model_of_a_cache_before_format_3_is_warned_about_its_wall_normals(tmp_path, caplog):
    # Format 3 points the normals of walls enclosing the fluid, and of a ground exported with the body, into the fluid.
    from modulus_lrsa.inference.common import warn_if_outward_wall_normals

    stored = ModelDescriptor.read(Path(__file__).parent / "data" / "descriptor_v1" / "mesh.mdlus")
    assert stored.cache_index.format_version == 2 and stored.cache_index.has_geometry  # as written at 62b5c39
    for version, warned in ((2, True), (1, True), (3, False)):
        caplog.clear()
        descriptor = dataclasses.replace(stored, cache_index=dataclasses.replace(stored.cache_index, format_version=version))
        with caplog.at_level("WARNING"):
            warn_if_outward_wall_normals(tmp_path / "model.mdlus", descriptor)
        lines = caplog.text.strip().splitlines()
        assert len(lines) == int(warned), caplog.text
        if warned:
            assert f"model.mdlus: trained on cache format {version}, whose wall normals pointed out of the fluid" in lines[0]
            assert "(a cavity, a duct) or is a ground exported with the body as one boundary" in lines[0]
            assert "retrain the model" in lines[0]
    # Without a wall the model saw no normals.
    caplog.clear()
    without_wall = dataclasses.replace(stored, cache_index=dataclasses.replace(stored.cache_index, has_geometry=False))
    with caplog.at_level("WARNING"):
        warn_if_outward_wall_normals(tmp_path / "model.mdlus", without_wall)
    assert caplog.text == ""


def test_loading_a_model_of_a_format_2_cache_warns_about_its_wall_normals(cylinder_model, tmp_path, caplog):
    model_path, *_ = cylinder_model
    copy = tmp_path / "model.mdlus"
    shutil.copy(model_path, copy)
    payload = json.loads(descriptor_path(model_path).read_text())
    payload["cache_index"]["format_version"] = 2
    descriptor_path(copy).write_text(json.dumps(payload))
    with caplog.at_level("WARNING"):
        load_model(copy, torch.device("cpu"))
    assert f"{copy}: trained on cache format 2, whose wall normals pointed out of the fluid" in caplog.text
