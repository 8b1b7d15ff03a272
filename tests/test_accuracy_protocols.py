# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""benchmarks/accuracy_bench: the confirmation twins of the airfoil protocols (a dataset
drawn with another generator seed, never used to choose settings) and the equal
wall-clock study (its planning arithmetic, and a tiny interleaved run through lrsa-train)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from modulus_lrsa.training.train import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]
AIRFOIL_PROTOCOLS = ("airfoil", "airfoil-large")


@pytest.fixture(scope="module")
def bench():
    """The benchmark's package, imported from benchmarks/ as its entry point imports it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(ROOT / "benchmarks"))
        importlib.import_module("accuracy_bench.cli")
    yield sys.modules["accuracy_bench"]
    for name in [name for name in sys.modules if name == "accuracy_bench" or name.startswith("accuracy_bench.")]:
        del sys.modules[name]


# ------------------------------------------------------------------ second dataset


@pytest.mark.parametrize("name", AIRFOIL_PROTOCOLS)
def test_every_airfoil_protocol_has_a_confirmation_twin_with_its_own_data_results_and_outputs(bench, name):
    protocols, paths = bench.protocols, bench.paths
    base, twin = protocols.PROTOCOLS[name], protocols.PROTOCOLS[f"{name}-seed1"]
    assert (twin.data.seed, twin.data.role, base.data.role) == (1, "confirmation", "selection")
    assert twin.data.path == f"{base.data.path}_seed1"
    # Only the data differs: same models, sizes, budget and seeds.
    assert dataclasses.replace(twin, name=base.name, description=base.description, data=base.data) == base
    assert paths.results_path(twin.name) == ROOT / "benchmarks" / "results" / f"accuracy_{name.replace('-', '_')}_seed1.json"
    assert paths.protocol_outputs(twin.name) != paths.protocol_outputs(base.name)
    spec = protocols.ordered_runs(twin)[0]
    assert bench.configs.output_dir(twin, spec) != bench.configs.output_dir(base, spec)
    assert f"data.path={ROOT / twin.data.path}" in bench.configs.overrides(twin, spec)
    # The command line's two spellings are one protocol; any other seed works too.
    assert protocols.protocol_named(name, 1) == twin == protocols.protocol_named(f"{name}-seed1")
    assert protocols.protocol_named(f"{name}-seed7").data.seed == 7
    assert protocols.protocol_named(name, 0) == base


def test_each_dataset_records_its_role_and_generator_seed(bench):
    records = {name: protocol.data.record() for name, protocol in bench.protocols.PROTOCOLS.items()}
    assert records["airfoil"] == {"role": "selection", "generator_seed": 0, "path": "datasets/airfoil_coarse120"}
    assert records["airfoil-seed1"] == {"role": "confirmation", "generator_seed": 1, "path": "datasets/airfoil_coarse120_seed1"}
    assert records["airfoil-heldout"]["role"] == "selection" and records["airfoil-heldout"]["held_out_from"]
    assert {r["role"] for n, r in records.items() if not n.endswith("-seed1")} == {"selection"}
    # The tables show which dataset a confirmation protocol trained on.
    assert "generator seed 1 (confirmation dataset)" in bench.protocols.PROTOCOLS["airfoil-seed1"].data.title
    assert "seed" not in bench.protocols.PROTOCOLS["airfoil"].data.title


def test_the_confirmation_dataset_is_drawn_by_lrsa_data_with_its_seed(bench, tmp_path, monkeypatch):
    # What is tested is the seed handed to lrsa-data's generator, not OpenFOAM: record the call.
    from modulus_lrsa.data import airfoil

    calls = []
    monkeypatch.setattr(airfoil, "generate_airfoil_dataset", lambda out, **kwargs: calls.append((out, kwargs)))
    monkeypatch.setattr(bench.paths, "ROOT", tmp_path)
    bench.protocols.PROTOCOLS["airfoil-seed1"].data.generate()
    bench.protocols.PROTOCOLS["airfoil"].data.generate()
    assert [(out, kwargs["seed"]) for out, kwargs in calls] == [
        (tmp_path / "datasets/airfoil_coarse120_seed1", 1), (tmp_path / "datasets/airfoil_coarse120", 0)]


def test_settings_are_never_chosen_on_a_confirmation_dataset(bench):
    protocols, datasets = bench.protocols, bench.datasets
    twin = protocols.PROTOCOLS["airfoil-seed1"]
    assert not set(twin.studies) & set(protocols.SELECTION_STUDIES)
    with pytest.raises(ValueError, match="'airfoil-heldout' chooses settings"):
        protocols.confirmation_protocol(protocols.PROTOCOLS["airfoil-heldout"], 1)
    with pytest.raises(ValueError, match="chooses settings"):
        protocols.protocol_named("airfoil-heldout", 1)
    with pytest.raises(ValueError, match="airfoil_coarse120_seed1 is a confirmation dataset"):
        datasets.HeldOutData(twin.data, "datasets/tuning_view", n_validation=20)
    with pytest.raises(ValueError, match=r"studies \['tuning'\] choose settings"):
        dataclasses.replace(twin, studies=("main", "tuning"))
    with pytest.raises(ValueError, match="trains on Darcy"):
        protocols.confirmation_protocol(protocols.PROTOCOLS["reduced"], 1)
    with pytest.raises(ValueError, match="makes the selection dataset"):
        protocols.confirmation_protocol(protocols.PROTOCOLS["airfoil"], 0)
    with pytest.raises(ValueError, match="already runs on generator seed 1"):
        protocols.protocol_named("airfoil-seed1", 2)
    with pytest.raises(ValueError, match="protocol 'nope'"):
        protocols.protocol_named("nope")


def test_the_command_line_refuses_tuning_on_the_confirmation_dataset_in_one_line(bench):
    done = subprocess.run(
        [sys.executable, str(bench.paths.ENTRY_POINT), "--protocol", "airfoil-heldout", "--dataset-seed", "1", "--report"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert "'airfoil-heldout' chooses settings" in error and "generator seed 1" in error


def test_results_stored_before_the_generator_seed_was_recorded_still_load(bench, tmp_path, monkeypatch):
    # The committed files predate the field; they were all made on generator seed 0.
    for name in ("airfoil-heldout", "airfoil-large"):  # a nested source dataset, and a plain one
        stored = json.loads(bench.paths.results_path(name).read_text())
        assert "seed" not in stored["protocol"]["data"].get("source", stored["protocol"]["data"])
        assert bench.storage.load_results(bench.protocols.PROTOCOLS[name])["runs"] == stored["runs"]
    # A file made on the confirmation dataset is not taken for the selection protocol's.
    monkeypatch.setattr(bench.paths, "ROOT", tmp_path)
    twin, base = bench.protocols.PROTOCOLS["airfoil-seed1"], bench.protocols.PROTOCOLS["airfoil"]
    bench.storage.save_results(twin, {"protocol": bench.storage.protocol_dict(twin), "runs": {}})
    bench.paths.results_path(base.name).write_text(bench.paths.results_path(twin.name).read_text())
    with pytest.raises(SystemExit, match="data differ"):
        bench.storage.load_results(base)


# ------------------------------------------------------------------ equal wall-clock


def test_the_wall_clock_plan_gives_every_model_the_fastest_models_budget_in_whole_epochs(bench):
    protocol = bench.protocols.PROTOCOLS["airfoil"]  # 100 epochs
    plan = bench.protocols.plan_wall_clock(protocol, {
        "LRSA": [1.1, 0.9, 1.0], "Transolver": [2.0, 2.1, 1.9], "FLARE": [1.5, 1.5, 1.5], "GeoTransolver": [3.0, 2.9, 3.1],
    })
    assert plan["reference_model"] == "LRSA" and plan["budget_seconds"] == pytest.approx(100.0)
    assert plan["epochs"] == {"LRSA": 100, "Transolver": 50, "FLARE": 66, "GeoTransolver": 33}
    assert plan["planned_seconds"]["FLARE"] == pytest.approx(99.0)
    assert plan["slice_seconds"] == pytest.approx(100.0 / bench.protocols.WALL_CLOCK_SLICES)
    # The fastest model sets the budget wherever it stands in the order.
    plan = bench.protocols.plan_wall_clock(protocol, {
        "LRSA": [4.0], "Transolver": [2.0], "FLARE": [8.0], "GeoTransolver": [1e6]})
    assert plan["reference_model"] == "Transolver"
    assert plan["epochs"] == {"LRSA": 50, "Transolver": 100, "FLARE": 25, "GeoTransolver": 1}
    with pytest.raises(ValueError, match="epoch times of FLARE: expected positive seconds"):
        bench.protocols.plan_wall_clock(protocol, {"LRSA": [1.0], "Transolver": [1.0], "FLARE": [0.0], "GeoTransolver": [1.0]})
    with pytest.raises(ValueError, match="epoch times of GeoTransolver"):
        bench.protocols.plan_wall_clock(protocol, {"LRSA": [1.0], "Transolver": [1.0], "FLARE": [1.0]})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=5), min_size=4, max_size=4), st.integers(1, 500))
def test_no_planned_run_exceeds_the_budget_and_one_more_epoch_would(bench, times, epochs):
    protocol = dataclasses.replace(bench.protocols.PROTOCOLS["airfoil"], epochs=epochs)
    plan = bench.protocols.plan_wall_clock(protocol, dict(zip(protocol.models, times)))
    budget = plan["budget_seconds"]
    assert plan["epochs"][plan["reference_model"]] == epochs
    for model in protocol.models:
        n, median = plan["epochs"][model], plan["epoch_seconds"][model]
        assert n * median <= budget * (1 + 1e-12) or n == 1  # every run trains at least one epoch
        assert (n + 1) * median > budget * (1 - 1e-12)  # and as many whole epochs as fit


def test_wall_clock_runs_train_their_planned_epochs_in_time_slices_of_their_own(bench):
    protocol = bench.protocols.PROTOCOLS["airfoil-seed1"]
    plan = {"epochs": {"LRSA": 100, "Transolver": 50, "FLARE": 66, "GeoTransolver": 33}}
    runs = bench.protocols.wall_clock_runs(protocol, plan)
    assert {(r.model, r.seed, r.epochs) for r in runs} == {
        (m, s, plan["epochs"][m]) for m in protocol.models for s in protocol.seeds}
    # Never the main comparison's runs or folders, though LRSA trains the same epochs.
    assert not {r.run_id for r in runs} & {r.run_id for r in bench.protocols.ordered_runs(protocol)}
    assert all(r.run_id.endswith(f"-wallclock-fp32-e{r.epochs}-s{r.seed}") for r in runs)
    # The spec travels to the child as JSON and back.
    assert bench.protocols.RunSpec(**json.loads(json.dumps(dataclasses.asdict(runs[1])))) == runs[1]
    overrides = bench.configs.overrides(protocol, runs[1], time_limit_s=30.0)
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    # The schedule is laid out over the planned epochs; the slice only ends this launch.
    assert (cfg.training.epochs, cfg.training.time_limit_minutes) == (50, 0.5)
    assert "training.time_limit_minutes" not in " ".join(bench.configs.overrides(protocol, runs[1]))


def test_the_runs_take_turns_in_an_order_that_rotates_every_round(bench):
    runs = [bench.protocols.RunSpec(model, 0, "fp32", 32, 10, wall_clock=True) for model in ("A", "B", "C")]
    orders = [[r.model for r in bench.runner.turn_order(runs, round_index)] for round_index in range(4)]
    assert orders == [["A", "B", "C"], ["B", "C", "A"], ["C", "A", "B"], ["A", "B", "C"]]
    assert [r.model for r in bench.runner.turn_order(runs[:1], 5)] == ["A"] and bench.runner.turn_order([], 3) == []


def test_a_tiny_interleaved_wall_clock_study_trains_every_model_its_planned_epochs(bench, tmp_path, monkeypatch):
    """End to end through lrsa-train on a tiny Darcy set: the real side-by-side timing, the plan,
    and real training runs in time slices that resume from their checkpoints. The children run
    in this process (each launch is otherwise a fresh interpreter, seconds of imports)."""
    from modulus_lrsa.training import train as trainer

    monkeypatch.setattr(bench.paths, "ROOT", tmp_path)
    monkeypatch.setattr(trainer, "train_one_epoch", trainer.train_one_epoch)  # run_child wraps it: restore after
    protocol = bench.protocols.Protocol(
        name="tiny", description="test", models=("LRSA", "Transolver"),
        data=bench.datasets.DarcyData("datasets/darcy_tiny", n_train=4, n_test=2, solve_resolution=9, resolution=9),
        epochs=2, precision_epochs=1, batch_size=2, seeds=(0,), n_layers=1, n_head=2, n_latents=4,
        widths={"LRSA": (8, 1), "Transolver": (8, 2)}, latent_sweep=(), studies=("wall-clock",),
    )
    protocol.data.generate()
    monkeypatch.setattr(bench.runner, "time_epochs",
                        lambda protocol, log_dir, log_name: bench.child.time_epochs_child(protocol, rounds=1))
    slices = []

    def slice_in_process(protocol, spec, seconds, log_path):
        slices.append((spec.run_id, seconds))
        # A millisecond's slice: lrsa-train stops after every epoch, so every epoch is a turn of its own.
        return bench.child.run_child(protocol, spec, 1e-3)

    monkeypatch.setattr(bench.runner, "train_slice", slice_in_process)
    results = {"runs": {}}
    bench.runner.run_wall_clock(protocol, results, tmp_path / "logs")
    study = results["wall_clock"]
    plan = study["plan"]
    assert plan["epochs"][plan["reference_model"]] == 2
    assert set(study["runs"]) == {s.run_id for s in bench.protocols.wall_clock_runs(protocol, plan)}
    for run_id, run in study["runs"].items():
        epochs = plan["epochs"][run["spec"]["model"]]
        assert run["epochs_done"] == epochs and not run["stopped_by_time_limit"]
        # Every planned epoch trained once and timed, across the slices, each in its own round.
        assert [h["epoch"] for h in run["train_history"]] == list(range(1, epochs + 1))
        assert run["train_seconds"] == pytest.approx(sum(h["seconds"] for h in run["train_history"]))
        assert [e["round"] for e in study["slices"] if e["run_id"] == run_id] == list(range(epochs))
        assert run["slices"] == epochs and len(run["val_history"]) == epochs
        assert run["test_rel_l2"] and all(math.isfinite(v) for v in run["test_rel_l2"].values())
        assert run["dataset"]["role"] == "selection"
    # Round 0: every run took one turn before any took a second.
    assert {run_id for run_id, _ in slices[:2]} == set(study["runs"])
    assert all(seconds == plan["slice_seconds"] for _, seconds in slices)
    # Resuming a finished study trains nothing more.
    count = len(slices)
    bench.runner.run_wall_clock(protocol, results, tmp_path / "logs")
    assert len(slices) == count
