# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Prediction around a geometry without a CFD mesh: its wall surface, the conditions, sampled volume points.

In 3D (an STL of a body over a ground, as ``lrsa-data ahmed`` makes), the body is checked
against the training domain before anything runs (a body in other units, one through the
ground, one outside the domain are refused in one line), the volume is sampled in the
training domain's box, whose floor is the ground, and drag, lift and side force are
integrated on the STL's own faces (:func:`wall_force_coefficients`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from modulus_lrsa.atomic import atomic_write_json
from modulus_lrsa.datapipes.cases import CaseSource, FileRef
from modulus_lrsa.datapipes.features import CaseArrays, extract_features
from modulus_lrsa.descriptor import MeshDescriptor
from modulus_lrsa.errors import MeshDataError
from modulus_lrsa.forces import ForceCoefficients, ForceSettings, ReferenceArea, fan_triangles, force_coefficients
from modulus_lrsa.geometry.repair import WallRepair, repair_wall
from modulus_lrsa.geometry.sampling import sample_volume
from modulus_lrsa.geometry.surface import BodySurface, polygon_area_vectors, surface_cell_normals, surface_from_vtk
from modulus_lrsa.inference.common import (
    PREDICTED_SUFFIX,
    QUANTITIES_NAME,
    PredictionError,
    RunOptions,
    check_output_folder,
    finite_or_none,
    output_folder,
    warn_outside_training_range,
)
from modulus_lrsa.inference.mesh import MeshModelNeeds, check_layout, condition_values, near_case_json, predict_and_write, prediction_config
from modulus_lrsa.io.readers import cell_connectivity, point_coordinates, read_vtk
from modulus_lrsa.io.writers import add_array, atomic_write_vtk

#: A body whose extent along an axis is more than this share of the sampling box's has no
#: room for the flow around it (the ``lrsa-data ahmed`` bodies fill 14-19 % of their domain).
MAX_BODY_SHARE = 0.5
#: A wall whose extent is within this range of the sampling box's along every axis fills the
#: domain: the walls of an internal flow (pitzDaily's channel 1.01, a duct 1.02-1.14; the box
#: holds cell centres, so a coarse mesh's walls reach beyond it), around the fluid. A body in
#: other units is 25 to 1000 times too large, and told so.
ENCLOSING_SHARE = (0.9, 2.0)
#: Unit factors a body in other units than the training cases' (meters) is most likely off by.
_UNIT_FACTORS = ((1000.0, "millimeters"), (100.0, "centimeters"), (1.0 / 0.0254, "inches"))
#: A unit is named only where rescaling by it gives the body a share of the domain in this
#: range (an Ahmed body fills 0.15-0.2 of its ``lrsa-data ahmed`` domain along its worst axis),
#: the closest in ratio to :data:`_USUAL_BODY_SHARE`: a body in meters only somewhat too large
#: gets no unit guess that would shrink it to a toy.
_PLAUSIBLE_BODY_SHARE = (0.05, MAX_BODY_SHARE)
_USUAL_BODY_SHARE = 0.15

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class NewGeometryOptions:
    """The conditions of a geometry without a CFD mesh, how its volume is sampled, and how the model runs.

    Attributes
    ----------
    conditions : mapping
        Every global condition the model was trained with (a ``case.json`` beside the
        wall file supplies those not given).
    volume_points : int, optional
        Query points; default the median volume point count of the training cases.
    near_wall_fraction, near_wall_thickness : float
        Share of points drawn near the wall, and their mean wall distance (default 5% of
        the body's largest extent); see :func:`~modulus_lrsa.geometry.sampling.sample_volume`.
    box : sequence of float, optional
        ``(min_1, .., min_D, max_1, .., max_D)``; default the training domain's bounds.
    seed : int
        Seed of the query points.
    reference_area : float, optional
        3D: the area the force coefficients are divided by, overriding the model's and the
        body's shadow (:func:`wall_reference_area`).
    run : RunOptions
        Device, precision and chunk size.
    """

    conditions: Mapping[str, float] = dataclasses.field(default_factory=dict)
    volume_points: int | None = None
    near_wall_fraction: float = 0.5
    near_wall_thickness: float | None = None
    box: Sequence[float] | None = None
    seed: int = 0
    reference_area: float | None = None
    run: RunOptions = RunOptions()


def predict_new_geometry(
    model: torch.nn.Module,
    descriptor: MeshDescriptor,
    wall_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    options: NewGeometryOptions,
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
    options : NewGeometryOptions
        The conditions, how the volume points are sampled and how the model runs.
    """
    wall_path, output_dir = Path(wall_path), Path(output_dir)
    check_output_folder(output_dir)
    if not wall_path.is_file():
        raise PredictionError(f"{wall_path}: wall surface file does not exist")
    needs = MeshModelNeeds.of(descriptor)
    if not needs.volume:
        raise PredictionError(
            f"--sample-volume: the model predicts wall fields only (it was trained without volume fields), so there "
            f"is no volume to sample; predict on the wall itself: lrsa-predict MODEL {wall_path} -o OUTPUT"
        )
    if options.reference_area is not None and (descriptor.cache_index.dimension != 3 or _force_settings_3d(descriptor) is None):
        raise PredictionError("--reference-area: the model integrates no 3D forces (a 2D model, or one without wall pressure "
                              "or speed), so there is nothing to divide by it; leave it out")
    with tempfile.TemporaryDirectory(prefix="lrsa-wall-") as scratch:
        return _predict_around(model, descriptor, wall_path, output_dir, options, needs, Path(scratch))


def _predict_around(
    model: torch.nn.Module,
    descriptor: MeshDescriptor,
    wall_path: Path,
    output_dir: Path,
    options: NewGeometryOptions,
    needs: MeshModelNeeds,
    scratch: Path,
) -> dict[str, Any]:
    """:func:`predict_new_geometry` once the model and the file are known to fit; ``scratch`` holds a repaired wall."""
    index = descriptor.cache_index
    dimension = index.dimension
    config = prediction_config(index, {})
    # The conditions come from the user (or a case.json near the wall file).
    values = condition_values(needs, dict(options.conditions), near_case_json(wall_path).get("params") or {}, wall_path)
    warn_outside_training_range(index.normalizer("conditions"), values, wall_path)
    domain = index.training_domain
    box = options.box
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
    count = options.volume_points or (domain or {}).get("median_volume_points") or 8192
    dataset, wall, repair = repaired_wall(wall_path, dimension, scratch)
    body = surface_from_vtk(dataset, index.planar_axis, str(wall_path))
    if body.dim != dimension:
        raise PredictionError(f"{wall_path}: a {body.dim}D surface, but the model was trained on {dimension}D cases")
    forces = _force_settings_3d(descriptor) if dimension == 3 else None
    check_body_in_domain(body, box_min, box_max, wall_path, ground_axis=_ground_axis(forces))
    # What was repaired is said once the body is known to fit: a refused body gets its one line only.
    for note in repair.warnings() if repair is not None else []:
        logger.warning("%s: %s", wall_path, note)
    source = CaseSource(case_id=wall_path.stem, split="predict", location=wall_path, volume=None,
                        surface=wall if needs.surface else None, geometry=wall, conditions=values)
    # The wall through the training's own feature path; the volume is sampled below.
    wall_part = None
    if needs.surface:
        try:
            extracted, summary = extract_features(source, config, expected_channels=(index.volume_channels, index.surface_channels))
        except MeshDataError as error:
            raise type(error)(str(error).replace(str(wall.path), f"{wall_path} (repaired)")) from None
        check_layout(summary, index, wall_path)
        wall_part = extracted.part("surface")
    else:
        summary = {"missing_channels": list(index.target_channels)}
    sample = sample_volume(body, count, box_min, box_max, seed=options.seed, near_wall_fraction=options.near_wall_fraction,
                           near_wall_thickness=options.near_wall_thickness, device=options.run.device)
    # The query points have no CFD result: NaN targets, never compared.
    volume = {
        "positions": sample.points.numpy(),
        "targets": np.full((count, len(index.volume_channels)), np.nan, dtype=np.float32),
        "weights": sample.weights.numpy(),
        "distance": sample.distance.numpy(),
        "direction": sample.direction.numpy(),
    }
    arrays = CaseArrays.from_parts(dimension, [source.conditions[name] for name in index.condition_names],
                                   volume=volume, surface=wall_part, surface_channels=len(index.surface_channels))
    passes = wall_passes(arrays.surface_positions.shape[0] if needs.surface else 0, count, domain, wall_path)
    quantities = {
        "input": str(wall_path),
        "kind": "new_geometry",
        "sampling": {"volume_points": count, "surface_passes": passes, "near_wall_fraction": options.near_wall_fraction,
                     "near_wall_thickness": options.near_wall_thickness, "box": [box_min, box_max], "seed": options.seed},
        # How far the wall is from watertight, and what was warned about, travel with the result.
        "wall": sample.wall.as_dict(),
    }
    if repair is not None:
        quantities["wall"]["repairs"] = repair.as_dict()
        quantities["wall"]["warnings"] = repair.warnings() + quantities["wall"]["warnings"]
    if forces is None:
        return predict_and_write(
            model, descriptor, arrays, source, config, output_dir, quantities, summary["missing_channels"], options.run,
            surface_passes=passes,
        )
    # 3D: the fields are predicted and written as for any case, then the forces, Cp and Cf are
    # added, all in one folder swapped in whole.
    with output_folder(output_dir) as folder:
        staged = folder / ".fields"
        quantities = predict_and_write(
            model, dataclasses.replace(descriptor, forces=None), arrays, source, config, staged, quantities,
            summary["missing_channels"], options.run, surface_passes=passes,
        )
        for entry in staged.iterdir():
            entry.rename(folder / entry.name)
        staged.rmdir()
        quantities["forces"] = _add_wall_forces(folder / quantities["files"]["surface"], forces, source.conditions, wall_path,
                                                options.reference_area)
        atomic_write_json(folder / QUANTITIES_NAME, finite_or_none(quantities), allow_nan=False)
    return quantities


def wall_passes(faces: int, volume_points: int, domain: dict[str, Any] | None, wall_path: Path) -> int:
    """In how many passes the wall's faces are predicted, so that each pass holds about the
    training cases' share of wall faces beside ``volume_points`` volume points.

    One pass for a wall tessellated like the training walls; a finer STL is split
    (:func:`~modulus_lrsa.inference.mesh.run_in_surface_passes`). A model whose descriptor
    predates the recorded wall-face count gets one pass, and a warning where its wall
    outnumbers the volume points.
    """
    if faces == 0:
        return 1
    typical = (domain or {}).get("median_surface_points")
    if typical is None:
        if faces > volume_points:
            logger.warning(
                "%s: %d wall faces beside %d volume points, and the model's descriptor does not record how many wall "
                "faces its training cases had, so the wall is predicted in one pass; its share of the points moves the "
                "prediction (retrain to record it, or give an STL about as fine as the training walls)",
                wall_path, faces, volume_points,
            )
        return 1
    share = typical / domain["median_volume_points"]
    return max(1, round(faces / (share * volume_points)))


def repaired_wall(wall_path: Path, dimension: int, scratch: Path) -> tuple[vtk.vtkDataSet, FileRef, WallRepair | None]:
    """The wall read from ``wall_path``: in 3D without zero-area or repeated faces and ordered alike.

    Returns the dataset, the file the feature path reads it from (a copy in ``scratch``
    where a repair changed it) and the repair record (None in 2D).
    """
    dataset = read_vtk(wall_path)
    if dimension != 3:
        return dataset, FileRef(wall_path), None
    repaired, repair = repair_wall(dataset)
    if not repair.changed:
        return dataset, FileRef(wall_path), repair
    copy = atomic_write_vtk(repaired, scratch / f"{wall_path.stem}.vtp")
    return read_vtk(copy), FileRef(copy), repair


def _force_settings_3d(descriptor: MeshDescriptor) -> ForceSettings | None:
    """How a 3D model's wall fields become forces: the descriptor's 3D ``data.forces``, else a ground vehicle's.

    None where the model predicts no pressure on the wall (nothing to integrate) or its
    descriptor holds 2D settings (integrated as before, projected on the first two axes).
    """
    if descriptor.forces is not None:
        return descriptor.forces if descriptor.forces.axes is not None else None
    index = descriptor.cache_index
    surface = list(index.surface_channels)
    if not descriptor.uses_surface or "p" not in surface:
        return None
    free_stream = index.settings.get("free_stream") or {}
    conditions = list(index.condition_names)
    speed = free_stream.get("speed") if free_stream.get("enabled") else None
    speed = speed or ("U" if "U" in conditions else None)
    if speed is None or speed not in conditions:
        return None
    shear = "wallShearStress" if any(name.split("[")[0] == "wallShearStress" for name in surface) else None
    return ForceSettings.ground_vehicle(speed=speed, wall_shear=shear)


def _ground_axis(forces: ForceSettings | None) -> int | None:
    """The axis normal to the ground (the lift direction's largest component); None without 3D forces."""
    if forces is None or forces.axes is None:
        return None
    return int(np.argmax(np.abs(forces.axes.lift)))


def check_body_in_domain(
    body: BodySurface,
    box_min: Sequence[float],
    box_max: Sequence[float],
    where: Path,
    ground_axis: int | None = None,
) -> None:
    """Refuse a body (2D or 3D) that the training domain cannot hold, in one line naming the file.

    * a wall about as large as the box along every axis (:data:`ENCLOSING_SHARE`): the walls of
      an internal flow, around the fluid, which have no outside to sample;
    * a body much larger than the box (more than :data:`MAX_BODY_SHARE` of it along an
      axis): another unit than the training cases' (an STL in millimeters beside a domain
      in meters) is named with the factor;
    * a body through the ground: the box's floor along ``ground_axis`` (z = 0 for
      ``lrsa-data ahmed``) is the ground, and the body must lie above it;
    * a body not inside the box.

    Raises
    ------
    PredictionError
    """
    lower, upper = (np.asarray(bound, dtype=np.float64) for bound in body.bounds())
    box_lower, box_upper = np.asarray(box_min, dtype=np.float64), np.asarray(box_max, dtype=np.float64)
    share = (upper - lower) / (box_upper - box_lower)
    worst = int(np.argmax(share))
    names = "xyz"
    if ((share >= ENCLOSING_SHARE[0]) & (share <= ENCLOSING_SHARE[1])).all():
        spans = ", ".join(f"{names[axis]} {share[axis]:.3g}" for axis in range(len(share)))
        raise PredictionError(
            f"{where}: the wall spans the whole training domain ({spans} times its extent): these look like walls "
            "around the fluid (an internal flow: a channel, a duct), which have no outside to sample, so "
            "--sample-volume would draw its points where there is no fluid; predict on the case's mesh instead "
            "(lrsa-predict MODEL CASE_FOLDER -o OUTPUT)"
        )
    if share[worst] > MAX_BODY_SHARE:
        size = " x ".join(f"{extent:.4g}" for extent in upper - lower)
        box = " x ".join(f"{extent:.4g}" for extent in box_upper - box_lower)
        low, high = _PLAUSIBLE_BODY_SHARE
        units = sorted((abs(np.log(share[worst] / factor / _USUAL_BODY_SHARE)), factor, name)
                       for factor, name in _UNIT_FACTORS if low <= share[worst] / factor <= high)
        hint = (f"it looks like {units[0][2]} beside a training domain in meters: scale the STL by {1.0 / units[0][1]:g}"
                if units else f"scale it (it is in the training cases' units, meters?) so that it spans at most "
                              f"{MAX_BODY_SHARE:g} of the domain along every axis")
        raise PredictionError(
            f"{where}: the body is {size}, along {names[worst]} {share[worst]:.3g} times the extent of the training "
            f"domain ({box}): too large for the model's domain; {hint}"
        )
    if ground_axis is not None and lower[ground_axis] <= box_lower[ground_axis]:
        raise PredictionError(
            f"{where}: the body reaches {names[ground_axis]} = {lower[ground_axis]:.4g}, at or below the ground at "
            f"{names[ground_axis]} = {box_lower[ground_axis]:.4g} (the training domain's floor): it passes through the "
            "ground; move it up so that its underside clears the ground, as the training bodies do (an export with "
            f"another axis up, such as y, needs turning so that {names[ground_axis]} is up)"
        )
    outside = [names[axis] for axis in range(len(lower)) if lower[axis] < box_lower[axis] or upper[axis] > box_upper[axis]]
    if outside:
        raise PredictionError(
            f"{where}: the body ({lower.round(4).tolist()} .. {upper.round(4).tolist()}) leaves the training domain "
            f"({box_lower.round(4).tolist()} .. {box_upper.round(4).tolist()}) along {', '.join(outside)}; place it "
            "as the training bodies are placed, or give a sampling box with --box"
        )


def wall_force_coefficients(
    surface: vtk.vtkDataSet,
    settings: ForceSettings,
    conditions: Mapping[str, float],
    suffix: str = PREDICTED_SUFFIX,
    where: str = "<surface>",
) -> ForceCoefficients:
    """Forces of a 3D wall's cell fields ``<pressure><suffix>`` and ``<wall_shear><suffix>`` on its own faces.

    The faces' outward normals and areas come from the surface itself (an STL, the
    ``surface.vtp`` of a prediction on an OpenFOAM body patch), so a prediction from an STL
    and one on a CFD mesh are integrated alike. ``suffix=""`` integrates the CFD fields.
    Without ``settings.reference_area`` the coefficients are divided by the area
    :func:`wall_reference_area` measures.
    """
    cell_data = surface.GetCellData()

    def field(name: str) -> np.ndarray:
        array = cell_data.GetArray(name)
        if array is None:
            raise PredictionError(f"{where}: no cell field '{name}' to integrate the forces from")
        return vtk_to_numpy(array).astype(np.float64)

    points, connectivity, offsets, normals, areas = _wall_faces(surface, where)
    area = settings.reference_area
    if area is None and settings.axes is not None:
        area = _measured_area(points, connectivity, offsets, normals, areas, settings, conditions).area
    return force_coefficients(
        field(settings.pressure + suffix), normals, areas, speed=float(conditions[settings.speed]),
        angle_of_attack_deg=settings.angle_of(conditions), chord=settings.chord, span=settings.span,
        wall_shear=field(settings.wall_shear + suffix) if settings.wall_shear else None,
        wall_shear_sign=settings.wall_shear_sign, axes=settings.axes, reference_area=area,
    )


def _wall_faces(surface: vtk.vtkDataSet, where: str) -> tuple[np.ndarray, ...]:
    """The wall's points, cell connectivity and offsets, outward unit normals and face areas."""
    body = surface_from_vtk(surface, None, where)
    normals = surface_cell_normals(surface, body, where)
    points = point_coordinates(surface)
    connectivity, offsets = cell_connectivity(surface)
    areas = np.linalg.norm(polygon_area_vectors(points, connectivity, offsets), axis=1)
    return points, connectivity, offsets, normals, areas


def _measured_area(points: np.ndarray, connectivity: np.ndarray, offsets: np.ndarray, normals: np.ndarray, areas: np.ndarray,
                   settings: ForceSettings, conditions: Mapping[str, float]) -> ReferenceArea:
    """The wall's shadow along the free stream (turned by the angle of attack), or the faces' formula where they agree."""
    drag = settings.axes.turned(settings.angle_of(conditions))[0]
    return ReferenceArea.measured(points, fan_triangles(connectivity, offsets), normals, areas, drag)


def wall_reference_area(
    surface: vtk.vtkDataSet,
    settings: ForceSettings,
    conditions: Mapping[str, float],
    given: float | None = None,
    where: str = "<surface>",
) -> ReferenceArea:
    """The area a 3D wall's force coefficients are divided by, and where it came from.

    ``given`` (``lrsa-predict --reference-area``), else the model's
    ``data.forces.reference_area``, else measured on the wall's faces: the area of its
    shadow along the free stream (:func:`~modulus_lrsa.forces.shadow_area`), which the sum
    ``0.5 sum |n.d| A`` over the faces overestimates where parts of the body hide others
    (a motorbike's rider and wheels: 3.6 times), or that sum itself where the two agree
    (:meth:`~modulus_lrsa.forces.ReferenceArea.measured`: it is exact there, as for the
    ``lrsa-data ahmed`` bodies, whose OpenFOAM ``Aref`` it equals).
    """
    if given is not None:
        return ReferenceArea(float(given), "given")
    if settings.reference_area is not None:
        return ReferenceArea(float(settings.reference_area), "model")
    return _measured_area(*_wall_faces(surface, where), settings, conditions)


def _add_wall_forces(path: Path, settings: ForceSettings, conditions: Mapping[str, float], where: Path,
                     given_area: float | None = None) -> dict[str, Any]:
    """Integrate the predicted wall fields of ``path``, add Cp and Cf to it, and return the ``forces`` record.

    The record holds the reference area and its method (:func:`wall_reference_area`) and,
    where the faces' formula lies well above the shadow used, a warning naming both.
    """
    reader = vtk.vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    surface = reader.GetOutput()
    reference = wall_reference_area(surface, settings, conditions, given_area, str(where))
    coefficients = wall_force_coefficients(surface, dataclasses.replace(settings, reference_area=reference.area), conditions,
                                           where=str(where))
    dynamic = 0.5 * float(conditions[settings.speed]) ** 2
    cell_data = surface.GetCellData()
    add_array(surface, f"Cp{PREDICTED_SUFFIX}", vtk_to_numpy(cell_data.GetArray(settings.pressure + PREDICTED_SUFFIX)) / dynamic,
              "cell")
    if settings.wall_shear:
        # The skin-friction coefficient as a vector: the wall shear over the dynamic pressure.
        shear = vtk_to_numpy(cell_data.GetArray(settings.wall_shear + PREDICTED_SUFFIX))
        add_array(surface, f"Cf{PREDICTED_SUFFIX}", shear / dynamic, "cell")
    atomic_write_vtk(surface, path)
    record = {"predicted": coefficients.as_dict(), "settings": settings.as_dict(), **reference.as_dict()}
    warning = reference.warning()
    if warning is not None:
        logger.warning("%s: %s", where, warning)
        record["warnings"] = [warning]
    return record
