# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Loss and per-field errors (lift and drag: :mod:`modulus_lrsa.forces`).

Shapes: B samples, N points (padded), C target channels. A ``valid`` tensor of shape
(B, N, C) marks the entries that exist: real points (``mask``) where the channel is
defined (``target_mask``; e.g. wall shear only on surface points).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist
from scipy.stats import spearmanr

from modulus_lrsa.forces import ForceCoefficients

#: Keeps the relative error finite for a channel that is identically zero in one sample.
_EPS = 1e-12


def valid_entries(batch: dict, target: torch.Tensor) -> torch.Tensor:
    """Which target entries count, (B, N, C) bool, from the batch's ``mask``/``target_mask``.

    Parameters
    ----------
    batch : dict
        May hold ``mask`` (B, N) and ``target_mask`` (B, N, C); grids have neither.
    target : torch.Tensor
        (B, N, C), for the shape and device.
    """
    valid = torch.ones_like(target, dtype=torch.bool)
    if "mask" in batch:
        valid = valid & batch["mask"].to(target.device).reshape(target.shape[0], -1, 1)
    if "target_mask" in batch:
        valid = valid & batch["target_mask"].to(target.device).reshape(target.shape)
    return valid


def sum_over_shards(partial: torch.Tensor, group: dist.ProcessGroup) -> torch.Tensor:
    """Sum per-rank partial sums over ``group``, with the gradient of each rank's own part.

    For a loss that every rank of a domain-parallel group computes from the summed
    statistics of all of a sample's points and then backpropagates: rank r's loss is
    the same number as everyone's, but its backward may only reach its own points, the
    other ranks' backward covers theirs (and the model then sums the parameter
    gradients over the group). So the backward is the identity on ``partial``. A
    summing backward, as in :func:`modulus_lrsa.models.domain_parallel.all_reduce_sum`,
    would count the replicated loss once per rank.

    Parameters
    ----------
    partial : torch.Tensor
        This rank's partial sums, the same shape on every rank.
    group : torch.distributed.ProcessGroup
        The ranks that share the samples' points.

    Returns
    -------
    torch.Tensor
        The sums over the group (the same value on every rank).
    """
    total = partial.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
    return partial + (total - partial.detach())


def per_sample_relative_l2(
    prediction: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    group: dist.ProcessGroup | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relative L2 error of each sample and channel over its valid points.

    Parameters
    ----------
    prediction, target : torch.Tensor
        (B, N, C).
    valid : torch.Tensor
        (B, N, C) bool.
    group : torch.distributed.ProcessGroup, optional
        The ranks each sample's points are split over (domain parallelism); the sums of
        squares are then over all of them (:func:`sum_over_shards`).

    Returns
    -------
    errors : torch.Tensor
        (B, C) float32: ``||p - y|| / ||y||`` over the valid points (0 where none).
    present : torch.Tensor
        (B, C) bool: the channel has at least one valid point in the sample.
    """
    prediction = prediction.float()
    target = target.float()
    weight = valid.float()
    # Squared error, squared norm and valid-point count per sample and channel: (3, B, C).
    sums = torch.stack([((prediction - target) ** 2 * weight).sum(dim=1), (target**2 * weight).sum(dim=1),
                        weight.sum(dim=1)])
    if group is not None:
        sums = sum_over_shards(sums, group)
    squared_error, squared_norm, count = sums.unbind()
    errors = torch.sqrt(squared_error) / torch.sqrt(squared_norm + _EPS)
    present = count > 0
    return torch.where(present, errors, torch.zeros_like(errors)), present


def relative_l2_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    group: dist.ProcessGroup | None = None,
) -> torch.Tensor:
    """Mean over samples and channels of the per-channel relative L2 error.

    Each channel is measured on its own before averaging, so a field with small values
    (wall shear) weighs as much as a large one (pressure). With one channel this is the
    benchmark loss of FNO/Transolver/LRSA.

    Parameters
    ----------
    prediction, target : torch.Tensor
        (B, N, C), normalized.
    valid : torch.Tensor
        (B, N, C) bool.
    group : torch.distributed.ProcessGroup, optional
        The ranks each sample's points are split over; the loss is then that of the
        whole samples, the same on every rank of the group.

    Returns
    -------
    torch.Tensor
        Scalar, float32.
    """
    errors, present = per_sample_relative_l2(prediction, target, valid, group)
    return errors.sum() / present.sum().clamp_min(1)


class FieldErrorMeter:
    """Mean relative L2 error per named field over many samples (and ranks).

    Parameters
    ----------
    names : sequence of str
        The C channel names.
    device : torch.device
        Where the running sums live (the collective needs them on the process's device).
    """

    def __init__(self, names: Sequence[str], device: torch.device) -> None:
        self.names = list(names)
        self.sums = torch.zeros(len(self.names), dtype=torch.float64, device=device)
        self.counts = torch.zeros(len(self.names), dtype=torch.float64, device=device)

    def update(self, prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> None:
        """Add a batch; all tensors (B, N, C) in the same (physical) units."""
        errors, present = per_sample_relative_l2(prediction, target, valid)
        self.sums += errors.double().sum(dim=0).to(self.sums.device)
        self.counts += present.double().sum(dim=0).to(self.counts.device)

    def all_reduce(self) -> None:
        """Sum the accumulators over all ranks."""
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.sums)
            dist.all_reduce(self.counts)

    def results(self, prefix: str = "rel_l2/") -> dict[str, float]:
        """``{prefix + name: mean error}`` for every field seen at least once."""
        means = (self.sums / self.counts.clamp_min(1)).tolist()
        return {f"{prefix}{name}": value for name, value, count in zip(self.names, means, self.counts.tolist()) if count}


class ForceErrorMeter:
    """Force coefficients of each validation case, predicted against the CFD's, over ranks.

    Drag is judged case by case (mean errors) and across the family: a surrogate that ranks
    designs must follow how Cd changes from one body to the next, which R^2 and Spearman's
    rank correlation over the cases measure.
    """

    def __init__(self) -> None:
        self.cases: list[tuple[dict[str, float], dict[str, float]]] = []

    def update(self, predicted: ForceCoefficients, true: ForceCoefficients) -> None:
        """Add one case's coefficients (``Cl``, ``Cd``; in 3D also ``Cs`` and the drag's parts)."""
        self.cases.append((predicted.as_dict(), true.as_dict()))

    def all_gather(self) -> None:
        """Collect every rank's cases on every rank (a few floats per case)."""
        if dist.is_available() and dist.is_initialized():
            parts: list = [None] * dist.get_world_size()
            dist.all_gather_object(parts, self.cases)
            self.cases = [case for part in parts for case in part]

    def results(self, prefix: str = "") -> dict[str, float]:
        """Errors over the cases seen, in coefficient units (1e-4 is one drag count).

        Returns
        -------
        dict
            ``<C>_abs_error`` (mean |predicted - true|) for ``Cl``, ``Cd`` and, where the
            integral gives them, ``Cs``, ``Cd_pressure`` and ``Cd_viscous``;
            ``Cd_rel_error`` (mean |dCd| / |Cd|); and, with at least three cases whose true
            values differ, ``Cl_r2``/``Cd_r2`` (1 - residual / total sum of squares about
            the true mean) and ``Cl_spearman``/``Cd_spearman``.
        """
        if not self.cases:
            return {}
        metrics: dict[str, float] = {}
        for name in ("Cl", "Cd", "Cs", "Cd_pressure", "Cd_viscous"):
            pairs = np.array([(p[name], t[name]) for p, t in self.cases if name in p and name in t], dtype=np.float64)
            if not len(pairs):
                continue
            predicted, true = pairs[:, 0], pairs[:, 1]
            metrics[f"{prefix}{name}_abs_error"] = float(np.abs(predicted - true).mean())
            if name == "Cd":
                metrics[f"{prefix}Cd_rel_error"] = float((np.abs(predicted - true) / np.maximum(np.abs(true), _EPS)).mean())
            spread = float(((true - true.mean()) ** 2).sum())
            if name in ("Cl", "Cd") and len(true) >= 3 and spread > 0:
                metrics[f"{prefix}{name}_r2"] = 1.0 - float(((predicted - true) ** 2).sum()) / spread
                if np.ptp(predicted) > 0:
                    metrics[f"{prefix}{name}_spearman"] = float(spearmanr(predicted, true).statistic)
        return metrics
