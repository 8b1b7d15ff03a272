# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
r"""Ablation variants of LRSA from the paper, each a small subclass that swaps one module.

* :class:`TiedLRSA` -- reconstruction reuses the compression's point-latent scores
  (Transolver's slice/de-slice tying): point :math:`n` mixes the latents with
  :math:`\mathrm{softmax}_m(s_{mn})`, where :math:`s_{mn}` are the very scores whose
  softmax over :math:`n` built latent :math:`m`. Only the reconstruction values (and the
  output projection) keep their own weights; LRSA's separate :math:`W_q', W_k'` go away.
* :class:`LatentMLPLRSA` -- the latent self-attention is replaced by a per-token MLP, so
  the latents no longer exchange information inside a block.

Both take exactly LRSA's constructor arguments, so a Hydra model config selects them by
changing ``_target_`` only::

    lrsa-train model=lrsa model._target_=modulus_lrsa.models.ablations.TiedLRSA
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from modulus_lrsa.models.attention import attention, merge_heads, split_heads
from modulus_lrsa.models.blocks import MLP, LRSABlock
from modulus_lrsa.models.lrsa import LRSA

__all__ = ["LatentMLPLRSA", "LatentMLPBlock", "TiedLRSA", "TiedLRSABlock", "TiedReconstruction"]


class TiedReconstruction(nn.Module):
    """Points attend to the latents with the compression's own scores.

    The queries are the points' (normalized) compression keys and the keys are the
    (normalized) latent queries, so the scores equal the compression scores transposed
    and the softmax runs over the M latents. Values come from the processed latents.
    """

    def __init__(self, dim: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.to_v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def latent_values(self, sn: torch.Tensor) -> torch.Tensor:
        return split_heads(self.to_v(sn), self.n_head)

    def forward(
        self, point_keys: torch.Tensor, latent_kv: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        latent_queries, values = latent_kv
        return self.proj(merge_heads(attention(point_keys, latent_queries, values)))


class TiedLRSABlock(LRSABlock):
    """LRSA block whose reconstruction is tied to its compression (see :class:`TiedReconstruction`)."""

    def __init__(self, dim: int, n_head: int, **kwargs) -> None:
        super().__init__(dim=dim, n_head=n_head, **kwargs)
        self.reconstruct = TiedReconstruction(dim, n_head)

    def _point_keys(self, hn: torch.Tensor) -> torch.Tensor:
        """The compression's normalized point keys (the key half of its ``to_kv``)."""
        compress = self.compress
        dim = hn.shape[-1]
        keys = F.linear(hn, compress.to_kv.weight[:dim], compress.to_kv.bias[:dim])
        return compress.k_norm.split_heads(keys, compress.n_head)

    def process_latents(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent FFN -> self-attention -> FFN; returns (latent queries, latent values)."""
        s = s + self.latent_ffn1(self.latent_ffn1_norm(s))
        s = s + self.latent_attn(self.latent_attn_norm(s))
        s = s + self.latent_ffn2(self.latent_ffn2_norm(s))
        latent_queries = self.compress.queries(s.shape[0])
        return latent_queries, self.reconstruct.latent_values(self.latent_out_norm(s))

    def expand(
        self, h: torch.Tensor, hn: torch.Tensor, latent_kv: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        h = h + self.reconstruct(self._point_keys(hn), latent_kv)
        return h + self.point_ffn(self.ffn_norm(h))


class LatentMLPBlock(LRSABlock):
    """LRSA block with a per-token MLP where the latent self-attention was.

    The MLP's hidden width is twice the model width, so it holds about the
    :math:`4 d^2` weights of the attention it replaces.
    """

    def __init__(self, dim: int, act: str = "gelu", dropout: float = 0.0, **kwargs) -> None:
        super().__init__(dim=dim, act=act, dropout=dropout, **kwargs)
        self.latent_attn = MLP(dim, 2 * dim, dim, act, dropout)


class TiedLRSA(LRSA):
    """Ablation (a): LRSA with reconstruction tied to compression (:class:`TiedLRSABlock`)."""

    block_class = TiedLRSABlock


class LatentMLPLRSA(LRSA):
    """Ablation (b): LRSA with the latent self-attention replaced by an MLP (:class:`LatentMLPBlock`)."""

    block_class = LatentMLPBlock
