# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Domain-parallel LRSA: 2 and 3 gloo processes on CPU equal one process.

Every rank builds the same model and the same full inputs from one seed, runs the
single-process model on all points for the reference, and the domain-parallel model on
its own shard; forward outputs, parameter gradients and input gradients must agree.
Exactness is shown in float64, to 1e-9 (masks, weights, uneven and empty shards). In
float32, what users run, the two agree within float32 rounding: at logit scale 10 a single
process alone is up to 1e-3 off its float64 result on these inputs, so the sharded sum
order moves gradients by about 1e-5 (the tolerance is 5e-5). One spawn per world size
runs all cases (process start-up dominates).
"""

import contextlib
import faulthandler
import os
import sys
import tempfile

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

TOL = dict(atol=5e-5, rtol=1e-5)


def _model(**overrides):
    from modulus_lrsa.models import LRSA

    torch.manual_seed(0)
    args = dict(functional_dim=2, out_dim=3, embedding_dim=2, n_layers=2, n_hidden=32,
                n_head=4, n_latents=8)
    args.update(overrides)
    return LRSA(**args)


def _inputs(n_points, batch=2, masked=False, weighted=False, seed=1):
    generator = torch.Generator().manual_seed(seed)
    fx = torch.randn(batch, n_points, 2, generator=generator)
    coords = torch.rand(batch, n_points, 2, generator=generator)
    mask = weights = None
    if masked:
        mask = torch.ones(batch, n_points, dtype=torch.bool)
        mask[1, n_points // 3:] = False  # sample 1: the later shards hold only padding
        mask[0, ::7] = False
    if weighted:
        weights = torch.rand(batch, n_points, generator=generator) * 3 + 0.05
    return fx, coords, mask, weights


def _split(tensor, sizes, rank):
    if tensor is None:
        return None
    start = sum(sizes[:rank])
    return tensor[:, start:start + sizes[rank]]


@contextlib.contextmanager
def _float64():
    """Run in float64 (RMS norms and log-weights too: they compute in at least float32),
    so that rounding cannot hide a wrong gradient: the sharded result must then agree to
    1e-9, far below what float32 rounding allows."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield dict(atol=1e-9, rtol=1e-9)
    finally:
        torch.set_default_dtype(default)


def _check_case(rank, sizes, *, masked, weighted, time_input=False, checkpointing=False, float64=False):
    """Forward and backward of one sharding against the single-process model."""
    if float64:
        with _float64() as tolerance:
            return _compare(rank, sizes, masked, weighted, time_input, checkpointing, tolerance)
    return _compare(rank, sizes, masked, weighted, time_input, checkpointing, TOL)


def _compare(rank, sizes, masked, weighted, time_input, checkpointing, tol):
    from modulus_lrsa.models import DomainParallelLRSA

    model = _model(time_input=time_input, activation_checkpointing=checkpointing).train()
    fx, coords, mask, weights = _inputs(sum(sizes), masked=masked, weighted=weighted)
    time = torch.tensor([0.3, 0.7]) if time_input else None
    target = torch.randn(2, sum(sizes), 3, generator=torch.Generator().manual_seed(5))
    real = torch.ones(2, sum(sizes)) if mask is None else mask.float()

    count = real.sum()  # the loss: mean squared error over all real points of the mesh

    fx_full = fx.clone().requires_grad_(True)
    reference = model(fx_full, coords, time, mask=mask, weights=weights)
    ((reference - target) ** 2 * real[..., None]).sum().div(count).backward()
    reference_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()

    sharded = DomainParallelLRSA(model)
    fx_local = _split(fx, sizes, rank).clone().requires_grad_(True)
    out = sharded(fx_local, _split(coords, sizes, rank), time,
                  mask=_split(mask, sizes, rank), weights=_split(weights, sizes, rank))
    local_real = _split(real, sizes, rank)
    torch.testing.assert_close(out * local_real[..., None],
                               _split(reference, sizes, rank).detach() * local_real[..., None], **tol)
    # The global loss is the sum of each rank's share.
    ((out - _split(target, sizes, rank)) ** 2 * local_real[..., None]).sum().div(count).backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, reference_grads[name], **tol, msg=lambda m, name=name: f"{name}: {m}")
    torch.testing.assert_close(fx_local.grad, _split(fx_full.grad, sizes, rank), **tol)
    model.zero_grad()


def _check_chunked_inference(rank, sizes):
    from modulus_lrsa.models import DomainParallelLRSA

    model = _model().eval()
    fx, coords, mask, weights = _inputs(sum(sizes), masked=True, weighted=True)
    with torch.no_grad():
        reference = model(fx, coords, mask=mask, weights=weights)
        out = DomainParallelLRSA(model)(_split(fx, sizes, rank), _split(coords, sizes, rank),
                                        mask=_split(mask, sizes, rank),
                                        weights=_split(weights, sizes, rank), chunk_size=7)
    local_mask = _split(mask, sizes, rank)
    torch.testing.assert_close(out[local_mask], _split(reference, sizes, rank)[local_mask], **TOL)


def _check_unreduced_gradients(rank, sizes):
    """reduce_gradients=False leaves each rank's share: their sum is the full gradient
    (what a data x domain trainer reduces in one all-reduce)."""
    from modulus_lrsa.models import DomainParallelLRSA

    model = _model()
    fx, coords, mask, weights = _inputs(sum(sizes), masked=True, weighted=True)
    model(fx, coords, mask=mask, weights=weights).mean().backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    out = DomainParallelLRSA(model, reduce_gradients=False)(
        _split(fx, sizes, rank), _split(coords, sizes, rank), mask=_split(mask, sizes, rank),
        weights=_split(weights, sizes, rank))
    out.sum().div(2 * sum(sizes) * out.shape[-1]).backward()  # this rank's share of the mean
    shares = {n: p.grad.clone() for n, p in model.named_parameters()}
    assert any(not torch.allclose(shares[n], reference[n], atol=1e-6) for n in shares)  # a share is not the whole
    for name, share in shares.items():
        dist.all_reduce(share)
        torch.testing.assert_close(share, reference[name], **TOL, msg=lambda m, name=name: f"{name}: {m}")


def _check_bf16_autocast(rank, sizes):
    """Under bf16 autocast the statistics travel in float32; outputs match one process
    at bf16 precision."""
    from modulus_lrsa.models import DomainParallelLRSA

    model = _model().eval()
    fx, coords, mask, weights = _inputs(sum(sizes), masked=True, weighted=True)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        reference = model(fx, coords, mask=mask, weights=weights).float()
        out = DomainParallelLRSA(model)(_split(fx, sizes, rank), _split(coords, sizes, rank),
                                        mask=_split(mask, sizes, rank), weights=_split(weights, sizes, rank))
    local_mask = _split(mask, sizes, rank)
    torch.testing.assert_close(out.float()[local_mask], _split(reference, sizes, rank)[local_mask], atol=3e-2, rtol=3e-2)


def _check_shard_tensor(rank, sizes):
    """ShardTensor in, ShardTensor out (uneven shards), gradients through to_local."""
    from physicsnemo.domain_parallel import ShardTensor
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.placement_types import Shard

    from modulus_lrsa.models import DomainParallelLRSA

    mesh = init_device_mesh("cpu", (dist.get_world_size(),), mesh_dim_names=("domain",))
    model = _model()
    fx, coords, _, weights = _inputs(sum(sizes), weighted=True)
    reference = model(fx, coords, weights=weights)
    reference.mean().backward()
    reference_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()

    def shard(t):
        # Shapes given explicitly: ShardTensor's "infer" gathers them through CUDA.
        shapes = {0: [(t.shape[0], n, t.shape[-1]) for n in sizes]}
        return ShardTensor.from_local(_split(t, sizes, rank), mesh, [Shard(1)], sharding_shapes=shapes)

    out = DomainParallelLRSA(model, mesh["domain"])(shard(fx), shard(coords), weights=_split(weights, sizes, rank))
    assert isinstance(out, ShardTensor) and out.shape == reference.shape
    torch.testing.assert_close(out.full_tensor(), reference.detach(), **TOL)
    out.to_local().sum().div(reference.numel()).backward()  # this rank's share of the mean
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, reference_grads[name], **TOL, msg=lambda m, name=name: f"{name}: {m}")


def _check_validation_is_collective(rank, world):
    """Bad weights on one rank make every rank raise (none waits in a collective)."""
    from modulus_lrsa.models import DomainParallelLRSA

    model = _model()
    fx, coords, _, weights = _inputs(10 * world, weighted=True)
    sizes = [10] * world
    local_weights = _split(weights, sizes, rank).clone()
    if rank == world - 1:
        local_weights[0, 0] = float("nan")
    with pytest.raises(ValueError, match="weights must be finite"):
        DomainParallelLRSA(model)(_split(fx, sizes, rank), _split(coords, sizes, rank), weights=local_weights)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0] = True  # sample 1 has no real point on any rank
    with pytest.raises(ValueError, match="no real point"):
        DomainParallelLRSA(model)(_split(fx, sizes, rank), _split(coords, sizes, rank), mask=mask)


def _worker(rank, world, init_file, cases):
    # A rare SIGABRT ("terminate called without an active exception") was seen once in
    # ~20 runs; this prints where the process was if it happens again.
    faulthandler.enable()
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        for name, kwargs in cases:
            if name == "case":
                _check_case(rank, **kwargs)
            elif name == "chunked":
                _check_chunked_inference(rank, **kwargs)
            elif name == "unreduced":
                _check_unreduced_gradients(rank, **kwargs)
            elif name == "bf16":
                _check_bf16_autocast(rank, **kwargs)
            elif name == "shard_tensor":
                _check_shard_tensor(rank, **kwargs)
            elif name == "validation":
                _check_validation_is_collective(rank, world)
            dist.barrier()
    finally:
        dist.destroy_process_group()
    # Every check passed: leave without interpreter teardown, where gloo's worker threads
    # can abort the process after the fact (see pytorch/pytorch#179291).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _spawn(world, cases):
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_worker, args=(world, os.path.join(folder, "init"), cases), nprocs=world, join=True)


def test_two_ranks_equal_one_process():
    _spawn(2, [
        ("case", dict(sizes=[60, 60], masked=False, weighted=False, time_input=True)),
        ("case", dict(sizes=[83, 37], masked=True, weighted=True)),
        ("case", dict(sizes=[83, 37], masked=True, weighted=True, float64=True)),
        ("case", dict(sizes=[50, 40], masked=False, weighted=True, checkpointing=True)),
        ("bf16", dict(sizes=[70, 50])),
        ("shard_tensor", dict(sizes=[45, 30])),
        ("validation", {}),
    ])


def test_three_ranks_uneven_shards_masks_weights_and_an_empty_shard():
    _spawn(3, [
        ("case", dict(sizes=[31, 52, 17], masked=True, weighted=True)),
        ("case", dict(sizes=[31, 52, 17], masked=True, weighted=True, float64=True)),
        ("case", dict(sizes=[40, 0, 35], masked=True, weighted=True)),
        ("case", dict(sizes=[40, 0, 35], masked=True, weighted=True, float64=True)),
        ("chunked", dict(sizes=[25, 33, 20])),
        ("unreduced", dict(sizes=[30, 20, 25])),
        ("validation", {}),
    ])


def test_constructor_rejects_structured_grids_and_uninitialised_distributed():
    from modulus_lrsa.models import DomainParallelLRSA

    with pytest.raises(RuntimeError, match="torch.distributed must be initialized"):
        DomainParallelLRSA(_model())
    with pytest.raises(TypeError, match="must be an LRSA"):
        DomainParallelLRSA(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="structured grids"):
        DomainParallelLRSA(_model(structured_shape=(8, 8)))


# ------------------------------------------------------------ lrsa-predict --domain-parallel
@pytest.fixture(scope="module")
def cylinder_model(tmp_path_factory):
    """An exported tiny LRSA and synthetic cylinder cases, as in test_predict (imported
    here, not at module level, so that the spawned workers above stay light)."""
    from synthetic_cfd_cases import cylinder_dataset
    from test_predict import compose_config, export, tiny_lrsa

    from modulus_lrsa.training.data import build_training_data

    root = tmp_path_factory.mktemp("cylinder_domain_parallel")
    cases = cylinder_dataset(root / "cases")
    config = compose_config(["data=airfoil", f"data.path={cases}", f"data.cache_dir={root / 'cache'}"])
    data = build_training_data(config.data, seed=0)
    return export(tiny_lrsa(data), data, root / "model"), cases


def test_lrsa_predict_domain_parallel_on_two_gloo_ranks_writes_the_single_process_prediction(cylinder_model, tmp_path):
    import subprocess
    import sys

    from test_predict import arrays, read

    from modulus_lrsa.inference.predict import main

    model_path, cases = cylinder_model
    case = cases / "cases" / "case_0004"
    assert main([str(model_path), str(case), "-o", str(tmp_path / "single")]) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "modulus_lrsa.inference.predict", str(model_path), str(case), "-o", str(tmp_path / "sharded"),
               "--device", "cpu", "--domain-parallel", "--chunk-points", "50"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("wrote ") == 1  # rank 0 alone reports and writes
    for name in ("volume.vtu", "surface.vtp"):
        single = arrays(read(tmp_path / "single" / name).GetCellData())
        sharded = arrays(read(tmp_path / "sharded" / name).GetCellData())
        predicted = [key for key in single if key.endswith("_predicted")]
        assert "p_predicted" in predicted
        for key in predicted:
            np.testing.assert_allclose(sharded[key], single[key], rtol=1e-5, atol=1e-5)


def test_lrsa_predict_domain_parallel_outside_torchrun_says_how_to_launch(cylinder_model, tmp_path, capsys):
    from modulus_lrsa.inference.predict import main

    model_path, cases = cylinder_model
    env_world = os.environ.pop("WORLD_SIZE", None)
    try:
        assert main([str(model_path), str(cases / "cases" / "case_0004"), "-o", str(tmp_path), "--domain-parallel"]) == 1
    finally:
        if env_world is not None:
            os.environ["WORLD_SIZE"] = env_world
    assert "runs under torchrun" in capsys.readouterr().err
