# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``lrsa-predict``: run a trained model on a CFD case or on Darcy arrays, write VTK for ParaView.

::

    lrsa-predict outputs/airfoil_lrsa/best_model.mdlus datasets/airfoil_small/cases/case_0007 -o predictions/case_0007
    lrsa-predict outputs/darcy_lrsa/best_model.mdlus datasets/darcy --split test --samples 0 1 2 -o predictions/darcy
    lrsa-predict outputs/darcy_lrsa/best_model.mdlus my_permeability.npy -o predictions/mine

The model comes from its ``.mdlus`` file, through :func:`~modulus_lrsa.models.trusted.load_trusted_model`
(which, unlike ``physicsnemo.Module.from_checkpoint``, imports nothing the file names); the
``<model>.data.json`` written beside it by ``lrsa-train`` holds the normalisation
statistics and feature layout, so a new case is preprocessed exactly like the training
data. Predictions are de-normalised to physical units.

Mesh cases produce, in the output folder, ``volume.vtu`` and ``surface.vtp`` (the case's
own mesh and wall patch with ``<field>_predicted`` arrays, plus ``<field>_error`` =
prediction - CFD where the case holds CFD results), ``prediction.vtm`` grouping both
for ParaView, and ``quantities.json`` (relative and absolute L2 per field, the relative
one null where the CFD field is zero, e.g. U on a wall; lift and drag coefficients).
Meshes above ``--chunk-points`` points are evaluated with the model's exact chunked
inference. Darcy inputs produce one ``sample_<k>.vti`` image per sample
and ``quantities.json``.

The output folder is written whole (:func:`modulus_lrsa.atomic.atomic_folder`): every
file goes into a hidden sibling, ``.<OUT>.partial-<host>-<pid>-<random>``, which replaces
``OUT`` only once the prediction is complete, so a killed, failed or refused run leaves
the earlier result as it was, and the next run removes what a killed one left. An
existing ``OUT`` is replaced only if it is empty or an earlier prediction (it holds
``quantities.json`` or ``prediction.vtm``); a folder of other files is refused. The
folder is checked (name and path length, a writable parent) before the model is loaded,
and a prediction holding NaN or Inf is refused, naming the fields, instead of written.

Values are checked where they enter: a condition, sampling setting or chunk size that
is not a finite number in its range is refused by the argument parser; a condition
outside the range of the training cases (recorded in ``<model>.data.json``) is warned
about, naming that range.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from modulus_lrsa.atomic import OutputFolderError, atomic_folder, atomic_write_json, check_folder_target
from modulus_lrsa.datapipes.cache import extract_case
from modulus_lrsa.datapipes.cases import (
    CASE_JSON_NAME,
    FOAM_TO_VTK_GLOB,
    CaseEntry,
    CaseSource,
    FileRef,
    MeshCacheConfig,
    natural_key,
    read_json,
    resolve_case,
    vtk_files,
)
from modulus_lrsa.datapipes.collate import pad_collate
from modulus_lrsa.datapipes.dataset import CaseFeatures
from modulus_lrsa.datapipes.normalization import Normalizer
from modulus_lrsa.errors import MeshDataError, MissingCaseFileError, ModelFileError, SurfaceAsVolumeError
from modulus_lrsa.forces import ForceCoefficients, ForceSettings, integrate_forces
from modulus_lrsa.geometry.sampling import sample_volume
from modulus_lrsa.geometry.surface import surface_from_vtk
from modulus_lrsa.io.darcy import load_darcy
from modulus_lrsa.io.fields import columns_in
from modulus_lrsa.io.readers import SUPPORTED_SUFFIXES, as_polydata, as_unstructured_grid, list_blocks, read_vtk
from modulus_lrsa.io.writers import (
    add_array,
    add_fields,
    atomic_write_multiblock_index,
    atomic_write_vtk,
    image_grid,
    point_cloud,
)
from modulus_lrsa.models.trusted import load_trusted_model
from modulus_lrsa.surrogate import DescriptorError, ModelInputs, read_descriptor, run_model

logger = logging.getLogger(__name__)

QUANTITIES_NAME = "quantities.json"
PREDICTION_INDEX_NAME = "prediction.vtm"
_PREDICTED = "_predicted"
_ERROR = "_error"
_EARLIER_OUTPUT = f"an earlier lrsa-predict output (it holds neither {QUANTITIES_NAME} nor {PREDICTION_INDEX_NAME})"


class PredictionError(ValueError):
    """The model, its descriptor or the input cannot be used together."""


# --------------------------------------------------------------------------------------
# Output folder
# --------------------------------------------------------------------------------------


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


def _output_folder(output_dir: Path) -> contextlib.AbstractContextManager[Path]:
    """The folder to write into, swapped in as ``output_dir`` when the block succeeds."""
    return atomic_folder(output_dir, is_prediction_output, _EARLIER_OUTPUT)


def _refuse_nonfinite(where: Path, fields: Sequence[str], rows: int, total: int, output_dir: Path) -> None:
    """NaN or Inf is never written as a result."""
    raise PredictionError(
        f"{where}: the model's prediction holds NaN or Inf in {', '.join(fields)} ({rows} of {total} points); "
        f"nothing was written to {output_dir} (is the input far outside the training data, or the model damaged?)"
    )


# --------------------------------------------------------------------------------------
# Model and descriptor
# --------------------------------------------------------------------------------------


def load_model(model_path: str | os.PathLike, device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a ``.mdlus`` model and the data descriptor saved beside it.

    Returns
    -------
    model : physicsnemo.Module
        In eval mode on ``device``.
    descriptor : dict
        Contents of ``<model>.data.json``.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise PredictionError(f"{model_path}: model file does not exist")
    try:
        descriptor = read_descriptor(model_path)
    except DescriptorError as error:
        raise PredictionError(str(error)) from error
    _warn_if_signed_wall_distances(model_path, descriptor)
    # Never Module.from_checkpoint: it imports whatever module the file's args.json names.
    model = load_trusted_model(model_path).to(device).eval()
    if not ModelInputs(model).accepts_embedding:
        raise PredictionError(
            f"{model_path}: {type(model).__name__} does not take the (fx, embedding) inputs of models "
            "trained by lrsa-train (LRSA, Transolver, FLARE, GeoTransolver); this .mdlus was not exported by lrsa-train"
        )
    return model, descriptor


def _warn_if_signed_wall_distances(model_path: Path, descriptor: dict[str, Any]) -> None:
    """Warn when the model learned cache format 1's signed wall distances.

    Prediction computes format 2's unsigned ones: the same values around a closed body,
    flipped in part or all of an internal flow's fluid.
    """
    index = descriptor.get("cache_index") or {}
    if descriptor.get("kind") == "mesh" and index.get("has_geometry") and index.get("format_version", 1) < 2:
        logger.warning(
            "%s: trained on cache format %s, whose wall distances were signed by a winding number; "
            "predictions use unsigned distances (format 2). Around a closed body (an external flow) they are "
            "the same; for an internal flow (a channel, a duct) retrain the model",
            model_path, index.get("format_version", 1),
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


# --------------------------------------------------------------------------------------
# Darcy arrays
# --------------------------------------------------------------------------------------


def _darcy_inputs(input_path: Path, split: str) -> dict[str, np.ndarray | None]:
    if input_path.is_dir():
        data = load_darcy(input_path, split)
        return {"coeff": data["coeff"], "solution": data["solution"], "x": data["x"], "y": data["y"]}
    if input_path.suffix not in (".npz", ".npy"):
        raise PredictionError(f"{input_path}: expected a Darcy dataset folder, an .npz with 'coeff' or an .npy array")
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
        summary = " ".join(str(error).split())[:200] or type(error).__name__
        raise PredictionError(f"{input_path}: not a readable NumPy array file ({summary})") from None
    for key, value in arrays.items():
        if key in ("coeff", "solution", "x", "y") and not (np.issubdtype(value.dtype, np.number) and np.isfinite(value).all()):
            raise PredictionError(f"{input_path}: array '{key}' must hold finite numbers (dtype {value.dtype})")
    return {key: arrays.get(key) for key in ("coeff", "solution", "x", "y")}


def predict_darcy(
    model: torch.nn.Module,
    descriptor: dict[str, Any],
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    split: str = "test",
    samples: Sequence[int] | None = None,
    device: torch.device = torch.device("cpu"),
    precision: str = "fp32",
    batch_size: int = 8,
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
    split : str
        Split of a dataset folder.
    samples : sequence of int, optional
        Sample indices; default all.

    Returns
    -------
    dict
        The ``quantities.json`` contents: per-sample relative and absolute L2 (where the
        solution is known) and the mean of the defined relative ones.
    """
    input_path, output_dir = Path(input_path), Path(output_dir)
    check_output_folder(output_dir)
    arrays = _darcy_inputs(input_path, split)
    coeff = np.asarray(arrays["coeff"], dtype=np.float32)
    solution = None if arrays["solution"] is None else np.asarray(arrays["solution"], dtype=np.float32)
    if coeff.ndim == 2:
        coeff = coeff[None]
        solution = None if solution is None else solution.reshape(coeff.shape)
    if coeff.ndim != 3 or coeff.shape[1] != coeff.shape[2]:
        raise PredictionError(f"{input_path}: coeff must be (R, R) or (S, R, R), got {coeff.shape}")
    resolution = coeff.shape[1]
    view = descriptor["view"]
    if view == "grid" and resolution != descriptor["resolution"]:
        raise PredictionError(
            f"{input_path}: {resolution}x{resolution} grid, but the model was trained on the grid view at "
            f"{descriptor['resolution']}x{descriptor['resolution']} (its convolution is tied to that grid); "
            "train with data.view=points to predict at other resolutions"
        )
    x = np.linspace(0.0, 1.0, resolution) if arrays["x"] is None else np.asarray(arrays["x"], dtype=np.float64)
    y = np.linspace(0.0, 1.0, resolution) if arrays["y"] is None else np.asarray(arrays["y"], dtype=np.float64)
    indices = list(range(coeff.shape[0])) if samples is None else list(samples)
    bad = [i for i in indices if not 0 <= i < coeff.shape[0]]
    if bad:
        raise PredictionError(f"{input_path}: sample indices {bad} are out of range (0..{coeff.shape[0] - 1})")
    coefficient_norm = Normalizer.from_dict(descriptor["normalization"]["coefficient"])
    solution_norm = Normalizer.from_dict(descriptor["normalization"]["solution"])
    grid_x, grid_y = np.meshgrid(x, y, indexing="ij")
    coordinates = torch.from_numpy(np.stack([grid_x, grid_y], axis=-1).astype(np.float32))
    results: list[dict[str, Any]] = []
    with _output_folder(output_dir) as folder:
        for start in range(0, len(indices), batch_size):
            chosen = indices[start : start + batch_size]
            fx = torch.from_numpy(coefficient_norm.normalize(coeff[chosen][..., None]).astype(np.float32))
            embedding = coordinates.expand(len(chosen), -1, -1, -1)
            if view == "points":
                fx, embedding = fx.reshape(len(chosen), -1, 1), embedding.reshape(len(chosen), -1, 2)
            output = run_model(model, {"fx": fx, "embedding": embedding}, device, chunk_points=1 << 62,
                               precision=precision)
            predicted = solution_norm.denormalize(output.numpy().reshape(len(chosen), resolution, resolution, 1))[..., 0]
            finite = np.isfinite(predicted).reshape(len(chosen), -1)
            if not finite.all():
                bad = [index for index, row in zip(chosen, finite) if not row.all()]
                _refuse_nonfinite(input_path, [f"solution of sample(s) {bad}"], int((~finite).sum()), finite.size,
                                  output_dir)
            for row, index in enumerate(chosen):
                grid = image_grid(x, y)
                # vtkImageData numbers points with x fastest: Fortran order of [i, j].
                add_array(grid, "coeff", coeff[index].ravel(order="F"), "point")
                add_array(grid, f"solution{_PREDICTED}", predicted[row].ravel(order="F"), "point")
                entry: dict[str, Any] = {"sample": index, "file": f"sample_{index:04d}.vti"}
                if solution is not None:
                    add_array(grid, "solution", solution[index].ravel(order="F"), "point")
                    add_array(grid, f"solution{_ERROR}", (predicted[row] - solution[index]).ravel(order="F"), "point")
                    entry["rel_l2"] = relative_l2(predicted[row], solution[index])
                    entry["abs_l2"] = absolute_l2(predicted[row], solution[index])
                atomic_write_vtk(grid, folder / entry["file"])
                results.append(entry)
        quantities: dict[str, Any] = {"input": str(input_path), "kind": "darcy", "samples": results}
        errors = [entry["rel_l2"] for entry in results if "rel_l2" in entry]
        if errors:
            defined = [error for error in errors if math.isfinite(error)]
            quantities["mean_rel_l2"] = float(np.mean(defined)) if defined else float("nan")
        quantities = _finite_or_none(quantities)
        atomic_write_json(folder / QUANTITIES_NAME, quantities, allow_nan=False)
    return quantities


# --------------------------------------------------------------------------------------
# Mesh cases
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MeshModelNeeds:
    """What a mesh model needs of its input, read from its training cache index."""

    volume: bool
    surface: bool
    geometry: bool
    conditions: tuple[str, ...]

    @classmethod
    def of(cls, descriptor: dict[str, Any]) -> MeshModelNeeds:
        index = descriptor["cache_index"]
        return cls(
            volume=bool(index["volume_channels"]),
            surface=bool(descriptor["uses_surface"]),
            geometry=bool(index["has_geometry"]),
            conditions=tuple(index["condition_names"]),
        )

    @property
    def wall(self) -> bool:
        """The input must include the wall surface (for its fields or for the distances)."""
        return self.surface or self.geometry

    def describe(self) -> str:
        parts = [name for name, used in (("volume fields", self.volume), ("wall fields", self.surface)) if used]
        if self.geometry:
            parts.append("distances to the wall")
        return " and ".join(parts)


def _near_case_json(path: Path) -> dict[str, Any]:
    """case.json beside a single input file or up to three folders above it (``case/VTK/x_100/internal.vtu``)."""
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
        candidate = folder / CASE_JSON_NAME
        if candidate.is_file():
            return read_json(candidate, CASE_JSON_NAME)
    return {}


def _wall_block(vtm: Path, volume_block: str, config: MeshCacheConfig) -> str:
    """The wall block of a single ``.vtm``: the training setting, else the one non-volume block."""
    blocks = list_blocks(vtm)
    if config.surface_block is not None:
        return config.surface_block
    candidates = [name for name in blocks if name != volume_block and name.rsplit("/", 1)[-1] != volume_block]
    # Trained on separate wall files (airfoil: boundary/airfoil.vtp): the block of that name.
    if config.surface_file and not any(char in Path(config.surface_file).stem for char in "*?["):
        named = [name for name in candidates if name.rsplit("/", 1)[-1] == Path(config.surface_file).stem]
        if len(named) == 1:
            return named[0]
    if len(candidates) == 1:
        return candidates[0]
    raise PredictionError(
        f"{vtm}: which block is the wall? The model needs it, and the file has {blocks}; "
        "choose it with --surface-block NAME"
    )


def resolve_prediction_input(
    descriptor: dict[str, Any],
    case_path: Path,
    conditions: dict[str, float],
    blocks: dict[str, str | None],
    surface_file: Path | None = None,
) -> tuple[CaseSource, MeshCacheConfig, bool]:
    """The files, blocks and conditions of what the user gave ``lrsa-predict``.

    ``case_path`` may be a case folder (found with the training settings: file globs,
    ``case.json``), one ``.vtu``/``.vtk``/``.vtp`` file, or one ``.vtm`` holding the
    volume and the walls. The wall may also come as a file of its own (``surface_file``).

    Returns
    -------
    source : CaseSource
    config : MeshCacheConfig
        The training settings, with the blocks used here.
    stale_results : bool
        Conditions were given that differ from the case's own, so the CFD fields in the
        files are not results for them.

    Raises
    ------
    PredictionError
        Something the model needs is missing; the message says how to supply it.
    """
    needs = MeshModelNeeds.of(descriptor)
    config = _prediction_config(descriptor["cache_index"], blocks)
    case_id = case_path.stem if case_path.is_file() else case_path.name
    if case_path.is_dir():
        entry = CaseEntry(case_id=case_id, split="predict", location=case_path)
        case_json = case_path / CASE_JSON_NAME
        params = (read_json(case_json, CASE_JSON_NAME).get("params") or {}) if case_json.is_file() else {}
        # Conditions are looked up below, where a missing one gets a hint for the CLI.
        try:
            source = resolve_case(entry, dataclasses.replace(config, conditions=(), free_stream=None))
        except MissingCaseFileError as error:
            raise PredictionError(_missing_case_file_message(case_path, error, needs)) from error
        if surface_file is not None:
            source = dataclasses.replace(source, surface=FileRef(surface_file), geometry=FileRef(surface_file))
    else:
        params = _near_case_json(case_path).get("params") or {}
        volume = surface = None
        is_vtm = case_path.suffix.lower() == ".vtm"
        if needs.volume:
            volume = FileRef(case_path, (config.volume_block or "internal") if is_vtm else None)
        if surface_file is not None:
            surface = FileRef(surface_file)
        elif needs.wall and is_vtm:
            surface = FileRef(case_path, _wall_block(case_path, volume.block if volume else "internal", config))
        elif needs.wall and not needs.volume:
            surface = FileRef(case_path)
        elif needs.wall:
            raise PredictionError(
                f"{case_path}: the model needs the wall surface as well ({needs.describe()}); give it "
                "with --surface WALL.vtp (or .stl/.vtk), or pass a .vtm holding volume and walls, or the case folder"
            )
        source = CaseSource(case_id=case_id, split="predict", location=case_path, volume=volume,
                            surface=surface, geometry=surface if needs.geometry else None, conditions={})
    if source.geometry is None and needs.geometry:
        raise PredictionError(
            f"{case_path}: the model was trained with distances to a wall surface, but no wall was found; "
            "give it with --surface WALL.vtp"
        )
    values = _condition_values(needs, conditions, params, case_path)
    warn_outside_training_range(descriptor, values, case_path)
    stale = any(name in params and _number_or_none(params[name]) != value for name, value in conditions.items())
    return dataclasses.replace(source, conditions=values), config, stale


def _missing_case_file_message(case_path: Path, error: MissingCaseFileError, needs: MeshModelNeeds) -> str:
    """A case folder where the training's file settings find nothing, said in lrsa-predict's terms."""
    part = error.part
    looked = (f"the model was trained with data.{part}_file='{error.pattern}'" if error.pattern is not None
              else f"the model was trained without data.{part}_file, so foamToVTK's {FOAM_TO_VTK_GLOB}")
    # foamToVTK's VTK/ (its default name, or -name with the .series index it writes) given for its case folder.
    inside_vtk = case_path.name == "VTK" or any(case_path.glob("*.vt[mk].series"))
    advice = (f"this is foamToVTK's output folder: pass its case folder {case_path.parent}, or one file in it"
              if inside_vtk else "pass the file itself instead of the folder")
    message = f"{case_path}: no {part} file found with the model's training settings ({looked}); {advice}"
    # A .vtm (volume and walls in one) first, else the latest time of what there is.
    exports = sorted((path for path in case_path.glob("*" if inside_vtk else "VTK/*")
                      if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES),
                     key=lambda path: (path.suffix.lower() == ".vtm", natural_key(path)))
    if exports:
        message += f", e.g. {exports[-1]}"
        if needs.wall and exports[-1].suffix.lower() != ".vtm":
            message += " with --surface WALL (e.g. a patch file VTK/<patch>/<patch>_<time>.vtk)"
    else:
        # Not an OpenFOAM export (a DrivAerML run: volume_7.vtu, boundary_7.vtp): what the folder offers.
        files = vtk_files(case_path)
        if files:
            message += f"; the folder holds {', '.join(path.name for path in files)}"
            message += " (give the wall with --surface WALL)" if needs.wall else ""
    return message


def _prediction_config(index: dict[str, Any], blocks: dict[str, str | None]) -> MeshCacheConfig:
    """The training settings, with the model's dimension fixed and any blocks given here."""
    # The model fixes the dimension: a lone 2D wall patch need not look one cell thick.
    config = MeshCacheConfig(**{**index["settings"], "dimension": int(index["dimension"])})
    return dataclasses.replace(config, **{f"{part}_block": name for part, name in blocks.items() if name is not None})


def _condition_values(
    needs: MeshModelNeeds, given: dict[str, float], params: dict[str, Any], where: Path
) -> dict[str, float]:
    """Each condition the model takes, from ``--condition`` or else the case's params; each a finite number."""
    unknown = sorted(set(given) - set(needs.conditions))
    if unknown:
        raise PredictionError(
            f"--condition {', '.join(unknown)}: the model has no such condition; it was trained with "
            f"conditions {list(needs.conditions) or 'none'}"
        )
    values: dict[str, float] = {}
    for name in needs.conditions:
        if name in given:
            value = _number_or_none(given[name])
            if value is None:
                raise PredictionError(f"--condition {name}={given[name]!r}: not a finite number")
            values[name] = value
        elif name in params:
            value = _number_or_none(params[name])
            if value is None:
                raise PredictionError(
                    f"{where}: condition '{name}' in its {CASE_JSON_NAME} params is {params[name]!r}, not a finite "
                    f"number; pass --condition {name}=VALUE"
                )
            values[name] = value
        else:
            raise PredictionError(
                f"{where}: condition '{name}' is not given; pass --condition {name}=VALUE "
                f"(the model was trained with conditions {list(needs.conditions)})"
            )
    return values


def _number_or_none(value: Any) -> float | None:
    """``value`` as a finite float (a number or numeric text, as in case.json), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def warn_outside_training_range(descriptor: dict[str, Any], conditions: dict[str, float], where: Path) -> list[str]:
    """Warn about each condition outside the range of the model's training cases; returns the warnings.

    The range is the minimum and maximum the training cache recorded with the condition
    statistics. Descriptors written before ranges were recorded hold only the mean and
    standard deviation: there a value more than three standard deviations from the mean
    is warned about, saying that the exact range is unknown.
    """
    statistics = ((descriptor.get("cache_index") or {}).get("normalization") or {}).get("conditions") or {}
    names = list(statistics.get("names") or [])
    warnings = []
    for name, value in conditions.items():
        if name not in names:
            continue
        column = names.index(name)
        if "min" in statistics and "max" in statistics:
            low, high = float(statistics["min"][column]), float(statistics["max"][column])
            if low <= value <= high:
                continue
            held = " (held fixed in training)" if low == high else ""
            message = (f"{where}: condition {name}={value:.6g} is outside the training range "
                       f"[{low:.6g}, {high:.6g}]{held}; the prediction there is an extrapolation")
        else:
            mean, std = float(statistics["mean"][column]), float(statistics["std"][column])
            if abs(value - mean) <= 3.0 * std:
                continue
            message = (f"{where}: condition {name}={value:.6g} is more than 3 standard deviations from the training "
                       f"mean {mean:.6g} (std {std:.6g}); the model's descriptor predates recorded ranges, so the "
                       "exact training range is unknown")
        logger.warning("%s", message)
        warnings.append(message)
    return warnings


def _check_layout(summary: dict[str, Any], index: dict[str, Any], case_path: Path) -> None:
    for key, hint in (
        ("dimension", "a 2D (one-cell-thick) or 3D mesh like the training cases"),
        ("planar_axis", "the same empty axis as the training cases"),
    ):
        if summary[key] != index[key]:
            raise PredictionError(
                f"{case_path}: {key} is {summary[key]!r} but the model was trained on cases with "
                f"{index[key]!r}; it needs {hint}"
            )


def _output_dataset(
    original: vtk.vtkDataSet, location: str, rows: int, positions: np.ndarray, surface: bool
) -> tuple[vtk.vtkDataSet, str]:
    """The mesh to carry the results, or a point cloud when rows do not map onto it one to one."""
    mesh = as_polydata(original) if surface else as_unstructured_grid(original)
    copy = mesh.NewInstance()
    copy.DeepCopy(mesh)
    expected = copy.GetNumberOfCells() if location == "cell" else copy.GetNumberOfPoints()
    if rows == expected:
        return copy, location
    # 2D point data keeps one of the two planes of a one-cell-thick mesh: no 1:1 mapping.
    return point_cloud(positions), "point"


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN: undefined numbers are written as null."""
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def predict_case(
    model: torch.nn.Module,
    descriptor: dict[str, Any],
    case_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    conditions: dict[str, float] | None = None,
    device: torch.device = torch.device("cpu"),
    chunk_points: int = 262144,
    precision: str = "fp32",
    blocks: dict[str, str | None] | None = None,
    surface_file: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Predict every field of one CFD case and write VTK plus ``quantities.json``.

    The input goes through the cache's own feature extraction
    (:func:`~modulus_lrsa.datapipes.cache.extract_case` and
    :class:`~modulus_lrsa.datapipes.dataset.CaseFeatures`), so it is preprocessed exactly
    like the training data; fields it lacks (a new design has no CFD results) are simply
    not compared.

    Parameters
    ----------
    model, descriptor
        From :func:`load_model` (a model trained on mesh data).
    case_path : path-like
        Case folder, one ``.vtu``/``.vtk``/``.vtp`` file, or one ``.vtm`` with volume and walls.
    output_dir : path-like
        Output folder.
    conditions : dict, optional
        Global conditions (``{"U": 30, "aoa_deg": 4}``) overriding ``case.json`` params.
    chunk_points : int
        Above this many points, use the model's exact chunked inference.
    blocks : dict, optional
        ``{"volume": ..., "surface": ...}`` blocks of a ``.vtm`` input, overriding the
        training settings.
    surface_file : path-like, optional
        The wall surface as a file of its own, for a single-file volume input.

    Returns
    -------
    dict
        ``quantities.json``: case, number of points, relative and absolute L2 per field
        where CFD results exist (the relative one None where undefined, see
        :func:`relative_l2`), lift/drag (predicted, from the CFD fields, and as reported
        by the solver in ``case.json``).
    """
    case_path, output_dir = Path(case_path), Path(output_dir)
    check_output_folder(output_dir)
    if not case_path.exists():
        raise PredictionError(f"{case_path}: case does not exist")
    if case_path.is_file() and case_path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise PredictionError(f"{case_path}: expected a case folder or one of {', '.join(SUPPORTED_SUFFIXES)}")
    index = descriptor["cache_index"]
    source, config, stale = resolve_prediction_input(
        descriptor, case_path, conditions or {}, blocks or {}, None if surface_file is None else Path(surface_file)
    )
    try:
        arrays, summary = extract_case(
            source, config, expected_channels=(index["volume_channels"], index["surface_channels"])
        )
    except SurfaceAsVolumeError as error:
        raise PredictionError(
            f"{error.path}: a surface ({error.cells}D cells), given as the volume; the model predicts on a "
            f"volume of {error.needed}D cells like its training cases: give the case folder, its .vtm "
            "(foamToVTK's VTK/<case>_<time>.vtm) or its volume file (VTK/<case>_<time>/internal.vtu), "
            "with a wall file as --surface"
        ) from error
    _check_layout(summary, index, case_path)
    if stale:
        # The CFD fields on disk belong to the case's own conditions, not to the given ones.
        for key in ("volume_targets", "surface_targets"):
            arrays[key] = np.full_like(arrays[key], np.nan)
    quantities = {"input": str(case_path), "kind": "mesh"}
    without_results = set(summary["missing_channels"]) | (set(index["target_channels"]) if stale else set())
    return _predict_and_write(
        model, descriptor, arrays, source, config, output_dir, quantities, sorted(without_results),
        device, chunk_points, precision,
    )


def _predict_and_write(
    model: torch.nn.Module,
    descriptor: dict[str, Any],
    arrays: dict[str, np.ndarray],
    source: CaseSource,
    config: MeshCacheConfig,
    output_dir: Path,
    quantities: dict[str, Any],
    without_results: Sequence[str],
    device: torch.device,
    chunk_points: int,
    precision: str,
) -> dict[str, Any]:
    """Run the model on a case's arrays and write the VTK files and ``quantities.json``.

    The volume goes onto its own mesh (``source.volume``) when it has one, else onto a
    point cloud; NaN targets mean "no CFD result here" and are not compared.
    """
    index = descriptor["cache_index"]
    needs = MeshModelNeeds.of(descriptor)
    features = CaseFeatures(index, uses_volume=needs.volume, uses_surface=needs.surface)
    sample = features.sample(arrays, source.case_id)
    output = run_model(model, pad_collate([sample]), device, chunk_points, precision)
    scale = sample["target_scale"].numpy().astype(np.float64)
    predicted = features.target_normalizer.denormalize(output[0].numpy().astype(np.float64)) * scale
    is_surface = sample["is_surface"].numpy()
    targets = index["target_channels"]
    finite = np.isfinite(predicted)
    if not finite.all():
        _refuse_nonfinite(source.location, [targets[c] for c in np.flatnonzero(~finite.all(axis=0))],
                          int((~finite.all(axis=1)).sum()), len(predicted), output_dir)
    quantities = {
        "case": source.case_id,
        **quantities,
        "conditions": source.conditions,
        "num_points": int(len(is_surface)),
        "rel_l2": {},
        "abs_l2": {},
    }
    if without_results:
        quantities["without_cfd_results"] = list(without_results)
    written: dict[str, str] = {}
    meshes: list[tuple[str, vtk.vtkDataSet]] = []
    parts = [("volume", source.volume, config.volume_location, index["volume_channels"], ~is_surface)]
    if needs.surface:
        parts.append(("surface", source.surface, config.surface_location, index["surface_channels"], is_surface))
    for label, ref, location, channels, rows in parts:
        if not channels or not rows.any():
            continue
        values = predicted[rows][:, columns_in(targets, channels)]
        truth = arrays[f"{label}_targets"].astype(np.float64)
        if ref is None:
            mesh, used_location = point_cloud(arrays[f"{label}_positions"]), "point"
        else:
            mesh, used_location = _output_dataset(
                read_vtk(ref.path, ref.block), location, int(rows.sum()), arrays[f"{label}_positions"],
                surface=label == "surface",
            )
        add_fields(mesh, channels, values, used_location, _PREDICTED)
        if ref is None:
            add_array(mesh, "quadrature_weight", arrays[f"{label}_weights"], used_location)
        known = [column for column in range(len(channels)) if np.isfinite(truth[:, column]).all()]
        if known:
            add_fields(mesh, [channels[i] for i in known], values[:, known] - truth[:, known], used_location, _ERROR)
            for column in known:
                key = channels[column] if label == "volume" else f"surface/{channels[column]}"
                quantities["rel_l2"][key] = relative_l2(values[:, column], truth[:, column])
                quantities["abs_l2"][key] = absolute_l2(values[:, column], truth[:, column])
        if label == "surface" and descriptor.get("forces"):
            settings = ForceSettings(**descriptor["forces"])
            speed = source.conditions[settings.speed]
            pressure_column = channels.index(settings.pressure)
            add_array(mesh, f"Cp{_PREDICTED}", values[:, pressure_column] / (0.5 * speed**2), used_location)
            if pressure_column in known:
                add_array(mesh, "Cp", truth[:, pressure_column] / (0.5 * speed**2), used_location)
            quantities["forces"] = _forces(arrays, source, settings, channels, values, truth)
        meshes.append((f"{label}.vtp" if isinstance(mesh, vtk.vtkPolyData) else f"{label}.vtu", mesh))
        written[label] = meshes[-1][0]
    # Quantities derived from the prediction (Cp divides by the speed) are not written as NaN or Inf either.
    derived = [name for _, mesh in meshes for name in _nonfinite_predictions(mesh)]
    if derived:
        raise PredictionError(
            f"{source.location}: {', '.join(derived)} hold NaN or Inf with the conditions {source.conditions}; "
            f"nothing was written to {output_dir}"
        )
    # Nothing is written until the whole prediction has succeeded, and then into a folder swapped in whole.
    with _output_folder(output_dir) as folder:
        for file, mesh in meshes:
            atomic_write_vtk(mesh, folder / file)
        atomic_write_multiblock_index(folder / PREDICTION_INDEX_NAME, written)
        quantities["files"] = written
        quantities = _finite_or_none(quantities)
        atomic_write_json(folder / QUANTITIES_NAME, quantities, allow_nan=False)
    return quantities


def _nonfinite_predictions(mesh: vtk.vtkDataSet) -> list[str]:
    """Names of the ``*_predicted`` arrays of ``mesh`` that hold NaN or Inf."""
    names = []
    for data in (mesh.GetPointData(), mesh.GetCellData()):
        for position in range(data.GetNumberOfArrays()):
            name = data.GetArrayName(position)
            if name.endswith(_PREDICTED) and not np.isfinite(vtk_to_numpy(data.GetArray(position))).all():
                names.append(name)
    return names


def predict_new_geometry(
    model: torch.nn.Module,
    descriptor: dict[str, Any],
    wall_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    conditions: dict[str, float] | None = None,
    volume_points: int | None = None,
    near_wall_fraction: float = 0.5,
    near_wall_thickness: float | None = None,
    box: Sequence[float] | None = None,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    chunk_points: int = 262144,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Predict around a geometry that has no CFD mesh: its wall surface and the conditions.

    Volume query points are drawn around the wall with the Warp samplers of
    :mod:`modulus_lrsa.geometry` (uniform in the training domain's bounding box plus a
    near-wall share that decays away from the wall), each with the quadrature weight of
    its sampling density, so the model's compression still approximates integrals over
    the domain. The wall itself is the given surface, preprocessed exactly like the
    training walls. Writes ``volume.vtp`` (the query points with predicted fields and
    weights), ``surface.vtp`` (the wall with predicted fields and Cp), ``prediction.vtm``
    and ``quantities.json`` (Cl, Cd from the predicted wall fields).

    Parameters
    ----------
    model, descriptor
        From :func:`load_model` (a mesh model).
    wall_path : path-like
        The wall surface: ``.stl``, ``.vtp``, ``.vtk``; for 2D models the one-cell-thick
        wall patch (e.g. OpenFOAM's ``boundary/<wall>.vtp``).
    conditions : dict
        Every global condition the model was trained with.
    volume_points : int, optional
        Query points; default the median volume point count of the training cases.
    near_wall_fraction, near_wall_thickness
        Share of points drawn near the wall, and their mean wall distance (default 5% of
        the body's largest extent); see :func:`~modulus_lrsa.geometry.sampling.sample_volume`.
    box : sequence of float, optional
        ``(min_1, .., min_D, max_1, .., max_D)``; default the training domain's bounds.
    seed : int
        Seed of the query points.
    """
    wall_path, output_dir = Path(wall_path), Path(output_dir)
    check_output_folder(output_dir)
    if not wall_path.is_file():
        raise PredictionError(f"{wall_path}: wall surface file does not exist")
    index = descriptor["cache_index"]
    needs = MeshModelNeeds.of(descriptor)
    if not needs.volume:
        raise PredictionError(
            f"--sample-volume: the model predicts wall fields only (it was trained without volume fields), so there "
            f"is no volume to sample; predict on the wall itself: lrsa-predict MODEL {wall_path} -o OUTPUT"
        )
    dimension = int(index["dimension"])
    wall = FileRef(wall_path)
    config = _prediction_config(index, {})
    # The conditions come from the user (or a case.json near the wall file).
    values = _condition_values(needs, conditions or {}, _near_case_json(wall_path).get("params") or {}, wall_path)
    warn_outside_training_range(descriptor, values, wall_path)
    source = CaseSource(case_id=wall_path.stem, split="predict", location=wall_path, volume=None,
                        surface=wall if needs.surface else None, geometry=wall, conditions=values)
    if needs.surface:
        arrays, summary = extract_case(
            source, config, expected_channels=(index["volume_channels"], index["surface_channels"])
        )
        _check_layout(summary, index, wall_path)
    else:
        arrays, summary = {}, {"missing_channels": list(index["target_channels"])}
    domain = index.get("training_domain")
    if box is not None:
        if len(box) != 2 * dimension:
            raise PredictionError(f"--box needs {2 * dimension} numbers (the {dimension} minima, then the maxima)")
        box_min, box_max = list(box[:dimension]), list(box[dimension:])
    elif domain is not None:
        box_min, box_max = domain["min"], domain["max"]
    else:
        raise PredictionError(
            "the model's training cache records no domain bounds (it predates them); give the sampling box "
            f"with --box ({2 * dimension} numbers), or rebuild the cache and retrain"
        )
    count = volume_points or (domain or {}).get("median_volume_points") or 8192
    planar_axis = index["planar_axis"]
    body = surface_from_vtk(read_vtk(wall_path), planar_axis, str(wall_path))
    if body.dim != dimension:
        raise PredictionError(f"{wall_path}: a {body.dim}D surface, but the model was trained on {dimension}D cases")
    sample = sample_volume(body, count, box_min, box_max, seed=seed, near_wall_fraction=near_wall_fraction,
                           near_wall_thickness=near_wall_thickness)
    arrays.update(
        volume_positions=sample.points.numpy(),
        volume_targets=np.full((count, len(index["volume_channels"])), np.nan, dtype=np.float32),
        volume_weights=sample.weights.numpy(),
        volume_distance=sample.distance.numpy(),
        volume_direction=sample.direction.numpy(),
        conditions=np.array([source.conditions[name] for name in index["condition_names"]], dtype=np.float64),
    )
    for key, width in (("surface_positions", dimension), ("surface_normals", dimension)):
        arrays.setdefault(key, np.zeros((0, width), np.float32))
    arrays.setdefault("surface_targets", np.zeros((0, len(index["surface_channels"])), np.float32))
    arrays.setdefault("surface_weights", np.zeros(0, np.float32))
    quantities = {
        "input": str(wall_path),
        "kind": "new_geometry",
        "sampling": {"volume_points": count, "near_wall_fraction": near_wall_fraction,
                     "near_wall_thickness": near_wall_thickness, "box": [box_min, box_max], "seed": seed},
    }
    return _predict_and_write(
        model, descriptor, arrays, source, config, output_dir, quantities, summary["missing_channels"],
        device, chunk_points, precision,
    )


def _forces(
    arrays: dict[str, np.ndarray],
    source: CaseSource,
    settings: ForceSettings,
    channels: Sequence[str],
    predicted: np.ndarray,
    truth: np.ndarray,
) -> dict[str, Any]:
    """Lift and drag from the predicted wall fields, and from the CFD ones where the input has them."""
    used = columns_in(channels, [settings.pressure, *settings.wall_shear_channels(channels)])

    def integrate(values: np.ndarray) -> ForceCoefficients:
        return integrate_forces(
            settings, channels, values, arrays["surface_normals"], arrays["surface_weights"],
            speed=source.conditions[settings.speed], angle_of_attack_deg=source.conditions[settings.angle_of_attack_deg],
        )

    predicted_coefficients = integrate(predicted)
    forces: dict[str, Any] = {"predicted": predicted_coefficients.as_dict()}
    if np.isfinite(truth[:, used]).all():
        from_fields = integrate(truth)
        forces["from_cfd_fields"] = from_fields.as_dict()
        forces["abs_error"] = {
            "Cl": abs(predicted_coefficients.lift - from_fields.lift),
            "Cd": abs(predicted_coefficients.drag - from_fields.drag),
        }
        case_json = source.location / CASE_JSON_NAME if source.location.is_dir() else None
        if case_json is not None and case_json.is_file():
            results = json.loads(case_json.read_text()).get("results") or {}
            reported = {key: float(results[key]) for key in ("Cl", "Cd") if isinstance(results.get(key), (int, float))}
            if reported:
                forces["reported_by_solver"] = reported
    return forces


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _condition(text: str) -> tuple[str, float]:
    """``--condition NAME=VALUE``: a name and a finite number."""
    name, separator, value = text.partition("=")
    name = name.strip()
    try:
        number = float(value) if separator and name else None
    except ValueError:
        number = None
    if number is None:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with a number, got {text!r}")
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{text!r}: the value must be a finite number")
    return name, number


def _finite(text: str) -> float:
    """A finite float (``nan``, ``inf`` and ``1e999`` are refused)."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return number


def _fraction(text: str) -> float:
    number = _finite(text)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text!r}")
    return number


def _positive(text: str) -> float:
    number = _finite(text)
    if number <= 0.0:
        raise argparse.ArgumentTypeError(f"expected a length > 0, got {text!r}")
    return number


def _count(text: str) -> int:
    """An integer >= 1."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrsa-predict",
        description="Predict fields with a trained model and write VTK files for ParaView.",
    )
    parser.add_argument("model", type=Path, help="exported model (.mdlus) with its .data.json beside it")
    parser.add_argument("input", type=Path, help="CFD case folder or VTK file; or a Darcy dataset folder, .npz or .npy")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--split", default="test", help="Darcy dataset folder: split to predict (default: test)")
    parser.add_argument("--samples", type=int, nargs="+", help="Darcy: sample indices (default: all)")
    parser.add_argument(
        "--condition", type=_condition, action="append", default=[], metavar="NAME=VALUE",
        help="mesh cases: global condition overriding case.json, e.g. --condition aoa_deg=4 (repeatable)",
    )
    parser.add_argument("--volume-block", help="mesh input given as one .vtm file: block of the volume mesh "
                        "(default: the training setting, else 'internal')")
    parser.add_argument("--surface-block", help="mesh input given as one .vtm file: block of the wall surface "
                        "(default: the training setting, else the only block besides the volume)")
    parser.add_argument("--surface", type=Path, metavar="FILE",
                        help="the wall surface as a file of its own (.vtp, .stl, .vtk), for a single-file volume input")
    geometry = parser.add_argument_group(
        "new geometry without a CFD mesh",
        "INPUT is the wall surface (.stl, .vtp, .vtk; in 2D the one-cell-thick wall patch); volume query "
        "points are sampled around it with their quadrature weights. Give every --condition.",
    )
    # const=0 is "N omitted"; a given N goes through _count, so 0 itself is refused.
    geometry.add_argument("--sample-volume", type=_count, nargs="?", const=0, metavar="N",
                          help="sample N volume points around the wall (N omitted: the training cases' median count)")
    geometry.add_argument("--near-wall-fraction", type=_fraction, default=0.5,
                          help="share of the points crowded at the wall, in [0, 1] (default: 0.5)")
    geometry.add_argument("--near-wall-thickness", type=_positive,
                          help="mean wall distance of those points (default: 5%% of the body's size)")
    geometry.add_argument("--box", type=_finite, nargs="+", metavar="X",
                          help="sampling box: the D minima, then the D maxima (default: the training domain)")
    geometry.add_argument("--seed", type=int, default=0, help="seed of the sampled points (default: 0)")
    parser.add_argument("--chunk-points", type=_count, default=262144,
                        help="evaluate meshes larger than this in exact chunks (default: 262144)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    parser.add_argument("--domain-parallel", action="store_true",
                        help="under torchrun: split the case's points over all ranks (exact; gloo on CPU, NCCL on "
                             "GPUs, one GPU per rank); rank 0 writes the output")
    return parser


def _start_domain_parallel(device: torch.device, output: Path, stack: contextlib.ExitStack) -> tuple[torch.device, Path]:
    """Join the torchrun process group; every rank but 0 writes into a folder it discards."""
    import torch.distributed as dist

    if not dist.is_initialized():
        if "WORLD_SIZE" not in os.environ:
            raise PredictionError("--domain-parallel runs under torchrun (e.g. torchrun --nproc_per_node=4 -m "
                                  "modulus_lrsa.inference.predict ... --domain-parallel)")
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        stack.callback(dist.destroy_process_group)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if dist.get_rank() != 0:
        output = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lrsa-predict-rank-")))
    return device, output


def _domain_parallel_model(model: torch.nn.Module) -> torch.nn.Module:
    from modulus_lrsa.models import LRSA
    from modulus_lrsa.models.domain_parallel import GatheredDomainParallelLRSA

    if not isinstance(model, LRSA) or model.structured_shape is not None:
        raise PredictionError("--domain-parallel needs an LRSA model on meshes or point clouds "
                              f"(got {type(model).__name__}{' on a structured grid' if isinstance(model, LRSA) else ''})")
    return GatheredDomainParallelLRSA(model)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lrsa-predict``; returns the exit status (1 with a one-line message on bad input)."""
    args = build_parser().parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"lrsa-predict: error: --device {args.device}: no CUDA GPU is available here; use --device cpu",
              file=sys.stderr)
        return 2
    stack = contextlib.ExitStack()
    try:
        # Before the model is loaded, and on every rank alike, so that all ranks refuse together.
        check_output_folder(args.output)
        output, rank = args.output, 0
        if args.domain_parallel:
            device, output = _start_domain_parallel(device, args.output, stack)
            rank = torch.distributed.get_rank()
        args.output = output
        model, descriptor = load_model(args.model, device)
        if args.domain_parallel:
            model = _domain_parallel_model(model)
        if descriptor["kind"] == "darcy":
            quantities = predict_darcy(model, descriptor, args.input, args.output, args.split, args.samples,
                                       device, args.precision)
        elif args.sample_volume is not None:
            quantities = predict_new_geometry(
                model, descriptor, args.input, args.output, dict(args.condition), args.sample_volume or None,
                args.near_wall_fraction, args.near_wall_thickness, args.box, args.seed, device, args.chunk_points,
                args.precision,
            )
        else:
            blocks = {part: getattr(args, f"{part}_block") for part in ("volume", "surface")
                      if getattr(args, f"{part}_block") is not None}
            quantities = predict_case(model, descriptor, args.input, args.output, dict(args.condition), device,
                                      args.chunk_points, args.precision, blocks, args.surface)
    except (PredictionError, MeshDataError, ModelFileError, OutputFolderError, OSError) as error:
        print(f"lrsa-predict: error: {error}", file=sys.stderr)
        return 1
    finally:
        stack.close()
    if rank == 0:
        summary = {key: quantities[key] for key in ("mean_rel_l2", "rel_l2", "abs_l2", "forces") if key in quantities}
        print(json.dumps(summary, indent=2))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
