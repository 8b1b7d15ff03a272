# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""LRSA model: constructor, shapes, invariances, checkpoints, precision, compile, ONNX."""

import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from modulus_lrsa.models import LRSA

REFERENCE = Path(__file__).parent / "data" / "lrsa_reference.pt"
REFERENCE_DEFAULT = Path(__file__).parent / "data" / "lrsa_reference_default.pt"
CONF = Path(__file__).parents[1] / "conf" / "model"


def _inputs(batch=2, n_points=300, functional_dim=2, embedding_dim=2):
    return torch.randn(batch, n_points, functional_dim), torch.rand(batch, n_points, embedding_dim)


# --------------------------------------------------------------------- constructor
def test_constructor_defaults_match_paper_sizes():
    model = LRSA(functional_dim=1, out_dim=1, embedding_dim=2)
    assert len(model.blocks) == 8
    assert model.blocks[0].compress.latent_queries.shape == (8, 64, 16)
    assert model.meta.bf16 and model.meta.onnx and model.meta.amp


def test_latent_queries_are_orthogonal_per_head(make_lrsa):
    queries = make_lrsa(n_hidden=64, n_head=4, n_latents=8).blocks[0].compress.latent_queries
    for head in queries:  # (M, d_h) with M <= d_h: orthonormal rows
        torch.testing.assert_close(head @ head.T, torch.eye(8), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(n_hidden=30, n_head=4), "multiple of n_head"),
        (dict(act="swishy"), "act must be one of"),
        (dict(norm="batch"), "norm must be one of"),
        (dict(n_latents=0), "n_latents must be >= 1"),
        # Before: n_hidden=0 built, then divided by zero in the first forward.
        (dict(n_hidden=0), "n_hidden must be >= 1"),
        (dict(n_head=0), "n_head must be >= 1"),
        (dict(structured_shape=(4,)), "structured_shape"),
        (dict(n_latents=8, slice_num=16), "give one"),
        (dict(unified_pos=True), "unified_pos"),
        (dict(plus=True), "plus=True"),
        (dict(functional_dim=0, embedding_dim=None), "needs some input"),
        (dict(qk_gain=0.0), "qk_gain must be > 0"),
    ],
)
def test_constructor_rejects_bad_config(make_lrsa, overrides, message):
    with pytest.raises(ValueError, match=message):
        make_lrsa(**overrides)


def test_compression_attention_weights_are_the_ones_forward_uses(make_lrsa):
    compress = make_lrsa().blocks[0].compress
    hn = torch.randn(2, 300, 32)
    weights = compress.attention_weights(hn)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    _, values = compress.keys_values(hn)
    rebuilt = compress.proj((weights @ values).transpose(1, 2).flatten(2))
    torch.testing.assert_close(rebuilt, compress(hn, None), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_head", [8, 1], ids=["d_head_4", "d_head_32"])
def test_logit_scale_bounds_attention_logits_whatever_the_head_width(make_lrsa, n_head):
    from modulus_lrsa.models.attention import LogitScale

    model = make_lrsa(n_head=n_head, logit_scale=10.0)
    scales = [m for m in model.modules() if isinstance(m, LogitScale)]
    assert len(scales) == 3 * 2  # compression, latent and reconstruction attention per block
    for module in scales:
        assert module.log_scale.shape == (n_head,) and module.log_scale.requires_grad
        torch.testing.assert_close(module.scale, torch.full((n_head,), 10.0))
    compress = model.blocks[0].compress
    with torch.no_grad():
        compress.latent_queries.mul_(100.0)
        scores, _ = compress.scores(torch.randn(2, 500, 32) * 50, None)
    # |q_hat . k_hat| <= d_head, so |logit| <= tau: the same bound at every head width.
    assert scores.abs().max() <= 10.0 + 1e-4 and scores.abs().max() > 5.0


def test_logit_scale_is_clamped_and_validated(make_lrsa):
    model = make_lrsa()
    scale = model.blocks[0].compress.logit_scale
    with torch.no_grad():
        scale.log_scale.fill_(20.0)
    torch.testing.assert_close(scale.scale.detach(), torch.full((4,), 100.0))
    with pytest.raises(ValueError, match=r"logit_scale must be in \[1, 100\]"):
        make_lrsa(logit_scale=0.5)


def test_qk_gain_is_deprecated_and_keeps_its_logit_bound(make_lrsa):
    with pytest.warns(FutureWarning, match=r"qk_gain is deprecated.*qk_gain=4 at head width 8 is logit_scale=11.31"):
        model = make_lrsa(qk_gain=4.0)
    for module in model.modules():
        if hasattr(module, "q_norm"):
            torch.testing.assert_close(module.q_norm.weight, torch.ones_like(module.q_norm.weight))
            torch.testing.assert_close(module.logit_scale.scale, torch.full((4,), 4.0 * math.sqrt(8)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_split_head_norm_equals_rms_norm_of_each_head_times_the_logit_scale(dtype):
    """The fast path (normalize in the linear's layout, one multiply for gain and scale)
    is the plain per-head RMS norm and logit scale, values and gradients alike."""
    from modulus_lrsa.models.attention import LogitScale, RMSNorm, split_heads

    norm, scale = RMSNorm(8), LogitScale(4, 8, 10.0)
    if dtype == torch.float64:  # a float64 model (as the domain-parallel tests run)
        norm, scale = norm.double(), scale.double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        scale.log_scale.uniform_(0.0, 3.0)
    x = torch.randn(2, 50, 32, dtype=dtype)
    # The reference computes in at least float32, as the model does.
    plain_input = x.detach().clone().requires_grad_(True)
    fast_input = x.detach().clone().requires_grad_(True)
    plain = scale(norm(split_heads(plain_input, 4)).to(torch.promote_types(dtype, torch.float32)))
    fast = norm.split_heads(fast_input, 4, scale)
    assert fast.shape == (2, 4, 50, 8) and fast.dtype == dtype
    tol = dict(atol=0.02, rtol=0.02) if dtype == torch.bfloat16 else {}
    torch.testing.assert_close(fast.to(plain.dtype), plain, **tol)
    grad = torch.randn(2, 4, 50, 8)
    fast_grads = torch.autograd.grad(fast, (fast_input, norm.weight, scale.log_scale), grad.to(dtype))
    plain_grads = torch.autograd.grad(plain, (plain_input, norm.weight, scale.log_scale), grad.to(plain.dtype))
    for got, want in zip(fast_grads, plain_grads):
        torch.testing.assert_close(got.to(want.dtype), want, **(dict(atol=0.05, rtol=0.05) if tol else {}))
    torch.testing.assert_close(norm.split_heads(x, 4).to(plain.dtype), norm(split_heads(x, 4)).to(plain.dtype), **tol)
    if dtype == torch.float64:  # the hand-written backward against finite differences
        from modulus_lrsa.models.attention import head_rms_norm

        heads = torch.randn(2, 3, 4, 8, dtype=dtype, requires_grad=True)
        for gain in (torch.rand(4, 8, dtype=dtype) + 0.5, torch.rand(8, dtype=dtype) + 0.5):
            assert torch.autograd.gradcheck(lambda t, w: head_rms_norm(t, w, 1e-6), (heads, gain.requires_grad_()))


def test_split_head_norm_keeps_bf16_heads_in_bf16():
    """Under autocast the N-sized normalized heads are kept in bf16 for the backward (half
    of a float32 copy); only the (..., 1) reciprocal RMS and the gain stay float32."""
    from modulus_lrsa.models.attention import RMSNorm

    norm = RMSNorm(10)
    x = torch.randn(1, 300, 80).bfloat16().requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        norm.split_heads(x, 8)
    large = [t for t in saved if t.numel() == x.numel()]
    assert len(large) == 1 and large[0].dtype == torch.bfloat16
    assert sum(t.numel() for t in saved if t.dtype == torch.float32) == 300 * 8 + 10


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("head_dim", [10, 6, 16])
def test_attention_on_padded_heads_is_plain_attention(dtype, head_dim):
    """10- and 6-wide heads run the CPU kernel zero-padded to 12 and 8: the same logits,
    outputs and gradients as softmax(q k^T / sqrt(d_h) + mask) v, -inf padding included."""
    from modulus_lrsa.models.attention import attention

    generator = torch.Generator().manual_seed(head_dim)
    q, k, v = (torch.randn(2, 3, n, head_dim, dtype=dtype, generator=generator).requires_grad_() for n in (40, 70, 70))
    bias = torch.randn(2, 1, 1, 70, dtype=dtype, generator=generator)
    bias[1, ..., 50:] = float("-inf")
    out = attention(q, k, v, attn_mask=bias)
    scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim) + bias
    reference = torch.softmax(scores, dim=-1) @ v
    assert out.shape == reference.shape
    tol = {} if dtype == torch.float64 else dict(atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out, reference, **tol)
    grad = torch.randn_like(out)
    for got, want in zip(torch.autograd.grad(out, (q, k, v), grad), torch.autograd.grad(reference, (q, k, v), grad)):
        torch.testing.assert_close(got, want, **tol)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_cpu_attention_is_float32_attention_rounded_once(dtype):
    """bf16/fp16 heads on a CPU: float32 attention of the same inputs rounded once to the
    dtype, gradients too, under autocast as the trainer runs it; and the graph keeps only
    the inputs, fewer bytes than the kernel's own bf16/fp16 call saves."""
    from modulus_lrsa.models.attention import attention

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 10, generator=generator).to(dtype).requires_grad_() for n in (40, 70, 70))
    bias = torch.randn(2, 1, 1, 70, generator=generator).to(dtype)
    bias[1, ..., 50:] = float("-inf")
    saved_bytes = []

    def pack(tensor):
        saved_bytes[-1] += tensor.numel() * tensor.element_size()
        return tensor

    outputs = []
    for attend in (attention, torch.nn.functional.scaled_dot_product_attention):
        saved_bytes.append(0)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), torch.autocast("cpu", dtype=dtype):
            outputs.append(attend(q, k, v, attn_mask=bias))
    out, kernel_out = outputs
    assert out.dtype == dtype
    assert saved_bytes[0] == sum(t.numel() * t.element_size() for t in (q, k, v, bias)) < saved_bytes[1]

    exact = [t.detach().float().requires_grad_() for t in (q, k, v)]
    reference = torch.softmax(exact[0] @ exact[1].transpose(-1, -2) / math.sqrt(10) + bias.float(), dim=-1) @ exact[2]
    one_rounding = dict(atol=torch.finfo(dtype).eps, rtol=torch.finfo(dtype).eps)
    torch.testing.assert_close(out.float(), reference.to(dtype).float(), **one_rounding)
    grad = torch.randn(out.shape, generator=generator).to(dtype)
    got = torch.autograd.grad(out, (q, k, v), grad)
    want = torch.autograd.grad(reference, exact, grad.float())
    for g, w in zip(got, want):
        assert g.dtype == dtype
        torch.testing.assert_close(g.float(), w.to(dtype).float(), **one_rounding)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_qk_norm_attention_is_float32_rounded_once(dtype):
    """Eager bf16/fp16 on a CPU: qk norm and attention in one function equal the float32
    path (normalized heads, then attention) on the same inputs, rounded once, with the
    gradients of inputs, norm gains and logit scale. That holds where the true gradient is
    tiny too (values nearly equal, so the queries barely matter), which a backward from the
    rounded output would miss by orders of magnitude. It keeps its inputs and the keys'
    reciprocal RMS, nothing else N-sized."""
    from modulus_lrsa.models.attention import LogitScale, RMSNorm, qk_norm_attention

    generator = torch.Generator().manual_seed(2)
    n_head, head_dim, n_points = 4, 10, 300
    q_norm, k_norm, scale = RMSNorm(head_dim), RMSNorm(head_dim), LogitScale(n_head, head_dim, 3.0)
    with torch.no_grad():
        for gain in (q_norm.weight, k_norm.weight):
            gain.copy_(torch.rand(head_dim, generator=generator) + 0.5)
    # Latent queries in float32, as the compression has them; point keys and values in dtype.
    q = torch.randn(2, 8, n_head * head_dim, generator=generator).requires_grad_()
    k = torch.randn(2, n_points, n_head * head_dim, generator=generator).to(dtype).requires_grad_()
    v = (1 + 0.01 * torch.randn(2, n_points, n_head * head_dim, generator=generator)).to(dtype).requires_grad_()
    bias = torch.zeros(2, 1, 1, n_points)
    bias[1, ..., 250:] = float("-inf")
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = qk_norm_attention(q, k, v, n_head, q_norm, k_norm, scale, attn_mask=bias)
    assert out.dtype == dtype and out.shape == (2, 8, n_head * head_dim)
    n_sized = sorted((tuple(t.shape), t.dtype) for t in saved if t.numel() >= n_points * n_head)
    assert n_sized == sorted([((2, n_points, n_head, head_dim), dtype)] * 2 + [((2, n_points, n_head, 1), torch.float32)])

    exact = [q.detach().clone().requires_grad_(), *(t.detach().float().requires_grad_() for t in (k, v))]
    reference = qk_norm_attention(*exact, n_head, q_norm, k_norm, scale, attn_mask=bias)
    one_rounding = dict(atol=1e-6, rtol=torch.finfo(dtype).eps)
    torch.testing.assert_close(out.float(), reference.to(dtype).float(), **one_rounding)
    parameters = (q_norm.weight, k_norm.weight, scale.log_scale)
    grad = torch.randn(out.shape, generator=generator).to(dtype)
    got = torch.autograd.grad(out, (q, k, v, *parameters), grad)
    want = torch.autograd.grad(reference, (*exact, *parameters), grad.float())
    for name, g, w in zip(["q", "k", "v", "q gain", "k gain", "logit scale"], got, want):
        if g.dtype == dtype:  # point keys and values: the float32 gradient rounded once
            torch.testing.assert_close(g.float(), w.to(dtype).float(), **one_rounding, msg=name)
        else:
            torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-4, msg=name)


def test_float32_queries_meet_bf16_keys_in_bf16_keeping_no_float32_copies():
    """Compression under autocast: float32 latent queries and bf16 point keys and values.
    They meet in bf16, as autocast's SDPA casts them on a GPU, so the graph keeps the bf16
    inputs only, never float32 copies of the N-sized keys and values."""
    from modulus_lrsa.models.attention import attention

    generator = torch.Generator().manual_seed(1)
    q = torch.randn(2, 3, 8, 10, generator=generator).requires_grad_()
    k, v = (torch.randn(2, 3, 500, 10, generator=generator).bfloat16().requires_grad_() for _ in range(2))
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = attention(q, k, v)
    assert out.dtype == torch.bfloat16
    assert all(t.dtype == torch.bfloat16 for t in saved)
    assert sum(t.numel() for t in saved) == q.numel() + k.numel() + v.numel()
    exact = [t.detach().bfloat16().float() for t in (q, k, v)]
    reference = torch.softmax(exact[0] @ exact[1].transpose(-1, -2) / math.sqrt(10), dim=-1) @ exact[2]
    eps = torch.finfo(torch.bfloat16).eps
    torch.testing.assert_close(out.float(), reference.bfloat16().float(), atol=eps, rtol=eps)
    grads = torch.autograd.grad(out.float().square().sum(), (q, k, v))
    assert grads[0].dtype == torch.float32 and all(torch.isfinite(g).all() for g in grads)


def test_state_dict_without_logit_scales_loads_as_plain_qk_norm(make_lrsa):
    """An old checkpoint (no log_scale) gets tau = sqrt(d_head): exactly the old attention."""
    model = make_lrsa().eval()
    old = {k: v for k, v in model.state_dict().items() if not k.endswith("log_scale")}
    model.load_state_dict(old)
    for module in model.modules():
        if hasattr(module, "logit_scale"):
            torch.testing.assert_close(module.logit_scale.scale, torch.full((4,), math.sqrt(8)))
    compress = model.blocks[0].compress
    hn = torch.randn(1, 50, 32)
    k, _ = compress.keys_values(hn)
    plain = compress.q_norm(compress.latent_queries)[None] @ k.transpose(-1, -2) / math.sqrt(8)
    torch.testing.assert_close(compress.scores(hn, None)[0], plain)


def _fit_compression_to_a_wall_band(model, steps=30):
    """Train a one-block LRSA for ``steps`` Adam steps (lr 1e-3, the trainer's) to draw its
    compression from a wall band of 1% of the points; return each latent's share there."""
    n_points = 1000
    wall = torch.zeros(n_points, dtype=torch.bool)
    wall[:10] = True
    embedding = torch.rand(2, n_points, 2)
    embedding[:, wall, 1] *= 0.01  # a thin band along y = 0
    fx = wall.float().expand(2, n_points)[..., None].clone()  # the wall flag, as a mesh dataset carries it
    block = model.blocks[0]

    def wall_share():
        weights = block.compress.attention_weights(block.point_norm(model._lift(fx, embedding, None)))
        return weights[..., wall].sum(-1)  # (B, h, M)

    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(steps):
        loss = -wall_share().clamp_min(1e-12).log().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return wall_share()


def test_default_compression_can_focus_on_a_wall_band_plain_qk_norm_cannot():
    """The default's learned logit scale lets latents put most of their weight on 1% of
    the points; plain qk-norm (tau fixed at sqrt(d_head), the release-0.1 attention) caps
    the logits at sqrt(d_head) times the norm gains, and stays far below half.

    The fit targets the compression weights directly: on a full regression task a short
    fit can also be met by pointwise gating followed by a plain average, which would hide
    what the logit bound allows (see benchmarks/attention_focus.py for trained models)."""
    config = dict(functional_dim=1, out_dim=1, embedding_dim=2, n_layers=1, n_hidden=32, n_head=8, n_latents=8)
    torch.manual_seed(0)
    default = LRSA(**config)
    torch.manual_seed(0)
    plain = LRSA(**config, logit_scale=math.sqrt(4))
    for module in plain.modules():
        if hasattr(module, "log_scale"):
            module.log_scale.requires_grad_(False)

    focused = _fit_compression_to_a_wall_band(default)
    capped = _fit_compression_to_a_wall_band(plain)
    assert focused.median() > 0.9, focused.median()
    assert capped.max() < 0.5, capped.max()


def test_transolver_slice_num_sets_latents(make_lrsa):
    model = make_lrsa(n_latents=None, slice_num=12)
    assert model.blocks[0].compress.latent_queries.shape[1] == 12


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("embedding_dim", [2, 3])
def test_forward_shape_irregular(make_lrsa, embedding_dim):
    model = make_lrsa(embedding_dim=embedding_dim)
    fx, emb = _inputs(embedding_dim=embedding_dim)
    assert model(fx, emb).shape == (2, 300, 3)


@pytest.mark.parametrize("shape", [(12, 10), (6, 5, 4)])
def test_forward_shape_structured(make_lrsa, shape):
    model = make_lrsa(structured_shape=shape, embedding_dim=len(shape))
    fx = torch.randn(2, *shape, 2)
    emb = torch.rand(2, *shape, len(shape))
    out = model(fx, emb)
    assert out.shape == (2, *shape, 3)
    # The flattened (B, N, C) layout gives the same numbers in flat form.
    flat = model(fx.reshape(2, -1, 2), emb.reshape(2, -1, len(shape)))
    torch.testing.assert_close(flat, out.reshape(2, -1, 3))
    assert isinstance(model.blocks[0].point_ffn.conv, torch.nn.Conv2d if len(shape) == 2 else torch.nn.Conv3d)


def test_time_input_changes_output(make_lrsa):
    model = make_lrsa(time_input=True)
    fx, emb = _inputs()
    early = model(fx, emb, torch.tensor([0.0, 0.0]))
    late = model(fx, emb, torch.tensor([5.0, 5.0]))
    assert early.shape == (2, 300, 3)
    assert not torch.allclose(early, late)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, fx, e: m(fx), "embedding is required"),
        (lambda m, fx, e: m(fx[..., :1], e), "fx must have 2 channels"),
        (lambda m, fx, e: m(fx, e[:, :10]), "embedding must be"),
        (lambda m, fx, e: m(fx, e, mask=torch.ones(2, 300)), "mask must be a bool"),
        (lambda m, fx, e: m(fx, e, mask=torch.zeros(2, 300, dtype=torch.bool)), "no real point"),
        (lambda m, fx, e: m(fx, e, weights=-torch.ones(2, 300)), "weights must be finite and > 0"),
        (lambda m, fx, e: m(fx, e, torch.zeros(2)), "time was given"),
    ],
)
def test_forward_rejects_bad_input(make_lrsa, call, message):
    fx, emb = _inputs()
    with pytest.raises(ValueError, match=message):
        call(make_lrsa(), fx, emb)


def test_value_checks_fire_every_call_on_cpu_and_once_per_signature_when_asked(make_lrsa):
    model = make_lrsa()
    fx, emb = _inputs(n_points=60)
    bad = torch.ones(2, 60)
    bad[0, 3] = float("nan")
    no_real = torch.zeros(2, 60, dtype=torch.bool)
    assert model.input_value_checks == "auto"  # CPU tensors: every call is checked
    for _ in range(2):
        with pytest.raises(ValueError, match="weights must be finite"):
            model(fx, emb, weights=bad)
        with pytest.raises(ValueError, match="no real point"):
            model(fx, emb, mask=no_real)
        with pytest.raises(ValueError, match="no real point"):
            model.forward_chunked(fx, emb, mask=no_real, chunk_size=16)

    # "once" (what "auto" does on accelerators, where each check is a host sync): the first
    # call of an input signature is checked, later calls of that signature are not.
    model.input_value_checks = "once"
    for _ in range(2):  # a failed check records nothing
        with pytest.raises(ValueError, match="weights must be finite"):
            model(fx, emb, weights=bad)
    model(fx, emb, weights=torch.ones(2, 60))  # passed: signature now seen
    assert model(fx, emb, weights=bad).shape == (2, 60, 3)  # trusted: not checked again
    with pytest.raises(ValueError, match="weights must be finite"):  # a new shape: checked
        model(fx[:, :50], emb[:, :50], weights=bad[:, :50])
    with pytest.raises(ValueError, match="no real point"):  # a mask is a new signature
        model(fx, emb, mask=no_real)

    model.input_value_checks = "always"
    with pytest.raises(ValueError, match="weights must be finite"):
        model(fx, emb, weights=bad)
    model.input_value_checks = "never"
    model(fx, emb, weights=bad)
    with pytest.raises(ValueError, match="mask must be a bool"):  # shape checks always run
        model(fx, emb, mask=torch.ones(2, 60))
    model.input_value_checks = "sometimes"
    with pytest.raises(ValueError, match="input_value_checks must be"):
        model(fx, emb, weights=bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_forward_on_cuda_does_not_sync_after_the_first_step(make_lrsa):
    model = make_lrsa().cuda()
    fx, emb = (t.cuda() for t in _inputs())
    mask = torch.ones(2, 300, dtype=torch.bool, device="cuda")
    weights = torch.rand(2, 300, device="cuda") + 0.1
    model(fx, emb, mask=mask, weights=weights)  # checked, synchronising once
    torch.cuda.set_sync_debug_mode("error")
    try:
        model(fx, emb, mask=mask, weights=weights).sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")


# ---------------------------------------------------------------------- invariances
def test_permutation_equivariance(make_lrsa):
    model = make_lrsa()
    fx, emb = _inputs()
    weights = torch.rand(2, 300) + 0.5
    perm = torch.randperm(300)
    out = model(fx, emb, weights=weights)
    out_perm = model(fx[:, perm], emb[:, perm], weights=weights[:, perm])
    torch.testing.assert_close(out_perm, out[:, perm], atol=1e-5, rtol=1e-5)


def test_padding_never_changes_real_points(make_lrsa):
    model = make_lrsa()
    sizes = [173, 300]
    samples = [_inputs(batch=1, n_points=n) for n in sizes]
    weights = [torch.rand(1, n) + 0.1 for n in sizes]
    # Garbage in the padding: large values that would dominate if they leaked.
    fx = 1e3 * torch.randn(2, 300, 2)
    emb = 1e3 * torch.randn(2, 300, 2)
    w = 1e6 * torch.ones(2, 300)
    mask = torch.zeros(2, 300, dtype=torch.bool)
    for i, ((f, e), wi) in enumerate(zip(samples, weights)):
        n = f.shape[1]
        fx[i, :n], emb[i, :n], w[i, :n], mask[i, :n] = f[0], e[0], wi[0], True
    batched = model(fx, emb, mask=mask, weights=w)
    for i, ((f, e), wi) in enumerate(zip(samples, weights)):
        alone = model(f, e, weights=wi)
        torch.testing.assert_close(batched[i, : f.shape[1]], alone[0], atol=1e-5, rtol=1e-5)


def test_quadrature_weights_duplicate_point_with_half_weight(make_lrsa):
    model = make_lrsa()
    fx, emb = _inputs(batch=1)
    weights = torch.rand(1, 300) + 0.5
    j = 17
    fx_dup = torch.cat([fx, fx[:, j : j + 1]], dim=1)
    emb_dup = torch.cat([emb, emb[:, j : j + 1]], dim=1)
    w_dup = torch.cat([weights, weights[:, j : j + 1] / 2], dim=1)
    w_dup[:, j] /= 2
    out = model(fx, emb, weights=weights)
    out_dup = model(fx_dup, emb_dup, weights=w_dup)
    torch.testing.assert_close(out_dup[:, :300], out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out_dup[:, 300], out[:, j], atol=1e-5, rtol=1e-5)
    # Without weights the duplicate does shift the latents: the weights are what fix it.
    assert not torch.allclose(model(fx_dup, emb_dup)[:, :300], model(fx, emb), atol=1e-5)


def _grid_sample(n_nodes):
    axis = torch.linspace(0, 1, n_nodes)
    x, y = torch.meshgrid(axis, axis, indexing="ij")
    coords = torch.stack([x, y], dim=-1).reshape(1, -1, 2)
    field = torch.sin(2 * torch.pi * x) * torch.cos(torch.pi * y) + x * y
    fx = torch.stack([field, field**2], dim=-1).reshape(1, -1, 2)
    # Trapezoid-rule cell weights: the compression softmax becomes a quadrature.
    edge = torch.ones(n_nodes)
    edge[0] = edge[-1] = 0.5
    weights = (edge[:, None] * edge[None, :]).reshape(1, -1)
    return fx, coords, weights


def test_resolution_independence_converges_under_refinement(make_lrsa):
    """Same weights, any N; outputs at shared points converge as the mesh is refined.

    Few Fourier frequencies, so the compression integrand is resolved on these grids.
    """
    model = make_lrsa(n_frequencies=2)
    with torch.no_grad():  # sharper attention than the 0.02 init, so the test has teeth
        for p in model.parameters():
            if p.ndim == 2:
                p.normal_(0, 0.3)
    outputs = {}
    for n in (9, 17, 33, 65):
        fx, coords, weights = _grid_sample(n)
        out = model(fx, coords, weights=weights).reshape(n, n, 3)
        step = (n - 1) // 8
        outputs[n] = out[::step, ::step]  # the 9x9 nodes common to all grids
    diffs = [(outputs[b] - outputs[a]).abs().max().item() for a, b in [(9, 17), (17, 33), (33, 65)]]
    assert diffs[1] < 0.5 * diffs[0] and diffs[2] < 0.5 * diffs[1], diffs
    assert diffs[2] < 1e-2 * outputs[65].abs().max().item()


# ------------------------------------------------------------------ chunked inference
@pytest.mark.parametrize("chunk_size", [1000, 97, 1])
def test_chunked_forward_equals_forward(make_lrsa, chunk_size):
    model = make_lrsa().eval()
    fx, emb = _inputs(n_points=300 if chunk_size > 1 else 40)
    n = fx.shape[1]
    mask = torch.ones(2, n, dtype=torch.bool)
    mask[1, n // 2 :] = False
    weights = torch.rand(2, n) + 0.1
    with torch.no_grad():
        expected = model(fx, emb, mask=mask, weights=weights)
    got = model.forward_chunked(fx, emb, mask=mask, weights=weights, chunk_size=chunk_size)
    torch.testing.assert_close(got[mask], expected[mask], atol=1e-5, rtol=1e-5)


def test_chunked_forward_writes_into_out_in_its_dtype(make_lrsa):
    model = make_lrsa().eval()
    fx, emb = _inputs(n_points=100)
    with torch.no_grad():
        expected = model(fx, emb)
    out = torch.full((2, 100, 3), float("nan"), dtype=torch.float64)
    assert model.forward_chunked(fx, emb, chunk_size=33, out=out) is out
    torch.testing.assert_close(out, expected.double(), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="out must have shape"):
        model.forward_chunked(fx, emb, out=torch.empty(2, 99, 3))


def test_chunked_forward_rejects_structured(make_lrsa):
    model = make_lrsa(structured_shape=(8, 8))
    with pytest.raises(ValueError, match="structured grids"):
        model.forward_chunked(torch.randn(1, 64, 2), torch.rand(1, 64, 2))


# ----------------------------------------------------------- checkpoints and registry
def test_mdlus_round_trip_and_registry(make_lrsa, tmp_path):
    import physicsnemo
    from physicsnemo.core import ModelRegistry

    model = make_lrsa(n_latents=None, slice_num=6, time_input=True)
    path = tmp_path / "lrsa.mdlus"
    model.save(str(path))
    fx, emb = _inputs()
    time = torch.tensor([0.1, 0.7])

    loaded = physicsnemo.Module.from_checkpoint(str(path))
    assert type(loaded) is LRSA
    torch.testing.assert_close(loaded(fx, emb, time), model(fx, emb, time))

    cls = ModelRegistry().factory("LRSA")
    assert cls is LRSA
    assert "LRSA" in ModelRegistry().list_models()
    rebuilt = cls.from_checkpoint(str(path))
    torch.testing.assert_close(rebuilt(fx, emb, time), model(fx, emb, time))


def test_hydra_transolver_config_needs_only_target_change():
    from hydra.utils import instantiate

    cfg = OmegaConf.load(CONF / "transolver.yaml")
    cfg.merge_with(dict(functional_dim=2, out_dim=3, embedding_dim=2, n_layers=2, n_hidden=32,
                        n_head=4, slice_num=8))
    fx, emb = _inputs()
    transolver = instantiate(cfg, _convert_="partial")
    cfg._target_ = "modulus_lrsa.models.LRSA"
    lrsa = instantiate(cfg, _convert_="partial")
    assert isinstance(lrsa, LRSA)
    assert lrsa.blocks[0].compress.latent_queries.shape[1] == 8
    assert lrsa(fx, emb).shape == transolver(fx, emb).shape == (2, 300, 3)

    own = OmegaConf.load(CONF / "lrsa.yaml")
    own.merge_with(dict(functional_dim=2, out_dim=3, embedding_dim=2, n_layers=1))
    assert instantiate(own, _convert_="partial")(fx, emb).shape == (2, 300, 3)


# ------------------------------------------------------------------------- precision
@pytest.mark.parametrize("dtype, tolerance", [(torch.bfloat16, 0.05), (torch.float16, 0.01)])
def test_autocast_forward_backward(make_lrsa, dtype, tolerance):
    model = make_lrsa()
    fx, emb = _inputs()
    mask = torch.ones(2, 300, dtype=torch.bool)
    mask[0, 200:] = False
    weights = torch.rand(2, 300) + 0.1
    reference = model(fx, emb, mask=mask, weights=weights)
    with torch.autocast("cpu", dtype=dtype):
        out = model(fx, emb, mask=mask, weights=weights)
    assert out.dtype == dtype
    out.float()[mask].square().mean().backward()
    assert torch.isfinite(out.float()[mask]).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    error = (out.float() - reference)[mask].norm() / reference[mask].norm()
    assert error < tolerance, error


# ------------------------------------------------------------------ compile and ONNX
def test_torch_compile_fullgraph_matches_eager(make_lrsa):
    model = make_lrsa().eval()
    fx, emb = _inputs()
    mask = torch.ones(2, 300, dtype=torch.bool)
    mask[1, 250:] = False
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(fx, emb, mask=mask), model(fx, emb, mask=mask),
                                   atol=1e-5, rtol=1e-5)


def test_torch_compile_gradients_match_eager(make_lrsa):
    """What training.compile=true differentiates. Under torch 2.11 the compiled parameter
    gradients were off by order one with outputs equal (on a CPU, as on the H200): dynamo
    mis-routed the gradient of the per-head norm's no-op ``.to()`` return (pytorch#180642)."""
    torch._dynamo.reset()
    model = make_lrsa()
    fx, emb = _inputs()
    mask = torch.ones(2, 300, dtype=torch.bool)
    mask[1, 250:] = False
    weights = torch.rand(2, 300, generator=torch.Generator().manual_seed(3)) + 0.1

    def gradients(module):
        model.zero_grad(set_to_none=True)
        module(fx, emb, mask=mask, weights=weights)[mask].square().mean().backward()
        return {name: p.grad.clone() for name, p in model.named_parameters()}

    eager = gradients(model)
    compiled = gradients(torch.compile(model, fullgraph=True))
    for name, expected in eager.items():
        torch.testing.assert_close(compiled[name], expected, atol=1e-5, rtol=1e-4,
                                   msg=lambda detail, name=name: f"{name}: {detail}")


def test_compiled_bf16_training_step_is_as_accurate_as_eager(make_lrsa):
    """What training.compile=true runs on a CPU under bf16 autocast: the traced attention
    computes in float32 on padded heads (d_h = 10 here), as the eager one does. Against
    the float32 step, the compiled bf16 output and gradients are as close as eager bf16's."""
    torch._dynamo.reset()
    model = make_lrsa(n_hidden=40, n_head=4)
    fx, emb = _inputs()
    mask = torch.ones(2, 300, dtype=torch.bool)
    mask[1, 240:] = False

    def step(module, dtype):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            out = module(fx, emb, mask=mask)
        out.float()[mask].square().mean().backward()
        return torch.cat([out.float()[mask].flatten()] + [p.grad.flatten() for p in model.parameters()])

    def error(values):
        return ((values - reference).norm() / reference.norm()).item()

    reference = step(model, torch.float32)
    eager = step(model, torch.bfloat16)
    compiled = step(torch.compile(model), torch.bfloat16)
    assert error(eager) < 0.05
    assert error(compiled) < 1.5 * error(eager), (error(compiled), error(eager))


def test_onnx_export_dynamic_points_runs_in_onnxruntime(make_lrsa, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = make_lrsa().eval()
    fx, emb = _inputs(batch=1, n_points=100)
    n_points = torch.export.Dim("n_points", min=2, max=1 << 22)
    path = tmp_path / "lrsa.onnx"
    torch.onnx.export(model, (fx, emb), str(path), dynamo=True, input_names=["fx", "embedding"],
                      output_names=["out"], dynamic_shapes=({1: n_points}, {1: n_points}))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (57, 1000):
        fx, emb = _inputs(batch=1, n_points=n)
        (out,) = session.run(None, {"fx": fx.numpy(), "embedding": emb.numpy()})
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(out), model(fx, emb), atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------- regression and learning
@pytest.mark.parametrize("snapshot", [REFERENCE_DEFAULT, REFERENCE], ids=["default", "before_logit_scale"])
def test_forward_matches_stored_reference(snapshot):
    reference = torch.load(snapshot, weights_only=True)
    model = LRSA(**reference["args"])
    model.load_state_dict(reference["state_dict"])
    model.eval()
    with torch.no_grad():
        out = model(reference["fx"], reference["embedding"], mask=reference["mask"],
                    weights=reference["weights"])
    torch.testing.assert_close(out, reference["out"], atol=1e-5, rtol=1e-5)


def test_overfits_one_sample(make_lrsa):
    model = make_lrsa(out_dim=1)
    fx, emb = _inputs(batch=1, n_points=256)
    target = torch.sin(3 * emb[..., :1]) * torch.cos(2 * emb[..., 1:]) + fx[..., :1] ** 2
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        optimizer.zero_grad()
        loss = (model(fx, emb) - target).square().mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


# ---------------------------------------------------- cases without input fields (C_in = 0)
@pytest.mark.parametrize("as_none", [True, False], ids=["fx_None", "fx_0_channels"])
def test_geometry_only_model_runs_forward_chunked_and_round_trips(make_lrsa, tmp_path, as_none):
    import physicsnemo

    model = make_lrsa(functional_dim=0, embedding_dim=3).eval()
    embedding = torch.rand(2, 120, 3)
    fx = None if as_none else torch.zeros(2, 120, 0)
    mask = torch.ones(2, 120, dtype=torch.bool)
    mask[1, 100:] = False
    with torch.no_grad():
        out = model(fx, embedding, mask=mask)
    assert out.shape == (2, 120, 3) and torch.isfinite(out).all()
    chunked = model.forward_chunked(fx, embedding, mask=mask, chunk_size=37)
    torch.testing.assert_close(chunked[mask], out[mask], atol=1e-5, rtol=1e-5)
    # With no input fields the output still varies with the geometry.
    assert (out[0].std(dim=0) > 0).all()
    path = tmp_path / "geometry_only.mdlus"
    model.save(str(path))
    loaded = physicsnemo.Module.from_checkpoint(str(path)).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(fx, embedding, mask=mask), out)


def test_geometry_only_model_on_a_structured_grid(make_lrsa):
    model = make_lrsa(functional_dim=0, embedding_dim=2, structured_shape=(6, 5))
    assert model(torch.zeros(2, 6, 5, 0), torch.rand(2, 6, 5, 2)).shape == (2, 6, 5, 3)
    assert model(None, torch.rand(2, 30, 2)).shape == (2, 30, 3)


def test_fx_none_is_rejected_when_the_model_has_input_fields(make_lrsa):
    with pytest.raises(ValueError, match="fx is required.*functional_dim=2"):
        make_lrsa()(None, torch.rand(1, 10, 2))


def test_geometry_only_model_compiles_fullgraph(make_lrsa):
    model = make_lrsa(functional_dim=0, embedding_dim=2).eval()
    embedding = torch.rand(2, 64, 2)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(None, embedding), model(None, embedding), atol=1e-5, rtol=1e-5)


def test_geometry_only_model_exports_to_onnx(make_lrsa, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = make_lrsa(functional_dim=0, embedding_dim=2).eval()

    class GeometryOnly(torch.nn.Module):
        """ONNX has no optional inputs: the exported graph takes the embedding alone."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, embedding):
            return self.inner(None, embedding)

    n_points = torch.export.Dim("n_points", min=2, max=1 << 22)
    path = tmp_path / "geometry_only.onnx"
    torch.onnx.export(GeometryOnly(model).eval(), (torch.rand(1, 50, 2),), str(path), dynamo=True,
                      input_names=["embedding"], output_names=["out"], dynamic_shapes=({1: n_points},))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    embedding = torch.rand(1, 333, 2)
    (out,) = session.run(None, {"embedding": embedding.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(out), model(None, embedding), atol=1e-5, rtol=1e-4)


def test_fused_cpu_attention_switch_gives_the_plain_path_values_and_gradients(make_lrsa):
    """The one switch of models/attention.py: a bf16 training step with the fused CPU
    attention is as close to the float32 step as the plain path (float32 attention under
    autograd) is, in outputs and in every parameter gradient; so turning it off, or a
    device without it, changes no result beyond bf16 rounding."""
    from modulus_lrsa.models.attention import fused_cpu_attention

    model = make_lrsa()
    generator = torch.Generator().manual_seed(3)
    fx, embedding = torch.randn(2, 300, 2, generator=generator), torch.rand(2, 300, 2, generator=generator)
    weights = torch.rand(2, 300, generator=generator) + 0.5

    def step(precision, fused=True):
        model.zero_grad()
        with fused_cpu_attention(fused), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(fx, embedding, weights=weights)
        out.float().square().mean().backward()
        return [out.float(), *(p.grad.clone() for p in model.parameters())]

    reference, fused, plain = step("fp32"), step("bf16", fused=True), step("bf16", fused=False)
    assert not torch.equal(fused[0], plain[0])  # the switch does change the path
    # Both are bf16 approximations of the float32 step: the fused path saves bf16 inputs where
    # the plain one keeps float32 copies, so its gradients may sit up to ~2x further off.
    for index, (want, got_fused, got_plain) in enumerate(zip(reference, fused, plain)):
        scale = want.norm().clamp_min(1e-12)
        fused_error, plain_error = (got_fused - want).norm() / scale, (got_plain - want).norm() / scale
        assert fused_error <= 2.5 * plain_error + 0.02, (index, float(fused_error), float(plain_error))
