# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
r"""Attention numerics of LRSA: per-head RMS norm, learned logit scale, SDPA dispatch.

Everything the blocks of :mod:`modulus_lrsa.models.lrsa` call to attend lives here:

* :class:`RMSNorm` (statistics in at least float32) and its per-head form
  :meth:`RMSNorm.split_heads`, with a hand-written backward (:func:`head_rms_norm`);
* :class:`LogitScale`, the learned per-head scale of qk-normalised logits;
* :func:`split_heads` / :func:`merge_heads`, between (B, L, h d_h) and (B, h, L, d_h);
* :func:`attention` and :func:`qk_norm_attention`, the calls into
  :func:`torch.nn.functional.scaled_dot_product_attention`.

On a GPU every attention is the plain SDPA call. On a CPU attention runs in float32 on
heads padded to a multiple of 4, and eager bf16/fp16 attention goes through one fused
autograd function over PyTorch's CPU flash kernel (the only place in the package that
calls a private ``torch.ops.aten`` operator). :func:`fused_cpu_attention` is the one
switch for that path: off, the same numbers come from the float32 path under autograd
(tests compare the two; benchmarks measure both).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "LOGIT_SCALE_RANGE", "LogitScale", "RMSNorm", "attention", "fused_cpu_attention", "head_rms_norm",
    "is_tracing", "merge_heads", "norm_dtype", "qk_norm_attention", "split_heads",
]

#: Whether eager bf16/fp16 CPU attention takes the fused float32 kernel path (see :func:`fused_cpu_attention`).
_FUSED_CPU_ATTENTION = True


@contextmanager
def fused_cpu_attention(enabled: bool) -> Iterator[None]:
    """Turn the fused reduced-precision CPU attention on or off inside the block.

    Off, bf16/fp16 CPU attention runs the float32 path under autograd: the same values
    rounded once, with more memory kept for the backward. For tests and benchmarks that
    compare the two paths; the model's default is on.
    """
    global _FUSED_CPU_ATTENTION
    previous, _FUSED_CPU_ATTENTION = _FUSED_CPU_ATTENTION, enabled
    try:
        yield
    finally:
        _FUSED_CPU_ATTENTION = previous


def norm_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype RMS statistics are computed in: at least float32."""
    return torch.promote_types(x.dtype, torch.float32)


class _HeadRMSNorm(torch.autograd.Function):
    r"""``x / rms(x) * gain`` over the last dim, with a hand-written backward.

    Computes in at least float32 and returns ``x``'s dtype. Saves the normalised input,
    in ``x``'s dtype (bf16 under autocast: half the bytes of a float32 copy, for two
    N-sized norms per block), and the (..., 1) reciprocal RMS: a third of what autograd
    keeps for the same expression (input, norm, product, and the casts around them); the
    backward is :math:`g_x = r\,(g\,w - \hat x\,\overline{g\,w\,\hat x})`, in float32.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, gain: torch.Tensor, eps: float) -> torch.Tensor:
        exact = x.to(norm_dtype(x))
        mean_square = torch.linalg.vector_norm(exact, dim=-1, keepdim=True).square_().div_(x.shape[-1])
        rstd = torch.rsqrt(mean_square.add_(eps))
        normalised = exact.mul_(rstd) if exact is not x else x * rstd
        ctx.save_for_backward(normalised.to(x.dtype), rstd, gain)
        out = normalised * gain
        # Cast only when needed: torch 2.11's torch.compile routes the gradient of a
        # returned no-op .to() alias to the wrong output, silently (pytorch#180642).
        return out if out.dtype == x.dtype else out.to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        normalised, rstd, gain = ctx.saved_tensors
        grad_x, grad_gain = _rms_norm_backward(grad, normalised.to(rstd.dtype), rstd, gain, ctx.needs_input_grad[1])
        return grad_x.to(grad.dtype), grad_gain, None


def _rms_norm_backward(
    grad: torch.Tensor, normalised: torch.Tensor, rstd: torch.Tensor, gain: torch.Tensor, gain_grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""Gradients of ``normalised * gain`` (``normalised = x * rstd``) for ``x`` and ``gain``.

    :math:`g_x = r\,(g\,w - \hat x\,\overline{g\,w\,\hat x})`, in ``rstd``'s dtype; the
    gain's gradient is summed over every leading dim of ``grad`` it was broadcast over.
    """
    grad_gain = (grad * normalised).reshape(-1, *gain.shape).sum(0) if gain_grad else None
    scaled = grad.to(rstd.dtype) * gain
    projection = (scaled * normalised).mean(dim=-1, keepdim=True)
    return scaled.sub_(normalised * projection).mul_(rstd), grad_gain


def head_rms_norm(heads: torch.Tensor, gain: torch.Tensor, eps: float) -> torch.Tensor:
    """``heads / rms(heads) * gain`` over the last dim, saving a third of autograd's activations.

    Parameters
    ----------
    heads : torch.Tensor
        :math:`(..., d_h)`, any dtype; statistics in at least float32.
    gain : torch.Tensor
        Broadcastable to ``heads``' trailing dims, e.g. :math:`(d_h,)` or :math:`(h, d_h)`.
    eps : float
        Added to the mean square.

    Returns
    -------
    torch.Tensor
        Shaped and typed like ``heads``.
    """
    return _HeadRMSNorm.apply(heads, gain, eps)


class RMSNorm(nn.RMSNorm):
    """RMS norm computed in at least float32 and cast back, like LayerNorm under autocast.

    Keeps qk-norm statistics exact in bf16/fp16 and lets the fused kernel run
    (mixed input/weight dtypes fall back to a slow path); float64 stays float64.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.to(norm_dtype(x)), self.normalized_shape, self.weight, self.eps).to(x.dtype)

    def resolved_eps(self, dtype: torch.dtype = torch.float32) -> float:
        """``eps``, or the machine epsilon of the dtype the statistics are computed in."""
        return torch.finfo(dtype).eps if self.eps is None else self.eps

    def split_heads(
        self, x: torch.Tensor, n_head: int, logit_scale: LogitScale | None = None
    ) -> torch.Tensor:
        """Normalise each head of ``x`` (B, L, h * d_h) and return (B, h, L, d_h).

        The same function as :meth:`forward` on split heads (times ``logit_scale``'s
        factor when given), computed in the (B, L, h, d_h) layout the linear wrote:
        elementwise work on the transposed view of 10-wide heads runs several times
        slower on a CPU. One multiply applies gain and logit scale, and the backward is
        written by hand (:class:`_HeadRMSNorm`): it keeps a third of the activations
        autograd would for these N-sized tensors.
        """
        heads = x.unflatten(-1, (n_head, -1))
        dtype = norm_dtype(x)
        eps = self.resolved_eps(dtype)
        gain = self.weight if logit_scale is None else self.weight * logit_scale.factor()[:, None]
        return head_rms_norm(heads, gain.to(dtype), eps).transpose(1, 2)




#: Range of the learned attention logit scale: below 1 attention is near uniform; the
#: upper bound keeps fp16 logits (and their softmax) far from overflow.
LOGIT_SCALE_RANGE = (1.0, 100.0)


class LogitScale(nn.Module):
    r"""Learned per-head scale :math:`\tau_h` of qk-normalised attention logits.

    Applied to RMS-normalised queries before SDPA's :math:`1/\sqrt{d_h}`, it makes the
    logits :math:`\tau_h\, \hat q \cdot \hat k / d_h`, bounded by :math:`\tau_h` (times the
    learned norm gains) whatever the head width. Plain qk-norm bounds them by
    :math:`\sqrt{d_h}` instead, 3.2 at :math:`d_h = 10`, too flat for a latent to focus
    on a wall that holds 1% of the points. Learned as :math:`\log \tau_h`, clamped to
    :data:`LOGIT_SCALE_RANGE`.

    Checkpoints from before this block (no ``log_scale``) load with
    :math:`\tau_h = \sqrt{d_h}`, which reproduces their outputs exactly.
    """

    def __init__(self, n_head: int, head_dim: int, initial: float) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.initial = initial
        self.log_scale = nn.Parameter(torch.full((n_head,), math.log(initial)))

    def reset_parameters(self) -> None:
        nn.init.constant_(self.log_scale, math.log(self.initial))

    @property
    def scale(self) -> torch.Tensor:
        """:math:`\tau_h`, shape (h,)."""
        low, high = LOGIT_SCALE_RANGE
        return self.log_scale.clamp(math.log(low), math.log(high)).exp()

    def factor(self) -> torch.Tensor:
        r""":math:`\tau_h / \sqrt{d_h}`, shape (h,): SDPA's own :math:`1/\sqrt{d_h}` then leaves :math:`\tau_h`."""
        return self.scale / math.sqrt(self.head_dim)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        """Scale normalised queries (h, L, d_h) or (B, h, L, d_h), head on dim -3."""
        return q * self.factor().to(q.dtype).view(-1, 1, 1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = f"{prefix}log_scale"
        if key not in state_dict:
            # A checkpoint of plain qk-norm attention: tau = sqrt(d_h) is the same function.
            state_dict[key] = torch.full_like(self.log_scale.detach(), 0.5 * math.log(self.head_dim))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)



def is_tracing() -> bool:
    """True while torch.compile traces or a CUDA graph is captured (no host syncs then)."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return True
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, L, h * d_h) -> (B, h, L, d_h)."""
    batch, length, width = x.shape
    return x.view(batch, length, n_head, width // n_head).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, h, L, d_h) -> (B, L, h * d_h)."""
    batch, n_head, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, n_head * head_dim)


def _float32_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None, dropout_p: float = 0.0
) -> torch.Tensor:
    """SDPA in float32 (float64 stays float64), heads zero-padded to a multiple of 4 and cut back.

    Padding changes neither logits nor outputs (the scale stays 1/sqrt(d_h)); the CPU flash
    kernel's forward + backward at d_h = 10 takes 1.5x as long as at 12, and padding to 16
    is no faster while keeping a third more activations.
    """
    head_dim = q.shape[-1]
    q, k, v = (t.to(norm_dtype(t)) for t in (q, k, v))
    if head_dim % 4:
        q, k, v = (F.pad(t, (0, -head_dim % 4)) for t in (q, k, v))
    if attn_mask is not None and attn_mask.is_floating_point():
        attn_mask = attn_mask.to(q.dtype)
    with torch.autocast("cpu", enabled=False):
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, scale=head_dim**-0.5
        )
    return out[..., :head_dim]


_CPU_FLASH = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default
_CPU_FLASH_BACKWARD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward.default


def _head_rstd(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Float32 reciprocal RMS of (B, L, h, d_h) heads over d_h, (B, L, h, 1), read in one pass."""
    mean_square = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=torch.float32).square_()
    return mean_square.div_(x.shape[-1]).add_(eps).rsqrt_()


def _padded_float32_heads(
    x: torch.Tensor, rstd: torch.Tensor | None = None, gain: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, L, h, d_h) heads in any layout -> (B, h, L, d_p) float32, contiguous, zero-padded
    to a multiple of 4 (the CPU kernel's input layout), and normalised (``x * rstd * gain``)
    on the way when ``rstd`` is given: one write per element, no intermediate copies."""
    batch, length, n_head, head_dim = x.shape
    width = head_dim + (-head_dim % 4)
    allocate = torch.zeros if width != head_dim else torch.empty
    heads = allocate(batch, n_head, length, width, dtype=torch.float32, device=x.device)
    target = heads[..., :head_dim].transpose(1, 2)
    if rstd is None:
        target.copy_(x)
    else:
        torch.mul(x, rstd, out=target).mul_(gain)
    return heads


class _ReducedPrecisionCPUAttention(torch.autograd.Function):
    r"""bf16/fp16 attention on a CPU, in float32, with the qk RMS norm folded in.

    Takes (B, L, h, d_h) heads in whatever layout the projections left them, and optional
    per-head gains: a query or key with a gain is RMS-normalised over d_h and multiplied by
    it first. Computes in float32 on heads padded to a multiple of 4 (PyTorch's bf16 CPU
    kernel takes about twice as long at these head widths) and returns contiguous
    (B, L_q, h, d_h) heads in the reduced dtype.

    It saves only its inputs, views of the projections that autograd keeps anyway, and
    the (B, L, h, 1) reciprocal RMS: no normalised, cast or padded copies of the N-sized
    heads, which cuts a bf16 training step's peak memory by a fifth (64k points). The
    backward recomputes the float32 attention rather than using a rounded output: the
    softmax gradient needs rowsum(dO * O), and with O rounded to bf16 the gradients of
    near-uniform attentions (at initialisation, for example) were off by up to 10x.
    """

    @staticmethod
    def forward(ctx, q, k, v, q_gain, k_gain, attn_mask, q_eps: float, k_eps: float):
        with torch.autocast("cpu", enabled=False):
            q_rstd = None if q_gain is None else _head_rstd(q, q_eps)
            k_rstd = None if k_gain is None else _head_rstd(k, k_eps)
            inputs = (q, k, v, q_gain, k_gain, attn_mask, q_rstd, k_rstd)
            ctx.save_for_backward(*inputs)
            _, out, _, _ = _ReducedPrecisionCPUAttention._attend(*inputs)
            reduced = next(t.dtype for t in (q, k, v) if t.dtype in (torch.bfloat16, torch.float16))
            out = out[..., : q.shape[-1]].transpose(1, 2)
            return out.to(reduced, memory_format=torch.contiguous_format)

    @staticmethod
    def _attend(q, k, v, q_gain, k_gain, attn_mask, q_rstd, k_rstd):
        """Float32 padded heads, the kernel's output and log-sum-exp, and the float32 mask."""
        heads = (_padded_float32_heads(q, q_rstd, q_gain), _padded_float32_heads(k, k_rstd, k_gain),
                 _padded_float32_heads(v))
        if attn_mask is not None and attn_mask.is_floating_point():
            attn_mask = attn_mask.float()
        out, logsumexp = _CPU_FLASH(*heads, attn_mask=attn_mask, scale=q.shape[-1] ** -0.5)
        return heads, out, logsumexp, attn_mask

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        q, k, v, q_gain, k_gain, _, q_rstd, k_rstd = ctx.saved_tensors
        head_dim = q.shape[-1]
        with torch.autocast("cpu", enabled=False):
            heads, out, logsumexp, attn_mask = _ReducedPrecisionCPUAttention._attend(*ctx.saved_tensors)
            head_grads = _CPU_FLASH_BACKWARD(
                _padded_float32_heads(grad), *heads, out, logsumexp, 0.0, False,
                attn_mask=attn_mask, scale=head_dim**-0.5,
            )
            input_grads, gain_grads = [], []
            for index, (x, gain, rstd, head_grad) in enumerate(
                zip((q, k, v), (q_gain, k_gain, None), (q_rstd, k_rstd, None), head_grads)
            ):
                head_grad = head_grad[..., :head_dim].transpose(1, 2)  # back to (B, L, h, d_h)
                if gain is None:
                    input_grads.append(head_grad.to(x.dtype))
                    continue
                grad_x, grad_gain = _rms_norm_backward(head_grad, x * rstd, rstd, gain, ctx.needs_input_grad[3 + index])
                input_grads.append(grad_x.to(x.dtype))
                gain_grads.append(grad_gain)
        gain_grads = [gain_grads.pop(0) if gain is not None else None for gain in (q_gain, k_gain)]
        return *input_grads, *gain_grads, None, None, None


def _reduced_precision_cpu_path(q, k, v, attn_mask, dropout_p: float) -> bool:
    """Whether :class:`_ReducedPrecisionCPUAttention` runs: eager bf16/fp16 attention on a CPU.

    Dropout (a recomputed backward would need the same mask), a mask that needs a gradient,
    and torch.compile's traces get the float32 attention under autograd instead: traced,
    inductor fuses the casts and padding into the kernels around it and picks what to
    save (the compiled bf16 training step took 0.68x the time it did with the bf16 kernel,
    16k points, this project's CPU).
    """
    return (
        _FUSED_CPU_ATTENTION
        and q.device.type == "cpu"
        and any(t.dtype in (torch.bfloat16, torch.float16) for t in (q, k, v))
        and dropout_p == 0.0
        and not is_tracing()
        and not (attn_mask is not None and attn_mask.requires_grad)
    )


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """:func:`~torch.nn.functional.scaled_dot_product_attention` over (B, h, L, d_h) heads.

    GPU heads get the plain call: its kernels pad on their own and run bf16 natively. On
    a CPU, attention runs in float32 on heads padded to a multiple of 4
    (:func:`_float32_attention`), and bf16/fp16 heads (any of q, k, v: the others are cast
    to it) come back in that dtype, eagerly through :class:`_ReducedPrecisionCPUAttention`.
    """
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
    reduced = [t.dtype for t in (q, k, v) if t.dtype in (torch.bfloat16, torch.float16)]
    if not reduced:
        return _float32_attention(q, k, v, attn_mask, dropout_p)
    # Mixed inputs (float32 latent queries, bf16 point keys under autocast) meet in the
    # reduced dtype, as autocast's own SDPA casts them: float32 autograd would keep
    # float32 copies of the N-sized keys and values.
    q, k, v = (t.to(reduced[0]) for t in (q, k, v))
    if _reduced_precision_cpu_path(q, k, v, attn_mask, dropout_p):
        heads = (t.transpose(1, 2) for t in (q, k, v))
        return _ReducedPrecisionCPUAttention.apply(*heads, None, None, attn_mask, 0.0, 0.0).transpose(1, 2)
    return _float32_attention(q, k, v, attn_mask, dropout_p).to(q.dtype)


def qk_norm_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    n_head: int,
    q_norm: RMSNorm,
    k_norm: RMSNorm,
    logit_scale: LogitScale,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """Attention of per-head RMS-normalised queries (times the logit scale) and keys.

    Parameters
    ----------
    q, k, v : torch.Tensor
        Projections :math:`(B, L, h d_h)`, as the linears wrote them (heads not split).
    n_head : int
        Heads :math:`h`.
    q_norm, k_norm : RMSNorm
        Per-head norms of queries and keys; ``logit_scale`` multiplies the queries.
    attn_mask : torch.Tensor | None
        Additive float mask broadcastable to :math:`(B, h, L_q, L_k)`.

    Returns
    -------
    torch.Tensor
        :math:`(B, L_q, h d_h)`.

    Eager bf16/fp16 on a CPU runs norm and attention in one function
    (:class:`_ReducedPrecisionCPUAttention`) that keeps no normalised copies; otherwise
    the heads are normalised (:meth:`RMSNorm.split_heads`) and go through :func:`attention`.
    """
    if _reduced_precision_cpu_path(q, k, v, attn_mask, dropout_p):
        q_gain = q_norm.weight * logit_scale.factor()[:, None]
        heads = (t.unflatten(-1, (n_head, -1)) for t in (q, k, v))
        out = _ReducedPrecisionCPUAttention.apply(
            *heads, q_gain, k_norm.weight, attn_mask, q_norm.resolved_eps(), k_norm.resolved_eps()
        )
        return out.flatten(-2)
    out = attention(
        q_norm.split_heads(q, n_head, logit_scale), k_norm.split_heads(k, n_head), split_heads(v, n_head),
        attn_mask=attn_mask, dropout_p=dropout_p,
    )
    return merge_heads(out)

