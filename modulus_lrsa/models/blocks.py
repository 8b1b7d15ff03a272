# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
r"""The building blocks of :class:`~modulus_lrsa.models.lrsa.LRSA`: one LRSA block and its parts.

* :class:`LRSABlock` -- compress the points into latents, mix the latents, reconstruct at
  the points, point FFN; :class:`LatentCompression`, :class:`LatentSelfAttention`,
  :class:`PointReconstruction` and :class:`StructuredPointFFN` are its parts.
* :class:`MLP`, :class:`FourierFeatures` and :class:`TimeEmbedding` -- the lift, head and
  input embeddings.
* :func:`linear` -- a linear layer through a hand-written autograd function that
  dispatches fewer operators (and several linears of one input as one GEMM) under
  :func:`~modulus_lrsa.models.attention.fused_ops`.

The attention numerics they call (norms, logit scale, the attention call) live in
:mod:`~modulus_lrsa.models.attention`; the model, its metadata and its constructor checks
in :mod:`~modulus_lrsa.models.lrsa`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from .attention import (
    LogitScale,
    RMSNorm,
    fused_ops_active,
    merge_heads,
    qk_norm_attention,
    split_heads,
)

__all__ = [
    "ACTIVATIONS", "MAX_FREQUENCIES", "NORMS", "FourierFeatures", "LRSABlock", "LatentCompression", "LatentSelfAttention", "MLP",
    "PointReconstruction", "StructuredPointFFN", "TimeEmbedding", "linear",
]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
}


NORMS: dict[str, type[nn.Module]] = {"layer": nn.LayerNorm, "rms": RMSNorm}


class _Linear(torch.autograd.Function):
    r"""``x @ W.T + b`` over the last dim of ``x``, ``W`` and ``b`` the row-wise concatenation
    of one or more linears' weights and biases, with a hand-written backward.

    Values and gradients are those of :func:`torch.nn.functional.linear` (one ``addmm``
    forward; ``mm``, ``mm`` and a sum backward), under autocast too: its inputs are cast
    to the autocast dtype as autocast casts a linear's. What it saves is operators:
    autograd's view, transpose and reshape nodes around a 3-D linear cost 16 dispatched
    operators per layer and step, this 8 on (rows, features) inputs. Several linears of
    the same input run as one GEMM (the points' reconstruction queries and compression
    keys and values).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, n_layers: int, *parameters: torch.Tensor) -> torch.Tensor:
        weights, biases = parameters[:n_layers], parameters[n_layers:]
        weight = weights[0] if n_layers == 1 else torch.cat(weights)
        bias = biases[0] if n_layers == 1 else torch.cat(biases)
        device = x.device.type
        if torch.is_autocast_enabled(device):
            dtype = torch.get_autocast_dtype(device)
            x, weight, bias = (t.to(dtype) if t.is_floating_point() and t.dtype != torch.float64 else t
                               for t in (x, weight, bias))
        rows = x if x.dim() == 2 else x.reshape(-1, x.shape[-1])
        ctx.save_for_backward(rows, weight)
        ctx.input_shape = x.shape
        ctx.sizes = [w.shape[0] for w in weights]
        ctx.bias_dtype = biases[0].dtype
        out = torch.addmm(bias, rows, weight.t())
        return out if x.dim() == 2 else out.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        rows, weight = ctx.saved_tensors
        with torch.autocast(grad.device.type, enabled=False):
            if grad.dim() != 2:
                grad = grad.reshape(-1, grad.shape[-1])
            grad_x = None
            if ctx.needs_input_grad[0]:
                grad_x = grad.mm(weight)
                grad_x = grad_x if len(ctx.input_shape) == 2 else grad_x.view(ctx.input_shape)
            # The bias gradient is summed straight into the bias's dtype (float32 under
            # autocast), so no cast follows it: fewer roundings, an operator less.
            grad_weight, grad_bias = grad.t().mm(rows), grad.sum(0, dtype=ctx.bias_dtype)
        if len(ctx.sizes) > 1:
            return grad_x, None, *grad_weight.split(ctx.sizes), *grad_bias.split(ctx.sizes)
        return grad_x, None, grad_weight, grad_bias


def _fusable(*layers: nn.Linear) -> bool:
    """Whether :class:`_Linear` may stand in for these linears: eager under ``fused_ops``,
    each with a bias and no forward hooks of its own (the function does not call them)."""
    return fused_ops_active() and all(
        layer.bias is not None and not layer._forward_hooks and not layer._forward_pre_hooks for layer in layers
    )


def linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer(x)``, through :class:`_Linear` where :func:`_fusable`."""
    return _Linear.apply(x, 1, layer.weight, layer.bias) if _fusable(layer) else layer(x)


def _heads(projections: torch.Tensor, parts: int, n_head: int, batch: int | None = None) -> tuple[torch.Tensor, ...]:
    """Split (B, L, parts * h * d_h) projections, or their (B L, ...) rows of ``batch``
    samples, into ``parts`` (B, L, h, d_h) heads: one view and one unbind."""
    leading = projections.shape[0] if batch is None else batch
    return projections.view(leading, -1, parts, n_head, projections.shape[-1] // (parts * n_head)).unbind(2)


class MLP(nn.Module):
    """Two-layer perceptron: Linear -> activation -> dropout -> Linear."""

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        act: str = "gelu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.act = ACTIVATIONS[act]()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(self.drop(self.act(linear(x, self.fc1))), self.fc2)


class LatentSelfAttention(nn.Module):
    """Multi-head self-attention among the M latent tokens, with per-head qk RMS norm."""

    def __init__(self, dim: int, n_head: int, logit_scale: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_head = n_head
        self.dropout = dropout
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = RMSNorm(dim // n_head)
        self.k_norm = RMSNorm(dim // n_head)
        self.logit_scale = LogitScale(n_head, dim // n_head, logit_scale)
        self.proj = nn.Linear(dim, dim)

    def forward(self, s: torch.Tensor, batch: int | None = None) -> torch.Tensor:
        """Mix the latents ``s`` (B, M, d), or their (B M, d) rows of ``batch`` samples (rows come back)."""
        q, k, v = _heads(linear(s, self.to_qkv), 3, self.n_head, batch)
        dropout = self.dropout if self.training else 0.0
        out = qk_norm_attention(
            q, k, v, self.n_head, self.q_norm, self.k_norm, self.logit_scale, dropout_p=dropout, rows=batch is not None
        )
        return linear(out, self.proj)


class LatentCompression(nn.Module):
    r"""Compress N point features into M latent tokens.

    Learned latent queries :math:`P \in \mathbb{R}^{h \times M \times d_h}`, shared by all
    samples, attend over the points; the softmax runs over the N points. An additive
    ``bias`` of shape :math:`(B, 1, 1, N)` carries the padding mask (``-inf``) and the
    log quadrature weights.
    """

    def __init__(self, dim: int, n_head: int, n_latents: int, logit_scale: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.latent_queries = nn.Parameter(torch.empty(n_head, n_latents, dim // n_head))
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.q_norm = RMSNorm(dim // n_head)
        self.k_norm = RMSNorm(dim // n_head)
        self.logit_scale = LogitScale(n_head, dim // n_head, logit_scale)
        self.proj = nn.Linear(dim, dim)

    def query_projections(self, batch: int) -> torch.Tensor:
        """The latent queries as (B, M, h * d_h) projections, before their norm."""
        return self.latent_queries.transpose(0, 1).flatten(1).expand(batch, -1, -1)

    def query_heads(self, batch: int) -> torch.Tensor:
        """The latent queries as (B, M, h, d_h) heads, before their norm (views only).

        Expanded before the transpose, so the backward's batch sum leaves a gradient laid
        out like the parameter, which autograd accumulates without a copy.
        """
        return self.latent_queries.expand(batch, -1, -1, -1).transpose(1, 2)

    def queries(self, batch: int) -> torch.Tensor:
        """Normalized, logit-scaled latent query heads (B, h, M, d_h)."""
        return self.q_norm.split_heads(self.query_projections(batch), self.n_head, self.logit_scale)

    def keys_values(self, hn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalized point key heads and value heads, each (B, h, N, d_h)."""
        k, v = self.to_kv(hn).chunk(2, dim=-1)
        return self.k_norm.split_heads(k, self.n_head), split_heads(v, self.n_head)

    def forward(self, hn: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        k, v = _heads(linear(hn, self.to_kv), 2, self.n_head)
        return self.attend(k, v, bias)

    def attend(
        self, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None, rows: bool = False
    ) -> torch.Tensor:
        """Latent tokens (B, M, d), or their (B M, d) rows, from the points' key and value
        projections as (B, N, h, d_h) heads."""
        q = self.query_heads(k.shape[0])
        if bias is not None:
            bias = bias.to(q.dtype)
        return linear(
            qk_norm_attention(q, k, v, self.n_head, self.q_norm, self.k_norm, self.logit_scale, attn_mask=bias,
                              rows=rows),
            self.proj,
        )

    def partial_softmax(
        self, hn: torch.Tensor, bias: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Softmax statistics of one chunk of points, for an exact online merge.

        Returns the running maximum :math:`m` (B, h, M, 1), the sum of
        :math:`\exp(s - m)` (B, h, M, 1) and the unnormalized weighted values (B, h, M, d_h).
        """
        scores, v = self.scores(hn, bias)
        row_max = scores.amax(dim=-1, keepdim=True)
        # A chunk holding only padded points has max -inf; 0 keeps exp() finite (all zeros).
        row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
        probs = torch.exp(scores - row_max)
        return row_max, probs.sum(dim=-1, keepdim=True), probs @ v

    def attention_weights(self, hn: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """Each latent's softmax weights over the N points, (B, h, M, N), for inspection."""
        return torch.softmax(self.scores(hn, bias)[0], dim=-1)

    def scores(self, hn: torch.Tensor, bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention logits (B, h, M, N), bias included, and the values (B, h, N, d_h)."""
        k, v = self.keys_values(hn)
        q = self.queries(hn.shape[0])
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        return (scores if bias is None else scores + bias.to(scores.dtype)), v

    def finish(self, weighted_values: torch.Tensor, normalizer: torch.Tensor) -> torch.Tensor:
        """Project merged chunk statistics to latent tokens (B, M, d)."""
        return linear(merge_heads(weighted_values / normalizer), self.proj)


class PointReconstruction(nn.Module):
    """Every point queries the latent tokens (its own weights, not tied to compression)."""

    def __init__(self, dim: int, n_head: int, logit_scale: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.q_norm = RMSNorm(dim // n_head)
        self.k_norm = RMSNorm(dim // n_head)
        self.logit_scale = LogitScale(n_head, dim // n_head, logit_scale)
        self.proj = nn.Linear(dim, dim)

    def latent_keys_values(self, sn: torch.Tensor, batch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The latents' key and value projections as (B, M, h, d_h) heads, computed once per
        block, from normalized latents (B, M, d) or their (B M, d) rows of ``batch`` samples."""
        k, v = _heads(linear(sn, self.to_kv), 2, self.n_head, batch)
        return k, v

    def forward(self, hn: torch.Tensor, latent_kv: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.attend(linear(hn, self.to_q), latent_kv)

    def attend(
        self, q: torch.Tensor, latent_kv: tuple[torch.Tensor, torch.Tensor], rows: bool = False
    ) -> torch.Tensor:
        """The update at every point (B, N, d), or its (B N, d) rows, from the points' query
        projections (B, N, d) or heads (B, N, h, d_h)."""
        k, v = latent_kv
        return linear(
            qk_norm_attention(q, k, v, self.n_head, self.q_norm, self.k_norm, self.logit_scale, rows=rows), self.proj
        )


class StructuredPointFFN(nn.Module):
    """Point FFN on structured grids: dense 3x3 (3x3x3) convolution, LayerNorm, MLP."""

    def __init__(
        self, dim: int, hidden_dim: int, spatial_shape: tuple[int, ...], act: str, dropout: float
    ) -> None:
        super().__init__()
        self.spatial_shape = tuple(spatial_shape)
        conv = nn.Conv2d if len(self.spatial_shape) == 2 else nn.Conv3d
        self.conv = conv(dim, dim, kernel_size=3, padding=1)
        self.norm = nn.LayerNorm(dim)
        self.mlp = MLP(dim, hidden_dim, dim, act, dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Point features (B, N, d), or their (B N, d) rows (rows come back)."""
        rows = h.dim() == 2
        if rows:
            h = h.view(-1, math.prod(self.spatial_shape), h.shape[-1])
        batch, n_points, dim = h.shape
        grid = h.transpose(1, 2).reshape(batch, dim, *self.spatial_shape)
        h = self.conv(grid).reshape(batch, dim, n_points).transpose(1, 2)
        out = self.mlp(self.norm(h))
        return out.reshape(-1, dim) if rows else out


class LRSABlock(nn.Module):
    r"""One LRSA block (pre-norm residuals throughout).

    .. code-block:: text

        Hn = Norm(H)
        S  = Compress(Hn)                       softmax over the N points   (B, M, d)
        S  = S + FFN_1(Norm(S));  S = S + SelfAttn(Norm(S));  S = S + FFN_2(Norm(S))
        H  = H + Reconstruct(q=Hn, kv=Norm(S))  softmax over the M latents  (B, N, d)
        H  = H + PointFFN(Norm(H))
    """

    def __init__(
        self,
        dim: int,
        n_head: int,
        n_latents: int,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        act: str = "gelu",
        norm: str = "layer",
        structured_shape: tuple[int, ...] | None = None,
        logit_scale: float = 10.0,
    ) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        norm_layer = NORMS[norm]
        self.point_norm = norm_layer(dim)
        self.compress = LatentCompression(dim, n_head, n_latents, logit_scale)
        self.latent_ffn1_norm = norm_layer(dim)
        self.latent_ffn1 = MLP(dim, hidden, dim, act, dropout)
        self.latent_attn_norm = norm_layer(dim)
        self.latent_attn = LatentSelfAttention(dim, n_head, logit_scale, dropout)
        self.latent_ffn2_norm = norm_layer(dim)
        self.latent_ffn2 = MLP(dim, hidden, dim, act, dropout)
        self.latent_out_norm = norm_layer(dim)
        self.reconstruct = PointReconstruction(dim, n_head, logit_scale)
        self.ffn_norm = norm_layer(dim)
        self.point_ffn = (
            MLP(dim, hidden, dim, act, dropout)
            if structured_shape is None
            else StructuredPointFFN(dim, hidden, structured_shape, act, dropout)
        )

    def process_latents(
        self, s: torch.Tensor, batch: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent FFN -> self-attention -> FFN; returns the reconstruction keys/values.

        ``s`` is (B, M, d), or its (B M, d) rows of ``batch`` samples (the fused forward).
        """
        s = s + self.latent_ffn1(self.latent_ffn1_norm(s))
        sn = self.latent_attn_norm(s)
        rows = batch is not None and isinstance(self.latent_attn, LatentSelfAttention)
        s = s + (self.latent_attn(sn, batch) if rows else self.latent_attn(sn))
        s = s + self.latent_ffn2(self.latent_ffn2_norm(s))
        return self.reconstruct.latent_keys_values(self.latent_out_norm(s), batch)

    def expand(
        self, h: torch.Tensor, hn: torch.Tensor, latent_kv: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        """Reconstruct at the points and apply the point FFN (pointwise unless structured)."""
        return self._update_points(h, self.reconstruct(hn, latent_kv))

    def _update_points(self, h: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        h = h + reconstruction
        return h + self.point_ffn(self.ffn_norm(h))

    def fused(self) -> bool:
        """Whether :meth:`forward` takes the fused path (:meth:`forward_rows`): eager under
        ``fused_ops``, with this class's compression, reconstruction, :meth:`process_latents`
        and :meth:`expand` (an ablation that swaps any of them keeps the plain path)."""
        return (
            type(self).expand is LRSABlock.expand
            and type(self).process_latents is LRSABlock.process_latents
            and type(self.compress) is LatentCompression
            and type(self.reconstruct) is PointReconstruction
            and _fusable(self.reconstruct.to_q, self.compress.to_kv)
        )

    def forward(self, h: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        if self.fused():
            return self._fused_forward(h, bias)
        hn = self.point_norm(h)
        latent_kv = self.process_latents(self.compress(hn, bias))
        return self.expand(h, hn, latent_kv)

    def _fused_forward(self, h: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """:meth:`forward` with fewer operators (:meth:`forward_rows` on the (B N, d) rows of ``h``)."""
        batch, n_points, dim = h.shape
        return self.forward_rows(h.reshape(batch * n_points, dim), bias, batch).view(batch, n_points, dim)

    def forward_rows(self, h: torch.Tensor, bias: torch.Tensor | None, batch: int) -> torch.Tensor:
        """The fused :meth:`forward` of the (B N, d) rows of ``batch`` samples, rows back
        (the model passes rows from block to block: no reshapes between them). Features stay
        (B N, d) and (B M, d) rows, whose linears need no reshapes, and one Linear(d, 3d)
        gives the reconstruction queries and the compression keys and values, which read the
        same normalized points. Only where :meth:`fused` holds."""
        hn = self.point_norm(h)
        to_q, to_kv = self.reconstruct.to_q, self.compress.to_kv
        q, k, v = _heads(_Linear.apply(hn, 2, to_q.weight, to_kv.weight, to_q.bias, to_kv.bias),
                         3, self.compress.n_head, batch)
        latent_kv = self.process_latents(self.compress.attend(k, v, bias, rows=True), batch)
        return self._update_points(h, self.reconstruct.attend(q, latent_kv, rows=True))


#: The most sinusoidal frequencies per embedding channel: the frequency :math:`2^k \pi`
#: of :class:`FourierFeatures` is infinite in float32 beyond.
MAX_FREQUENCIES = 127


class FourierFeatures(nn.Module):
    r"""Sinusoidal features of coordinates: :math:`[x, \sin(2^k \pi x), \cos(2^k \pi x)]`.

    Frequencies :math:`2^k \pi` for :math:`k = 0 .. F-1` suit coordinates scaled to about
    unit range (the datapipes normalize them).
    """

    def __init__(self, n_frequencies: int) -> None:
        super().__init__()
        self.register_buffer(
            "frequencies", math.pi * 2.0 ** torch.arange(n_frequencies), persistent=False
        )

    def out_dim(self, in_dim: int) -> int:
        return in_dim * (1 + 2 * self.frequencies.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = (x.unsqueeze(-1) * self.frequencies.to(x.dtype)).flatten(-2)
        return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=-1)


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of a per-sample scalar time, followed by an MLP."""

    def __init__(self, dim: int, max_period: float = 10000.0) -> None:
        super().__init__()
        half = dim // 2
        self.register_buffer(
            "frequencies",
            torch.exp(-math.log(max_period) * torch.arange(half) / half),
            persistent=False,
        )
        self.mlp = nn.Sequential(nn.Linear(2 * half, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, time: torch.Tensor) -> torch.Tensor:
        angles = time.reshape(-1, 1).float() * self.frequencies
        return self.mlp(torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1))

