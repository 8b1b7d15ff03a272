# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""What every prediction mode shares: the model file, the output folder, errors and checks.

* :func:`load_model`: a ``.mdlus`` through the trusted loader, with its ``.data.json``;
* the output folder: checked before any work (:func:`check_output_folder`) and written
  whole (:func:`output_folder`), so a killed or failed run leaves the earlier result;
* :func:`refuse_nonfinite`: NaN or Inf is never written as a result;
* :func:`warn_outside_training_range`: conditions beyond the training cases' range;
* :func:`relative_l2` and :func:`absolute_l2`, the errors reported in ``quantities.json``;
* :class:`RunOptions`: device, precision and chunk size, the same for every mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modulus_lrsa.atomic import atomic_folder, check_folder_target
from modulus_lrsa.datapipes.dataset import CaseFeatures
from modulus_lrsa.datapipes.normalization import Normalizer
from modulus_lrsa.descriptor import DescriptorError, MeshDescriptor, ModelDescriptor, descriptor_path
from modulus_lrsa.models.trusted import load_trusted_model
from modulus_lrsa.surrogate import ModelInputs, takes_geometry_context

logger = logging.getLogger(__name__)


QUANTITIES_NAME = "quantities.json"


PREDICTION_INDEX_NAME = "prediction.vtm"


PREDICTED_SUFFIX = "_predicted"


ERROR_SUFFIX = "_error"


_EARLIER_OUTPUT = f"an earlier lrsa-predict output (it holds neither {QUANTITIES_NAME} nor {PREDICTION_INDEX_NAME})"


class PredictionError(ValueError):
    """The model, its descriptor or the input cannot be used together."""


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How the model is run, whatever the input.

    Attributes
    ----------
    device : torch.device
        Where the model runs.
    precision : str
        ``fp32``, ``bf16`` or ``fp16`` (autocast).
    chunk_points : int
        Samples above this many points are evaluated with the model's exact chunked inference.
    """

    device: torch.device = torch.device("cpu")
    precision: str = "fp32"
    chunk_points: int = 262144


def is_prediction_output(folder: Path) -> bool:
    """``folder`` holds an earlier prediction (``quantities.json`` or ``prediction.vtm``), so it may be replaced."""
    return (folder / QUANTITIES_NAME).is_file() or (folder / PREDICTION_INDEX_NAME).is_file()


def check_output_folder(output_dir: str | os.PathLike) -> Path:
    """Refuse, before any work, an output folder that cannot be written or must not be replaced.

    Returns
    -------
    Path
        The absolute output folder.

    Raises
    ------
    OutputFolderError
        Its name or path is too long, its parent is not a writable folder, or it exists
        and holds something other than an earlier prediction.
    """
    return check_folder_target(output_dir, is_prediction_output, _EARLIER_OUTPUT)


def output_folder(output_dir: Path) -> contextlib.AbstractContextManager[Path]:
    """The folder to write into, swapped in as ``output_dir`` when the block succeeds."""
    return atomic_folder(output_dir, is_prediction_output, _EARLIER_OUTPUT)


def refuse_nonfinite(where: Path, fields: Sequence[str], rows: int, total: int, output_dir: Path) -> None:
    """NaN or Inf is never written as a result."""
    raise PredictionError(
        f"{where}: the model's prediction holds NaN or Inf in {', '.join(fields)} ({rows} of {total} points); "
        f"nothing was written to {output_dir} (is the input far outside the training data, or the model damaged?)"
    )


def load_model(model_path: str | os.PathLike, device: torch.device) -> tuple[torch.nn.Module, ModelDescriptor]:
    """Load a ``.mdlus`` model and the data descriptor saved beside it.

    Returns
    -------
    model : physicsnemo.Module
        In eval mode on ``device``.
    descriptor : MeshDescriptor or DarcyDescriptor
        ``<model>.data.json``, every key checked (a bad one is a one-line
        :class:`PredictionError` naming the file and the key).
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise PredictionError(f"{model_path}: model file does not exist")
    try:
        descriptor = ModelDescriptor.read(model_path)
    except DescriptorError as error:
        raise PredictionError(str(error)) from error
    warn_if_signed_wall_distances(model_path, descriptor)
    warn_if_outward_wall_normals(model_path, descriptor)
    # Never Module.from_checkpoint: it imports whatever module the file's args.json names.
    model = load_trusted_model(model_path).to(device).eval()
    if not ModelInputs(model).accepts_embedding:
        raise PredictionError(
            f"{model_path}: {type(model).__name__} does not take the (fx, embedding) inputs of models "
            "trained by lrsa-train (LRSA, Transolver, FLARE, GeoTransolver); this .mdlus was not exported by lrsa-train"
        )
    check_widths(model_path, model, descriptor)
    return model, descriptor


def check_widths(model_path: Path, model: torch.nn.Module, descriptor: ModelDescriptor) -> None:
    """The model's input and output widths must be those its descriptor's preprocessing gives.

    The two files travel together but are separate: a descriptor of another model would
    otherwise fail inside the forward pass with a shape error.

    Raises
    ------
    PredictionError
        Names both files, the model argument and both widths.
    """
    arguments = (getattr(model, "_args", None) or {}).get("__args__") or {}
    if isinstance(descriptor, MeshDescriptor):
        index = descriptor.cache_index
        features = CaseFeatures(index, uses_volume=descriptor.uses_volume, uses_surface=descriptor.uses_surface)
        fx, embedding, out = len(index.condition_names), len(features.embedding_names), len(index.target_channels)
    else:
        fx, embedding, out = len(descriptor.fx_names), len(descriptor.embedding_names), len(descriptor.target_names)
    widths = {"functional_dim": fx, "embedding_dim": embedding, "out_dim": out}
    if takes_geometry_context(arguments.keys()):
        # GeoTransolver reads fx and embedding together, and the wall's embedding as context.
        widths = {"functional_dim": fx + embedding, "geometry_dim": embedding, "out_dim": out}
    for key, width in widths.items():
        value = arguments.get(key)
        if key in arguments and (value or 0) != width:
            raise PredictionError(
                f"{model_path}: the model's {key} is {value}, but its descriptor {descriptor_path(model_path).name} "
                f"gives {width} channel(s) there; the two files are of different models"
            )


def warn_if_signed_wall_distances(model_path: Path, descriptor: ModelDescriptor) -> None:
    """Warn when the model learned cache format 1's signed wall distances.

    Prediction computes format 2's unsigned ones: the same values around a closed body,
    flipped in part or all of an internal flow's fluid.
    """
    if not isinstance(descriptor, MeshDescriptor):
        return
    index = descriptor.cache_index
    if index.has_geometry and index.format_version < 2:
        logger.warning(
            "%s: trained on cache format %s, whose wall distances were signed by a winding number; "
            "predictions use unsigned distances (format 2). Around a closed body (an external flow) they are "
            "the same; for an internal flow (a channel, a duct) retrain the model",
            model_path, index.format_version,
        )


def warn_if_outward_wall_normals(model_path: Path, descriptor: ModelDescriptor) -> None:
    """Warn when the model learned the wall normals of cache formats 1 and 2, reversed for some walls.

    Format 3 points every wall's normals into the mesh's fluid. Formats 1 and 2 pointed them out of
    it where the wall encloses the fluid (a cavity, a duct) and where a ground is exported
    with the body as one boundary (``foamToVTK -one-boundary``); around a separate closed
    body the formats agree.
    """
    if not isinstance(descriptor, MeshDescriptor):
        return
    index = descriptor.cache_index
    if index.has_geometry and index.format_version < 3:
        logger.warning(
            "%s: trained on cache format %s, whose wall normals pointed out of the fluid where the wall encloses it "
            "(a cavity, a duct) or is a ground exported with the body as one boundary; predictions use format 3's "
            "normals into the fluid. Around a separate closed body they are the same; if your cases are of those "
            "kinds, retrain the model (its cache is rebuilt)",
            model_path, index.format_version,
        )


def relative_l2(predicted: np.ndarray, true: np.ndarray) -> float:
    """``||p - y|| / ||y||`` over all entries; NaN (null in JSON) where ``||y||`` is zero.

    A zero reference, e.g. U on a no-slip wall, has no relative error; :func:`absolute_l2`
    is reported beside it. A tiny but nonzero reference keeps its (large) ratio: a wrong
    prediction of a near-zero field must not read as undefined.
    """
    reference = np.linalg.norm(true)
    if reference <= np.finfo(np.float32).tiny:
        return float("nan")
    return float(np.linalg.norm(predicted - true) / reference)


def absolute_l2(predicted: np.ndarray, true: np.ndarray) -> float:
    """``||p - y||`` over all entries, in the field's units."""
    return float(np.linalg.norm(predicted - true))


def finite_or_none(value: Any) -> Any:
    """JSON has no NaN: undefined numbers are written as null."""
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def number_or_none(value: Any) -> float | None:
    """``value`` as a finite float (a number or numeric text, as in case.json), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def warn_outside_training_range(statistics: Normalizer, conditions: dict[str, float], where: Path) -> list[str]:
    """Warn about each condition outside the range of the model's training cases; returns the warnings.

    ``statistics`` is the training cache's condition normalizer
    (``descriptor.cache_index.normalizer("conditions")``); the range is the minimum and
    maximum recorded with it. Descriptors written before ranges were recorded hold only
    the mean and standard deviation: there a value more than three standard deviations
    from the mean is warned about, saying that the exact range is unknown.
    """
    names = list(statistics.names)
    warnings = []
    for name, value in conditions.items():
        if name not in names:
            continue
        column = names.index(name)
        if statistics.minimum is not None:
            low, high = float(statistics.minimum[column]), float(statistics.maximum[column])
            if low <= value <= high:
                continue
            held = " (held fixed in training)" if low == high else ""
            message = (f"{where}: condition {name}={value:.6g} is outside the training range "
                       f"[{low:.6g}, {high:.6g}]{held}; the prediction there is an extrapolation")
        else:
            mean, std = float(statistics.mean[column]), float(statistics.std[column])
            if abs(value - mean) <= 3.0 * std:
                continue
            message = (f"{where}: condition {name}={value:.6g} is more than 3 standard deviations from the training "
                       f"mean {mean:.6g} (std {std:.6g}); the model's descriptor predates recorded ranges, so the "
                       "exact training range is unknown")
        logger.warning("%s", message)
        warnings.append(message)
    return warnings
