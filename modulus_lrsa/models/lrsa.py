# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
r"""Low-Rank Spatial Attention (LRSA) neural operator.

Yang, Xin, Du, Liu, "Simple yet Effective: Low-Rank Spatial Attention for Neural
Operators", arXiv 2604.03582 (ICML 2026).

Every global mixing layer follows one low-rank template: compress the :math:`N` point
features into :math:`M` latent tokens (learned latent queries attend over the points),
mix globally among the latents (FFN, self-attention, FFN), and reconstruct at every point
(each point queries the latents with its own, decoupled, weights). Cost is
:math:`O(N M d + M^2 d)`, linear in :math:`N`, and every attention goes through
:func:`torch.nn.functional.scaled_dot_product_attention`, so fused kernels apply.

The model runs in either Modulus host: PhysicsNeMo (``import physicsnemo``, today's
NVIDIA Modulus) or the legacy ``nvidia-modulus`` 0.9 (``import modulus``).

The code follows PhysicsNeMo's own seam (its ``transolver.py`` holds the model and takes
its attention and MLP layers from ``physicsnemo.nn``): this file holds the model, its
:class:`MetaData` and the checks on its constructor arguments and inputs, including the
Transolver/GeoTransolver key advice; the LRSA block and the layers it is made of are in
:mod:`~modulus_lrsa.models.blocks`, and the attention numerics in
:mod:`~modulus_lrsa.models.attention`. The block names stay importable from here, where
earlier releases defined them.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn
from jaxtyping import Bool, Float
from torch.utils.checkpoint import checkpoint

from .attention import LOGIT_SCALE_RANGE, LogitScale, is_tracing, norm_dtype
from .blocks import (  # noqa: F401 (LatentSelfAttention, PointReconstruction, StructuredPointFFN, linear: kept importable here)
    ACTIVATIONS,
    MAX_FREQUENCIES,
    MLP,
    NORMS,
    FourierFeatures,
    LatentCompression,
    LatentSelfAttention,
    LRSABlock,
    PointReconstruction,
    StructuredPointFFN,
    TimeEmbedding,
    linear,
)
from .domain_parallel import DomainParallelMixin

try:
    from physicsnemo.core.meta import ModelMetaData
    from physicsnemo.core.module import Module
except ImportError:  # legacy host: nvidia-modulus 0.9
    from modulus.models.meta import ModelMetaData
    from modulus.models.module import Module

__all__ = ["LRSA", "LRSABlock", "MetaData"]


@dataclass
class MetaData(ModelMetaData):
    r"""What the LRSA model supports (each flag is exercised by the test suite)."""

    # PhysicsNeMo's test harness reads `jit` as torch.compile support: fullgraph is tested.
    jit: bool = True
    # Static shapes and no host syncs in the traced path, but capture has not been
    # verified on a GPU by this project's tests yet, so it is not claimed.
    cuda_graphs: bool = False
    amp: bool = True
    amp_cpu: bool = True
    amp_gpu: bool = True
    torch_fx: bool = False
    bf16: bool = True
    onnx: bool = True
    onnx_runtime: bool = True
    var_dim: int = -1
    func_torch: bool = False
    auto_grad: bool = True


#: Constructor keys of PhysicsNeMo's GeoTransolver (not Transolver's or FLARE's): its
#: separate geometry point cloud, global conditioning tokens, local ball-query features
#: and GALE attention variants, none of which LRSA has.
GEOTRANSOLVER_KEYS = (
    "geometry_dim", "global_dim", "include_local_features", "radii", "neighbors_in_radius",
    "n_hidden_local", "attention_type", "state_mixing_mode", "concrete_dropout",
)


def _require_int(name: str, value, low: int) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is an integer (not a bool) >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"LRSA: {name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"LRSA: {name} must be >= {low}, got {value}")


def _require_real(name: str, value) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is a finite real number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"LRSA: {name} must be a finite number, got {value!r}")


def _require_bool(name: str, value) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"LRSA: {name} must be True or False, got {value!r}")


def _reject_unknown_keys(name: str, accepted: set[str], kwargs: dict) -> None:
    """Raise a TypeError naming every constructor key ``name`` does not take, with what
    to do for GeoTransolver configs and for keys of a recipe's own wrapper class."""
    unknown = sorted(set(kwargs) - accepted)
    if not unknown:
        return
    geo = [key for key in unknown if key in GEOTRANSOLVER_KEYS]
    listed = ", ".join(repr(key) for key in unknown)
    if geo:
        advice = (
            f"{', '.join(map(repr, geo))} {'is a' if len(geo) == 1 else 'are'} GeoTransolver "
            f"key{'s' * (len(geo) > 1)}: "
            "LRSA has Transolver's and FLARE's interface (forward(fx, embedding, time)), not "
            "GeoTransolver's (local_embedding, geometry, global_embedding), and no separate "
            "geometry or global-feature input. Start from the recipe's Transolver or FLARE "
            "model config (embedding_dim = per-point coordinates and geometry, functional_dim "
            "= input fields, global values broadcast to every point into fx) and change its "
            "_target_ to modulus_lrsa.models.LRSA"
        )
    else:
        advice = (
            "if the config's _target_ was a recipe's own wrapper around Transolver (a "
            "subclass with extra arguments and its own forward), keep that wrapper and "
            "subclass LRSA the same way, taking its own keys out in __init__ before calling "
            "LRSA.__init__; otherwise remove the key"
        )
    raise TypeError(f"{name}: unexpected constructor argument(s) {listed}; {advice}")


class LRSA(DomainParallelMixin, Module):
    r"""Low-Rank Spatial Attention neural operator.

    A drop-in for PhysicsNeMo's ``Transolver`` and ``FLARE``: the constructor uses their
    names where the meaning is the same, and the forward takes the same
    ``(fx, embedding, time)``, plus an optional padding ``mask`` and quadrature
    ``weights``.

    Parameters
    ----------
    functional_dim : int
        Number of input field channels :math:`C_{in}` in ``fx`` (may be 0).
    out_dim : int
        Number of output channels :math:`C_{out}`.
    embedding_dim : int | None, optional, default=None
        Channels :math:`C_{emb}` of ``embedding`` (coordinates, then other per-point
        geometry such as normals or signed distance). ``None`` or 0: no embedding.
    n_layers : int, optional, default=8
        Number of LRSA blocks :math:`L`; each compresses afresh.
    n_hidden : int, optional, default=128
        Width :math:`d`.
    n_head : int, optional, default=8
        Attention heads :math:`h`; must divide ``n_hidden``.
    n_latents : int, optional, default=64
        Latent tokens :math:`M` per block (the rank of the global mixing).
    mlp_ratio : float, optional, default=2.0
        Hidden width of every FFN relative to ``n_hidden``.
    dropout : float, optional, default=0.0
        Dropout in FFNs and latent self-attention.
    act : str, optional, default="gelu"
        Activation: ``"gelu"``, ``"silu"``, ``"relu"`` or ``"tanh"``.
    norm : str, optional, default="layer"
        Normalization: ``"layer"`` (LayerNorm) or ``"rms"`` (RMSNorm).
    structured_shape : tuple[int, ...] | None, optional, default=None
        Grid shape ``(H, W)`` or ``(H, W, D)`` for structured data; the point FFN then
        uses a dense 3x3 (3x3x3) convolution. ``None`` for meshes and point clouds.
    time_input : bool, optional, default=False
        Accept a per-sample scalar ``time`` that is embedded and added to the features.
    n_frequencies : int, optional, default=8
        Sinusoidal frequencies per embedding channel; 0 feeds the raw embedding.
    logit_scale : float, optional, default=10.0
        Initial per-head attention logit scale :math:`\tau` in every attention
        (compression, latent self-attention, reconstruction), learned and clamped to
        [1, 100] (see :class:`LogitScale`). Logits are bounded by :math:`\tau`, whatever
        the head width, so compression latents can focus on small parts of the domain
        (walls, wakes) at any ``n_hidden / n_head``.
    qk_gain : float, optional, default=1.0
        Deprecated: the initial query-norm gain of earlier releases, which bounded the
        logits by ``qk_gain * sqrt(d_head)``. A value other than 1 warns and sets
        ``logit_scale = qk_gain * sqrt(d_head)``, the same initial bound.
    activation_checkpointing : bool, optional, default=False
        Recompute each block in the backward pass instead of storing its activations
        (less memory on large meshes, about one more forward of compute).

    Transolver compatibility
    ------------------------
    A PhysicsNeMo Transolver config instantiates LRSA when only ``_target_`` changes:

    slice_num : int | None, optional, default=None
        Transolver's name for the number of global tokens; used as ``n_latents`` when
        that is not given (``n_latents`` defaults to 64 when neither is).
    unified_pos, ref : optional
        Transolver's grid position encoding; LRSA takes coordinates through
        ``embedding``, so ``unified_pos`` must be False (``ref`` is then unused, as in
        Transolver).
    use_te : bool, optional, default=False
        LRSA needs no Transformer Engine: its attention runs through
        ``scaled_dot_product_attention`` kernels. True only warns.
    plus : bool, optional, default=False
        Transolver++ slicing has no LRSA counterpart; must be False.

    An argument of the wrong type or out of range raises a ``ValueError`` naming it and
    what it must be; any other key raises a ``TypeError`` naming it; both before
    anything is built. Keys of
    PhysicsNeMo's ``GeoTransolver`` (``geometry_dim``, ``global_dim``,
    ``include_local_features``, ...) describe its separate geometry and global inputs,
    which LRSA does not take: the error says to start from the recipe's Transolver or
    FLARE model config instead. A key that belongs to a recipe's own wrapper class (a
    Transolver subclass with extra arguments and its own ``forward``, such as a one-shot
    rollout taking ``num_time_steps``) needs the same wrapper around LRSA: subclass
    LRSA with an ``__init__(self, *args, **kwargs)`` that takes its keys out first.

    Forward
    -------
    fx : torch.Tensor | None
        Input fields, :math:`(B, N, C_{in})`, or :math:`(B, *S, C_{in})` on a structured
        grid of shape :math:`S`. With ``functional_dim=0`` (cases without input fields,
        e.g. geometry only) it may be ``None`` or have 0 channels; the point layout then
        comes from ``embedding``.
    embedding : torch.Tensor | None
        Per-point geometry, :math:`(B, N, C_{emb})` or :math:`(B, *S, C_{emb})`.
    time : torch.Tensor | None
        :math:`(B,)`, when ``time_input=True``.
    mask : torch.Tensor | None
        :math:`(B, N)` bool, True on real points. Padded points are excluded from the
        compression, so they cannot change real points' outputs; their own outputs are
        meaningless. Meshes and point clouds only.
    weights : torch.Tensor | None
        :math:`(B, N)` positive quadrature weights (cell volumes or areas). They weight
        the compression softmax so latents approximate integrals over the domain, robust
        to local mesh refinement. Only their ratios matter.

    Outputs
    -------
    torch.Tensor
        :math:`(B, N, C_{out})`, or :math:`(B, *S, C_{out})` when ``fx`` came in grid form.

    Examples
    --------
    >>> import torch
    >>> from modulus_lrsa.models import LRSA
    >>> model = LRSA(functional_dim=2, out_dim=3, embedding_dim=2, n_layers=2, n_hidden=64,
    ...              n_head=4, n_latents=16)
    >>> model(torch.randn(2, 500, 2), embedding=torch.rand(2, 500, 2)).shape
    torch.Size([2, 500, 3])
    """

    #: The block every layer is built from, with :class:`LRSABlock`'s keyword arguments.
    #: Ablation variants (:mod:`modulus_lrsa.models.ablations`) swap only this.
    block_class: ClassVar[type[LRSABlock]] = LRSABlock

    def __new__(cls, *args, **kwargs):
        # The host's Module.__new__ binds the arguments to ``cls.__init__`` (to record
        # them for checkpoints), so an unknown key fails there, before ``__init__`` could
        # name it with advice. Check first; a subclass taking **kwargs checks its own.
        init_parameters = inspect.signature(cls.__init__).parameters.values()
        if all(p.kind is not p.VAR_KEYWORD for p in init_parameters):
            _reject_unknown_keys(cls.__name__, {p.name for p in init_parameters}, kwargs)
        return super().__new__(cls, *args, **kwargs)

    def __init__(
        self,
        functional_dim: int,
        out_dim: int,
        embedding_dim: int | None = None,
        n_layers: int = 8,
        n_hidden: int = 128,
        n_head: int = 8,
        n_latents: int | None = None,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        act: str = "gelu",
        norm: str = "layer",
        structured_shape: tuple[int, ...] | list[int] | None = None,
        time_input: bool = False,
        n_frequencies: int = 8,
        logit_scale: float = 10.0,
        qk_gain: float = 1.0,
        activation_checkpointing: bool = False,
        slice_num: int | None = None,
        unified_pos: bool = False,
        ref: int = 8,
        use_te: bool = False,
        plus: bool = False,
    ) -> None:
        super().__init__(meta=MetaData())
        embedding_dim = embedding_dim or 0
        n_latents = self._resolve_transolver_args(n_latents, slice_num, unified_pos, use_te, plus)
        structured_shape = self._check_config(
            functional_dim, out_dim, embedding_dim, n_layers, n_hidden, n_head, n_latents, mlp_ratio, dropout, act,
            norm, structured_shape, n_frequencies, qk_gain, logit_scale, time_input, activation_checkpointing,
        )
        if qk_gain != 1.0:
            logit_scale = qk_gain * math.sqrt(n_hidden // n_head)
            warnings.warn(
                f"LRSA: qk_gain is deprecated; LRSA learns a per-head logit scale instead. qk_gain={qk_gain:g} "
                f"at head width {n_hidden // n_head} is logit_scale={logit_scale:.4g}, used here: pass that",
                FutureWarning,
                stacklevel=2,
            )
        self.functional_dim = functional_dim
        self.embedding_dim = embedding_dim
        self.out_dim = out_dim
        self.structured_shape = structured_shape
        self.time_input = time_input
        self.activation_checkpointing = activation_checkpointing

        self.fourier = FourierFeatures(n_frequencies)
        lift_in = functional_dim + (self.fourier.out_dim(embedding_dim) if embedding_dim else 0)
        self.lift = MLP(lift_in, 2 * n_hidden, n_hidden, act)
        self.time_embed = TimeEmbedding(n_hidden) if time_input else None
        self.blocks = nn.ModuleList(
            self.block_class(
                dim=n_hidden, n_head=n_head, n_latents=n_latents, mlp_ratio=mlp_ratio, dropout=dropout, act=act,
                norm=norm, structured_shape=self.structured_shape, logit_scale=logit_scale,
            )
            for _ in range(n_layers)
        )
        self.out_norm = NORMS[norm](n_hidden)
        self.head = MLP(n_hidden, n_hidden, out_dim, act)
        self.reset_parameters()

    @staticmethod
    def _resolve_transolver_args(n_latents, slice_num, unified_pos, use_te, plus) -> int:
        for name, flag in (("unified_pos", unified_pos), ("use_te", use_te), ("plus", plus)):
            _require_bool(name, flag)
        for name, count in (("n_latents", n_latents), ("slice_num", slice_num)):
            if count is not None:
                _require_int(name, count, 1)
        if n_latents is not None and slice_num is not None and n_latents != slice_num:
            raise ValueError(
                f"LRSA: n_latents ({n_latents}) and slice_num ({slice_num}) both set the "
                "number of latent tokens; give one"
            )
        if unified_pos:
            raise ValueError(
                "LRSA: unified_pos=True is not supported; pass coordinates through "
                "`embedding` (embedding_dim) instead"
            )
        if plus:
            raise ValueError("LRSA: plus=True (Transolver++ slicing) has no LRSA counterpart")
        if use_te:
            warnings.warn(
                "LRSA: use_te=True has no effect; attention runs through "
                "torch scaled_dot_product_attention kernels",
                stacklevel=3,
            )
        return next(m for m in (n_latents, slice_num, 64) if m is not None)

    @staticmethod
    def _check_config(
        functional_dim, out_dim, embedding_dim, n_layers, n_hidden, n_head, n_latents, mlp_ratio, dropout, act, norm,
        structured_shape, n_frequencies, qk_gain, logit_scale, time_input, activation_checkpointing,
    ) -> tuple[int, ...] | None:
        """Raise a ValueError naming the first argument that is of the wrong type or out of
        range, before anything is built; return ``structured_shape`` as a tuple (or None)."""
        for name, value, low in (("functional_dim", functional_dim, 0), ("out_dim", out_dim, 1),
                                 ("embedding_dim", embedding_dim, 0), ("n_layers", n_layers, 1),
                                 ("n_hidden", n_hidden, 1), ("n_head", n_head, 1), ("n_latents", n_latents, 1),
                                 ("n_frequencies", n_frequencies, 0)):
            _require_int(name, value, low)
        for name, value in (("mlp_ratio", mlp_ratio), ("dropout", dropout), ("qk_gain", qk_gain),
                            ("logit_scale", logit_scale)):
            _require_real(name, value)
        _require_bool("time_input", time_input)
        _require_bool("activation_checkpointing", activation_checkpointing)

        def require(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(f"LRSA: {message}")

        require(functional_dim + embedding_dim > 0,
                "functional_dim + embedding_dim must be > 0: the model needs some input")
        require(n_hidden % n_head == 0, f"n_hidden ({n_hidden}) must be a multiple of n_head ({n_head})")
        require(mlp_ratio > 0 and int(n_hidden * mlp_ratio) >= 1,
                f"mlp_ratio must be > 0 and leave the FFNs at least one hidden unit (int(n_hidden * mlp_ratio) >= 1), "
                f"got {mlp_ratio} at n_hidden={n_hidden}")
        require(0.0 <= dropout < 1.0, f"dropout must be in [0, 1), got {dropout}")
        require(isinstance(act, str) and act in ACTIVATIONS, f"act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
        require(isinstance(norm, str) and norm in NORMS, f"norm must be one of {sorted(NORMS)}, got {norm!r}")
        require(n_frequencies <= MAX_FREQUENCIES,
                f"n_frequencies must be <= {MAX_FREQUENCIES} (the frequency 2^k pi overflows float32 beyond), "
                f"got {n_frequencies}")
        require(qk_gain > 0, f"qk_gain must be > 0, got {qk_gain}")
        low, high = LOGIT_SCALE_RANGE
        require(low <= logit_scale <= high, f"logit_scale must be in [{low:g}, {high:g}], got {logit_scale}")
        if qk_gain != 1.0:
            implied = qk_gain * math.sqrt(n_hidden // n_head)
            require(low <= implied <= high, f"qk_gain={qk_gain:g} at head width {n_hidden // n_head} is logit_scale="
                                            f"{implied:.4g}, outside [{low:g}, {high:g}]")
        if structured_shape is None:
            return None
        iterable = hasattr(structured_shape, "__iter__") and not isinstance(structured_shape, (str, bytes))
        sizes = tuple(structured_shape) if iterable else ()
        require(len(sizes) in (2, 3) and all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0
                                             for n in sizes),
                f"structured_shape must be 2 or 3 positive integer sizes, got {structured_shape!r}")
        return tuple(int(n) for n in sizes)

    def reset_parameters(self) -> None:
        """Truncated-normal (std 0.02) linear weights, zero biases, orthogonal latent
        queries, unit qk-norm gains, logit scales at ``logit_scale``."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            if isinstance(module, LatentCompression):
                for head_queries in module.latent_queries.data:
                    nn.init.orthogonal_(head_queries)
            if isinstance(module, LogitScale):
                module.reset_parameters()

    # ------------------------------------------------------------------ inputs
    #: When :meth:`forward` checks input *values* (a real point in every sample, finite
    #: positive weights); shapes are always checked. Value checks read tensor contents,
    #: which on an accelerator is a host sync. ``"auto"``: every call on CPU tensors, once
    #: per input signature (shapes, dtypes, device, mode) on accelerators. ``"always"``,
    #: ``"once"`` (per signature, on any device) or ``"never"`` override it, per instance.
    input_value_checks: str = "auto"

    def _validate(self, fx, embedding, time, mask, weights) -> None:
        self._validate_shapes(fx, embedding, time, mask, weights)
        due, signature = self._value_checks_due(fx, embedding, mask, weights)
        if due:
            self._validate_values(mask, weights)
            if signature is not None:  # recorded only once its values passed
                self.__dict__.setdefault("_checked_signatures", set()).add(signature)

    def _value_checks_due(self, fx, embedding, mask, weights) -> tuple[bool, tuple | None]:
        """Whether this call runs the value checks under :attr:`input_value_checks`, and
        the input signature to record when they pass (``None``: nothing to record)."""
        policy = self.input_value_checks
        if policy not in ("auto", "always", "once", "never"):
            raise ValueError(
                f"LRSA: input_value_checks must be 'auto', 'always', 'once' or 'never', got {policy!r}"
            )
        if (mask is None and weights is None) or policy == "never":
            return False, None
        if policy == "always" or (policy == "auto" and fx.device.type == "cpu"):
            return True, None
        signature = (self.training, torch.is_grad_enabled()) + tuple(
            None if t is None else (tuple(t.shape), t.dtype, t.device)
            for t in (fx, embedding, mask, weights)
        )
        return signature not in self.__dict__.get("_checked_signatures", ()), signature

    def _validate_values(self, mask, weights) -> None:
        """Checks that read values: each sample has a real point; weights finite, > 0."""
        if mask is not None and not bool(mask.any(dim=1).all()):
            raise ValueError("LRSA.forward: mask marks no real point in at least one sample")
        if weights is not None:
            real = weights if mask is None else weights[mask]
            if not bool(torch.isfinite(real).all() and (real > 0).all()):
                raise ValueError("LRSA.forward: weights must be finite and > 0 on every real point")

    def _validate_shapes(self, fx, embedding, time, mask, weights) -> None:
        """Checks on shapes, dtypes and presence only: no tensor value is read."""
        def fail(message: str) -> None:
            raise ValueError(f"LRSA.forward: {message}")

        if fx is None:
            fail(f"fx is required: the model was built with functional_dim={self.functional_dim}")
        if fx.shape[-1] != self.functional_dim:
            fail(f"fx must have {self.functional_dim} channels in its last dim, "
                 f"got shape {tuple(fx.shape)}")
        if self.structured_shape is not None:
            grid_form = tuple(fx.shape[1:-1]) == self.structured_shape
            flat_form = fx.ndim == 3 and fx.shape[1] == math.prod(self.structured_shape)
            if not (grid_form or flat_form):
                fail(f"fx must be (B, *{self.structured_shape}, C) or (B, "
                     f"{math.prod(self.structured_shape)}, C) for structured_shape="
                     f"{self.structured_shape}, got {tuple(fx.shape)}")
            if mask is not None:
                fail("mask is not supported on structured grids (all grid points are real)")
        elif fx.ndim != 3:
            fail(f"fx must be (B, N, C) for meshes/point clouds, got {tuple(fx.shape)}")
        n_points = math.prod(fx.shape[1:-1])
        if self.embedding_dim:
            if embedding is None:
                fail(f"embedding is required: the model was built with "
                     f"embedding_dim={self.embedding_dim}")
            if (embedding.shape[0] != fx.shape[0] or embedding.shape[-1] != self.embedding_dim
                    or math.prod(embedding.shape[1:-1]) != n_points):
                fail(f"embedding must be (B, N, {self.embedding_dim}) matching fx "
                     f"{tuple(fx.shape)}, got {tuple(embedding.shape)}")
        elif embedding is not None:
            fail("embedding was given but the model was built with embedding_dim=None")
        if self.time_input and time is None:
            fail("time is required: the model was built with time_input=True")
        if time is not None:
            if not self.time_input:
                fail("time was given but the model was built with time_input=False")
            if time.numel() != fx.shape[0]:
                fail(f"time must be (B,) with B={fx.shape[0]}, got {tuple(time.shape)}")
        batch_points = (fx.shape[0], n_points)
        if mask is not None:
            if mask.dtype != torch.bool or tuple(mask.shape) != batch_points:
                fail(f"mask must be a bool tensor of shape {batch_points}, "
                     f"got {mask.dtype} {tuple(mask.shape)}")
        if weights is not None and tuple(weights.shape) != batch_points:
            fail(f"weights must have shape {batch_points}, got {tuple(weights.shape)}")

    def _compression_bias(
        self, mask: torch.Tensor | None, weights: torch.Tensor | None, sum_over_shards=None
    ) -> torch.Tensor | None:
        """Additive (B, 1, 1, N) bias for the compression softmax: log weights, -inf pads.

        ``sum_over_shards`` (domain parallelism) maps the per-sample (B, 2) weight sum and
        real-point count of this shard to those of the whole mesh, so every shard divides
        by the same mean.
        """
        if mask is None and weights is None:
            return None
        if weights is None:
            bias = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
        else:
            weights = weights.to(norm_dtype(weights))  # float64 weights keep float64 log-weights
            if mask is not None:
                weights = torch.where(mask, weights, torch.ones_like(weights))
            # Scale-free: dividing by the mean keeps log-weights near 0, which bf16 holds well.
            real = mask if mask is not None else torch.ones_like(weights, dtype=torch.bool)
            if sum_over_shards is None:
                mean = (weights * real).sum(1, keepdim=True) / real.sum(1, keepdim=True)
            else:
                totals = sum_over_shards(torch.stack([(weights * real).sum(1), real.sum(1).float()], 1))
                mean = totals[:, :1] / totals[:, 1:]
            bias = torch.log(weights / mean)
        if mask is not None:
            bias = bias.masked_fill(~mask, float("-inf"))
        return bias[:, None, None, :]

    def _lift(self, fx, embedding, time, rows: bool = False) -> torch.Tensor:
        """Lifted point features (B, N, d), or their (B N, d) rows with ``rows``."""
        features = fx
        if self.embedding_dim:
            features = torch.cat([fx, self.fourier(embedding)], dim=-1)
        batch, n_points = features.shape[:2]
        h = self.lift(features.reshape(batch * n_points, features.shape[-1]) if rows else features)
        if self.time_embed is not None:
            lifted = h.view(batch, n_points, h.shape[-1]) if rows else h
            h = lifted + self.time_embed(time).unsqueeze(1).to(h.dtype)
            h = h.view(batch * n_points, h.shape[-1]) if rows else h
        return h

    def _functional_input(self, fx, embedding) -> torch.Tensor:
        """``fx`` as given, or its 0-channel stand-in shaped like ``embedding`` when
        ``functional_dim=0`` and ``fx`` is None, so one code path serves both."""
        if fx is not None or self.functional_dim != 0 or embedding is None:
            return fx
        return embedding.new_zeros((*embedding.shape[:-1], 0))

    def _flatten(self, fx, embedding):
        # Explicit point counts: a -1 cannot be inferred from a 0-channel fx.
        n_points = math.prod(fx.shape[1:-1])
        flat_fx = fx.reshape(fx.shape[0], n_points, fx.shape[-1])
        if embedding is not None:
            embedding = embedding.reshape(embedding.shape[0], n_points, embedding.shape[-1])
        return flat_fx, embedding

    # ----------------------------------------------------------------- forward
    def forward(
        self,
        fx: Float[torch.Tensor, "B *spatial C_in"] | None,
        embedding: Float[torch.Tensor, "B *spatial C_emb"] | None = None,
        time: Float[torch.Tensor, " B"] | None = None,
        *,
        mask: Bool[torch.Tensor, "B N"] | None = None,
        weights: Float[torch.Tensor, "B N"] | None = None,
    ) -> Float[torch.Tensor, "B *spatial C_out"]:
        r"""Predict output fields at every input point.

        Parameters
        ----------
        fx : torch.Tensor | None
            :math:`(B, N, C_{in})` or :math:`(B, *S, C_{in})`; ``None`` (or 0 channels)
            when ``functional_dim=0``.
        embedding : torch.Tensor | None
            :math:`(B, N, C_{emb})` or :math:`(B, *S, C_{emb})`.
        time : torch.Tensor | None
            :math:`(B,)`.
        mask : torch.Tensor | None
            :math:`(B, N)` bool, True on real points.
        weights : torch.Tensor | None
            :math:`(B, N)` positive quadrature weights.

        Returns
        -------
        torch.Tensor
            :math:`(B, N, C_{out})` or :math:`(B, *S, C_{out})`, the layout of ``fx``.
        """
        fx = self._functional_input(fx, embedding)
        if not is_tracing():
            self._validate(fx, embedding, time, mask, weights)
        out_shape = (*fx.shape[:-1], self.out_dim)
        flat_fx, embedding = self._flatten(fx, embedding)
        bias = self._compression_bias(mask, weights)
        checkpointing = self.activation_checkpointing and self.training and torch.is_grad_enabled()
        if not checkpointing and all(block.fused() and not (block._forward_hooks or block._forward_pre_hooks)
                                     for block in self.blocks):
            # (B N, d) rows from the lift through every block to the head: no reshapes between
            # layers, forward or backward (each block's two and each 3-D linear's four).
            h = self._lift(flat_fx, embedding, time, rows=True)
            for block in self.blocks:
                h = block.forward_rows(h, bias, flat_fx.shape[0])
        else:
            h = self._lift(flat_fx, embedding, time)
            for block in self.blocks:
                h = checkpoint(block, h, bias, use_reentrant=False) if checkpointing else block(h, bias)
        return self.head(self.out_norm(h)).reshape(out_shape)

    @torch.no_grad()
    def forward_chunked(
        self,
        fx: Float[torch.Tensor, "B N C_in"] | None,
        embedding: Float[torch.Tensor, "B N C_emb"] | None = None,
        time: Float[torch.Tensor, " B"] | None = None,
        *,
        mask: Bool[torch.Tensor, "B N"] | None = None,
        weights: Float[torch.Tensor, "B N"] | None = None,
        chunk_size: int = 65536,
        out: Float[torch.Tensor, "B N C_out"] | None = None,
    ) -> Float[torch.Tensor, "B N C_out"]:
        r"""Exact inference over huge meshes, ``chunk_size`` points at a time.

        Each block's compression softmax is accumulated over chunks with an online
        (running-max) merge, the latents are processed once, and reconstruction plus
        point FFN run chunk by chunk. The result equals :meth:`forward` to float
        tolerance.

        Memory: one :math:`(B, N, d)` feature buffer, allocated once and updated in
        place (in the lifted features' dtype, so bf16 under autocast), the output, and
        temporaries of one chunk. The output is written chunk by chunk into ``out``
        when given, e.g. a tensor over a memory-mapped file, so it need not be in RAM.

        Parameters
        ----------
        fx, embedding, time, mask, weights
            As in :meth:`forward` (meshes and point clouds only).
        chunk_size : int, optional, default=65536
            Points per chunk.
        out : torch.Tensor | None, optional, default=None
            :math:`(B, N, C_{out})` tensor to write the result into (cast to its dtype).

        Returns
        -------
        torch.Tensor
            :math:`(B, N, C_{out})`, ``out`` when given.
        """
        if self.structured_shape is not None:
            raise ValueError(
                "LRSA.forward_chunked: structured grids use a convolutional point FFN that "
                "needs neighbors across chunks; call forward() instead"
            )
        if chunk_size < 1:
            raise ValueError(f"LRSA.forward_chunked: chunk_size must be >= 1, got {chunk_size}")
        fx = self._functional_input(fx, embedding)
        self._validate(fx, embedding, time, mask, weights)
        batch, n_points = fx.shape[0], fx.shape[1]
        if n_points == 0:
            raise ValueError("LRSA.forward_chunked: the input has no points")
        if out is not None and tuple(out.shape) != (batch, n_points, self.out_dim):
            raise ValueError(
                f"LRSA.forward_chunked: out must have shape {(batch, n_points, self.out_dim)}, "
                f"got {tuple(out.shape)}"
            )
        bias = self._compression_bias(mask, weights)
        chunks = [slice(start, start + chunk_size) for start in range(0, n_points, chunk_size)]

        def points(t: torch.Tensor | None, part: slice) -> torch.Tensor | None:
            return None if t is None else t[:, part]

        h = None
        for c in chunks:
            lifted = self._lift(fx[:, c], points(embedding, c), time)
            if h is None:
                h = lifted.new_empty((batch, n_points, lifted.shape[-1]))
            h[:, c] = lifted
            del lifted
        for block in self.blocks:
            running_max = normalizer = weighted = None
            for c in chunks:
                chunk_max, chunk_sum, chunk_weighted = block.compress.partial_softmax(
                    block.point_norm(h[:, c]), None if bias is None else bias[..., c]
                )
                if running_max is None:
                    running_max, normalizer, weighted = chunk_max, chunk_sum, chunk_weighted
                    continue
                new_max = torch.maximum(running_max, chunk_max)
                old_scale = torch.exp(running_max - new_max)
                new_scale = torch.exp(chunk_max - new_max)
                normalizer = normalizer * old_scale + chunk_sum * new_scale
                weighted = weighted * old_scale + chunk_weighted * new_scale
                running_max = new_max
            latent_kv = block.process_latents(block.compress.finish(weighted, normalizer))
            for c in chunks:
                h[:, c] = block.expand(h[:, c], block.point_norm(h[:, c]), latent_kv)
        for c in chunks:
            y = self.head(self.out_norm(h[:, c]))
            if out is None:
                out = y.new_empty((batch, n_points, self.out_dim))
            out[:, c] = y
        return out
