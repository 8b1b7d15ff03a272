# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""A real OpenFOAM case through the datapipe: the airFoil2D tutorial, a few simpleFoam steps.

The case is run for 3 iterations, OpenFOAM writes its own cell volumes and centres
(``writeCellVolumes``, ``writeCellCentres``), ``foamToVTK`` exports the usual
``VTK/<case>_<time>.vtm`` layout, and the cache must reproduce OpenFOAM's numbers.
Skipped without OpenFOAM (or its tutorials), except under ``CI=true`` where that fails.
"""

import re

import numpy as np
import pytest
import torch
from openfoam_utils import copy_airfoil2d_tutorial, require_openfoam  # noqa: F401  (pytest fixture)

from modulus_lrsa.datapipes import MeshCacheConfig, MeshPointDataset, build_cache
from modulus_lrsa.geometry import signed_distance, surface_from_vtk
from modulus_lrsa.io.readers import extract_point_set, read_vtk

pytestmark = pytest.mark.openfoam

AIRFOIL_CELLS = 10720
AIRFOIL_WALL_FACES = 78
THICKNESS = 0.05  # z extent of the tutorial's one-cell-thick mesh


@pytest.fixture(scope="module")
def airfoil_root(require_openfoam, tmp_path_factory):
    root = tmp_path_factory.mktemp("openfoam")
    case = copy_airfoil2d_tutorial(root)
    control = case / "system" / "controlDict"
    text = re.sub(r"^endTime\s+\S+;", "endTime 3;", control.read_text(), flags=re.M)
    control.write_text(re.sub(r"^writeInterval\s+\S+;", "writeInterval 3;", text, flags=re.M))
    openfoam = require_openfoam
    openfoam.run("simpleFoam", case)
    for function in ("writeCellVolumes", "writeCellCentres"):
        openfoam.run("postProcess", case, ("-func", function, "-latestTime"), log_name=f"log.{function}")
    openfoam.run("foamToVTK", case, ("-latestTime",))
    return root


CONFIG = MeshCacheConfig(
    volume_fields=["U[0,1]", "p", "nut"],
    surface_fields=["p"],
    conditions=["U_inf"],
    condition_values={"airFoil2D": {"U_inf": 26.0}},
    volume_file="VTK/*.vtm",
    volume_block="internal",
    surface_file="VTK/*.vtm",
    surface_block="walls",
    case_pattern="airFoil2D",
    test_fraction=0.0,
)


def test_airfoil_case_is_cached_as_2d_with_openfoam_volumes(airfoil_root, tmp_path):
    cache = build_cache(airfoil_root, tmp_path / "cache", CONFIG)
    assert cache.index.dimension == 2 and cache.index.planar_axis == 2
    assert cache.index.coordinate_names == ["x", "y"]
    entry = cache.cases("train")[0]
    assert (entry["num_volume_points"], entry["num_surface_points"]) == (AIRFOIL_CELLS, AIRFOIL_WALL_FACES)
    arrays = cache.load_case(entry)

    vtm = next((airfoil_root / "airFoil2D" / "VTK").glob("*.vtm"))
    reference = extract_point_set(read_vtk(vtm, "internal"), ["V", "C", "U", "p"], "cell")
    openfoam_volume, openfoam_centre = reference.values[:, 0], reference.values[:, 1:3]
    # Weights are OpenFOAM's cell volumes (float32 round-off only).
    np.testing.assert_allclose(arrays["volume_weights"], openfoam_volume, rtol=2e-5)
    # Centres: vtkCellCenters' parametric centre vs OpenFOAM's centroid, within 3% of the cell size.
    cell_size = np.sqrt(openfoam_volume / THICKNESS)
    offset = np.linalg.norm(arrays["volume_positions"] - openfoam_centre, axis=1)
    assert np.all(offset < 0.03 * cell_size)
    # Field values come through unchanged, and the .vtm block equals the plain .vtu.
    np.testing.assert_array_equal(arrays["volume_targets"][:, :2], reference.values[:, 4:6])
    np.testing.assert_array_equal(arrays["volume_targets"][:, 2], reference.values[:, 7])
    internal_vtu = next((airfoil_root / "airFoil2D" / "VTK").glob("*/internal.vtu"))
    direct = extract_point_set(read_vtk(internal_vtu), ["p"], "cell").values[:, 0]
    np.testing.assert_array_equal(arrays["volume_targets"][:, 2], direct)

    # Every cell is in the fluid; the nearest ones lie about half a wall cell off the wall.
    assert arrays["volume_distance"].min() > 0
    nearest = np.argmin(arrays["volume_distance"])
    assert arrays["volume_distance"][nearest] < cell_size[nearest]
    # Wall normals point into the fluid: a small step along them stays outside the airfoil.
    wall = read_vtk(vtm, "walls")
    body = surface_from_vtk(wall, 2, "walls")
    assert body.orientation_sign == -1, "OpenFOAM's wall faces point into the body"
    step = arrays["surface_positions"] + 1e-3 * arrays["surface_normals"]
    assert torch.all(signed_distance(body, step).distance > 0)
    assert arrays["surface_weights"].sum() / THICKNESS == pytest.approx(body.face_measures().sum(), rel=1e-4)


def test_airfoil_samples_for_training(airfoil_root, tmp_path):
    cache = build_cache(airfoil_root, tmp_path / "cache", CONFIG)
    dataset = MeshPointDataset(cache, "train", volume_points=2048, surface_points=64)
    sample = dataset[0]
    assert sample["embedding"].shape == (2048 + 64, dataset.embedding_dim)
    assert dataset.embedding_names == ["x", "y", "distance", "direction_x", "direction_y", "is_surface"]
    assert dataset.target_names == ["U[0]", "U[1]", "p", "nut"]
    assert sample["target_mask"][2048:].sum(0).tolist() == [0, 0, 64, 0]
    assert torch.isfinite(sample["target"]).all() and torch.isfinite(sample["embedding"]).all()
