# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
r"""Attention numerics of LRSA: per-head RMS norm, learned logit scale, SDPA dispatch.

Everything the blocks of :mod:`modulus_lrsa.models.lrsa` call to attend lives here:

* :class:`RMSNorm` (statistics in at least float32) and its per-head form
  :meth:`RMSNorm.split_heads`, with a hand-written backward (:func:`head_rms_norm`);
* :class:`LogitScale`, the learned per-head scale of qk-normalized logits;
* :func:`split_heads` / :func:`merge_heads`, between (B, L, h d_h) and (B, h, L, d_h);
* :func:`attention` and :func:`qk_norm_attention`, the calls into
  :func:`torch.nn.functional.scaled_dot_product_attention`.

On a GPU every attention is the plain SDPA call. On a CPU attention runs in float32 on
heads padded to a multiple of 4, and eager attention goes through one fused autograd
function over PyTorch's CPU flash kernel (the only place in the package that calls a
private ``torch.ops.aten`` operator), with the qk norm and logit scale folded in.
:func:`fused_cpu_attention` is the switch for its bf16/fp16 use: off, the same numbers
come from the float32 path under autograd (tests compare the two; benchmarks measure both).

:func:`fused_ops` is the switch for every eager fusion that only cuts operators (the
float32 CPU attention function, the logit scale folded into the per-head norm, and in
:mod:`~modulus_lrsa.models.lrsa` the hand-written linears and one-GEMM projections):
each dispatched operator is a kernel launch or a view, and a small GPU step is bound by
launching them. Off, every layer runs its plain modules under autograd, the path the
tests compare the fused one against; traced code (torch.compile, export, CUDA-graph
capture) always takes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "LOGIT_SCALE_RANGE", "LogitScale", "RMSNorm", "attention", "fused_cpu_attention", "fused_ops",
    "fused_ops_active", "head_rms_norm", "is_tracing", "merge_heads", "kernel_heads", "norm_dtype", "qk_norm_attention",
    "split_heads",
]

#: Whether eager bf16/fp16 CPU attention takes the fused float32 kernel path (see :func:`fused_cpu_attention`).
_FUSED_CPU_ATTENTION = True
#: Whether eager layers take their operator-saving fused paths (see :func:`fused_ops`).
_FUSED_OPS = True


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


@contextmanager
def fused_ops(enabled: bool) -> Iterator[None]:
    """Turn the operator-saving eager fusions on or off inside the block.

    On (the default), eager layers run hand-written autograd functions that give the
    plain modules' values and gradients with fewer dispatched operators; off, the plain
    modules run under autograd. For tests and benchmarks that compare the two paths.
    """
    global _FUSED_OPS
    previous, _FUSED_OPS = _FUSED_OPS, enabled
    try:
        yield
    finally:
        _FUSED_OPS = previous


def fused_ops_active() -> bool:
    """Whether this call takes the fused paths: :func:`fused_ops` on and not tracing."""
    return _FUSED_OPS and not is_tracing()


def norm_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype RMS statistics are computed in: at least float32.

    Decided in Python: ``torch.promote_types`` is an operator of its own, dispatched on
    every call (7 per attention).
    """
    return torch.float64 if x.dtype == torch.float64 else torch.float32


class _HeadRMSNorm(torch.autograd.Function):
    r"""``x / rms(x) * gain`` over the last dim, with a hand-written backward.

    Computes in at least float32 and returns ``x``'s dtype. Saves the normalized input,
    in ``x``'s dtype (bf16 under autocast: half the bytes of a float32 copy, for two
    N-sized norms per block), and the (..., 1) reciprocal RMS: a third of what autograd
    keeps for the same expression (input, norm, product, and the casts around them); the
    backward is :math:`g_x = r\,(g\,w - \hat x\,\overline{g\,w\,\hat x})`, in float32.

    With ``log_scale`` (h,) the gain is ``gain * factor[:, None]``, the logit scale's
    :meth:`LogitScale.factor`, formed here and differentiated by hand: under autograd
    the clamp, exp and broadcast products around it cost a dozen operators per attention.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, gain: torch.Tensor, log_scale: torch.Tensor | None, eps: float) -> torch.Tensor:
        dtype = norm_dtype(x)
        weight, factor, in_range = gain, None, None
        if log_scale is not None:
            factor, in_range = _logit_factor(log_scale, x.shape[-1])
            gain = weight * factor[:, None]
        gain = gain.to(dtype)
        exact = x.to(dtype)
        mean_square = torch.linalg.vector_norm(exact, dim=-1, keepdim=True).square_().div_(x.shape[-1])
        rstd = torch.rsqrt(mean_square.add_(eps))
        normalized = exact.mul_(rstd) if exact is not x else x * rstd
        ctx.save_for_backward(normalized.to(x.dtype), rstd, gain, None if factor is None else weight, factor, in_range)
        out = normalized * gain
        # Cast only when needed: torch 2.11's torch.compile routes the gradient of a
        # returned no-op .to() alias to the wrong output, silently (pytorch#180642).
        return out if out.dtype == x.dtype else out.to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        normalized, rstd, gain, weight, factor, in_range = ctx.saved_tensors
        gain_grad = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        grad_x, grad_gain = _rms_norm_backward(grad, normalized.to(rstd.dtype), rstd, gain, gain_grad)
        grad_weight, grad_log_scale = grad_gain, None
        if factor is not None and gain_grad:
            grad_weight, grad_log_scale = _logit_gain_backward(grad_gain, weight, factor, in_range)
        return grad_x.to(grad.dtype), grad_weight, grad_log_scale, None


def _rms_norm_backward(
    grad: torch.Tensor, normalized: torch.Tensor, rstd: torch.Tensor, gain: torch.Tensor, gain_grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""Gradients of ``normalized * gain`` (``normalized = x * rstd``) for ``x`` and ``gain``.

    :math:`g_x = r\,(g\,w - \hat x\,\overline{g\,w\,\hat x})`, in ``rstd``'s dtype; the
    gain's gradient is summed over every leading dim of ``grad`` it was broadcast over
    (one reduction over those dims: a reshape of transposed heads would copy them first).
    The mean's 1/d_h rides on one ``addcmul_`` (an operator less than product and subtraction).
    """
    leading = tuple(range(grad.dim() - gain.dim()))
    grad_gain = (grad * normalized).sum(leading) if gain_grad else None
    scaled = grad.to(rstd.dtype) * gain
    projection = (scaled * normalized).sum(dim=-1, keepdim=True)
    return scaled.addcmul_(normalized, projection, value=-1.0 / normalized.shape[-1]).mul_(rstd), grad_gain


def _logit_factor(log_scale: torch.Tensor, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:meth:`LogitScale.factor` of ``log_scale`` (the same operations), and where its clamp
    passes gradients (inside the range, bounds included, as autograd's clamp does)."""
    low, high = LOGIT_SCALE_RANGE
    clamped = log_scale.clamp(math.log(low), math.log(high))
    return clamped.exp() / math.sqrt(head_dim), clamped == log_scale


def _logit_gain_backward(
    grad_gain: torch.Tensor, weight: torch.Tensor, factor: torch.Tensor, in_range: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of ``weight * factor[:, None]`` (weight (d_h,), factor (h,)) for the weight
    and the log scale, from the gradient of that (h, d_h) gain: each product-and-sum is
    one matrix-vector product."""
    weight, factor = weight.to(grad_gain.dtype), factor.to(grad_gain.dtype)
    grad_weight = torch.mv(grad_gain.t(), factor)
    return grad_weight, torch.mv(grad_gain, weight).mul_(factor).mul_(in_range)


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
    return _HeadRMSNorm.apply(heads, gain, None, eps)


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
        """Normalize each head of ``x`` (B, L, h * d_h), or of heads (B, L, h, d_h), and return (B, h, L, d_h).

        The same function as :meth:`forward` on split heads (times ``logit_scale``'s
        factor when given), computed in the (B, L, h, d_h) layout the linear wrote:
        elementwise work on the transposed view of 10-wide heads runs several times
        slower on a CPU. One multiply applies gain and logit scale, and the backward is
        written by hand (:class:`_HeadRMSNorm`): it keeps a third of the activations
        autograd would for these N-sized tensors. Under :func:`fused_ops` the logit
        scale's factor is formed and differentiated inside that function too.
        """
        heads = x if x.dim() == 4 else x.unflatten(-1, (n_head, -1))
        dtype = norm_dtype(x)
        eps = self.resolved_eps(dtype)
        if logit_scale is not None and fused_ops_active():
            return _HeadRMSNorm.apply(heads, self.weight, logit_scale.log_scale, eps).transpose(1, 2)
        gain = self.weight if logit_scale is None else self.weight * logit_scale.factor()[:, None]
        return head_rms_norm(heads, gain.to(dtype), eps).transpose(1, 2)


#: Range of the learned attention logit scale: below 1 attention is near uniform; the
#: upper bound keeps fp16 logits (and their softmax) far from overflow.
LOGIT_SCALE_RANGE = (1.0, 100.0)


class LogitScale(nn.Module):
    r"""Learned per-head scale :math:`\tau_h` of qk-normalized attention logits.

    Applied to RMS-normalized queries before SDPA's :math:`1/\sqrt{d_h}`, it makes the
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
        """Scale normalized queries (h, L, d_h) or (B, h, L, d_h), head on dim -3."""
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
#: Cached 0-dim float32 tensors of :func:`_norm_offset` (a new tensor per call is an operator).
_NORM_OFFSETS: dict[tuple[float, torch.device], torch.Tensor] = {}


def _norm_offset(eps: float, head_dim: int, device: torch.device) -> torch.Tensor:
    r""":math:`\sqrt{\epsilon\, d_h}` as a 0-dim float32 tensor on ``device``, cached: with it
    :math:`\operatorname{hypot}(\lVert x \rVert, \sqrt{\epsilon d_h}) = \sqrt{d_h}\,\mathrm{rms}_\epsilon(x)`
    takes one operator."""
    key = (math.sqrt(eps * head_dim), device)
    if key not in _NORM_OFFSETS:
        _NORM_OFFSETS[key] = torch.tensor(key[0], dtype=torch.float32, device=device)
    return _NORM_OFFSETS[key]


def kernel_heads(
    x: torch.Tensor, gain: torch.Tensor | None = None, eps: float = 0.0, norm: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    r"""(B, L, h, d_h) heads in any layout -> the CPU kernel's float32 (B, h, L, d_p) input,
    zero-padded to a multiple of 4 (a transposed view: the kernel takes any strides), and
    normalized on the way when a ``gain`` is given: ``u * gain`` with the unit heads
    :math:`u = x / \sqrt{\lVert x \rVert^2 + \epsilon d_h}`, which are the RMS-normalized
    heads over :math:`\sqrt{d_h}` (the caller's kernel scale makes up for it).

    Returns the kernel heads, and with a gain the float32 unit heads (B, L, h, d_h) and
    their norms (B, L, h, 1) (``None`` without one); a given ``norm`` is used instead of
    computing it (the same numbers). Float32 values take one operator (the pad) and a
    view; the norm adds four (norm, offset, division, gain: the RMS statistics by hand
    took five, and two for the product), reading bf16/fp16 heads in float32 with no cast.
    """
    exact = x if x.dtype == torch.float32 or gain is not None else x.float()
    unit = None
    if gain is not None:
        if norm is None:
            length = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=torch.float32)
            norm = torch.hypot(length, _norm_offset(eps, x.shape[-1], x.device))
        unit = x / norm
        exact = unit * gain
    pad = -x.shape[-1] % 4
    return (F.pad(exact, (0, pad)) if pad else exact).transpose(1, 2), unit, norm


def _unit_norm_backward(
    grad: torch.Tensor, unit: torch.Tensor, norm: torch.Tensor, gain: torch.Tensor, gain_grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""Gradients of ``unit * gain`` (``unit = x / norm``, :func:`kernel_heads`) for ``x`` and ``gain``:
    :math:`g_x = (s - u\,(s \cdot u)) / n` with :math:`s = g\,w`; the gain's gradient is summed
    over every leading dim of ``grad`` it was broadcast over, in one reduction."""
    leading = tuple(range(grad.dim() - gain.dim()))
    grad_gain = (grad * unit).sum(leading) if gain_grad else None
    scaled = grad * gain
    projection = (scaled * unit).sum(dim=-1, keepdim=True)
    return scaled.addcmul_(unit, projection, value=-1.0).div_(norm), grad_gain


class _CPUAttention(torch.autograd.Function):
    r"""Attention on a CPU in float32, with the qk RMS norm and logit scale folded in.

    Takes (B, L, h, d_h) heads in whatever layout the projections left them, and optional
    per-head gains: a query or key with a gain is RMS-normalized over d_h and multiplied by
    it first; ``q_log_scale`` (h,) multiplies the query gain by the logit scale's factor
    (:func:`_logit_factor`). Computes in float32 on heads padded to a multiple of 4
    (:func:`kernel_heads`) and returns contiguous (B, L_q, h, d_h) heads in the inputs'
    reduced dtype, or float32. It works in the (B, L, h, d_h) layout the projections
    wrote, which is also the memory layout of the kernel's output and gradients, so every
    transpose is a view.

    bf16/fp16 inputs (PyTorch's bf16 CPU kernel takes about twice as long at these head
    widths): it saves only its inputs, views of the projections that autograd keeps
    anyway, and the (B, L, h, 1) reciprocal RMS: no normalized, cast or padded copies of
    the N-sized heads, which cuts a bf16 training step's peak memory by a fifth (64k
    points). The backward recomputes the float32 attention rather than using a rounded
    output: the softmax gradient needs rowsum(dO * O), and with O rounded to bf16 the
    gradients of near-uniform attentions (at initialization, for example) were off by up
    to 10x.

    float32 inputs (under :func:`fused_ops`): it saves the padded heads, output and
    log-sum-exp, what autograd keeps for the plain path (:func:`_float32_attention` after
    :meth:`RMSNorm.split_heads`), and the normalized queries and keys in place of the
    projections: the same numbers with fewer operators (no pads and slices with their
    backward, no autograd around the norm, no recomputed norm).
    """

    @staticmethod
    def forward(ctx, q, k, v, q_weight, q_log_scale, k_weight, attn_mask, q_eps: float, k_eps: float):
        with torch.autocast("cpu", enabled=False):
            head_dim = q.shape[-1]
            q_gain, factor, in_range = q_weight, None, None
            if q_log_scale is not None:
                factor, in_range = _logit_factor(q_log_scale, head_dim)
                q_gain = q_weight * factor[:, None]
            (q_head, q_unit, q_norm), (k_head, k_unit, k_norm) = (
                kernel_heads(q, q_gain, q_eps), kernel_heads(k, k_weight, k_eps))
            heads = (q_head, k_head, kernel_heads(v)[0])
            ctx.scale = _kernel_scale(head_dim, q_gain is not None, k_weight is not None)
            out, logsumexp = _CPU_FLASH(*heads, attn_mask=_float32_mask(attn_mask), scale=ctx.scale)
            reduced = next((t.dtype for t in (q, k, v) if t.dtype in (torch.bfloat16, torch.float16)), None)
            ctx.recompute, ctx.dtypes = reduced is not None, (q.dtype, k.dtype, v.dtype)
            gains = (q_gain, k_weight, q_weight, factor, in_range)
            if ctx.recompute:
                # The mask as given: a float32 copy of a bf16 one is twice its bytes.
                ctx.save_for_backward(q, k, v, q_norm, k_norm, attn_mask, *gains)
            else:
                ctx.save_for_backward(q_unit, k_unit, q_norm, k_norm, _float32_mask(attn_mask), *gains,
                                      *heads, out, logsumexp)
            out = out.transpose(1, 2)[..., :head_dim]
            return out.contiguous() if reduced is None else out.to(reduced, memory_format=torch.contiguous_format)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        head_dim = grad.shape[-1]
        with torch.autocast("cpu", enabled=False):
            if ctx.recompute:
                q, k, v, q_norm, k_norm, attn_mask, q_gain, k_gain, q_weight, factor, in_range = ctx.saved_tensors
                (q_head, q_unit, _), (k_head, k_unit, _) = (
                    kernel_heads(q, q_gain, norm=q_norm), kernel_heads(k, k_gain, norm=k_norm))
                heads = (q_head, k_head, kernel_heads(v)[0])
                attn_mask = _float32_mask(attn_mask)
                out, logsumexp = _CPU_FLASH(*heads, attn_mask=attn_mask, scale=ctx.scale)
            else:
                (q_unit, k_unit, q_norm, k_norm, attn_mask, q_gain, k_gain, q_weight, factor, in_range,
                 *heads, out, logsumexp) = ctx.saved_tensors
            head_grads = _CPU_FLASH_BACKWARD(
                kernel_heads(grad)[0], *heads, out, logsumexp, 0.0, False, attn_mask=attn_mask, scale=ctx.scale,
            )
            # Back to (B, L, h, d_h): views of the kernel's gradients, which it writes in that layout.
            q_grad, k_grad, v_grad = (head_grad.transpose(1, 2)[..., :head_dim] for head_grad in head_grads)
            q_gain_grad = k_gain_grad = None
            if q_gain is not None:
                q_grad, q_gain_grad = _unit_norm_backward(
                    q_grad, q_unit, q_norm, q_gain, ctx.needs_input_grad[3] or ctx.needs_input_grad[4])
            if k_gain is not None:
                k_grad, k_gain_grad = _unit_norm_backward(k_grad, k_unit, k_norm, k_gain, ctx.needs_input_grad[5])
        q_grads = (q_gain_grad, None)
        if factor is not None and q_gain_grad is not None:
            q_grads = _logit_gain_backward(q_gain_grad, q_weight, factor, in_range)
        input_grads = (grad.to(dtype) for grad, dtype in zip((q_grad, k_grad, v_grad), ctx.dtypes))
        return *input_grads, *q_grads, k_gain_grad, None, None, None


def _kernel_scale(head_dim: int, q_normalized: bool, k_normalized: bool) -> float:
    r"""The kernel's logit scale for :class:`_CPUAttention`'s heads: SDPA's :math:`1/\sqrt{d_h}`,
    times :math:`\sqrt{d_h}` for each of queries and keys that :func:`kernel_heads` left as
    unit heads (the RMS-normalized heads over :math:`\sqrt{d_h}`)."""
    return math.sqrt(head_dim) ** (int(q_normalized) + int(k_normalized) - 1)


def _float32_mask(attn_mask: torch.Tensor | None) -> torch.Tensor | None:
    """A floating-point mask in float32, the kernel's dtype (a bool mask as given)."""
    if attn_mask is not None and attn_mask.is_floating_point() and attn_mask.dtype != torch.float32:
        return attn_mask.float()
    return attn_mask


def _nonempty(q: torch.Tensor, k: torch.Tensor) -> bool:
    """Whether queries and keys both have points: the CPU flash kernel dies of a
    floating-point exception on none (a domain-parallel rank's empty shard)."""
    return q.numel() > 0 and k.numel() > 0


def _reduced_precision_cpu_path(q, k, v, attn_mask, dropout_p: float) -> bool:
    """Whether :class:`_CPUAttention` runs on bf16/fp16: eager attention of such heads on a CPU.

    Dropout (a recomputed backward would need the same mask), a mask that needs a gradient,
    and torch.compile's traces get the float32 attention under autograd instead: traced,
    inductor fuses the casts and padding into the kernels around it and picks what to
    save (the compiled bf16 training step took 0.68x the time it did with the bf16 kernel,
    16k points, this project's CPU).
    """
    return (
        _FUSED_CPU_ATTENTION
        and q.device.type == "cpu"
        and _nonempty(q, k)
        and any(t.dtype in (torch.bfloat16, torch.float16) for t in (q, k, v))
        and dropout_p == 0.0
        and not is_tracing()
        and not (attn_mask is not None and attn_mask.requires_grad)
    )


def _float32_cpu_path(q, k, v, attn_mask, dropout_p: float) -> bool:
    """Whether :class:`_CPUAttention` runs on float32: eager float32 heads on a CPU under
    :func:`fused_ops`, without dropout or a mask that needs a gradient."""
    return (
        q.device.type == "cpu"
        and _nonempty(q, k)
        and all(t.dtype == torch.float32 for t in (q, k, v))
        and dropout_p == 0.0
        and fused_ops_active()
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
    to it) come back in that dtype, eagerly through :class:`_CPUAttention`.
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
        return _CPUAttention.apply(*heads, None, None, None, attn_mask, 0.0, 0.0).transpose(1, 2)
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
    rows: bool = False,
) -> torch.Tensor:
    """Attention of per-head RMS-normalized queries (times the logit scale) and keys.

    Parameters
    ----------
    q, k, v : torch.Tensor
        Projections :math:`(B, L, h d_h)`, as the linears wrote them (heads not split),
        or their heads :math:`(B, L, h, d_h)` in any layout (views of one projection).
    n_head : int
        Heads :math:`h`.
    q_norm, k_norm : RMSNorm
        Per-head norms of queries and keys; ``logit_scale`` multiplies the queries.
    attn_mask : torch.Tensor | None
        Additive float mask broadcastable to :math:`(B, h, L_q, L_k)`.
    rows : bool
        Return the :math:`(B L_q, h d_h)` rows of the result instead (one view less
        for a caller that keeps its features as rows).

    Returns
    -------
    torch.Tensor
        :math:`(B, L_q, h d_h)`, or :math:`(B L_q, h d_h)` rows.

    Eager on a CPU (bf16/fp16, or float32 under :func:`fused_ops`), norm and attention run
    in one function (:class:`_CPUAttention`) that keeps no normalized copies; otherwise
    the heads are normalized (:meth:`RMSNorm.split_heads`) and go through :func:`attention`.
    """
    heads = [t if t.dim() == 4 else t.unflatten(-1, (n_head, -1)) for t in (q, k, v)]
    if _reduced_precision_cpu_path(q, k, v, attn_mask, dropout_p) or _float32_cpu_path(q, k, v, attn_mask, dropout_p):
        q_weight, log_scale = q_norm.weight, logit_scale.log_scale
        if not fused_ops_active():
            q_weight, log_scale = q_norm.weight * logit_scale.factor()[:, None], None
        out = _CPUAttention.apply(
            *heads, q_weight, log_scale, k_norm.weight, attn_mask, q_norm.resolved_eps(), k_norm.resolved_eps()
        )
        return out.view(-1, out.shape[-2] * out.shape[-1]) if rows else out.flatten(-2)
    out = attention(
        q_norm.split_heads(heads[0], n_head, logit_scale), k_norm.split_heads(heads[1], n_head),
        heads[2].transpose(1, 2), attn_mask=attn_mask, dropout_p=dropout_p,
    )
    if rows:
        return out.transpose(1, 2).reshape(-1, out.shape[1] * out.shape[-1])
    return merge_heads(out)
