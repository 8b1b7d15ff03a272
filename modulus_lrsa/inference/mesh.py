# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Prediction on a CFD case: a case folder, one VTK file or a ``.vtm``, on its own mesh.

The input is found with the training's file settings, read through the cache's own
feature extraction (:func:`~modulus_lrsa.datapipes.features.extract_features`) so it is
preprocessed exactly like the training data, and the predicted fields (with errors
where the case holds CFD results, Cp, lift and drag) are written onto the case's own
volume mesh and wall patch. :func:`predict_and_write` is shared with
:mod:`~modulus_lrsa.inference.new_geometry`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from modulus_lrsa.atomic import atomic_write_json
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
from modulus_lrsa.datapipes.features import CaseArrays, extract_features
from modulus_lrsa.datapipes.index import CacheIndex
from modulus_lrsa.descriptor import MeshDescriptor
from modulus_lrsa.errors import MissingCaseFileError, SurfaceAsVolumeError
from modulus_lrsa.forces import ForceCoefficients, ForceSettings, integrate_forces
from modulus_lrsa.inference.common import (
    ERROR_SUFFIX,
    PREDICTED_SUFFIX,
    PREDICTION_INDEX_NAME,
    QUANTITIES_NAME,
    PredictionError,
    RunOptions,
    absolute_l2,
    check_output_folder,
    finite_or_none,
    number_or_none,
    output_folder,
    refuse_nonfinite,
    relative_l2,
    warn_outside_training_range,
)
from modulus_lrsa.io.fields import columns_in
from modulus_lrsa.io.readers import SUPPORTED_SUFFIXES, as_polydata, as_unstructured_grid, list_blocks, read_vtk
from modulus_lrsa.io.writers import (
    add_array,
    add_fields,
    atomic_write_multiblock_index,
    atomic_write_vtk,
    point_cloud,
)
from modulus_lrsa.surrogate import run_model

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MeshOptions:
    """What to predict on a CFD case, and how.

    Attributes
    ----------
    conditions : mapping
        Global conditions (``{"U": 30, "aoa_deg": 4}``) overriding ``case.json``'s params.
    volume_block, surface_block : str, optional
        Blocks of a ``.vtm`` input, overriding the training settings.
    surface : Path, optional
        The wall surface as a file of its own, for a single-file volume input.
    run : RunOptions
        Device, precision and chunk size.
    """

    conditions: Mapping[str, float] = dataclasses.field(default_factory=dict)
    volume_block: str | None = None
    surface_block: str | None = None
    surface: Path | None = None
    run: RunOptions = RunOptions()

    @property
    def blocks(self) -> dict[str, str]:
        """The blocks given, by part (``volume``, ``surface``)."""
        return {part: name for part, name in (("volume", self.volume_block), ("surface", self.surface_block))
                if name is not None}


@dataclasses.dataclass(frozen=True)
class MeshModelNeeds:
    """What a mesh model needs of its input, read from its training cache index."""

    volume: bool
    surface: bool
    geometry: bool
    conditions: tuple[str, ...]

    @classmethod
    def of(cls, descriptor: MeshDescriptor) -> MeshModelNeeds:
        index = descriptor.cache_index
        return cls(
            volume=bool(index.volume_channels),
            surface=descriptor.uses_surface,
            geometry=index.has_geometry,
            conditions=tuple(index.condition_names),
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


def near_case_json(path: Path) -> dict[str, Any]:
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
    descriptor: MeshDescriptor,
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
    config = prediction_config(descriptor.cache_index, blocks)
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
        params = near_case_json(case_path).get("params") or {}
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
    values = condition_values(needs, conditions, params, case_path)
    warn_outside_training_range(descriptor.cache_index.normalizer("conditions"), values, case_path)
    stale = any(name in params and number_or_none(params[name]) != value for name, value in conditions.items())
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


def prediction_config(index: CacheIndex, blocks: dict[str, str | None]) -> MeshCacheConfig:
    """The training settings, with the model's dimension fixed and any blocks given here."""
    # The model fixes the dimension: a lone 2D wall patch need not look one cell thick.
    config = MeshCacheConfig(**{**index.settings, "dimension": index.dimension})
    return dataclasses.replace(config, **{f"{part}_block": name for part, name in blocks.items() if name is not None})


def condition_values(
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
            value = number_or_none(given[name])
            if value is None:
                raise PredictionError(f"--condition {name}={given[name]!r}: not a finite number")
            values[name] = value
        elif name in params:
            value = number_or_none(params[name])
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


def check_layout(summary: dict[str, Any], index: CacheIndex, case_path: Path) -> None:
    """Refuse a case of another dimension or planar axis than the training cases."""
    for key, hint in (
        ("dimension", "a 2D (one-cell-thick) or 3D mesh like the training cases"),
        ("planar_axis", "the same empty axis as the training cases"),
    ):
        trained = getattr(index, key)
        if summary[key] != trained:
            raise PredictionError(
                f"{case_path}: {key} is {summary[key]!r} but the model was trained on cases with "
                f"{trained!r}; it needs {hint}"
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


def predict_case(
    model: torch.nn.Module,
    descriptor: MeshDescriptor,
    case_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    options: MeshOptions = MeshOptions(),
) -> dict[str, Any]:
    """Predict every field of one CFD case and write VTK plus ``quantities.json``.

    The input goes through the cache's own feature extraction
    (:func:`~modulus_lrsa.datapipes.features.extract_features` and
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
    options : MeshOptions
        Conditions, blocks, a separate wall file and how the model runs.

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
    index = descriptor.cache_index
    source, config, stale = resolve_prediction_input(
        descriptor, case_path, dict(options.conditions), options.blocks, options.surface
    )
    try:
        arrays, summary = extract_features(source, config, expected_channels=(index.volume_channels, index.surface_channels))
    except SurfaceAsVolumeError as error:
        raise PredictionError(
            f"{error.path}: a surface ({error.cells}D cells), given as the volume; the model predicts on a "
            f"volume of {error.needed}D cells like its training cases: give the case folder, its .vtm "
            "(foamToVTK's VTK/<case>_<time>.vtm) or its volume file (VTK/<case>_<time>/internal.vtu), "
            "with a wall file as --surface"
        ) from error
    check_layout(summary, index, case_path)
    if stale:
        # The CFD fields on disk belong to the case's own conditions, not to the given ones.
        arrays = dataclasses.replace(arrays, volume_targets=np.full_like(arrays.volume_targets, np.nan),
                                     surface_targets=np.full_like(arrays.surface_targets, np.nan))
    quantities = {"input": str(case_path), "kind": "mesh"}
    without_results = set(summary["missing_channels"]) | (set(index.target_channels) if stale else set())
    return predict_and_write(
        model, descriptor, arrays, source, config, output_dir, quantities, sorted(without_results), options.run
    )


def run_in_surface_passes(
    model: torch.nn.Module, features: CaseFeatures, arrays: CaseArrays, case_id: str, passes: int, run: RunOptions
) -> torch.Tensor:
    """The model's output for every point of a case, the wall's faces split over ``passes`` runs.

    The model pools its latent tokens over all the points it is given, so the wall's share
    of them shapes every prediction: a wall tessellated 100 times finer than the training
    walls would outweigh the volume and move the forces (an STL at 6.7k and 1.7M facets gave
    Cd 0.416 and 0.322). Each pass gives the model every volume point and one of ``passes``
    disjoint, evenly drawn groups of wall faces (a fixed seed, so reruns agree); each face is
    predicted in its pass, each volume point as the mean over the passes.

    Returns
    -------
    torch.Tensor
        (1, Nv + Ns, C), rows in the order of ``features.sample(arrays, case_id)``.
    """
    volume_count = arrays.volume_positions.shape[0] if features.uses_volume else 0
    faces = arrays.surface_positions.shape[0]
    groups = np.array_split(np.random.default_rng(0).permutation(faces), passes)
    output: torch.Tensor | None = None
    for group in groups:
        group = np.sort(group)
        part = run_model(model, pad_collate([features.sample(arrays, case_id, surface_rows=group)]), run.device,
                         run.chunk_points, run.precision)[0]
        if output is None:
            output = torch.zeros(volume_count + faces, part.shape[-1])
        output[:volume_count] += part[:volume_count] / passes
        output[volume_count + torch.from_numpy(group)] = part[volume_count:]
    return output[None]


def predict_and_write(
    model: torch.nn.Module,
    descriptor: MeshDescriptor,
    arrays: CaseArrays,
    source: CaseSource,
    config: MeshCacheConfig,
    output_dir: Path,
    quantities: dict[str, Any],
    without_results: Sequence[str],
    run: RunOptions,
    surface_passes: int = 1,
) -> dict[str, Any]:
    """Run the model on a case's arrays and write the VTK files and ``quantities.json``.

    The volume goes onto its own mesh (``source.volume``) when it has one, else onto a
    point cloud; NaN targets mean "no CFD result here" and are not compared. Lift and drag
    are integrated where ``descriptor.forces`` is set. ``surface_passes`` > 1 predicts the
    wall in that many passes (:func:`run_in_surface_passes`).
    """
    index = descriptor.cache_index
    needs = MeshModelNeeds.of(descriptor)
    features = CaseFeatures(index, uses_volume=needs.volume, uses_surface=needs.surface)
    sample = features.sample(arrays, source.case_id)
    if surface_passes > 1 and needs.surface:
        output = run_in_surface_passes(model, features, arrays, source.case_id, surface_passes, run)
    else:
        output = run_model(model, pad_collate([sample]), run.device, run.chunk_points, run.precision)
    scale = sample["target_scale"].numpy().astype(np.float64)
    predicted = features.target_normalizer.denormalize(output[0].numpy().astype(np.float64)) * scale
    is_surface = sample["is_surface"].numpy()
    targets = index.target_channels
    finite = np.isfinite(predicted)
    if not finite.all():
        refuse_nonfinite(source.location, [targets[c] for c in np.flatnonzero(~finite.all(axis=0))],
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
    parts = [("volume", source.volume, config.volume_location, index.volume_channels, ~is_surface)]
    if needs.surface:
        parts.append(("surface", source.surface, config.surface_location, index.surface_channels, is_surface))
    for label, ref, location, channels, rows in parts:
        if not channels or not rows.any():
            continue
        values = predicted[rows][:, columns_in(targets, channels)]
        part = arrays.part(label)
        truth = part["targets"].astype(np.float64)
        if ref is None:
            mesh, used_location = point_cloud(part["positions"]), "point"
        else:
            mesh, used_location = _output_dataset(
                read_vtk(ref.path, ref.block), location, int(rows.sum()), part["positions"], surface=label == "surface",
            )
        add_fields(mesh, channels, values, used_location, PREDICTED_SUFFIX)
        if ref is None:
            add_array(mesh, "quadrature_weight", part["weights"], used_location)
        known = [column for column in range(len(channels)) if np.isfinite(truth[:, column]).all()]
        if known:
            add_fields(mesh, [channels[i] for i in known], values[:, known] - truth[:, known], used_location, ERROR_SUFFIX)
            for column in known:
                key = channels[column] if label == "volume" else f"surface/{channels[column]}"
                quantities["rel_l2"][key] = relative_l2(values[:, column], truth[:, column])
                quantities["abs_l2"][key] = absolute_l2(values[:, column], truth[:, column])
        if label == "surface" and descriptor.forces is not None:
            settings = descriptor.forces
            speed = source.conditions[settings.speed]
            pressure_column = channels.index(settings.pressure)
            add_array(mesh, f"Cp{PREDICTED_SUFFIX}", values[:, pressure_column] / (0.5 * speed**2), used_location)
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
    with output_folder(output_dir) as folder:
        for file, mesh in meshes:
            atomic_write_vtk(mesh, folder / file)
        atomic_write_multiblock_index(folder / PREDICTION_INDEX_NAME, written)
        quantities["files"] = written
        quantities = finite_or_none(quantities)
        atomic_write_json(folder / QUANTITIES_NAME, quantities, allow_nan=False)
    return quantities


def _nonfinite_predictions(mesh: vtk.vtkDataSet) -> list[str]:
    """Names of the ``*_predicted`` arrays of ``mesh`` that hold NaN or Inf."""
    names = []
    for data in (mesh.GetPointData(), mesh.GetCellData()):
        for position in range(data.GetNumberOfArrays()):
            name = data.GetArrayName(position)
            if name.endswith(PREDICTED_SUFFIX) and not np.isfinite(vtk_to_numpy(data.GetArray(position))).all():
                names.append(name)
    return names


def _forces(
    arrays: CaseArrays,
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
            settings, channels, values, arrays.surface_normals, arrays.surface_weights,
            speed=source.conditions[settings.speed], angle_of_attack_deg=settings.angle_of(source.conditions),
        )

    predicted_coefficients = integrate(predicted)
    forces: dict[str, Any] = {"predicted": predicted_coefficients.as_dict()}
    if np.isfinite(truth[:, used]).all():
        from_fields = integrate(truth)
        forces["from_cfd_fields"] = from_fields.as_dict()
        # Every coefficient both integrals have (3D adds Cs and the drag's parts).
        forces["abs_error"] = {
            key: abs(value - forces["from_cfd_fields"][key])
            for key, value in forces["predicted"].items()
            if key in forces["from_cfd_fields"] and key != "reference_area"
        }
        case_json = source.location / CASE_JSON_NAME if source.location.is_dir() else None
        if case_json is not None and case_json.is_file():
            results = json.loads(case_json.read_text()).get("results")
            # What the solver reported is shown beside the prediction, never required: anything but numbers is left out.
            results = results if isinstance(results, dict) else {}
            reported = {key: number for key in ("Cl", "Cd", "Cs") if (number := number_or_none(results.get(key))) is not None}
            if reported:
                forces["reported_by_solver"] = reported
    return forces
