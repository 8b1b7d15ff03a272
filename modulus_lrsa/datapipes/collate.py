# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Batching samples with different point counts.

Mesh cases differ in size (and evaluation yields whole cases), so a batch is padded to
the largest point count N_max. Padded rows hold zeros, ``mask`` is False there and
``weights`` (and ``face_area``) is 0, so a quadrature sum ``(weights * f).sum(1)`` ignores them; the LRSA
model excludes them from its compression via ``mask``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

#: Per-point keys of the sample contract, padded along their first axis.
POINT_KEYS = ("fx", "embedding", "target", "mask", "weights", "target_mask", "is_surface", "face_area", "face_normal")


def pad_collate(samples: Sequence[dict[str, Any]], point_keys: Iterable[str] = POINT_KEYS) -> dict[str, Any]:
    """Stack samples into a batch, padding per-point tensors to the largest point count.

    Parameters
    ----------
    samples : sequence of dict
        Samples following the dataset contract. Point-cloud samples have a ``"mask"``
        (N,) entry; structured-grid samples (no ``"mask"``) all share one shape and are
        stacked unchanged.
    point_keys : iterable of str
        Keys holding per-point tensors with the point axis first. Defaults to
        :data:`POINT_KEYS`.

    Returns
    -------
    dict
        Per-point tensors as (B, N_max, ...) (``mask`` (B, N_max) bool, False on
        padding; ``weights`` 0 on padding); other tensors stacked to (B, ...); anything
        else (case ids, paths) collected in lists.
    """
    if not samples:
        raise ValueError("pad_collate needs at least one sample")
    keys = list(samples[0].keys())
    for index, sample in enumerate(samples[1:], start=1):
        if set(sample.keys()) != set(keys):
            raise ValueError(
                f"sample {index} has keys {sorted(sample.keys())}, sample 0 has {sorted(keys)}"
            )
    point_keys = set(point_keys)
    structured = "mask" not in samples[0]
    if structured:
        point_counts = None
        n_max = 0
    else:
        point_counts = [int(sample["mask"].shape[0]) for sample in samples]
        n_max = max(point_counts)
    batch: dict[str, Any] = {}
    for key in keys:
        values = [sample[key] for sample in samples]
        if not isinstance(values[0], torch.Tensor):
            batch[key] = values
            continue
        if structured or key not in point_keys:
            shapes = {tuple(value.shape) for value in values}
            if len(shapes) != 1:
                raise ValueError(f"cannot stack '{key}': shapes differ across the batch: {sorted(shapes)}")
            batch[key] = torch.stack(values)
            continue
        for value, count in zip(values, point_counts):
            if value.shape[0] != count:
                raise ValueError(
                    f"'{key}' has {value.shape[0]} rows but the sample's mask has {count} points"
                )
        first = values[0]
        padded = torch.zeros((len(values), n_max, *first.shape[1:]), dtype=first.dtype)
        for row, value in enumerate(values):
            padded[row, : value.shape[0]] = value
        batch[key] = padded
    return batch
