# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Preprocessing cache, point datasets, padding, sharding: on tiny synthetic 3D cases.

Each case is a box of hexahedral cells around a unit sphere (the body): volume fields
``p`` and ``U``, wall fields ``p`` and ``tau`` on the sphere's faces, and a case.json with
the global conditions ``U`` and ``aoa_deg``. Field values are analytic in the positions
and scaled per case, so every cached number can be checked.
"""

import dataclasses
import json
import logging
import os

import numpy as np
import pytest
import torch
import vtk
from torch.utils.data import DataLoader
from vtk.util.numpy_support import numpy_to_vtk

from modulus_lrsa.datapipes import (
    CaseShardSampler,
    MeshCache,
    MeshCacheConfig,
    MeshPointDataset,
    Normalizer,
    RunningMoments,
    build_cache,
    pad_collate,
)
from modulus_lrsa.errors import CaseConfigError, MeshDataError, MissingCaseFileError, NonFiniteFieldError

SPHERE_RESOLUTION = 16


def add_array(data, name, values):
    array = numpy_to_vtk(np.ascontiguousarray(values, dtype=np.float32), deep=True)
    array.SetName(name)
    data.AddArray(array)


def box_volume(cells_per_axis, scale):
    image = vtk.vtkImageData()
    image.SetDimensions(*(cells_per_axis + 1,) * 3)
    image.SetOrigin(-2.0, -2.0, -2.0)
    image.SetSpacing(*(4.0 / cells_per_axis,) * 3)
    to_unstructured = vtk.vtkAppendFilter()
    to_unstructured.AddInputData(image)
    to_unstructured.Update()
    grid = to_unstructured.GetOutput()
    centres = volume_centres(cells_per_axis)
    add_array(grid.GetCellData(), "p", scale * centres[:, 0] + 1.0)
    add_array(grid.GetCellData(), "U", np.stack([np.full(len(centres), scale), centres[:, 1], centres[:, 2] ** 2], 1))
    return grid


def volume_centres(cells_per_axis):
    spacing = 4.0 / cells_per_axis
    axis = -2.0 + spacing * (np.arange(cells_per_axis) + 0.5)
    # vtkImageData orders cells with x fastest.
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([x, y, z], axis=-1).reshape(-1, 3)


def sphere_wall(scale):
    source = vtk.vtkSphereSource()
    source.SetRadius(1.0)
    source.SetThetaResolution(SPHERE_RESOLUTION)
    source.SetPhiResolution(SPHERE_RESOLUTION // 2)
    source.Update()
    centres = vtk.vtkCellCenters()
    centres.SetInputData(source.GetOutput())
    centres.Update()
    positions = np.array([centres.GetOutput().GetPoint(i) for i in range(centres.GetOutput().GetNumberOfPoints())])
    wall = source.GetOutput()
    add_array(wall.GetCellData(), "p", scale * positions[:, 2])
    add_array(wall.GetCellData(), "tau", scale * np.stack([positions[:, 1], -positions[:, 0], np.zeros(len(positions))], 1))
    return wall


def write_xml(dataset, path):
    writer = vtk.vtkXMLUnstructuredGridWriter() if path.suffix == ".vtu" else vtk.vtkXMLPolyDataWriter()
    writer.SetFileName(str(path))
    writer.SetInputData(dataset)
    assert writer.Write() == 1


def make_case(root, name, index, cells_per_axis=4):
    folder = root / name
    folder.mkdir(parents=True)
    scale = 1.0 + index
    write_xml(box_volume(cells_per_axis, scale), folder / "internal.vtu")
    write_xml(sphere_wall(scale), folder / "walls.vtp")
    (folder / "case.json").write_text(json.dumps({"params": {"U": 10.0 + index, "aoa_deg": 2.0 * index}}))
    return folder


CONFIG = MeshCacheConfig(
    volume_fields=["p", "U"],
    surface_fields=["p", "tau[0,1]"],
    conditions=["U", "aoa_deg"],
    volume_file="internal.vtu",
    surface_file="walls.vtp",
    case_pattern="case*",
    test_fraction=0.25,
)


@pytest.fixture(scope="module")
def case_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cases")
    for index in range(8):
        make_case(root, f"case{index}", index, cells_per_axis=4 + index % 2)
    return root


@pytest.fixture(scope="module")
def cache(case_root, tmp_path_factory):
    return build_cache(case_root, tmp_path_factory.mktemp("cache"), CONFIG)


def test_cache_holds_the_case_arrays(cache):
    assert cache.index.dimension == 3
    assert cache.index.target_channels == ["p", "U[0]", "U[1]", "U[2]", "tau[0]", "tau[1]"]
    assert len(cache.cases("train")) == 6 and len(cache.cases("test")) == 2
    entry = cache.cases()[3]
    arrays = cache.load_case(entry)
    cells = 4 + 3 % 2
    centres = volume_centres(cells)
    np.testing.assert_allclose(arrays["volume_positions"], centres, atol=1e-6)
    np.testing.assert_array_equal(arrays["volume_targets"][:, 0], np.float32(4.0 * centres[:, 0] + 1.0))
    np.testing.assert_allclose(arrays["volume_weights"], (4.0 / cells) ** 3, rtol=1e-6)
    # Distances to the polygonal unit sphere: mesh cells are fluid, so the cells this box
    # puts inside the sphere are as far from the wall as their mirror images outside. The
    # faces sit inside the true sphere by less than the sagitta of the coarser (polar) step.
    sagitta = 1 - np.cos(np.pi / (SPHERE_RESOLUTION // 2))
    np.testing.assert_allclose(arrays["volume_distance"], np.abs(np.linalg.norm(centres, axis=1) - 1.0), atol=sagitta)
    # Wall normals point into the fluid, and the wall weights are the face areas.
    normals, positions = arrays["surface_normals"], arrays["surface_positions"]
    assert np.all(np.einsum("ij,ij->i", normals, positions) > 0)
    assert arrays["surface_weights"].sum() == pytest.approx(4 * np.pi, rel=0.05)
    np.testing.assert_array_equal(arrays["conditions"], [13.0, 6.0])
    # What lrsa-predict needs to sample a new body like these: the typical cell and wall-face counts.
    train = [cache.load_case(e) for e in cache.cases("train")]
    domain = cache.index.training_domain
    assert domain["median_volume_points"] == int(np.median([len(a["volume_positions"]) for a in train]))
    assert domain["median_surface_points"] == int(np.median([len(a["surface_positions"]) for a in train]))


def test_statistics_match_numpy_over_the_training_cases(cache):
    train = [cache.load_case(entry) for entry in cache.cases("train")]
    volume = np.concatenate([case["volume_targets"] for case in train]).astype(np.float64)
    surface = np.concatenate([case["surface_targets"] for case in train]).astype(np.float64)
    target = cache.index.normalizer("target")
    # 'p' is one column fed by volume and wall points alike.
    pressure = np.concatenate([volume[:, 0], surface[:, 0]])
    np.testing.assert_allclose(target.mean[0], pressure.mean(), rtol=1e-10)
    np.testing.assert_allclose(target.std[0], pressure.std(), rtol=1e-10)
    np.testing.assert_allclose(target.mean[1:4], volume[:, 1:].mean(0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(target.std[2:4], volume[:, 2:].std(0), rtol=1e-10)
    assert target.std[1] == pytest.approx(volume[:, 1].std(), rel=1e-10)
    np.testing.assert_allclose(target.std[4:], surface[:, 1:].std(0), rtol=1e-10)
    conditions = np.array([case["conditions"] for case in train])
    np.testing.assert_allclose(cache.index.normalizer("conditions").mean, conditions.mean(0), rtol=1e-12)
    np.testing.assert_allclose(cache.index.normalizer("conditions").std, conditions.std(0), rtol=1e-12)
    positions = np.concatenate([np.concatenate([c["volume_positions"], c["surface_positions"]]) for c in train]).astype(np.float64)
    coordinates = cache.index.normalizer("coordinates")
    np.testing.assert_allclose(coordinates.mean, positions.mean(0), atol=1e-9)
    np.testing.assert_allclose(coordinates.std, np.sqrt(positions.var(0).mean()), rtol=1e-9)


def test_rerun_reuses_cache_and_changes_rebuild(tmp_path):
    root = tmp_path / "cases"
    for index in range(3):
        make_case(root, f"case{index}", index)
    cache_dir = tmp_path / "cache"
    config = MeshCacheConfig(volume_fields=["p"], volume_file="internal.vtu", case_pattern="case*")
    first = build_cache(root, cache_dir, config)
    files = {entry["case_id"]: cache_dir / "cases" / entry["file"] for entry in first.cases()}
    stamps = {case: path.stat().st_mtime_ns for case, path in files.items()}

    build_cache(root, cache_dir, config)
    assert {case: path.stat().st_mtime_ns for case, path in files.items()} == stamps

    # A changed input file rebuilds that case only.
    volume = root / "case1" / "internal.vtu"
    os.utime(volume, ns=(volume.stat().st_atime_ns, volume.stat().st_mtime_ns + 10**9))
    build_cache(root, cache_dir, config)
    changed = {case for case, path in files.items() if path.stat().st_mtime_ns != stamps[case]}
    assert changed == {"case1"}

    # Different settings rebuild everything, with the new layout.
    other = MeshCacheConfig(volume_fields=["p", "U[0]"], volume_file="internal.vtu", case_pattern="case*")
    rebuilt = build_cache(root, cache_dir, other)
    assert rebuilt.index.settings_hash != first.index.settings_hash
    assert rebuilt.index.target_channels == ["p", "U[0]"]
    assert rebuilt.load_case("case0")["volume_targets"].shape[1] == 2
    assert all(path.stat().st_mtime_ns != stamps[case] for case, path in files.items())


def _bad_case_root(root):
    for index in range(3):
        make_case(root, f"case{index}", index)
    nan_case = make_case(root, "case_nan", 5)
    grid = box_volume(4, 1.0)
    grid.GetCellData().GetArray("p").SetValue(7, np.nan)
    write_xml(grid, nan_case / "internal.vtu")
    truncated = make_case(root, "case_truncated", 6)
    data = (truncated / "internal.vtu").read_bytes()
    (truncated / "internal.vtu").write_bytes(data[: len(data) // 2])
    missing = make_case(root, "case_missing_field", 7)
    wall = sphere_wall(1.0)
    wall.GetCellData().RemoveArray("tau")
    write_xml(wall, missing / "walls.vtp")
    empty = make_case(root, "case_empty", 8)
    write_xml(vtk.vtkUnstructuredGrid(), empty / "internal.vtu")
    no_condition = make_case(root, "case_no_condition", 9)
    (no_condition / "case.json").write_text(json.dumps({"params": {"U": 3.0}}))


def test_bad_cases_are_skipped_logged_and_counted(tmp_path, caplog):
    root = tmp_path / "cases"
    _bad_case_root(root)
    with caplog.at_level(logging.WARNING, logger="modulus_lrsa.datapipes.cache"):
        cache = build_cache(root, tmp_path / "cache", CONFIG, on_error="skip")
    reasons = {entry["case_id"]: entry["reason"] for entry in cache.index.skipped}
    assert set(reasons) == {"case_nan", "case_truncated", "case_missing_field", "case_empty", "case_no_condition"}
    assert "case_nan/internal.vtu: cell field 'p' has NaN/Inf values at 1 of 64 cells" in reasons["case_nan"]
    assert "case_truncated/internal.vtu" in reasons["case_truncated"] and "truncated" in reasons["case_truncated"]
    assert "no cell field named 'tau'" in reasons["case_missing_field"]
    assert "mesh is empty" in reasons["case_empty"]
    assert "condition 'aoa_deg' not found" in reasons["case_no_condition"]
    assert {entry["case_id"] for entry in cache.cases()} == {"case0", "case1", "case2"}
    logged = [record.getMessage() for record in caplog.records]
    assert sum("skipping case" in message for message in logged) == 5
    # Skipped cases leave no trace in the statistics.
    good = [cache.load_case(e) for e in cache.cases("train")]
    volume_p = np.concatenate([case["volume_targets"][:, 0] for case in good])
    surface_p = np.concatenate([case["surface_targets"][:, 0] for case in good])
    assert cache.index.normalizer("target").mean[0] == pytest.approx(np.concatenate([volume_p, surface_p]).mean())


def test_bad_case_raises_by_default_naming_file_and_case(tmp_path):
    root = tmp_path / "cases"
    make_case(root, "case0", 0)
    nan_case = make_case(root, "case1", 1)
    grid = box_volume(4, 1.0)
    grid.GetCellData().GetArray("U").SetComponent(2, 1, np.inf)
    write_xml(grid, nan_case / "internal.vtu")
    with pytest.raises(NonFiniteFieldError, match=r"case1/internal.vtu: cell field 'U'") as error:
        build_cache(root, tmp_path / "cache", CONFIG)
    assert any("case 'case1'" in note for note in error.value.__notes__)


def test_manifest_layout_with_case_json_files(tmp_path):
    root = tmp_path / "dataset"
    cases = []
    for index, (split, status) in enumerate([("train", "ok"), ("train", "ok"), ("test", "ok"), ("train", "failed")]):
        case_id = f"naca0012_a{index}"
        folder = make_case(root / "cases", case_id, index)
        case_json = json.loads((folder / "case.json").read_text())
        case_json["files"] = {"volume": "internal.vtu", "surface": "walls.vtp", "multiblock": "case.vtm"}
        case_json["results"] = {"Cl": 0.1 * index, "converged": status == "ok"}
        (folder / "case.json").write_text(json.dumps(case_json))
        cases.append({"id": case_id, "status": status, "split": split})
    (root / "manifest.json").write_text(json.dumps({"cases": cases}))
    config = MeshCacheConfig(volume_fields=["p"], surface_fields=["p"], conditions=["aoa_deg"])
    cache = build_cache(root, tmp_path / "cache", config, on_error="skip")
    assert [entry["case_id"] for entry in cache.cases("train")] == ["naca0012_a0", "naca0012_a1"]
    assert [entry["case_id"] for entry in cache.cases("test")] == ["naca0012_a2"]
    assert cache.index.skipped[0]["case_id"] == "naca0012_a3" and "manifest status is 'failed'" in cache.index.skipped[0]["reason"]
    assert cache.index.target_channels == ["p"]


def test_glob_takes_the_latest_time_folder(tmp_path):
    root = tmp_path / "cases"
    folder = root / "case0"
    for time_name, scale in (("2", 1.0), ("10", 2.0), ("9.5", 3.0)):
        (folder / "VTK" / f"case0_{time_name}").mkdir(parents=True)
        write_xml(box_volume(4, scale), folder / "VTK" / f"case0_{time_name}" / "internal.vtu")
    config = MeshCacheConfig(volume_fields=["p"], volume_file="VTK/*/internal.vtu", case_pattern="case*")
    cache = build_cache(root, tmp_path / "cache", config)
    # p = scale * x + 1: time 10 is the latest, although "9.5" sorts after it as text.
    expected = 2.0 * volume_centres(4)[:, 0] + 1.0
    np.testing.assert_allclose(cache.load_case("case0")["volume_targets"][:, 0], expected, rtol=1e-6)


def _touch(folder, *names):
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("")


def test_glob_orders_time_names_in_exponent_notation_as_numbers(tmp_path):
    # OpenFOAM names small times 1e-05, 2e-05, then 0.0001 (e.g. postProcessing/<fo>/<time>/).
    from modulus_lrsa.datapipes.cases import CaseEntry, resolve_case

    folder = tmp_path / "case0"
    _touch(folder, *(f"postProcessing/cuts/{time}/plane.vtp" for time in ("1e-05", "2e-05", "0.0001", "5e-05")))
    config = MeshCacheConfig(volume_fields=["p"], volume_file="postProcessing/cuts/*/plane.vtp")
    source = resolve_case(CaseEntry("case0", "train", folder), config)
    assert source.volume.path == folder / "postProcessing/cuts/0.0001/plane.vtp"


def test_glob_takes_the_cases_own_foam_to_vtk_series_not_another_export_beside_it(tmp_path):
    # foamToVTK names the whole mesh after the case folder; a cellSet export (-cellSet zone)
    # or the export of the case this one was copied from shares the VTK folder and the glob.
    from modulus_lrsa.datapipes.cases import CaseEntry, resolve_case

    folder = tmp_path / "inlet8"
    _touch(folder, "VTK/inlet8_0.vtm", "VTK/inlet8_20.vtm", "VTK/zone_20.vtm", "VTK/inlet12_0.vtm", "VTK/inlet12_40.vtm")
    for pattern in ("VTK/*_*.vtm", None):  # the documented glob, and the default
        config = MeshCacheConfig(volume_fields=["p"], volume_file=pattern)
        assert resolve_case(CaseEntry("inlet8", "train", folder), config).volume.path == folder / "VTK/inlet8_20.vtm"


def test_glob_matching_several_exports_none_named_after_the_case_is_refused_with_the_choices(tmp_path):
    from modulus_lrsa.datapipes.cases import CaseEntry, resolve_case
    from modulus_lrsa.errors import CaseConfigError

    folder = tmp_path / "renamed"
    _touch(folder, "VTK/zone_20.vtm", "VTK/cavity_10.vtm", "VTK/cavity_20.vtm")
    config = MeshCacheConfig(volume_fields=["p"], volume_file="VTK/*_*.vtm")
    with pytest.raises(CaseConfigError, match=r"renamed: data\.volume_file='VTK/\*_\*\.vtm' matches several "
                                              r"exports \(VTK/cavity_\*\.vtm, VTK/zone_\*\.vtm\).*"
                                              r"data\.volume_file='VTK/cavity_\*\.vtm'"):
        resolve_case(CaseEntry("renamed", "train", folder), config)


def test_refusal_suggests_a_glob_that_matches_one_series_only(tmp_path):
    # volume_*.vtu, the first series' own glob, also matches volume_1_coarse.vtu.
    from modulus_lrsa.datapipes.cases import CaseEntry, resolve_case
    from modulus_lrsa.errors import CaseConfigError

    folder = tmp_path / "run_1"
    _touch(folder, "volume_1.vtu", "volume_1_coarse.vtu")
    config = MeshCacheConfig(volume_fields=["p"], volume_file="volume_*")
    with pytest.raises(CaseConfigError, match=r"e\.g\. data\.volume_file='volume_\*_coarse\.vtu'"):
        resolve_case(CaseEntry("run_1", "train", folder), config)
    _touch(folder, "volume_2.vtu", "volume_2_coarse.vtu")
    with pytest.raises(CaseConfigError, match=r"e\.g\. data\.volume_file='volume_\*_coarse\.vtu'"):
        resolve_case(CaseEntry("run_1", "train", folder), config)


@pytest.mark.parametrize("files, pattern, latest", [
    # foamToVTK's time folders with a digit in the patch name: the time is the folder's number.
    (("VTK/cav_20/boundary/wall1.vtp", "VTK/cav_40/boundary/wall1.vtp", "VTK/cav_40.vtm"),
     "VTK/*/boundary/wall1.vtp", "VTK/cav_40/boundary/wall1.vtp"),
    (("VTK/cav_5/boundary/wall_1.vtp", "VTK/cav_40/boundary/wall_1.vtp"), "VTK/*/boundary/wall_1.vtp",
     "VTK/cav_40/boundary/wall_1.vtp"),
    # A sampled-surface function object's time folders, named by time value.
    (("postProcessing/surfaces/0.5/plane1.vtp", "postProcessing/surfaces/10/plane1.vtp",
      "postProcessing/surfaces/2e-05/plane1.vtp"), "postProcessing/surfaces/*/plane1.vtp",
     "postProcessing/surfaces/10/plane1.vtp"),
    (("postProcessing/walls/100/body0.vtp", "postProcessing/walls/20/body0.vtp"), "postProcessing/walls/*/body0.vtp",
     "postProcessing/walls/100/body0.vtp"),
])
def test_the_time_is_the_number_that_differs_not_a_patch_number(tmp_path, files, pattern, latest):
    from modulus_lrsa.datapipes.cases import CaseEntry, resolve_case

    folder = tmp_path / "cav"
    _touch(folder, *files)
    config = MeshCacheConfig(surface_fields=["p"], surface_file=pattern)
    assert resolve_case(CaseEntry("cav", "train", folder), config).surface.path == folder / latest


def test_files_differing_in_several_numbers_are_refused_with_the_choices(tmp_path):
    # Two patches at two times: ordering by either number would pick a file silently.
    from modulus_lrsa.datapipes.cases import CaseEntry, resolve_case

    folder = tmp_path / "cav"
    _touch(folder, "VTK/cav_20/boundary/wall1.vtp", "VTK/cav_40/boundary/wall2.vtp")
    config = MeshCacheConfig(surface_fields=["p"], surface_file="VTK/*/boundary/wall*.vtp")
    with pytest.raises(CaseConfigError, match=r"matches several exports \(VTK/cav_\*/boundary/wall1\.vtp, "
                                              r"VTK/cav_\*/boundary/wall2\.vtp\), several named after.*"
                                              r"data\.surface_file='VTK/cav_\*/boundary/wall1\.vtp'"):
        resolve_case(CaseEntry("cav", "train", folder), config)
    # Copies of another case, neither named after this one: no number is known to be the time.
    folder = tmp_path / "renamed"
    _touch(folder, "VTK/cavity1_10.vtm", "VTK/cavity1_20.vtm", "VTK/cavity2_30.vtm")
    with pytest.raises(CaseConfigError, match=r"\(VTK/cavity1_\*\.vtm, VTK/cavity2_\*\.vtm\), none named after"):
        resolve_case(CaseEntry("renamed", "train", folder), MeshCacheConfig(volume_fields=["p"]))


def test_a_copied_cases_export_at_the_same_time_index_is_not_a_later_time(tmp_path):
    # inlet8_20 and inlet12_20 differ in one number only, the case's, not the time.
    from modulus_lrsa.datapipes.cases import CaseEntry, resolve_case

    folder = tmp_path / "inlet8"
    _touch(folder, "VTK/inlet8_20.vtm", "VTK/inlet12_20.vtm")
    config = MeshCacheConfig(volume_fields=["p"])
    assert resolve_case(CaseEntry("inlet8", "train", folder), config).volume.path == folder / "VTK/inlet8_20.vtm"


def _foam_to_vtk_export(folder, time_index, time):
    """VTK/<case>_<index>/internal.vtu stamped with foamToVTK's TimeValue field data."""
    grid = box_volume(4, 1.0 + time)
    add_array(grid.GetFieldData(), "TimeValue", np.array([time]))
    (folder / "VTK" / f"{folder.name}_{time_index}").mkdir(parents=True)
    write_xml(grid, folder / "VTK" / f"{folder.name}_{time_index}" / "internal.vtu")


@pytest.mark.parametrize("decomposed", [True, False], ids=["decomposed", "not_reexported"])
def test_an_export_of_the_initial_conditions_is_refused_when_the_case_has_results(tmp_path, decomposed):
    # A parallel run exported by a serial foamToVTK without reconstructPar: only the root's
    # time 0 exists for it, so the "latest export" holds the initial fields, not results.
    root = tmp_path / "cases"
    folder = root / "case0"
    _touch(folder, "system/controlDict", "0/U")
    results = ["processor0/0/U", "processor0/0.5/U", "processor1/0.5/U"] if decomposed else ["0.5/U"]
    _touch(folder, *results)
    _foam_to_vtk_export(folder, 0, 0.0)
    config = MeshCacheConfig(volume_fields=["p"], volume_file="VTK/*/internal.vtu", test_fraction=0.0)
    how = r"run reconstructPar, then foamToVTK, or mpirun -np 2 foamToVTK -parallel" if decomposed else r"foamToVTK"
    with pytest.raises(MeshDataError, match=rf"case0_0/internal\.vtu: holds time 0, the initial conditions, but "
                                            rf"the case has results up to time 0\.5.*{how}"):
        build_cache(root, tmp_path / "cache", config)
    # Exported again (foamToVTK -parallel writes into the case's own VTK/ as well): fine.
    _foam_to_vtk_export(folder, 100, 0.5)
    cache = build_cache(root, tmp_path / "cache", config)
    np.testing.assert_allclose(cache.load_case("case0")["volume_targets"][:, 0], 1.5 * volume_centres(4)[:, 0] + 1.0,
                               rtol=1e-6)

def test_an_initial_export_given_by_name_is_used_with_a_warning(tmp_path, caplog):
    # lrsa-predict VTK/case0_0/internal.vtu of an unreconstructed parallel run: the file was
    # asked for by name, so it is read, but the warning says the results are elsewhere.
    from modulus_lrsa.datapipes.cases import CaseEntry, resolve_case
    from modulus_lrsa.datapipes.features import extract_features

    folder = tmp_path / "case0"
    _touch(folder, "system/controlDict", "0/U", "processor0/0/U", "processor0/0.5/U")
    _foam_to_vtk_export(folder, 0, 0.0)
    path = folder / "VTK/case0_0/internal.vtu"
    config = MeshCacheConfig(volume_fields=["p"], volume_file=path.name, dimension=3)
    source = resolve_case(CaseEntry("case0", "predict", path), config)
    with caplog.at_level("WARNING"):
        extract_features(source, config)
    assert "internal.vtu: holds time 0, the initial conditions" in caplog.text and "run reconstructPar" in caplog.text


def test_one_file_per_case_is_the_volume_only(tmp_path):
    # A flat folder of exported .vtu files: the file is the volume, not also a wall, so the
    # model gets no distances to the outer faces of its own mesh (negative inside the fluid).
    root = tmp_path / "cases"
    root.mkdir()
    for index in range(3):
        write_xml(box_volume(4, 1.0 + index), root / f"case{index}.vtu")
    cache = build_cache(root, tmp_path / "cache", MeshCacheConfig(volume_fields=["p"], test_fraction=0.0))
    assert cache.index.has_geometry is False
    assert not cache.load_case("case0")["volume_distance"].any()
    both = MeshCacheConfig(volume_fields=["p"], surface_fields=["p"], test_fraction=0.0)
    with pytest.raises(MeshDataError, match=r"case0.vtu: a case given as one file .* both .*one folder per case"):
        build_cache(root, tmp_path / "cache_both", both)
    # Each case's wall exported beside its volume: two files, one case id.
    for index in range(3):
        write_xml(sphere_wall(1.0), root / f"case{index}.vtp")
    with pytest.raises(MeshDataError, match=r"case0.vtp and .*case0.vtu are both case 'case0'.*\(e.g. '\*.vtp' or '\*.vtu'\)"):
        build_cache(root, tmp_path / "cache_pairs", MeshCacheConfig(volume_fields=["p"], test_fraction=0.0))
    volumes = MeshCacheConfig(volume_fields=["p"], case_pattern="*.vtu", test_fraction=0.0)
    assert len(build_cache(root, tmp_path / "cache_pairs", volumes).cases()) == 3


def test_a_foam_to_vtk_multiblock_beside_its_folder_suggests_a_pattern_that_tells_them_apart(tmp_path):
    # foamToVTK's pair, case0.vtm and the folder case0/ of its blocks: '*' matched both, and
    # the folder has no suffix, so only the file's kind (or a file glob) tells them apart.
    root = tmp_path / "cases"
    for index in range(2):
        make_case(root, f"case{index}", index)
        (root / f"case{index}.vtm").write_text(
            '<?xml version="1.0"?>\n<VTKFile type="vtkMultiBlockDataSet" version="1.0">\n<vtkMultiBlockDataSet>\n'
            f'<DataSet index="0" name="internal" file="case{index}/internal.vtu"/>\n'
            "</vtkMultiBlockDataSet>\n</VTKFile>\n"
        )
    config = MeshCacheConfig(volume_fields=["p"], test_fraction=0.0)
    with pytest.raises(MeshDataError, match=r"case0 and .*case0\.vtm are both case 'case0'.*case_pattern "
                                            r"\(e\.g\. '\*\.vtm'\), or set volume_file / surface_file globs") as error:
        build_cache(root, tmp_path / "cache", config)
    assert "'*' or" not in str(error.value)
    multiblocks = build_cache(root, tmp_path / "cache", dataclasses.replace(config, case_pattern="*.vtm"))
    assert [entry["case_id"] for entry in multiblocks.cases()] == ["case0", "case1"]
    folders = build_cache(root, tmp_path / "cache_folders", dataclasses.replace(config, volume_file="internal.vtu"))
    assert len(folders.cases()) == 2


def test_one_surface_file_per_case_trains_the_wall_alone(tmp_path):
    root = tmp_path / "cases"
    root.mkdir()
    for index in range(3):
        write_xml(sphere_wall(1.0 + index), root / f"body{index}.vtp")
    cache = build_cache(root, tmp_path / "cache", MeshCacheConfig(surface_fields=["p"], test_fraction=0.0))
    arrays = cache.load_case("body0")
    assert cache.index.has_geometry is True and arrays["volume_positions"].shape == (0, 3)
    positions, normals = arrays["surface_positions"], arrays["surface_normals"]
    # The wall's normals point out of the sphere, into the fluid.
    assert (np.einsum("ij,ij->i", normals, positions) > 0).all()


def test_a_wall_file_given_as_the_volume_is_refused(tmp_path):
    # The globs swapped: sphere faces would train as volume samples weighted by their areas.
    root = tmp_path / "cases"
    make_case(root, "case0", 0)
    config = MeshCacheConfig(volume_fields=["p"], volume_file="walls.vtp")
    with pytest.raises(MeshDataError, match=r"walls.vtp: the volume is made of 2D cells, a surface in this 3D case"):
        build_cache(root, tmp_path / "cache", config)


def channel_case(folder, walls):
    """A one-cell-thick 2D channel, 0 < x < 4 and 0 < y < 1 (8 x 4 cells), with a wall patch.

    ``walls`` names the sides in the patch: ``"lower"``, ``"upper"``, ``"inlet"``, ``"outlet"``.
    Returns the cell centres (x, y).
    """
    image = vtk.vtkImageData()
    image.SetDimensions(9, 5, 2)
    image.SetSpacing(0.5, 0.25, 0.1)
    to_unstructured = vtk.vtkAppendFilter()
    to_unstructured.AddInputData(image)
    to_unstructured.Update()
    volume = to_unstructured.GetOutput()
    x, y = np.meshgrid(0.25 + 0.5 * np.arange(8), 0.125 + 0.25 * np.arange(4))
    add_array(volume.GetCellData(), "p", 4.0 - x.ravel())
    # Each side as the boundary faces of its cells: one quad per cell, spanning z.
    sides = {"lower": ((0, 0), (4, 0), 8), "upper": ((4, 1), (0, 1), 8),
             "inlet": ((0, 1), (0, 0), 4), "outlet": ((4, 0), (4, 1), 4)}
    points, quads = vtk.vtkPoints(), vtk.vtkCellArray()
    for name in walls:
        start, end, count = sides[name]
        along = np.linspace(start, end, count + 1)
        for a, b in zip(along[:-1], along[1:]):
            corners = [(*a, 0.0), (*b, 0.0), (*b, 0.1), (*a, 0.1)]
            quads.InsertNextCell(4, [points.InsertNextPoint(*corner) for corner in corners])
    wall = vtk.vtkPolyData()
    wall.SetPoints(points)
    wall.SetPolys(quads)
    folder.mkdir(parents=True)
    write_xml(volume, folder / "internal.vtu")
    write_xml(wall, folder / "walls.vtp")
    return np.stack([x.ravel(), y.ravel()], axis=1)


@pytest.mark.parametrize(
    "walls", [("lower",), ("lower", "upper"), ("lower", "upper", "inlet", "outlet")],
    ids=["one open wall", "both walls", "the whole boundary"],
)
def test_internal_flow_cells_get_their_distance_to_the_nearest_wall(tmp_path, walls):
    # The winding number of these walls signed part or all of the fluid negative.
    centres = channel_case(tmp_path / "cases" / "channel", walls)
    config = MeshCacheConfig(volume_fields=["p"], volume_file="internal.vtu", geometry_file="walls.vtp",
                             test_fraction=0.0)
    cache = build_cache(tmp_path / "cases", tmp_path / "cache", config)
    assert cache.index.dimension == 2
    arrays = cache.load_case("channel")
    np.testing.assert_allclose(arrays["volume_positions"], centres, atol=1e-6)
    x, y = centres.T
    gaps = {"lower": y, "upper": 1.0 - y, "inlet": x, "outlet": 4.0 - x}
    exact = np.min([gaps[name] for name in walls], axis=0)
    np.testing.assert_allclose(arrays["volume_distance"], exact, atol=1e-6)
    # Away from the nearest wall point, into the fluid: for the lower wall alone, +y everywhere.
    direction = arrays["volume_direction"]
    np.testing.assert_allclose(np.linalg.norm(direction, axis=1), 1.0, atol=1e-6)
    if walls == ("lower",):
        np.testing.assert_allclose(direction, np.tile([0.0, 1.0], (len(centres), 1)), atol=1e-6)


@pytest.mark.parametrize("scale, offset, message", [
    (1000.0, 0.0, r"walls.vtp: the body \(extent 2e\+03\) is 667 times the size of the volume"),
    (1.0, 50.0, r"walls.vtp: the body's bounding box .* does not overlap the volume's"),
    (1e-5, 0.0, r"walls.vtp: the body \(extent 2e-05\) is 6.67e-06 times the size of the volume"),
])
def test_a_body_in_other_units_or_elsewhere_is_refused(tmp_path, scale, offset, message):
    # An STL in millimetres beside a CFD mesh in metres gives every cell a distance to nowhere.
    root = tmp_path / "cases"
    folder = make_case(root, "case0", 0)
    transform = vtk.vtkTransform()
    transform.Translate(offset, 0.0, 0.0)
    transform.Scale(scale, scale, scale)
    moved = vtk.vtkTransformFilter()
    moved.SetInputData(sphere_wall(1.0))
    moved.SetTransform(transform)
    moved.Update()
    write_xml(moved.GetOutput(), folder / "walls.vtp")
    config = MeshCacheConfig(volume_fields=["p"], volume_file="internal.vtu", geometry_file="walls.vtp")
    with pytest.raises(MeshDataError, match=message):
        build_cache(root, tmp_path / "cache", config)


def test_a_small_body_in_a_far_field_of_a_thousand_body_lengths_is_accepted(tmp_path):
    # 2D airfoil grids put the far field 500 chords away: the body is 1/1000 of the volume.
    root = tmp_path / "cases"
    folder = make_case(root, "case0", 0)
    transform = vtk.vtkTransform()
    transform.Scale(2e-3, 2e-3, 2e-3)
    shrunk = vtk.vtkTransformFilter()
    shrunk.SetInputData(sphere_wall(1.0))
    shrunk.SetTransform(transform)
    shrunk.Update()
    write_xml(shrunk.GetOutput(), folder / "walls.vtp")
    config = MeshCacheConfig(volume_fields=["p"], volume_file="internal.vtu", geometry_file="walls.vtp")
    cache = build_cache(root, tmp_path / "cache", config)
    assert [case["case_id"] for case in cache.cases()] == ["case0"] and not cache.index.skipped


def test_run_folders_of_the_drivaerml_layout(tmp_path):
    # PhysicsNeMo's external-aerodynamics data: run_<i>/volume_<i>.vtu, boundary_<i>.vtp, drivaer_<i>.stl.
    root = tmp_path / "drivaer"
    for index in (1, 2, 3):
        folder = root / f"run_{index}"
        folder.mkdir(parents=True)
        write_xml(box_volume(4, float(index)), folder / f"volume_{index}.vtu")
        write_xml(sphere_wall(float(index)), folder / f"boundary_{index}.vtp")
    unset = MeshCacheConfig(volume_fields=["p"], surface_fields=["p"], test_fraction=0.0)
    with pytest.raises(MissingCaseFileError, match=r"run_1: no volume file.*the folder holds boundary_1.vtp, "
                                                   r"volume_1.vtu: e.g. data.volume_file='volume_\*.vtu'"):
        build_cache(root, tmp_path / "cache", unset)
    config = dataclasses.replace(unset, volume_file="volume_*.vtu", surface_file="boundary_*.vtp")
    with pytest.raises(MissingCaseFileError, match=r"no surface file matches .*='wall_\*.vtp'; the folder holds "
                                                   r"boundary_1.vtp, volume_1.vtu: e.g. data.surface_file='boundary_\*.vtp'"):
        build_cache(root, tmp_path / "cache", dataclasses.replace(config, surface_file="wall_*.vtp"))
    cache = build_cache(root, tmp_path / "cache", config)
    assert [case["case_id"] for case in cache.cases()] == ["run_1", "run_2", "run_3"] and cache.index.has_geometry
    # One run folder given as the data folder: its files are no cases of their own.
    with pytest.raises(CaseConfigError, match=r"run_1: holds files .* but no case folder.*MeshCacheConfig.volume_file="
                                              r"'volume_\*.vtu' looks inside case folders"):
        build_cache(root / "run_1", tmp_path / "cache_run", config)


def test_a_case_with_other_fields_is_skipped_or_named_against_the_majority(tmp_path):
    root = tmp_path / "cases"
    for index in range(3):
        (root / f"case{index}").mkdir(parents=True)
        grid = box_volume(4, 1.0 + index)
        if index == 0:
            # An export that wrote U with two components: the odd one out, though it sorts first.
            values = np.asarray([grid.GetCellData().GetArray("U").GetTuple3(cell)[:2] for cell in range(64)])
            grid.GetCellData().RemoveArray("U")
            add_array(grid.GetCellData(), "U", values)
        write_xml(grid, root / f"case{index}" / "internal.vtu")
    config = MeshCacheConfig(volume_fields=["p", "U"], volume_file="internal.vtu", test_fraction=0.0)
    expected = (r"case0: case 'case0' has volume channels \['p', 'U\[0\]', 'U\[1\]'\], but the 2 other case\(s\) "
                r"have \['p', 'U\[0\]', 'U\[1\]', 'U\[2\]'\]")
    with pytest.raises(MeshDataError, match=expected):
        build_cache(root, tmp_path / "cache", config)
    cache = build_cache(root, tmp_path / "cache", config, on_error="skip")
    assert [case["case_id"] for case in cache.cases()] == ["case1", "case2"]
    assert cache.index.skipped[0]["case_id"] == "case0" and "every case must agree" in cache.index.skipped[0]["reason"]


def test_constant_target_channel_is_refused_naming_it(tmp_path):
    root = tmp_path / "cases"
    for index in range(2):
        make_case(root, f"case{index}", index)
        write_xml(box_volume(4, 1.0), root / f"case{index}" / "internal.vtu")
    config = MeshCacheConfig(volume_fields=["U[0]", "p"], volume_file="internal.vtu", case_pattern="case*",
                             test_fraction=0.0)
    with pytest.raises(MeshDataError, match=r"\['U\[0\]'\] are constant over the 2 'train' case\(s\) \(U\[0\] = 1\)"):
        build_cache(root, tmp_path / "cache", config)


def test_parallel_build_matches_serial(tmp_path):
    root = tmp_path / "cases"
    for index in range(3):
        make_case(root, f"case{index}", index)
    # Volume only: no distance queries, so the workers start quickly.
    config = MeshCacheConfig(volume_fields=["p", "U"], volume_file="internal.vtu", case_pattern="case*")
    serial = build_cache(root, tmp_path / "serial", config, num_workers=0)
    parallel = build_cache(root, tmp_path / "parallel", config, num_workers=2)
    assert serial.index.normalization == parallel.index.normalization
    for entry in serial.cases():
        one, other = serial.load_case(entry["case_id"]), parallel.load_case(entry["case_id"])
        assert one.keys() == other.keys()
        for key in one:
            np.testing.assert_array_equal(one[key], other[key])


def test_streaming_moments_merge_exactly_and_stably():
    rng = np.random.default_rng(0)
    # A large offset with a small spread defeats the naive E[x^2] - E[x]^2.
    values = 1e6 + 1e-2 * rng.standard_normal((10_000, 2))
    valid = rng.random((10_000, 2)) > 0.3
    moments = RunningMoments(2)
    for chunk in np.array_split(np.arange(10_000), [7, 900, 901, 5000]):
        moments.update(values[chunk], valid[chunk])
    for channel in range(2):
        picked = values[valid[:, channel], channel]
        assert moments.count[channel] == picked.size
        assert moments.mean[channel] == pytest.approx(picked.mean(), rel=1e-13)
        assert moments.std[channel] == pytest.approx(picked.std(), rel=1e-8)
    constant = RunningMoments(1).update(np.full((5, 1), 3.0))
    normalizer = Normalizer.from_moments(["w"], constant)
    assert normalizer.std[0] == 1.0 and normalizer.normalize(np.array([3.0])) == 0.0


# ----------------------------------------------------------------------------- datasets


def test_training_sample_layout(cache):
    dataset = MeshPointDataset(cache, "train", volume_points=20, surface_points=10, seed=1)
    assert dataset.embedding_names == ["x", "y", "z", "distance", "direction_x", "direction_y", "direction_z", "is_surface"]
    assert (dataset.functional_dim, dataset.embedding_dim, dataset.out_dim) == (2, 8, 6)
    sample = dataset[2]
    assert sample["fx"].shape == (30, 2) and sample["embedding"].shape == (30, 8) and sample["target"].shape == (30, 6)
    assert sample["mask"].all() and sample["mask"].dtype == torch.bool
    is_surface = sample["is_surface"]
    assert not is_surface[:20].any() and is_surface[20:].all()
    assert torch.equal(sample["embedding"][:, -1], is_surface.float())
    expected_mask = torch.zeros(30, 6, dtype=torch.bool)
    expected_mask[:20, :4] = True  # p, U on volume points
    expected_mask[20:, [0, 4, 5]] = True  # p, tau on wall points
    assert torch.equal(sample["target_mask"], expected_mask)
    assert torch.all(sample["target"][~expected_mask] == 0)
    for part in (slice(0, 20), slice(20, 30)):
        assert sample["weights"][part].mean().item() == pytest.approx(1.0, rel=1e-6)
    # Conditions are the same at every point.
    assert torch.equal(sample["fx"], sample["fx"][:1].expand(30, 2))


def test_denormalised_targets_are_the_cached_values(cache):
    dataset = MeshPointDataset(cache, "train", volume_points=25, surface_points=0, seed=2)
    sample = dataset[0]
    arrays = cache.load_case(dataset.case_entries[0])
    positions = dataset.features.coordinate_normalizer.denormalize(sample["embedding"][:, :3].double()).numpy()
    rows = [np.argmin(np.linalg.norm(arrays["volume_positions"] - p, axis=1)) for p in positions]
    assert len(set(rows)) == 25, "points are drawn without replacement"
    physical = dataset.target_normalizer.denormalize(sample["target"].double())[:, :4].numpy()
    np.testing.assert_allclose(physical, arrays["volume_targets"][rows], rtol=1e-5, atol=1e-5)


def test_point_subsets_are_seeded_by_epoch(cache):
    dataset = MeshPointDataset(cache, "train", volume_points=15, surface_points=5, seed=7)
    first = dataset[1]["embedding"]
    assert torch.equal(first, dataset[1]["embedding"])
    assert torch.equal(first, MeshPointDataset(cache, "train", volume_points=15, surface_points=5, seed=7)[1]["embedding"])
    dataset.set_epoch(1)
    assert not torch.equal(first, dataset[1]["embedding"])
    dataset.set_epoch(0)
    assert torch.equal(first, dataset[1]["embedding"])


def test_evaluation_mode_returns_whole_cases(cache):
    dataset = MeshPointDataset(cache, "test", volume_points=None, surface_points=None)
    for index, entry in enumerate(dataset.case_entries):
        sample = dataset[index]
        assert sample["mask"].shape[0] == entry["num_volume_points"] + entry["num_surface_points"]
        arrays = cache.load_case(entry)
        volume = dataset.features.coordinate_normalizer.denormalize(sample["embedding"][: entry["num_volume_points"], :3].double())
        np.testing.assert_allclose(volume.numpy(), arrays["volume_positions"], atol=1e-5)


def test_padding_follows_the_mask_contract(cache, make_lrsa):
    dataset = MeshPointDataset(cache, "train", volume_points=None, surface_points=None)
    small, large = dataset[0], dataset[1]  # 4^3 and 5^3 volume cells
    batch = pad_collate([small, large])
    n_small, n_large = small["mask"].shape[0], large["mask"].shape[0]
    assert n_small < n_large and batch["mask"].shape == (2, n_large)
    assert batch["mask"][0, :n_small].all() and not batch["mask"][0, n_small:].any()
    for key in ("fx", "embedding", "target", "weights"):
        assert torch.all(batch[key][0, n_small:] == 0), key
    assert not batch["target_mask"][0, n_small:].any() and not batch["is_surface"][0, n_small:].any()
    assert batch["case_id"] == [small["case_id"], large["case_id"]]
    # The padded batch gives the model the same answer on real points as the lone sample.
    model = make_lrsa(functional_dim=dataset.functional_dim, embedding_dim=dataset.embedding_dim, out_dim=dataset.out_dim)
    model.eval()
    with torch.no_grad():
        alone = model(small["fx"][None], small["embedding"][None], mask=small["mask"][None], weights=small["weights"][None])
        padded = model(batch["fx"], batch["embedding"], mask=batch["mask"], weights=batch["weights"])
    torch.testing.assert_close(padded[0, :n_small], alone[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_sharding_covers_every_case_exactly_once(cache, world_size):
    dataset = MeshPointDataset(cache, split=None, volume_points=4, surface_points=2)
    for epoch in (0, 1):
        seen = []
        for rank in range(world_size):
            sampler = CaseShardSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=3)
            sampler.set_epoch(epoch)
            loader = DataLoader(dataset, batch_size=2, sampler=sampler, collate_fn=pad_collate)
            ranks_cases = [case for batch in loader for case in batch["case_id"]]
            assert len(ranks_cases) == len(sampler)
            seen += ranks_cases
        assert sorted(seen) == sorted(entry["case_id"] for entry in dataset.case_entries)


def test_worker_processes_follow_set_epoch(cache):
    dataset = MeshPointDataset(cache, "train", volume_points=8, surface_points=4, seed=5)
    loader = DataLoader(dataset, batch_size=3, collate_fn=pad_collate, num_workers=2, persistent_workers=True)
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        from_workers = torch.cat([batch["embedding"] for batch in loader])
        direct = torch.stack([dataset[index]["embedding"] for index in range(len(dataset))])
        assert torch.equal(from_workers, direct), f"epoch {epoch}"


def test_dataset_rejects_unknown_split(cache):
    with pytest.raises(ValueError, match=r"no case in split 'val'"):
        MeshPointDataset(cache, "val")


def test_cache_can_be_reopened(cache):
    reopened = MeshCache.open(cache.cache_dir)
    assert reopened.index == cache.index
    with pytest.raises(FileNotFoundError, match="run build_cache first"):
        MeshCache.open(cache.cache_dir / "nowhere")
    with pytest.raises(KeyError, match="not in the cache"):
        cache.load_case("case99")


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="volume_location must be one of"):
        MeshCacheConfig(volume_fields=["p"], volume_location="face")
    with pytest.raises(ValueError, match="must be a list of names"):
        MeshCacheConfig(volume_fields="p")
    with pytest.raises(ValueError, match="at least one of volume_fields or surface_fields"):
        MeshCacheConfig()
    with pytest.raises(MeshDataError, match="no case matches case_pattern"):
        build_cache(os.path.dirname(__file__), "/tmp/unused-cache", MeshCacheConfig(volume_fields=["p"], case_pattern="nothing*"))


def test_a_script_without_a_main_guard_gets_an_explanation_not_a_broken_pool(tmp_path):
    """build_cache(num_workers=2) at a script's top level: spawned workers re-import it."""
    import subprocess
    import sys

    root = tmp_path / "cases"
    for index in range(2):
        make_case(root, f"case{index}", index)
    script = tmp_path / "build.py"
    script.write_text(
        "from modulus_lrsa.datapipes import MeshCacheConfig, build_cache\n"
        "config = MeshCacheConfig(volume_fields=['p'], volume_file='internal.vtu', case_pattern='case*')\n"
        f"build_cache({str(root)!r}, {str(tmp_path / 'cache')!r}, config, num_workers=2)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert 'call build_cache under `if __name__ == "__main__":`' in result.stderr


def test_free_stream_scaled_targets_round_trip_to_physical_units(case_root, tmp_path):
    from modulus_lrsa.datapipes.cases import free_stream_scales

    free_stream = {"speed": "U", "length": 2.0, "fields": {"p": "pressure", "U": "velocity", "tau": "pressure"}}
    config = dataclasses.replace(CONFIG, free_stream=free_stream)
    cache = build_cache(case_root, tmp_path / "cache", config)
    plain = build_cache(case_root, tmp_path / "plain", CONFIG)
    assert cache.index.settings_hash != plain.index.settings_hash
    dataset = MeshPointDataset(cache, split=None, volume_points=None, surface_points=None)
    for index, entry in enumerate(dataset.case_entries):
        sample = dataset[index]
        arrays = cache.load_case(entry)
        speed = float(arrays["conditions"][cache.index.condition_names.index("U")])
        expected = {"p": 0.5 * speed**2, "U[0]": speed, "U[1]": speed, "U[2]": speed,
                    "tau[0]": 0.5 * speed**2, "tau[1]": 0.5 * speed**2}
        np.testing.assert_allclose(sample["target_scale"].numpy(), [expected[n] for n in dataset.target_names], rtol=1e-6)
        # What the model learns, scaled back, is the cached physical field, exactly.
        physical = dataset.target_normalizer.denormalize(sample["target"].double()) * sample["target_scale"].double()
        volume = physical[: entry["num_volume_points"]][:, [dataset.target_names.index(c) for c in cache.index.volume_channels]]
        np.testing.assert_allclose(volume.numpy(), arrays["volume_targets"], rtol=1e-5, atol=1e-5)
    # The statistics are those of the scaled targets (here: the first case's p / (0.5 U^2)).
    scales = free_stream_scales(cache.index.settings["free_stream"], ["p"], cache.index.condition_names,
                                cache.load_case(cache.cases("train")[0])["conditions"])
    assert scales[0] == pytest.approx(0.5 * float(cache.load_case(cache.cases("train")[0])["conditions"][0]) ** 2)
    assert not np.allclose(cache.index.normalizer("target").std, plain.index.normalizer("target").std)


def test_free_stream_speed_must_be_a_condition():
    with pytest.raises(ValueError, match=r"free_stream.speed: 'V' must be one of the conditions \['U', 'aoa_deg'\]"):
        dataclasses.replace(CONFIG, free_stream={"speed": "V", "fields": {"p": "pressure"}})
    with pytest.raises(ValueError, match="kinds are"):
        dataclasses.replace(CONFIG, free_stream={"speed": "U", "fields": {"p": "pressur"}})
