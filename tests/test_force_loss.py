# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The opt-in loss terms of ``training.loss`` (issue 27 item 3): force consistency and area weights.

The force term integrates predicted and CFD surface fields over each step's sampled faces;
here it is checked against :func:`modulus_lrsa.forces.force_coefficients` on every face of
2D cylinder cases (through the real cache and dataset) and of a 3D box, against the
divergence theorem, for an unbiased estimate over sampled faces, its gradient, padding,
the config's refusals, and a two-epoch ``lrsa-train`` run that reports ``train/force_loss``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from synthetic_cfd_cases import cylinder_dataset
from test_training import QUIET, TINY_LRSA, airfoil_config, compose_config

from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.datapipes.collate import pad_collate
from modulus_lrsa.errors import ConfigError
from modulus_lrsa.forces import BodyAxes, coefficient_frame, force_coefficients, surface_force
from modulus_lrsa.training.config import validate_config
from modulus_lrsa.training.data import build_training_data
from modulus_lrsa.training.metrics import (
    TrainingLoss,
    force_coefficient_error,
    relative_l2_loss,
    surface_coefficients,
    valid_entries,
)
from modulus_lrsa.training.train import run_training, training_loss


@pytest.fixture(scope="module")
def cylinder_root(tmp_path_factory):
    return cylinder_dataset(tmp_path_factory.mktemp("cylinders"))


@pytest.fixture(scope="module")
def cylinder_data(cylinder_root, tmp_path_factory):
    """The cylinder cases as lrsa-train builds them: 8 of each case's 16 wall faces per training sample."""
    config = airfoil_config(cylinder_root, tmp_path_factory.mktemp("cache"))
    return build_training_data(config.data, 0)


def _loss(data, weight: float = 1.0, area_weighted: bool = False) -> TrainingLoss:
    return TrainingLoss(weight, area_weighted, data.forces, data.target_names, data.target_normalizer)


def _physical(data, batch, values):
    return data.target_normalizer.denormalize(values) * batch["target_scale"][:, None, :]


def _true_coefficients(data, batch):
    """(B, K) coefficients of the batch's CFD fields, from the loss's integral."""
    loss = _loss(data)
    target = batch["target"]
    return surface_coefficients(
        _physical(data, batch, target), valid_entries(batch, target), batch["face_area"], batch["face_normal"],
        batch["force_directions"], batch["force_dynamic"], loss.pressure_column, loss.shear_columns,
        data.forces.settings.wall_shear_sign,
    )


# ------------------------------------------------------ against forces.py's integral


def test_every_face_of_2d_cases_gives_the_validation_coefficients(cylinder_data):
    # Whole cases (validation samples), two of different length padded into one batch,
    # each at its own angle of attack (the cases run from -4 to 6 degrees).
    data = cylinder_data
    samples = [data.validation[0], data.validation[1]]
    batch = _loss(data).prepare(pad_collate(samples))
    coefficients = _true_coefficients(data, batch)
    assert coefficients.shape == (2, 2)
    for row, case_id in enumerate(batch["case_id"]):
        _, true = data.forces.coefficients(case_id, data.forces.true_surface_values(case_id))
        assert coefficients[row, 0].item() == pytest.approx(true.drag, rel=1e-5, abs=1e-7)
        assert coefficients[row, 1].item() == pytest.approx(true.lift, rel=1e-5, abs=1e-7)
    assert not torch.allclose(batch["force_directions"][0], batch["force_directions"][1])  # two angles


def test_training_samples_scale_the_drawn_faces_so_the_estimate_is_unbiased(cylinder_data):
    data = cylinder_data
    case_id = data.train.case_entries[0]["case_id"]
    areas = data.train.cache.load_case(case_id)["surface_weights"]
    _, true = data.forces.coefficients(case_id, data.forces.true_surface_values(case_id))
    estimates = []
    for epoch in range(400):
        data.set_epoch(epoch)
        sample = data.train[0]
        surface = sample["is_surface"]
        # 8 of the 16 faces drawn: each drawn face stands for two.
        assert int(surface.sum()) == 8
        assert sample["face_area"][surface].sum().item() == pytest.approx(float(areas.sum()), rel=1e-5)
        assert float(sample["face_area"][~surface].abs().sum()) == 0.0
        batch = _loss(data).prepare(pad_collate([sample]))
        estimates.append(_true_coefficients(data, batch)[0].double().numpy())
    estimates = np.array(estimates)
    error = np.abs(estimates.mean(axis=0) - [true.drag, true.lift])
    standard_error = estimates.std(axis=0) / math.sqrt(len(estimates))
    assert (error <= 5 * standard_error + 1e-6).all(), (error, standard_error)
    assert (estimates.std(axis=0) > 0).all()  # the draws differ: the check above is not vacuous


def _box_faces(size=(1.2, 0.4, 0.3), cuts=(3, 2, 5)):
    """Centers, outward normals and areas of a closed box, each side cut into unequal strips."""
    centers, normals, areas = [], [], []
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        edges_u = np.cumsum(np.r_[0, np.geomspace(1, 3, cuts[u])])
        edges_u *= size[u] / edges_u[-1]
        edges_v = np.linspace(0, size[v], cuts[v] + 1)
        for side in (0.0, 1.0):
            for i in range(cuts[u]):
                for j in range(cuts[v]):
                    center = np.zeros(3)
                    center[axis] = side * size[axis]
                    center[u] = 0.5 * (edges_u[i] + edges_u[i + 1])
                    center[v] = 0.5 * (edges_v[j] + edges_v[j + 1])
                    normal = np.zeros(3)
                    normal[axis] = 1.0 if side else -1.0
                    centers.append(center)
                    normals.append(normal)
                    areas.append((edges_u[i + 1] - edges_u[i]) * (edges_v[j + 1] - edges_v[j]))
    return np.array(centers), np.array(normals), np.array(areas)


def test_every_face_of_a_3d_body_gives_force_coefficients_and_the_divergence_theorem():
    size = (1.2, 0.4, 0.3)
    centers, normals, areas = _box_faces(size)
    axes = BodyAxes((1.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    k, m, speed = 2.0, -0.7, 4.0
    pressure = 3.0 + k * centers[:, 0] + m * centers[:, 2]
    shear = np.tile([0.2, 0.0, 0.05], (len(areas), 1))
    # Channels p, tau[0..2]; two cases (the second padded by 5 rows, at 5 degrees).
    values = np.concatenate([pressure[:, None], shear], axis=1)
    faces = len(areas)
    batch_values = torch.zeros(2, faces + 5, 4, dtype=torch.float64)
    batch_values[0, :faces] = batch_values[1, :faces] = torch.from_numpy(values)
    batch_values[1, faces:] = 1e6  # padding: must not count
    valid = torch.ones(2, faces + 5, 4, dtype=torch.bool)
    valid[1, faces:] = False
    face_area = torch.zeros(2, faces + 5)
    face_area[:, :faces] = torch.from_numpy(areas).float()
    face_normal = torch.zeros(2, faces + 5, 3)
    face_normal[:, :faces] = torch.from_numpy(normals).float()
    frames = [coefficient_frame(normals, areas, speed, angle, 1.0, 1.0, axes) for angle in (0.0, 5.0)]
    directions = torch.tensor(np.stack([frame[0] for frame in frames]), dtype=torch.float32)
    dynamic = torch.tensor([frame[1] for frame in frames], dtype=torch.float32)
    coefficients = surface_coefficients(batch_values, valid, face_area, face_normal, directions, dynamic, 0, [1, 2, 3], -1.0)
    assert coefficients.shape == (2, 3)
    for row, angle in enumerate((0.0, 5.0)):
        expected = force_coefficients(pressure, normals, areas, speed, angle, 1.0, 1.0, shear, -1.0, axes=axes)
        assert coefficients[row].tolist() == pytest.approx([expected.drag, expected.lift, expected.side], rel=1e-5, abs=1e-6)
    # Closed form: -grad(p) x volume, and the shear pulls the body by -tau x wetted area.
    volume, wetted, frontal = np.prod(size), areas.sum(), size[1] * size[2]
    dynamic_0 = 0.5 * speed**2 * frontal
    assert coefficients[0, 0].item() == pytest.approx((-k * volume - 0.2 * wetted) / dynamic_0, rel=1e-5, abs=1e-6)
    assert coefficients[0, 1].item() == pytest.approx((-m * volume - 0.05 * wetted) / dynamic_0, rel=1e-5, abs=1e-6)
    assert coefficients[0, 2].item() == pytest.approx(0.0, abs=1e-6)


def test_the_torch_integral_refuses_more_shear_components_than_normals():
    with pytest.raises(ValueError, match="more components than the normals"):
        surface_force(torch.zeros(4), torch.zeros(4, 2), torch.ones(4), torch.zeros(4, 3))


# ------------------------------------------------------------ the loss term itself


def test_the_force_term_is_zero_for_the_cfd_fields_and_its_gradient_reaches_only_wall_points(cylinder_data):
    data = cylinder_data
    data.set_epoch(0)
    loss = _loss(data, weight=2.0)
    batch = loss.prepare(pad_collate([data.train[0], data.validation[0]]))
    target = batch["target"]
    exact = target.clone().requires_grad_(True)
    _, terms = loss(exact, batch)
    assert terms["force_loss"].item() == 0.0
    # The term's own gradient at zero error is finite (the field loss's sqrt at exactly zero is not).
    terms["force_loss"].backward()
    assert bool(torch.isfinite(exact.grad).all())

    prediction = (target + 0.3 * torch.randn_like(target)).requires_grad_(True)
    total, terms = loss(prediction, batch)
    force = terms["force_loss"]
    assert force.item() > 0
    field, _ = TrainingLoss()(prediction, batch)
    assert total.item() == pytest.approx(field.item() + 2.0 * force.item(), rel=1e-6)
    force.backward()
    grad = prediction.grad
    assert bool(torch.isfinite(grad).all())
    wall = batch["is_surface"] & batch["mask"]
    force_columns = [loss.pressure_column, *loss.shear_columns]
    assert bool((grad[wall][:, force_columns] != 0).any())
    assert float(grad[~wall].abs().sum()) == 0.0  # volume points and padding
    other = [c for c in range(grad.shape[-1]) if c not in force_columns]
    assert float(grad[..., other].abs().sum()) == 0.0  # U, nut: not in the integral


def test_padding_does_not_change_the_force_term(cylinder_data):
    data = cylinder_data
    loss = _loss(data)
    short, long = data.train[0], data.validation[0]
    assert short["mask"].shape[0] < long["mask"].shape[0]
    batch = loss.prepare(pad_collate([short, long]))
    generator = torch.Generator().manual_seed(1)
    prediction = batch["target"] + 0.2 * torch.randn(batch["target"].shape, generator=generator)
    prediction[~batch["mask"]] = float("nan")  # whatever a model puts there
    _, terms = loss(prediction, batch)
    alone = []
    for row, sample in enumerate((short, long)):
        single = loss.prepare(pad_collate([sample]))
        count = sample["mask"].shape[0]
        alone.append(loss(prediction[row: row + 1, :count], single)[1]["force_loss"].item())
    assert math.isfinite(terms["force_loss"].item())
    assert terms["force_loss"].item() == pytest.approx(np.mean(alone), rel=1e-6)


def test_force_coefficient_error_is_the_mean_absolute_coefficient_difference():
    # One face per case, pressure only: C = -p n . e A / dynamic.
    valid = torch.ones(2, 1, 1, dtype=torch.bool)
    area, normal = torch.ones(2, 1), torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    directions = torch.eye(2).expand(2, 2, 2)
    dynamic = torch.tensor([2.0, 4.0])
    error = force_coefficient_error(torch.tensor([[[3.0]], [[1.0]]]), torch.tensor([[[1.0]], [[1.0]]]), valid, area, normal,
                                    directions, dynamic, 0, [], -1.0)
    # Case 0: Cd differs by 2 / 2; case 1: nothing. Mean over 2 cases x 2 coefficients.
    assert error.item() == pytest.approx(1.0 / 4)


# ------------------------------------------------------------------- area weights


def _surface_batch(areas: list[float], values: list[float]) -> dict:
    """A volume point and surface points with the given face areas (weights rescaled to mean 1, as the dataset
    does), of one surface-only channel (as wall shear is)."""
    count = 1 + len(areas)
    surface_weights = torch.tensor(areas) / torch.tensor(areas).mean()
    return {
        "target": torch.tensor([0.0, *values]).reshape(1, count, 1),
        "mask": torch.ones(1, count, dtype=torch.bool),
        "target_mask": torch.tensor([False] + [True] * len(areas)).reshape(1, count, 1),
        "is_surface": torch.tensor([[False] + [True] * len(areas)]),
        "weights": torch.cat([torch.ones(1), surface_weights]).reshape(1, count),
    }


def test_area_weights_count_a_wall_region_by_its_area_not_by_its_faces():
    # The same wall twice: its second face whole, then cut into two halves with the same values.
    coarse = _surface_batch([1.0, 1.0], [2.0, 3.0])
    fine = _surface_batch([1.0, 0.5, 0.5], [2.0, 3.0, 3.0])
    error = {"coarse": torch.tensor([[[1.5], [2.0], [1.0]]]), "fine": torch.tensor([[[1.5], [2.0], [1.0], [1.0]]])}
    weighted, plain = TrainingLoss(surface_area_weighted=True), TrainingLoss()
    on_coarse = weighted(error["coarse"], coarse)[0].item()
    assert weighted(error["fine"], fine)[0].item() == pytest.approx(on_coarse, rel=1e-6)
    assert plain(error["fine"], fine)[0].item() != pytest.approx(plain(error["coarse"], coarse)[0].item(), rel=1e-3)
    # By hand, over the two wall faces of weight 1: sqrt(sum w (p - y)^2 / sum w y^2).
    w = torch.tensor([1.0, 1.0])
    y, p = coarse["target"].reshape(-1)[1:], error["coarse"].reshape(-1)[1:]
    assert on_coarse == pytest.approx(math.sqrt(float((w * (p - y) ** 2).sum() / (w * y**2).sum())), rel=1e-6)


def test_with_both_terms_off_the_loss_is_the_relative_l2_bit_for_bit(cylinder_data):
    batch = pad_collate([cylinder_data.train[0], cylinder_data.validation[1]])
    target = batch["target"]
    prediction = target + 0.1 * torch.randn(target.shape, generator=torch.Generator().manual_seed(2))
    loss, terms = TrainingLoss()(prediction, batch)
    assert terms == {}
    assert torch.equal(loss, relative_l2_loss(prediction, target, valid_entries(batch, target)))


# ------------------------------------------------------------------------ config


@pytest.fixture(scope="module")
def darcy_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy") / "data"
    generate_darcy(folder, n_train=4, n_test=2, solve_resolution=9, resolution=9, seed=3)
    return folder


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (["training.loss.force_weight=-1.0"], r"training\.loss\.force_weight: expected a number >= 0"),
        (["training.loss.force_weight=1.0", "data.forces.enabled=false"],
         r"training\.loss\.force_weight: 1\.0 integrates .* data\.forces is not enabled"),
        (["training.loss.force_weight=1.0", "data.surface_fields=[]"],
         r"training\.loss\.force_weight: .* data\.surface_fields is empty"),
        (["training.loss.surface_area_weighted=true", "data.surface_fields=[]"],
         r"training\.loss\.surface_area_weighted: .* data\.surface_fields is empty"),
        (["training.loss.surface_area_weighted=maybe"], r"training\.loss\.surface_area_weighted: expected true or false"),
        (["+training.loss.force_wieght=1.0"], r"training\.loss\.force_wieght: unknown key.*training\.loss\.force_weight"),
    ],
)
def test_mesh_configs_that_cannot_serve_a_term_are_refused_in_one_line(cylinder_root, tmp_path, overrides, line):
    with pytest.raises(ConfigError, match=line):
        validate_config(airfoil_config(cylinder_root, tmp_path, *overrides))


@pytest.mark.parametrize("override", ["training.loss.force_weight=0.5", "training.loss.surface_area_weighted=true"])
def test_darcy_has_no_surface_for_either_term(darcy_folder, tmp_path, override):
    config = compose_config([f"data.path={darcy_folder}", f"output_dir={tmp_path / 'run'}", *TINY_LRSA, *QUIET, override])
    with pytest.raises(ConfigError, match=r"training\.loss\.\w+: .* data\.kind=darcy has none"):
        validate_config(config)
    # Data built outside the check (as tests and benchmarks pass it) is refused when the run builds its loss.
    with pytest.raises(ConfigError, match=r"training\.loss: .* need surface points"):
        training_loss(config, build_training_data(config.data, 0))


def test_the_loss_object_refuses_what_the_config_check_would():
    with pytest.raises(ValueError, match=r"training\.loss\.force_weight: expected a finite number >= 0"):
        TrainingLoss(force_weight=-0.1)
    with pytest.raises(ValueError, match=r"data\.forces\.enabled=true"):
        TrainingLoss(force_weight=1.0)


# ------------------------------------------------------------------ lrsa-train


def test_two_epochs_with_both_terms_report_the_force_loss(cylinder_root, tmp_path):
    config = airfoil_config(cylinder_root, tmp_path, "training.loss.force_weight=0.5", "training.loss.surface_area_weighted=true")
    result = run_training(config)
    assert len(result["history"]) == 2
    for record in result["history"]:
        assert math.isfinite(record["train/force_loss"]) and record["train/force_loss"] > 0
        assert math.isfinite(record["train/loss"])
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["last_validation"]["train/force_loss"] == result["last_validation"]["train/force_loss"]
    assert math.isfinite(written["last_validation"]["val/Cd_abs_error"])
