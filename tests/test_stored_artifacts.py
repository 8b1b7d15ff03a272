# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""A cache and a trainer checkpoint written before the re-layering (issue 14).

Both were written by tests/data/make_pre_refactor_fixtures.py at commit d59a3a1; the
checkpoint's OneCycleLR state is restored as it is, and a schedule state of a scheduler
class that lrsa-train no longer builds (its old cosine LambdaLR) is replayed instead. The
cache (format 1) predates unsigned wall distances (format 2): it is refused with that
reason and rebuilt, to the same arrays, since its cylinder cases are external flows.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from synthetic_cfd_cases import cylinder_dataset

from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.datapipes import MeshCache, MeshCacheConfig, MeshPointDataset, build_cache
from modulus_lrsa.errors import MeshDataError
from modulus_lrsa.training.schedules import build_scheduler, resume_schedule
from modulus_lrsa.training.train import CONFIG_DIR, run_training

DATA = Path(__file__).parent / "data"


def test_a_cache_written_before_unsigned_wall_distances_is_rebuilt_and_says_why(tmp_path, caplog):
    fixture = DATA / "cache_v1"
    with pytest.raises(MeshDataError, match=r"cache_v1.index.json: cache format 1 .*signed the wall distance.*rebuild"):
        MeshCache.open(fixture)
    old = json.loads((fixture / "index.json").read_text())
    # The cases it was built from (make_pre_refactor_fixtures.py), with the cache copied over.
    root = cylinder_dataset(tmp_path / "cylinders", n_cases=3, n_test=1)
    shutil.copytree(fixture, tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="modulus_lrsa.datapipes.cache"):
        cache = build_cache(root, tmp_path / "cache", MeshCacheConfig(**old["settings"]))
    assert "cache format 1" in caplog.text and "rebuilding every case" in caplog.text
    assert cache.index.target_channels == ["U[0]", "U[1]", "p", "nut"]
    # External flows: every cell is outside the cylinder, so nothing changes beyond rounding.
    for case in cache.cases():
        with np.load(fixture / "cases" / case["file"]) as stored:
            arrays = cache.load_case(case)
            assert set(arrays) == set(stored.files)
            for key in stored.files:
                np.testing.assert_allclose(arrays[key], stored[key], atol=1e-6, err_msg=key)
    dataset = MeshPointDataset(cache, split="train", volume_points=16, surface_points=8)
    assert len(dataset) == 2
    sample = dataset[0]
    assert all(np.isfinite(np.asarray(value)).all() for value in sample.values() if isinstance(value, torch.Tensor))


def test_a_trainer_checkpoint_written_before_the_change_resumes(tmp_path):
    fixture = DATA / "train_checkpoint_v1"
    run = json.loads((fixture / "run.json").read_text())
    data, output_dir = tmp_path / "darcy", tmp_path / "run"
    generate_darcy(data, **run["darcy"])
    shutil.copytree(fixture / "checkpoints", output_dir / "checkpoints")
    # The run moved folders: its checkpoint names the data folder it was trained on.
    state_file = output_dir / "checkpoints" / "checkpoint.0.1.pt"
    state = torch.load(state_file, weights_only=False)
    state["metadata"]["fingerprint"]["data"]["settings"]["path"] = str(data.resolve())
    torch.save(state, state_file)

    overrides = [f"data.path={data}", f"output_dir={output_dir}", *run["overrides"], "training.epochs=2"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        result = run_training(compose(config_name="config", overrides=overrides))
    assert result["global_step"] == 4
    assert [entry["epoch"] for entry in result["history"]] == [1, 2]


def test_a_schedule_state_of_an_older_scheduler_class_is_replayed():
    # lrsa-train wrote the cosine schedule as a LambdaLR before schedules were built from _target_.
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        scheduler_cfg = compose(config_name="config", overrides=["training=airfoil"]).training.scheduler
    parameter = torch.nn.Parameter(torch.zeros(1))

    def fresh():
        optimizer = torch.optim.SGD([parameter], lr=1e-3)
        return build_scheduler(scheduler_cfg, optimizer, epochs=10, steps_per_epoch=2, peak_lr=1e-3)

    old_state = {"base_lrs": [1e-3], "last_epoch": 7, "_step_count": 8, "_last_lr": [9e-4],
                 "lr_lambdas": [{"warmup_steps": 10, "total_steps": 20, "floor": 0.01}]}
    resumed = fresh()
    assert resume_schedule(resumed, old_state, 7, same_length=True, restored_groups=[]) == "replayed"
    uninterrupted = fresh()
    for _ in range(7):
        uninterrupted.optimizer.step()
        uninterrupted.step()
    assert resumed.get_last_lr() == uninterrupted.get_last_lr()
    assert resumed.optimizer.param_groups[0]["lr"] == uninterrupted.optimizer.param_groups[0]["lr"]
