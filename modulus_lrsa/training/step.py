# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""One optimizer step of ``lrsa-train``: forward under autocast, loss, backward, clipping, update.

:class:`TrainingStep` runs it in one of two ways:

* **eager** (``training.cuda_graphs=false``, the default): exactly the step the trainer has
  always taken. A loss that is NaN/Inf on any rank skips the backward and the update on
  every rank; an fp32/bf16 step whose gradient norm is not finite skips the update; fp16
  overflows are the GradScaler's business (it skips the update and lowers the scale).
* **captured** (``training.cuda_graphs=true``, CUDA only): forward, loss, backward, the
  GradScaler's unscale and the gradient clipping are recorded once in one CUDA graph and
  replayed every step, so the step's thousands of kernels launch as one. The optimizer
  update stays outside the graph (the learning-rate schedule changes it every step), as
  Adam/AdamW's fused kernel: a handful of launches. After a replay one host read fetches
  the loss and the gradient norm, and the same skip rules as above decide whether the
  update runs, so a skipped step leaves the parameters as they were.

A graph replays fixed tensor shapes. The trainer samples a fixed number of points per
case, so its batches repeat one shape; the first ``warmup_steps`` steps of a shape run
eagerly on a side stream (real steps, which also initialize cuBLAS, the allocator and
the model's own once-per-shape input checks), and the next step of the same shape is
captured. A batch of another shape (the smaller last batch of an epoch, a case with fewer
points than sampled) runs the eager step instead, on the same gradient buffers: exact,
only not faster.

PhysicsNeMo's ``StaticCaptureTraining`` is not used: it captures only models whose
``meta.cuda_graphs`` is true (LRSA's stays false until PhysicsNeMo's own CUDA-graph
validation has run for it), it owns its GradScaler, and it has no place for the
trainer's skip rules. This is the capture recipe of ``torch.cuda.graph`` instead: warm-up
on a side stream, static input buffers, gradients allocated inside the graph's pool and
never reset to ``None`` after the capture, autocast without its weight cache.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.amp.grad_scaler import OptState
from torch.nn.parallel import DistributedDataParallel

from modulus_lrsa.errors import ConfigError
from modulus_lrsa.surrogate import PRECISION_DTYPES, ModelInputs, autocast, takes_geometry_context
from modulus_lrsa.training.metrics import TrainingLoss

if TYPE_CHECKING:
    from modulus_lrsa.training.domain_parallel import DomainParallelism

CUDA_GRAPHS_KEY = "training.cuda_graphs"
#: Batch entries the step reads (the model's inputs, the target and the masks); the rest
#: (case ids, surface flags, target scales) stays out of the graph's static buffers, except
#: those the opt-in loss terms read (:attr:`TrainingLoss.batch_keys`).
STEP_KEYS = ("fx", "embedding", "mask", "weights", "target", "target_mask")
#: Eager steps of one batch shape before that shape is captured (PyTorch's recipe uses 3;
#: under DDP it would need 11, but a captured step runs in one process only).
WARMUP_STEPS = 3


def flat_points(tensor: torch.Tensor) -> torch.Tensor:
    """(B, *S, C) -> (B, N, C)."""
    return tensor.reshape(tensor.shape[0], -1, tensor.shape[-1])


@dataclass(frozen=True)
class StepResult:
    """What one step did.

    Attributes
    ----------
    loss : float
        The batch's loss (NaN/Inf when it was not finite).
    step_ok : bool
        The update ran (with fp16, unless the GradScaler skipped an overflow).
    grad_norm : float
        The global gradient norm before clipping; NaN when the backward was skipped.
    samples : int
        Samples in the batch.
    points : int
        Real (unpadded) points in the batch.
    terms : dict
        The loss's extra terms, unweighted (``force_loss``; empty with ``training.loss`` off).
    """

    loss: float
    step_ok: bool
    grad_norm: float
    samples: int
    points: int
    terms: dict[str, float] = field(default_factory=dict)


def use_fused_adam(optimizer: torch.optim.Optimizer) -> bool:
    """Switch Adam/AdamW to its fused kernel where the config left the choice to torch.

    Groups whose ``fused`` and ``foreach`` are both unset (torch's default) become fused; an
    explicit ``fused: false`` or ``foreach`` is kept. The optimizer may come from a
    checkpoint of an unfused run: its ``step`` counters move to the parameters' device as
    float32, where the fused kernel reads them (what ``load_state_dict`` does for a fused one).

    Returns
    -------
    bool
        Every parameter group now runs fused.
    """
    if not isinstance(optimizer, torch.optim.Adam) or any(g.get("differentiable") for g in optimizer.param_groups):
        return False
    for group in optimizer.param_groups:
        if group.get("fused") is None and group.get("foreach") is None:
            group["fused"] = True
            for parameter in group["params"]:
                state = optimizer.state.get(parameter)
                if state and "step" in state:
                    state["step"] = torch.as_tensor(state["step"]).to(device=parameter.device, dtype=torch.float32)
    fused = all(group.get("fused") is True for group in optimizer.param_groups)
    if fused:
        optimizer.defaults["fused"] = True
        # What Adam.__init__(fused=True) sets: the GradScaler hands it the inf flags instead of syncing.
        optimizer._step_supports_amp_scaling = True
    return fused


def check_cuda_graphs(cfg: DictConfig, world_size: int, report: Callable[[str, str], None]) -> None:
    """Refuse ``training.cuda_graphs=true`` where a captured step cannot run or would not be exact.

    Parameters
    ----------
    cfg : DictConfig
        The composed, resolved config.
    world_size : int
        Processes of the launch.
    report : callable
        ``report(key, message)``, called once per refusal (the config check's collector).
    """
    value = OmegaConf.select(cfg, CUDA_GRAPHS_KEY, default=False)
    if value is False:
        return
    if not isinstance(value, bool):
        report(CUDA_GRAPHS_KEY, f"expected true or false, got {value!r}")
        return

    def refuse(reason: str) -> None:
        report(CUDA_GRAPHS_KEY, f"true, but {reason}; or use {CUDA_GRAPHS_KEY}=false")

    device = OmegaConf.select(cfg, "training.device", default="auto")
    if device == "cpu":
        refuse("training.device=cpu: a CUDA graph records GPU kernels; use training.device=cuda or auto on a GPU")
    elif not torch.cuda.is_available():
        refuse("torch sees no CUDA GPU here, and a CUDA graph records GPU kernels")
    if world_size > 1:
        refuse(f"this launch has {world_size} processes: the captured step runs in one process "
               "(DDP's gradient all-reduce is not captured); launch a single process")
    domain = OmegaConf.select(cfg, "training.domain_parallel_size", default=1)
    if isinstance(domain, int) and not isinstance(domain, bool) and domain > 1:
        refuse(f"training.domain_parallel_size={domain} merges the sharded compression with collectives "
               "that are not captured; use training.domain_parallel_size=1")
    if OmegaConf.select(cfg, "training.compile", default=False) is True:
        refuse("training.compile=true also rewrites the step (one or the other); use training.compile=false")
    if OmegaConf.select(cfg, "data.kind", default=None) == "mesh":
        for points, fields in (("volume_points", "volume_fields"), ("surface_points", "surface_fields")):
            if OmegaConf.select(cfg, f"data.{points}", default=0) is None and OmegaConf.select(cfg, f"data.{fields}", default=None):
                refuse(f"data.{points}=null trains on whole cases, whose point counts differ, and a graph "
                       f"replays one shape; sample a fixed number, e.g. data.{points}=4096")
    target = OmegaConf.select(cfg, "model._target_", default=None)
    if isinstance(target, str) and _takes_geometry_context(target):
        refuse(f"model._target_ {target} reads its wall context by data-dependent indexing, which a "
               "graph cannot replay")


def _takes_geometry_context(target: str) -> bool:
    from hydra.utils import get_class

    try:
        forward = get_class(target).forward
    except (ImportError, ValueError, AttributeError):
        return False  # the model check names an unknown target
    return takes_geometry_context(inspect.signature(forward).parameters)


def _graph_autocast(precision: str, device: torch.device) -> AbstractContextManager:
    # A captured graph must not reuse autocast's cached weight casts across replays.
    dtype = PRECISION_DTYPES[precision]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype, cache_enabled=False)


class TrainingStep:
    """The training step, eager or captured in one CUDA graph (module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        The model as trained (possibly DDP-, domain- or compile-wrapped in eager mode).
    inputs : ModelInputs
        How the model takes a batch.
    optimizer : torch.optim.Optimizer
        Its optimizer. With ``cuda_graphs``, Adam/AdamW switch to the fused kernel
        (:func:`use_fused_adam`); build the step after a checkpoint has been loaded into it.
    precision : str
        ``fp32``, ``bf16`` or ``fp16``.
    scaler : torch.amp.GradScaler
        The loss scaler (enabled for fp16 only).
    grad_clip_norm : float or None
        Clip the global gradient norm to this (None: no clipping).
    agree : callable
        ``agree(flag)``: whether ``flag`` holds on every rank (a collective, so that all
        ranks skip a non-finite step together); ``lambda ok: ok`` in one process.
    domain : DomainParallelism, optional
        Domain parallelism (eager only): the loss over the whole samples, the gradient
        shares summed over the mesh.
    cuda_graphs : bool
        Capture the step (CUDA, one process, no domain parallelism).
    warmup_steps : int
        Eager steps of one batch shape before it is captured.
    warn : callable, optional
        Receives a one-line note, once, when a batch's shape differs from the one
        captured or being warmed up (that batch runs eagerly).
    loss : TrainingLoss, optional
        The objective (``training.loss``); default: the relative L2 of the fields alone.

    Raises
    ------
    ConfigError
        ``cuda_graphs`` where a graph cannot be captured; the message names ``training.cuda_graphs``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        inputs: ModelInputs,
        optimizer: torch.optim.Optimizer,
        precision: str,
        scaler: torch.amp.GradScaler,
        grad_clip_norm: float | None,
        *,
        agree: Callable[[bool], bool],
        domain: DomainParallelism | None = None,
        cuda_graphs: bool = False,
        warmup_steps: int = WARMUP_STEPS,
        warn: Callable[[str], None] | None = None,
        loss: TrainingLoss | None = None,
    ) -> None:
        self.model = model
        self.loss = TrainingLoss() if loss is None else loss
        self.keys = tuple(dict.fromkeys(STEP_KEYS + self.loss.batch_keys))
        self.inputs = inputs
        self.optimizer = optimizer
        self.precision = precision
        self.scaler = scaler
        self.clip = grad_clip_norm if grad_clip_norm is not None else math.inf
        self.agree = agree
        self.domain = domain
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.device = self.parameters[0].device
        self.loss_group = None if domain is None else domain.domain_group
        self.cuda_graphs = cuda_graphs
        self.warmup_steps = warmup_steps
        self._warn = warn
        self._warned = False
        # Capture state: the shape being warmed up and its count, then the graph and its buffers.
        self._pending: tuple | None = None
        self._pending_count = 0
        self._graph: torch.cuda.CUDAGraph | None = None
        self._signature: tuple | None = None
        self._static: dict[str, torch.Tensor] = {}
        self._checks: torch.Tensor | None = None
        self._grads: list[torch.Tensor | None] = []
        self._scaler_state: dict[str, Any] | None = None
        if cuda_graphs:
            self._refuse_unsupported()
            use_fused_adam(optimizer)
            self._side_stream = torch.cuda.Stream(self.device)

    def _refuse_unsupported(self) -> None:
        if self.device.type != "cuda":
            raise ConfigError(f"{CUDA_GRAPHS_KEY}: true, but the model is on {self.device}: a CUDA graph records GPU kernels")
        if self.domain is not None or isinstance(self.model, DistributedDataParallel):
            raise ConfigError(f"{CUDA_GRAPHS_KEY}: true, but the step is distributed (DDP or domain parallel): "
                              "the captured step runs in one process")
        if self.inputs.geometry_context:
            raise ConfigError(f"{CUDA_GRAPHS_KEY}: true, but the model's wall context is chosen by "
                              "data-dependent indexing, which a graph cannot replay")

    @property
    def captured(self) -> bool:
        """A graph has been captured (batches of its shape replay it)."""
        return self._graph is not None

    def __call__(self, batch: dict[str, Any]) -> StepResult:
        """One optimizer step on ``batch`` (on the model's device); the scheduler is the caller's."""
        batch = self.loss.prepare(batch)
        if not self.cuda_graphs:
            return self._eager(batch)
        signature = self._signature_of(batch)
        if self._graph is not None:
            if signature != self._signature:
                self._note(f"a batch of shapes {_shapes(signature)} differs from the captured {_shapes(self._signature)}")
                self._bind_grads()
                return self._eager(batch, keep_grads=True)
            return self._replay(batch)
        if signature != self._pending:
            if self._pending is not None:
                self._note(f"batch shapes changed from {_shapes(self._pending)} to {_shapes(signature)} before capture")
            self._pending, self._pending_count = signature, 0
        if self._pending_count < self.warmup_steps:
            self._pending_count += 1
            return self._warmup(batch)
        self._capture(batch, signature)
        return self._replay(batch)

    # ---------------------------------------------------------------- eager

    def _eager(self, batch: dict[str, Any], keep_grads: bool = False) -> StepResult:
        with autocast(self.precision, self.device):
            prediction = self.inputs(self.model, batch)
        target = flat_points(batch["target"])
        loss, terms = self.loss(flat_points(prediction), batch, self.loss_group)
        # keep_grads: zero the captured graph's gradient buffers in place; the backward adds into them.
        self.optimizer.zero_grad(set_to_none=not keep_grads)
        step_ok = self.agree(bool(torch.isfinite(loss.detach())))
        grad_norm = float("nan")
        if step_ok:
            self.scaler.scale(loss).backward()
            if self.domain is not None:
                self.domain.average_gradients(self.parameters)
            self.scaler.unscale_(self.optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.parameters, self.clip))
            step_ok = self._update(grad_norm)
        points = int(batch["mask"].sum()) if "mask" in batch else target.shape[0] * target.shape[1]
        terms = {name: float(value.detach()) for name, value in terms.items()}
        return StepResult(float(loss.detach()), step_ok, grad_norm, target.shape[0], points, terms)

    def _update(self, grad_norm: float) -> bool:
        """The update after a finite loss; False where a non-finite fp32/bf16 gradient skips it."""
        if not (math.isfinite(grad_norm) or self.scaler.is_enabled()):
            return False
        # With fp16 the scaler itself skips an overflowing step.
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return True

    # ---------------------------------------------------------------- captured

    def _signature_of(self, batch: dict[str, Any]) -> tuple:
        return (self.model.training, *(
            (key, tuple(batch[key].shape), batch[key].dtype)
            for key in self.keys if isinstance(batch.get(key), torch.Tensor)
        ))

    def _note(self, what: str) -> None:
        if self._warn is not None and not self._warned:
            self._warned = True
            self._warn(f"{CUDA_GRAPHS_KEY}: {what}; such batches run the eager step (exact, not faster). "
                       "Batches of one shape (a fixed number of points per case, a batch size that divides "
                       "the training set) replay the graph")

    def _warmup(self, batch: dict[str, Any]) -> StepResult:
        # Side stream: what the first steps initialize lazily belongs to no stream the capture uses.
        self._side_stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self._side_stream):
            result = self._eager(batch)
        torch.cuda.current_stream(self.device).wait_stream(self._side_stream)
        return result

    def _forward_backward_clip(self, static: dict[str, torch.Tensor]) -> torch.Tensor:
        """The captured part: loss, gradient norm (and real points where masked), then the loss's
        extra terms, as float64, on the device."""
        with _graph_autocast(self.precision, self.device):
            prediction = self.inputs(self.model, static)
        loss, terms = self.loss(flat_points(prediction), static)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.clip)
        checks = [loss.detach(), grad_norm] + ([static["mask"].sum()] if "mask" in static else [])
        checks += [terms[name].detach() for name in self.loss.terms]
        return torch.stack([value.double() for value in checks])

    def _capture(self, batch: dict[str, Any], signature: tuple) -> None:
        self._static = {key: batch[key].clone() for key in self.keys if isinstance(batch.get(key), torch.Tensor)}
        # Gradients are allocated inside the graph's pool, and every replay writes them.
        self.optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        # thread_local: a DataLoader's pin-memory thread may call CUDA while this thread captures.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self._checks = self._forward_backward_clip(self._static)
        self._grads = [p.grad for p in self.parameters]
        if self.scaler.is_enabled():
            # unscale_ ran inside the capture: keep its inf flags (rewritten by each replay) for
            # the updates after replays, and leave the scaler ready for an eager step.
            self._scaler_state = dict(self.scaler._per_optimizer_states.pop(id(self.optimizer)))
        self._graph, self._signature = graph, signature

    def _bind_grads(self) -> None:
        # The graph writes its own buffers: a zero_grad(set_to_none=True) elsewhere must not detach them.
        for parameter, grad in zip(self.parameters, self._grads):
            parameter.grad = grad

    def _replay(self, batch: dict[str, Any]) -> StepResult:
        for key, buffer in self._static.items():
            buffer.copy_(batch[key], non_blocking=True)
        self._bind_grads()
        self._graph.replay()
        loss, norm, *rest = self._checks.tolist()  # the step's one host read
        masked = rest[: int("mask" in self._static)]
        terms = dict(zip(self.loss.terms, rest[len(masked):]))
        target = self._static["target"]
        points = int(masked[0]) if masked else target.shape[0] * math.prod(target.shape[1:-1])
        step_ok = self.agree(math.isfinite(loss))
        grad_norm = float("nan")
        if step_ok:
            grad_norm = norm
            if self._scaler_state is not None:
                self.scaler._per_optimizer_states[id(self.optimizer)] = {
                    "stage": OptState.UNSCALED, "found_inf_per_device": dict(self._scaler_state["found_inf_per_device"])}
            step_ok = self._update(grad_norm)
        return StepResult(loss, step_ok, grad_norm, target.shape[0], points, terms)


def _shapes(signature: tuple | None) -> str:
    if signature is None:
        return "none"
    return ", ".join(f"{key} {tuple(shape)}" for key, shape, _ in signature[1:])
