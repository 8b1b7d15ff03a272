# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Shared pytest configuration: deterministic seeds and small model factories."""

import os

import pytest
import torch

# Keep the suite predictable on 2-core CI machines.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield


@pytest.fixture
def make_lrsa():
    """Build a small LRSA; keyword arguments override the defaults."""
    from modulus_lrsa.models import LRSA

    def factory(**overrides):
        args = dict(
            functional_dim=2,
            out_dim=3,
            embedding_dim=2,
            n_layers=2,
            n_hidden=32,
            n_head=4,
            n_latents=8,
            mlp_ratio=2.0,
        )
        args.update(overrides)
        return LRSA(**args)

    return factory
