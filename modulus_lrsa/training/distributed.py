# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Process-group start-up through PhysicsNeMo's DistributedManager, CPU runs included.

:meth:`DistributedManager.initialize` reads the launcher's environment (torchrun's
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, SLURM, or Open MPI) and starts NCCL on GPUs.
On CPU-only machines PhysicsNeMo 2.2 passes ``device_id=cpu`` to
``torch.distributed.init_process_group``, which torch >= 2.6 rejects ("device_id
parameter must be an accelerator with an index"). For that one case, several CPU
processes, :func:`initialize_distributed` starts the gloo group itself from the same
environment variables and records it in the manager, so the rest of the code (and
PhysicsNeMo's checkpoint and logging utilities) sees an ordinary initialised manager.
The same path serves ``training.device=cpu`` on a machine with GPUs.
"""

from __future__ import annotations

import os
import warnings

import torch
import torch.distributed as dist
from physicsnemo.distributed import DistributedManager

_SINGLE_PROCESS_WARNING = "Could not initialize using ENV, SLURM or OPENMPI methods"


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


def initialize_distributed(device: str = "auto") -> DistributedManager:
    """Initialise (once) and return the DistributedManager.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``training.device``: ``cpu`` keeps every rank off the GPUs (gloo process group).

    Returns
    -------
    DistributedManager
        ``rank``, ``world_size``, ``local_rank`` and ``device`` of this process; a
        single-process run gets rank 0 of 1 on ``cuda:0`` or the CPU.
    """
    if DistributedManager.is_initialized():
        return DistributedManager()
    layout = launcher_layout()
    on_cpu = device == "cpu" or not torch.cuda.is_available()
    multi_process_cpu = (
        layout is not None
        and layout[1] > 1
        and on_cpu
        and os.environ.get("PHYSICSNEMO_DISTRIBUTED_INITIALIZATION_METHOD") in (None, "ENV", "SLURM")
    )
    if not multi_process_cpu:
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
    DistributedManager._shared_state["_is_initialized"] = True
    manager = DistributedManager()
    manager._distributed = True
    manager._rank = rank
    manager._world_size = world_size
    manager._local_rank = local_rank
    manager._device = torch.device("cpu")
    manager._initialization_method = "env"
    return manager
