# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Loss and per-field errors (lift and drag: :mod:`modulus_lrsa.forces`).

Shapes: B samples, N points (padded), C target channels. A ``valid`` tensor of shape
(B, N, C) marks the entries that exist: real points (``mask``) where the channel is
defined (``target_mask``; e.g. wall shear only on surface points).

:class:`TrainingLoss` is the objective of ``lrsa-train``: :func:`relative_l2_loss` on the
normalized targets and, opt-in (``training.loss``), surface errors weighted by face area
and the force-consistency term :func:`force_coefficient_error`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from scipy.stats import spearmanr

from modulus_lrsa.datapipes.normalization import Normalizer
from modulus_lrsa.forces import ForceCoefficients, SurfaceForceEvaluator, surface_force
from modulus_lrsa.io.fields import columns_in

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
    point_weights: torch.Tensor | None = None,
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
    point_weights : torch.Tensor, optional
        (B, N) weights of each point's squared error and squared norm (a quadrature:
        ``||f||^2 = sum_i w_i f_i^2``); None: every valid point weighs 1.

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
    if point_weights is not None:
        weight = weight * point_weights.float().reshape(valid.shape[0], -1, 1)
    # Squared error, squared norm and valid-point count per sample and channel: (3, B, C).
    sums = torch.stack([((prediction - target) ** 2 * weight).sum(dim=1), (target**2 * weight).sum(dim=1),
                        weight.sum(dim=1)])
    if group is not None:
        sums = sum_over_shards(sums, group)
    squared_error, squared_norm, count = sums.unbind()
    errors = torch.sqrt(squared_error) / torch.sqrt(squared_norm + _EPS)
    present = count > 0  # with point weights: a positive total weight
    return torch.where(present, errors, torch.zeros_like(errors)), present


def relative_l2_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    group: dist.ProcessGroup | None = None,
    point_weights: torch.Tensor | None = None,
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
    point_weights : torch.Tensor, optional
        (B, N) quadrature weights of the points (:func:`per_sample_relative_l2`).

    Returns
    -------
    torch.Tensor
        Scalar, float32.
    """
    errors, present = per_sample_relative_l2(prediction, target, valid, group, point_weights)
    return errors.sum() / present.sum().clamp_min(1)


def surface_area_weights(batch: dict[str, Any]) -> torch.Tensor:
    """(B, N) point weights: each surface point's face area (the batch's ``weights``, mean 1 over the
    sample's surface points), 1 on volume points, so that a finely meshed region of the wall weighs
    by its area, not by its number of faces."""
    return torch.where(batch["is_surface"], batch["weights"], torch.ones_like(batch["weights"]))


def surface_coefficients(
    values: torch.Tensor,
    valid: torch.Tensor,
    face_area: torch.Tensor,
    face_normal: torch.Tensor,
    directions: torch.Tensor,
    dynamic: torch.Tensor,
    pressure_column: int,
    shear_columns: Sequence[int],
    wall_shear_sign: float,
    group: dist.ProcessGroup | None = None,
) -> torch.Tensor:
    """Force coefficients of each sample, integrated over its surface points (differentiable).

    :func:`~modulus_lrsa.forces.surface_force` over the points' ``face_area`` and
    ``face_normal``, projected on each case's directions and divided by its
    ``0.5 U^2 A_ref``; with every face of a case in the sample, the coefficients of
    :func:`~modulus_lrsa.forces.force_coefficients`. An entry that ``valid`` leaves out
    (padding, a channel undefined there) adds nothing.

    Parameters
    ----------
    values : torch.Tensor
        (..., B, N, C) in physical units (the kinematic pressure and wall shear); leading
        axes (predicted and true fields stacked) share the rest.
    valid : torch.Tensor
        (B, N, C) bool.
    face_area : torch.Tensor
        (B, N): the surface points' quadrature weights (the dataset's, scaled for the
        faces it drew), 0 on volume points and padding.
    face_normal : torch.Tensor
        (B, N, D) unit normals out of the body.
    directions : torch.Tensor
        (B, K, D): each case's drag, lift (and 3D side) directions
        (:func:`~modulus_lrsa.forces.coefficient_frame`).
    dynamic : torch.Tensor
        (B,): each case's ``0.5 U^2 A_ref``.
    pressure_column : int
        Channel of the pressure.
    shear_columns : sequence of int
        Channels of the wall-shear components (empty: pressure only).
    wall_shear_sign : float
        :class:`~modulus_lrsa.forces.ForceSettings` ``wall_shear_sign``.
    group : torch.distributed.ProcessGroup, optional
        The ranks each sample's points are split over; the forces are summed over them
        (:func:`sum_over_shards`).

    Returns
    -------
    torch.Tensor
        (..., B, K) float32: Cd, Cl (and Cs), in the order of ``directions``.
    """
    values = values.float()
    shear_columns = list(shear_columns)
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    pressure = torch.where(valid[..., pressure_column], values[..., pressure_column], zero)
    shear = torch.where(valid[..., shear_columns], values[..., shear_columns], zero) if shear_columns else None
    pressure_force, viscous_force = surface_force(pressure, face_normal.float(), face_area.float(), shear, wall_shear_sign)
    force = pressure_force + viscous_force
    if group is not None:
        force = sum_over_shards(force, group)
    return torch.einsum("...bd,bkd->...bk", force, directions.float()) / dynamic.float()[:, None]


def force_coefficient_error(
    prediction: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    face_area: torch.Tensor,
    face_normal: torch.Tensor,
    directions: torch.Tensor,
    dynamic: torch.Tensor,
    pressure_column: int,
    shear_columns: Sequence[int],
    wall_shear_sign: float,
    group: dist.ProcessGroup | None = None,
) -> torch.Tensor:
    """Mean |C_predicted - C_true| of the force coefficients of each sample (:func:`surface_coefficients`).

    Both coefficients are integrated over the same faces with the same weights, so the
    way the faces were drawn cancels in the difference: with ``face_area`` scaled by
    (faces / faces drawn), as the dataset does, the force difference is an unbiased
    estimate of the one over the whole surface, and equal to it when every face is drawn.

    Parameters
    ----------
    prediction, target : torch.Tensor
        (B, N, C) in physical units.
    valid, face_area, face_normal, directions, dynamic, pressure_column, shear_columns, wall_shear_sign, group
        As :func:`surface_coefficients` takes them.

    Returns
    -------
    torch.Tensor
        Scalar float32 in coefficient units (1e-4 is one drag count), averaged over the
        samples and the K coefficients.
    """
    coefficients = surface_coefficients(
        torch.stack([prediction.float(), target.float()]), valid, face_area, face_normal, directions, dynamic,
        pressure_column, shear_columns, wall_shear_sign, group,
    )
    return (coefficients[0] - coefficients[1]).abs().mean()


class TrainingLoss:
    """The training objective: relative L2 on the normalized targets, plus the opt-in terms of ``training.loss``.

    With both options off (the default) the loss is exactly :func:`relative_l2_loss` of
    the step as it always was, computed by the same operations.

    Parameters
    ----------
    force_weight : float
        Weight of :func:`force_coefficient_error` (0: off). Needs ``forces``.
    surface_area_weighted : bool
        Weight each surface point's squared error (and squared norm) by its face area
        (:func:`surface_area_weights`).
    forces : SurfaceForceEvaluator, optional
        The data's lift/drag settings and each case's frame (``data.forces``).
    target_names : sequence of str, optional
        The model's output channels (needed with ``forces``).
    target_normalizer : Normalizer, optional
        Normalized -> physical units, before ``target_scale`` (needed with ``forces``).

    Raises
    ------
    ValueError
        ``force_weight`` < 0 or not finite, or > 0 without ``forces``.
    """

    def __init__(
        self,
        force_weight: float = 0.0,
        surface_area_weighted: bool = False,
        forces: SurfaceForceEvaluator | None = None,
        target_names: Sequence[str] = (),
        target_normalizer: Normalizer | None = None,
    ) -> None:
        if not (np.isfinite(force_weight) and force_weight >= 0):
            raise ValueError(f"training.loss.force_weight: expected a finite number >= 0, got {force_weight!r}")
        if force_weight > 0 and (forces is None or target_normalizer is None):
            raise ValueError("training.loss.force_weight > 0 needs the data's lift/drag settings (data.forces.enabled=true)")
        self.force_weight = float(force_weight)
        self.surface_area_weighted = bool(surface_area_weighted)
        self.forces = forces if self.force_weight > 0 else None
        self.target_normalizer = target_normalizer
        keys: list[str] = []
        if self.surface_area_weighted:
            keys += ["is_surface"]
        if self.forces is not None:
            settings = self.forces.settings
            names = list(target_names)
            self.pressure_column = names.index(settings.pressure)
            self.shear_columns = columns_in(names, settings.wall_shear_channels(names))
            keys += ["is_surface", "face_area", "face_normal", "target_scale", "force_directions", "force_dynamic"]
        #: Batch entries the loss reads besides the step's (for the captured step's static buffers).
        self.batch_keys = tuple(dict.fromkeys(keys))

    @property
    def terms(self) -> tuple[str, ...]:
        """The names of the extra terms each call reports (``force_loss``)."""
        return ("force_loss",) if self.forces is not None else ()

    def prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``batch`` with each case's force directions (B, K, D) and ``0.5 U^2 A_ref`` (B,) added where the
        force term is on; unchanged otherwise. Called on the host side of the step (it reads ``case_id``)."""
        if self.forces is None:
            return batch
        frames = [self.forces.frame(case_id) for case_id in batch["case_id"]]
        device = batch["target"].device
        return {
            **batch,
            "force_directions": torch.as_tensor(np.stack([frame[0] for frame in frames]), dtype=torch.float32, device=device),
            "force_dynamic": torch.tensor([frame[1] for frame in frames], dtype=torch.float32, device=device),
        }

    def __call__(
        self, prediction: torch.Tensor, batch: dict[str, Any], group: dist.ProcessGroup | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of a batch and its extra terms (unweighted), from (B, N, C) normalized predictions.

        Returns
        -------
        loss : torch.Tensor
            Scalar: the field loss plus ``force_weight`` x the force term.
        terms : dict
            ``{"force_loss": ...}`` where it is on (detach before reading).
        """
        target = batch["target"].reshape(prediction.shape)
        valid = valid_entries(batch, target)
        weights = surface_area_weights(batch) if self.surface_area_weighted else None
        loss = relative_l2_loss(prediction, target, valid, group, weights)
        if self.forces is None:
            return loss, {}
        scale = batch["target_scale"][:, None, :].float()
        force = force_coefficient_error(
            self.target_normalizer.denormalize(prediction.float()) * scale,
            self.target_normalizer.denormalize(target.float()) * scale,
            valid, batch["face_area"], batch["face_normal"], batch["force_directions"], batch["force_dynamic"],
            self.pressure_column, self.shear_columns, self.forces.settings.wall_shear_sign, group,
        )
        return loss + self.force_weight * force, {"force_loss": force}


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
        self.case_ids: list[str | None] = []

    def update(self, predicted: ForceCoefficients, true: ForceCoefficients, case_id: str | None = None) -> None:
        """Add one case's coefficients (``Cl``, ``Cd``; in 3D also ``Cs`` and the drag's parts)."""
        self.cases.append((predicted.as_dict(), true.as_dict()))
        self.case_ids.append(case_id)

    def all_gather(self) -> None:
        """Collect every rank's cases on every rank (a few floats per case)."""
        if dist.is_available() and dist.is_initialized():
            parts: list = [None] * dist.get_world_size()
            dist.all_gather_object(parts, list(zip(self.case_ids, self.cases)))
            gathered = [entry for part in parts for entry in part]
            self.case_ids = [case_id for case_id, _ in gathered]
            self.cases = [case for _, case in gathered]

    def per_case(self) -> list[dict[str, Any]]:
        """Each case's coefficients, predicted and from the CFD, ordered by case id.

        What a predicted-against-true drag plot is drawn from: ``[{"case_id", "predicted":
        {"Cd": ..., ...}, "true": {...}}, ...]``.
        """
        entries = [
            {"case_id": case_id, "predicted": predicted, "true": true}
            for case_id, (predicted, true) in zip(self.case_ids, self.cases)
        ]
        return sorted(entries, key=lambda entry: str(entry["case_id"]))

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
