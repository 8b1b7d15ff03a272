# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Training over a data x domain mesh: ``training.domain_parallel_size=k``.

A ``torchrun`` world of ``W`` ranks becomes a 2-D ``DeviceMesh`` of shape
``(W / k, k)``, dims ``("data", "domain")``. Rank ``r`` sits at
``(r // k, r % k)``, so a domain group is ``k`` consecutive ranks: the group that
communicates every block stays within a node when ``k`` divides the GPUs per node.

* Data: the sampler and the global batch are split over the ``W / k`` data groups
  only; every rank of a domain group loads the same samples and keeps a contiguous
  shard of their points (:meth:`DomainParallelism.shard`, uneven shards allowed;
  ``mask``, ``weights`` and every other per-point tensor are cut with the points).
* Model: the model's own domain-parallel wrapper over the domain group (LRSA's
  :class:`~modulus_lrsa.models.DomainParallelLRSA`), reached through
  :class:`~modulus_lrsa.distributed.SupportsDomainParallel` rather than an import of
  the model, with ``reduce_gradients=False``: after the backward each rank holds its
  own share of the gradient of its data group's loss.
* Loss: the per-sample sums of squares are summed over the domain group
  (:func:`~modulus_lrsa.training.metrics.sum_over_shards`), so every rank of a group
  computes the single-process loss of its samples.
* Gradients: :meth:`DomainParallelism.average_gradients`, one all-reduce over the
  whole mesh, then a division by ``W / k``. That is the sum over a domain group's
  shares (the group's full gradient) averaged over the data groups, what DDP over
  the data dim would give after the domain reduction, in one collective instead of
  two and without DDP's hooks meeting the model's own gradient bridge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from modulus_lrsa.datapipes.collate import POINT_KEYS
from modulus_lrsa.distributed import SupportsDomainParallel, shard_sizes
from modulus_lrsa.errors import ConfigError

#: Names of the mesh dims, PhysicsNeMo's convention for ShardTensor meshes.
MESH_DIMS = ("data", "domain")


@dataclass(frozen=True)
class DomainParallelism:
    """This rank's place on the data x domain mesh.

    Attributes
    ----------
    mesh : DeviceMesh
        The 2-D mesh, dims :data:`MESH_DIMS`.
    data_rank, data_size : int
        This rank's data group and the number of groups (the data replicas).
    domain_rank, domain_size : int
        This rank's shard within its group and the shards per sample (``k``).
    """

    mesh: DeviceMesh
    data_rank: int
    data_size: int
    domain_rank: int
    domain_size: int

    @classmethod
    def start(cls, domain_size: int, world_size: int, device: torch.device) -> DomainParallelism:
        """Build the mesh (a collective: every rank calls it) once the world group is up.

        Raises
        ------
        ConfigError
            ``world_size`` is not a multiple of ``domain_size``.
        """
        if domain_size < 1 or world_size % domain_size:
            raise ConfigError(
                f"training.domain_parallel_size: world size {world_size} does not split into domain groups "
                f"of {domain_size} ranks; the world size must be a multiple of {domain_size}"
            )
        mesh = init_device_mesh(device.type, (world_size // domain_size, domain_size), mesh_dim_names=MESH_DIMS)
        return cls(
            mesh=mesh,
            data_rank=mesh.get_local_rank("data"),
            data_size=world_size // domain_size,
            domain_rank=mesh.get_local_rank("domain"),
            domain_size=domain_size,
        )

    @property
    def domain_group(self) -> dist.ProcessGroup:
        """The ranks that share this rank's samples."""
        return self.mesh.get_group("domain")

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` with rank 0's parameters everywhere, sharded over the domain group.

        Returns
        -------
        torch.nn.Module
            The model's domain-parallel wrapper, an :class:`~modulus_lrsa.distributed.Unwrappable`.

        Raises
        ------
        ConfigError
            The model cannot be sharded (no ``domain_parallel``, i.e. not an LRSA, or a structured grid).
        """
        if not isinstance(model, SupportsDomainParallel):
            raise ConfigError(
                f"training.domain_parallel_size: {self.domain_size} shards each sample's points, which only LRSA "
                f"models support; {type(model).__name__} trains with training.domain_parallel_size=1"
            )
        # Every rank seeded its own initialization; the replicas must start equal (as DDP does).
        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                dist.broadcast(tensor, src=0)
        try:
            return model.domain_parallel(self.mesh["domain"], reduce_gradients=False)
        except ValueError as error:
            raise ConfigError(f"training.domain_parallel_size: {error}") from error

    def shard(self, batch: dict[str, Any]) -> dict[str, Any]:
        """This rank's contiguous part of every per-point tensor of ``batch`` (B, N, ...).

        The split is :func:`~modulus_lrsa.distributed.shard_sizes` of the
        padded point count, the one ``lrsa-predict --domain-parallel`` uses. Per-sample
        entries (``target_scale``, case ids) are kept whole.
        """
        n_points = batch["fx"].shape[1]
        sizes = shard_sizes(n_points, self.domain_size)
        start = sum(sizes[: self.domain_rank])
        part = slice(start, start + sizes[self.domain_rank])
        # A copy, so that the whole samples' tensors can be freed.
        return {
            key: value[:, part].clone() if key in POINT_KEYS and isinstance(value, torch.Tensor) else value
            for key, value in batch.items()
        }

    def average_gradients(self, parameters: list[torch.nn.Parameter]) -> None:
        """Each rank's gradient share summed over the mesh and divided by the data replicas.

        One flat all-reduce per dtype, with a 0/1 flag per parameter: a parameter that
        got a gradient on no rank keeps ``grad=None`` (as in one process, so the
        optimizer skips it), one that got it somewhere gets the sum, zeros counted for
        the ranks without one.
        """
        for dtype in sorted({p.dtype for p in parameters}, key=str):
            group = [p for p in parameters if p.dtype == dtype]
            flat = torch.cat(
                [p.grad.reshape(-1) if p.grad is not None else p.new_zeros(p.numel()) for p in group]
                + [torch.tensor([float(p.grad is not None) for p in group], dtype=dtype, device=group[0].device)]
            )
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            grads, present = flat.split([sum(p.numel() for p in group), len(group)])
            grads /= self.data_size
            for p, grad, flag in zip(group, grads.split([p.numel() for p in group]), present.tolist()):
                p.grad = grad.view_as(p) if flag > 0 else None


def data_replica(domain: DomainParallelism | None, world_size: int, rank: int) -> tuple[int, int]:
    """The number of data replicas and this rank's: every rank is one without a domain mesh,
    a domain group is one with it (its ranks train the same samples)."""
    return (world_size, rank) if domain is None else (domain.data_size, domain.data_rank)
