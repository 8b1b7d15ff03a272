# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Darcy benchmark generator: discretisation accuracy, random-field statistics, files and CLI."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pytest

from modulus_lrsa.data import darcy
from modulus_lrsa.data.cli import main
from modulus_lrsa.data.darcy import generation
from modulus_lrsa.io import darcy as darcy_format

# A tiny dataset: 21x21 solve, every 2nd node kept, shards of 2 so resume has several shards.
SMALL = dict(n_train=5, n_test=3, solve_resolution=21, resolution=11, seed=7, shard_size=2)
SMALL_CLI = ["--n-train", "5", "--n-test", "3", "--solve-resolution", "21", "--resolution", "11", "--seed", "7"]


def _arrays(folder):
    return {split: darcy_format.load_darcy(folder, split) for split in darcy_format.SPLITS}


def _assert_same_data(left, right):
    for split in darcy_format.SPLITS:
        for key in ("coeff", "solution", "x", "y"):
            np.testing.assert_array_equal(left[split][key], right[split][key], err_msg=f"{split}/{key}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy_reference")
    darcy.generate_darcy(folder, **SMALL)
    return folder, _arrays(folder)


# --------------------------------------------------------------------------------------
# Discretisation
# --------------------------------------------------------------------------------------


def _manufactured_error(resolution: int) -> float:
    """Max nodal error for u = sin(pi x) sin(pi y) with a = 2 + sin(pi x + 0.3) cos(2 pi y)."""
    x = darcy.node_coordinates(resolution)
    X, Y = np.meshgrid(x, x, indexing="ij")
    pi = np.pi
    a = 2.0 + np.sin(pi * X + 0.3) * np.cos(2 * pi * Y)
    a_x = pi * np.cos(pi * X + 0.3) * np.cos(2 * pi * Y)
    a_y = -2 * pi * np.sin(pi * X + 0.3) * np.sin(2 * pi * Y)
    u = np.sin(pi * X) * np.sin(pi * Y)
    u_x = pi * np.cos(pi * X) * np.sin(pi * Y)
    u_y = pi * np.sin(pi * X) * np.cos(pi * Y)
    forcing = -(a_x * u_x + a_y * u_y - 2 * pi**2 * a * u)
    return float(np.abs(darcy.solve_darcy(a, forcing) - u).max())


def test_second_order_convergence_with_variable_coefficient():
    errors = [_manufactured_error(r) for r in (17, 33, 65, 129)]
    ratios = [coarse / fine for coarse, fine in zip(errors, errors[1:])]
    assert errors[-1] < 1e-3
    for ratio in ratios:
        assert 3.6 < ratio < 4.4, f"errors {errors} give ratios {ratios}, expected ~4 (second order)"


def test_operator_is_symmetric_positive_definite():
    coeff = darcy.sample_coefficient(np.random.default_rng(3), 12)
    matrix = darcy.assemble_darcy_operator(coeff)
    assert matrix.shape == (100, 100)
    assert abs(matrix - matrix.T).max() == 0.0
    assert np.linalg.eigvalsh(matrix.toarray()).min() > 0.0


def test_operator_matches_stencil_at_one_node():
    resolution = 6
    coeff = np.arange(1.0, 1.0 + resolution**2).reshape(resolution, resolution)
    matrix = darcy.assemble_darcy_operator(coeff).toarray() / (resolution - 1) ** 2
    n = resolution - 2
    i, j = 2, 1  # interior node (2, 1) is unknown (i - 1) * n + (j - 1)
    row = matrix[(i - 1) * n + (j - 1)]
    east, west = (coeff[i, j] + coeff[i + 1, j]) / 2, (coeff[i, j] + coeff[i - 1, j]) / 2
    north, south = (coeff[i, j] + coeff[i, j + 1]) / 2, (coeff[i, j] + coeff[i, j - 1]) / 2
    assert row[(i - 1) * n + (j - 1)] == pytest.approx(east + west + north + south)
    assert row[i * n + (j - 1)] == pytest.approx(-east)
    assert row[(i - 2) * n + (j - 1)] == pytest.approx(-west)
    assert row[(i - 1) * n + j] == pytest.approx(-north)
    assert np.count_nonzero(row) == 4  # the south neighbor (2, 0) is on the boundary


def test_solution_is_positive_inside_and_zero_on_boundary():
    coeff, solution = darcy.generate_sample(0, "train", 0, solve_resolution=41, resolution=21)
    assert solution.shape == coeff.shape == (21, 21)
    boundary = np.concatenate([solution[0], solution[-1], solution[:, 0], solution[:, -1]])
    assert np.all(boundary == 0.0)
    assert solution[1:-1, 1:-1].min() > 0.0  # maximum principle for a positive forcing


def test_subsampling_keeps_every_kth_node_of_the_fine_solve():
    fine_coeff = darcy.sample_coefficient(darcy.sample_rng(4, "test", 2), 41)
    fine_solution = darcy.solve_darcy(fine_coeff)
    coeff, solution = darcy.generate_sample(4, "test", 2, solve_resolution=41, resolution=11)
    np.testing.assert_array_equal(coeff, fine_coeff[::4, ::4].astype(np.float32))
    np.testing.assert_array_equal(solution, fine_solution[::4, ::4].astype(np.float32))


# --------------------------------------------------------------------------------------
# Random permeability
# --------------------------------------------------------------------------------------


def test_coefficient_takes_two_values_in_equal_proportion():
    coeffs = np.stack([darcy.sample_coefficient(darcy.sample_rng(0, "train", i), 64) for i in range(50)])
    assert set(np.unique(coeffs)) == {3.0, 12.0}
    assert abs((coeffs == 12.0).mean() - 0.5) < 0.05


def test_random_field_has_the_covariance_of_the_recipe():
    """Pointwise variance and a two-point covariance against the Karhunen-Loeve series."""
    resolution, samples = 33, 400
    rng = np.random.default_rng(11)
    fields = np.stack([darcy.gaussian_random_field(rng, resolution) for _ in range(samples)])
    x = darcy.node_coordinates(resolution)
    k = np.arange(resolution)
    eigenfunction = lambda t: np.where(k == 0, 1.0, np.sqrt(2.0) * np.cos(np.pi * k * t))  # noqa: E731
    variance_of_mode = 3.0**2 * (np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + 9.0) ** -2
    variance_of_mode[0, 0] = 0.0

    def covariance(p, q):
        phi_p = np.outer(eigenfunction(x[p[0]]), eigenfunction(x[p[1]]))
        phi_q = np.outer(eigenfunction(x[q[0]]), eigenfunction(x[q[1]]))
        return float((variance_of_mode * phi_p * phi_q).sum())

    for p, q in (((16, 16), (16, 16)), ((4, 9), (4, 9)), ((16, 16), (20, 16))):
        empirical = float(np.mean(fields[:, p[0], p[1]] * fields[:, q[0], q[1]]))
        assert empirical == pytest.approx(covariance(p, q), rel=0.2), (p, q)


# --------------------------------------------------------------------------------------
# Dataset files
# --------------------------------------------------------------------------------------


def test_dataset_format(reference):
    folder, data = reference
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["dataset"] == "darcy" and metadata["recipe"] == "fno-darcy-2d"
    assert metadata["format_version"] == 1
    assert metadata["params"] == {
        "n_train": 5, "n_test": 3, "solve_resolution": 21, "resolution": 11, "seed": 7,
        "alpha": 2, "tau": 3, "a_plus": 12, "a_minus": 3, "forcing": 1,
    }
    assert metadata["generator"].startswith("modulus_lrsa ")
    assert not (folder / ".partial").exists()
    for split, count in (("train", 5), ("test", 3)):
        loaded = data[split]
        assert loaded["coeff"].shape == loaded["solution"].shape == (count, 11, 11)
        assert loaded["coeff"].dtype == loaded["solution"].dtype == np.float32
        assert loaded["x"].dtype == np.float64
        np.testing.assert_array_equal(loaded["x"], np.linspace(0, 1, 11))
        np.testing.assert_array_equal(loaded["y"], np.linspace(0, 1, 11))
        assert loaded["metadata"] == metadata
    coeff, solution = darcy.generate_sample(7, "test", 2, 21, 11)
    np.testing.assert_array_equal(data["test"]["coeff"][2], coeff)
    np.testing.assert_array_equal(data["test"]["solution"][2], solution)


def test_same_seed_same_data_regardless_of_jobs_and_shards(reference, tmp_path):
    _, expected = reference
    darcy.generate_darcy(tmp_path / "parallel", **{**SMALL, "shard_size": 3}, jobs=2)
    _assert_same_data(_arrays(tmp_path / "parallel"), expected)


def test_other_seed_other_data_and_test_split_independent_of_n_train(reference, tmp_path):
    _, expected = reference
    darcy.generate_darcy(tmp_path / "seed8", **{**SMALL, "seed": 8})
    assert not np.array_equal(_arrays(tmp_path / "seed8")["train"]["coeff"], expected["train"]["coeff"])

    darcy.generate_darcy(tmp_path / "more", **{**SMALL, "n_train": 7})
    more = _arrays(tmp_path / "more")
    np.testing.assert_array_equal(more["train"]["coeff"][:5], expected["train"]["coeff"])
    np.testing.assert_array_equal(more["test"]["solution"], expected["test"]["solution"])


def test_resume_after_interruption_reuses_finished_shards(reference, tmp_path, monkeypatch):
    _, expected = reference
    real_generate_shard = generation._generate_shard
    calls = []

    def interrupted_after_two(partial_dir, shard, params):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(shard)
        return real_generate_shard(partial_dir, shard, params)

    monkeypatch.setattr(generation, "_generate_shard", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt):
        darcy.generate_darcy(tmp_path, **SMALL)
    assert sorted(p.name for p in (tmp_path / ".partial").glob("*.npz")) == sorted(s.filename for s in calls)
    assert not (tmp_path / "metadata.json").exists() and not (tmp_path / "train.npz").exists()
    with pytest.raises(FileNotFoundError, match="interrupted"):
        darcy_format.load_darcy(tmp_path, "train")

    resumed = []

    def counting(partial_dir, shard, params):
        resumed.append(shard)
        return real_generate_shard(partial_dir, shard, params)

    monkeypatch.setattr(generation, "_generate_shard", counting)
    darcy.generate_darcy(tmp_path, **SMALL)
    total_shards = 3 + 2  # ceil(5 / 2) train + ceil(3 / 2) test
    assert len(resumed) == total_shards - 2 and not set(resumed) & set(calls)
    assert not (tmp_path / ".partial").exists()
    _assert_same_data(_arrays(tmp_path), expected)


def test_interruption_while_assembling_resumes_without_solving(reference, tmp_path, monkeypatch):
    _, expected = reference

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(generation, "_assemble_split", interrupted)
    with pytest.raises(KeyboardInterrupt):
        darcy.generate_darcy(tmp_path, **SMALL)
    monkeypatch.undo()

    def must_not_run(*args):
        raise AssertionError("all shards were finished; none should be generated again")

    monkeypatch.setattr(generation, "_generate_shard", must_not_run)
    darcy.generate_darcy(tmp_path, **SMALL, jobs=2)
    _assert_same_data(_arrays(tmp_path), expected)


def test_shards_of_other_settings_are_discarded(reference, tmp_path, monkeypatch):
    _, expected = reference
    real_generate_shard = generation._generate_shard

    def interrupted(partial_dir, shard, params):
        real_generate_shard(partial_dir, shard, params)
        raise KeyboardInterrupt

    monkeypatch.setattr(generation, "_generate_shard", interrupted)
    with pytest.raises(KeyboardInterrupt):
        darcy.generate_darcy(tmp_path, **{**SMALL, "seed": 99})
    monkeypatch.setattr(generation, "_generate_shard", real_generate_shard)
    darcy.generate_darcy(tmp_path, **SMALL)
    _assert_same_data(_arrays(tmp_path), expected)


def test_complete_dataset_is_not_regenerated(reference, tmp_path, caplog):
    darcy.generate_darcy(tmp_path, **SMALL)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with caplog.at_level(logging.INFO, logger=generation.__name__):
        darcy.generate_darcy(tmp_path, **SMALL)
    assert "already complete" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps


def test_other_params_refuse_to_overwrite_unless_asked(reference, tmp_path):
    darcy.generate_darcy(tmp_path, **SMALL)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(darcy_format.DarcyDatasetError, match=r"n_test: on disk 3, requested 4.*seed: on disk 7, requested 1"):
        darcy.generate_darcy(tmp_path, **{**SMALL, "n_test": 4, "seed": 1})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before

    darcy.generate_darcy(tmp_path, **{**SMALL, "n_test": 4}, overwrite=True)
    assert darcy_format.load_darcy(tmp_path, "test")["coeff"].shape == (4, 11, 11)


def test_foreign_arrays_without_metadata_are_not_replaced(tmp_path):
    (tmp_path / "train.npz").write_bytes(b"not ours")
    with pytest.raises(darcy_format.DarcyDatasetError, match="no metadata.json"):
        darcy.generate_darcy(tmp_path, **SMALL)
    assert (tmp_path / "train.npz").read_bytes() == b"not ours"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_train": -1}, "n_train must be an integer >= 0"),
        ({"resolution": 2}, "resolution must be an integer >= 3"),
        ({"resolution": 8}, r"Resolutions that work with solve_resolution 21: 3, 5, 6, 11, 21"),
        ({"seed": -3}, "seed must be an integer >= 0"),
        ({"jobs": 0}, "jobs must be an integer >= 1"),
    ],
)
def test_invalid_parameters_are_named(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        darcy.generate_darcy(tmp_path / "never", **{**SMALL, **kwargs})
    assert not (tmp_path / "never").exists()


def test_reader_reports_what_is_wrong(reference, tmp_path):
    folder, data = reference
    with pytest.raises(FileNotFoundError, match="does not exist"):
        darcy_format.load_darcy(tmp_path / "missing", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        darcy_format.load_darcy(folder, "validation")

    (tmp_path / "metadata.json").write_text((folder / "metadata.json").read_text())
    with pytest.raises(FileNotFoundError, match="train.npz is missing"):
        darcy_format.load_darcy(tmp_path, "train")
    np.savez(tmp_path / "train.npz", coeff=data["train"]["coeff"][:, :5], solution=data["train"]["solution"],
             x=data["train"]["x"], y=data["train"]["y"])
    with pytest.raises(darcy_format.DarcyDatasetError, match=r"'coeff' has shape \(5, 5, 11\).*expected shape \(5, 11, 11\)"):
        darcy_format.load_darcy(tmp_path, "train")
    np.savez(tmp_path / "train.npz", coeff=data["train"]["coeff"], x=data["train"]["x"], y=data["train"]["y"])
    with pytest.raises(darcy_format.DarcyDatasetError, match="lacks array"):
        darcy_format.load_darcy(tmp_path, "train")



@pytest.mark.parametrize("damage", ["truncated", "bit_flip"])
def test_reader_names_a_damaged_file_and_how_to_regenerate_it(reference, tmp_path, damage):
    folder, data = reference
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    train = damaged / "train.npz"
    if damage == "truncated":
        os.truncate(train, train.stat().st_size // 2)  # a copy cut off mid-way
    else:
        raw = bytearray(train.read_bytes())
        raw[len(raw) // 2] ^= 0xFF  # one damaged byte inside the coeff array
        train.write_bytes(bytes(raw))
    with pytest.raises(darcy_format.DarcyDatasetError) as error:
        darcy_format.load_darcy(damaged, "train")
    message = str(error.value)
    assert str(train) in message and "truncated or corrupt" in message
    assert f"lrsa-data darcy --out {damaged}" in message and "seed=7" in message
    # The advice works: without the damaged file the same parameters regenerate the dataset.
    train.unlink()
    darcy.generate_darcy(damaged, **SMALL)
    _assert_same_data(_arrays(damaged), data)

# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def test_cli_generates_then_reports_complete(reference, tmp_path, caplog):
    _, expected = reference
    out = tmp_path / "cli"
    assert main(["darcy", *SMALL_CLI, "--out", str(out), "--shard-size", "4"]) == 0
    _assert_same_data(_arrays(out), expected)
    with caplog.at_level(logging.INFO):
        assert main(["darcy", *SMALL_CLI, "--out", str(out)]) == 0
    assert "already complete" in caplog.text


def test_cli_refuses_other_params_with_exit_status_1(reference, tmp_path, capsys):
    assert main(["-q", "darcy", *SMALL_CLI, "--out", str(tmp_path)]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["-q", "darcy", *SMALL_CLI, "--n-train", "6", "--out", str(tmp_path)])
    assert exit_info.value.code == 1
    assert "n_train: on disk 5, requested 6" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--n-test", "-2"], "argument --n-test: must be >= 0"),
        (["--resolution", "2"], "argument --resolution: must be >= 3"),
        (["--resolution", "12"], "Resolutions that work with solve_resolution 21"),
        (["--jobs", "two"], "argument --jobs: expected an integer"),
        (["--color", "blue"], "unrecognized arguments: --color"),
    ],
)
def test_cli_rejects_bad_options_like_argparse(tmp_path, capsys, options, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["darcy", *SMALL_CLI, *options, "--out", str(tmp_path / "never")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
