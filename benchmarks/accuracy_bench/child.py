# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""What a child process measures: one training run through lrsa-train, or the compared
models' epochs side by side. Each child is a fresh process, so its peak memory and wall
time are its own; it prints its result as one :data:`RESULT_MARKER` line."""

from __future__ import annotations

import json
import math
import statistics
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .configs import overrides, run_definition, training_config
from .protocols import Protocol, RunSpec

#: Starts the line that carries a child's result (JSON) in its log.
RESULT_MARKER = "ACCURACY_RESULT "


def print_result(result: dict[str, Any]) -> None:
    """Hand a child's result to its parent, which reads the log (see :func:`runner.logged_result`)."""
    print(RESULT_MARKER + json.dumps(result), flush=True)


def _status_kib(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {name}")


def run_child(protocol: Protocol, spec: RunSpec, time_limit_s: float | None = None) -> dict[str, Any]:
    """Train one run with lrsa-train's run_training and return what the tables need.

    With ``time_limit_s`` this launch is one slice of a wall-clock run: lrsa-train stops
    before an epoch that would end after the limit, with a checkpoint the next launch of
    the same run resumes from (``stopped_by_time_limit`` in the result).
    """
    import torch
    from hydra.utils import instantiate

    from modulus_lrsa.training import train as trainer
    from modulus_lrsa.training.data import build_training_data
    from modulus_lrsa.training.train import BEST_METRIC

    if protocol.threads is not None:
        torch.set_num_threads(protocol.threads)
    cfg = training_config(protocol, spec, time_limit_s)
    data = build_training_data(cfg.data, spec.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parameters = sum(
            p.numel() for p in instantiate(trainer.model_config_for(cfg.model, data), _convert_="partial").parameters()
        )

    # Observe (not change) the trainer: keep each epoch's training summary.
    epoch_summaries: list[dict[str, float]] = []
    train_one_epoch = trainer.train_one_epoch

    def recording_train_one_epoch(epoch, *args, **kwargs):
        summary = train_one_epoch(epoch, *args, **kwargs)
        epoch_summaries.append({"epoch": epoch, **summary})
        return summary

    trainer.train_one_epoch = recording_train_one_epoch
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base_bytes = torch.cuda.memory_allocated()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        base_kib = _status_kib("VmRSS")
    started = time.perf_counter()
    diverged, error = False, None
    try:
        metrics = trainer.run_training(cfg, data)
    except trainer.NonFiniteLossError as exc:
        diverged, error, metrics = True, str(exc), {}
    wall = time.perf_counter() - started
    peak_mib = (
        (torch.cuda.max_memory_allocated() - base_bytes) / 2**20 if cuda else (_status_kib("VmHWM") - base_kib) / 1024
    )
    last = metrics.get("last_validation", {})
    field_errors = {
        k.removeprefix("val/rel_l2/"): v for k, v in last.items() if k.startswith("val/rel_l2/") and k != BEST_METRIC
    }
    if field_errors and not all(math.isfinite(v) for v in field_errors.values()):
        diverged = True
    epoch_times = [s["train/epoch_time_s"] for s in epoch_summaries]
    return {
        "run_id": spec.run_id,
        "spec": asdict(spec),
        "definition": run_definition(protocol, spec),
        "target": str(cfg.model._target_),
        "parameters": parameters,
        "overrides": overrides(protocol, spec, time_limit_s),
        # Which data: the selection dataset settings are chosen on, or a confirmation one.
        "dataset": protocol.data.record(),
        "diverged": diverged,
        "stopped_by_time_limit": bool(metrics.get("stopped_by_time_limit", False)),
        "epochs_done": last.get("epoch"),
        "error": error,
        "test_rel_l2": field_errors,
        # Everything the last validation measured (volume/surface split, Cl/Cd errors).
        "test_metrics": {k.removeprefix("val/"): v for k, v in last.items()},
        # With forces on: each test case's coefficients, predicted and from the CFD.
        "test_cases": metrics.get("last_validation_cases", []),
        "skipped_steps": metrics.get("skipped_steps"),
        "val_history": [
            {"epoch": h["epoch"], "rel_l2": h["val/rel_l2/mean"], "loss": h["val/loss"]}
            for h in metrics.get("history", [])
        ],
        "train_history": [
            {"epoch": s["epoch"], "loss": s["train/loss"], "seconds": s["train/epoch_time_s"]} for s in epoch_summaries
        ],
        "epoch_seconds_median": statistics.median(epoch_times) if epoch_times else None,
        "epochs_timed": len(epoch_times),
        "wall_seconds": wall,
        "peak_memory_mib": peak_mib,
        "peak_memory_kind": "cuda max_memory_allocated" if cuda else "CPU VmHWM rise over VmRSS",
        "device": "cuda" if cuda else "cpu",
        "torch_threads": torch.get_num_threads(),
    }


def time_epochs_child(protocol: Protocol, rounds: int) -> dict[str, Any]:
    """Training time per epoch of the compared models, side by side in one process.

    Wall times of separate runs on a shared machine move with its load; here the models
    take turns (one epoch each per round, the order rotating every round), so load changes
    hit all of them alike. An epoch is what lrsa-train does per epoch without validation:
    every batch of the training split through forward, relative-L2 loss, backward,
    gradient clipping and an AdamW step.
    """
    import torch
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader

    from modulus_lrsa.datapipes.collate import pad_collate
    from modulus_lrsa.training import train as trainer
    from modulus_lrsa.training.data import build_training_data
    from modulus_lrsa.training.metrics import relative_l2_loss, valid_entries

    if protocol.threads is not None:
        torch.set_num_threads(protocol.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    setups = {}
    for name in protocol.models:
        spec = RunSpec(name, protocol.seeds[0], "fp32", protocol.n_latents, protocol.epochs)
        cfg = training_config(protocol, spec)
        data = build_training_data(cfg.data, spec.seed)
        torch.manual_seed(spec.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = instantiate(trainer.model_config_for(cfg.model, data), _convert_="partial").to(device)
        optimizer = instantiate(cfg.training.optimizer)(model.parameters())
        loader = DataLoader(data.train, batch_size=protocol.batch_size, shuffle=True, collate_fn=pad_collate)
        setups[name] = (model, trainer.ModelInputs(model), optimizer, loader, float(cfg.training.grad_clip_norm))

    def one_epoch(name: str) -> float:
        model, inputs, optimizer, loader, clip = setups[name]
        started = time.perf_counter()
        for batch in loader:
            batch = trainer.to_device(batch, device)
            prediction = inputs(model, batch)
            target = batch["target"].flatten(1, -2)
            loss = relative_l2_loss(prediction.flatten(1, -2), target, valid_entries(batch, target))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    for name in protocol.models:  # warm-up epoch (allocator, kernels)
        one_epoch(name)
    seconds: dict[str, list[float]] = {name: [] for name in protocol.models}
    for round_index in range(rounds):
        shift = round_index % len(protocol.models)
        order = protocol.models[shift:] + protocol.models[:shift]
        for name in order:
            seconds[name].append(one_epoch(name))
    return {"rounds": rounds, "seconds": seconds, "device": device.type, "torch_threads": torch.get_num_threads()}


def recorded_output_dir(run: dict[str, Any]) -> Path:
    """The trainer's output folder of a stored run, as its launch named it."""
    for override in run["overrides"]:
        if override.startswith("output_dir="):
            return Path(override.removeprefix("output_dir="))
    raise ValueError(f"run {run['run_id']}: its overrides name no output_dir")


def evaluate_test_cases(protocol: Protocol, run: dict[str, Any]) -> list[dict[str, Any]]:
    """Each test case's force coefficients from a finished run's last model, for runs stored before
    ``test_cases`` was recorded.

    The model is the checkpoint of the run's last epoch, the one its ``test_metrics`` come
    from; evaluated again through lrsa-train's own validation, it must give the same mean
    error, or the run is refused (its checkpoint is not the model the record describes).
    """
    import torch
    from torch.utils.data import DataLoader

    from modulus_lrsa.datapipes.collate import pad_collate
    from modulus_lrsa.models.trusted import load_trusted_model
    from modulus_lrsa.surrogate import ModelInputs
    from modulus_lrsa.training import train as trainer
    from modulus_lrsa.training.data import build_training_data

    spec = RunSpec(**run["spec"])
    epoch = run.get("epochs_done") or spec.epochs
    checkpoints = sorted((recorded_output_dir(run) / "checkpoints").glob(f"*.0.{epoch}.mdlus"))
    if len(checkpoints) != 1:
        raise ValueError(f"run {spec.run_id}: expected one model checkpoint of epoch {epoch}, found {len(checkpoints)}")
    cfg = training_config(protocol, spec)
    data = build_training_data(cfg.data, spec.seed)
    if data.forces is None:
        return []
    device = torch.device("cpu")
    model = load_trusted_model(checkpoints[0]).to(device)
    loader = DataLoader(data.validation, batch_size=int(cfg.training.eval_batch_size), collate_fn=pad_collate)
    metrics, cases = trainer.evaluate(
        model, ModelInputs(model), loader, data, trainer.Precision(spec.precision, device), device,
        int(cfg.training.eval_chunk_points),
    )
    recorded, again = run["test_metrics"]["rel_l2/mean"], metrics["val/rel_l2/mean"]
    if not math.isclose(recorded, again, rel_tol=1e-4):
        raise ValueError(f"run {spec.run_id}: {checkpoints[0]} gives mean error {again:.6f}, the record {recorded:.6f}")
    return cases

