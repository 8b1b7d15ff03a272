# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Darcy datasets: grid and point-cloud views, training statistics, de-normalization."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.datapipes import DarcyDataset, DarcyNormalizers, pad_collate
from modulus_lrsa.io.darcy import load_darcy

RESOLUTION = 11


@pytest.fixture(scope="module")
def darcy_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy")
    generate_darcy(folder, n_train=6, n_test=3, solve_resolution=21, resolution=RESOLUTION, seed=4)
    return folder


def test_statistics_are_global_over_the_training_split(darcy_folder):
    train = load_darcy(darcy_folder, "train")
    normalizers = DarcyNormalizers.from_folder(darcy_folder)
    coeff, solution = train["coeff"].astype(np.float64), train["solution"].astype(np.float64)
    assert normalizers.coefficient.mean[0] == pytest.approx(coeff.mean(), rel=1e-12)
    assert normalizers.coefficient.std[0] == pytest.approx(coeff.std(), rel=1e-12)
    assert normalizers.solution.mean[0] == pytest.approx(solution.mean(), rel=1e-12)
    assert normalizers.solution.std[0] == pytest.approx(solution.std(), rel=1e-12)


def test_grid_view_and_denormalisation(darcy_folder):
    dataset = DarcyDataset(darcy_folder, "test", view="grid")
    raw = load_darcy(darcy_folder, "test")
    assert len(dataset) == 3 and dataset.structured_shape == (RESOLUTION, RESOLUTION)
    sample = dataset[1]
    assert sample["fx"].shape == (RESOLUTION, RESOLUTION, 1)
    assert sample["embedding"].shape == (RESOLUTION, RESOLUTION, 2)
    assert sample["target"].shape == (RESOLUTION, RESOLUTION, 1)
    # embedding[i, j] = (x[i], y[j])
    assert sample["embedding"][3, 7].tolist() == pytest.approx([raw["x"][3], raw["y"][7]])
    # The test split uses the training statistics, and de-normalizing gives back the solution.
    train_stats = DarcyNormalizers.from_folder(darcy_folder)
    assert dataset.target_normalizer.mean[0] == train_stats.solution.mean[0]
    physical = dataset.target_normalizer.denormalize(sample["target"].double())[..., 0].numpy()
    np.testing.assert_allclose(physical, raw["solution"][1], rtol=1e-5, atol=1e-7)
    coefficient = dataset.normalizers.coefficient.denormalize(sample["fx"].double())[..., 0].numpy()
    np.testing.assert_allclose(coefficient, raw["coeff"][1], rtol=1e-5)
    batch = pad_collate([dataset[0], dataset[2]])
    assert batch["target"].shape == (2, RESOLUTION, RESOLUTION, 1) and "mask" not in batch


def test_point_view_full_and_subsampled(darcy_folder):
    full = DarcyDataset(darcy_folder, "train", view="points")
    sample = full[0]
    count = RESOLUTION**2
    assert sample["fx"].shape == (count, 1) and sample["embedding"].shape == (count, 2)
    assert sample["mask"].all() and torch.equal(sample["weights"], torch.ones(count))
    grid = DarcyDataset(darcy_folder, "train", view="grid")[0]
    assert torch.equal(sample["target"].reshape(RESOLUTION, RESOLUTION, 1), grid["target"])

    sub = DarcyDataset(darcy_folder, "train", view="points", num_points=50, seed=2)
    first = sub[0]
    assert first["fx"].shape == (50, 1)
    rows = {tuple(point) for point in first["embedding"].tolist()}
    assert len(rows) == 50, "no node drawn twice"
    sub.set_epoch(1)
    assert not torch.equal(first["embedding"], sub[0]["embedding"])
    loader = DataLoader(sub, batch_size=4, collate_fn=pad_collate)
    batch = next(iter(loader))
    assert batch["mask"].shape == (4, 50) and batch["sample_index"] == [0, 1, 2, 3]


def test_bad_arguments(darcy_folder):
    with pytest.raises(ValueError, match="view must be one of"):
        DarcyDataset(darcy_folder, view="mesh")
    with pytest.raises(ValueError, match="needs view='points'"):
        DarcyDataset(darcy_folder, view="grid", num_points=10)
    with pytest.raises(FileNotFoundError):
        DarcyDataset(darcy_folder / "missing")
