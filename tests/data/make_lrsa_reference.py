"""Regenerate lrsa_reference.pt, the forward non-regression snapshot.

Run only when a change to the model's numerics is intended, and say so in the commit:
    .venv/bin/python tests/data/make_lrsa_reference.py
"""

from pathlib import Path

import torch

from modulus_lrsa.models import LRSA

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
        Path(__file__).with_name("lrsa_reference.pt"),
    )


if __name__ == "__main__":
    main()
