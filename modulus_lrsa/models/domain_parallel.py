# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
r"""Domain-parallel LRSA: one mesh's points split over the ranks of a process group.

Every LRSA block touches all points in one place only, the compression softmax over
the :math:`N` points. Its statistics merge exactly across shards, the same online
softmax :meth:`LRSA.forward_chunked` uses over chunks: each rank computes, for its own
points, the softmax numerator :math:`\sum_n e^{s_n - m} v_n` and denominator
:math:`\sum_n e^{s_n - m}` against the global maximum :math:`m`, and one all-reduce
sums them. Latent processing then runs identically on every rank (replicated), and
reconstruction, the point FFN, the lifting and the output head are pointwise.

Per block that is one all-reduce (MAX) of :math:`B h M` numbers and one (SUM) of
:math:`B h M (d_h + 1)`, whatever :math:`N` is; in the backward, one SUM all-reduce of
the same size, and at the end of the backward one all-reduce of the parameter gradients.

Gradient convention (the one PhysicsNeMo's ``ShardTensor`` models follow): the loss is
global, made of each rank's share (for example a sum over the local points divided by
the global point count, or any ``ShardTensor`` reduction of the sharded output). After
``backward`` every rank holds the full gradient of every parameter, equal to the
single-process gradient; each rank's contribution is counted once.

Why custom ops and not ``ShardTensor`` dispatch: ``ShardTensor`` routes every op through
``__torch_function__``/DTensor propagation, and the compression here is attention from
*replicated* queries (the learned latents) over *sharded* keys and values. ShardTensor's
attention support is ring attention for sharded *queries*; a softmax over a sharded dim
with a running maximum has no DTensor rule (``amax`` gives ``Partial(max)``, but
``exp(s - m)`` then needs that maximum resolved before the sum, which DTensor does not
fuse into one merge). Two ``autograd.Function``\ s below do exactly what is needed:
:class:`_AllReduceSum` (forward all-reduce, backward all-reduce of the cotangent: each
rank's downstream use of the replicated latents contributes only its own share) and
:class:`_SumGradientsOverGroup` (forward identity on the parameters, backward one
bucketed all-reduce of their gradients, the bridge ShardTensor's ``Replicate``
promotion provides per op). ``ShardTensor`` and ``DeviceMesh`` are the interface: the
wrapper takes a 1-D ``DeviceMesh`` (or a process group) and accepts and returns
``ShardTensor``\ s sharded over the point dim, uneven shards included.

The trainer reaches the wrapper without importing a model, through the contract of
:mod:`modulus_lrsa.distributed`: :class:`DomainParallelMixin` gives a model
``domain_parallel(mesh, reduce_gradients)``, and both wrappers give the model back with
``unwrap()``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
import torch.nn as nn
from jaxtyping import Bool, Float
from torch.utils.checkpoint import checkpoint

from modulus_lrsa.distributed import shard_sizes

if TYPE_CHECKING:  # lrsa.py imports DomainParallelMixin from here
    from .lrsa import LRSA

try:
    from torch.distributed.device_mesh import DeviceMesh
except ImportError:  # pragma: no cover - torch without distributed
    DeviceMesh = None

try:
    from physicsnemo.domain_parallel import ShardTensor
except ImportError:  # legacy host (nvidia-modulus 0.9) or torch < 2.6: plain shards only
    ShardTensor = None

__all__ = ["DomainParallelLRSA", "DomainParallelMixin", "GatheredDomainParallelLRSA", "all_reduce_sum", "shard_sizes"]


class _AllReduceSum(torch.autograd.Function):
    r"""Sum over a process group; the backward sums the cotangents over the group.

    The result is replicated, but each rank uses it for its own points only, so the
    cotangent a rank receives is its share of the gradient; the total is their sum.

    ``torch.distributed.nn.functional.all_reduce`` has the same backward, but torch 2.14
    deprecates it (a ``FutureWarning`` on every call, and an error under
    ``torch.compile``) in favour of the private ``torch.distributed._functional_collectives``,
    so these ten lines stay here.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group: dist.ProcessGroup) -> torch.Tensor:
        ctx.group = group
        out = tensor.contiguous().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        return grad, None


def all_reduce_sum(tensor: torch.Tensor, group: dist.ProcessGroup | None = None) -> torch.Tensor:
    r"""Differentiable sum of per-rank partial results over ``group``.

    Use it for quantities each rank computes from its own points and then uses for its
    own points again (partial sums of a global loss, softmax statistics). Do not use it
    to replicate a *loss* that every rank then backpropagates: its backward sums the
    cotangents, which would count a replicated loss once per rank.

    Parameters
    ----------
    tensor : torch.Tensor
        This rank's partial sum, the same shape on every rank.
    group : torch.distributed.ProcessGroup | None, optional, default=None
        The group (default: the world).

    Returns
    -------
    torch.Tensor
        The sum over the group, replicated on every rank.
    """
    return _AllReduceSum.apply(tensor, group)


class _SumGradientsOverGroup(torch.autograd.Function):
    r"""Identity on replicated parameters; the backward sums their gradients over a group.

    All parameters go through one call, so the backward runs once, after every gradient
    is ready, and reduces them in one flat buffer per dtype. A parameter that received
    no gradient on this rank contributes zeros.
    """

    @staticmethod
    def forward(ctx, group: dist.ProcessGroup, *params: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ctx.group = group
        ctx.shapes = [(p.shape, p.dtype, p.device) for p in params]
        return tuple(p.view_as(p) for p in params)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        grads = [
            torch.zeros(shape, dtype=dtype, device=device) if g is None else g
            for g, (shape, dtype, device) in zip(grads, ctx.shapes)
        ]
        reduced: list[torch.Tensor | None] = [None] * len(grads)
        for dtype in sorted({g.dtype for g in grads}, key=str):
            index = [i for i, g in enumerate(grads) if g.dtype == dtype]
            flat = torch.cat([grads[i].reshape(-1) for i in index])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=ctx.group)
            for i, part in zip(index, flat.split([grads[i].numel() for i in index])):
                reduced[i] = part.view_as(grads[i])
        return (None, *reduced)


def _safe(maximum: torch.Tensor) -> torch.Tensor:
    """A softmax shift: the maximum where finite, 0 where every logit is -inf."""
    return torch.where(torch.isfinite(maximum), maximum, torch.zeros_like(maximum))


class _ShardedForward(nn.Module):
    """The domain-parallel forward pass, a module so ``functional_call`` can run it with
    gradient-reducing parameter views (built per call; holds no state of its own)."""

    def __init__(self, model: LRSA, group: dist.ProcessGroup) -> None:
        super().__init__()
        self.model = model
        self.group = group

    def forward(self, fx, embedding, time, mask, weights, chunk_size):
        model, group = self.model, self.group
        out_shape = (*fx.shape[:-1], model.out_dim)
        flat_fx, embedding = model._flatten(fx, embedding)
        bias = model._compression_bias(mask, weights, lambda t: _AllReduceSum.apply(t, group))
        h = model._lift(flat_fx, embedding, time)
        n_local = h.shape[1]
        chunks = [slice(s, s + chunk_size) for s in range(0, n_local, chunk_size)] if chunk_size else None
        recompute = model.activation_checkpointing and model.training and torch.is_grad_enabled()
        for block in model.blocks:
            if chunks is None and recompute:
                # The backward re-runs the block's collectives, in the same order on every rank.
                h = checkpoint(self._block, block, h, bias, use_reentrant=False)
            elif chunks is None:
                h = self._block(block, h, bias)
            else:  # inference: local chunks bound the temporaries, h is updated in place
                stats = self._compression_statistics(
                    block.compress,
                    ((block.point_norm(h[:, c]), None if bias is None else bias[..., c]) for c in chunks),
                    h.shape[0],
                )
                latent_kv = block.process_latents(block.compress.finish(stats[..., 1:], stats[..., :1]))
                for c in chunks:
                    h[:, c] = block.expand(h[:, c], block.point_norm(h[:, c]), latent_kv)
        return model.head(model.out_norm(h)).reshape(out_shape)

    def _block(self, block, h: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """One LRSA block on this rank's points, compression merged over the group."""
        hn = block.point_norm(h)
        stats = self._compression_statistics(block.compress, [(hn, bias)], h.shape[0])
        latent_kv = block.process_latents(block.compress.finish(stats[..., 1:], stats[..., :1]))
        return block.expand(h, hn, latent_kv)

    def _compression_statistics(self, compress, parts, batch: int) -> torch.Tensor:
        r"""Merged softmax statistics over all ranks' points, :math:`(B, h, M, 1 + d_h)`.

        Channel 0 is the denominator, the rest the unnormalized weighted values, both
        against the global maximum logit. The maxima are only shifts (the normalized
        result does not depend on them), so they are detached. The statistics travel in
        at least float32 (bf16 compute sends float32).
        """
        local_max = stats = None
        for hn, bias in parts:  # online merge over local chunks, as in forward_chunked
            scores, values = compress.scores(hn, bias)
            if scores.shape[-1] == 0:
                # An empty shard: no logits, zero statistics, but still in the autograd
                # graph, so that this rank joins the backward all-reduce too.
                chunk_max = scores.new_full((*scores.shape[:-1], 1), float("-inf")).detach()
            else:
                chunk_max = scores.detach().amax(dim=-1, keepdim=True)
            probs = torch.exp(scores - _safe(chunk_max))
            chunk = torch.cat([probs.sum(dim=-1, keepdim=True), probs @ values], dim=-1)
            chunk = chunk.to(torch.promote_types(chunk.dtype, torch.float32))
            if stats is None:
                local_max, stats = chunk_max, chunk
                continue
            new_max = torch.maximum(local_max, chunk_max)
            stats = self._rescale(stats, local_max, new_max) + self._rescale(chunk, chunk_max, new_max)
            local_max = new_max
        if stats is None:
            queries = compress.latent_queries
            n_head, n_latents, head_dim = queries.shape
            dtype = torch.promote_types(queries.dtype, torch.float32)
            local_max = queries.new_full((batch, n_head, n_latents, 1), float("-inf"), dtype=dtype)
            stats = queries.new_zeros((batch, n_head, n_latents, 1 + head_dim), dtype=dtype)
        global_max = local_max.clone()
        dist.all_reduce(global_max, op=dist.ReduceOp.MAX, group=self.group)
        stats = self._rescale(stats, local_max, global_max)
        return _AllReduceSum.apply(stats, self.group)

    @staticmethod
    def _rescale(stats: torch.Tensor, old_max: torch.Tensor, new_max: torch.Tensor) -> torch.Tensor:
        """Statistics against ``old_max`` re-expressed against ``new_max`` (>= old_max)."""
        scale = torch.where(torch.isfinite(old_max), torch.exp(old_max - _safe(new_max)), 0.0)
        return stats * scale.to(stats.dtype)


class DomainParallelLRSA(nn.Module):
    r"""Run an :class:`LRSA` with one mesh's points sharded over a process group.

    Every rank holds the same replicated ``model`` and a contiguous shard of each
    sample's points (any sizes, including uneven ones and empty shards; the batch is the
    same on every rank). The forward equals the single-process forward on the
    concatenated points, and the backward gives every rank the single-process parameter
    gradients (see the module docstring for the loss convention).

    Parameters
    ----------
    model : LRSA
        The model; its parameters must be identical on every rank (for example
        ``physicsnemo.domain_parallel.sync_module_over_mesh``). Meshes and point clouds
        only: structured grids use a convolution across shard borders.
    mesh : DeviceMesh | torch.distributed.ProcessGroup | None, optional, default=None
        The domain-parallel ranks: a 1-D ``DeviceMesh`` (``mesh["domain"]`` of a 2-D
        data x domain mesh) or a process group. ``None``: the world.
    reduce_gradients : bool, optional, default=True
        Sum parameter gradients over the domain group in the backward, so that each
        rank holds the full gradient. ``False`` leaves each rank's share, for a caller
        that reduces over a larger group itself (one all-reduce for data x domain).

    Forward
    -------
    fx : torch.Tensor | ShardTensor | None
        This rank's points, :math:`(B, N_r, C_{in})`, or a ``ShardTensor`` sharded on dim
        1 over ``mesh``. ``None`` or 0 channels when ``functional_dim=0``.
    embedding : torch.Tensor | ShardTensor | None
        :math:`(B, N_r, C_{emb})`, sharded like ``fx``.
    time : torch.Tensor | None
        :math:`(B,)`, the same on every rank.
    mask : torch.Tensor | ShardTensor | None
        :math:`(B, N_r)` bool, True on real points. A shard may hold only padding;
        every sample needs a real point somewhere on the mesh.
    weights : torch.Tensor | ShardTensor | None
        :math:`(B, N_r)` positive quadrature weights; normalized by their mean over all
        ranks' real points, as in the single-process model.
    chunk_size : int | None
        Without gradients, process the local points this many at a time (as
        :meth:`LRSA.forward_chunked`, with the features updated in place).

    Outputs
    -------
    torch.Tensor | ShardTensor
        :math:`(B, N_r, C_{out})` for this rank's points, a ``ShardTensor`` (same
        sharding) when ``fx`` or ``embedding`` was one.

    Examples
    --------
    Under ``torchrun --nproc_per_node=2`` (gloo on CPU, NCCL on GPUs):

    >>> mesh = torch.distributed.device_mesh.init_device_mesh("cpu", (2,))  # doctest: +SKIP
    >>> sharded = DomainParallelLRSA(model, mesh)  # doctest: +SKIP
    >>> local_out = sharded(local_fx, local_coords, weights=local_volumes)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: LRSA,
        mesh: DeviceMesh | dist.ProcessGroup | None = None,
        reduce_gradients: bool = True,
    ) -> None:
        super().__init__()
        from .lrsa import LRSA  # at call time: lrsa.py imports this module

        if not isinstance(model, LRSA):
            raise TypeError(f"DomainParallelLRSA: model must be an LRSA, got {type(model).__name__}")
        if model.structured_shape is not None:
            raise ValueError(
                "DomainParallelLRSA: structured grids use a convolutional point FFN that needs "
                "neighbors across shards; shard meshes or point clouds instead"
            )
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("DomainParallelLRSA: torch.distributed must be initialized first")
        self.model = model
        self.reduce_gradients = reduce_gradients
        self.device_mesh = None
        if DeviceMesh is not None and isinstance(mesh, DeviceMesh):
            if mesh.ndim != 1:
                raise ValueError(
                    f"DomainParallelLRSA: expects a 1-D mesh, got {mesh.ndim}-D; pass its "
                    'domain axis, e.g. mesh["domain"]'
                )
            self.device_mesh = mesh
            self.group = mesh.get_group()
        else:
            self.group = mesh if mesh is not None else dist.group.WORLD
        self._calls = 0

    @property
    def world_size(self) -> int:
        """Number of ranks the points are split over."""
        return dist.get_world_size(self.group)

    def unwrap(self) -> LRSA:
        """The sharded model, whose state checkpoints and exported models hold."""
        return self.model

    def forward(
        self,
        fx: Float[torch.Tensor, "B N_r C_in"] | None,
        embedding: Float[torch.Tensor, "B N_r C_emb"] | None = None,
        time: Float[torch.Tensor, " B"] | None = None,
        *,
        mask: Bool[torch.Tensor, "B N_r"] | None = None,
        weights: Float[torch.Tensor, "B N_r"] | None = None,
        chunk_size: int | None = None,
    ) -> Float[torch.Tensor, "B N_r C_out"]:
        template = next((t for t in (fx, embedding) if _is_shard_tensor(t)), None)
        fx, embedding, mask, weights = (self._local(t) for t in (fx, embedding, mask, weights))
        model = self.model
        fx = model._functional_input(fx, embedding)
        if chunk_size is not None and (chunk_size < 1 or torch.is_grad_enabled()):
            raise ValueError(
                "DomainParallelLRSA: chunk_size needs torch.no_grad() and must be >= 1, "
                f"got {chunk_size} with grad {'enabled' if torch.is_grad_enabled() else 'disabled'}"
            )
        self._validate(fx, embedding, time, mask, weights)

        runner = _ShardedForward(model, self.group)
        args = (fx, embedding, time, mask, weights, chunk_size)
        params = {f"model.{n}": p for n, p in model.named_parameters() if p.requires_grad}
        if self.reduce_gradients and torch.is_grad_enabled() and params:
            views = _SumGradientsOverGroup.apply(self.group, *params.values())
            out = torch.func.functional_call(runner, dict(zip(params, views)), args, strict=False)
        else:
            out = runner(*args)
        return out if template is None else self._like(out, template)

    # ---------------------------------------------------------------- helpers
    def _local(self, tensor):
        if not _is_shard_tensor(tensor):
            return tensor
        if self.device_mesh is not None and tensor.device_mesh != self.device_mesh:
            raise ValueError("DomainParallelLRSA: a ShardTensor input lives on another mesh")
        placement = tensor.placements[0]
        if len(tensor.placements) != 1 or not placement.is_shard() or placement.dim != 1:
            raise ValueError(
                f"DomainParallelLRSA: ShardTensor inputs must be sharded on the point dim "
                f"(Shard(1)) over a 1-D mesh, got {tensor.placements}"
            )
        return tensor.to_local()

    def _like(self, out: torch.Tensor, template) -> ShardTensor:
        """``out`` as a ShardTensor with ``template``'s point sharding (no communication)."""
        from torch.distributed.tensor.placement_types import Shard

        shard_shapes = template._spec.sharding_shapes(0)
        shapes = {0: [(*shape[:-1], out.shape[-1]) for shape in shard_shapes]}
        return ShardTensor.from_local(out, template.device_mesh, [Shard(1)], sharding_shapes=shapes)

    def _validate(self, fx, embedding, time, mask, weights) -> None:
        """Local shape checks, and value checks made collectively so all ranks agree."""
        self.model._validate_shapes(fx, embedding, time, mask, weights)
        self._calls += 1
        policy = self.model.input_value_checks
        due = policy == "always" or (
            policy in ("auto", "once") and (self._calls == 1 or (policy == "auto" and fx.device.type == "cpu"))
        )
        if not due:
            return
        # One collective: per sample the real-point count, then the count of bad weights
        # and the batch size (every rank must see the same batch).
        batch = fx.shape[0]
        real = torch.full((batch,), float(math.prod(fx.shape[1:-1])), device=fx.device)
        if mask is not None:
            real = mask.sum(dim=1).float()
        bad = torch.zeros(1, device=fx.device)
        if weights is not None:
            w = weights if mask is None else weights[mask]
            bad[0] = (~(torch.isfinite(w) & (w > 0))).sum().float()
        sizes = torch.tensor([batch, -batch], dtype=torch.float64, device=fx.device)
        dist.all_reduce(sizes, op=dist.ReduceOp.MAX, group=self.group)
        if sizes[0] != batch or -sizes[1] != batch:
            raise ValueError("DomainParallelLRSA: every rank must hold the same batch of samples")
        totals = torch.cat([real, bad])
        dist.all_reduce(totals, op=dist.ReduceOp.SUM, group=self.group)
        if not bool((totals[:batch] > 0).all()):
            raise ValueError("DomainParallelLRSA: mask marks no real point in at least one sample on any rank")
        if totals[batch] > 0:
            raise ValueError("DomainParallelLRSA: weights must be finite and > 0 on every real point of every rank")


def _is_shard_tensor(tensor) -> bool:
    return ShardTensor is not None and isinstance(tensor, ShardTensor)


class DomainParallelMixin:
    """Gives a model :class:`~modulus_lrsa.distributed.SupportsDomainParallel`'s
    ``domain_parallel``, so that a trainer can shard it without importing it."""

    def domain_parallel(
        self, mesh: DeviceMesh | dist.ProcessGroup | None = None, reduce_gradients: bool = True
    ) -> DomainParallelLRSA:
        """This model with each sample's points sharded over ``mesh`` (:class:`DomainParallelLRSA`).

        Raises
        ------
        ValueError
            The model runs on a structured grid, whose convolution needs neighbors across shards.
        """
        return DomainParallelLRSA(self, mesh, reduce_gradients)


class GatheredDomainParallelLRSA(nn.Module):
    r"""Inference on whole samples held by every rank: each rank computes a contiguous
    shard of the points with :class:`DomainParallelLRSA`, and the outputs are gathered.

    A drop-in for the model in an inference pipeline (``forward`` and
    ``forward_chunked`` as :class:`LRSA`'s), e.g. ``lrsa-predict --domain-parallel``
    under ``torchrun``. Compute and the :math:`(B, N, d)` features, the dominant memory,
    are split over the ranks; the inputs and the gathered output are on every rank.

    Parameters
    ----------
    model : LRSA
        The model, identical on every rank.
    mesh : DeviceMesh | torch.distributed.ProcessGroup | None, optional, default=None
        As in :class:`DomainParallelLRSA`.
    """

    structured_shape = None

    def __init__(self, model: LRSA, mesh: DeviceMesh | dist.ProcessGroup | None = None) -> None:
        super().__init__()
        self.sharded = DomainParallelLRSA(model, mesh, reduce_gradients=False)

    def unwrap(self) -> LRSA:
        """The model whose shards every rank computes."""
        return self.sharded.model

    @torch.no_grad()
    def forward(
        self,
        fx: Float[torch.Tensor, "B N C_in"] | None,
        embedding: Float[torch.Tensor, "B N C_emb"] | None = None,
        time: Float[torch.Tensor, " B"] | None = None,
        *,
        mask: Bool[torch.Tensor, "B N"] | None = None,
        weights: Float[torch.Tensor, "B N"] | None = None,
        chunk_size: int | None = None,
    ) -> Float[torch.Tensor, "B N C_out"]:
        """The full :math:`(B, N, C_{out})` output on every rank."""
        group = self.sharded.group
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        reference = fx if fx is not None else embedding
        sizes = shard_sizes(reference.shape[1], world)
        start = sum(sizes[:rank])
        part = slice(start, start + sizes[rank])

        def local(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t[:, part]

        out = self.sharded(local(fx), local(embedding), time, mask=local(mask), weights=local(weights),
                           chunk_size=chunk_size)
        # all_gather needs equal sizes: pad every shard to the largest, then trim.
        padded = out.new_zeros((out.shape[0], max(sizes), out.shape[-1]))
        padded[:, : out.shape[1]] = out
        gathered = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(gathered, padded.contiguous(), group=group)
        return torch.cat([g[:, :n] for g, n in zip(gathered, sizes)], dim=1)

    def forward_chunked(self, fx, embedding=None, time=None, *, mask=None, weights=None, chunk_size: int = 65536):
        """:meth:`forward` with each rank's points processed ``chunk_size`` at a time."""
        return self.forward(fx, embedding, time, mask=mask, weights=weights, chunk_size=chunk_size)
