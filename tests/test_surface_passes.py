# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""A wall tessellated finer than the training walls is predicted in passes, each holding the
training cases' share of wall faces beside the volume points (the model pools over its points,
so that share moves every prediction)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from modulus_lrsa.descriptor import DescriptorError, ModelDescriptor
from modulus_lrsa.inference.common import RunOptions
from modulus_lrsa.inference.mesh import run_in_surface_passes
from modulus_lrsa.inference.new_geometry import wall_passes

DOMAIN = {"min": [0.0, 0.0, 0.0], "max": [1.0, 1.0, 1.0], "median_volume_points": 20000, "median_surface_points": 4000}


def test_a_wall_like_the_training_walls_is_one_pass_and_a_finer_one_is_split_to_their_share():
    assert wall_passes(4000, 20000, DOMAIN, Path("body.stl")) == 1
    assert wall_passes(5900, 20000, DOMAIN, Path("body.stl")) == 1
    assert wall_passes(400_000, 20000, DOMAIN, Path("body.stl")) == 100
    # Fewer volume points drawn (--volume-points): the share holds, so fewer faces a pass.
    assert wall_passes(40_000, 10000, DOMAIN, Path("body.stl")) == 20
    assert wall_passes(0, 20000, DOMAIN, Path("body.stl")) == 1


def test_a_model_that_predates_the_recorded_wall_count_gets_one_pass_and_a_warning_when_the_wall_outnumbers(caplog):
    old = {key: value for key, value in DOMAIN.items() if key != "median_surface_points"}
    with caplog.at_level(logging.WARNING):
        assert wall_passes(10_000, 20000, old, Path("body.stl")) == 1
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        assert wall_passes(50_000, 20000, old, Path("body.stl")) == 1
    assert "body.stl: 50000 wall faces beside 20000 volume points" in caplog.text


class _Features:
    """The feature path's contract as run_in_surface_passes reads it: sample() of chosen wall rows."""

    uses_volume = True

    def sample(self, arrays, case_id, volume_rows=None, surface_rows=None):
        surface = arrays.surface_positions if surface_rows is None else arrays.surface_positions[surface_rows]
        positions = np.concatenate([arrays.volume_positions, surface]).astype(np.float32)
        is_surface = np.r_[np.zeros(len(arrays.volume_positions)), np.ones(len(surface))].astype(np.float32)
        embedding = np.concatenate([positions, is_surface[:, None]], axis=1)
        count = len(positions)
        return {"fx": torch.zeros(count, 0), "embedding": torch.from_numpy(embedding), "mask": torch.ones(count, dtype=torch.bool),
                "case_id": case_id}


class _PointwiseAndShare(torch.nn.Module):
    """Channel 0-2: each point's own position (pointwise); channel 3: the wall's share of the points given."""

    def forward(self, fx, embedding):
        share = embedding[..., 3:].mean(dim=1, keepdim=True).expand(-1, embedding.shape[1], -1)
        return torch.cat([embedding[..., :3], share], dim=-1)


def test_every_face_is_predicted_once_in_its_own_place_and_each_pass_sees_the_training_share():
    rng = np.random.default_rng(3)
    arrays = SimpleNamespace(volume_positions=rng.random((200, 3)), surface_positions=rng.random((1000, 3)))
    output = run_in_surface_passes(_PointwiseAndShare(), _Features(), arrays, "case", 10, RunOptions())
    assert output.shape == (1, 1200, 4)
    expected = np.concatenate([arrays.volume_positions, arrays.surface_positions])
    np.testing.assert_allclose(output[0, :, :3].numpy(), expected, rtol=0, atol=1e-6)
    # One pass at once would give the wall 1000 / 1200 of the points; each of 10 passes 100 / 300.
    assert output[0, 200:, 3].numpy() == pytest.approx(100 / 300, abs=0.01)
    assert output[0, :200, 3].numpy() == pytest.approx(100 / 300, abs=0.01)  # the mean over the passes
    again = run_in_surface_passes(_PointwiseAndShare(), _Features(), arrays, "case", 10, RunOptions())
    assert torch.equal(output, again)  # a fixed draw: reruns agree


def test_a_recorded_wall_count_is_checked_like_the_volume_count():
    payload = json.loads((Path(__file__).parent / "data" / "descriptor_v1" / "mesh.data.json").read_text())
    domain = payload["cache_index"]["training_domain"]
    ModelDescriptor.from_dict(payload)  # written before the count was recorded: still loads
    domain["median_surface_points"] = 12
    assert ModelDescriptor.from_dict(payload).cache_index.training_domain["median_surface_points"] == 12
    domain["median_surface_points"] = -3
    with pytest.raises(DescriptorError, match="median_surface_points is -3"):
        ModelDescriptor.from_dict(payload, "model.data.json")
