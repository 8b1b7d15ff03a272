# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""lrsa-train refuses bad settings in one line each, before anything is written (issue 29).

Unknown keys (added with ``+`` or in a user's yaml), non-finite numbers, data settings
that used to be refused only after ``output_dir`` and its lock existed, a relaunch whose
``training.epochs`` ends before its checkpoint, and a dataset that ``lrsa-data`` is still
writing. Hypothesis then mutates real composed configs and field-selector overrides: every
outcome is accepted or refused with one line per problem, each naming its key.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import math
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf
from synthetic_cfd_cases import cylinder_dataset
from test_training import QUIET, TINY_LRSA, compose_config

from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.data.lock import hold_dataset_lock
from modulus_lrsa.datapipes.cases import MeshCacheConfig
from modulus_lrsa.errors import ConfigError
from modulus_lrsa.forces import ForceSettings
from modulus_lrsa.training import config as config_module
from modulus_lrsa.training import schema as schema_module
from modulus_lrsa.training.config import validate_config
from modulus_lrsa.training.overrides import FieldOverrideError, quote_field_selectors
from modulus_lrsa.training.schema import DATA_SCHEMAS, MeshData, Training
from modulus_lrsa.training.train import CONFIG_DIR, run_training


@pytest.fixture(scope="module")
def darcy_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy_hostile") / "data"
    generate_darcy(folder, n_train=8, n_test=4, solve_resolution=9, resolution=9, seed=3)
    return folder


@pytest.fixture(scope="module")
def cylinder_root(tmp_path_factory):
    return cylinder_dataset(tmp_path_factory.mktemp("cylinders_hostile"))


def darcy_overrides(folder: Path, output_dir: Path, *extra: str) -> list[str]:
    return [f"data.path={folder}", f"output_dir={output_dir}", "training.epochs=2", "training.batch_size=4",
            "training.eval_batch_size=4", *TINY_LRSA, *QUIET, *extra]


def mesh_overrides(root: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["data=airfoil", f"data.path={root}", f"data.cache_dir={tmp_path / 'cache'}", "data.volume_points=24",
            "data.surface_points=8", f"output_dir={tmp_path / 'run'}", "training=airfoil", "training.epochs=1",
            "training.batch_size=2", "training.scheduler.warmup_epochs=0", *TINY_LRSA, *QUIET, *extra]


def refused_lines(config: DictConfig) -> list[str]:
    """The problem lines of validate_config's refusal."""
    with pytest.raises(ConfigError) as refused:
        validate_config(config)
    head, *lines = str(refused.value).split("\n")
    assert head == "invalid configuration:"
    return [line.removeprefix("  ") for line in lines]


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


# ------------------------------------------------------------------ unknown keys


@pytest.mark.parametrize(
    "override, line",
    [
        ("+training.epochz=3", "training.epochz: unknown key, which nothing reads; the nearest known key is training.epochs"),
        ("+data.pth=/x", "data.pth: unknown key, which nothing reads; the nearest known key is data.path"),
        ("+bogus=1", "bogus: unknown key, which nothing reads; the nearest known key is "),
        ("+logging.tensorboard.enable=true", "logging.tensorboard.enable: unknown key, which nothing reads; the nearest "
                                              "known key is logging.tensorboard.enabled"),
        ("+training.optimizer.lrr=0.1", "training.optimizer.lrr: torch.optim.AdamW takes no argument 'lrr'; the nearest "
                                        "it takes is training.optimizer.lr"),
        ("+training.scheduler.pct_stat=0.2", "training.scheduler.pct_stat: torch.optim.lr_scheduler.OneCycleLR takes no "
                                             "argument 'pct_stat'; the nearest it takes is training.scheduler.pct_start"),
        # A misspelled leaf whose initials are a deeper key's name (was: training.domain_parallel_size).
        ("+training.lerning_rate=1e-3", "training.lerning_rate: unknown key, which nothing reads; the nearest known key "
                                        "is training.optimizer.lr"),
        ("+training.learning_rate=1e-3", "training.learning_rate: unknown key, which nothing reads; the nearest known key "
                                         "is training.optimizer.lr"),
        ("+training.optimizer.learning_rate=0.1", "training.optimizer.learning_rate: torch.optim.AdamW takes no argument "
                                                  "'learning_rate'; the nearest it takes is training.optimizer.lr"),
    ],
)
def test_a_key_added_with_plus_that_nothing_reads_is_refused_before_anything_is_written(
    darcy_folder, tmp_path, override, line
):
    config = compose_config(darcy_overrides(darcy_folder, tmp_path / "run", override))
    with pytest.raises(ConfigError) as refused:
        run_training(config)
    (problem,) = str(refused.value).split("\n")[1:]
    assert problem.strip().startswith(line)
    assert not (tmp_path / "run").exists()


def test_a_manifest_nested_too_deeply_is_one_line_naming_it_before_anything_is_written(cylinder_root, tmp_path):
    # json's parser raised RecursionError, a traceback from the split check.
    root = tmp_path / "data"
    shutil.copytree(cylinder_root, root)
    (root / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    assert refused_lines(compose_config(mesh_overrides(root, tmp_path))) == [
        f"data.path: {root / 'manifest.json'}: the manifest is not valid JSON (nested too deeply)"]
    assert not (tmp_path / "run").exists()


def test_vtk_folder_takes_3d_force_directions_without_a_plus(cylinder_root, tmp_path):
    # The group had no drag_direction: 'Key 'drag_direction' is not in struct' unless added with '+'.
    base = ["data=vtk_folder", f"data.path={cylinder_root}", "data.volume_fields=[U,p]", "data.surface_fields=[p]",
            "data.surface_file=wall.vtp", "data.conditions=[U]", f"data.cache_dir={tmp_path / 'cache'}",
            f"output_dir={tmp_path / 'run'}", *TINY_LRSA, *QUIET]
    forces = ["data.forces.enabled=true", "data.forces.angle_of_attack_deg=null"]
    config = compose_config([*base, *forces, "data.forces.drag_direction=[1,0,0]", "data.forces.lift_direction=[0,0,1]",
                             "data.forces.reference_area=2.5"])
    validate_config(config)
    settings = ForceSettings.from_config(config.data.forces)
    assert (settings.drag_direction, settings.lift_direction, settings.reference_area) == ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], 2.5)
    # The defaults stay the 2D integral (chord and span in the plane of the first two coordinates).
    default = ForceSettings.from_config(compose_config([*base, *forces]).data.forces)
    assert default == ForceSettings(pressure="p", wall_shear=None, wall_shear_sign=-1.0, speed="U", angle_of_attack_deg=None,
                                    chord=1.0, span=1.0)
    assert default.drag_direction is None and default.lift_direction is None and default.reference_area is None
    # One direction alone is refused naming the pair.
    (line,) = refused_lines(compose_config([*base, *forces, "data.forces.drag_direction=[1,0,0]"]))
    assert line.startswith("data.forces: ") and "drag_direction and lift_direction are given together" in line, line


def test_unknown_keys_in_a_user_yaml_are_named_with_the_nearest_known_key(darcy_folder, tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "defaults:\n  - config\n  - _self_\n"
        "training:\n  epochs: 3\n  lr: 0.01\n"
        "data:\n  max_train_sample: 4\n"
        "logging:\n  tensorboard:\n    dri: somewhere\n"
    )
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        config = compose(config_name="mine", overrides=[f"hydra.searchpath=[file://{CONFIG_DIR}]",
                                                        f"data.path={darcy_folder}", f"output_dir={tmp_path / 'run'}"])
    assert [line.split(" (fix its name")[0] for line in refused_lines(config)] == [
        "data.max_train_sample: unknown key, which nothing reads; the nearest known key is data.max_train_samples",
        "training.lr: unknown key, which nothing reads; the nearest known key is training.optimizer.lr",
        "logging.tensorboard.dri: unknown key, which nothing reads; the nearest known key is logging.tensorboard.dir",
    ]


def test_the_schemas_hold_every_preset_key_and_require_only_what_every_preset_sets(darcy_folder, cylinder_root, tmp_path):
    # A data preset's keys are fields of its kind's schema; a field without a default is set by every preset of that kind.
    for path in sorted((Path(CONFIG_DIR) / "data").glob("*.yaml")):
        preset = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        fields = {item.name: item for item in dataclasses.fields(DATA_SCHEMAS[preset["kind"]])}
        assert preset.keys() <= fields.keys(), path.name
        assert {name for name, item in fields.items() if item.default == "???"} <= preset.keys(), path.name
    # mesh_cache_config passes every MeshCacheConfig field on, so each is a data key, preset or not.
    assert {item.name for item in dataclasses.fields(MeshCacheConfig)} <= {item.name for item in dataclasses.fields(MeshData)}
    config = compose_config(mesh_overrides(cylinder_root, tmp_path, "+data.dimension=2", "+data.geometry_block=null"))
    validate_config(config)
    # Every training, schedule and logging preset composes and passes: none has a key the schema lacks or lacks one it needs.
    for preset in ("training/scheduler=cosine", "training/scheduler=constant", "logging=all", "logging=mlflow",
                   "logging=console", "training=airfoil"):
        validate_config(compose_config(darcy_overrides(darcy_folder, tmp_path / "run", preset)))


def test_training_cuda_graphs_is_a_known_bool_that_defaults_to_off(darcy_folder, tmp_path):
    assert Training.cuda_graphs is False
    validate_config(compose_config(darcy_overrides(darcy_folder, tmp_path / "run", "++training.cuda_graphs=false")))
    on = compose_config(darcy_overrides(darcy_folder, tmp_path / "run", "++training.cuda_graphs=true"))
    if torch.cuda.is_available():
        validate_config(on)
    else:  # the captured step records GPU kernels: refused here, in one line naming the key
        assert [line.split(",")[0] for line in refused_lines(on)] == ["training.cuda_graphs: true"]
    without = compose_config(darcy_overrides(darcy_folder, tmp_path / "run"))
    OmegaConf.set_struct(without, False)
    without.training.pop("cuda_graphs", None)
    validate_config(without)  # a config from before the key existed reads it as off
    assert refused_lines(compose_config(darcy_overrides(darcy_folder, tmp_path / "run", "++training.cuda_graphs=1"))) == [
        "training.cuda_graphs: expected true or false, got 1"]


@pytest.mark.parametrize(
    "override, line",
    [
        # OmegaConf would convert these; the run reads the value as given, so each is refused.
        ("training.resume=yes", "training.resume: expected true or false, got 'yes'"),
        ("training.epochs='3'", "training.epochs: expected an integer >= 1, got '3'"),
        ("training.grad_clip_norm='1.0'", "training.grad_clip_norm: expected a number > 0.0 or null, got '1.0'"),
        ("data.name=5", "data.name: expected a non-empty string, got 5"),
        ("model.time_input=1", "model.time_input: expected true or false, got 1"),
        ("model.n_layers=2.5", "model.n_layers: expected an integer, got 2.5"),
        ("training.optimizer.lr='0.1'", "training.optimizer.lr: expected a number > 0.0, got '0.1'"),
        ("+model.n_layer=2", "model.n_layer: modulus_lrsa.models.LRSA takes no argument 'n_layer'; the nearest it takes "
                             "is model.n_layers"),
        ("~training.seed", "training.seed: is missing from the config"),
        ("training.optimizer=null", "training.optimizer: expected a mapping (_target_, _partial_, lr, ...), got None"),
    ],
)
def test_values_omegaconf_would_convert_and_keys_the_schema_lacks_are_refused_in_one_line(
    darcy_folder, tmp_path, override, line
):
    (problem,) = refused_lines(compose_config(darcy_overrides(darcy_folder, tmp_path / "run", override)))
    assert problem.startswith(line)


def test_settings_behind_a_switch_that_is_off_are_not_read(darcy_folder, cylinder_root, tmp_path):
    # logging.mlflow is off in the tensorboard preset: its settings are not read, so they are not checked.
    validate_config(compose_config(darcy_overrides(darcy_folder, tmp_path / "run", "logging.mlflow.experiment_name=null")))
    assert refused_lines(compose_config(darcy_overrides(
        darcy_folder, tmp_path / "run", "logging=mlflow", "logging.mlflow.experiment_name=null"))) == [
        "logging.mlflow.experiment_name: expected a non-empty string, got None"]
    # Enabled lift and drag need every setting ForceSettings takes; disabled, none but the switch.
    assert refused_lines(compose_config(mesh_overrides(cylinder_root, tmp_path, "~data.forces.chord"))) == [
        "data.forces.chord: is required when data.forces.enabled is true"]
    validate_config(compose_config(mesh_overrides(cylinder_root, tmp_path, "~data.forces.chord", "data.forces.enabled=false")))
    # A key that nothing reads is named whatever the switch says.
    (line,) = refused_lines(compose_config(mesh_overrides(cylinder_root, tmp_path, "data.forces.enabled=false",
                                                          "+data.forces.chrod=1")))
    assert line.startswith("data.forces.chrod: unknown key, which nothing reads; the nearest known key is data.forces.chord")


def test_a_subclass_of_lrsa_may_be_sharded_and_the_checks_do_not_import_the_models(darcy_folder, tmp_path):
    overrides = [override for override in darcy_overrides(darcy_folder, tmp_path / "run") if not override.startswith("model.")]
    overrides += ["model._target_=modulus_lrsa.models.ablations.TiedLRSA", "model.n_layers=1", "model.n_hidden=16",
                  "model.n_head=2", "model.n_latents=4", "training.domain_parallel_size=2", "data.view=points"]
    validate_config(compose_config(overrides), world_size=2)
    # The training checks reach the model by its _target_ only (issue 30: training does not import models).
    for module in (config_module, schema_module):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [name for name in imported if name.startswith("modulus_lrsa.models")], module.__name__


# ------------------------------------------------------- values checked where they enter


@pytest.mark.parametrize(
    "override, key",
    [
        ("training.optimizer.lr=inf", "training.optimizer.lr"),
        ("training.grad_clip_norm=inf", "training.grad_clip_norm"),
        ("training.time_limit_minutes=inf", "training.time_limit_minutes"),
        ("training.scheduler.div_factor=inf", "training.scheduler.div_factor"),
        ("training.scheduler.pct_start=nan", "training.scheduler.pct_start"),
        ("model.dropout=nan", "model.dropout"),
        ("data.forces.span=inf", "data.forces.span"),
        ("data.test_fraction=nan", "data.test_fraction"),
    ],
)
def test_non_finite_settings_are_refused_in_one_line(darcy_folder, cylinder_root, tmp_path, override, key):
    mesh = override.startswith("data.")
    config = compose_config(mesh_overrides(cylinder_root, tmp_path, override) if mesh
                            else darcy_overrides(darcy_folder, tmp_path / "run", override))
    with pytest.raises(ConfigError) as refused:
        run_training(config)
    assert str(refused.value).split("\n")[1:] == [f"  {key}: expected a finite number, got {override.split('=')[1]}"]
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_volume_points_zero_is_refused_before_anything_is_written(cylinder_root, tmp_path):
    # Volume targets only: 0 points per case used to train on nothing and stop with a NaN/shape error.
    config = compose_config(["data=vtk_folder", f"data.path={cylinder_root}", f"data.cache_dir={tmp_path / 'cache'}",
                             "data.volume_fields=[p]", "data.volume_file=internal.vtu", "data.volume_points=0",
                             f"output_dir={tmp_path / 'run'}", "training.epochs=1", "training.batch_size=2",
                             *TINY_LRSA, *QUIET])
    with pytest.raises(ConfigError, match=r"data\.volume_points: expected an integer >= 1 or null, got 0 .*"
                                          r"to train without them, set data\.volume_fields=\[\]"):
        run_training(config)
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "extra, key",
    [
        (["data.surface_points=0"], "data.surface_points"),
        (["data.test_fraction=1.0"], "data.test_fraction"),
        (["+data.dimension=4"], "data.dimension"),
        (["data.free_stream.length=-1"], "data.free_stream.length"),
        (["data.free_stream.speed=Uinf"], "data.free_stream.speed"),
        (["data.free_stream.fields.U=speedy"], "data.free_stream.fields"),
        (["data.forces.speed=Uinf"], "data.forces.speed"),
        (["data.forces.pressure=pp"], "data.forces.pressure"),
        (["data.split_seed=abc"], "data.split_seed"),
        (["data.case_pattern=[1]"], "data.case_pattern"),
        (["data.train_split=nosuch"], "data.train_split"),
        (["training.optimizer.betas=[2,3]"], "training.optimizer"),
        (["training.optimizer._target_=torch.optim.Nope"], "training.optimizer"),
        (["training/scheduler=constant", "training.scheduler.factor=2"], "training.scheduler"),
        (["logging.level=LOUD"], "logging.level"),
        (["experiment_name=null"], "experiment_name"),
    ],
)
def test_settings_once_refused_after_output_dir_existed_are_refused_before(
    darcy_folder, cylinder_root, tmp_path, extra, key
):
    config = compose_config(mesh_overrides(cylinder_root, tmp_path, *extra) if key.startswith("data.")
                            else darcy_overrides(darcy_folder, tmp_path / "run", *extra))
    with pytest.raises(ConfigError) as refused:
        run_training(config)
    (problem,) = str(refused.value).split("\n")[1:]
    assert problem.startswith(f"  {key}: ")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_an_output_dir_that_cannot_be_a_folder_is_refused(darcy_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty output_dir would have meant the launch folder
    assert refused_lines(compose_config(darcy_overrides(darcy_folder, tmp_path, "output_dir=''"))) == [
        "output_dir: expected a folder for the run, got ''"]
    (tmp_path / "taken").write_text("a file")
    (line,) = refused_lines(compose_config(darcy_overrides(darcy_folder, tmp_path / "taken" / "run")))
    assert line.startswith("output_dir: ") and "is a file" in line
    assert list(tmp_path.iterdir()) == [tmp_path / "taken"]


@contextlib.contextmanager
def unwritable(folder: Path):
    """``folder`` made read-only in a way root cannot write through either (``chattr +i`` under root)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    else:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root, and chattr +i (which root cannot write through) is unavailable here")
        undo = [chattr, "-i", str(folder)]
    try:
        yield folder
    finally:
        subprocess.run(undo, check=True)


def test_a_read_only_data_path_says_to_set_the_cache_dir_before_anything_is_written(cylinder_root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(cylinder_root, data)
    config = compose_config(mesh_overrides(data, tmp_path, f"data.cache_dir={data / '.cache'}"))
    with unwritable(data):
        with pytest.raises(ConfigError) as refused:
            run_training(config)
    assert str(refused.value).split("\n")[1:] == [
        f"  data.cache_dir: {data / '.cache'} cannot be created: {data} is not writable (a read-only data.path?); "
        "set data.cache_dir to a writable folder, e.g. data.cache_dir=/tmp/lrsa_cache"]
    assert not (tmp_path / "run").exists() and not (data / ".cache").exists()
    # Under a file, a cache folder cannot be made either.
    cache_dir = data / "manifest.json" / "cache"
    assert refused_lines(compose_config(mesh_overrides(data, tmp_path, f"data.cache_dir={cache_dir}"))) == [
        f"data.cache_dir: {cache_dir} cannot be created: {data / 'manifest.json'} is not a folder; set "
        "data.cache_dir to a writable folder, e.g. data.cache_dir=/tmp/lrsa_cache"]


# ----------------------------------------------------------- relaunch and dataset lock


def test_a_relaunch_with_fewer_epochs_than_its_checkpoint_is_refused_and_changes_nothing(darcy_folder, tmp_path):
    output_dir = tmp_path / "run"
    run_training(compose_config(darcy_overrides(darcy_folder, output_dir, "training.epochs=3")))
    before = files_of(output_dir)
    with pytest.raises(ConfigError) as refused:
        run_training(compose_config(darcy_overrides(darcy_folder, output_dir, "training.epochs=2")))
    assert str(refused.value) == (
        f"training.epochs: 2 is below epoch 3 of the newest checkpoint in {output_dir / 'checkpoints'}, so this launch "
        "would end that run without training; raise training.epochs to at least 3 (3 keeps the run as it is, more "
        "extends it), or choose another output_dir to train 2 epoch(s) from scratch"
    )
    assert files_of(output_dir) == before
    # The same number of epochs is the finished run itself: nothing to do, nothing refused.
    assert run_training(compose_config(darcy_overrides(darcy_folder, output_dir, "training.epochs=3")))["epochs"] == 3


def test_a_dataset_that_a_generator_is_writing_is_refused_naming_the_writer(darcy_folder, tmp_path):
    config = compose_config(darcy_overrides(darcy_folder, tmp_path / "run"))
    with hold_dataset_lock(darcy_folder, "lrsa-data darcy"):
        lines = refused_lines(config)
        with pytest.raises(ConfigError):
            run_training(config)
    assert len(lines) == 1
    assert lines[0].startswith(f"data.path: {darcy_folder.resolve()} is being written by lrsa-data darcy "
                               f"(pid {os.getpid()} on host {socket.gethostname()}, since ")
    assert "wait for it to finish" in lines[0]
    assert not (tmp_path / "run").exists()
    validate_config(config)  # the generator has finished: the same launch goes ahead


# --------------------------------------------------------------------- fuzzing

#: Values a person or a script could put in any key: wrong types, NaN/Inf, negatives, ``???``.
HOSTILE_VALUES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 1, -0.5, 0.5, 1e308, 2**63, "", "abc", "???",
                     "${nosuch.key}", "${data.path}", "${output_dir}", True, False, None, [], [1, "x"], ["p"],
                     {"a": 1}, "U[0,1", "p", "cell", "/", "/nonexistent", "\n"]),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
#: ``_target_`` values: imported by the checks, so only names that are safe to import.
TARGETS = st.sampled_from(["torch.optim.Nope", "nosuch_module.Class", "torch.optim.SGD", "torch.optim.AdamW",
                           "modulus_lrsa.models.LRSA", "torch.optim.lr_scheduler.ConstantLR", "", "torch.zeros"])
NEW_KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
PROBLEM_LINE = re.compile(r"^  [A-Za-z_]\w*(?:\.\w+|\[\d+\])*: \S")


def _paths(node, prefix=""):
    """Dotted paths of every key below ``node``: (path, is a mapping)."""
    for key in node.keys():
        path = f"{prefix}.{key}" if prefix else str(key)
        child = node._get_node(key)
        mapping = isinstance(child, DictConfig) and not child._is_none() and not child._is_interpolation()
        yield path, mapping
        if mapping:
            yield from _paths(child, path)


@st.composite
def mutations(draw, paths):
    operations = []
    for _ in range(draw(st.integers(1, 3))):
        path, is_mapping = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["set", "set", "delete", "add"] if is_mapping else ["set", "set", "delete"]))
        if kind == "set":
            value = draw(TARGETS if path.endswith("_target_") else HOSTILE_VALUES)
        else:
            value = draw(NEW_KEYS) if kind == "add" else None
        operations.append((kind, path, value))
    return operations


def _mutated(base: DictConfig, operations) -> DictConfig:
    config = copy.deepcopy(base)
    OmegaConf.set_struct(config, False)
    for kind, path, value in operations:
        parent_path, _, leaf = path.rpartition(".")
        parent = OmegaConf.select(config, parent_path, throw_on_resolution_failure=False) if parent_path else config
        if not isinstance(parent, DictConfig) or leaf not in parent:
            continue  # an earlier operation removed or replaced it
        if kind == "delete":
            del parent[leaf]
        elif kind == "add":
            node = parent[leaf] if OmegaConf.is_dict(parent._get_node(leaf)) else None
            if isinstance(node, DictConfig):
                node[value] = 1
        else:
            parent[leaf] = value
    return config


@pytest.fixture(scope="module")
def base_configs(darcy_folder, cylinder_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    configs = [compose_config(darcy_overrides(darcy_folder, root / "run")),
               compose_config(mesh_overrides(cylinder_root, root))]
    for config in configs:
        validate_config(config)  # the unmutated configs pass
    return root, [(config, [path for path in _paths(config) if not path[0].startswith("hydra")]) for config in configs]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_configs_are_accepted_or_refused_one_key_per_line(base_configs, data):
    root, bases = base_configs
    base, paths = bases[data.draw(st.integers(0, len(bases) - 1))]
    config = _mutated(base, data.draw(mutations(paths)))
    try:
        validate_config(config)
    except ConfigError as error:
        head, *lines = str(error).split("\n")
        assert head == "invalid configuration:" and lines
        for line in lines:
            assert PROBLEM_LINE.match(line), line
    assert not (root / "run").exists() and not (root / "cache").exists()  # checks never write


#: Characters that matter to the field-selector parser and to Hydra's override grammar.
SELECTOR_TEXT = st.text(alphabet="[](){}'\",\\ $Up0123_.=+~:\t", max_size=16)
FIELD_KEYS = st.sampled_from(["data.volume_fields=", "+data.surface_fields=", "++data.volume_fields=",
                              "~data.volume_fields=", "data.conditions=", "training.epochs=", "volume_fields="])


@settings(max_examples=300, deadline=None)
@given(key=FIELD_KEYS, value=SELECTOR_TEXT)
def test_fuzzed_field_overrides_become_hydra_lists_or_one_line_errors(key, value):
    argument = key + value
    try:
        (rewritten,) = quote_field_selectors([argument])
    except FieldOverrideError as error:
        message = str(error)
        assert message and "\n" not in message, message
        return
    if rewritten == argument:
        return  # not a field list (or null, empty, an interpolation): Hydra reads it as it is
    assert re.fullmatch(r"[+~]{0,2}[\w.]*_fields=\[.*\]", rewritten, flags=re.S), rewritten
    (override,) = OverridesParser.create().parse_overrides([rewritten])
    selectors = override.value()
    assert isinstance(selectors, list) and all(isinstance(item, str) and item for item in selectors), selectors


@pytest.mark.parametrize(
    "argument, selectors",
    [
        ("data.volume_fields=a\\", ["a\\"]),  # a trailing backslash no longer eats the closing quote
        ("data.volume_fields=['a\"b',p]", ['a"b', "p"]),
        ("data.volume_fields=x\\y,U[0,1]", ["x\\y", "U[0,1]"]),
        ("data.surface_fields=''", []),
        ("data.volume_fields='a\\',p", ["'a\\'", "p"]),  # quoted, but not plainly: taken as typed
    ],
)
def test_backslashes_and_quotes_in_a_selector_reach_hydra_as_typed(argument, selectors):
    (rewritten,) = quote_field_selectors([argument])
    (override,) = OverridesParser.create().parse_overrides([rewritten])
    assert override.value() == selectors


def test_a_field_list_with_a_line_break_is_refused_in_one_line():
    argument = "data.volume_fields=[U[0,1],p\n"
    with pytest.raises(FieldOverrideError) as refused:
        quote_field_selectors([argument])
    assert str(refused.value) == (f"{argument!r}: unbalanced brackets or quotes; "
                                  "write it as data.volume_fields='[U[0,1],p]'")
