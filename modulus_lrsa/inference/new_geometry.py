# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Prediction around a geometry without a CFD mesh: its wall surface, the conditions, sampled volume points."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modulus_lrsa.datapipes.cache import extract_case
from modulus_lrsa.datapipes.cases import (
    CaseSource,
    FileRef,
)
from modulus_lrsa.geometry.sampling import sample_volume
from modulus_lrsa.geometry.surface import surface_from_vtk
from modulus_lrsa.inference.common import PredictionError, RunOptions, check_output_folder, warn_outside_training_range
from modulus_lrsa.inference.mesh import MeshModelNeeds, check_layout, condition_values, near_case_json, predict_and_write, prediction_config
from modulus_lrsa.io.readers import read_vtk

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
    run : RunOptions
        Device, precision and chunk size.
    """

    conditions: Mapping[str, float] = dataclasses.field(default_factory=dict)
    volume_points: int | None = None
    near_wall_fraction: float = 0.5
    near_wall_thickness: float | None = None
    box: Sequence[float] | None = None
    seed: int = 0
    run: RunOptions = RunOptions()


def predict_new_geometry(
    model: torch.nn.Module,
    descriptor: dict[str, Any],
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
    index = descriptor["cache_index"]
    needs = MeshModelNeeds.of(descriptor)
    if not needs.volume:
        raise PredictionError(
            f"--sample-volume: the model predicts wall fields only (it was trained without volume fields), so there "
            f"is no volume to sample; predict on the wall itself: lrsa-predict MODEL {wall_path} -o OUTPUT"
        )
    dimension = int(index["dimension"])
    wall = FileRef(wall_path)
    config = prediction_config(index, {})
    # The conditions come from the user (or a case.json near the wall file).
    values = condition_values(needs, dict(options.conditions), near_case_json(wall_path).get("params") or {}, wall_path)
    warn_outside_training_range(descriptor, values, wall_path)
    source = CaseSource(case_id=wall_path.stem, split="predict", location=wall_path, volume=None,
                        surface=wall if needs.surface else None, geometry=wall, conditions=values)
    if needs.surface:
        arrays, summary = extract_case(
            source, config, expected_channels=(index["volume_channels"], index["surface_channels"])
        )
        check_layout(summary, index, wall_path)
    else:
        arrays, summary = {}, {"missing_channels": list(index["target_channels"])}
    domain = index.get("training_domain")
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
    planar_axis = index["planar_axis"]
    body = surface_from_vtk(read_vtk(wall_path), planar_axis, str(wall_path))
    if body.dim != dimension:
        raise PredictionError(f"{wall_path}: a {body.dim}D surface, but the model was trained on {dimension}D cases")
    sample = sample_volume(body, count, box_min, box_max, seed=options.seed, near_wall_fraction=options.near_wall_fraction,
                           near_wall_thickness=options.near_wall_thickness, device=options.run.device)
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
        "sampling": {"volume_points": count, "near_wall_fraction": options.near_wall_fraction,
                     "near_wall_thickness": options.near_wall_thickness, "box": [box_min, box_max], "seed": options.seed},
        # How far the wall is from watertight, and what was warned about, travel with the result.
        "wall": sample.wall.as_dict(),
    }
    return predict_and_write(
        model, descriptor, arrays, source, config, output_dir, quantities, summary["missing_channels"], options.run
    )
