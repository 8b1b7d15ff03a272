# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Checkpoints move between PhysicsNeMo and the legacy Modulus 0.9 host."""

import tarfile
from pathlib import Path

import physicsnemo
import pytest
import torch

from modulus_lrsa.models import LRSA, save_legacy_checkpoint

DATA = Path(__file__).parent / "data"


def _reference_output(model):
    reference = torch.load(DATA / "lrsa_reference.pt", weights_only=True)
    with torch.no_grad():
        out = model.eval()(reference["fx"], reference["embedding"], mask=reference["mask"],
                           weights=reference["weights"])
    return out, reference["out"]


def test_loads_a_checkpoint_written_by_modulus_0_9():
    model = physicsnemo.Module.from_checkpoint(str(DATA / "lrsa_modulus.mdlus"))
    assert type(model) is LRSA
    out, expected = _reference_output(model)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_legacy_export_is_a_0_9_tar_and_reloads_here(make_lrsa, tmp_path):
    model = make_lrsa()
    path = save_legacy_checkpoint(model, tmp_path / "sub" / "lrsa.mdlus")
    with tarfile.open(path) as tar:
        assert sorted(tar.getnames()) == ["args.json", "metadata.json", "model.pt"]
    assert not list(path.parent.glob(".*.tmp")), "temporary file left behind"
    reloaded = physicsnemo.Module.from_checkpoint(str(path))
    fx, emb = torch.randn(1, 40, 2), torch.rand(1, 40, 2)
    torch.testing.assert_close(reloaded(fx, emb), model(fx, emb))


def test_legacy_export_rejects_bad_destination(make_lrsa, tmp_path):
    with pytest.raises(ValueError, match="must end in .mdlus"):
        save_legacy_checkpoint(make_lrsa(), tmp_path / "model.pt")
    with pytest.raises(TypeError, match="not a Modulus Module"):
        save_legacy_checkpoint(torch.nn.Linear(2, 2), tmp_path / "linear.mdlus")


def test_a_checkpoint_of_release_0_1_loads_and_gives_its_outputs():
    """lrsa_release_0_1.mdlus was saved by commit fe21d67 (checkpoint version 0.1.0, before the
    attention logit scale existed), with the outputs that code computed for stored inputs."""
    model = physicsnemo.Module.from_checkpoint(str(DATA / "lrsa_release_0_1.mdlus"))
    stored = torch.load(DATA / "lrsa_release_0_1_outputs.pt", weights_only=True)
    with torch.no_grad():
        out = model.eval()(stored["fx"], stored["embedding"], mask=stored["mask"], weights=stored["weights"])
    torch.testing.assert_close(out, stored["out"], atol=1e-6, rtol=1e-6)
