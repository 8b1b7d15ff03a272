# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The typed contracts of the datapipes (issue 30): CaseArrays, CacheIndex, the Darcy inputs.

Stored files keep their format: an index read and written through :class:`CacheIndex`
is the same JSON text, key for key and in order, and a cache entry read through
:class:`CaseArrays` holds the same arrays under the same names.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from synthetic_cfd_cases import cylinder_dataset

from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.datapipes import MeshCache, MeshCacheConfig, build_cache
from modulus_lrsa.datapipes.features import PART_ARRAYS, CaseArrays
from modulus_lrsa.datapipes.index import CacheIndex
from modulus_lrsa.errors import MeshDataError
from modulus_lrsa.inference.darcy import DarcyOptions, predict_darcy
from modulus_lrsa.models import LRSA
from modulus_lrsa.training.data import build_training_data
from modulus_lrsa.training.train import CONFIG_DIR

FIXTURE = Path(__file__).parent / "data" / "cache_v1"
CONFIG = MeshCacheConfig(volume_fields=["U[0,1]", "p", "nut"], surface_fields=["p"], conditions=["U", "aoa_deg"])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("contracts")
    return build_cache(cylinder_dataset(root / "cases", n_cases=3, n_test=1), root / "cache", CONFIG)


def test_the_stored_index_reads_and_writes_back_to_the_same_json_text():
    text = (FIXTURE / "index.json").read_text()
    index = CacheIndex.from_dict(json.loads(text))
    assert json.dumps(index.to_dict(), indent=2) + "\n" == text
    assert index.dimension == 2 and index.target_channels == ["U[0]", "U[1]", "p", "nut"]


def test_a_built_index_is_the_one_typed_contract_of_the_cache(built):
    text = (built.cache_dir / "index.json").read_text()
    opened = MeshCache.open(built.cache_dir)
    assert isinstance(opened.index, CacheIndex) and opened.index == built.index
    assert json.dumps(opened.index.to_dict(), indent=2) + "\n" == text
    # A model descriptor carries the layout without the case list, and reads back with none.
    layout = opened.index.to_dict(cases=False)
    assert "cases" not in layout and "skipped" not in layout
    assert CacheIndex.from_dict(layout).cases == [] and CacheIndex.from_dict(layout).normalization == opened.index.normalization


@pytest.mark.parametrize("change", ["missing", "unknown"])
def test_an_index_with_a_missing_or_unknown_key_is_one_line_naming_it(built, change):
    payload = built.index.to_dict()
    if change == "missing":
        del payload["target_channels"]
    else:
        payload["surprise"] = 1
    with pytest.raises(MeshDataError) as caught:
        CacheIndex.from_dict(payload, "model.data.json (cache_index)")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("model.data.json (cache_index): ")
    assert ("'target_channels'" if change == "missing" else "'surprise'") in message


def test_a_stored_entry_reads_as_case_arrays_with_the_same_arrays_in_the_same_order(built):
    for entry in built.cases():
        with np.load(built.cache_dir / "cases" / entry["file"]) as stored:
            arrays = CaseArrays.from_dict(built.load_case(entry))
            assert list(arrays.to_dict()) == stored.files
            for key in stored.files:
                np.testing.assert_array_equal(getattr(arrays, key), stored[key])
            layout = CaseArrays.layout(entry["num_volume_points"], entry["num_surface_points"], entry["dimension"],
                                       len(entry["volume_channels"]), len(entry["surface_channels"]),
                                       len(entry["conditions"]))
            assert {key: (stored[key].shape, stored[key].dtype) for key in stored.files} == layout


def test_from_parts_casts_to_the_stored_dtypes_and_fills_absent_parts():
    volume = {"positions": np.ones((4, 3)), "targets": np.ones((4, 2)), "weights": np.ones(4),
              "distance": np.zeros(4), "direction": np.zeros((4, 3))}
    arrays = CaseArrays.from_parts(3, [30.0, 4.0], volume=volume, surface_channels=1)
    assert arrays.volume_positions.dtype == np.float32 and arrays.conditions.dtype == np.float64
    assert arrays.surface_positions.shape == (0, 3) and arrays.surface_targets.shape == (0, 1)
    assert arrays.surface_weights.shape == (0,) and arrays.surface_normals.shape == (0, 3)
    assert set(arrays.part("volume")) == set(PART_ARRAYS["volume"])
    np.testing.assert_array_equal(arrays.part("volume")["targets"], np.ones((4, 2), np.float32))


def test_case_arrays_without_an_array_are_refused_naming_it():
    arrays = CaseArrays.from_parts(2, []).to_dict()
    del arrays["surface_normals"]
    with pytest.raises(ValueError, match=r"missing \['surface_normals'\]"):
        CaseArrays.from_dict(arrays)


def test_darcy_points_prediction_takes_the_inputs_the_dataset_serves(tmp_path):
    generate_darcy(tmp_path / "data", n_train=4, n_test=2, solve_resolution=9, resolution=9, seed=3)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        config = compose(config_name="config", overrides=[f"data.path={tmp_path / 'data'}", "data.view=points"])
    data = build_training_data(config.data, seed=0)
    torch.manual_seed(1)
    model = LRSA(functional_dim=1, out_dim=1, embedding_dim=2, n_layers=1, n_hidden=16, n_head=2, n_latents=4,
                 n_frequencies=2).eval()
    quantities = predict_darcy(model, data.model_descriptor, tmp_path / "data", tmp_path / "out", DarcyOptions(samples=[1]))
    sample = data.validation[1]
    with torch.no_grad():
        output = model(sample["fx"][None], sample["embedding"][None])[0]
    expected = data.target_normalizer.denormalize(output.double()).numpy()[:, 0]
    truth = sample["target"].double()
    truth = data.target_normalizer.denormalize(truth).numpy()[:, 0]
    assert quantities["samples"][0]["rel_l2"] == pytest.approx(
        np.linalg.norm(expected - truth) / np.linalg.norm(truth), rel=1e-5
    )
