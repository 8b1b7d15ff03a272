# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Fewer casts on the fused path (issue 28 item 1): under autocast the fused linear sums
its bias gradient straight into float32, and dispatches no cast after it.

The plain linear sums the reduced-precision output gradient in bf16/fp16 and autograd then
casts the sum to the float32 bias: a rounding and an operator more. The weight gradient
keeps its cast (a CPU matrix product has no float32 output for bf16 inputs).
"""

from __future__ import annotations

import collections

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from modulus_lrsa.models.attention import fused_ops
from modulus_lrsa.models.lrsa import linear


class _Count(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func)] += 1
        return func(*args, **(kwargs or {}))


def _bias_gradient(layer, x, grad, fused: bool, dtype):
    layer.zero_grad(set_to_none=True)
    with fused_ops(fused):
        with torch.autocast("cpu", dtype=dtype):
            out = linear(x, layer)
        grad = grad.to(out.dtype)
        with _Count() as counter:
            out.backward(grad)
    return layer.bias.grad, counter.ops


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_the_fused_bias_gradient_is_the_float32_sum_with_no_cast_after_it(dtype):
    generator = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(16, 24)
    x = torch.randn(300, 16, generator=generator)
    grad = torch.randn(300, 24, generator=generator)
    exact = grad.to(dtype).float().sum(0)  # the output gradient as autograd hands it over, summed in float32
    fused, fused_ops_seen = _bias_gradient(layer, x, grad, True, dtype)
    plain, plain_ops_seen = _bias_gradient(layer, x, grad, False, dtype)
    assert fused.dtype == plain.dtype == torch.float32
    torch.testing.assert_close(fused, exact, atol=1e-5, rtol=1e-6)
    assert (fused - exact).abs().max() < (plain - exact).abs().max()  # one rounding fewer
    # One cast after the backward: the weight gradient's; the plain path casts both.
    assert fused_ops_seen["aten._to_copy.default"] == 1 < plain_ops_seen["aten._to_copy.default"]


def test_a_fused_linear_of_a_float32_model_runs_unchanged_without_autocast():
    """No autocast: the bias gradient is the plain one to float32 rounding, and float64 stays float64."""
    for dtype in (torch.float32, torch.float64):
        layer = torch.nn.Linear(8, 5).to(dtype)
        x = torch.randn(40, 8, dtype=dtype)
        grads = []
        for fused in (True, False):
            layer.zero_grad(set_to_none=True)
            with fused_ops(fused):
                linear(x, layer).square().sum().backward()
            grads.append(layer.bias.grad)
        assert grads[0].dtype == dtype
        torch.testing.assert_close(grads[0], grads[1])
