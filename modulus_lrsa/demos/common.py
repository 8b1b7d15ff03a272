# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Pieces the demos share: the command line and its checks, the training config, progress lines,
step timing and thread choice, file copies, figures.

A demo's output folder holds one result set: ``metrics.json``, the figures, the model
and its predictions. A rerun never leaves it mixed from two runs, at these grains:

* ``metrics.json`` is the completion mark: :func:`begin_result_set` removes it before
  anything else is written, and the demo writes it last, so a set without it is
  incomplete (a killed or failed run) and one with it is whole;
* each figure and ``metrics.json`` is one atomic file; the model and its
  ``.data.json`` are copied descriptor-last (:func:`copy_model`), so they never pair
  a new model with old statistics;
* a folder of several files (the airfoil demo's ``predictions/`` and ``from_wall/``)
  is written whole with :func:`modulus_lrsa.atomic.atomic_folder` and swapped in;
* temporaries that killed writes left beside those files are removed at the start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from modulus_lrsa.atomic import atomic_replace, atomic_write_with, remove_result, remove_temporaries_of

#: The completion mark of a demo's result set, written last.
METRICS_NAME = "metrics.json"


def add_run_arguments(parser, out: str, time_budget: float, max_epochs: int, jobs_help: str) -> None:
    """The options both demos take: output folder, time budget, epochs, seed, jobs, model overrides."""
    parser.add_argument("--out", type=Path, default=Path(out), help=f"output folder (default: {out})")
    parser.add_argument("--time-budget", type=float, default=time_budget,
                        help=f"seconds for the whole demo, data included (default: {time_budget:g})")
    parser.add_argument("--epochs", type=int,
                        help="train exactly this many epochs, with no time limit (default: fit them to --time-budget)")
    parser.add_argument("--max-epochs", type=int, default=max_epochs,
                        help=f"upper limit on epochs (default: {max_epochs})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the split and training (default: 0)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help=f"{jobs_help} (default: up to 2)")
    parser.add_argument("--model", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra model overrides, e.g. n_hidden=32 (Hydra syntax without the model. prefix)")


def training_overrides(args, training_dir: Path, experiment: str, epochs: int, batch_size: int, eval_batch_size: int,
                       lr: float, time_limit_s: float | None, model: dict[str, Any]) -> list[str]:
    """The lrsa-train overrides every demo sets: run folder, seed, budget, batches, logging, and the
    demo's model followed by the user's ``--model`` overrides (last, so they win)."""
    return [
        f"output_dir={training_dir}",
        f"experiment_name={experiment}",
        f"training.seed={args.seed}",
        f"training.epochs={epochs}",
        f"training.batch_size={batch_size}",
        f"training.eval_batch_size={eval_batch_size}",
        f"training.optimizer.lr={lr}",
        f"training.checkpoint_every_epochs={max(1, epochs // 4)}",
        f"training.time_limit_minutes={time_limit_s / 60.0 if time_limit_s else 'null'}",
        "logging=tensorboard",
        "logging.progress_bar=false",
        *[f"model.{key}={value}" for key, value in model.items()],
        *[f"model.{item}" for item in args.model],
    ]


def compose_config(overrides: Sequence[str]):
    """lrsa-train's config (its own ``conf/``) composed with ``overrides``."""
    from hydra import compose, initialize_config_dir

    from modulus_lrsa.training.train import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@contextlib.contextmanager
def generator_progress() -> Iterator[None]:
    """Show the dataset generator's line per case ("[k/n] case ... ok") while it runs, without
    leaving a handler behind on the global logging tree."""
    from modulus_lrsa.training.loggers import ConsoleHandler

    generator_log = logging.getLogger("modulus_lrsa.data")
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("[demo] %(message)s"))
    previous_level = generator_log.level
    generator_log.addHandler(handler)
    generator_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        generator_log.removeHandler(handler)
        generator_log.setLevel(previous_level)


def openfoam_demo_main(name: str, args, run_demo: Callable[[Any], dict[str, Any]], summary: Callable[[dict[str, Any]], str],
                       min_cases: int, held_out_share: str) -> int:
    """An OpenFOAM demo's command: its counts checked (exit 2), OpenFOAM found (exit 3), the run and its summary."""
    from modulus_lrsa.data.airfoil.openfoam import OpenFOAMNotFoundError

    for option in ("n_cases", "max_epochs", "jobs", "epochs"):
        value = getattr(args, option)
        if value is not None and value < 1:
            print(f"{name}: error: --{option.replace('_', '-')} must be >= 1, got {value}", file=sys.stderr)
            return 2
    if args.n_cases < min_cases:
        print(f"{name}: error: --n-cases must be >= {min_cases} ({held_out_share} of them is held out)", file=sys.stderr)
        return 2
    try:
        metrics = run_demo(args)
    except OpenFOAMNotFoundError as error:
        print(f"{name}: error: {error}. Install it with `make openfoam` (as root), or put simpleFoam on PATH.",
              file=sys.stderr)
        return 3
    print()
    print(summary(metrics))
    return 0


def log(message: str) -> None:
    """A progress line of a demo."""
    print(f"[demo] {message}", flush=True)


def measure_speed(cfg, data, device: torch.device, steps: int = 3) -> tuple[float, float]:
    """Seconds per sample of a training step (forward, backward, update on the training
    points) and of validation (forward on every node), timed on real batches.
    """
    from hydra.utils import instantiate

    from modulus_lrsa.datapipes.collate import pad_collate
    from modulus_lrsa.surrogate import ModelInputs, to_device
    from modulus_lrsa.training.metrics import relative_l2_loss, valid_entries
    from modulus_lrsa.training.train import model_config_for

    torch.manual_seed(cfg.training.seed)
    model = instantiate(model_config_for(cfg.model, data), _convert_="partial").to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    inputs = ModelInputs(model)

    def batch_of(dataset, size: int) -> dict[str, Any]:
        batch = pad_collate([dataset[i] for i in range(min(size, len(dataset)))])
        return to_device(batch, device)

    def forward(batch: dict[str, Any]) -> torch.Tensor:
        return inputs(model, batch)

    def timed(action, repeats: int) -> float:
        action()  # warm-up: allocations, kernel selection
        if device.type == "cuda":
            torch.cuda.synchronize()
        begin = time.perf_counter()
        for _ in range(repeats):
            action()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - begin) / repeats

    train_batch = batch_of(data.train, int(cfg.training.batch_size))
    validation_batch = batch_of(data.validation, int(cfg.training.eval_batch_size))

    def train_step() -> None:
        loss = relative_l2_loss(forward(train_batch), train_batch["target"], valid_entries(train_batch, train_batch["target"]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def validation_step() -> None:
        with torch.no_grad():
            forward(validation_batch)

    if device.type == "cpu":
        _use_fastest_thread_count(lambda: timed(train_step, 1))
    per_train_sample = timed(train_step, steps) / train_batch["fx"].shape[0]
    per_validation_sample = timed(validation_step, 1) / validation_batch["fx"].shape[0]
    return per_train_sample, per_validation_sample


def _use_fastest_thread_count(time_step) -> None:
    """Keep torch's default thread count, or one thread if that is faster.

    On a machine busy with other work, several OpenMP threads wait for each other at
    every operation whenever one of them is descheduled, and a single thread can be
    several times faster; on an idle machine all cores win.
    """
    default = torch.get_num_threads()
    if default == 1:
        return
    with_all = time_step()
    torch.set_num_threads(1)
    with_one = time_step()
    if with_one >= with_all:
        torch.set_num_threads(default)
    log(f"training step: {with_all:.3f} s with {default} threads, {with_one:.3f} s with 1; "
         f"using {torch.get_num_threads()}")


def begin_result_set(out: Path, files: Sequence[str]) -> None:
    """Start rewriting a demo's result set in ``out``: remove ``metrics.json`` first (the
    set is incomplete until the demo writes it again, last), and the temporaries that
    killed writes of ``files`` or of ``metrics.json`` left behind."""
    remove_result(out / METRICS_NAME)
    for name in (METRICS_NAME, *files):
        for leftover in remove_temporaries_of(out / name):
            log(f"removed {leftover.name}, left by a run that was killed while writing {name}")


def copy_file(source: Path, target: Path) -> None:
    """Copy a file atomically, fsynced before it is renamed into place."""

    def write(stream) -> None:
        with open(source, "rb") as origin:
            shutil.copyfileobj(origin, stream)

    atomic_write_with(target, write)


def copy_model(source: Path, target: Path) -> None:
    """Copy an exported model and its data descriptor, each atomically, the descriptor last.

    The target's old descriptor is removed first: a copy cut short leaves a model without
    a descriptor, which ``lrsa-predict`` refuses, never a new model beside the old one's
    normalization statistics.
    """
    from modulus_lrsa.descriptor import descriptor_path

    remove_result(descriptor_path(target))
    for origin, destination in ((source, target), (descriptor_path(source), descriptor_path(target))):
        copy_file(origin, destination)


def save_figure(figure, path: Path, dpi: int = 90) -> None:
    """Save a matplotlib figure as PNG atomically, and close it."""
    import matplotlib.pyplot as plt

    try:
        atomic_replace(path, lambda temporary: figure.savefig(temporary, dpi=dpi), suffix=".png")
    finally:
        plt.close(figure)
