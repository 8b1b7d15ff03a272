# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""lrsa-train end to end on tiny data: Darcy grids and point clouds, 2D airfoil-like VTK cases.

Models are a few thousand parameters and datasets a few 9x9 grids or 64-cell meshes, so
each run takes a second or two; what is checked is the machinery (outputs, checkpoints,
precision, NaN handling, config errors), not accuracy.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import physicsnemo
import pytest
import torch
from hydra import compose, initialize_config_dir
from synthetic_cfd_cases import cylinder_case, cylinder_dataset
from torch.utils.data import Dataset

from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.datapipes.collate import pad_collate
from modulus_lrsa.descriptor import descriptor_path
from modulus_lrsa.errors import ConfigError
from modulus_lrsa.forces import force_coefficients
from modulus_lrsa.surrogate import run_model
from modulus_lrsa.training.config import validate_config
from modulus_lrsa.training.data import build_training_data
from modulus_lrsa.training.train import CONFIG_DIR, NonFiniteLossError, run_training

TINY_LRSA = [
    "model.n_layers=1",
    "model.n_hidden=16",
    "model.n_head=2",
    "model.n_latents=4",
    "model.n_frequencies=2",
    "model.mlp_ratio=1",
]
QUIET = ["logging=console", "logging.progress_bar=false", "training.num_workers=0"]


def compose_config(overrides: list[str]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.fixture(scope="module")
def darcy_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy") / "data"
    generate_darcy(folder, n_train=8, n_test=4, solve_resolution=9, resolution=9, seed=3)
    return folder


def darcy_config(folder: Path, output_dir: Path, *extra: str, model: list[str] = TINY_LRSA):
    return compose_config(
        [
            f"data.path={folder}",
            f"output_dir={output_dir}",
            "training.epochs=2",
            "training.batch_size=4",
            "training.eval_batch_size=4",
            *model,
            *QUIET,
            *extra,
        ]
    )


# ------------------------------------------------------------------------ Darcy


def test_darcy_two_epochs_write_checkpoints_metrics_and_best_model(darcy_folder, tmp_path):
    result = run_training(darcy_config(darcy_folder, tmp_path, "logging=tensorboard", "logging.progress_bar=false"))

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result))
    assert metrics["global_step"] == 4 and metrics["skipped_steps"] == 0
    assert [entry["epoch"] for entry in metrics["history"]] == [1, 2]
    assert all(math.isfinite(entry["train/loss"]) for entry in metrics["history"])
    errors = [entry["val/rel_l2/solution"] for entry in metrics["history"]]
    assert metrics["best_metric"]["val/rel_l2/mean"] == min(errors)
    assert metrics["best_epoch"] == 1 + int(np.argmin(errors))

    checkpoints = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    assert checkpoints == ["LRSA.0.1.mdlus", "LRSA.0.2.mdlus", "checkpoint.0.1.pt", "checkpoint.0.2.pt"]
    state = torch.load(tmp_path / "checkpoints" / "checkpoint.0.2.pt", weights_only=False)
    assert state["epoch"] == 2
    assert {"optimizer_state_dict", "scheduler_state_dict", "scaler_state_dict"} <= state.keys()
    assert len(state["metadata"]["rng_states"]) == 1
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))

    # The exported model is a self-describing PhysicsNeMo checkpoint on the data's grid.
    model = physicsnemo.Module.from_checkpoint(str(tmp_path / "best_model.mdlus"))
    assert model.structured_shape == (9, 9)
    descriptor = json.loads(descriptor_path(tmp_path / "best_model.mdlus").read_text())
    assert descriptor["kind"] == "darcy" and descriptor["view"] == "grid"
    assert descriptor["epoch"] == metrics["best_epoch"]
    assert set(descriptor["normalization"]) == {"coefficient", "solution"}


def test_compiled_training_writes_the_eager_checkpoints_and_resumes_without_compile(darcy_folder, tmp_path):
    """training.compile=true trains the same model (to compiled-kernel rounding) and saves
    the plain model's files, so a run resumes, and a model serves, without torch.compile."""
    torch._dynamo.reset()  # no shapes remembered from other tests' compiles of LRSA
    eager = run_training(darcy_config(darcy_folder, tmp_path / "eager", "training.epochs=1"))
    compiled = run_training(darcy_config(darcy_folder, tmp_path / "compiled", "training.epochs=1", "training.compile=true"))
    assert compiled["global_step"] == eager["global_step"] == 2

    def saved(run: str):
        folder = tmp_path / run / "checkpoints"
        state = torch.load(folder / "checkpoint.0.1.pt", weights_only=False)
        return physicsnemo.Module.from_checkpoint(str(folder / "LRSA.0.1.mdlus")).state_dict(), state

    (eager_params, eager_state), (compiled_params, compiled_state) = saved("eager"), saved("compiled")
    assert sorted(p.name for p in (tmp_path / "compiled" / "checkpoints").iterdir()) == sorted(
        p.name for p in (tmp_path / "eager" / "checkpoints").iterdir())
    assert list(compiled_params) == list(eager_params)  # no _orig_mod. or module. prefixes
    for name, value in eager_params.items():
        torch.testing.assert_close(compiled_params[name], value, atol=1e-5, rtol=1e-4, msg=name)
    assert compiled_state.keys() == eager_state.keys()
    assert compiled_state["optimizer_state_dict"]["param_groups"] == eager_state["optimizer_state_dict"]["param_groups"]

    resumed = run_training(darcy_config(darcy_folder, tmp_path / "compiled", "training.epochs=2"))
    assert resumed["global_step"] == 4 and [e["epoch"] for e in resumed["history"]] == [1, 2]


@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_compiled_lrsa_is_accepted_on_cuda(darcy_folder, tmp_path, monkeypatch, device):
    """A GPU launch with training.compile=true is no longer refused: the wrong compiled
    gradients seen on the H200 were torch 2.11's (test_torch_compile_gradients_match_eager)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    validate_config(darcy_config(darcy_folder, tmp_path, "training.compile=true", f"training.device={device}"))


def test_relaunching_a_finished_run_changes_nothing(darcy_folder, tmp_path):
    config = darcy_config(darcy_folder, tmp_path, "training.epochs=1")
    run_training(config)
    before = (tmp_path / "checkpoints" / "checkpoint.0.1.pt").read_bytes()
    result = run_training(config)
    assert result["global_step"] == 2
    assert (tmp_path / "checkpoints" / "checkpoint.0.1.pt").read_bytes() == before


def test_transolver_trains_on_point_clouds_without_mask_or_weights(darcy_folder, tmp_path):
    config = darcy_config(
        darcy_folder,
        tmp_path,
        "data.view=points",
        "data.train_points=40",
        "training.epochs=1",
        model=["model=transolver", "model.n_layers=1", "model.n_hidden=16", "model.n_head=2", "model.slice_num=4"],
    )
    result = run_training(config)
    assert math.isfinite(result["last_validation"]["val/rel_l2/solution"])
    model = physicsnemo.Module.from_checkpoint(str(tmp_path / "best_model.mdlus"))
    assert type(model).__name__ == "Transolver"


def test_a_time_limit_stops_cleanly_at_an_epoch_end_and_relaunching_continues(darcy_folder, tmp_path):
    limited = run_training(darcy_config(darcy_folder, tmp_path, "training.epochs=3", "training.time_limit_minutes=1e-6"))
    assert limited["stopped_by_time_limit"] and limited["global_step"] == 2
    assert [entry["epoch"] for entry in limited["history"]] == [1]
    assert (tmp_path / "checkpoints" / "checkpoint.0.1.pt").is_file()
    finished = run_training(darcy_config(darcy_folder, tmp_path, "training.epochs=3"))
    assert not finished["stopped_by_time_limit"] and finished["global_step"] == 6
    assert [entry["epoch"] for entry in finished["history"]] == [1, 2, 3]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_runs_finish_with_finite_loss(darcy_folder, tmp_path, precision):
    result = run_training(darcy_config(darcy_folder, tmp_path, f"training.precision={precision}"))
    assert all(math.isfinite(entry["train/loss"]) for entry in result["history"])
    assert math.isfinite(result["best_metric"]["val/rel_l2/mean"])
    state = torch.load(tmp_path / "checkpoints" / "checkpoint.0.2.pt", weights_only=False)
    # Only fp16 needs (and stores) a loss scale.
    assert bool(state["scaler_state_dict"]) == (precision == "fp16")


# ------------------------------------------------------------- NaN handling


class PoisonedDataset(Dataset):
    """Wraps a dataset; samples in ``poisoned`` get NaN inputs from epoch ``first_epoch`` on."""

    def __init__(self, dataset, poisoned: set[int], first_epoch: int = 1) -> None:
        self.dataset, self.poisoned, self.first_epoch, self.epoch = dataset, poisoned, first_epoch, 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        sample = dict(self.dataset[index])
        if index in self.poisoned and self.epoch >= self.first_epoch:
            sample["fx"] = torch.full_like(sample["fx"], float("nan"))
        return sample


def poisoned_data(config, poisoned: set[int], first_epoch: int = 1):
    data = build_training_data(config.data, seed=0)
    wrapper = PoisonedDataset(data.train, poisoned, first_epoch)
    original_set_epoch = data.set_epoch

    def set_epoch(epoch):
        wrapper.epoch = epoch
        original_set_epoch(epoch)

    data.train, data.set_epoch = wrapper, set_epoch
    return data


def test_a_nan_batch_is_skipped_and_the_checkpoints_stay_finite(darcy_folder, tmp_path):
    config = darcy_config(darcy_folder, tmp_path)
    result = run_training(config, data=poisoned_data(config, poisoned={0}))
    # Sample 0 is in exactly one of the two batches of each epoch.
    assert result["skipped_steps"] == 2 and result["global_step"] == 4
    assert all(math.isfinite(entry["train/loss"]) for entry in result["history"])
    for path in (tmp_path / "checkpoints").glob("LRSA.0.*.mdlus"):
        model = physicsnemo.Module.from_checkpoint(str(path))
        assert all(torch.isfinite(p).all() for p in model.parameters()), path


def test_persistent_nans_stop_the_run_and_keep_the_last_good_checkpoint(darcy_folder, tmp_path):
    config = darcy_config(darcy_folder, tmp_path, "training.epochs=3", "training.max_consecutive_nonfinite=2")
    data = poisoned_data(config, poisoned=set(range(8)), first_epoch=2)
    with pytest.raises(NonFiniteLossError, match="2 consecutive training steps"):
        run_training(config, data=data)
    checkpoints = sorted(path.name for path in (tmp_path / "checkpoints").iterdir())
    assert checkpoints == ["LRSA.0.1.mdlus", "checkpoint.0.1.pt"]
    model = physicsnemo.Module.from_checkpoint(str(tmp_path / "checkpoints" / "LRSA.0.1.mdlus"))
    assert all(torch.isfinite(p).all() for p in model.parameters())


# ------------------------------------------------------------ config errors


@pytest.mark.parametrize(
    "override, key",
    [
        ("training.precision=fp8", "training.precision"),
        ("data.path=/nonexistent/darcy", "data.path"),
        ("training.batch_size=0", "training.batch_size"),
        ("training.scheduler.name=linear", "training.scheduler.name"),
        ("data.view=mesh", "data.view"),
    ],
)
def test_bad_config_values_fail_before_anything_runs(darcy_folder, tmp_path, override, key):
    output_dir = tmp_path / "run"
    config = darcy_config(darcy_folder, output_dir, override)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        run_training(config)
    assert not output_dir.exists()


def test_missing_required_keys_are_named(tmp_path):
    config = compose_config(["data=vtk_folder", f"output_dir={tmp_path}"])
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert "data.path: is required" in str(error.value)
    assert "data.volume_fields: is required" in str(error.value)


def test_too_few_cases_to_hold_one_out_name_test_fraction(tmp_path):
    for index in range(2):
        cylinder_case(tmp_path / "cases" / f"case{index}", speed=10.0 + index, aoa_deg=0.0)
    config = compose_config(["data=vtk_folder", f"data.path={tmp_path / 'cases'}", "data.volume_fields=[p]",
                             "data.volume_file=internal.vtu", f"output_dir={tmp_path / 'run'}"])
    with pytest.raises(ConfigError, match=r"data\.val_split: no case of split 'test'.*data\.test_fraction=0\.2 "
                                          r"holds out none of the 2 cases"):
        build_training_data(config.data, seed=0)


def test_held_out_cases_skipped_as_bad_are_named_not_test_fraction(tmp_path):
    # 0.2 x 3 cases holds one out; it is bad and skipped, so raising test_fraction is no fix.
    from modulus_lrsa.datapipes.cases import MeshCacheConfig, list_cases

    root = tmp_path / "cases"
    for index in range(3):
        cylinder_case(root / f"case{index}", speed=10.0 + index, aoa_deg=0.0)
    held_out = [entry for entry in list_cases(root, MeshCacheConfig(volume_fields=["p"], volume_file="internal.vtu"))
                if entry.split == "test"]
    assert len(held_out) == 1
    (held_out[0].location / "internal.vtu").unlink()
    config = compose_config(["data=vtk_folder", f"data.path={root}", "data.volume_fields=[p]",
                             "data.volume_file=internal.vtu", "data.on_error=skip",
                             f"data.cache_dir={tmp_path / 'cache'}", f"output_dir={tmp_path / 'run'}"])
    with pytest.raises(ConfigError, match=rf"no case of split 'test'.*the 1 case\(s\) of 3 that "
                                          rf"data\.test_fraction=0\.2 holds out were skipped as bad.*index\.json "
                                          rf"\('{held_out[0].case_id}': .*no volume file") as error:
        build_training_data(config.data, seed=0)
    assert "raise it" not in str(error.value)


def test_model_widths_that_disagree_with_the_data_are_named(darcy_folder, tmp_path):
    with pytest.raises(ConfigError, match=r"model\.functional_dim: set to 3 .* 1 channel"):
        run_training(darcy_config(darcy_folder, tmp_path, "model.functional_dim=3"))


def test_the_command_line_reports_the_bad_key_and_fails(darcy_folder, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "modulus_lrsa.train", f"data.path={darcy_folder}", f"output_dir={tmp_path / 'run'}",
         "training.batch_size=0"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 1
    assert "training.batch_size: expected an integer >= 1, got 0" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


# ------------------------------------------------------- airfoil-like meshes

@pytest.fixture(scope="module")
def cylinder_root(tmp_path_factory):
    return cylinder_dataset(tmp_path_factory.mktemp("cylinders"))


def airfoil_config(root: Path, output_dir: Path, *extra: str):
    return compose_config(
        [
            "data=airfoil",
            f"data.path={root}",
            f"data.cache_dir={output_dir / 'cache'}",
            "data.volume_points=24",
            "data.surface_points=8",
            f"output_dir={output_dir / 'run'}",
            "training=airfoil",
            "training.epochs=2",
            "training.batch_size=2",
            "training.validate_every_epochs=1",
            "training.checkpoint_every_epochs=1",
            "training.scheduler.warmup_epochs=1",
            *TINY_LRSA,
            *QUIET,
            *extra,
        ]
    )


def test_airfoil_cases_train_with_field_errors_and_force_coefficients(cylinder_root, tmp_path):
    result = run_training(airfoil_config(cylinder_root, tmp_path))
    validation = result["last_validation"]
    for field in ("U", "p", "nut", "wallShearStress"):
        assert any(key.startswith(f"val/rel_l2/{field}") for key in validation), field
    # The split follows where each field lives: nut only in cells, wall shear only on faces.
    assert {"val/volume_rel_l2/p", "val/volume_rel_l2/nut", "val/surface_rel_l2/p"} <= validation.keys()
    assert not any(key.startswith("val/volume_rel_l2/wallShearStress") for key in validation)
    assert "val/surface_rel_l2/nut" not in validation
    for key in ("val/Cl_abs_error", "val/Cd_abs_error", "val/Cd_rel_error"):
        assert math.isfinite(validation[key]), key
    # Each validation case's coefficients, whose mean error is the logged one.
    cases = result["last_validation_cases"]
    assert cases and all(math.isfinite(case[side]["Cd"]) for case in cases for side in ("predicted", "true"))
    cd_error = sum(abs(case["predicted"]["Cd"] - case["true"]["Cd"]) for case in cases) / len(cases)
    assert cd_error == pytest.approx(validation["val/Cd_abs_error"])
    descriptor = json.loads(descriptor_path(tmp_path / "run" / "best_model.mdlus").read_text())
    assert descriptor["kind"] == "mesh"
    assert descriptor["target_names"] == ["U[0]", "U[1]", "p", "nut", "wallShearStress[0]", "wallShearStress[1]"]
    assert descriptor["fx_names"] == ["U", "aoa_deg"]
    assert descriptor["forces"]["wall_shear_sign"] == -1.0


def test_geotransolver_trains_with_the_wall_as_its_geometry_context(cylinder_root, tmp_path):
    # PhysicsNeMo's GeoTransolver: fx and embedding as its local input, the wall points'
    # embedding as the geometry it cross-attends to; predictions go through the same path.
    config = compose_config(
        [
            "data=airfoil", f"data.path={cylinder_root}", f"data.cache_dir={tmp_path / 'cache'}",
            "data.volume_points=24", "data.surface_points=8", f"output_dir={tmp_path / 'run'}",
            "training=airfoil", "training.epochs=1", "training.batch_size=2", "training.scheduler.warmup_epochs=0",
            "model=geotransolver", "model.n_layers=1", "model.n_hidden=16", "model.n_head=2", "model.slice_num=4",
            *QUIET,
        ]
    )
    result = run_training(config)
    assert math.isfinite(result["last_validation"]["val/surface_rel_l2/p"])
    model = physicsnemo.Module.from_checkpoint(str(tmp_path / "run" / "best_model.mdlus"))
    assert type(model).__name__ == "GeoTransolver"
    batch = pad_collate([build_training_data(config.data, 0).validation[0]])
    output = run_model(model, batch, torch.device("cpu"))
    assert output.shape == batch["target"].shape and bool(torch.isfinite(output).all())
    without_wall = {key: value for key, value in batch.items() if key != "is_surface"}
    with pytest.raises(ValueError, match="needs wall points as its context"):
        run_model(model, without_wall, torch.device("cpu"))


def test_force_settings_that_do_not_match_the_data_are_named(cylinder_root, tmp_path):
    config = airfoil_config(cylinder_root, tmp_path, "data.forces.speed=Uinf")
    with pytest.raises(ConfigError, match=r"data\.forces\.speed: condition 'Uinf'"):
        run_training(config)


# ------------------------------------------------------------- force integration


def test_force_coefficients_match_closed_form_integrals():
    # A regular polygon: the midpoint rule is exact for fields linear along each side.
    sides, radius, span, speed, chord = 64, 0.5, 0.2, 3.0, 1.0
    start = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    corners = radius * np.stack([np.cos(start), np.sin(start)], axis=1)
    ends = np.roll(corners, -1, axis=0)
    mid = 0.5 * (corners + ends)
    edge = ends - corners
    lengths = np.linalg.norm(edge, axis=1)
    normals = np.stack([edge[:, 1], -edge[:, 0]], axis=1) / lengths[:, None]  # outward (counter-clockwise order)
    polygon_area = 0.5 * np.abs(np.sum(corners[:, 0] * ends[:, 1] - ends[:, 0] * corners[:, 1]))
    dynamic = 0.5 * speed**2 * chord * span

    # p = 7 + k y: the net force is -k * area * span along +y (divergence theorem).
    k = 2.5
    coefficients = force_coefficients(7.0 + k * mid[:, 1], normals, lengths * span, speed, 0.0, chord, span)
    assert coefficients.lift == pytest.approx(-k * polygon_area * span / dynamic, rel=1e-12)
    assert coefficients.drag == pytest.approx(0.0, abs=1e-12)

    # At 90 degrees the free stream points along +y: that force is now drag.
    turned = force_coefficients(7.0 + k * mid[:, 1], normals, lengths * span, speed, 90.0, chord, span)
    assert turned.drag == pytest.approx(coefficients.lift, rel=1e-12)

    # A uniform OpenFOAM wall shear (wall on fluid) tau_x pulls the body by -tau_x per area.
    shear = np.tile([0.3, 0.0], (sides, 1))
    with_shear = force_coefficients(np.zeros(sides), normals, lengths * span, speed, 0.0, chord, span, shear, -1.0)
    assert with_shear.drag == pytest.approx(-0.3 * lengths.sum() * span / dynamic, rel=1e-12)


# ------------------------------------------------------------- example configs


@pytest.mark.parametrize("name", ["darcy_paper", "darcy_demo"])
def test_example_configs_compose_and_pass_the_checks(darcy_folder, tmp_path, name):
    example_dir = Path(__file__).resolve().parents[1] / "examples" / "darcy" / "conf"
    with initialize_config_dir(config_dir=str(example_dir), version_base="1.3"):
        config = compose(
            config_name=name,
            overrides=[f"hydra.searchpath=[file://{CONFIG_DIR}]", f"data.path={darcy_folder}", f"output_dir={tmp_path}"],
        )
    validate_config(config)
    assert config.model._target_ == "modulus_lrsa.models.LRSA"
    assert config.experiment_name == name
