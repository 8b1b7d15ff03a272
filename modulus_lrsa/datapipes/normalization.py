# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Per-channel normalization statistics, computed in one streaming pass.

:class:`RunningMoments` accumulates count, mean and sum of squared deviations per
channel with Welford's update inside a chunk and Chan et al.'s pairwise formula to
merge chunks, so statistics of a whole dataset come from one pass over the cases (and
can be computed per worker, then merged) without the cancellation error of the naive
``E[x^2] - E[x]^2``. :class:`Normalizer` applies and inverts ``(x - mean) / std``.

Both also keep each channel's minimum and maximum: ``lrsa-predict`` warns when a
condition lies outside the range the model was trained on. Statistics saved before
ranges were kept have none; a range merged with such statistics is unknown (NaN), never
a partial one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


class RunningMoments:
    """Streaming per-channel count, mean and M2 (sum of squared deviations).

    Parameters
    ----------
    num_channels : int
        C, the number of channels (last axis of the arrays passed to :meth:`update`).
    """

    def __init__(self, num_channels: int) -> None:
        self.count = np.zeros(num_channels, dtype=np.float64)
        self.mean = np.zeros(num_channels, dtype=np.float64)
        self.m2 = np.zeros(num_channels, dtype=np.float64)
        # +inf/-inf: nothing seen yet (the identity of a merge); NaN: not recorded (older statistics).
        self.minimum = np.full(num_channels, np.inf)
        self.maximum = np.full(num_channels, -np.inf)

    @property
    def num_channels(self) -> int:
        return int(self.count.size)

    def update(self, values: np.ndarray, valid: np.ndarray | None = None) -> RunningMoments:
        """Add samples.

        Parameters
        ----------
        values : np.ndarray
            Shape (N, C).
        valid : np.ndarray, optional
            Bool, shape (N, C) or (N,): which entries count (e.g. which targets exist
            at which points). Default: all.

        Returns
        -------
        RunningMoments
            ``self``, for chaining.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self.num_channels:
            raise ValueError(f"values must have shape (N, {self.num_channels}), got {values.shape}")
        if valid is None:
            valid = np.ones(values.shape, dtype=bool)
        else:
            valid = np.broadcast_to(np.asarray(valid, dtype=bool).reshape(values.shape[0], -1), values.shape)
        count = valid.sum(axis=0).astype(np.float64)
        safe_count = np.maximum(count, 1.0)
        mean = np.where(valid, values, 0.0).sum(axis=0) / safe_count
        m2 = np.where(valid, (values - mean) ** 2, 0.0).sum(axis=0)
        chunk = RunningMoments(self.num_channels)
        chunk.count, chunk.mean, chunk.m2 = count, mean, m2
        chunk.minimum = np.where(valid, values, np.inf).min(axis=0, initial=np.inf)
        chunk.maximum = np.where(valid, values, -np.inf).max(axis=0, initial=-np.inf)
        return self.merge(chunk)

    def merge(self, other: RunningMoments) -> RunningMoments:
        """Fold another accumulator into this one (Chan et al.); returns ``self``."""
        if other.num_channels != self.num_channels:
            raise ValueError(f"cannot merge moments of {other.num_channels} channels into {self.num_channels}")
        total = self.count + other.count
        safe_total = np.maximum(total, 1.0)
        delta = other.mean - self.mean
        self.mean = self.mean + delta * other.count / safe_total
        self.m2 = self.m2 + other.m2 + delta**2 * self.count * other.count / safe_total
        self.count = total
        # np.minimum keeps NaN: an unrecorded range stays unknown.
        self.minimum = np.minimum(self.minimum, other.minimum)
        self.maximum = np.maximum(self.maximum, other.maximum)
        return self

    @property
    def variance(self) -> np.ndarray:
        """Population variance per channel (0 where no sample was seen)."""
        return self.m2 / np.maximum(self.count, 1.0)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.variance)

    @property
    def has_range(self) -> bool:
        """Every channel's minimum and maximum are known."""
        return bool(np.isfinite(self.minimum).all() and np.isfinite(self.maximum).all())

    def to_dict(self) -> dict[str, list[float | None]]:
        """Count, mean, M2 and, where recorded, min and max (null for a channel with no sample)."""
        payload: dict[str, list[float | None]] = {
            "count": self.count.tolist(), "mean": self.mean.tolist(), "m2": self.m2.tolist()
        }
        if not (np.isnan(self.minimum).any() or np.isnan(self.maximum).any()):
            payload["min"] = [float(value) if np.isfinite(value) else None for value in self.minimum]
            payload["max"] = [float(value) if np.isfinite(value) else None for value in self.maximum]
        return payload

    @classmethod
    def from_dict(cls, payload: dict[str, Sequence[float | None]]) -> RunningMoments:
        moments = cls(len(payload["count"]))
        moments.count = np.asarray(payload["count"], dtype=np.float64)
        moments.mean = np.asarray(payload["mean"], dtype=np.float64)
        moments.m2 = np.asarray(payload["m2"], dtype=np.float64)
        if "min" in payload and "max" in payload:
            moments.minimum = np.array([np.inf if value is None else value for value in payload["min"]], dtype=np.float64)
            moments.maximum = np.array([-np.inf if value is None else value for value in payload["max"]], dtype=np.float64)
        else:
            moments.minimum = np.full(moments.num_channels, np.nan)
            moments.maximum = np.full(moments.num_channels, np.nan)
        return moments


#: The smallest standard deviation a normalizer divides by: float32's smallest normal number.
MIN_STD = float(np.finfo(np.float32).tiny)


@dataclass
class Normalizer:
    """``(x - mean) / std`` per channel on the last axis, for NumPy arrays or torch tensors.

    Channels whose standard deviation is (numerically) zero, such as the empty z velocity
    of a 2D case or a condition held fixed over the training set, get ``std = 1`` so they
    are only centred, never divided by zero.

    Attributes
    ----------
    names : list of str
        Channel names, C of them.
    mean, std : np.ndarray
        float64, shape (C,).
    minimum, maximum : np.ndarray, optional
        float64, shape (C,): the range of the data the statistics come from; None where
        it was not recorded.
    """

    names: list[str]
    mean: np.ndarray
    std: np.ndarray
    minimum: np.ndarray | None = None
    maximum: np.ndarray | None = None
    _torch_cache: dict[Any, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(self.std, dtype=np.float64).reshape(-1)
        if not (len(self.names) == self.mean.size == self.std.size):
            raise ValueError(
                f"Normalizer needs one mean and std per channel: {len(self.names)} names, "
                f"{self.mean.size} means, {self.std.size} stds"
            )
        # Models run in float32 (or lower): a subnormal std, above 0 in float64, divides by zero there.
        unusable = ~(np.isfinite(self.mean) & np.isfinite(self.std) & (self.std >= MIN_STD))
        if unusable.any():
            channels = [name for name, bad in zip(self.names, unusable) if bad]
            raise ValueError(
                f"Normalizer statistics must be finite with std >= {MIN_STD:.4g} (float32's smallest normal number); "
                f"channel(s) {channels} have mean={self.mean[unusable]}, std={self.std[unusable]} "
                "(NaN/Inf in the data they come from, or statistics written by hand?)"
            )
        if (self.minimum is None) != (self.maximum is None):
            raise ValueError("Normalizer needs both minimum and maximum, or neither")
        if self.minimum is not None:
            self.minimum = np.asarray(self.minimum, dtype=np.float64).reshape(-1)
            self.maximum = np.asarray(self.maximum, dtype=np.float64).reshape(-1)
            if not (self.minimum.size == self.maximum.size == self.mean.size):
                raise ValueError(f"Normalizer needs one minimum and maximum per channel ({self.mean.size})")

    @classmethod
    def from_moments(cls, names: Sequence[str], moments: RunningMoments, relative_floor: float = 1e-6) -> Normalizer:
        """Build from accumulated moments; stds below ``relative_floor * max(|mean|, 1)`` become 1."""
        if moments.num_channels != len(names):
            raise ValueError(f"{len(names)} names for {moments.num_channels} channels")
        unseen = [name for name, count in zip(names, moments.count) if count == 0]
        if unseen:
            raise ValueError(f"no sample seen for channel(s) {unseen}; cannot compute their statistics")
        std = moments.std
        floor = relative_floor * np.maximum(np.abs(moments.mean), 1.0)
        std = np.where(std > floor, std, 1.0)
        known = moments.has_range
        return cls(names=list(names), mean=moments.mean.copy(), std=std,
                   minimum=moments.minimum.copy() if known else None, maximum=moments.maximum.copy() if known else None)

    @classmethod
    def identity(cls, names: Sequence[str]) -> Normalizer:
        """Mean 0, std 1: leaves values unchanged."""
        return cls(names=list(names), mean=np.zeros(len(names)), std=np.ones(len(names)))

    @property
    def num_channels(self) -> int:
        return int(self.mean.size)

    def _parameters(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (like.device, like.dtype)
        if key not in self._torch_cache:
            self._torch_cache[key] = (
                torch.as_tensor(self.mean, dtype=like.dtype, device=like.device),
                torch.as_tensor(self.std, dtype=like.dtype, device=like.device),
            )
        return self._torch_cache[key]

    def _check(self, values: np.ndarray | torch.Tensor) -> None:
        if values.shape[-1] != self.num_channels:
            raise ValueError(
                f"expected {self.num_channels} channels ({', '.join(self.names)}) on the last axis, "
                f"got shape {tuple(values.shape)}"
            )

    def normalize(self, values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Physical -> normalized. Shape (..., C) in, same shape out."""
        self._check(values)
        if isinstance(values, torch.Tensor):
            mean, std = self._parameters(values)
            return (values - mean) / std
        return ((values - self.mean) / self.std).astype(np.asarray(values).dtype, copy=False)

    def denormalize(self, values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Normalized -> physical units. Shape (..., C) in, same shape out."""
        self._check(values)
        if isinstance(values, torch.Tensor):
            mean, std = self._parameters(values)
            return values * std + mean
        return (values * self.std + self.mean).astype(np.asarray(values).dtype, copy=False)

    def subset(self, names: Sequence[str]) -> Normalizer:
        """The normalizer of a subset of channels, by name."""
        missing = [name for name in names if name not in self.names]
        if missing:
            raise KeyError(f"channels {missing} not among {self.names}")
        index = [self.names.index(name) for name in names]
        ranged = self.minimum is not None
        return Normalizer(names=list(names), mean=self.mean[index], std=self.std[index],
                          minimum=self.minimum[index] if ranged else None, maximum=self.maximum[index] if ranged else None)

    def to_dict(self) -> dict[str, list]:
        payload = {"names": list(self.names), "mean": self.mean.tolist(), "std": self.std.tolist()}
        if self.minimum is not None:
            payload.update(min=self.minimum.tolist(), max=self.maximum.tolist())
        return payload

    @classmethod
    def from_dict(cls, payload: dict[str, Sequence]) -> Normalizer:
        """Read :meth:`to_dict`'s payload; one without ``min``/``max`` (written before ranges were kept) has none."""
        ranged = "min" in payload and "max" in payload
        return cls(names=list(payload["names"]), mean=np.asarray(payload["mean"]), std=np.asarray(payload["std"]),
                   minimum=np.asarray(payload["min"], dtype=np.float64) if ranged else None,
                   maximum=np.asarray(payload["max"], dtype=np.float64) if ranged else None)
