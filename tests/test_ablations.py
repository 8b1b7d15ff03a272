# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Ablation variants of LRSA: what each one swaps, and that it still behaves like LRSA."""

import math

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from modulus_lrsa.models import LRSA
from modulus_lrsa.models.ablations import (
    LatentMLPBlock,
    LatentMLPLRSA,
    TiedLRSA,
    TiedLRSABlock,
    TiedReconstruction,
)
from modulus_lrsa.models.lrsa import MLP, LatentSelfAttention

ARGS = dict(functional_dim=2, out_dim=3, embedding_dim=2, n_layers=2, n_hidden=32, n_head=4, n_latents=8)
VARIANTS = [TiedLRSA, LatentMLPLRSA]


def _inputs(batch=2, n_points=60):
    return torch.randn(batch, n_points, 2), torch.rand(batch, n_points, 2)


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_swaps_only_its_module(variant):
    model = variant(**ARGS)
    block_class = TiedLRSABlock if variant is TiedLRSA else LatentMLPBlock
    assert len(model.blocks) == ARGS["n_layers"]
    assert all(type(block) is block_class for block in model.blocks)
    block = model.blocks[0]
    if variant is TiedLRSA:
        assert isinstance(block.reconstruct, TiedReconstruction)
        assert isinstance(block.latent_attn, LatentSelfAttention)
    else:
        assert isinstance(block.latent_attn, MLP) and block.latent_attn.fc1.out_features == 2 * ARGS["n_hidden"]
    # Same latent queries, compression and point FFN as LRSA.
    assert block.compress.latent_queries.shape == (4, 8, 8)


def test_tied_reconstruction_drops_separate_query_key_weights():
    dim = ARGS["n_hidden"]
    removed = sum(p.numel() for p in LRSA(**ARGS).parameters()) - sum(p.numel() for p in TiedLRSA(**ARGS).parameters())
    # Per block: Wq' and Wk' (weights and biases), the two qk-norm scales and the per-head
    # logit scale (the tied reconstruction uses the compression's).
    assert removed == ARGS["n_layers"] * (2 * (dim * dim + dim) + 2 * (dim // ARGS["n_head"]) + ARGS["n_head"])


def test_tied_reconstruction_is_softmax_over_latents_of_compression_scores():
    block = TiedLRSA(**ARGS).blocks[0]
    h = torch.randn(2, 60, ARGS["n_hidden"])
    hn = block.point_norm(h)
    keys, _ = block.compress.keys_values(hn)
    queries = block.compress.queries(2)
    scores = queries @ keys.transpose(-1, -2) / math.sqrt(queries.shape[-1])  # (B, h, M, N)
    latent_queries, values = block.process_latents(block.compress(hn, None))
    mixed = torch.einsum("bhmn,bhmd->bnhd", scores.softmax(dim=2), values).reshape(2, 60, -1)
    torch.testing.assert_close(block.reconstruct(block._point_keys(hn), (latent_queries, values)),
                               block.reconstruct.proj(mixed))


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_forward_shapes_grid_and_chunked(variant):
    fx, embedding = _inputs()
    model = variant(**ARGS).eval()
    out = model(fx, embedding)
    assert out.shape == (2, 60, 3) and torch.isfinite(out).all()
    torch.testing.assert_close(model.forward_chunked(fx, embedding, chunk_size=17), out, atol=1e-5, rtol=1e-5)
    grid = variant(**{**ARGS, "structured_shape": (10, 6)})
    assert grid(fx.reshape(2, 10, 6, 2), embedding.reshape(2, 10, 6, 2)).shape == (2, 10, 6, 3)


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_trains_and_reaches_every_parameter(variant):
    fx, embedding = _inputs()
    model = variant(**ARGS)
    model(fx, embedding).square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(model(fx, embedding).float()).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_selected_by_target_and_checkpoint_round_trip(variant, tmp_path):
    from physicsnemo.core.module import Module

    cfg = OmegaConf.create({"_target_": f"{variant.__module__}.{variant.__name__}", **ARGS})
    model = instantiate(cfg)
    assert type(model) is variant
    path = tmp_path / "model.mdlus"
    model.save(str(path))
    loaded = Module.from_checkpoint(str(path))
    assert type(loaded) is variant
    fx, embedding = _inputs()
    torch.testing.assert_close(loaded(fx, embedding), model(fx, embedding))


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_block_argument_reaches_the_variant_blocks(variant):
    """Ablations build their blocks through LRSA.block_class with LRSA's own keywords, so a
    non-default logit scale, width ratio, dropout, activation, norm or grid reaches every
    block (the old rebuild passed them positionally and dropped logit_scale: TiedLRSA with
    logit_scale=3 trained at 10)."""
    from modulus_lrsa.models.attention import LogitScale, RMSNorm

    args = dict(ARGS, logit_scale=3.0, mlp_ratio=3.0, dropout=0.25, act="silu", norm="rms",
                structured_shape=(6, 10), embedding_dim=2)
    model = variant(**args)
    for block in model.blocks:
        scales = [m for m in block.modules() if isinstance(m, LogitScale)]
        assert scales and all(torch.allclose(m.scale, torch.full_like(m.scale, 3.0)) for m in scales)
        assert isinstance(block.point_norm, RMSNorm) and isinstance(block.ffn_norm, RMSNorm)
        assert block.latent_ffn1.fc1.out_features == 3 * ARGS["n_hidden"]
        assert isinstance(block.latent_ffn1.act, torch.nn.SiLU) and block.latent_ffn1.drop.p == 0.25
        assert block.point_ffn.spatial_shape == (6, 10)
        assert block.compress.latent_queries.shape[1] == ARGS["n_latents"]
    # The recorded constructor arguments are LRSA's, so the .mdlus round-trips the variant.
    assert model._args["__args__"]["logit_scale"] == 3.0
