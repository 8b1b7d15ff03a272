# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The parent process: makes the data, checks the parameter match, runs the pending runs
(each in a fresh child, several at a time) and saves the results after every run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import paths
from .child import RESULT_MARKER
from .configs import training_config
from .protocols import Protocol, RunSpec, ordered_runs, studies
from .storage import load_results, save_results

PARAMETER_TOLERANCE = 0.10


def check_parameter_match(protocol: Protocol) -> dict[str, int]:
    """Parameter counts of the compared models as lrsa-train builds them for this data.

    Stops if they differ by more than 10%. Building the training data here also makes
    the dataset's preprocessed cache once, before parallel runs would each make it.
    """
    import torch
    from hydra.utils import instantiate

    from modulus_lrsa.training import train as trainer
    from modulus_lrsa.training.data import build_training_data

    counts, data = {}, None
    for name in protocol.models:
        spec = RunSpec(name, protocol.seeds[0], "fp32", protocol.n_latents, protocol.epochs)
        cfg = training_config(protocol, spec)
        data = data or build_training_data(cfg.data, spec.seed)
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            model = instantiate(trainer.model_config_for(cfg.model, data), _convert_="partial")
        counts[name] = sum(p.numel() for p in model.parameters())
    spread = max(counts.values()) / min(counts.values()) - 1
    if spread > PARAMETER_TOLERANCE:
        raise SystemExit(
            f"protocol '{protocol.name}': parameter counts {counts} differ by {spread:.1%} "
            f"(more than {PARAMETER_TOLERANCE:.0%}); adjust Protocol.widths"
        )
    return counts


def launch(protocol: Protocol, spec: RunSpec, log_dir: Path) -> dict[str, Any]:
    """Run one spec in a fresh child process; its output goes to <log_dir>/<run>.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{spec.run_id}.log"
    # A child that finished after its parent died (or was started by hand with --child)
    # left its result in the log; retraining would only resume at the last epoch.
    finished = logged_result(log_path)
    if finished is not None:
        return finished
    returncode, result = _run_child(protocol, ["--child", json.dumps(asdict(spec))], log_path)
    if returncode != 0 or result is None:
        raise RuntimeError(f"run {spec.run_id} failed (exit {returncode}); see {log_path}")
    return result


def _run_child(protocol: Protocol, arguments: list[str], log_path: Path) -> tuple[int, dict[str, Any] | None]:
    """Run the entry point with ``arguments`` in a fresh process, appending its output to
    ``log_path``; its exit status and the result it logged."""
    command = [sys.executable, str(paths.ENTRY_POINT), "--protocol", protocol.name, *arguments]
    with open(log_path, "a") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=paths.ROOT)
    return completed.returncode, logged_result(log_path)


def logged_result(log_path: Path) -> dict[str, Any] | None:
    """The result line a child prints last, if the log holds one."""
    if not log_path.exists():
        return None
    lines = [line for line in log_path.read_text().splitlines() if line.startswith(RESULT_MARKER)]
    return json.loads(lines[-1][len(RESULT_MARKER):]) if lines else None


def run_all(protocol: Protocol, jobs: int, only: set[str] | None, models: set[str] | None = None) -> dict[str, Any]:
    """Run the protocol's pending runs of the studies ``only`` and models ``models`` (None: all),
    ``jobs`` at a time, then the side-by-side timing; the results with every stored run."""
    protocol.data.generate()
    results = load_results(protocol)
    results["parameters"] = check_parameter_match(protocol)
    results["machine"] = {
        "platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "parallel_runs": jobs,
    }
    results["command"] = "benchmarks/accuracy.py " + " ".join(sys.argv[1:])
    save_results(protocol, results)
    selected = [
        spec for name, runs in studies(protocol).items() if only is None or name in only for spec in runs
        if models is None or spec.model in models
    ]
    pending = [spec for spec in ordered_runs(protocol) if spec in selected and spec.run_id not in results["runs"]]
    print(f"{len(results['runs'])} run(s) done, {len(pending)} to go ({jobs} at a time)", flush=True)
    lock = threading.Lock()
    failures = []
    log_dir = paths.protocol_outputs(protocol.name) / "logs"
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(launch, protocol, spec, log_dir): spec for spec in pending}
        for future in as_completed(futures):
            spec = futures[future]
            try:
                run = future.result()
            except RuntimeError as exc:
                failures.append(str(exc))
                print(f"FAILED {exc}", flush=True)
                continue
            with lock:
                results["runs"][spec.run_id] = run
                save_results(protocol, results)
            errors = ", ".join(f"{k} {v:.4f}" for k, v in run["test_rel_l2"].items()) or "no result"
            print(f"{time.strftime('%H:%M:%S')} {spec.run_id}: {errors}; diverged={run['diverged']}; "
                  f"{run['epoch_seconds_median']} s/epoch; {run['peak_memory_mib']:.0f} MiB", flush=True)
    if failures:
        raise SystemExit(f"{len(failures)} run(s) failed:\n" + "\n".join(failures))
    if "timing" in protocol.studies and (only is None or "timing" in only):
        if "epoch_timing" not in results:
            results["epoch_timing"] = time_epochs(protocol, log_dir)
            save_results(protocol, results)
    return results


def time_epochs(protocol: Protocol, log_dir: Path, rounds: int = 5) -> dict[str, Any]:
    """Run :func:`child.time_epochs_child` in a fresh process (alone: no training runs in parallel)."""
    log_path = log_dir / "epoch_timing.log"
    returncode, result = _run_child(protocol, ["--child-timing", str(rounds)], log_path)
    if returncode != 0 or result is None:
        raise SystemExit(f"epoch timing failed (exit {returncode}); see {log_path}")
    return result
