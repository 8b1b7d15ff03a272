# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``make demo-darcy`` / ``python -m modulus_lrsa.demos.darcy``: LRSA learns Darcy flow in a few minutes.

The demo builds the Darcy benchmark data (FNO recipe, 85 x 85 grid), trains a small LRSA
with the same ``lrsa-train`` machinery a full run uses (Hydra config, checkpoints,
validation, best-model export), evaluates it on held-out permeability fields and
writes to ``outputs/demo/``:

* ``metrics.json``: test relative L2 (mean, median, worst), timings, model and data sizes;
* ``predictions.png``: permeability, true pressure, predicted pressure and error for four
  test samples;
* ``lrsa_darcy_demo.mdlus`` (+ ``.data.json``): the trained model, usable with
  ``lrsa-predict`` and ``modulus_lrsa.models.trusted.load_trusted_model`` (which, unlike
  ``physicsnemo.Module.from_checkpoint``, imports nothing the file names);
* ``training/``: the training run itself (checkpoints, TensorBoard events, log);
* ``data/``: the generated dataset, reused by later runs.

``metrics.json`` marks a complete result set: a rerun removes it first and writes it
last, after the model and the figure (see :mod:`modulus_lrsa.demos.common`), so a run
killed midway leaves no ``metrics.json`` beside a half-replaced set.

The number of epochs is fitted to the machine: a few timed training steps and one timed
validation batch at start-up decide how many epochs fit in ``--time-budget`` (default 9
minutes, all phases included), capped at ``--max-epochs``; if the machine slows down
later (other jobs), training stops at an epoch end in time. On 2 idle CPU cores that is a
few dozen epochs; on a GPU the cap is reached. ``--epochs N`` trains exactly N epochs
instead, for results that do not depend on the machine's speed.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modulus_lrsa.demos.common import (
    METRICS_NAME,
    add_run_arguments,
    begin_result_set,
    compose_config,
    copy_model,
    log,
    measure_speed,
    save_figure,
    training_overrides,
)

#: The exported model, beside its data descriptor.
MODEL_NAME = "lrsa_darcy_demo.mdlus"
FIGURE_NAME = "predictions.png"

#: Model of the demo: small enough for 2 CPU cores, the structure of the paper's model.
DEMO_MODEL = {
    "n_layers": 4,
    "n_hidden": 64,
    "n_head": 4,
    "n_latents": 32,
    "mlp_ratio": 2,
    "n_frequencies": 4,
}
#: Training points per sample and step: random subsets of the 85 x 85 nodes, fresh every
#: epoch. Measured on 2 CPU cores, 600 points per field reach a lower test error in the same
#: time than 1849 (more, cheaper steps) or 300 (too coarse); validation uses every node.
DEMO_TRAIN_POINTS = 600
DEMO_BATCH_SIZE = 8
DEMO_LR = 2.0e-3
#: Seconds kept back for start-up, the final evaluation and the figure.
_RESERVE_S = 25.0
#: Data loading and logging on top of the timed model steps.
_LOOP_OVERHEAD = 1.1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m modulus_lrsa.demos.darcy",
        description="Generate Darcy data, train a small LRSA, evaluate it and plot predictions.",
    )
    add_run_arguments(parser, "outputs/demo_darcy", time_budget=540.0, max_epochs=200,
                      jobs_help="processes generating data")
    parser.add_argument("--n-train", type=int, default=500, help="training samples (default: 500)")
    parser.add_argument("--n-test", type=int, default=100, help="test samples (default: 100)")
    parser.add_argument("--resolution", type=int, default=85, help="grid nodes per axis (default: 85)")
    parser.add_argument("--min-epochs", type=int, default=1, help="lower limit on epochs (default: 1)")
    return parser


def _generate_data(folder: Path, args: argparse.Namespace) -> float:
    from modulus_lrsa.data.darcy import generate_darcy

    started = time.perf_counter()
    generate_darcy(
        folder, n_train=args.n_train, n_test=args.n_test, solve_resolution=args.resolution,
        resolution=args.resolution, seed=args.seed, jobs=args.jobs,
    )
    return time.perf_counter() - started


def _config(
    args: argparse.Namespace, data_folder: Path, training_dir: Path, epochs: int, time_limit_s: float | None = None
):
    return compose_config([
        f"data.path={data_folder}",
        "data.view=points",
        f"data.train_points={min(DEMO_TRAIN_POINTS, args.resolution**2)}",
        "training.num_workers=0",
        "training.scheduler.pct_start=0.1",
        f"training.validate_every_epochs={max(1, epochs // 2)}",
        *training_overrides(args, training_dir, "darcy_demo", epochs, DEMO_BATCH_SIZE, 10, DEMO_LR, time_limit_s,
                            DEMO_MODEL),
    ])


def _plan_epochs(args: argparse.Namespace, elapsed: float, seconds_per_sample: float, n_train: int,
                 validation_seconds: float) -> int:
    """Epochs that fit the remaining budget; ``validation_seconds`` is one pass over the test set.

    Three such passes are set aside: mid-way and last validation, and the demo's own evaluation.
    """
    remaining = args.time_budget - elapsed - _RESERVE_S
    epoch = n_train * seconds_per_sample
    epochs = math.floor((remaining - 3 * validation_seconds) / epoch) if remaining > 0 else 0
    return int(min(args.max_epochs, max(args.min_epochs, epochs)))


@torch.no_grad()
def _evaluate(model_path: Path, data, device: torch.device) -> tuple[dict[str, np.ndarray], int]:
    """Predictions on every test sample, in physical units, with the permeability and the truth.

    Returns
    -------
    results : dict
        ``prediction``, ``truth`` and ``coefficient``, each (S, R, R).
    parameters : int
        Number of model parameters.
    """
    from modulus_lrsa.datapipes.collate import pad_collate
    from modulus_lrsa.models.trusted import load_trusted_model
    from modulus_lrsa.surrogate import run_model

    model = load_trusted_model(model_path).to(device).eval()
    dataset = data.validation
    resolution = int(round(math.sqrt(dataset[0]["fx"].shape[0])))
    predictions, truths, coefficients = [], [], []
    normalizer = data.target_normalizer
    coefficient_normalizer = dataset.normalizers.coefficient
    for start in range(0, len(dataset), 10):
        batch = pad_collate([dataset[i] for i in range(start, min(start + 10, len(dataset)))])
        output = run_model(model, batch, device)
        predictions.append(normalizer.denormalize(output.double()).numpy())
        truths.append(normalizer.denormalize(batch["target"].double()).numpy())
        coefficients.append(coefficient_normalizer.denormalize(batch["fx"].double()).numpy())
    shape = (-1, resolution, resolution)
    results = {
        "prediction": np.concatenate(predictions).reshape(shape),
        "truth": np.concatenate(truths).reshape(shape),
        "coefficient": np.concatenate(coefficients).reshape(shape),
    }
    return results, sum(p.numel() for p in model.parameters())


def _plot(results: dict[str, np.ndarray], errors: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    # Best, median-ish and worst test samples, so the figure does not flatter the model.
    order = np.argsort(errors)
    samples = [int(order[0]), int(order[len(order) // 3]), int(order[(2 * len(order)) // 3]), int(order[-1])]
    figure, axes = plt.subplots(len(samples), 4, figsize=(13, 3.1 * len(samples)), constrained_layout=True)
    titles = ["permeability a(x, y)", "pressure u (finite differences)", "pressure u (LRSA)", "|LRSA - truth|"]
    for row, sample in enumerate(samples):
        truth, prediction = results["truth"][sample], results["prediction"][sample]
        panels = [results["coefficient"][sample], truth, prediction, np.abs(prediction - truth)]
        limits = [(None, None), (truth.min(), truth.max()), (truth.min(), truth.max()), (0, None)]
        color_maps = ["cividis", "viridis", "viridis", "magma"]
        for column, (panel, (low, high), color_map) in enumerate(zip(panels, limits, color_maps)):
            axis = axes[row, column]
            image = axis.imshow(panel.T, origin="lower", extent=(0, 1, 0, 1), vmin=low, vmax=high, cmap=color_map)
            figure.colorbar(image, ax=axis, shrink=0.85)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(titles[column])
        axes[row, 0].set_ylabel(f"test sample {sample}\nrel. L2 = {errors[sample]:.4f}")
    figure.suptitle("LRSA on Darcy flow, held-out permeability fields")
    save_figure(figure, path)


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Run every step of the demo; returns what is written to ``metrics.json``."""
    from modulus_lrsa.atomic import atomic_write_json
    from modulus_lrsa.descriptor import descriptor_path
    from modulus_lrsa.training.data import build_training_data
    from modulus_lrsa.training.train import run_training

    started = time.perf_counter()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    begin_result_set(out, [MODEL_NAME, descriptor_path(out / MODEL_NAME).name, FIGURE_NAME])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log(f"device {device}; writing to {out}")

    log(f"Darcy data: {args.n_train} training / {args.n_test} test fields at {args.resolution}x{args.resolution}")
    data_seconds = _generate_data(out / "data", args)

    training_dir = out / "training"
    # The demo always trains from scratch (its epochs depend on the machine); the data is reused.
    shutil.rmtree(training_dir, ignore_errors=True)
    probe_cfg = _config(args, out / "data", training_dir, epochs=1)
    data = build_training_data(probe_cfg.data, seed=args.seed)
    # Also picks the thread count on CPUs, so it runs with --epochs too.
    train_speed, validation_speed = measure_speed(probe_cfg, data, device)
    if args.epochs is not None:
        epochs, time_limit_s = args.epochs, None
        log(f"{epochs} epochs as requested (no time limit)")
    else:
        seconds_per_sample = _LOOP_OVERHEAD * train_speed
        validation_seconds = _LOOP_OVERHEAD * validation_speed * len(data.validation)
        epochs = _plan_epochs(args, time.perf_counter() - started, seconds_per_sample, len(data.train),
                              validation_seconds)
        log(
            f"{seconds_per_sample * 1e3:.1f} ms per training sample, {validation_seconds:.1f} s per validation "
            f"on {device}: {epochs} epochs fit the budget"
        )
        # A safety net when the machine slows down mid-run (other jobs): stop at an epoch end in time.
        time_limit_s = max(args.time_budget - (time.perf_counter() - started) - _RESERVE_S - validation_seconds, 1.0)
    cfg = _config(args, out / "data", training_dir, epochs=epochs, time_limit_s=time_limit_s)
    training_started = time.perf_counter()
    training = run_training(cfg)
    training_seconds = time.perf_counter() - training_started

    best_model = Path(training["best_model"])
    model_path = out / MODEL_NAME
    copy_model(best_model, model_path)
    results, parameters = _evaluate(model_path, data, device)
    prediction, truth = results["prediction"], results["truth"]
    errors = np.linalg.norm((prediction - truth).reshape(len(truth), -1), axis=1) / np.linalg.norm(
        truth.reshape(len(truth), -1), axis=1
    )
    _plot(results, errors, out / FIGURE_NAME)

    metrics = {
        "test_rel_l2_mean": float(errors.mean()),
        "test_rel_l2_median": float(np.median(errors)),
        "test_rel_l2_max": float(errors.max()),
        "test_samples": int(len(errors)),
        "train_samples": len(data.train),
        "resolution": args.resolution,
        "train_points_per_sample": min(DEMO_TRAIN_POINTS, args.resolution**2),
        "epochs": epochs,
        "epochs_run": training["history"][-1]["epoch"],
        "stopped_by_time_limit": training["stopped_by_time_limit"],
        "best_epoch": training["best_epoch"],
        "optimizer_steps": training["global_step"],
        "model": {
            "class": "LRSA",
            "parameters": parameters,
            **{key: cfg.model[key] for key in ("n_layers", "n_hidden", "n_head", "n_latents", "mlp_ratio", "n_frequencies")},
        },
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "seconds": {
            "data": round(data_seconds, 1),
            "training": round(training_seconds, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "files": {
            "data": str(out / "data"),
            "model": str(model_path),
            "figure": str(out / FIGURE_NAME),
            "training_run": str(training_dir),
        },
    }
    # Last: the mark that the result set is complete.
    atomic_write_json(out / METRICS_NAME, metrics)
    return metrics


def summary(metrics: dict[str, Any]) -> str:
    """One paragraph for the terminal."""
    seconds = metrics["seconds"]
    model = metrics["model"]
    return (
        f"LRSA ({model['parameters']:,} parameters: {model['n_layers']} blocks, width {model['n_hidden']}, "
        f"{model['n_latents']} latent tokens) learned the Darcy operator from {metrics['train_samples']} "
        f"permeability/pressure pairs at {metrics['resolution']}x{metrics['resolution']} in "
        f"{metrics['epochs_run']} epochs ({metrics['optimizer_steps']} steps on {metrics['device']}, "
        f"{seconds['training']:.0f} s of training, {seconds['total']:.0f} s in all). On "
        f"{metrics['test_samples']} unseen fields its relative L2 error is {metrics['test_rel_l2_mean']:.4f} "
        f"on average (median {metrics['test_rel_l2_median']:.4f}, worst {metrics['test_rel_l2_max']:.4f}); "
        f"the paper's full protocol (1000 samples, 500 epochs, width 128 and up) reaches 0.0043. "
        f"Figure: {metrics['files']['figure']}; model: {metrics['files']['model']} (try `lrsa-predict "
        f"{metrics['files']['model']} {metrics['files']['data']} --samples 0 1 -o predictions/demo`)."
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("n_train", "n_test", "max_epochs", "min_epochs", "jobs", "epochs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            print(f"demo: error: --{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}", file=sys.stderr)
            return 2
    if args.min_epochs > args.max_epochs:
        print("demo: error: --min-epochs is larger than --max-epochs", file=sys.stderr)
        return 2
    metrics = run_demo(args)
    print()
    print(summary(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
