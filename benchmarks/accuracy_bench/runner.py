# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The parent process: makes the data, checks the parameter match, runs the pending runs
(each in a fresh child, several at a time) and saves the results after every run; then,
alone, the side-by-side timing and the interleaved wall-clock study."""

from __future__ import annotations

import json
import os
import platform
import statistics
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
from .protocols import Protocol, RunSpec, ordered_runs, plan_wall_clock, studies, wall_clock_runs
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
    # Which data every run of this file trained on: the selection dataset, or a confirmation one.
    results["dataset"] = protocol.data.record()
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
    if "wall-clock" in protocol.studies and (only is None or "wall-clock" in only):
        run_wall_clock(protocol, results, log_dir, models)
    return results


def time_epochs(protocol: Protocol, log_dir: Path, rounds: int = 5, log_name: str = "epoch_timing") -> dict[str, Any]:
    """Run :func:`child.time_epochs_child` in a fresh process (alone: no training runs in parallel)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{log_name}.log"
    returncode, result = _run_child(protocol, ["--child-timing", str(rounds)], log_path)
    if returncode != 0 or result is None:
        raise SystemExit(f"epoch timing failed (exit {returncode}); see {log_path}")
    return result


def run_wall_clock(protocol: Protocol, results: dict[str, Any], log_dir: Path, models: set[str] | None = None) -> None:
    """The ``wall-clock`` study, into ``results["wall_clock"]``: every model trains the same seconds.

    First, alone, a fresh side-by-side timing of the models' epochs on this machine, and
    from it the plan (:func:`protocols.plan_wall_clock`: whole epochs per model, each run's
    schedule laid out over its own epochs). Then the runs are interleaved: each trains in
    time slices of ``slice_seconds`` (lrsa-train's ``training.time_limit_minutes``, which
    stops before an epoch that would end after the slice and checkpoints), the runs taking
    turns one slice each per round, the order rotating every round, until every run has
    trained its planned epochs. Machine-load changes over the hours of the study so hit
    every model alike, as in the side-by-side timing. Every slice is recorded (round, run,
    epochs, training seconds); a finished run stores its training seconds summed over its
    slices (``train_seconds``). An interrupted study resumes: the plan, slices and runs
    stored stay, a slice whose child had finished is read back from its log, and a run
    resumes from its last checkpoint.
    """
    study = results.setdefault("wall_clock", {"runs": {}, "slices": []})
    if "epoch_timing" not in study:
        study["epoch_timing"] = time_epochs(protocol, log_dir, log_name="wall_clock_timing")
        save_results(protocol, results)
    if "plan" not in study:
        study["plan"] = plan_wall_clock(protocol, study["epoch_timing"]["seconds"])
        save_results(protocol, results)
    plan = study["plan"]
    pending = [
        spec for spec in wall_clock_runs(protocol, plan)
        if spec.run_id not in study["runs"] and (models is None or spec.model in models)
    ]
    round_index = max((entry["round"] for entry in study["slices"]), default=0)
    print(f"wall-clock study: {plan['budget_seconds']:.0f} s of training per run, epochs {plan['epochs']}; "
          f"{len(pending)} run(s) to go, {plan['slice_seconds']:.0f} s slices", flush=True)
    while pending:
        sliced = {entry["run_id"] for entry in study["slices"] if entry["round"] == round_index}
        for spec in turn_order(pending, round_index):
            if spec.run_id in sliced:  # done before an interruption
                continue
            result = train_slice(protocol, spec, float(plan["slice_seconds"]), log_dir / f"{spec.run_id}-r{round_index}.log")
            earlier = [entry for entry in study["slices"] if entry["run_id"] == spec.run_id]
            done_before = max((entry["epochs_done"] or 0 for entry in earlier), default=0)
            if result["stopped_by_time_limit"] and (result["epochs_done"] or 0) <= done_before:
                raise SystemExit(f"wall-clock run {spec.run_id}: slice of round {round_index} trained no epoch "
                                 f"(still at epoch {done_before}); see {log_dir / f'{spec.run_id}-r{round_index}.log'}")
            entry = {
                "round": round_index, "run_id": spec.run_id, "epochs_done": result["epochs_done"],
                "train_seconds": sum(h["seconds"] for h in result["train_history"]),
                "wall_seconds": result["wall_seconds"], "finished": not result["stopped_by_time_limit"],
                "train_history": result["train_history"],
            }
            study["slices"].append(entry)
            if entry["finished"]:
                study["runs"][spec.run_id] = whole_run(result, [*earlier, entry])
            save_results(protocol, results)
            print(f"{time.strftime('%H:%M:%S')} wall-clock round {round_index} {spec.run_id}: epoch "
                  f"{result['epochs_done']}/{spec.epochs}{' (finished)' if entry['finished'] else ''}", flush=True)
        pending = [spec for spec in pending if spec.run_id not in study["runs"]]
        round_index += 1


def turn_order(pending: list[RunSpec], round_index: int) -> list[RunSpec]:
    """The order the unfinished runs take their slices in this round: rotated by one each
    round, so that no run always goes first (right after another run's start-up, say)."""
    shift = round_index % len(pending) if pending else 0
    return pending[shift:] + pending[:shift]


def train_slice(protocol: Protocol, spec: RunSpec, seconds: float, log_path: Path) -> dict[str, Any]:
    """One slice of a wall-clock run in a fresh child (a result already in its log is taken as is)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    finished = logged_result(log_path)
    if finished is not None:
        return finished
    arguments = ["--child", json.dumps(asdict(spec)), "--child-time-limit", repr(seconds)]
    returncode, result = _run_child(protocol, arguments, log_path)
    if returncode != 0 or result is None:
        raise SystemExit(f"wall-clock run {spec.run_id} failed (exit {returncode}); see {log_path}")
    return result


def whole_run(last: dict[str, Any], slices: list[dict[str, Any]]) -> dict[str, Any]:
    """A wall-clock run's record: its last slice's result (final errors, full validation history),
    with the training epochs and seconds of all its slices."""
    history = [epoch for entry in slices for epoch in entry["train_history"]]
    seconds = [epoch["seconds"] for epoch in history]
    return {
        **last,
        "train_history": history,
        "epochs_timed": len(history),
        "epoch_seconds_median": statistics.median(seconds) if seconds else None,
        "train_seconds": sum(seconds),
        "wall_seconds": sum(entry["wall_seconds"] for entry in slices),
        "slices": len(slices),
    }
