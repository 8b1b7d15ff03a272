# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Every constructor argument problem of LRSA (and its ablations) is one ValueError line
naming the argument and what it must be, raised before anything is built (issue 29).

Before, a wrong type or an out-of-range value got through to the layers: a TypeError from
``torch.empty`` or a comparison (``n_hidden=16.0``, ``n_layers="2"``, ``norm=["layer"]``), an
OverflowError (``mlp_ratio=inf``), or a model that built and was wrong (``mlp_ratio=0.01``:
FFNs without a hidden unit; ``n_frequencies=200``: infinite frequencies, NaN outputs;
``qk_gain=1000``: a logit scale of 2828 clamped silently to 100; ``structured_shape=(4.5, 4)``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from modulus_lrsa.models import LRSA
from modulus_lrsa.models.ablations import LatentMLPLRSA, TiedLRSA

BASE = dict(functional_dim=2, out_dim=1, embedding_dim=2, n_layers=1, n_hidden=16, n_head=2, n_latents=4)

BAD = [
    (dict(n_hidden=0), r"n_hidden must be >= 1, got 0"),
    (dict(n_head=0), r"n_head must be >= 1, got 0"),
    (dict(n_hidden=0, n_head=0), r"n_hidden must be >= 1"),
    (dict(n_hidden=16.0), r"n_hidden must be an integer, got 16.0 \(float\)"),
    (dict(n_head=2.0), r"n_head must be an integer"),
    (dict(n_layers="2"), r"n_layers must be an integer, got '2' \(str\)"),
    (dict(n_layers=True), r"n_layers must be an integer, got True \(bool\)"),
    (dict(n_latents=2.5), r"n_latents must be an integer"),
    (dict(n_latents=None, slice_num=0), r"slice_num must be >= 1, got 0"),
    (dict(n_latents=None, slice_num="a"), r"slice_num must be an integer"),
    (dict(functional_dim=None), r"functional_dim must be an integer, got None"),
    (dict(functional_dim=-1), r"functional_dim must be >= 0"),
    (dict(out_dim=1.5), r"out_dim must be an integer"),
    (dict(out_dim=0), r"out_dim must be >= 1"),
    (dict(embedding_dim=2.0), r"embedding_dim must be an integer"),
    (dict(n_frequencies=2.5), r"n_frequencies must be an integer"),
    (dict(n_frequencies=200), r"n_frequencies must be <= 127"),
    (dict(mlp_ratio=0.01), r"mlp_ratio must be > 0 and leave the FFNs at least one hidden unit.*got 0.01 at n_hidden=16"),
    (dict(mlp_ratio=0), r"mlp_ratio must be > 0"),
    (dict(mlp_ratio=float("inf")), r"mlp_ratio must be a finite number, got inf"),
    (dict(mlp_ratio="2"), r"mlp_ratio must be a finite number, got '2'"),
    (dict(dropout=float("nan")), r"dropout must be a finite number, got nan"),
    (dict(dropout=True), r"dropout must be a finite number, got True"),
    (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
    (dict(logit_scale="10"), r"logit_scale must be a finite number, got '10'"),
    (dict(logit_scale=0.5), r"logit_scale must be in \[1, 100\]"),
    (dict(qk_gain=float("inf")), r"qk_gain must be a finite number"),
    (dict(qk_gain=1000.0), r"qk_gain=1000 at head width 8 is logit_scale=2828, outside \[1, 100\]"),
    (dict(qk_gain=0.1), r"qk_gain=0.1 at head width 8 is logit_scale=0.2828, outside \[1, 100\]"),
    (dict(act=None), r"act must be one of \['gelu', 'relu', 'silu', 'tanh'\], got None"),
    (dict(norm=["layer"]), r"norm must be one of \['layer', 'rms'\], got \['layer'\]"),
    (dict(structured_shape=(4.5, 4)), r"structured_shape must be 2 or 3 positive integer sizes, got \(4.5, 4\)"),
    (dict(structured_shape="ab"), r"structured_shape must be 2 or 3 positive integer sizes, got 'ab'"),
    (dict(structured_shape=5), r"structured_shape must be 2 or 3 positive integer sizes, got 5"),
    (dict(structured_shape=(4, 0)), r"structured_shape must be 2 or 3 positive integer sizes"),
    (dict(time_input="yes"), r"time_input must be True or False, got 'yes'"),
    (dict(activation_checkpointing=1), r"activation_checkpointing must be True or False, got 1"),
    (dict(unified_pos="x"), r"unified_pos must be True or False, got 'x'"),
    (dict(use_te=1), r"use_te must be True or False, got 1"),
    (dict(plus=None), r"plus must be True or False, got None"),
]


@pytest.mark.parametrize("model_class", [LRSA, TiedLRSA, LatentMLPLRSA], ids=lambda c: c.__name__)
@pytest.mark.parametrize("overrides, message", BAD, ids=[repr(o) for o, _ in BAD])
def test_a_bad_constructor_argument_is_one_value_error_line_naming_it(model_class, overrides, message):
    with pytest.raises(ValueError, match=message) as refused:
        model_class(**{**BASE, **overrides})
    text = str(refused.value)
    assert text.startswith("LRSA: ") and "\n" not in text


@pytest.mark.parametrize(
    "overrides",
    [
        dict(n_hidden=np.int64(16), n_head=np.int32(2)),  # NumPy integers are integers
        dict(logit_scale=10, dropout=0, mlp_ratio=1),  # ints where floats are expected
        dict(structured_shape=[4, 4], functional_dim=1),
        dict(structured_shape=np.array([4, 4]), functional_dim=1),
        dict(structured_shape=OmegaConf.create([4, 4]), functional_dim=1),  # as Hydra passes it
        dict(n_frequencies=0),
        dict(mlp_ratio=1 / 16),  # one hidden unit
    ],
    ids=repr,
)
def test_accepted_argument_forms_still_build_and_run(overrides):
    model = LRSA(**{**BASE, **overrides}).eval()
    shape = model.structured_shape
    assert shape is None or shape == (4, 4) and all(type(n) is int for n in shape)
    points = 16 if shape is not None else 10
    out = model(torch.randn(2, points, BASE["functional_dim"] if shape is None else 1), embedding=torch.rand(2, points, 2))
    assert out.shape == (2, points, 1) and torch.isfinite(out).all()


def test_the_largest_accepted_frequency_count_keeps_the_features_finite():
    model = LRSA(**{**BASE, "n_frequencies": 127}).eval()
    assert torch.isfinite(model.fourier.frequencies).all()
