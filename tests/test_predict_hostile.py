# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""lrsa-predict under faults and hostile input (issue 29, items 2-3 and 6).

An output folder is never left mixed: a run killed (SIGKILL), failing on a full disk or
refused leaves the earlier result exactly as it was, and the next run removes what a
killed one left. Conditions are checked where they enter: NaN and Inf are refused by
the parser, values outside the training cases' range are warned about with the range,
and a prediction holding NaN is refused instead of written. Hypothesis throws a few
hundred generated strings at the condition parser.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_cfd_cases import cylinder_dataset
from test_predict import compose_config, darcy_model, export, tiny_lrsa  # noqa: F401  (darcy_model: a fixture)

from modulus_lrsa import atomic
from modulus_lrsa.atomic import OutputFolderError, atomic_folder, remove_stale_partials
from modulus_lrsa.datapipes.normalization import Normalizer
from modulus_lrsa.demos.common import METRICS_NAME, begin_result_set, copy_model
from modulus_lrsa.descriptor import descriptor_path
from modulus_lrsa.inference import cli, common, mesh
from modulus_lrsa.inference.predict import main
from modulus_lrsa.training.data import build_training_data

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cylinder_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_predict")
    cases = cylinder_dataset(root / "cases")
    config = compose_config(["data=airfoil", f"data.path={cases}", f"data.cache_dir={root / 'cache'}"])
    data = build_training_data(config.data, seed=0)
    model = tiny_lrsa(data)
    return export(model, data, root / "model"), model, data, cases / "cases" / "case_0005"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def siblings(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.parent.iterdir() if path.name.startswith(f".{folder.name}."))


@pytest.fixture
def earlier_result(cylinder_model, tmp_path):
    """An output folder holding a complete earlier prediction, and its bytes."""
    model_path, _, _, case = cylinder_model
    out = tmp_path / "out"
    assert main([str(model_path), str(case), "-o", str(out), "--condition", "aoa_deg=2"]) == 0
    return out, snapshot(out)


# --------------------------------------------------------------- whole-folder output


def test_a_prediction_killed_midway_leaves_the_earlier_result_whole_and_the_next_run_cleans_up(
    cylinder_model, earlier_result
):
    model_path, _, _, case = cylinder_model
    out, before = earlier_result
    # The run dies by SIGKILL once the new volume.vtu is written, before the rest: the defect
    # left that file beside the old surface.vtp, prediction.vtm and quantities.json.
    killer = textwrap.dedent(f"""
        import os, signal, sys
        from modulus_lrsa.inference import mesh, predict
        write = mesh.atomic_write_vtk
        def write_then_die(mesh, path):
            write(mesh, path)
            if path.name == "volume.vtu":
                os.kill(os.getpid(), signal.SIGKILL)
        mesh.atomic_write_vtk = write_then_die
        sys.exit(predict.main([{str(model_path)!r}, {str(case)!r}, "-o", {str(out)!r}, "--condition", "aoa_deg=5"]))
    """)
    run = subprocess.run([sys.executable, "-c", killer], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == -9, run.stderr
    assert snapshot(out) == before
    left = siblings(out)
    assert len(left) == 1 and ".partial-" in left[0], left

    assert main([str(model_path), str(case), "-o", str(out), "--condition", "aoa_deg=5"]) == 0
    assert siblings(out) == []
    assert json.loads((out / "quantities.json").read_text())["conditions"]["aoa_deg"] == 5.0
    assert set(snapshot(out)) == set(before)


def test_a_full_disk_while_writing_leaves_the_earlier_result_and_no_temporary(
    cylinder_model, earlier_result, monkeypatch, capsys
):
    model_path, _, _, case = cylinder_model
    out, before = earlier_result

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mesh, "atomic_write_json", disk_full)
    assert main([str(model_path), str(case), "-o", str(out), "--condition", "aoa_deg=5"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert snapshot(out) == before and siblings(out) == []


def test_an_output_folder_of_other_files_is_refused_before_the_model_is_loaded(tmp_path, capsys):
    out = tmp_path / "my_results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    # The model file does not exist: the refusal comes first, so it is about the folder.
    assert main([str(tmp_path / "missing.mdlus"), str(tmp_path), "-o", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert "my_results: exists and is not an earlier lrsa-predict output" in error and "\n" not in error
    assert (out / "notes.txt").read_text() == "mine"


def test_a_too_long_output_path_is_refused_before_the_model_runs(tmp_path, capsys):
    out = tmp_path / ("x" * 250)
    assert main([str(tmp_path / "missing.mdlus"), str(tmp_path), "-o", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert "the folder name is 250 bytes" in error and "\n" not in error


def test_a_model_that_predicts_nan_writes_nothing(cylinder_model, earlier_result, tmp_path, capsys):
    _, model, data, case = cylinder_model
    out, before = earlier_result
    broken = tiny_lrsa(data)
    broken.load_state_dict(model.state_dict())
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))
    path = export(broken, data, tmp_path / "broken")
    assert main([str(path), str(case), "-o", str(out)]) == 1
    error = capsys.readouterr().err
    assert "holds NaN or Inf in" in error and f"nothing was written to {out}" in error
    assert snapshot(out) == before


def test_atomic_folder_keeps_the_target_on_an_exception_and_replaces_it_on_success(tmp_path):
    target = tmp_path / "result"
    target.mkdir()
    (target / "done").write_text("old")

    def is_result(folder):
        return (folder / "done").is_file()

    with pytest.raises(RuntimeError), atomic_folder(target, is_result, "a result") as folder:
        (folder / "done").write_text("new")
        raise RuntimeError("failed midway")
    assert (target / "done").read_text() == "old" and siblings(target) == []
    with atomic_folder(target, is_result, "a result") as folder:
        (folder / "done").write_text("new")
    assert (target / "done").read_text() == "new" and siblings(target) == []


def test_only_partials_of_dead_processes_of_this_host_are_removed(tmp_path):
    target = tmp_path / "result"
    host = atomic._host_token()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    names = {
        "dead": f".result.partial-{host}-{int(dead.stdout)}-0123abcd",
        "live": f".result.partial-{host}-{os.getpid()}-0123abcd",
        "other_host": f".result.partial-{'f' * 8 if host != 'f' * 8 else '0' * 8}-{int(dead.stdout)}-0123abcd",
        "unrelated": ".resultant.partial-00000000-1-0123abcd",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    assert [path.name for path in remove_stale_partials(target)] == [names["dead"]]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(v for k, v in names.items() if k != "dead")


def test_a_file_where_the_output_folder_should_be_is_refused(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(OutputFolderError, match="exists and is not a folder"):
        common.check_output_folder(tmp_path / "taken")


# --------------------------------------------------------------- the demos' result sets


def test_a_demo_rerun_removes_its_completion_mark_first_and_the_temporaries_of_killed_writes(tmp_path):
    (tmp_path / METRICS_NAME).write_text("{}")
    leftover = tmp_path / ".predictions.png.ab12cd34.png"
    leftover.write_bytes(b"half a figure")
    begin_result_set(tmp_path, ["predictions.png"])
    assert not (tmp_path / METRICS_NAME).exists() and not leftover.exists()


def test_copying_a_model_never_pairs_it_with_an_older_descriptor(cylinder_model, tmp_path, monkeypatch):
    model_path, *_ = cylinder_model
    target = tmp_path / "demo.mdlus"
    copy_model(model_path, target)
    descriptor_path(target).write_text('{"stale": true}')
    copies = []

    def copy_then_fail(origin, destination):
        copies.append(destination)
        if destination.name.endswith(".data.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        Path(destination).write_bytes(Path(origin).read_bytes())

    monkeypatch.setattr("modulus_lrsa.demos.common.copy_file", copy_then_fail)
    with pytest.raises(OSError):
        copy_model(model_path, target)
    assert copies == [target, descriptor_path(target)]
    assert not descriptor_path(target).exists()  # lrsa-predict refuses the model, never reads stale statistics


# --------------------------------------------------------------- conditions


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "NaN"])
def test_a_non_finite_condition_is_refused_by_the_parser_in_one_line(value, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.build_parser().parse_args(["m.mdlus", "case", "-o", "out", "--condition", f"aoa_deg={value}"])
    assert stopped.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"'aoa_deg={value}': the value must be a finite number" in last


@pytest.mark.parametrize("flag, value", [("--near-wall-fraction", "nan"), ("--near-wall-fraction", "1.5"),
                                         ("--near-wall-thickness", "0"), ("--box", "inf"), ("--chunk-points", "0"),
                                         ("--sample-volume", "0")])
def test_non_finite_or_out_of_range_settings_are_refused_by_the_parser(flag, value, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["m.mdlus", "wall.stl", "-o", "out", flag, value])
    assert f"argument {flag}" in capsys.readouterr().err


def test_a_condition_outside_the_training_range_is_warned_about_naming_the_range(cylinder_model, tmp_path, caplog):
    model_path, _, data, case = cylinder_model
    statistics = data.descriptor["cache_index"]["normalization"]["conditions"]
    column = statistics["names"].index("aoa_deg")
    low, high = statistics["min"][column], statistics["max"][column]
    assert main([str(model_path), str(case), "-o", str(tmp_path / "inside"), "--condition", f"aoa_deg={low}"]) == 0
    assert "aoa_deg" not in caplog.text
    # case_0005 is a test case of speed 20; the training cases run at 10 to 16.
    assert "condition U=20 is outside the training range" in caplog.text
    assert main([str(model_path), str(case), "-o", str(tmp_path / "far"), "--condition", "aoa_deg=40"]) == 0
    assert f"condition aoa_deg=40 is outside the training range [{low:.6g}, {high:.6g}]" in caplog.text


def test_a_descriptor_without_ranges_warns_beyond_three_standard_deviations():
    statistics = Normalizer.from_dict({"names": ["aoa_deg"], "mean": [0.0], "std": [2.0]})
    assert common.warn_outside_training_range(statistics, {"aoa_deg": 5.0}, Path("case")) == []
    (warning,) = common.warn_outside_training_range(statistics, {"aoa_deg": 7.0}, Path("case"))
    assert "more than 3 standard deviations" in warning and "range is unknown" in warning


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(
    st.text(max_size=24),
    st.builds(lambda name, value: f"{name}={value}", st.text(max_size=8),
              st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=8))),
))
def test_fuzz_the_condition_parser_gives_a_finite_number_or_one_line(text):
    try:
        name, value = cli.parse_condition(text)
    except argparse.ArgumentTypeError as error:
        assert "\n" not in str(error) and repr(text) in str(error)
    else:
        assert math.isfinite(value) and name == name.strip() and name and "=" in text


# --------------------------------------------------------------- hostile input files


@pytest.mark.parametrize("content, reason", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "a JSON list, not an object"),
    (b'{"format": "something else"}', "format 'something else'"),
])
def test_a_damaged_data_descriptor_is_one_line(cylinder_model, tmp_path, capsys, content, reason):
    model_path, *_ = cylinder_model
    copy = tmp_path / "model.mdlus"
    copy.write_bytes(model_path.read_bytes())
    descriptor_path(copy).write_bytes(content)
    assert main([str(copy), str(tmp_path), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert f"{descriptor_path(copy)}: not a modulus-lrsa data descriptor" in error and reason in error
    assert "\n" not in error


@pytest.mark.parametrize("write, reason", [
    (lambda path: np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True), "not a readable NumPy array file"),
    (lambda path: np.save(path, np.full((9, 9), np.nan)), "must hold finite numbers"),
    (lambda path: path.write_bytes(b"\x93NUMPY junk"), "not a readable NumPy array file"),
])
def test_a_hostile_or_damaged_darcy_input_is_refused_in_one_line(darcy_model, tmp_path, capsys, write, reason):
    model_path, *_ = darcy_model
    path = tmp_path / "coeff.npy"
    write(path)
    assert main([str(model_path), str(path), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert str(path) in error and reason in error and "\n" not in error
    assert not (tmp_path / "out").exists()


def test_a_truncated_darcy_npz_is_refused_in_one_line(darcy_model, tmp_path, capsys):
    model_path, *_ = darcy_model
    whole = tmp_path / "whole.npz"
    np.savez(whole, coeff=np.ones((9, 9), dtype=np.float32))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert main([str(model_path), str(cut), "-o", str(tmp_path / "out")]) == 1
    assert "not a readable NumPy array file" in capsys.readouterr().err
