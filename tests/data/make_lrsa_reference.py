# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Regenerate lrsa_reference_default.pt, the forward non-regression snapshot of the default model.

Run only when a change to the model's numerics is intended, and say so in the commit:
    .venv/bin/python tests/data/make_lrsa_reference.py

lrsa_reference.pt is the same snapshot taken before the learned logit scale (its state
dict has no ``log_scale``); it stays as it is, since the hosts' checkpoints below and the
old-checkpoint tests are tied to it.

``--checkpoint`` instead writes the reference model as a ``.mdlus`` from whichever Modulus
host runs the script (PhysicsNeMo: in the 0.9 tar layout via save_legacy_checkpoint), so
each host's test suite can load the other's checkpoint:
    .venv/bin/python tests/data/make_lrsa_reference.py --checkpoint         # physicsnemo
    .venv-legacy/bin/python tests/data/make_lrsa_reference.py --checkpoint  # modulus 0.9
"""

import sys

from pathlib import Path

import torch

from modulus_lrsa.models import LRSA, save_legacy_checkpoint

ARGS = dict(functional_dim=2, out_dim=3, embedding_dim=2, n_layers=2, n_hidden=32, n_head=4,
            n_latents=8, mlp_ratio=2.0, n_frequencies=4)


def main() -> None:
    generator = torch.Generator().manual_seed(1234)
    torch.manual_seed(1234)
    model = LRSA(**ARGS).eval()
    fx = torch.randn(2, 64, 2, generator=generator)
    embedding = torch.rand(2, 64, 2, generator=generator)
    mask = torch.ones(2, 64, dtype=torch.bool)
    mask[1, 40:] = False
    weights = torch.rand(2, 64, generator=generator) + 0.1
    with torch.no_grad():
        out = model(fx, embedding, mask=mask, weights=weights)
    torch.save(
        dict(args=ARGS, state_dict=model.state_dict(), fx=fx, embedding=embedding, mask=mask,
             weights=weights, out=out),
        Path(__file__).with_name("lrsa_reference_default.pt"),
    )


def write_host_checkpoint() -> None:
    """Save the stored reference model as lrsa_<host>.mdlus using the running host."""
    host = LRSA.__mro__[1].__module__.split(".")[0]  # "physicsnemo" or "modulus"
    reference = torch.load(Path(__file__).with_name("lrsa_reference.pt"), weights_only=True)
    model = LRSA(**reference["args"])
    target = Path(__file__).with_name(f"lrsa_{host}.mdlus")
    if host == "physicsnemo":
        model.load_state_dict(reference["state_dict"])
        save_legacy_checkpoint(model, target)
    else:  # modulus 0.9 registers a device_buffer the stored state dict does not hold
        model.load_state_dict(reference["state_dict"], strict=False)
        model.save(str(target))


if __name__ == "__main__":
    write_host_checkpoint() if "--checkpoint" in sys.argv[1:] else main()
