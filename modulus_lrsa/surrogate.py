# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Calling a trained operator: its inputs, its precision and device.

Training, ``lrsa-predict`` and the demos all call models through this module:

* :class:`ModelInputs`: passes a batch's ``mask`` and ``weights`` only to models whose
  ``forward`` takes them (LRSA does; PhysicsNeMo's Transolver and FLARE take
  ``(fx, embedding)``), gives geometry-context models (PhysicsNeMo's GeoTransolver) the
  wall as their context, and evaluates large meshes with the exact chunked forward;
* :func:`autocast`: the autocast context of a precision name (``fp32``, ``bf16``,
  ``fp16``);
* :func:`to_device`: a batch's tensors onto a device;
* :func:`run_model`: one inference call, all of the above together.
"""

from __future__ import annotations

import inspect
import math
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

#: Precision names and their autocast dtypes (None: no autocast).
PRECISION_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
PRECISIONS = tuple(PRECISION_DTYPES)


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """Autocast to the dtype of ``precision`` on ``device``; ``fp32`` runs without autocast."""
    dtype = PRECISION_DTYPES[precision]
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors to ``device`` (asynchronously from pinned memory); other entries unchanged."""
    return {
        key: value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
        for key, value in batch.items()
    }


def takes_geometry_context(parameter_names: Any) -> bool:
    """True for the geometry-context forward of PhysicsNeMo's GeoTransolver.

    Such a model reads every point's ``fx`` and ``embedding`` together as its
    ``local_embedding``, and the wall points' embedding as its ``geometry`` context, so
    its ``functional_dim`` is the two widths summed and its ``geometry_dim`` the
    embedding's (:func:`modulus_lrsa.training.train.model_config_for` fills them in).
    """
    names = set(parameter_names)
    return {"local_embedding", "geometry"} <= names or {"geometry_dim", "functional_dim"} <= names


def wall_context(batch: dict[str, Any]) -> torch.Tensor:
    """Every sample's wall points (``is_surface``, not padding) as geometry tokens (B, K, C).

    K is the largest wall count in the batch; a sample with fewer wall points repeats
    them evenly, so a batch of meshes with different walls stacks without padding
    (which a geometry-context model could not mask).

    Raises
    ------
    ValueError
        The batch has no ``is_surface`` flags, or a sample has no wall point.
    """
    if "is_surface" not in batch:
        raise ValueError(
            "a geometry-context model (GeoTransolver) needs wall points as its context: "
            "the data has no surface points (give it surface_fields or a wall patch)"
        )
    wall = batch["is_surface"].bool()
    if "mask" in batch:
        wall = wall & batch["mask"].bool()
    counts = wall.sum(dim=1)
    if bool((counts == 0).any()):
        empty = [str(index) for index in torch.nonzero(counts == 0).flatten().tolist()]
        raise ValueError(f"a geometry-context model needs wall points, but sample(s) {', '.join(empty)} have none")
    n_tokens = int(counts.max())
    tokens = []
    for sample, flags in zip(batch["embedding"], wall):
        indices = torch.nonzero(flags).flatten()
        picks = torch.linspace(0, len(indices) - 1, n_tokens, device=indices.device).round().long()
        tokens.append(sample[indices[picks]])
    return torch.stack(tokens)


class ModelInputs:
    """Calls a model with the batch arguments its ``forward`` accepts.

    LRSA takes ``mask`` (padding) and ``weights`` (quadrature); PhysicsNeMo's
    Transolver and FLARE take only ``(fx, embedding)``; GeoTransolver takes
    ``(local_embedding, geometry=...)``, see :func:`takes_geometry_context`. The
    signature is inspected once, so any operator with one of these forwards can be
    trained and served here.

    Parameters
    ----------
    model : torch.nn.Module
        The unwrapped model.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        parameters = inspect.signature(model.forward).parameters
        self.geometry_context = takes_geometry_context(parameters)
        self.accepts_embedding = "embedding" in parameters or self.geometry_context
        self.accepts_mask = "mask" in parameters
        self.accepts_weights = "weights" in parameters
        self.chunked = getattr(model, "forward_chunked", None)
        self.structured = getattr(model, "structured_shape", None) is not None
        self._warned_padding = False

    def _keywords(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        keywords = {}
        if self.accepts_mask and "mask" in batch:
            keywords["mask"] = batch["mask"]
        if self.accepts_weights and "weights" in batch:
            keywords["weights"] = batch["weights"]
        return keywords

    def padding_ignored(self, batch: dict[str, Any]) -> bool:
        """True (once) when a padded batch meets a model that cannot mask padding."""
        if self.accepts_mask or self._warned_padding or "mask" not in batch or bool(batch["mask"].all()):
            return False
        self._warned_padding = True
        return True

    def __call__(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        if self.geometry_context:
            local = torch.cat([batch["fx"], batch["embedding"]], dim=-1)
            return model(local, geometry=wall_context(batch))
        return model(batch["fx"], batch["embedding"], **self._keywords(batch))

    def evaluate(self, model: torch.nn.Module, batch: dict[str, Any], chunk_points: int) -> torch.Tensor:
        """Inference; meshes above ``chunk_points`` points use the exact chunked forward if there is one."""
        n_points = math.prod(batch["fx"].shape[1:-1])  # fx may have 0 channels
        if self.chunked is not None and not self.structured and n_points > chunk_points:
            return self.chunked(batch["fx"], batch["embedding"], chunk_size=chunk_points, **self._keywords(batch))
        return self(model, batch)


@torch.no_grad()
def run_model(
    model: torch.nn.Module,
    batch: dict[str, Any],
    device: torch.device,
    chunk_points: int | None = None,
    precision: str = "fp32",
) -> torch.Tensor:
    """Forward one batch on ``device``; point clouds above ``chunk_points`` use ``forward_chunked``.

    ``chunk_points=None`` always runs the whole batch at once.

    Returns
    -------
    torch.Tensor
        The model output, float32, on the CPU.
    """
    inputs, batch = ModelInputs(model), to_device(batch, device)
    with autocast(precision, device):
        output = inputs(model, batch) if chunk_points is None else inputs.evaluate(model, batch, chunk_points)
    return output.float().cpu()
