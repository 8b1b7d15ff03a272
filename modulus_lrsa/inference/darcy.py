# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Darcy prediction: permeability arrays in, one ``.vti`` image per sample and ``quantities.json`` out."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modulus_lrsa.atomic import atomic_write_json
from modulus_lrsa.datapipes.grid import as_points, node_coordinates
from modulus_lrsa.descriptor import DarcyDescriptor
from modulus_lrsa.errors import one_line
from modulus_lrsa.inference.common import (
    ERROR_SUFFIX,
    PREDICTED_SUFFIX,
    QUANTITIES_NAME,
    PredictionError,
    RunOptions,
    absolute_l2,
    check_output_folder,
    finite_or_none,
    output_folder,
    refuse_nonfinite,
    relative_l2,
)
from modulus_lrsa.io.darcy import SPLITS, DarcyDatasetError, array_size_problem, load_darcy
from modulus_lrsa.io.writers import (
    add_array,
    atomic_write_vtk,
    image_grid,
)
from modulus_lrsa.surrogate import run_model

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DarcyOptions:
    """What to predict of a Darcy input, and how.

    Attributes
    ----------
    split : str
        Split of a dataset folder.
    samples : sequence of int, optional
        Sample indices; default all.
    batch_size : int
        Samples per model call.
    run : RunOptions
        Device and precision (the grid is never chunked).
    """

    split: str = "test"
    samples: Sequence[int] | None = None
    batch_size: int = 8
    run: RunOptions = RunOptions()


def _darcy_inputs(input_path: Path, split: str) -> dict[str, np.ndarray | None]:
    if input_path.is_dir():
        if split not in SPLITS:
            raise PredictionError(f"--split {split!r}: a Darcy dataset has the splits {', '.join(SPLITS)}")
        try:
            data = load_darcy(input_path, split)
        except DarcyDatasetError as error:
            raise PredictionError(str(error)) from None
        return {"coeff": data["coeff"], "solution": data["solution"], "x": data["x"], "y": data["y"]}
    if input_path.suffix not in (".npz", ".npy"):
        raise PredictionError(f"{input_path}: expected a Darcy dataset folder, an .npz with 'coeff' or an .npy array")
    problem = array_size_problem(input_path)
    if problem:
        raise PredictionError(f"{input_path}: {problem}")
    try:
        if input_path.suffix == ".npz":
            with np.load(input_path, allow_pickle=False) as archive:
                if "coeff" not in archive.files:
                    raise PredictionError(f"{input_path}: no 'coeff' array (found {archive.files})")
                arrays = {key: archive[key] for key in archive.files}
        else:
            arrays = {"coeff": np.load(input_path, allow_pickle=False)}
    except PredictionError:
        raise
    except (ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        # Object arrays (pickles) are refused by allow_pickle=False as a ValueError too.
        raise PredictionError(f"{input_path}: not a readable NumPy array file ({one_line(error)})") from None
    for key, value in arrays.items():
        # Integers and floats; complex numbers would lose their imaginary part in the float32 cast.
        if key in ("coeff", "solution", "x", "y") and not (value.dtype.kind in "iuf" and np.isfinite(value).all()):
            raise PredictionError(f"{input_path}: array '{key}' must hold finite numbers (integers or floats; dtype {value.dtype})")
    return {key: arrays.get(key) for key in ("coeff", "solution", "x", "y")}


def predict_darcy(
    model: torch.nn.Module,
    descriptor: DarcyDescriptor,
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    options: DarcyOptions = DarcyOptions(),
) -> dict[str, Any]:
    """Predict Darcy pressure fields and write one ``.vti`` per sample.

    Parameters
    ----------
    model, descriptor
        From :func:`load_model` (a Darcy-trained model).
    input_path : path-like
        Dataset folder (with ``--split``), ``.npz`` holding ``coeff`` (S, R, R) or (R, R)
        and optionally ``solution``, ``x``, ``y``; or ``.npy`` of ``coeff``.
    output_dir : path-like
        Where ``sample_<k>.vti`` and ``quantities.json`` go.
    options : DarcyOptions
        Split, samples, batch size and how the model runs.

    Returns
    -------
    dict
        The ``quantities.json`` contents: per-sample relative and absolute L2 (where the
        solution is known) and the mean of the defined relative ones.
    """
    input_path, output_dir = Path(input_path), Path(output_dir)
    check_output_folder(output_dir)
    arrays = _darcy_inputs(input_path, options.split)
    coeff = np.asarray(arrays["coeff"], dtype=np.float32)
    solution = None if arrays["solution"] is None else np.asarray(arrays["solution"], dtype=np.float32)
    if coeff.ndim == 2:
        coeff = coeff[None]
        solution = None if solution is None else solution.reshape(coeff.shape)
    if coeff.ndim != 3 or coeff.shape[1] != coeff.shape[2] or 0 in coeff.shape:
        raise PredictionError(f"{input_path}: coeff must be (R, R) or (S, R, R) with R and S >= 1, got {coeff.shape}")
    resolution = coeff.shape[1]
    view = descriptor.view
    if view == "grid" and resolution != descriptor.resolution:
        raise PredictionError(
            f"{input_path}: {resolution}x{resolution} grid, but the model was trained on the grid view at "
            f"{descriptor.resolution}x{descriptor.resolution} (its convolution is tied to that grid); "
            "train with data.view=points to predict at other resolutions"
        )
    x = np.linspace(0.0, 1.0, resolution) if arrays["x"] is None else np.asarray(arrays["x"], dtype=np.float64)
    y = np.linspace(0.0, 1.0, resolution) if arrays["y"] is None else np.asarray(arrays["y"], dtype=np.float64)
    indices = list(range(coeff.shape[0])) if options.samples is None else list(options.samples)
    bad = [i for i in indices if not 0 <= i < coeff.shape[0]]
    if bad:
        raise PredictionError(f"{input_path}: sample indices {bad} are out of range (0..{coeff.shape[0] - 1})")
    # The inputs are built as DarcyDataset builds them in training.
    normalizers = descriptor.normalization
    coordinates = node_coordinates(x, y)
    results: list[dict[str, Any]] = []
    with output_folder(output_dir) as folder:
        for start in range(0, len(indices), options.batch_size):
            chosen = indices[start : start + options.batch_size]
            fx = normalizers.coefficient_features(coeff[chosen])
            embedding = np.repeat(coordinates[None], len(chosen), axis=0)
            if view == "points":
                fx, embedding = as_points(fx), as_points(embedding)
            inputs = {"fx": torch.from_numpy(fx), "embedding": torch.from_numpy(embedding)}
            output = run_model(model, inputs, options.run.device, chunk_points=1 << 62, precision=options.run.precision)
            predicted = normalizers.solution.denormalize(output.numpy().reshape(len(chosen), resolution, resolution, 1))[..., 0]
            finite = np.isfinite(predicted).reshape(len(chosen), -1)
            if not finite.all():
                bad = [index for index, row in zip(chosen, finite) if not row.all()]
                refuse_nonfinite(input_path, [f"solution of sample(s) {bad}"], int((~finite).sum()), finite.size,
                                  output_dir)
            for row, index in enumerate(chosen):
                grid = image_grid(x, y)
                # vtkImageData numbers points with x fastest: Fortran order of [i, j].
                add_array(grid, "coeff", coeff[index].ravel(order="F"), "point")
                add_array(grid, f"solution{PREDICTED_SUFFIX}", predicted[row].ravel(order="F"), "point")
                entry: dict[str, Any] = {"sample": index, "file": f"sample_{index:04d}.vti"}
                if solution is not None:
                    add_array(grid, "solution", solution[index].ravel(order="F"), "point")
                    add_array(grid, f"solution{ERROR_SUFFIX}", (predicted[row] - solution[index]).ravel(order="F"), "point")
                    entry["rel_l2"] = relative_l2(predicted[row], solution[index])
                    entry["abs_l2"] = absolute_l2(predicted[row], solution[index])
                atomic_write_vtk(grid, folder / entry["file"])
                results.append(entry)
        quantities: dict[str, Any] = {"input": str(input_path), "kind": "darcy", "samples": results}
        errors = [entry["rel_l2"] for entry in results if "rel_l2" in entry]
        if errors:
            defined = [error for error in errors if math.isfinite(error)]
            quantities["mean_rel_l2"] = float(np.mean(defined)) if defined else float("nan")
        quantities = finite_or_none(quantities)
        atomic_write_json(folder / QUANTITIES_NAME, quantities, allow_nan=False)
    return quantities
