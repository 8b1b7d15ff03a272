# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Distributed sharding of cases: every case exactly once per epoch across all ranks.

``torch.utils.data.DistributedSampler`` pads the index list by repeating cases until it
divides by the world size, so some cases are seen twice per epoch (and evaluated twice).
:class:`CaseShardSampler` instead splits one epoch-seeded permutation into disjoint
strided shards whose sizes differ by at most one. A DDP training loop must then cope
with ranks running a different number of steps (e.g. ``torch.distributed.algorithms.Join``
or dropping the last uneven step); evaluation stays exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np
import torch.distributed as dist
from torch.utils.data import Sampler


class CaseShardSampler(Sampler[int]):
    """Disjoint per-rank shards of a shuffled (or ordered) case list.

    Parameters
    ----------
    data_source : Sized or int
        The dataset (or its length).
    num_replicas : int, optional
        World size; default: from ``torch.distributed`` if initialized, else 1.
    rank : int, optional
        This rank; default: from ``torch.distributed`` if initialized, else 0.
    shuffle : bool
        Shuffle with a permutation seeded by ``(seed, epoch)``; call :meth:`set_epoch`
        every epoch. False keeps case order (evaluation).
    seed : int
        Must be the same on every rank.
    """

    def __init__(
        self,
        data_source: Sized | int,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        if num_replicas is None:
            num_replicas = dist.get_world_size() if distributed else 1
        if rank is None:
            rank = dist.get_rank() if distributed else 0
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        self.num_cases = data_source if isinstance(data_source, int) else len(data_source)
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of this epoch (same value on every rank)."""
        self.epoch = int(epoch)

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_cases)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.num_cases)

    def __iter__(self) -> Iterator[int]:
        return iter(self._order()[self.rank :: self.num_replicas].tolist())

    def __len__(self) -> int:
        return len(range(self.rank, self.num_cases, self.num_replicas))
