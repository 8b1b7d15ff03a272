# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""STLs as CAD exports deliver them, on their way into ``lrsa-predict MODEL body.stl --sample-volume``.

Small synthetic walls written in ``tmp_path``: a closed sphere in every STL dialect (binary,
ASCII, several ``solid`` blocks, CRLF line ends, wrong facet normals, an upper-case
``.STL``), and the defects of real exports that used to change the result or refuse it:
zero-area facets (the feature path refused the file), repeated facets (counted twice in
the forces and the frontal area), facets ordered against their neighbours (their normals,
and their pressure force, pointing inwards). Then the 3D body checks' messages: the unit
guess, and a body with another axis up; and the reference area the forces are divided
by: the body's shadow where parts of it hide others, or ``--reference-area``. The whole prediction on third-party STLs (the
OpenFOAM tutorials' motorBike, buildings, flange, ...) is recorded in ``docs/demo_3d.md``.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
import pytest
import vtk
from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

from modulus_lrsa.datapipes.cases import CaseSource, FileRef, MeshCacheConfig
from modulus_lrsa.datapipes.features import extract_features
from modulus_lrsa.errors import MeshDataError
from modulus_lrsa.forces import ForceSettings
from modulus_lrsa.geometry.quality import _warnings
from modulus_lrsa.geometry.repair import repair_wall
from modulus_lrsa.geometry.surface import surface_cell_normals, surface_from_vtk
from modulus_lrsa.inference.cli import build_parser, main
from modulus_lrsa.inference.common import PredictionError
from modulus_lrsa.inference.new_geometry import _add_wall_forces, check_body_in_domain, repaired_wall, wall_force_coefficients
from modulus_lrsa.io.readers import cell_connectivity, point_coordinates, read_vtk
from modulus_lrsa.io.writers import atomic_write_vtk

#: The training domain of ``make demo-3d``'s model: ground at the floor, flow along +x.
DOMAIN = ([-2.0, -1.3, 0.0104], [5.13, 1.3, 1.48])
SETTINGS = ForceSettings.ground_vehicle(speed="U", wall_shear=None)


def _sphere_triangles(radius: float = 0.15, centre=(0.5, 0.0, 0.3)) -> np.ndarray:
    """(F, 3, 3) corners of a closed, outward-ordered UV sphere."""
    source = vtk.vtkSphereSource()
    source.SetRadius(radius)
    source.SetCenter(*centre)
    source.SetThetaResolution(24)
    source.SetPhiResolution(12)
    source.Update()
    output = source.GetOutput()
    points = vtk_to_numpy(output.GetPoints().GetData()).astype(np.float64)
    return points[vtk_to_numpy(output.GetPolys().GetConnectivityArray()).reshape(-1, 3)]


def _normals(triangles: np.ndarray) -> np.ndarray:
    normal = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    length = np.linalg.norm(normal, axis=1, keepdims=True)
    return normal / np.where(length > 0, length, 1.0)


def _write_binary(path: Path, triangles: np.ndarray, header: bytes = b"binary export") -> Path:
    records = np.zeros(len(triangles), dtype=[("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
    records["normal"], records["corners"] = _normals(triangles), triangles
    path.write_bytes(header.ljust(80, b" ")[:80] + struct.pack("<I", len(triangles)) + records.tobytes())
    return path


def _write_ascii(path: Path, solids: list[np.ndarray], newline: str = "\n", normal_sign: float = 1.0) -> Path:
    lines = []
    for number, triangles in enumerate(solids):
        lines.append(f"solid part{number}")
        for corners, normal in zip(triangles, normal_sign * _normals(triangles)):
            lines += [f" facet normal {normal[0]:.7e} {normal[1]:.7e} {normal[2]:.7e}", "  outer loop"]
            lines += [f"   vertex {x:.9e} {y:.9e} {z:.9e}" for x, y, z in corners]
            lines += ["  endloop", " endfacet"]
        lines.append(f"endsolid part{number}")
    path.write_bytes((newline.join(lines) + newline).encode())
    return path


def _with_pressure(dataset: vtk.vtkDataSet) -> vtk.vtkPolyData:
    """A copy of the wall with a predicted pressure that pushes it back and down: ``p = 100 (1 - x) + 50 z``."""
    surface = vtk.vtkPolyData()
    surface.DeepCopy(dataset)
    connectivity, offsets = cell_connectivity(surface)
    centres = point_coordinates(surface)[connectivity].reshape(-1, 3, 3).mean(axis=1)
    pressure = numpy_to_vtk(100.0 * (1.0 - centres[:, 0]) + 50.0 * centres[:, 2], deep=True)
    pressure.SetName("p_predicted")
    surface.GetCellData().AddArray(pressure)
    return surface


def _forces(dataset: vtk.vtkDataSet) -> dict[str, float]:
    return wall_force_coefficients(_with_pressure(dataset), SETTINGS, {"U": 40.0}).as_dict()


def _clean_forces(tmp_path: Path) -> dict[str, float]:
    return _forces(read_vtk(_write_binary(tmp_path / "clean.stl", _sphere_triangles())))


@pytest.mark.parametrize("dialect", ["ascii", "multi_solid", "crlf", "flipped_facet_normals", "solid_header_binary", "upper_case"])
def test_every_stl_dialect_reads_as_the_same_oriented_wall(tmp_path, dialect):
    triangles = _sphere_triangles()
    writers = {
        "ascii": lambda: _write_ascii(tmp_path / "a.stl", [triangles]),
        "multi_solid": lambda: _write_ascii(tmp_path / "a.stl", [triangles[:100], triangles[100:250], triangles[250:]]),
        "crlf": lambda: _write_ascii(tmp_path / "a.stl", [triangles], newline="\r\n"),
        # STL readers take the facet's side from its corner order; the normal written beside it is ignored.
        "flipped_facet_normals": lambda: _write_ascii(tmp_path / "a.stl", [triangles], normal_sign=-1.0),
        "solid_header_binary": lambda: _write_binary(tmp_path / "a.stl", triangles, header=b"solid written by a CAD tool"),
        "upper_case": lambda: _write_binary(tmp_path / "A.STL", triangles),
    }
    wall = read_vtk(writers[dialect]())
    body = surface_from_vtk(wall, None, dialect)
    assert wall.GetNumberOfCells() == len(triangles) and body.orientation_sign == 1
    assert body.enclosed_measure() == pytest.approx(4.0 / 3.0 * np.pi * 0.15**3, rel=0.05)
    assert _forces(wall)["Cd"] == pytest.approx(_clean_forces(tmp_path)["Cd"], rel=1e-5)


def test_zero_area_facets_are_left_out_instead_of_refusing_the_stl(tmp_path):
    triangles = _sphere_triangles()
    collapsed = np.repeat(triangles[:5, :1], 3, axis=1)
    on_a_line = np.stack([triangles[5:10, 0], triangles[5:10, 1], 0.5 * (triangles[5:10, 0] + triangles[5:10, 1])], axis=1)
    stl = _write_binary(tmp_path / "zero_area.stl", np.concatenate([triangles, on_a_line, collapsed]))
    config = MeshCacheConfig(surface_fields=("p",), conditions=("U",))

    def features(ref: FileRef):
        source = CaseSource(case_id="body", split="predict", location=stl, volume=None, surface=ref, geometry=ref,
                            conditions={"U": 40.0})
        return extract_features(source, config, expected_channels=((), ("p",)))[0]

    # The feature path of training refuses zero-area cells: they carry no quadrature weight.
    with pytest.raises(MeshDataError, match="zero size"):
        features(FileRef(stl))
    dataset, ref, repair = repaired_wall(stl, 3, tmp_path)
    assert repair.degenerate_removed >= 1 and "zero area" in repair.warnings()[0]
    arrays = features(ref)
    assert arrays.surface_positions.shape[0] == dataset.GetNumberOfCells() >= len(triangles)
    assert np.isfinite(arrays.surface_normals).all()
    assert _forces(dataset)["Cd"] == pytest.approx(_clean_forces(tmp_path)["Cd"], rel=1e-4)


def test_repeated_facets_no_longer_count_twice_in_the_forces_and_the_frontal_area(tmp_path):
    triangles = _sphere_triangles()
    # Repeats in the same sense, their corners starting anywhere: a CAD export's doubled panel.
    repeats = np.roll(triangles[triangles[:, :, 0].mean(axis=1) < 0.5], 1, axis=1)
    wall = read_vtk(_write_binary(tmp_path / "repeats.stl", np.concatenate([triangles, repeats])))
    clean = _clean_forces(tmp_path)
    assert abs(_forces(wall)["Cd"] / clean["Cd"] - 1.0) > 0.05  # the defect: the front counted twice
    repaired, repair = repair_wall(wall)
    assert repair.repeats_removed == len(repeats) and repaired.GetNumberOfCells() == len(triangles)
    forces = _forces(repaired)
    assert forces["Cd"] == pytest.approx(clean["Cd"], rel=1e-6)
    assert forces["reference_area"] == pytest.approx(clean["reference_area"], rel=1e-6)


def test_an_opposite_sense_repeat_is_kept_as_the_other_side_of_a_sheet(tmp_path):
    triangles = _sphere_triangles()
    wall = read_vtk(_write_binary(tmp_path / "sheet.stl", np.concatenate([triangles, triangles[:3, ::-1]])))
    repaired, repair = repair_wall(wall)
    assert repair.repeats_removed == 0 and repaired.GetNumberOfCells() == len(triangles) + 3


def test_facets_ordered_against_their_neighbours_are_reversed_and_the_forces_restored(tmp_path):
    triangles = _sphere_triangles()
    flipped = np.random.default_rng(0).choice(len(triangles), len(triangles) // 10, replace=False)
    mixed = triangles.copy()
    mixed[flipped] = mixed[flipped][:, ::-1]
    wall = read_vtk(_write_binary(tmp_path / "mixed.stl", mixed))
    clean = _clean_forces(tmp_path)
    assert abs(_forces(wall)["Cd"] / clean["Cd"] - 1.0) > 0.05  # the defect: inward normals push the wrong way
    repaired, repair = repair_wall(wall)
    assert repair.reordered == len(flipped) and "reversed" in repair.warnings()[0]
    body = surface_from_vtk(repaired, None, "mixed")
    assert (np.einsum("ij,ij->i", surface_cell_normals(repaired, body), _normals(triangles)) > 0.99).all()
    assert _forces(repaired)["Cd"] == pytest.approx(clean["Cd"], rel=1e-6)


def test_a_clean_stl_is_read_once_and_used_as_it_is(tmp_path):
    stl = _write_binary(tmp_path / "clean.stl", _sphere_triangles())
    dataset, ref, repair = repaired_wall(stl, 3, tmp_path / "scratch")
    assert ref.path == stl and not repair.changed and repair.warnings() == []
    assert dataset.GetNumberOfCells() == len(_sphere_triangles())


def _refusal(body_triangles: np.ndarray, tmp_path: Path) -> str:
    wall = read_vtk(_write_binary(tmp_path / "body.stl", body_triangles))
    with pytest.raises(PredictionError) as refused:
        check_body_in_domain(surface_from_vtk(wall, None, "body.stl"), *DOMAIN, Path("body.stl"), ground_axis=2)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("body.stl: ")
    return message


def _box(size, lower) -> np.ndarray:
    source = vtk.vtkCubeSource()
    source.SetBounds(lower[0], lower[0] + size[0], lower[1], lower[1] + size[1], lower[2], lower[2] + size[2])
    triangulate = vtk.vtkTriangleFilter()
    triangulate.SetInputConnection(source.GetOutputPort())
    triangulate.Update()
    output = triangulate.GetOutput()
    points = vtk_to_numpy(output.GetPoints().GetData()).astype(np.float64)
    return points[vtk_to_numpy(output.GetPolys().GetConnectivityArray()).reshape(-1, 3)]


@pytest.mark.parametrize(("scale", "unit"), [(1000.0, "millimeters"), (100.0, "centimeters"), (1.0 / 0.0254, "inches")])
def test_a_body_in_other_units_is_named_with_the_unit_that_gives_it_the_training_bodies_size(tmp_path, scale, unit):
    ahmed = _box([1.044, 0.389, 0.288], [0.0, -0.1945, 0.05])
    message = _refusal(ahmed * scale, tmp_path)
    assert f"it looks like {unit} beside a training domain in meters" in message


def test_a_large_body_in_meters_gets_no_unit_guess_that_would_shrink_it_to_a_toy(tmp_path):
    # The OpenFOAM tutorials' motorbike as it comes: 2.0 x 0.7 x 1.35 m, in meters, too tall for the domain.
    message = _refusal(_box([2.04, 0.68, 1.35], [-0.3, -0.35, 0.05]), tmp_path)
    assert "looks like" not in message and "inches" not in message and "at most 0.5 of the domain" in message


def test_a_body_exported_with_y_up_is_told_to_turn_z_up(tmp_path):
    ahmed_y_up = _box([1.044, 0.288, 0.389], [0.0, 0.05, -0.1945])
    message = _refusal(ahmed_y_up, tmp_path)
    assert "passes through the ground" in message and "so that z is up" in message


def test_a_tiny_nonzero_share_is_not_printed_as_zero_percent():
    found = {"open_edges": 3, "undecided_share": 4e-5, "non_manifold_edges": 0, "buried_share": 6.1e-5,
             "inconsistent_edges": 0, "duplicate_faces": 0, "inverted_parts": 0, "parts": 1, "faces_kept": 10}
    notes = _warnings(found, 3, 10)
    assert notes and not any("0.0%" in note for note in notes)
    assert any("0.0061%" in note for note in notes) and any("0.004%" in note for note in notes)


@pytest.mark.parametrize(("change", "message"), [
    (lambda text: text.upper(), "ASCII STL with upper-case keywords"),
    (lambda text: "\ufeff" + text, "ASCII STL starts with a UTF-8 byte-order mark"),
])
def test_an_ascii_stl_the_reader_cannot_take_is_named_for_what_it_is(tmp_path, change, message):
    # Both used to be reported as a truncated or corrupt file (VTK parsed them as binary).
    stl = tmp_path / "body.stl"
    stl.write_text(change(_write_ascii(tmp_path / "plain.stl", [_sphere_triangles()]).read_text()), encoding="utf-8")
    with pytest.raises(MeshDataError) as refused:
        read_vtk(stl)
    assert str(refused.value).startswith(f"{stl}: {message}") and "\n" not in str(refused.value)


def _tandem(tmp_path: Path) -> Path:
    """Two 0.2 x 0.3 x 0.2 m boxes one behind the other along the stream: the rear one is in the front one's shadow."""
    front = _box([0.2, 0.3, 0.2], [0.3, -0.15, 0.1])
    rear = _box([0.2, 0.3, 0.2], [0.8, -0.15, 0.1])
    return _write_binary(tmp_path / "tandem.stl", np.concatenate([front, rear]))


def _wall_forces_record(tmp_path: Path, stl: Path, given: float | None = None) -> tuple[dict, float]:
    """The ``forces`` record a prediction from ``stl`` writes (its predicted pressure ``_with_pressure``'s), and that
    pressure's force along the stream divided by the dynamic pressure (the drag area, independent of any reference)."""
    surface = _with_pressure(repaired_wall(stl, 3, tmp_path / "scratch")[0])
    path = atomic_write_vtk(surface, tmp_path / "surface.vtp")
    record = _add_wall_forces(path, SETTINGS, {"U": 40.0}, stl, given)
    drag_area = wall_force_coefficients(surface, dataclasses.replace(SETTINGS, reference_area=1.0), {"U": 40.0}).drag
    return record, drag_area


def test_a_body_in_its_own_shadow_is_divided_by_the_shadow_and_warned_of_the_formula(tmp_path, caplog):
    stl = _tandem(tmp_path)
    with caplog.at_level("WARNING"):
        record, drag_area = _wall_forces_record(tmp_path, stl)
    # The defect: 0.5 sum |n.d| A counted both boxes' fronts, 0.12 m^2 for a shadow of 0.06.
    assert record["reference_area_method"] == "shadow"
    assert record["reference_area"] == pytest.approx(0.06, rel=2e-3) == record["predicted"]["reference_area"]
    assert record["frontal_area_formula"] == pytest.approx(0.12, rel=1e-6)
    assert record["predicted"]["Cd"] == pytest.approx(drag_area / record["reference_area"], rel=1e-9)
    assert record["settings"]["reference_area"] is None  # the model's settings, as they were
    (warning,) = record["warnings"]
    assert f"{record['reference_area']:.6g} m^2" in warning and "0.12 m^2" in warning and str(stl) in caplog.text


def test_a_body_that_hides_none_of_itself_keeps_the_formulas_exact_area(tmp_path):
    record, drag_area = _wall_forces_record(tmp_path, _write_binary(tmp_path / "sphere.stl", _sphere_triangles()))
    assert record["reference_area_method"] == "frontal_formula" and "warnings" not in record
    assert "frontal_area_formula" not in record and record["shadow_area"] == pytest.approx(record["reference_area"], rel=2e-3)


def test_a_given_reference_area_overrides_the_shadow_and_is_recorded_as_given(tmp_path):
    record, drag_area = _wall_forces_record(tmp_path, _tandem(tmp_path), given=0.25)
    assert record == {**record, "reference_area": 0.25, "reference_area_method": "given"}
    assert record["predicted"]["reference_area"] == 0.25 and "warnings" not in record
    assert record["predicted"]["Cd"] == pytest.approx(drag_area / 0.25, rel=1e-9)


@pytest.mark.parametrize("text", ["0", "-0.1", "nan", "inf", "1e999", "abc", "-inf"])
def test_the_reference_area_must_be_a_finite_positive_area(text, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["model.mdlus", "body.stl", "-o", "out", "--sample-volume", f"--reference-area={text}"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--reference-area" in error and text in error


def test_the_reference_area_is_parsed_and_refused_without_a_sampled_volume(tmp_path, capsys):
    args = build_parser().parse_args(["m.mdlus", "body.stl", "-o", "out", "--sample-volume", "--reference-area", "0.17"])
    assert args.reference_area == 0.17
    # Refused before the model (which does not exist) is loaded, and before the output folder is made.
    status = main([str(tmp_path / "none.mdlus"), str(tmp_path / "case"), "-o", str(tmp_path / "out"), "--reference-area", "0.17"])
    error = capsys.readouterr().err.strip()
    assert status == 1 and "\n" not in error and "--reference-area applies to a body predicted with --sample-volume" in error
    assert not (tmp_path / "out").exists()
