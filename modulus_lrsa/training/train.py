# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``lrsa-train``: train LRSA (or any PhysicsNeMo operator with the same forward) with Hydra.

Single process::

    lrsa-train data=darcy data.path=datasets/darcy
    python -m modulus_lrsa.train model=transolver training.precision=bf16

Several processes (one per GPU, or CPU processes with the gloo backend); the global
``training.batch_size`` is split over them, so it must be a multiple of their number::

    torchrun --nproc_per_node=4 -m modulus_lrsa.train data=airfoil training=airfoil training.batch_size=4

``training.domain_parallel_size=k`` (LRSA only) shards each sample's points over groups
of k ranks and splits the batch over the world size / k data groups
(:mod:`modulus_lrsa.training.domain_parallel`)::

    torchrun --nproc_per_node=4 -m modulus_lrsa.train data=airfoil training=airfoil training.batch_size=2 \
        training.domain_parallel_size=2

The run reads top to bottom in :func:`run_training`: check the config, start the
process group, lock ``output_dir``, build the data, fill in the model's input/output
widths from it, instantiate the model, resume from the newest readable checkpoint of
the same run, then for every epoch train, validate, checkpoint and export the best
model. Everything is written to ``output_dir``, and nothing before the config has been
checked and the folder locked; launching the same command again continues where it
stopped, and one with ``training.epochs`` raised extends the run.

On the command line, errors the user can act on (config, data, a folder in use, a
checkpoint of another run) print as one message without a traceback, on rank 0 only;
``HYDRA_FULL_ERROR=1`` shows the traceback. Ctrl-C prints how to resume.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from physicsnemo.distributed import DistributedManager
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from modulus_lrsa.atomic import atomic_write_json, atomic_write_text
from modulus_lrsa.datapipes.collate import pad_collate
from modulus_lrsa.datapipes.sampler import CaseShardSampler
from modulus_lrsa.descriptor import MeshDescriptor
from modulus_lrsa.distributed import all_ranks_agree, launch_world_size, process_group
from modulus_lrsa.errors import ConfigError, LaunchError
from modulus_lrsa.surrogate import ModelInputs, autocast, to_device
from modulus_lrsa.training.checkpoint import atomic_save_module, unwrap_model
from modulus_lrsa.training.config import validate_config
from modulus_lrsa.training.data import TrainingData, build_training_data
from modulus_lrsa.training.domain_parallel import DomainParallelism, data_replica
from modulus_lrsa.training.lock import RunLock, RunLockedError
from modulus_lrsa.training.loggers import RunLogger
from modulus_lrsa.training.metrics import FieldErrorMeter, ForceErrorMeter, TrainingLoss, valid_entries
from modulus_lrsa.training.model_setup import build_model, model_config_for
from modulus_lrsa.training.overrides import FieldOverrideError, quote_field_selectors
from modulus_lrsa.training.reporting import Terminated, reported_errors
from modulus_lrsa.training.resume import (
    CHECKPOINTS_NAME,
    RunCheckpoints,
    RunState,
    StepCounters,
    ensure_epochs_reach_checkpoint,
    run_fingerprint,
)
from modulus_lrsa.training.step import TrainingStep, flat_points

#: Hydra's primary config folder: shipped inside the package, so ``lrsa-train`` works from
#: any folder and from an installed wheel (the checkout's ``conf/`` links to it).
CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
BEST_MODEL_NAME = "best_model.mdlus"
METRICS_NAME = "metrics.json"
#: The composed config of the latest launch, where Hydra would put it (``hydra/config.yaml``).
CONFIG_SNAPSHOT_NAME = "hydra"
#: Validation metric that selects the exported model (lower is better).
BEST_METRIC = "val/rel_l2/mean"


class NonFiniteLossError(LaunchError, RuntimeError):
    """Too many consecutive training steps produced a NaN/Inf loss or gradient."""


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------


@dataclass
class Precision:
    """Autocast dtype and gradient scaler for ``training.precision``.

    ``fp32`` runs without autocast; ``bf16`` autocasts with no scaler (its range
    matches fp32); ``fp16`` autocasts and scales the loss so small gradients do not
    flush to zero, skipping steps whose gradients overflow.
    """

    name: str
    device: torch.device
    scaler: torch.amp.GradScaler = field(init=False)

    def __post_init__(self) -> None:
        if self.name == "bf16" and self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("training.precision: bf16 needs a GPU with bfloat16 support (Ampere or newer); use fp16")
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.name == "fp16")

    def autocast(self) -> AbstractContextManager:
        return autocast(self.name, self.device)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    if not (dist.is_available() and dist.is_initialized()) or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= dist.get_world_size()
    return dict(zip(keys, tensor.tolist()))


# --------------------------------------------------------------------------------------
# One epoch of training, one pass of validation
# --------------------------------------------------------------------------------------


def train_one_epoch(
    epoch: int,
    model: torch.nn.Module,
    step: TrainingStep,
    loader: DataLoader,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    counters: StepCounters,
    cfg: DictConfig,
    log: RunLogger,
    device: torch.device,
    world_size: int,
    domain: DomainParallelism | None = None,
) -> dict[str, float]:
    """Run one epoch of optimizer steps; returns ``train/loss`` (and each opt-in loss term, e.g.
    ``train/force_loss``, unweighted) and throughput.

    With ``domain`` (``training.domain_parallel_size`` > 1) each batch is cut to this
    rank's shard of the points, the loss is that of the whole samples, and the
    gradient shares are reduced over the mesh after the backward.

    A step whose loss is NaN/Inf on any rank is skipped on every rank (no backward, no
    update); so is an fp32/bf16 step whose gradient norm is not finite. After
    ``training.max_consecutive_nonfinite`` such steps in a row the run stops with
    :class:`NonFiniteLossError`. fp16 overflows are the GradScaler's business: it skips
    the update and lowers the scale. ``step`` takes each step, eagerly or replaying a
    CUDA graph (``training.cuda_graphs``), by these same rules.
    """
    model.train()
    max_bad = int(cfg.training.max_consecutive_nonfinite)
    log_every = int(cfg.logging.log_every_steps)
    # A domain group trains one set of samples: they count once, their points once per shard.
    sample_replicas = world_size if domain is None else domain.data_size
    loss_sum, loss_steps, samples, points = 0.0, 0, 0, 0
    term_sums = dict.fromkeys(step.loss.terms, 0.0)
    started = time.perf_counter()
    progress = tqdm(
        total=len(loader),
        desc=f"epoch {epoch}/{cfg.training.epochs}",
        disable=not (log.is_root and cfg.logging.progress_bar),
        dynamic_ncols=True,
        leave=False,
        mininterval=1.0,
    )
    for batch in loader:
        batch = to_device(batch, device)
        if domain is not None:
            batch = domain.shard(batch)
        if step.inputs.padding_ignored(batch):
            log.warning(
                "the model's forward takes no mask, so padded points of differently sized "
                "cases take part in its attention; use eval/training batches of one case per rank "
                "or equal point counts for exact results"
            )
        result = step(batch)
        scheduler.step()
        counters.global_step += 1
        if result.step_ok:
            counters.consecutive_nonfinite = 0
            loss_sum += result.loss
            loss_steps += 1
            for name, value in result.terms.items():
                term_sums[name] += value
        else:
            counters.skipped_steps += 1
            counters.consecutive_nonfinite += 1
            cases = batch.get("case_id", batch.get("sample_index"))
            log.warning(
                f"epoch {epoch}, step {counters.global_step}: non-finite "
                f"{'loss' if not math.isfinite(result.loss) else 'gradient'} "
                f"({result.loss:.3g}); step skipped, parameters unchanged (samples: {cases})"
            )
            if counters.consecutive_nonfinite >= max_bad:
                raise NonFiniteLossError(
                    f"{counters.consecutive_nonfinite} consecutive training steps had a NaN/Inf loss or "
                    f"gradient (epoch {epoch}, up to step {counters.global_step}); stopping without "
                    "writing a checkpoint, so the last good one stays the newest. Check the data of the "
                    "samples above, lower training.optimizer.lr, keep training.grad_clip_norm set, or use "
                    "training.precision=bf16/fp32 (limit: training.max_consecutive_nonfinite)"
                )
        samples += result.samples
        points += result.points
        progress.update(1)
        if progress.n % 10 == 0 or progress.n == len(loader):
            elapsed = max(time.perf_counter() - started, 1e-9)
            progress.set_postfix(
                loss=f"{loss_sum / max(loss_steps, 1):.4f}",
                lr=f"{scheduler.get_last_lr()[0]:.2e}",
                samples_s=f"{samples * sample_replicas / elapsed:.1f}",
            )
        if counters.global_step % log_every == 0 and result.step_ok:
            log.scalars(
                {"train/step_loss": result.loss, "train/lr": scheduler.get_last_lr()[0], "train/grad_norm": result.grad_norm},
                counters.global_step,
            )
    progress.close()
    elapsed = time.perf_counter() - started
    means = {"train/loss": loss_sum}
    means.update({f"train/{name}": value for name, value in term_sums.items()})
    summary = _mean_over_ranks({key: value / loss_steps if loss_steps else float("nan") for key, value in means.items()}, device)
    summary["train/samples_per_s"] = samples * sample_replicas / elapsed
    summary["train/points_per_s"] = points * world_size / elapsed
    summary["train/epoch_time_s"] = elapsed
    summary["train/lr"] = scheduler.get_last_lr()[0]
    return summary


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    inputs: ModelInputs,
    loader: DataLoader,
    data: TrainingData,
    precision: Precision,
    device: torch.device,
    chunk_points: int,
    prefix: str = "val/",
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Errors on the validation set, summed over ranks (each rank holds disjoint cases).

    Returns
    -------
    metrics : dict
        ``val/loss`` (the training loss on normalized targets), ``val/rel_l2/<field>``
        (relative L2 per field in physical units) and their mean ``val/rel_l2/mean``;
        for data with both, the same split into ``val/volume_rel_l2/<field>`` and
        ``val/surface_rel_l2/<field>`` (volume cells / wall faces only);
        with lift/drag configured, the force errors of
        :meth:`~modulus_lrsa.training.metrics.ForceErrorMeter.results` (``val/Cd_abs_error``,
        ``val/Cd_r2``, ...; against coefficients integrated from the CFD fields).
    cases : list of dict
        With lift/drag configured, each case's coefficients, predicted and true
        (:meth:`~modulus_lrsa.training.metrics.ForceErrorMeter.per_case`); else empty.
    """
    model.eval()
    physical = FieldErrorMeter(data.target_names, device)
    normalized = FieldErrorMeter(data.target_names, device)
    surface = FieldErrorMeter(data.target_names, device)
    volume = FieldErrorMeter(data.target_names, device)
    forces = ForceErrorMeter()
    normalizer = data.target_normalizer
    for batch in loader:
        batch = to_device(batch, device)
        with precision.autocast():
            prediction = inputs.evaluate(unwrap_model(model), batch, chunk_points)
        prediction = flat_points(prediction).float()
        target = flat_points(batch["target"]).float()
        valid = valid_entries(batch, target)
        normalized.update(prediction, target, valid)
        # Free-stream scaled targets (airfoils: Cp, U / U_inf) back to physical units.
        scale = batch["target_scale"][:, None, :].float() if "target_scale" in batch else 1.0
        predicted_physical = normalizer.denormalize(prediction) * scale
        true_physical = normalizer.denormalize(target) * scale
        physical.update(predicted_physical, true_physical, valid)
        if "is_surface" in batch:
            on_surface = valid & batch["is_surface"].reshape(target.shape[0], -1, 1)
            surface.update(predicted_physical, true_physical, on_surface)
            volume.update(predicted_physical, true_physical, valid & ~on_surface)
        if data.forces is not None:
            rows = batch["is_surface"] & batch["mask"]
            for sample, case_id in enumerate(batch["case_id"]):
                values = predicted_physical[sample][rows[sample]].double().cpu().numpy()
                forces.update(*data.forces.coefficients(case_id, values), case_id=case_id)
    for meter in (physical, normalized, surface, volume):
        meter.all_reduce()
    metrics = {f"{prefix}loss": float((normalized.sums.sum() / normalized.counts.sum().clamp_min(1)).item())}
    field_errors = physical.results(f"{prefix}rel_l2/")
    metrics.update(field_errors)
    metrics[f"{prefix}rel_l2/mean"] = float(np.mean(list(field_errors.values())))
    if isinstance(mesh := data.model_descriptor, MeshDescriptor) and mesh.uses_volume and mesh.uses_surface:
        metrics.update(volume.results(f"{prefix}volume_rel_l2/"))
        metrics.update(surface.results(f"{prefix}surface_rel_l2/"))
    if data.forces is not None:
        forces.all_gather()
        metrics.update(forces.results(prefix))
    model.train()
    return metrics, forces.per_case()


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


def _loaders(
    data: TrainingData, cfg: DictConfig, manager: DistributedManager, domain: DomainParallelism | None
) -> tuple[DataLoader, DistributedSampler, DataLoader]:
    # Training samples go to data groups; the ranks of a domain group share theirs.
    replicas, replica = data_replica(domain, manager.world_size, manager.rank)
    per_rank_batch = cfg.training.batch_size // replicas
    workers = int(cfg.training.num_workers)
    pin = manager.device.type == "cuda"
    train_sampler = DistributedSampler(
        data.train, num_replicas=replicas, rank=replica, shuffle=True, seed=int(cfg.training.seed)
    )
    train_loader = DataLoader(
        data.train,
        batch_size=per_rank_batch,
        sampler=train_sampler,
        collate_fn=pad_collate,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=workers > 0,
    )
    # Every validation case exactly once across ranks (no padding by repetition), whole and
    # unsharded also under domain parallelism: evaluate() calls the unwrapped model.
    val_loader = DataLoader(
        data.validation,
        batch_size=int(cfg.training.eval_batch_size),
        sampler=CaseShardSampler(data.validation, num_replicas=manager.world_size, rank=manager.rank, shuffle=False),
        collate_fn=pad_collate,
        num_workers=workers,
        pin_memory=pin,
    )
    return train_loader, train_sampler, val_loader


def training_loss(cfg: DictConfig, data: TrainingData) -> TrainingLoss:
    """The objective of ``training.loss`` on this data (the relative L2 of the fields without the mapping).

    Raises
    ------
    ConfigError
        A term the data cannot serve (data built outside the config check: no lift/drag
        settings for the force term, no surface points for either).
    """
    settings = cfg.training.get("loss") or {}
    weight = float(settings.get("force_weight", 0.0))
    area_weighted = bool(settings.get("surface_area_weighted", False))
    # The descriptor says whether the samples hold surface points, as evaluate() reads it.
    if (weight > 0 or area_weighted) and not (isinstance(mesh := data.model_descriptor, MeshDescriptor) and mesh.uses_surface):
        raise ConfigError(f"training.loss: the force term and the area weights need surface points, and data "
                          f"'{data.name}' has none; use training.loss.force_weight=0 and surface_area_weighted=false")
    try:
        return TrainingLoss(weight, area_weighted, data.forces, data.target_names, data.target_normalizer)
    except ValueError as error:
        raise ConfigError(str(error)) from error


def _export_best(
    model: torch.nn.Module, data: TrainingData, output_dir: Path, epoch: int, metrics: dict[str, float]
) -> Path:
    path = atomic_save_module(model, output_dir / BEST_MODEL_NAME)
    replace(data.model_descriptor, epoch=epoch, metrics=metrics).write(path)
    return path


def run_training(cfg: DictConfig, data: TrainingData | None = None) -> dict[str, Any]:
    """Train as configured; the body of ``lrsa-train``.

    Parameters
    ----------
    cfg : DictConfig
        Composed config (``conf/config.yaml``).
    data : TrainingData, optional
        Pre-built data (e.g. wrapped datasets in tests); default: from ``cfg.data``.

    Returns
    -------
    dict
        The contents of ``<output_dir>/metrics.json``: best epoch and metrics, the last
        validation, and the validation history.

    Raises
    ------
    ConfigError
        A config value is unusable, ``data.path`` is being written by a dataset
        generator, or ``training.epochs`` ends before the newest checkpoint's epoch
        (raised before any training step and, for these checks, before anything is
        written).
    RunLockedError
        Another process is training in ``output_dir``.
    ResumeMismatchError
        ``output_dir`` holds checkpoints of a run with other data, model or schedule.
    CheckpointError
        ``output_dir`` holds checkpoints, none of which can be read back.
    DataError
        The data cannot be read as configured.
    NonFiniteLossError
        Training diverged (too many consecutive NaN/Inf steps).
    """
    validate_config(cfg, world_size=launch_world_size())
    if cfg.training.resume:
        ensure_epochs_reach_checkpoint(int(cfg.training.epochs), Path(str(cfg.output_dir)) / CHECKPOINTS_NAME)
    with process_group(str(cfg.training.device)) as manager, _locked_output_dir(Path(str(cfg.output_dir)), manager):
        return _train(cfg, manager, data)


@contextmanager
def _locked_output_dir(output_dir: Path, manager: DistributedManager) -> Iterator[None]:
    """Hold ``output_dir``'s lock on rank 0 for the run; every rank stops if rank 0 cannot get it."""
    lock = RunLock(output_dir) if manager.rank == 0 else None
    refusal: RunLockedError | None = None
    if lock is not None:
        try:
            lock.acquire()
        except RunLockedError as error:
            refusal = error
    try:
        if not all_ranks_agree(refusal is None, manager.device):
            raise refusal or RunLockedError(f"output_dir: {output_dir} is in use (rank 0 says by whom)")
        yield
    finally:
        if lock is not None:
            lock.release()


def _write_config_snapshot(cfg: DictConfig, output_dir: Path) -> None:
    """``hydra/config.yaml`` (and the command-line overrides under Hydra), like Hydra's own.

    Written by the trainer once the launch is known to train in this folder, so a launch
    refused for its config, a folder in use or a checkpoint of another run leaves the
    snapshot of the run that is there untouched.
    """
    folder = output_dir / CONFIG_SNAPSHOT_NAME
    atomic_write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    if HydraConfig.initialized():
        atomic_write_text(folder / "overrides.yaml", OmegaConf.to_yaml(HydraConfig.get().overrides.task))


def _train(cfg: DictConfig, manager: DistributedManager, data: TrainingData | None) -> dict[str, Any]:
    output_dir = Path(str(cfg.output_dir))
    device = manager.device
    domain_size = int(cfg.training.domain_parallel_size)
    domain = DomainParallelism.start(domain_size, manager.world_size, device) if domain_size > 1 else None
    replicas, replica = data_replica(domain, manager.world_size, manager.rank)
    if cfg.training.batch_size % replicas:
        raise ConfigError(
            f"training.batch_size: the global batch {cfg.training.batch_size} does not split evenly "
            f"over {replicas} data replicas; use a multiple of {replicas}"
        )
    precision = Precision(str(cfg.training.precision), device)
    # The ranks of a domain group draw from one stream, as they train the same samples.
    seed_everything(int(cfg.training.seed) + replica)
    log = RunLogger(cfg.logging, output_dir, cfg, manager)
    status = "FAILED"
    try:
        layout = "" if domain is None else f" (data x domain mesh {domain.data_size} x {domain.domain_size})"
        log.info(
            f"lrsa-train: {cfg.data.name} with {cfg.model._target_} on {manager.world_size} "
            f"process(es){layout}, device {device}, precision {precision.name}; output in {output_dir}"
        )

        # Data, then the model sized by it.
        if data is None:
            data = build_training_data(
                cfg.data, int(cfg.training.seed), is_writer=manager.rank == 0,
                all_ranks_agree=lambda ok: all_ranks_agree(ok, device),
            )
        if len(data.train) < replicas:
            raise ConfigError(f"data: {len(data.train)} training sample(s) cannot feed {replicas} data replicas")
        model_cfg = model_config_for(cfg.model, data)
        loss = training_loss(cfg, data)
        model, inputs = build_model(model_cfg, data, cfg, manager, domain, log)
        train_loader, train_sampler, val_loader = _loaders(data, cfg, manager, domain)
        optimizer = instantiate(cfg.training.optimizer)(model.parameters())

        # Resume from the newest readable checkpoint, if it belongs to this run.
        checkpoints = RunCheckpoints(
            output_dir / CHECKPOINTS_NAME, int(cfg.training.keep_checkpoints),
            run_fingerprint(cfg, data, model_cfg, len(train_loader)), manager.rank, manager.world_size, log,
        )
        state = checkpoints.resume(model, optimizer, precision.scaler, allowed=bool(cfg.training.resume))
        epochs = int(cfg.training.epochs)
        scheduler = None
        if state.epoch >= epochs:
            log.info(f"training already finished ({state.epoch}/{epochs} epochs); nothing to do")
        else:
            scheduler = checkpoints.scheduler(cfg, optimizer, len(train_loader), state)
        if manager.rank == 0:
            _write_config_snapshot(cfg, output_dir)

        run = _Run(cfg, manager, log, data, model, inputs, optimizer, scheduler, precision, domain, checkpoints, state, loss)
        stopped_by_time_limit = run.train_epochs(train_loader, train_sampler, val_loader)
        result = run.result(stopped_by_time_limit)
        if manager.rank == 0:
            atomic_write_json(output_dir / METRICS_NAME, result)
            log.artifact(output_dir / METRICS_NAME)
            if state.best_epoch is not None:
                log.artifact(output_dir / BEST_MODEL_NAME)
        log.success(
            f"done: best {BEST_METRIC} = {state.best_metric} at epoch {state.best_epoch}; "
            f"{state.counters.skipped_steps} step(s) skipped; model {output_dir / BEST_MODEL_NAME}"
        )
        status = "FINISHED"
        return result
    finally:
        log.close(status)


@dataclass
class _Run:
    """One launch once built and resumed: the epochs it trains, validates and checkpoints, and their record."""

    cfg: DictConfig
    manager: DistributedManager
    log: RunLogger
    data: TrainingData
    model: torch.nn.Module
    inputs: ModelInputs
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    precision: Precision
    domain: DomainParallelism | None
    checkpoints: RunCheckpoints
    state: RunState
    loss: TrainingLoss = field(default_factory=TrainingLoss)
    validation_seconds: float = 0.0
    #: The last validation's per-case force coefficients (this launch's; empty before one).
    validation_cases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_validation(self) -> dict[str, float]:
        return self.state.history[-1] if self.state.history else {}

    def train_epochs(self, train_loader: DataLoader, train_sampler: DistributedSampler, val_loader: DataLoader) -> bool:
        """Train from the restored epoch to ``training.epochs``; returns whether the time limit stopped it first."""
        cfg, log, state, device = self.cfg, self.log, self.state, self.manager.device
        epochs = int(cfg.training.epochs)
        time_limit = cfg.training.get("time_limit_minutes")
        deadline = time.monotonic() + 60.0 * float(time_limit) if time_limit else None
        # Built once the checkpoint is loaded (a captured step switches the optimizer to fused AdamW),
        # and kept across epochs, so a graph is captured once per launch.
        step = TrainingStep(
            self.model, self.inputs, self.optimizer, self.precision.name, self.precision.scaler,
            cfg.training.grad_clip_norm, agree=lambda ok: all_ranks_agree(ok, device), domain=self.domain,
            cuda_graphs=bool(cfg.training.cuda_graphs), warn=log.warning, loss=self.loss,
        )
        for epoch in range(state.epoch + 1, epochs + 1):
            epoch_started = time.monotonic()
            train_sampler.set_epoch(epoch)
            self.data.set_epoch(epoch)
            # Looked up in this module at call time, so that a benchmark can observe it.
            summary = train_one_epoch(
                epoch, self.model, step, train_loader, self.scheduler,
                state.counters, cfg, log, device, self.manager.world_size, self.domain,
            )
            log.scalars(summary, state.counters.global_step)
            message = (
                f"epoch {epoch}/{epochs}: train loss {summary['train/loss']:.4f}, "
                f"{summary['train/samples_per_s']:.1f} samples/s, {summary['train/epoch_time_s']:.1f} s"
            )
            # Stop before an epoch that would not finish in time (same decision on every rank);
            # what is still due: maybe this epoch's validation, the next epoch, maybe its validation.
            still_needed = time.monotonic() - epoch_started + 2.0 * self.validation_seconds
            next_epoch_fits = deadline is None or time.monotonic() + still_needed <= deadline
            stopped_by_time_limit = epoch < epochs and not all_ranks_agree(next_epoch_fits, device)
            last_epoch = epoch == epochs or stopped_by_time_limit
            if last_epoch or epoch % int(cfg.training.validate_every_epochs) == 0:
                message += self.validate(epoch, summary, val_loader)
            log.info(message)
            if last_epoch or epoch % int(cfg.training.checkpoint_every_epochs) == 0:
                self.checkpoints.save(epoch, self.model, self.optimizer, self.scheduler, self.precision.scaler, state)
            if stopped_by_time_limit:
                log.warning(
                    f"training.time_limit_minutes={time_limit}: epoch {epoch + 1} would end after the limit; "
                    f"stopped after epoch {epoch} with a checkpoint. Launch the same command again to continue."
                )
                return True
        return False

    def validate(self, epoch: int, summary: dict[str, float], val_loader: DataLoader) -> str:
        """Validate, record, export the model if best; returns a note for the epoch line."""
        started = time.monotonic()
        metrics, self.validation_cases = evaluate(
            self.model, self.inputs, val_loader, self.data, self.precision, self.manager.device,
            int(self.cfg.training.eval_chunk_points),
        )
        metrics.update({key: value for key, value in summary.items() if key.endswith("loss")})
        metrics["epoch"] = epoch
        state = self.state
        state.history.append(metrics)
        self.validation_seconds = time.monotonic() - started
        self.log.scalars({k: v for k, v in metrics.items() if k.startswith("val/")}, state.counters.global_step)
        note = f"; val rel L2 {metrics[BEST_METRIC]:.4f}"
        improved = state.best_metric is None or metrics[BEST_METRIC] < state.best_metric
        if improved and math.isfinite(metrics[BEST_METRIC]):
            state.best_metric, state.best_epoch = metrics[BEST_METRIC], epoch
            if self.manager.rank == 0:
                _export_best(self.model, self.data, Path(str(self.cfg.output_dir)), epoch, metrics)
            note += " (best so far, exported)"
        return note

    def result(self, stopped_by_time_limit: bool) -> dict[str, Any]:
        """What ``metrics.json`` holds."""
        cfg, state = self.cfg, self.state
        best_model = Path(str(cfg.output_dir)) / BEST_MODEL_NAME
        return {
            "experiment_name": str(cfg.experiment_name),
            "model": str(cfg.model._target_),
            "data": self.data.name,
            "epochs": int(cfg.training.epochs),
            "global_step": state.counters.global_step,
            "skipped_steps": state.counters.skipped_steps,
            "stopped_by_time_limit": stopped_by_time_limit,
            "best_epoch": state.best_epoch,
            "best_metric": {BEST_METRIC: state.best_metric},
            "best_model": str(best_model) if state.best_epoch is not None else None,
            "last_validation": self.last_validation,
            "last_validation_cases": self.validation_cases,
            "history": state.history,
        }


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(f"signal {signum}")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM unwind the run like Ctrl-C, so it stops with the resume hint.

    Without a handler Python dies at once, saying nothing. Checkpoints are whole either
    way (written to a temporary file, then renamed).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _hydra_entry(cfg: DictConfig) -> None:
    with _sigterm_as_interrupt(), reported_errors(cfg):
        run_training(cfg)


def main() -> None:
    """Console entry point (``lrsa-train``); Hydra parses ``key=value`` overrides."""
    try:
        sys.argv[1:] = quote_field_selectors(sys.argv[1:])
    except FieldOverrideError as error:
        print(f"lrsa-train: error: {error}", file=sys.stderr)
        sys.exit(2)
    _hydra_entry()


if __name__ == "__main__":
    main()
