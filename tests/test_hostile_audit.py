# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""A second hostile-input audit (issue 29): crafted files that passed the first round's loaders.

Each test is a file an outsider could hand to ``lrsa-predict`` or leave in an
``output_dir`` that ``lrsa-train`` resumes, and each failed before its fix:

* a ``model.pt`` whose tensors are stride-0 views claiming the shapes of a model of
  billions of weights (the real build allocated them), or whose entries are integers,
  booleans, complex, meta, quantized or sparse tensors (cast silently, or refused with
  torch's warnings and a message about shapes);
* a training state with only allow-listed objects but the wrong structure: missing or
  wrong-typed metadata, generator states of another kind, optimizer moments of other
  shapes (tracebacks at the first step, or deep in the resume);
* a ``.data.json`` whose channels or force settings disagree with its own cache index or
  with the model, names data files outside the case, or nests too deeply (tracebacks);
* a ``.vtm`` that references itself (a ``RecursionError``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cache_integrity import CONFIG, LOGGER, assert_intact, built, copy_of, entry_path, warnings_about  # noqa: F401
from test_predict import darcy_model  # noqa: F401  (a fixture)
from test_predict_hostile import cylinder_model  # noqa: F401  (a fixture)
from test_security_loaders import TINY, assert_one_line_refusal, members_of, torch_bytes, zip_mdlus
from test_training import darcy_config

from modulus_lrsa.atomic import atomic_folder
from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.datapipes import MeshCache, build_cache
from modulus_lrsa.datapipes.cases import MeshCacheConfig, list_cases
from modulus_lrsa.datapipes.features import CaseArrays
from modulus_lrsa.datapipes.normalization import Normalizer
from modulus_lrsa.demos.ahmed import final_paths
from modulus_lrsa.descriptor import descriptor_path
from modulus_lrsa.errors import CaseConfigError, CorruptFileError, LaunchError, MeshDataError, ModelFileError
from modulus_lrsa.inference.predict import main
from modulus_lrsa.io.readers import read_vtk
from modulus_lrsa.models import LRSA
from modulus_lrsa.models.trusted import load_trusted_model, load_trusted_weights
from modulus_lrsa.training.checkpoint import atomic_save_module, load_training_state
from modulus_lrsa.training.train import run_training

# ------------------------------------------------------------------------ model.pt


def test_stride_zero_weights_claiming_a_huge_model_are_refused_before_it_is_built(tmp_path, monkeypatch):
    # 2**14 hidden channels: about 4 * 10**9 weights, 16 GB, from a file of a few kilobytes.
    huge = {**TINY, "n_hidden": 1 << 14}
    with torch.device("meta"):
        skeleton = LRSA(**huge)
    state = {name: torch.zeros(1).expand(*value.shape) for name, value in skeleton.state_dict().items()}
    members = members_of(LRSA(**TINY))
    members["args.json"] = json.dumps({"__name__": "LRSA", "__module__": "modulus_lrsa.models.lrsa", "__args__": huge}).encode()
    members["model.pt"] = torch_bytes(state)
    path = zip_mdlus(tmp_path / "huge.mdlus", members)
    assert path.stat().st_size < 100_000
    built = []
    original = LRSA.__init__

    def record(self, *args, **kwargs):
        built.append(torch.empty(0).device.type)
        original(self, *args, **kwargs)

    monkeypatch.setattr(LRSA, "__init__", record)
    with pytest.raises(ModelFileError, match=r"build \d+ bytes of weights, but model.pt stores \d+ bytes") as refused:
        load_trusted_model(path)
    assert_one_line_refusal(refused.value, path)
    assert built == ["meta"], "the model was built for real before the weights' bytes were counted"


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64, torch.uint8])
def test_weights_of_a_non_floating_dtype_are_refused_not_cast(tmp_path, dtype):
    model = LRSA(**TINY)
    members = members_of(model)
    members["model.pt"] = torch_bytes({name: (value * 10).to(dtype) for name, value in model.state_dict().items()})
    path = zip_mdlus(tmp_path / "cast.mdlus", members)
    with pytest.raises(ModelFileError, match=f"holds {dtype} values, where the model's torch.float32 weights") as refused:
        load_trusted_model(path)
    assert_one_line_refusal(refused.value, path)
    with pytest.raises(ModelFileError, match=f"holds {dtype} values"):
        load_trusted_weights(LRSA(**TINY), path)


def test_weights_of_another_floating_dtype_still_load(tmp_path):
    model = LRSA(**TINY)
    members = members_of(model)
    members["model.pt"] = torch_bytes({name: value.double() for name, value in model.state_dict().items()})
    loaded = load_trusted_model(zip_mdlus(tmp_path / "double.mdlus", members))
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)


@pytest.mark.parametrize("kind, convert", [
    ("a meta tensor", lambda value: value.to("meta")),
    ("a quantized tensor", lambda value: torch.quantize_per_tensor(value.float(), 0.1, 0, torch.qint8)),
    ("a sparse tensor", lambda value: value.to_sparse()),
])
def test_meta_quantized_and_sparse_entries_are_named_in_one_line_without_torch_warnings(tmp_path, recwarn, kind, convert):
    model = LRSA(**TINY)
    members = members_of(model)
    state = model.state_dict()
    name = next(key for key, value in state.items() if value.dim() == 2)
    members["model.pt"] = torch_bytes({**state, name: convert(state[name])})
    path = zip_mdlus(tmp_path / "odd.mdlus", members)
    with pytest.raises(ModelFileError, match=f"entry '{name}' is {kind}") as refused:
        load_trusted_model(path)
    assert_one_line_refusal(refused.value, path)
    assert not [str(warning.message) for warning in recwarn if "torch" in warning.filename], "torch warned in lines of its own"


# ------------------------------------------------------------------------ training states of the right objects, wrong shape


@pytest.fixture(scope="module")
def darcy_run(tmp_path_factory):
    """A finished one-epoch Darcy run of lrsa-train and its relaunch config (two epochs)."""
    root = tmp_path_factory.mktemp("audit_resume")
    generate_darcy(root / "data", n_train=4, n_test=2, solve_resolution=9, resolution=9, seed=3)
    run_training(darcy_config(root / "data", root / "run", "training.epochs=1", "training.checkpoint_every_epochs=1"))
    return root / "run"


def crafted_relaunch(darcy_run: Path, tmp_path: Path, change) -> tuple[Path, BaseException, dict[str, bytes]]:
    """Relaunch a copy of ``darcy_run`` whose training state ``change`` altered; returns the error and the files before."""
    run = tmp_path / "run"
    shutil.copytree(darcy_run, run)
    state_file = run / "checkpoints" / "checkpoint.0.1.pt"
    state = load_training_state(state_file)
    change(state)
    torch.save(state, state_file)
    before = {path.name: path.read_bytes() for path in sorted((run / "checkpoints").iterdir())}
    with pytest.raises(LaunchError) as refused:
        run_training(darcy_config(darcy_run.parent / "data", run, "training.epochs=2", "training.checkpoint_every_epochs=1"))
    return state_file, refused.value, before


def _set(path: tuple, value):
    def change(state):
        node = state
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _delete(*path):
    def change(state):
        node = state
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return change


def _moments_of_another_model(state):
    for moments in state["optimizer_state_dict"]["state"].values():
        moments["exp_avg"] = torch.zeros(7)


@pytest.mark.parametrize("change, reason", [
    (_delete("metadata", "global_step"), "its metadata has no 'global_step'"),
    (_set(("metadata", "global_step"), "4"), "'global_step' must be a count, got a str"),
    (_set(("metadata", "history"), "x"), "'history' must be a list of per-epoch records"),
    (_set(("metadata", "best_metric"), "x"), "'best_metric' must be null or a number"),
    (_set(("metadata", "fingerprint"), "x"), "'fingerprint' must be the run's settings"),
    (_set(("metadata", "fingerprint"), {"data": 1}), "the run settings in its metadata are not those lrsa-train records"),
    (_set(("metadata", "rng_states"), [{"python": 1, "numpy": 2, "torch": 3}]), "random-generator states of rank 0"),
    (lambda state: state["metadata"]["rng_states"][0].update(torch=torch.zeros(3, dtype=torch.uint8)),
     "random-generator states of rank 0"),
    (lambda state: state["metadata"]["rng_states"][0].update(numpy=("MT19937", 5)), "random-generator states of rank 0"),
    (_moments_of_another_model, r"the exp_avg of parameter 0 of group 0 has shape \(7,\)"),
    (lambda state: state["optimizer_state_dict"]["param_groups"][0].update(lr="fast"),
     "param group 0's lr is 'fast', not a finite number"),
    (_set(("epoch",), "1"), "holds the training state of epoch '1', not 1"),
])
def test_a_training_state_of_allowed_objects_but_the_wrong_structure_is_one_line_and_changes_nothing(
        darcy_run, tmp_path, change, reason):
    state_file, error, before = crafted_relaunch(darcy_run, tmp_path, change)
    message = str(error)
    assert re.search(reason, message) and str(state_file) in message and "\n" not in message, message
    assert {path.name: path.read_bytes() for path in sorted(state_file.parent.iterdir())} == before


# ------------------------------------------------------------------------ .data.json that disagrees with itself or the model


def crafted_descriptor(cylinder_model, tmp_path: Path, change) -> Path:
    """A copy of the cylinder model whose ``.data.json`` ``change`` altered."""
    model_path, *_ = cylinder_model
    copy = tmp_path / "model.mdlus"
    shutil.copy(model_path, copy)
    payload = json.loads(descriptor_path(model_path).read_text())
    change(payload)
    descriptor_path(copy).write_text(json.dumps(payload))
    return copy


def _append_condition(payload):
    payload["cache_index"]["condition_names"].append("Re")


@pytest.mark.parametrize("change, reason", [
    (_set(("fx_names",), ["U"]), r"'fx_names' is \['U'\], but its cache_index gives \['U', 'aoa_deg'\]"),
    (_set(("target_names",), ["U[0]", "U[1]", "p", "nut", "wallShearStress[0]", "wallShearStress[1]", "q"]),
     "'target_names' is .*, but its cache_index gives"),
    (lambda payload: payload["cache_index"]["target_channels"].pop(), "'target_names' is .*, but its cache_index gives"),
    (lambda payload: payload["cache_index"]["volume_channels"].remove("nut"),
     r"cache_index.target_channels \['nut'\] are neither volume nor surface channels"),
    (_append_condition, r"'fx_names' is \['U', 'aoa_deg'\], but its cache_index gives \['U', 'aoa_deg', 'Re'\]"),
    (_set(("forces", "pressure"), "nope"), "forces.pressure 'nope' is not a surface channel"),
    (_set(("forces", "speed"), "Re"), "forces.speed 'Re' is not a condition"),
    (_set(("forces", "chord"), 0.0), "forces.chord is 0.0; expected a positive finite number"),
    (_set(("cache_index", "settings", "volume_file"), "../case_0004/internal.vtu"),
     "cache_index.settings.volume_file is '../case_0004/internal.vtu'; expected a file pattern inside the case folder"),
    (_set(("cache_index", "settings", "surface_file"), "/etc/wall.vtp"), "settings.surface_file is '/etc/wall.vtp'"),
    (_set(("cache_index", "training_domain", "median_volume_points"), 10**12),
     "median_volume_points is 1000000000000; expected a count from 1 to"),
    (_set(("cache_index", "training_domain", "median_volume_points"), -5), "median_volume_points is -5"),
    (_set(("cache_index", "training_domain", "min"), [-1e300, -1e300]), "must be finite, each min below its max"),
])
def test_a_descriptor_that_disagrees_with_itself_is_one_line_before_the_model_runs(cylinder_model, tmp_path, capsys,
                                                                                  change, reason):
    *_, case = cylinder_model
    copy = crafted_descriptor(cylinder_model, tmp_path, change)
    assert main([str(copy), str(case), "-o", str(tmp_path / "out"), "--condition", "aoa_deg=0"]) == 1
    error = capsys.readouterr().err.strip()
    assert re.search(reason, error) and str(descriptor_path(copy)) in error and "\n" not in error, error
    assert not (tmp_path / "out").exists()


def test_a_descriptor_nested_too_deeply_is_one_line(cylinder_model, tmp_path, capsys):
    *_, case = cylinder_model
    copy = crafted_descriptor(cylinder_model, tmp_path, lambda payload: None)
    descriptor_path(copy).write_text("[" * 100_000 + "]" * 100_000)
    assert main([str(copy), str(case), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert f"{descriptor_path(copy)}: not a modulus-lrsa data descriptor (not valid JSON" in error and "\n" not in error


def test_the_descriptor_of_another_model_is_refused_naming_the_width_that_differs(cylinder_model, tmp_path, capsys):
    model_path, _, data, case = cylinder_model
    other = LRSA(functional_dim=data.functional_dim + 1, out_dim=data.out_dim, embedding_dim=data.embedding_dim,
                 n_layers=1, n_hidden=16, n_head=2, n_latents=4, n_frequencies=2)
    path = atomic_save_module(other, tmp_path / "other.mdlus")
    shutil.copy(descriptor_path(model_path), descriptor_path(path))
    assert main([str(path), str(case), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert f"{path}: the model's functional_dim is 3, but its descriptor other.data.json gives 2 channel(s)" in error
    assert "\n" not in error


# ------------------------------------------------------------------------ meshes and case files


def _vtm(path: Path, *pieces: str) -> Path:
    blocks = "".join(f'<DataSet index="{i}" name="b{i}" file="{piece}"/>' for i, piece in enumerate(pieces))
    path.write_text('<?xml version="1.0"?><VTKFile type="vtkMultiBlockDataSet" version="1.0">'
                    f"<vtkMultiBlockDataSet>{blocks}</vtkMultiBlockDataSet></VTKFile>\n")
    return path


@pytest.mark.parametrize("pieces", [{"case.vtm": ["case.vtm"]}, {"case.vtm": ["b.vtm"], "b.vtm": ["case.vtm"]}])
def test_a_vtm_that_references_itself_is_one_line_not_a_recursion_error(cylinder_model, tmp_path, capsys, pieces):
    model_path, *_ = cylinder_model
    for name, referenced in pieces.items():
        _vtm(tmp_path / name, *referenced)
    assert main([str(model_path), str(tmp_path / "case.vtm"), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert "which references it back (a cycle of .vtm files)" in error and "\n" not in error, error


def test_a_vtm_nested_too_deeply_is_named(tmp_path):
    for level in range(20):
        _vtm(tmp_path / f"n{level}.vtm", f"n{level + 1}.vtm")
    with pytest.raises(CorruptFileError, match="nest more than 16 deep"):
        read_vtk(tmp_path / "n0.vtm")


@pytest.mark.parametrize("results", ["x", [1, 2], {"Cl": "high", "Cd": None}])
def test_solver_results_in_case_json_that_are_no_numbers_are_left_out_not_a_traceback(cylinder_model, tmp_path, capsys,
                                                                                      results):
    model_path, *_, case = cylinder_model
    copy = tmp_path / "case"
    shutil.copytree(case, copy)
    settings = json.loads((copy / "case.json").read_text())
    (copy / "case.json").write_text(json.dumps({**settings, "results": results}))
    # The case's own conditions: its CFD fields are compared, and the solver's results read.
    assert main([str(model_path), str(copy), "-o", str(tmp_path / "out")]) == 0
    forces = json.loads((tmp_path / "out" / "quantities.json").read_text())["forces"]
    assert "from_cfd_fields" in forces and "reported_by_solver" not in forces


# ------------------------------------------------------------------------ a cache index written by someone else


def _index_with(cache_dir: Path, change) -> dict:
    index = json.loads((cache_dir / "index.json").read_text())
    change(index["cases"][0])
    (cache_dir / "index.json").write_text(json.dumps(index))
    return index["cases"][0]


def _header_only_entry(path: Path, layout: dict) -> None:
    """An entry whose array headers claim ``layout`` but hold no data: a few hundred bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, (shape, dtype) in layout.items():
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                          "fortran_order": False, "shape": shape})
            archive.writestr(f"{key}.npy", header.getvalue())


def test_an_entry_claiming_billions_of_points_is_refused_before_anything_is_allocated(built, tmp_path, monkeypatch):
    _, cache_dir, entry = copy_of(built, tmp_path / "cache")

    def claim(case):
        case["num_volume_points"] = 10**10
        layout = CaseArrays.layout(10**10, case["num_surface_points"], case["dimension"], len(case["volume_channels"]),
                                   len(case["surface_channels"]), len(case["conditions"]))
        _header_only_entry(entry_path(cache_dir, case), layout)
        case.update(size=entry_path(cache_dir, case).stat().st_size,
                    sha256=hashlib.sha256(entry_path(cache_dir, case).read_bytes()).hexdigest())

    _index_with(cache_dir, claim)
    allocated = []
    original = np.empty
    monkeypatch.setattr(np, "empty", lambda shape, *args, **kwargs: allocated.append(shape) or original(shape, *args, **kwargs))
    with pytest.raises(MeshDataError, match=r"array 'volume_positions' would take 80000000000 bytes .* holds at most \d+"):
        MeshCache.open(cache_dir).load_case(entry["case_id"])
    assert not [shape for shape in allocated if np.prod(shape) >= 10**10]


@pytest.mark.parametrize("name", ["../../outside.npz", "/tmp/outside.npz", 5, ".hidden.npz"])
def test_an_index_entry_naming_a_file_outside_the_cache_is_refused_and_rebuilt(built, tmp_path, caplog, name):
    root, cache_dir, entry = copy_of(built, tmp_path / "cache")
    outside = tmp_path / "outside.npz"
    shutil.copy(entry_path(cache_dir, entry), outside)
    _index_with(cache_dir, lambda case: case.update(file=name if not isinstance(name, str) or not name.startswith("/")
                                                    else str(outside)))
    with pytest.raises(MeshDataError, match="not a plain .npz name inside cases/") as refused:
        MeshCache.open(cache_dir).load_case(entry["case_id"])
    assert str(cache_dir / "index.json") in str(refused.value) and "\n" not in str(refused.value)
    before = outside.read_bytes()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        cache = build_cache(root, cache_dir, CONFIG)
    assert warnings_about(caplog, "not a plain .npz name inside cases/")
    assert_intact(cache, built[2])
    assert outside.read_bytes() == before


@pytest.mark.parametrize("key, value", [("num_volume_points", "x"), ("num_volume_points", -1), ("volume_channels", 3),
                                        ("dimension", 9), ("conditions", None)])
def test_index_entries_of_the_wrong_types_are_one_line_and_rebuilt(built, tmp_path, caplog, key, value):
    root, cache_dir, entry = copy_of(built, tmp_path / "cache")
    _index_with(cache_dir, lambda case: case.update({key: value}))
    with pytest.raises(MeshDataError, match=f"its index entry's {key}") as refused:
        MeshCache.open(cache_dir).load_case(entry["case_id"])
    assert "\n" not in str(refused.value)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert_intact(build_cache(root, cache_dir, CONFIG), built[2])
    assert warnings_about(caplog, f"its index entry's {key}")


@pytest.mark.parametrize("content, reason", [("[" * 100_000 + "]" * 100_000, "not valid JSON"), ("[1]", "a JSON list")])
def test_an_index_that_is_no_json_object_is_one_line_and_rebuilt(built, tmp_path, content, reason):
    root, cache_dir, _ = copy_of(built, tmp_path / "cache")
    (cache_dir / "index.json").write_text(content)
    with pytest.raises(MeshDataError, match=f"not a cache index \\({reason}"):
        MeshCache.open(cache_dir)
    assert_intact(build_cache(root, cache_dir, CONFIG), built[2])


# ------------------------------------------------------------------------ Darcy arrays


def _claiming_header(shape: tuple[int, ...]) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return header.getvalue() + bytes(100)


def _write_claim_npy(path: Path) -> None:
    path.write_bytes(_claiming_header((100_000, 100_000, 9)))


def _write_claim_npz(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("coeff.npy", _claiming_header((100_000, 100_000, 9)))


@pytest.mark.parametrize("name, write, reason", [
    ("claim.npy", _write_claim_npy, r"the array claims shape \(100000, 100000, 9\) of float32 \(360000000000 bytes\)"),
    ("claim.npz", _write_claim_npz, r"array 'coeff' claims shape \(100000, 100000, 9\)"),
    ("complex.npy", lambda path: np.save(path, np.ones((9, 9), np.complex64)),
     r"must hold finite numbers \(integers or floats; dtype complex64\)"),
    ("empty.npy", lambda path: np.save(path, np.ones((0, 9, 9), np.float32)), r"with R and S >= 1, got \(0, 9, 9\)"),
])
def test_darcy_arrays_that_claim_what_they_do_not_hold_are_one_line(darcy_model, tmp_path, capsys, name, write, reason):
    model_path = darcy_model[0]
    write(tmp_path / name)
    assert main([str(model_path), str(tmp_path / name), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert re.search(reason, error) and str(tmp_path / name) in error and "\n" not in error, error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("metadata, split, reason", [
    ("[" * 100_000 + "]" * 100_000, "test", "metadata.json is not valid JSON"),
    ('{"resolution": "x"}', "test", "dataset is None, expected 'darcy'"),
    (None, "../../x", "--split '../../x': a Darcy dataset has the splits train, test"),
])
def test_a_hostile_darcy_folder_or_split_is_one_line(darcy_model, tmp_path, capsys, metadata, split, reason):
    model_path, folder = darcy_model[0], tmp_path / "data"
    shutil.copytree(darcy_model[3], folder)
    if metadata is not None:
        (folder / "metadata.json").write_text(metadata)
    assert main([str(model_path), str(folder), "--split", split, "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert reason in error and "\n" not in error, error


# ------------------------------------------------------------------------ a third round: case files, sampling, statistics


def _case_copy(case: Path, tmp_path: Path, case_json: str | None = None) -> Path:
    copy = tmp_path / "case"
    shutil.copytree(case, copy)
    if case_json is not None:
        (copy / "case.json").write_text(case_json)
    return copy


def test_a_case_json_nested_too_deeply_is_one_line_naming_it(cylinder_model, tmp_path, capsys):
    model_path, *_, case = cylinder_model
    copy = _case_copy(case, tmp_path, "[" * 100_000 + "]" * 100_000)
    assert main([str(model_path), str(copy), "-o", str(tmp_path / "out"), "--condition", "U=12", "--condition",
                 "aoa_deg=0"]) == 1
    error = capsys.readouterr().err.strip()
    assert f"{copy / 'case.json'}: case.json is not valid JSON (nested too deeply)" in error and "\n" not in error, error
    assert not (tmp_path / "out").exists()


def test_a_manifest_nested_too_deeply_is_one_line_naming_it(tmp_path):
    (tmp_path / "manifest.json").write_text('{"cases": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CaseConfigError) as refused:
        list_cases(tmp_path, MeshCacheConfig(volume_fields=["p"]))
    assert str(refused.value) == f"{tmp_path / 'manifest.json'}: the manifest is not valid JSON (nested too deeply)"


@pytest.mark.parametrize("key, name, shown", [
    ("volume", "{other}/internal.vtu", "'{other}/internal.vtu'"),
    ("surface", "../case_0004/wall.vtp", "'../case_0004/wall.vtp'"),
    ("volume", "", "''"),
    ("volume", ["internal.vtu"], "\"['internal.vtu']\""),
])
def test_case_json_files_outside_the_case_folder_are_refused_naming_the_key(cylinder_model, tmp_path, capsys, key, name,
                                                                           shown):
    # An absolute path or one through '..' read another case's mesh and exited 0, its result passed off as this case's.
    model_path, *_, case = cylinder_model
    other = case.parent / "case_0004"
    settings = json.loads((case / "case.json").read_text())
    files = {**settings["files"], key: name.format(other=other) if isinstance(name, str) else name}
    copy = _case_copy(case, tmp_path, json.dumps({**settings, "files": files}))
    assert main([str(model_path), str(copy), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    expected = f"{copy / 'case.json'}: files.{key} is {shown.format(other=other)}; expected a file inside the case folder"
    assert expected in error and "\n" not in error, error
    assert not (tmp_path / "out").exists()


def test_case_json_files_that_are_no_object_are_one_line(cylinder_model, tmp_path, capsys):
    model_path, *_, case = cylinder_model
    settings = json.loads((case / "case.json").read_text())
    copy = _case_copy(case, tmp_path, json.dumps({**settings, "files": "volume"}))
    assert main([str(model_path), str(copy), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert f"{copy / 'case.json'}: files must be a JSON object" in error and "got str" in error and "\n" not in error, error


def test_a_sampling_box_inside_the_body_is_one_line_not_a_traceback(cylinder_model, tmp_path, capsys):
    # The cylinder's radius is 0.5: no point of this box lies in the fluid. Since 24ef812 a 2D
    # wall is checked against the training domain before sampling; this one is 5 times its
    # extent, so that check refuses it: one line, nothing written.
    model_path, *_, case = cylinder_model
    assert main([str(model_path), str(case / "wall.vtp"), "-o", str(tmp_path / "out"), "--sample-volume", "100",
                 "--condition", "U=12", "--condition", "aoa_deg=0", "--box", "-0.1", "-0.1", "0.1", "0.1"]) == 1
    error = capsys.readouterr().err.strip()
    assert "along x 5 times the extent of the training domain (0.2 x 0.2)" in error, error
    assert "wall.vtp" in error and "\n" not in error and not (tmp_path / "out").exists()


@pytest.mark.parametrize("std", [1e-320, 5e-324, 1e-39, 0.0])
def test_a_subnormal_or_zero_std_is_refused_naming_the_channel(std):
    # Above 0 in float64, but 0 or subnormal in the model's float32: its outputs overflow to infinity.
    with pytest.raises(ValueError, match=r"std >= 1\.175e-38 \(float32's smallest normal number\); channel\(s\) \['p'\]"):
        Normalizer(names=["U", "p"], mean=np.zeros(2), std=np.array([1.0, std]))
    # The smallest normal number itself still divides.
    Normalizer(names=["U", "p"], mean=np.zeros(2), std=np.array([1.0, float(np.finfo(np.float32).tiny)]))


def _subnormal_target_std(payload):
    payload["cache_index"]["normalization"]["target"]["std"][2] = 1e-320


def test_a_descriptor_with_a_subnormal_std_is_one_line_naming_the_statistic(cylinder_model, tmp_path, capsys):
    *_, case = cylinder_model
    copy = crafted_descriptor(cylinder_model, tmp_path, _subnormal_target_std)
    assert main([str(copy), str(case), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert f"{descriptor_path(copy)}: cache_index.normalization.target is not a normalizer" in error, error
    assert "float32's smallest normal number); channel(s) ['p']" in error and "\n" not in error, error
    assert not (tmp_path / "out").exists()


def test_the_ahmed_demos_records_name_the_predictions_where_they_are_swapped_to(tmp_path):
    # The new body's quantities.json named its STL inside the hidden staging folder, gone after the swap.
    out = tmp_path / "predictions"
    with atomic_folder(out, lambda folder: True, "predictions") as staging:
        (staging / "new_body").mkdir()
        (staging / "new_body" / "new_body.stl").write_text("solid marker\nendsolid marker\n")
        record = {"input": str(staging / "new_body" / "new_body.stl"), "kind": "new_geometry", "sampling": {"seed": 0},
                  "wall": {"source": str(staging / "new_body" / "new_body.stl"), "warnings": [
                      f"{staging / 'new_body' / 'new_body.stl'}: 3 open edges"]}}
        moved = final_paths(record, staging, out)
    assert moved["input"] == str(out / "new_body" / "new_body.stl") and Path(moved["input"]).is_file()
    assert moved["wall"] == {"source": moved["input"], "warnings": [f"{moved['input']}: 3 open edges"]}
    assert moved["sampling"] == {"seed": 0} and ".partial-" not in json.dumps(moved)
