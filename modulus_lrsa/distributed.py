# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""One process-group start-up for ``lrsa-train`` and ``lrsa-predict``, and the contract of
the wrappers that run a model over several ranks.

Start-up goes through PhysicsNeMo's :class:`~physicsnemo.distributed.DistributedManager`:
:meth:`DistributedManager.initialize` reads the launcher's environment (torchrun's
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, SLURM, or Open MPI) and starts NCCL on GPUs.
On CPU PhysicsNeMo 2.2 passes ``device_id=cpu`` to ``torch.distributed.init_process_group``,
which torch >= 2.6 rejects ("device_id parameter must be an accelerator with an index").
For that one case, a launched CPU job (one process or several), :func:`initialize_distributed`
starts the gloo group itself from the same environment variables and records it in the
manager, so the rest of the code (and PhysicsNeMo's checkpoint and logging utilities)
sees an ordinary initialized manager. The same path serves ``--device cpu`` on a machine
with GPUs. :func:`process_group` wraps start-up and clean-up for a command.

The contract: a wrapper that runs a model over a process group (DDP-like, or one
sample's points sharded over ranks) gives the model back with ``unwrap()``
(:class:`Unwrappable`), and a model that can shard one sample's points builds that
wrapper itself with ``domain_parallel(mesh, reduce_gradients)``
(:class:`SupportsDomainParallel`). The trainer uses these two and imports no model.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
import torch.distributed as dist

if TYPE_CHECKING:
    from physicsnemo.distributed import DistributedManager

_SINGLE_PROCESS_WARNING = "Could not initialize using ENV, SLURM or OPENMPI methods"


@runtime_checkable
class Unwrappable(Protocol):
    """A module that runs another one over several ranks; ``unwrap()`` returns that module,
    whose state is what checkpoints and exported models hold."""

    def unwrap(self) -> torch.nn.Module: ...


@runtime_checkable
class SupportsDomainParallel(Protocol):
    """A model whose samples' points can be sharded over a process group."""

    def domain_parallel(self, mesh: Any = None, reduce_gradients: bool = True) -> torch.nn.Module:
        """The model over ``mesh`` (a 1-D ``DeviceMesh`` or a process group), an :class:`Unwrappable`.

        Raises
        ------
        ValueError
            This model's configuration cannot be sharded (the message says why).
        """
        ...


def shard_sizes(n_points: int, n_ranks: int) -> list[int]:
    """Contiguous shard sizes for ``n_points`` over ``n_ranks`` (``torch.chunk`` style): the
    split training and ``lrsa-predict --domain-parallel`` both cut a sample's points by."""
    return [len(part) for part in torch.arange(n_points).tensor_split(n_ranks)]


def launcher_layout() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from torchrun or SLURM variables, or None."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        return rank, world, int(os.environ.get("LOCAL_RANK", rank))
    if "SLURM_PROCID" in os.environ and "SLURM_NPROCS" in os.environ:
        os.environ.setdefault("MASTER_ADDR", os.environ.get("SLURM_LAUNCH_NODE_IPADDR", "localhost"))
        os.environ.setdefault("MASTER_PORT", "12355")
        return int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NPROCS"]), int(os.environ.get("SLURM_LOCALID", 0))
    return None


def launch_world_size() -> int:
    """Processes of this launch, from the launcher's environment (1 without one)."""
    layout = launcher_layout()
    return layout[1] if layout is not None else 1


def launch_rank() -> int:
    """This process's rank from the launcher's environment (0 without one)."""
    layout = launcher_layout()
    return layout[0] if layout is not None else 0


def all_ranks_agree(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` holds on every rank (a collective), so all ranks take the same branch."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0.5)


def _manager_class() -> type[DistributedManager]:
    # Imported on first use: the models import this module's contract (Unwrappable,
    # shard_sizes), and the legacy host (nvidia-modulus 0.9) that loads them has no physicsnemo.
    from physicsnemo.distributed import DistributedManager

    return DistributedManager


def _record_in_manager(rank: int, world_size: int, local_rank: int, device: torch.device) -> DistributedManager:
    """Mark the manager initialized for a world group started here or by the caller."""
    DistributedManager = _manager_class()
    DistributedManager._shared_state["_is_initialized"] = True
    manager = DistributedManager()
    manager._distributed = True
    manager._rank = rank
    manager._world_size = world_size
    manager._local_rank = local_rank
    manager._device = device
    manager._initialization_method = "env"
    return manager


def initialize_distributed(device: str = "auto") -> DistributedManager:
    """Initialize (once) and return the DistributedManager.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``training.device`` (``lrsa-predict --device``): ``cpu`` keeps every rank off the
        GPUs (gloo process group).

    Returns
    -------
    DistributedManager
        ``rank``, ``world_size``, ``local_rank`` and ``device`` of this process; a
        single-process run gets rank 0 of 1 on ``cuda:0`` or the CPU. A world group the
        caller started already (``torch.distributed.init_process_group``) is taken over.
    """
    DistributedManager = _manager_class()
    if DistributedManager.is_initialized():
        return DistributedManager()
    on_cpu = device == "cpu" or not torch.cuda.is_available()
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        if on_cpu:
            return _record_in_manager(rank, world_size, local_rank, torch.device("cpu"))
        torch.cuda.set_device(local_rank)
        return _record_in_manager(rank, world_size, local_rank, torch.device("cuda", local_rank))
    layout = launcher_layout()
    launched_on_cpu = (
        layout is not None
        and on_cpu
        and os.environ.get("PHYSICSNEMO_DISTRIBUTED_INITIALIZATION_METHOD") in (None, "ENV", "SLURM")
    )
    if not launched_on_cpu:
        with warnings.catch_warnings():
            # A plain `python -m modulus_lrsa.train` is a single-process job, not a problem.
            warnings.filterwarnings("ignore", message=_SINGLE_PROCESS_WARNING)
            DistributedManager.initialize()
        manager = DistributedManager()
        if on_cpu and manager.world_size == 1:
            manager._device = torch.device("cpu")
        return manager
    rank, world_size, local_rank = layout
    dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world_size)
    return _record_in_manager(rank, world_size, local_rank, torch.device("cpu"))


@contextmanager
def process_group(device: str = "auto") -> Iterator[DistributedManager]:
    """:func:`initialize_distributed` for the length of a command.

    What this call started (the manager, and the process group with it) is cleaned up on
    the way out; a manager that was initialized already, by a caller that runs several
    commands in one process, is left as it is, and so is a process group the caller started.
    """
    DistributedManager = _manager_class()
    started_here = not DistributedManager.is_initialized()
    callers_group = dist.is_available() and dist.is_initialized()
    manager = initialize_distributed(device)
    try:
        yield manager
    finally:
        if started_here and callers_group:
            DistributedManager._shared_state.clear()  # forget the caller's group, which stays up
        elif started_here:
            DistributedManager.cleanup()
