# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``lrsa-train training.domain_parallel_size=k``: gloo processes under torchrun on a
data x domain mesh equal one process at the same global batch.

A 2 x 2 mesh (4 processes) on Darcy point clouds with uneven shards, and a 1 x 2 mesh
on airfoil-like cases (quadrature weights, wall and volume points with their own
channels, so shards hold channels the other shard lacks). After a few optimizer steps
the parameters equal the single-process run's; validation (whole cases, unsharded)
agrees too. Launches that cannot work are refused by name before anything starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import physicsnemo
import pytest
import torch
from synthetic_cfd_cases import cylinder_dataset
from test_training import QUIET, TINY_LRSA, compose_config

from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.errors import ConfigError
from modulus_lrsa.training.config import validate_config
from modulus_lrsa.training.train import run_training

# Plain SGD, unclipped: Adam's normalization and gradient clipping would hide a gradient
# off by a constant factor (a loss counted once per shard, say).
SGD = [
    "training.optimizer._target_=torch.optim.SGD", "~training.optimizer.betas", "training.optimizer.lr=0.05",
    "training.grad_clip_norm=null",
]


def torchrun(n_processes, overrides):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n_processes}",
        "-m", "modulus_lrsa.train", *overrides,
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout + completed.stderr


def parameters(run_dir, name):
    return physicsnemo.Module.from_checkpoint(str(run_dir / "checkpoints" / name)).state_dict()


def max_parameter_difference(one_dir, other_dir, name):
    """Largest absolute parameter difference between two runs' checkpoints ``name``."""
    one, other = parameters(one_dir, name), parameters(other_dir, name)
    assert one.keys() == other.keys()
    for key in one:
        torch.testing.assert_close(other[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    return max(float((other[key] - one[key]).abs().max()) for key in one)


def last_validation(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())["last_validation"]


@pytest.fixture(scope="module")
def darcy_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy_domain") / "data"
    generate_darcy(folder, n_train=8, n_test=4, solve_resolution=9, resolution=9, seed=7)
    return folder


def darcy_overrides(folder, output_dir, *extra):
    # 25 of the 81 nodes per sample and epoch: shards of 13 and 12 points.
    return [
        f"data.path={folder}", f"output_dir={output_dir}", "data.view=points", "data.train_points=25",
        "training.epochs=2", "training.batch_size=4", "training.eval_batch_size=1", "training/scheduler=constant",
        *TINY_LRSA, *SGD, *QUIET, *extra,
    ]


def test_a_2x2_data_by_domain_mesh_matches_one_process(darcy_folder, tmp_path):
    single, mesh = tmp_path / "single", tmp_path / "mesh"
    run_training(compose_config(darcy_overrides(darcy_folder, single)))
    output = torchrun(4, darcy_overrides(darcy_folder, mesh, "training.domain_parallel_size=2"))
    assert "on 4 process(es) (data x domain mesh 2 x 2)" in output

    # 2 epochs of 2 steps; the checkpoint is the plain LRSA's, as in one process.
    difference = max_parameter_difference(single, mesh, "LRSA.0.2.mdlus")
    print(f"2x2 mesh vs one process: max |parameter difference| after 4 steps = {difference:.3g}")
    assert difference < 1e-5
    # ... while the second epoch's two steps moved them by far more than that.
    before, after = parameters(single, "LRSA.0.1.mdlus"), parameters(single, "LRSA.0.2.mdlus")
    moved = max(float((after[key] - before[key]).abs().max()) for key in after)
    print(f"one process, epoch 1 -> 2: max |parameter change| = {moved:.3g}")
    assert moved > 1e-3
    one, four = last_validation(single), last_validation(mesh)
    assert four["val/rel_l2/solution"] == pytest.approx(one["val/rel_l2/solution"], rel=1e-4)
    assert four["train/loss"] == pytest.approx(one["train/loss"], rel=1e-4)
    state = torch.load(mesh / "checkpoints" / "checkpoint.0.2.pt", weights_only=False)
    assert state["metadata"]["world_size"] == 4


@pytest.fixture(scope="module")
def cylinder_root(tmp_path_factory):
    return cylinder_dataset(tmp_path_factory.mktemp("cylinders_domain"))


def airfoil_overrides(root, cache_dir, output_dir, *extra, epochs=2):
    # 23 volume cells and 8 wall faces per case: shards of 16 (volume only) and 15 points.
    return [
        "data=airfoil", f"data.path={root}", f"data.cache_dir={cache_dir}",
        "data.volume_points=23", "data.surface_points=8", f"output_dir={output_dir}",
        "training=airfoil", f"training.epochs={epochs}", "training.batch_size=2", "training.validate_every_epochs=1",
        "training.checkpoint_every_epochs=1", "training.scheduler.warmup_epochs=1",
        *TINY_LRSA, *SGD, *QUIET, *extra,
    ]


def test_a_1x2_domain_mesh_with_weights_and_wall_channels_matches_one_process(cylinder_root, tmp_path, caplog):
    single, mesh, cache = tmp_path / "single", tmp_path / "mesh", tmp_path / "cache"
    run_training(compose_config(airfoil_overrides(cylinder_root, cache, single)))
    output = torchrun(2, airfoil_overrides(cylinder_root, cache, mesh, "training.domain_parallel_size=2"))
    assert "on 2 process(es) (data x domain mesh 1 x 2)" in output

    difference = max_parameter_difference(single, mesh, "LRSA.0.2.mdlus")
    print(f"1x2 mesh vs one process: max |parameter difference| after 4 steps = {difference:.3g}")
    assert difference < 1e-5
    one, two = last_validation(single), last_validation(mesh)
    for key in ("val/rel_l2/mean", "val/surface_rel_l2/p", "val/Cl_abs_error", "train/loss"):
        assert two[key] == pytest.approx(one[key], rel=1e-4), key

    # The mesh's checkpoints are a plain LRSA's: one process resumes them for a third epoch
    # and ends where the single-process run does.
    for run_dir in (single, mesh):
        caplog.clear()
        run_training(compose_config(airfoil_overrides(cylinder_root, cache, run_dir, epochs=3)))
        assert "resumed from" in caplog.text and "at epoch 2" in caplog.text
    difference = max_parameter_difference(single, mesh, "LRSA.0.3.mdlus")
    print(f"resumed in one process: max |parameter difference| after 6 steps = {difference:.3g}")
    assert difference < 1e-5


def test_a_world_that_does_not_split_into_domain_groups_is_refused(darcy_folder, tmp_path):
    config = compose_config(darcy_overrides(darcy_folder, tmp_path / "run", "training.domain_parallel_size=2"))
    with pytest.raises(ConfigError, match=r"training\.domain_parallel_size: world size 3 does not split into "
                                          r"domain groups of 2 ranks"):
        validate_config(config, world_size=3)
    # One process asked for 2 shards: refused before anything is written.
    with pytest.raises(ConfigError, match=r"training\.domain_parallel_size: world size 1 "):
        run_training(config)
    assert not (tmp_path / "run").exists()
    # The batch splits over the data groups, not over the ranks.
    validate_config(config, world_size=8)
    with pytest.raises(ConfigError, match=r"training\.batch_size: the global batch 4 does not split evenly over "
                                          r"the 3 data groups"):
        validate_config(config, world_size=6)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["model=transolver", "model.n_layers=1", "model.n_hidden=16", "model.n_head=2", "model.slice_num=4"],
         r"only LRSA models support \(DomainParallelLRSA\); model\._target_ is physicsnemo\.models\.transolver"),
        (["model=flare", "model.n_layers=1", "model.n_hidden=16", "model.n_head=2", "model.slice_num=4"],
         r"only LRSA models support \(DomainParallelLRSA\); model\._target_ is physicsnemo\.models\.flare"),
        (["data.view=grid", "data.train_points=null"], r"shards point clouds only.*use data\.view=points"),
        (["model.dropout=0.1"], r"use model\.dropout=0"),
        (["training.compile=true"], r"torch\.compile does not trace; use training\.compile=false"),
    ],
    ids=["transolver", "flare", "grid", "dropout", "compile"],
)
def test_what_cannot_be_sharded_is_refused_by_name(darcy_folder, tmp_path, extra, reason):
    replaced = {override.split("=")[0] for override in extra}
    overrides = [override for override in darcy_overrides(darcy_folder, tmp_path / "run")
                 if override.split("=")[0] not in replaced and not override.startswith("model.")]
    overrides += ["training.domain_parallel_size=2", *extra]
    with pytest.raises(ConfigError, match=r"training\.domain_parallel_size: 2 .*" + reason):
        validate_config(compose_config(overrides), world_size=2)
