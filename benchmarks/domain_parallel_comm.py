# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Collectives and bytes of one domain-parallel training step: PhysicsNeMo's Transolver
(``ShardTensor`` inputs) against :class:`DomainParallelLRSA`, on 2 gloo ranks on CPU.

Every all-reduce reaching the dispatcher is recorded with its tensor sizes (DTensor's
functional collectives and ``torch.distributed``'s alike), in the forward and in the
backward of ``output.sum()``, at 1 and 2 layers; the difference is the cost per block,
the rest the cost per step outside the blocks. Both models at width 128, 8 heads, 64
slices/latents, one sample. The counts do not depend on the number of points.

    .venv/bin/python benchmarks/domain_parallel_comm.py   # writes benchmarks/results/domain_parallel_comm.json
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils._python_dispatch import TorchDispatchMode

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "domain_parallel_comm.json"
WORLD, POINTS_PER_RANK = 2, 256


class AllReduceRecorder(TorchDispatchMode):
    """Records the payload bytes of every all-reduce op dispatched inside the mode."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[int] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if "all_reduce" in name or "allreduce" in name:
            tensors = args[0] if isinstance(args[0], (list, tuple)) else [args[0]]
            self.payloads.append(sum(t.numel() * t.element_size() for t in tensors))
        return func(*args, **(kwargs or {}))


def _step(model_name: str, n_layers: int, rank: int):
    torch.manual_seed(0)
    fx, coords = torch.randn(1, POINTS_PER_RANK, 1), torch.rand(1, POINTS_PER_RANK, 2)
    if model_name == "Transolver":
        from physicsnemo.domain_parallel import ShardTensor, register_custom_ops
        from physicsnemo.models.transolver import Transolver
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor.placement_types import Shard

        register_custom_ops()  # registered on import only when CUDA is present
        mesh = init_device_mesh("cpu", (WORLD,))
        model = Transolver(functional_dim=1, out_dim=1, embedding_dim=2, n_layers=n_layers, n_hidden=128,
                           n_head=8, slice_num=64, mlp_ratio=2, use_te=False)

        def shard(t):
            return ShardTensor.from_local(t, mesh, [Shard(1)], sharding_shapes={0: [tuple(t.shape)] * WORLD})

        return model, lambda: model(shard(fx), shard(coords)).to_local()
    from modulus_lrsa.models import LRSA, DomainParallelLRSA

    model = DomainParallelLRSA(LRSA(functional_dim=1, out_dim=1, embedding_dim=2, n_layers=n_layers,
                                    n_hidden=128, n_head=8, n_latents=64))
    model.model.input_value_checks = "never"  # count the model's own traffic only
    return model, lambda: model(fx, coords)


def _worker(rank: int, init: str, model_name: str, n_layers: int, results: dict) -> None:
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=WORLD)
    try:
        model, run = _step(model_name, n_layers, rank)
        forward, backward = AllReduceRecorder(), AllReduceRecorder()
        with forward:
            out = run()
        with backward:
            out.sum().backward()
        if rank == 0:
            results[(model_name, n_layers)] = dict(
                params=sum(p.numel() for p in model.parameters()),
                forward=dict(calls=len(forward.payloads), bytes=sum(forward.payloads)),
                backward=dict(calls=len(backward.payloads), bytes=sum(backward.payloads)),
            )
    finally:
        dist.destroy_process_group()


def main() -> None:
    record = dict(benchmark=__doc__.splitlines()[0], world=WORLD, width=128, heads=8, latents_or_slices=64, models={})
    with mp.Manager() as manager:
        results = manager.dict()
        for name in ("Transolver", "LRSA"):
            for n_layers in (1, 2):
                with tempfile.TemporaryDirectory() as folder:
                    mp.spawn(_worker, args=(f"{folder}/init", name, n_layers, results), nprocs=WORLD)
        results = dict(results)
    for name in ("Transolver", "LRSA"):
        one, two = results[(name, 1)], results[(name, 2)]
        per_block = {
            phase: {k: two[phase][k] - one[phase][k] for k in ("calls", "bytes")} for phase in ("forward", "backward")
        }
        params_per_block = two["params"] - one["params"]
        record["models"][name] = dict(one_layer=one, two_layers=two, per_block=per_block,
                                      parameter_bytes_per_block=4 * params_per_block)
        print(f"{name:>10}: per block forward {per_block['forward']['calls']} all-reduce(s), "
              f"{per_block['forward']['bytes']:,} B; backward {per_block['backward']['calls']}, "
              f"{per_block['backward']['bytes']:,} B, of which parameter gradients {4 * params_per_block:,} B")
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
