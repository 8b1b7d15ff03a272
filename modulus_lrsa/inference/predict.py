"""``lrsa-predict``: run a trained model on a CFD case or on Darcy arrays, write VTK for ParaView.

::

    lrsa-predict outputs/airfoil_lrsa/best_model.mdlus datasets/airfoil_small/cases/case_0007 -o predictions/case_0007
    lrsa-predict outputs/darcy_lrsa/best_model.mdlus datasets/darcy --split test --samples 0 1 2 -o predictions/darcy
    lrsa-predict outputs/darcy_lrsa/best_model.mdlus my_permeability.npy -o predictions/mine

The model comes from its ``.mdlus`` file (``physicsnemo.Module.from_checkpoint``); the
``<model>.data.json`` written beside it by ``lrsa-train`` holds the normalisation
statistics and feature layout, so a new case is preprocessed exactly like the training
data. Predictions are de-normalised to physical units.

Mesh cases produce, in the output folder, ``volume.vtu`` and ``surface.vtp`` (the case's
own mesh and wall patch with ``<field>_predicted`` arrays, plus ``<field>_error`` =
prediction - CFD where the case holds CFD results), ``prediction.vtm`` grouping both
for ParaView, and ``quantities.json`` (relative L2 per field, lift and drag
coefficients). Meshes above ``--chunk-points`` points are evaluated with the model's
exact chunked inference. Darcy inputs produce one ``sample_<k>.vti`` image per sample
and ``quantities.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import vtk

from modulus_lrsa.datapipes.cache import MeshCache, case_file_name, process_case
from modulus_lrsa.datapipes.cases import CASE_JSON_NAME, CaseEntry, CaseSource, FileRef, MeshCacheConfig, resolve_case
from modulus_lrsa.datapipes.collate import pad_collate
from modulus_lrsa.datapipes.dataset import MeshPointDataset
from modulus_lrsa.datapipes.errors import MeshDataError
from modulus_lrsa.datapipes.normalization import Normalizer
from modulus_lrsa.datapipes.readers import FieldSelector, SUPPORTED_SUFFIXES, available_fields, as_polydata, as_unstructured_grid, read_vtk
from modulus_lrsa.inference.vtk_output import (
    add_array,
    add_fields,
    atomic_write_multiblock_index,
    atomic_write_vtk,
    image_grid,
    point_cloud,
)
from modulus_lrsa.atomic import atomic_write_json
from modulus_lrsa.training.data import DESCRIPTOR_FORMAT, ForceSettings, SurfaceForceEvaluator, descriptor_path

QUANTITIES_NAME = "quantities.json"
_PREDICTED = "_predicted"
_ERROR = "_error"


class PredictionError(ValueError):
    """The model, its descriptor or the input cannot be used together."""


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
    import physicsnemo

    model_path = Path(model_path)
    if not model_path.is_file():
        raise PredictionError(f"{model_path}: model file does not exist")
    sidecar = descriptor_path(model_path)
    if not sidecar.is_file():
        raise PredictionError(
            f"{sidecar}: missing; lrsa-train writes it beside every exported model with the "
            "normalisation statistics needed to predict (copy it along with the .mdlus file)"
        )
    descriptor = json.loads(sidecar.read_text())
    if descriptor.get("format") != DESCRIPTOR_FORMAT:
        raise PredictionError(f"{sidecar}: not a modulus-lrsa data descriptor (format {descriptor.get('format')!r})")
    model = physicsnemo.Module.from_checkpoint(str(model_path)).to(device).eval()
    return model, descriptor


def _autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


@torch.no_grad()
def run_model(
    model: torch.nn.Module,
    batch: dict[str, Any],
    device: torch.device,
    chunk_points: int,
    precision: str = "fp32",
) -> torch.Tensor:
    """Forward one batch; point clouds above ``chunk_points`` use ``forward_chunked`` when available.

    Returns
    -------
    torch.Tensor
        The model output, float32, on the CPU.
    """
    batch = {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}
    keywords = {}
    parameters = inspect.signature(model.forward).parameters
    for key in ("mask", "weights"):
        if key in parameters and key in batch:
            keywords[key] = batch[key]
    structured = getattr(model, "structured_shape", None) is not None
    n_points = batch["fx"][0, ..., 0].numel()
    with _autocast(precision, device):
        if not structured and n_points > chunk_points and hasattr(model, "forward_chunked"):
            output = model.forward_chunked(batch["fx"], batch["embedding"], chunk_size=chunk_points, **keywords)
        else:
            output = model(batch["fx"], batch["embedding"], **keywords)
    return output.float().cpu()


def relative_l2(predicted: np.ndarray, true: np.ndarray) -> float:
    """``||p - y|| / ||y||`` over all entries."""
    return float(np.linalg.norm(predicted - true) / max(np.linalg.norm(true), 1e-30))


# --------------------------------------------------------------------------------------
# Darcy arrays
# --------------------------------------------------------------------------------------


def _darcy_inputs(input_path: Path, split: str) -> dict[str, np.ndarray | None]:
    if input_path.is_dir():
        from modulus_lrsa.data.darcy import load_darcy

        data = load_darcy(input_path, split)
        return {"coeff": data["coeff"], "solution": data["solution"], "x": data["x"], "y": data["y"]}
    if input_path.suffix == ".npz":
        with np.load(input_path) as archive:
            if "coeff" not in archive.files:
                raise PredictionError(f"{input_path}: no 'coeff' array (found {archive.files})")
            arrays = {key: archive[key] for key in archive.files}
        return {key: arrays.get(key) for key in ("coeff", "solution", "x", "y")}
    if input_path.suffix == ".npy":
        return {"coeff": np.load(input_path), "solution": None, "x": None, "y": None}
    raise PredictionError(f"{input_path}: expected a Darcy dataset folder, an .npz with 'coeff' or an .npy array")


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
        The ``quantities.json`` contents: per-sample relative L2 (where the solution is
        known) and their mean.
    """
    input_path, output_dir = Path(input_path), Path(output_dir)
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
    output_dir.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(indices), batch_size):
        chosen = indices[start : start + batch_size]
        fx = torch.from_numpy(coefficient_norm.normalize(coeff[chosen][..., None]).astype(np.float32))
        embedding = coordinates.expand(len(chosen), -1, -1, -1)
        if view == "points":
            fx, embedding = fx.reshape(len(chosen), -1, 1), embedding.reshape(len(chosen), -1, 2)
        output = run_model(model, {"fx": fx, "embedding": embedding}, device, chunk_points=1 << 62, precision=precision)
        predicted = solution_norm.denormalize(output.numpy().reshape(len(chosen), resolution, resolution, 1))[..., 0]
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
            atomic_write_vtk(grid, output_dir / entry["file"])
            results.append(entry)
    quantities: dict[str, Any] = {"input": str(input_path), "kind": "darcy", "samples": results}
    errors = [entry["rel_l2"] for entry in results if "rel_l2" in entry]
    if errors:
        quantities["mean_rel_l2"] = float(np.mean(errors))
    atomic_write_json(output_dir / QUANTITIES_NAME, quantities)
    return quantities


# --------------------------------------------------------------------------------------
# Mesh cases
# --------------------------------------------------------------------------------------


def _channel_components(selectors: Sequence[str], channel_names: Sequence[str]) -> dict[str, int]:
    """Components each selected field needs, from the trained channel names."""
    needed: dict[str, int] = {}
    for text in selectors:
        selector = FieldSelector.parse(text)
        if selector.components is not None:
            count = max(selector.components) + 1
        else:
            prefix = f"{selector.name}["
            count = sum(1 for name in channel_names if name.startswith(prefix)) or 1
        needed[selector.name] = max(needed.get(selector.name, 0), count)
    return needed


def _with_placeholder_fields(
    ref: FileRef, selectors: Sequence[str], channel_names: Sequence[str], location: str, workdir: Path, label: str
) -> tuple[FileRef, set[str]]:
    """The file itself if it holds every selected field; else a copy with zero-filled stand-ins.

    A new geometry has no CFD results, but the preprocessing reads the target fields
    along with the mesh. The stand-ins only let it run; their names are returned so
    that no error is reported against them.
    """
    dataset = read_vtk(ref.path, ref.block)
    present = available_fields(dataset)[location]
    missing = {name: count for name, count in _channel_components(selectors, channel_names).items() if name not in present}
    if not missing:
        return ref, set()
    copy = as_polydata(dataset) if label == "surface" else as_unstructured_grid(dataset)
    if copy is dataset:
        copy = dataset.NewInstance()
        copy.DeepCopy(dataset)
    rows = copy.GetNumberOfCells() if location == "cell" else copy.GetNumberOfPoints()
    for name, count in missing.items():
        add_array(copy, name, np.zeros((rows, count), dtype=np.float32), location)
    path = workdir / f"{label}{'.vtp' if label == 'surface' else '.vtu'}"
    atomic_write_vtk(copy, path)
    return FileRef(path), set(missing)


def _prepare_source(
    descriptor: dict[str, Any],
    case_path: Path,
    conditions: dict[str, float],
    workdir: Path,
    blocks: dict[str, str | None],
) -> tuple[CaseSource, CaseSource, MeshCacheConfig, set[str]]:
    """The case as found, the case as preprocessed, the config, and the fields without usable CFD results.

    Fields absent from the files get zero stand-ins in a copy; with conditions that
    differ from the case's own, every field counts as without results.
    """
    index = descriptor["cache_index"]
    config = MeshCacheConfig(**index["settings"])
    if blocks:
        config = dataclasses.replace(config, **{f"{part}_block": block for part, block in blocks.items()})
    case_id = case_path.stem if case_path.is_file() else case_path.name
    stale_results = False
    if conditions:
        try:
            own = resolve_case(CaseEntry(case_id=case_id, split="predict", location=case_path), config).conditions
        except MeshDataError:
            own = None  # the case states no conditions of its own: the given ones describe it
        stale_results = own is not None and any(own[name] != value for name, value in conditions.items() if name in own)
        config = dataclasses.replace(config, condition_values={case_id: conditions})
    entry = CaseEntry(case_id=case_id, split="predict", location=case_path)
    original = resolve_case(entry, config)
    source = original
    replaced: dict[FileRef, FileRef] = {}
    placeholders: set[str] = set()
    if source.volume is not None:
        new, missing = _with_placeholder_fields(
            source.volume, config.volume_fields, index["volume_channels"], config.volume_location, workdir, "volume"
        )
        replaced[source.volume] = new
        placeholders |= missing
    if source.surface is not None and config.surface_fields:
        new, missing = _with_placeholder_fields(
            source.surface, config.surface_fields, index["surface_channels"], config.surface_location, workdir, "surface"
        )
        replaced[source.surface] = new
        placeholders |= missing
    source = dataclasses.replace(
        source,
        volume=replaced.get(source.volume, source.volume),
        surface=replaced.get(source.surface, source.surface),
        geometry=replaced.get(source.geometry, source.geometry),
    )
    if stale_results:
        # The CFD fields on disk belong to the case's own conditions, not to the new ones.
        placeholders |= {FieldSelector.parse(text).name for text in (*config.volume_fields, *config.surface_fields)}
    return original, source, config, placeholders


def _check_layout(summary: dict[str, Any], index: dict[str, Any], case_path: Path) -> None:
    for key in ("dimension", "planar_axis", "volume_channels", "surface_channels", "has_geometry"):
        if summary[key] != index[key]:
            raise PredictionError(
                f"{case_path}: {key} is {summary[key]!r} but the model was trained on cases with {index[key]!r}"
            )


def _field_base(channel: str) -> str:
    return channel.split("[", 1)[0]


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
    descriptor: dict[str, Any],
    case_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    conditions: dict[str, float] | None = None,
    device: torch.device = torch.device("cpu"),
    chunk_points: int = 262144,
    precision: str = "fp32",
    blocks: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Predict every field of one CFD case and write VTK plus ``quantities.json``.

    Parameters
    ----------
    model, descriptor
        From :func:`load_model` (a model trained on mesh data).
    case_path : path-like
        Case folder (with ``case.json`` or matching the training file globs) or one VTK file.
    output_dir : path-like
        Output folder.
    conditions : dict, optional
        Global conditions (``{"U": 30, "aoa_deg": 4}``) overriding ``case.json`` params.
    chunk_points : int
        Above this many points, use the model's exact chunked inference.
    blocks : dict, optional
        ``{"volume": ..., "surface": ...}`` blocks of a ``.vtm`` input, overriding the
        training settings (e.g. a single ``.vtm`` file whose wall block is ``airfoil``).

    Returns
    -------
    dict
        ``quantities.json``: case, number of points, relative L2 per field where CFD
        results exist, lift/drag (predicted, from the CFD fields, and as reported by the
        solver in ``case.json``).
    """
    case_path, output_dir = Path(case_path), Path(output_dir)
    if not case_path.exists():
        raise PredictionError(f"{case_path}: case does not exist")
    if case_path.is_file() and case_path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise PredictionError(f"{case_path}: expected a case folder or one of {', '.join(SUPPORTED_SUFFIXES)}")
    index = descriptor["cache_index"]
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lrsa-predict-", dir=output_dir) as scratch:
        workdir = Path(scratch)
        original, source, config, placeholders = _prepare_source(
            descriptor, case_path, conditions or {}, workdir, blocks or {}
        )
        file_name = case_file_name(source.case_id)
        summary = process_case(source, config, workdir / "cases" / file_name)
        _check_layout(summary, index, case_path)
        cache = MeshCache(workdir, {**index, "cases": [{**summary, "split": "predict", "file": file_name}], "skipped": []})
        dataset = MeshPointDataset(
            cache, split="predict", volume_points=None, surface_points=None if descriptor["uses_surface"] else 0
        )
        sample = dataset[0]
        output = run_model(model, pad_collate([sample]), device, chunk_points, precision)
        predicted = dataset.target_normalizer.denormalize(output[0].numpy().astype(np.float64))
        arrays = cache.load_case(source.case_id)
        is_surface = sample["is_surface"].numpy()
        targets = index["target_channels"]
        quantities: dict[str, Any] = {
            "case": source.case_id,
            "input": str(case_path),
            "kind": "mesh",
            "conditions": source.conditions,
            "num_points": int(len(is_surface)),
            "rel_l2": {},
        }
        blocks: dict[str, str] = {}
        parts = [("volume", original.volume, config.volume_location, index["volume_channels"], ~is_surface)]
        if descriptor["uses_surface"]:
            parts.append(("surface", original.surface, config.surface_location, index["surface_channels"], is_surface))
        for label, original_ref, location, channels, rows in parts:
            if original_ref is None or not channels:
                continue
            values = predicted[rows][:, [targets.index(name) for name in channels]]
            mesh, used_location = _output_dataset(
                read_vtk(original_ref.path, original_ref.block), location, int(rows.sum()), arrays[f"{label}_positions"],
                surface=label == "surface",
            )
            add_fields(mesh, channels, values, used_location, _PREDICTED)
            known = [i for i, name in enumerate(channels) if _field_base(name) not in placeholders]
            if known:
                truth = arrays[f"{label}_targets"].astype(np.float64)
                add_fields(mesh, [channels[i] for i in known], values[:, known] - truth[:, known], used_location, _ERROR)
                for column in known:
                    key = channels[column] if label == "volume" else f"surface/{channels[column]}"
                    quantities["rel_l2"][key] = relative_l2(values[:, column], truth[:, column])
            if label == "surface" and descriptor.get("forces"):
                settings = ForceSettings(**descriptor["forces"])
                speed = source.conditions[settings.speed]
                pressure = values[:, channels.index(settings.pressure)]
                add_array(mesh, f"Cp{_PREDICTED}", pressure / (0.5 * speed**2), used_location)
                if settings.pressure not in placeholders:
                    truth_pressure = arrays["surface_targets"][:, channels.index(settings.pressure)]
                    add_array(mesh, "Cp", truth_pressure / (0.5 * speed**2), used_location)
                quantities["forces"] = _forces(cache, settings, source.case_id, values, channels, targets, placeholders, case_path)
            file = f"{label}.vtp" if isinstance(mesh, vtk.vtkPolyData) else f"{label}.vtu"
            atomic_write_vtk(mesh, output_dir / file)
            blocks[label] = file
    atomic_write_multiblock_index(output_dir / "prediction.vtm", blocks)
    quantities["files"] = blocks
    atomic_write_json(output_dir / QUANTITIES_NAME, quantities)
    return quantities


def _forces(
    cache: MeshCache,
    settings: ForceSettings,
    case_id: str,
    surface_values: np.ndarray,
    surface_channels: Sequence[str],
    targets: Sequence[str],
    placeholders: set[str],
    case_path: Path,
) -> dict[str, Any]:
    evaluator = SurfaceForceEvaluator(cache, settings, source="descriptor forces")
    in_target_layout = np.zeros((surface_values.shape[0], len(targets)))
    for column, name in enumerate(surface_channels):
        in_target_layout[:, targets.index(name)] = surface_values[:, column]
    predicted, from_fields = evaluator.coefficients(case_id, in_target_layout)
    forces: dict[str, Any] = {"predicted": predicted.as_dict()}
    shear_missing = settings.wall_shear is not None and settings.wall_shear in placeholders
    if settings.pressure not in placeholders and not shear_missing:
        forces["from_cfd_fields"] = from_fields.as_dict()
        forces["abs_error"] = {
            "Cl": abs(predicted.lift - from_fields.lift),
            "Cd": abs(predicted.drag - from_fields.drag),
        }
    case_json = case_path / CASE_JSON_NAME if case_path.is_dir() else None
    if case_json is not None and case_json.is_file() and settings.pressure not in placeholders:
        results = json.loads(case_json.read_text()).get("results") or {}
        reported = {key: float(results[key]) for key in ("Cl", "Cd") if isinstance(results.get(key), (int, float))}
        if reported:
            forces["reported_by_solver"] = reported
    return forces


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _condition(text: str) -> tuple[str, float]:
    name, separator, value = text.partition("=")
    try:
        if not separator:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with a number, got {text!r}") from None


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
    parser.add_argument("--volume-block", help="mesh cases given as one .vtm file: block of the volume mesh")
    parser.add_argument("--surface-block", help="mesh cases given as one .vtm file: block of the wall surface")
    parser.add_argument("--chunk-points", type=int, default=262144,
                        help="evaluate meshes larger than this in exact chunks (default: 262144)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lrsa-predict``; returns the exit status (1 with a one-line message on bad input)."""
    args = build_parser().parse_args(argv)
    if args.chunk_points < 1:
        print(f"lrsa-predict: error: --chunk-points must be >= 1, got {args.chunk_points}", file=sys.stderr)
        return 2
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    try:
        model, descriptor = load_model(args.model, device)
        if descriptor["kind"] == "darcy":
            quantities = predict_darcy(model, descriptor, args.input, args.output, args.split, args.samples,
                                       device, args.precision)
        else:
            blocks = {part: getattr(args, f"{part}_block") for part in ("volume", "surface")
                      if getattr(args, f"{part}_block") is not None}
            quantities = predict_case(model, descriptor, args.input, args.output, dict(args.condition), device,
                                      args.chunk_points, args.precision, blocks)
    except (PredictionError, MeshDataError, FileNotFoundError) as error:
        print(f"lrsa-predict: error: {error}", file=sys.stderr)
        return 1
    summary = {key: quantities[key] for key in ("mean_rel_l2", "rel_l2", "forces") if key in quantities}
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
