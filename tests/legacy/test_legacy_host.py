# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""LRSA in the legacy Modulus host (nvidia-modulus 0.9, ``import modulus``).

Run by ``make test-legacy`` in its own venv (0.9 pins numpy<1.25); the main suite does not
collect this folder.
"""

from pathlib import Path

import modulus
import torch
from modulus.registry import ModelRegistry

from modulus_lrsa.models import LRSA

DATA = Path(__file__).parents[1] / "data"


def _reference_inputs():
    reference = torch.load(DATA / "lrsa_reference.pt", weights_only=True)
    return reference, (reference["fx"], reference["embedding"])


def test_model_is_built_on_the_legacy_module():
    assert issubclass(LRSA, modulus.Module)
    assert "physicsnemo" not in LRSA.__mro__[1].__module__


def test_registry_finds_lrsa_by_name():
    registry = ModelRegistry()
    assert "LRSA" in registry.list_models()
    assert registry.factory("LRSA") is LRSA


def test_checkpoint_round_trip(tmp_path):
    model = LRSA(functional_dim=2, out_dim=3, embedding_dim=2, n_layers=2, n_hidden=32, n_head=4,
                 n_latents=8)
    path = tmp_path / "lrsa.mdlus"
    model.save(str(path))
    fx, embedding = torch.randn(2, 50, 2), torch.rand(2, 50, 2)
    loaded = modulus.Module.from_checkpoint(str(path))
    assert type(loaded) is LRSA
    torch.testing.assert_close(loaded(fx, embedding), model(fx, embedding))
    via_registry = ModelRegistry().factory("LRSA").from_checkpoint(str(path))
    torch.testing.assert_close(via_registry(fx, embedding), model(fx, embedding))


def test_loads_a_checkpoint_exported_from_physicsnemo():
    reference, (fx, embedding) = _reference_inputs()
    model = modulus.Module.from_checkpoint(str(DATA / "lrsa_physicsnemo.mdlus")).eval()
    with torch.no_grad():
        out = model(fx, embedding, mask=reference["mask"], weights=reference["weights"])
    torch.testing.assert_close(out, reference["out"], atol=1e-5, rtol=1e-5)
