# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""benchmarks/accuracy.py and its package benchmarks/accuracy_bench: every protocol's runs
are valid lrsa-train configs, and the report turns stored runs into the tables the docs
show (no training here)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from modulus_lrsa.training.train import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def accuracy():
    """The benchmark's package, imported from benchmarks/ as its entry point imports it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(ROOT / "benchmarks"))
        importlib.import_module("accuracy_bench.cli")  # the command line imports every module
    yield sys.modules["accuracy_bench"]
    for name in [name for name in sys.modules if name == "accuracy_bench" or name.startswith("accuracy_bench.")]:
        del sys.modules[name]


def test_every_kind_of_benchmark_run_composes_into_a_training_config(accuracy):
    # Hydra refuses an override of a key conf/ does not have, so a renamed key fails here.
    # One run per kind of data, model and setting: seeds and sizes change values, not keys.
    kinds = {}
    for protocol in accuracy.protocols.PROTOCOLS.values():
        for run in accuracy.protocols.ordered_runs(protocol):
            key = (type(protocol.data), run.model, run.precision, run.n_frequencies, run.logit_scale, run.free_stream,
                   run.force_weight, run.surface_area_weighted)
            kinds.setdefault(key, (protocol, run))
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        runs = list(kinds.values())
        configs = [compose(config_name="config", overrides=accuracy.configs.overrides(p, run)) for p, run in runs]
    for (protocol, run), cfg in zip(runs, configs):
        group, target = accuracy.protocols.MODELS[run.model]
        width, mlp_ratio = protocol.widths["LRSA" if group == "lrsa" else run.model]
        assert (cfg.model.n_hidden, cfg.model.mlp_ratio, cfg.model.n_layers) == (width, mlp_ratio, protocol.n_layers)
        assert target is None or cfg.model._target_ == target
        assert (cfg.training.epochs, cfg.training.seed, cfg.training.precision) == (run.epochs, run.seed, run.precision)
        assert (cfg.data.name, cfg.data.path) == (protocol.data.kind, str(ROOT / protocol.data.path))
        assert cfg.training.loss.force_weight == (run.force_weight or 0.0)
        assert cfg.training.loss.surface_area_weighted == run.surface_area_weighted


def test_airfoil_protocols_run_only_their_studies(accuracy):
    protocol = accuracy.protocols.PROTOCOLS["airfoil"]
    studies = accuracy.protocols.studies(protocol)
    assert set(studies) == {"main", "precision", "raw-targets"}
    assert {(r.model, r.seed) for r in studies["main"]} == {(m, s) for m in protocol.models for s in protocol.seeds}
    # Physical-unit targets: the main models once, with free-stream scaling switched off.
    raw = studies["raw-targets"]
    assert {r.model for r in raw} == set(protocol.models) and not any(r.free_stream for r in raw)
    assert all("data.free_stream=null" in accuracy.configs.overrides(protocol, r) for r in raw)
    assert not any("data.free_stream=null" in accuracy.configs.overrides(protocol, r) for r in studies["main"])
    tuning = accuracy.protocols.PROTOCOLS["airfoil-heldout"]
    # Held-out studies: the tuning settings, and the ablations against the default.
    assert {r.model for r in accuracy.protocols.studies(tuning)["ablation"]} == {"LRSA", *accuracy.protocols.ABLATIONS}
    runs = accuracy.protocols.studies(tuning)["tuning"]
    assert [(r.n_frequencies, r.logit_scale) for r in runs] == [
        (s.n_frequencies, s.logit_scale) for s in tuning.lrsa_settings]
    for run in runs:
        overrides = accuracy.configs.overrides(tuning, run)
        assert (f"model.n_frequencies={run.n_frequencies}" in overrides) == (run.n_frequencies is not None)
        assert (f"model.logit_scale={run.logit_scale}" in overrides) == (run.logit_scale is not None)
    assert len({r.run_id for r in runs}) == len(runs)
    # Tuning runs never share an output folder or result with a main run.
    assert not {r.run_id for r in runs} & {r.run_id for r in accuracy.protocols.ordered_runs(protocol)}


def _stored_run(accuracy, protocol, model, seed, volume_p, surface_p, cl_error):
    spec = accuracy.protocols.RunSpec(model, seed, "fp32", protocol.n_latents, protocol.epochs)
    metrics = {
        "rel_l2/p": (volume_p + surface_p) / 2, "rel_l2/nut": 0.2,
        "volume_rel_l2/p": volume_p, "volume_rel_l2/nut": 0.2, "surface_rel_l2/p": surface_p,
        "Cl_abs_error": cl_error, "Cd_abs_error": 0.001, "Cd_rel_error": 0.1,
    }
    return spec.run_id, {
        "run_id": spec.run_id, "spec": {"seed": seed}, "parameters": 1000, "diverged": False,
        "test_rel_l2": {"p": metrics["rel_l2/p"], "nut": 0.2}, "test_metrics": metrics,
        "epoch_seconds_median": 1.0, "peak_memory_mib": 10.0, "val_history": [], "skipped_steps": 0,
    }


def test_airfoil_report_splits_volume_and_surface_and_compares_with_transolver(accuracy):
    protocol = accuracy.protocols.PROTOCOLS["airfoil"]
    runs = dict(
        [_stored_run(accuracy, protocol, "LRSA", s, 0.1, 0.2, 0.01) for s in (0, 1)]
        + [_stored_run(accuracy, protocol, "Transolver", s, 0.2, 0.4, 0.02) for s in (0, 1)]
    )
    text = accuracy.tables.tables(protocol, {"runs": runs})
    lrsa_row = next(line for line in text.splitlines() if line.startswith("| LRSA | 40 / 1"))
    # Mean over channels: LRSA (0.15 + 0.2) / 2 against Transolver (0.3 + 0.2) / 2.
    assert "0.70x" in lrsa_row
    assert "| model | volume p | volume nut | surface p |" in text
    assert "| LRSA | 0.1000 ± 0.0000 | 0.2000 ± 0.0000 | 0.2000 ± 0.0000 |" in text
    assert "| Transolver | 0.0200 ± 0.0000 | 0.0010 ± 0.0000 | 0.1000 ± 0.0000 |" in text
    assert "PARTIAL: 18 run(s) not finished" in text  # seed 2, FLARE, GeoTransolver, mixed precision, raw targets
    readme = accuracy.docs.readme_table(protocol, {"runs": runs})
    assert "| abs. Cl error | rel. Cd error | fp16 training |" in readme


def test_a_diverged_run_is_counted_not_averaged_in_the_main_comparison(accuracy):
    # Its NaN error used to stop the whole report (statistics.stdev cannot take a NaN).
    protocol = accuracy.protocols.PROTOCOLS["airfoil"]
    runs = dict([_stored_run(accuracy, protocol, "LRSA", s, 0.1, 0.2, 0.01) for s in (0, 1)]
                + [_stored_run(accuracy, protocol, "Transolver", s, 0.2, 0.4, 0.02) for s in (0, 1)])
    diverged_id = next(key for key in runs if key.startswith("Transolver") and key.endswith("s1"))
    runs[diverged_id] = {**runs[diverged_id], "diverged": True}
    text = accuracy.tables.tables(protocol, {"runs": runs})
    transolver = _row(text, "| Transolver | 64 / 2 |")
    assert "| 2 | 0.2500 (1 seed, 1 diverged) | 1.00x |" in transolver
    assert "0.70x" in _row(text, "| LRSA | 40 / 1 |")
    readme = accuracy.docs.readme_table(protocol, {"runs": runs})
    assert "| Transolver | 1,000 | n/a | 1.00x |" in readme and "| LRSA | 1,000 | 0.1750 ± 0.0000 | 0.70x |" in readme


def _stored_body_run(accuracy, protocol, model, seed, surface_p, cd_error, cd_r2):
    """A finished 3D run as the results JSON stores it: per-channel errors, then the force metrics."""
    spec = accuracy.protocols.RunSpec(model, seed, "fp32", protocol.n_latents, protocol.epochs)
    channels = {"U[0]": 0.05, "U[1]": 0.3, "U[2]": 0.4, "p": surface_p, "nut": 0.53,
                "wallShearStress[0]": 0.1, "wallShearStress[1]": 0.2, "wallShearStress[2]": 0.3}
    metrics = {f"volume_rel_l2/{name}": channels[name] for name in ("U[0]", "U[1]", "U[2]", "p", "nut")}
    metrics.update({f"surface_rel_l2/{name}": channels[name] for name in ("p", *(f"wallShearStress[{i}]" for i in range(3)))})
    metrics.update({
        "Cd_abs_error": cd_error, "Cd_pressure_abs_error": 0.8 * cd_error, "Cd_viscous_abs_error": 0.2 * cd_error,
        "Cl_abs_error": 0.003, "Cs_abs_error": 0.0005, "Cd_rel_error": 0.02, "Cd_r2": cd_r2, "Cd_spearman": 0.9,
        "Cl_r2": 0.7, "Cl_spearman": 0.8,
    })
    return spec.run_id, {
        "run_id": spec.run_id, "spec": {"seed": seed}, "parameters": 135000, "diverged": False,
        "test_rel_l2": channels, "test_metrics": metrics, "epoch_seconds_median": 15.0, "peak_memory_mib": 300.0,
        "val_history": [], "skipped_steps": 0,
    }


def _row(text, start):
    return next(line for line in text.splitlines() if line.startswith(start))


def test_ahmed_report_states_seeds_finished_drag_counts_family_fit_and_the_aims(accuracy):
    protocol = accuracy.protocols.PROTOCOLS["ahmed"]
    # Partial: LRSA 1 seed, Transolver 2, GeoTransolver 3, FLARE none yet.
    runs = dict(
        [_stored_body_run(accuracy, protocol, "LRSA", 0, 0.06, 0.0030, 0.95)]
        + [_stored_body_run(accuracy, protocol, "Transolver", s, 0.12, 0.0060, 0.8) for s in (0, 1)]
        + [_stored_body_run(accuracy, protocol, "GeoTransolver", s, 0.09 + 0.02 * s, 0.0040, 0.85) for s in (0, 1, 2)]
    )
    text = accuracy.tables.tables(protocol, {"runs": runs})
    assert "| model | seeds | surface p | wall shear, mean of 3 components | volume U, mean of 3 components | volume p |" in text
    # Wall shear (0.1 + 0.2 + 0.3) / 3 and U (0.05 + 0.3 + 0.4) / 3; one seed gives no spread.
    assert _row(text, "| LRSA | 1 of 3 | 0.0600 |") == "| LRSA | 1 of 3 | 0.0600 | 0.2000 | 0.2500 | 0.0600 | 0.2425 |"
    assert _row(text, "| FLARE | 0 of 3 |").count("n/a") == 5
    # 0.0030 of Cd is 30 drag counts; its parts 24 and 6; Cl 30, Cs 5.
    assert "| LRSA | 1 of 3 | 30.0 | 24.0 | 6.0 | 30.0 | 5.0 | 0.0200 |" in text
    assert "| Transolver | 2 of 3 | 60.0 ± 0.0 | 48.0 ± 0.0 |" in text
    assert "| LRSA | 1 of 3 | 0.950 | 0.900 | 0.700 | 0.800 |" in text
    # GeoTransolver's surface p over seeds: 0.09, 0.11, 0.13, so the best peer's mean is 0.11.
    assert "- Surface p relative L2: LRSA 0.0600, best peer GeoTransolver 0.1100: 0.545x (aim ≤ 0.75x: met)." in text
    assert "- Cd R^2: LRSA 0.9500 (aim ≥ 0.9: met; stretch ≥ 0.97: not met)." in text
    assert ("- Cd error lower than every peer's: LRSA 30.0 counts against Transolver 60.0, GeoTransolver 40.0: "
            "met among the peers finished (FLARE not run).") in text
    assert "LRSA 1 of 3, Transolver 2 of 3, FLARE 0 of 3, GeoTransolver 3 of 3; provisional" in text
    assert "PARTIAL: 6 run(s) not finished" in text
    assert "seeds [0, 1, 2], those finished per model in 'seeds';" in text
    readme = accuracy.docs.readme_table(protocol, {"runs": runs})
    assert "| LRSA | 135,000 | 1 of 3 | 0.0600 | 0.2000 | 0.2500 | 0.0600 | 0.2425 | 30.0 | 0.950 | 0.900 |" in readme
    assert "wall shear as the mean of its 3 components'" in readme and "- Cd R^2: LRSA 0.9500" in readme
    # The airfoil protocol keeps its own tables: no drag counts, no aims.
    airfoil = accuracy.protocols.PROTOCOLS["airfoil"]
    airfoil_runs = dict([_stored_run(accuracy, airfoil, "LRSA", 0, 0.1, 0.2, 0.01)])
    assert "drag counts" not in accuracy.tables.tables(airfoil, {"runs": airfoil_runs})


def test_ahmed_aims_report_what_fails_and_what_is_not_measured(accuracy):
    protocol = accuracy.protocols.PROTOCOLS["ahmed"]
    # Every seed of every model: LRSA has the better fields and R^2 but more drag error than FLARE.
    runs = {}
    for seed in protocol.seeds:
        runs.update([
            _stored_body_run(accuracy, protocol, "LRSA", seed, 0.08, 0.0050, 0.98),
            _stored_body_run(accuracy, protocol, "Transolver", seed, 0.12, 0.0060, 0.8),
            _stored_body_run(accuracy, protocol, "FLARE", seed, 0.10, 0.0045, 0.9),
            _stored_body_run(accuracy, protocol, "GeoTransolver", seed, 0.16, 0.0070, 0.85),
        ])
    # A diverged seed is counted apart, and its numbers (here deceptively small) are no model's accuracy.
    flare_run_id, diverged = _stored_body_run(accuracy, protocol, "FLARE", 2, 0.001, 0.0001, 0.99)
    runs[flare_run_id] = {**diverged, "diverged": True}
    text = accuracy.tables.tables(protocol, {"runs": runs})
    assert "provisional" not in text and "PARTIAL" not in text
    assert "| FLARE | 2 of 3 (+1 diverged, left out) | 0.1000 ± 0.0000 |" in text
    assert "best peer FLARE 0.1000: 0.800x (aim ≤ 0.75x: not met)" in text
    assert "- Cd R^2: LRSA 0.9800 (aim ≥ 0.9: met; stretch ≥ 0.97: met)." in text
    assert ("LRSA 50.0 counts against Transolver 60.0, FLARE 45.0, GeoTransolver 70.0: not met.") in text
    # Before LRSA finishes a run nothing is claimed for it.
    peers_only = {key: run for key, run in runs.items() if not key.startswith("LRSA")}
    early = accuracy.tables.tables(protocol, {"runs": peers_only})
    assert "- Surface p relative L2: not measured (LRSA has no finished run)." in early
    assert "- Cd R^2 (aim ≥ 0.9): not measured" in early
    lrsa_only = {key: run for key, run in runs.items() if key.startswith("LRSA")}
    alone = accuracy.tables.tables(protocol, {"runs": lrsa_only})
    assert "- Cd error lower than every peer's: not measured (no peer has a finished run)." in alone


def test_update_docs_adds_a_new_protocols_block_once_and_rewrites_only_it(accuracy, tmp_path, monkeypatch):
    monkeypatch.setattr(accuracy.paths, "ROOT", tmp_path)
    docs_path = tmp_path / "docs" / "benchmarks.md"
    docs_path.parent.mkdir()
    other = "<!-- accuracy:begin airfoil -->\nairfoil table\n<!-- accuracy:end airfoil -->"
    docs_path.write_text(f"# Benchmarks\n\n{other}\n\nclosing words\n")
    monkeypatch.setattr(accuracy.paths, "DOCS_PATH", docs_path)
    protocol = accuracy.protocols.PROTOCOLS["ahmed"]
    runs = dict([_stored_body_run(accuracy, protocol, "LRSA", 0, 0.06, 0.0030, 0.95)])
    accuracy.docs.update_docs(protocol, {"runs": runs})
    first = docs_path.read_text()
    assert first.startswith(f"# Benchmarks\n\n{other}\n\nclosing words\n\n## Results: `ahmed` protocol")
    assert first.count("<!-- accuracy:begin ahmed -->") == 1 and "| LRSA | 1 of 3 | 30.0 |" in first
    runs.update([_stored_body_run(accuracy, protocol, "LRSA", 1, 0.06, 0.0040, 0.95)])
    accuracy.docs.update_docs(protocol, {"runs": runs})
    second = docs_path.read_text()
    assert second.count("<!-- accuracy:begin ahmed -->") == 1 and "| LRSA | 2 of 3 | 35.0 ± 7.1 |" in second
    assert second.split("<!-- accuracy:begin ahmed -->")[0] == first.split("<!-- accuracy:begin ahmed -->")[0]
    # Half a block is a hand edit gone wrong: refused, the file left as it was.
    docs_path.write_text("<!-- accuracy:begin ahmed -->\nno end marker\n")
    with pytest.raises(SystemExit, match="only one of '<!-- accuracy:begin ahmed -->'"):
        accuracy.docs.update_docs(protocol, {"runs": runs})
    assert docs_path.read_text() == "<!-- accuracy:begin ahmed -->\nno end marker\n"



def _wall_clock_study(accuracy, protocol):
    """A wall-clock study as the runner stores it, half done: a real plan (LRSA fastest at 2 s/epoch,
    a 200 s budget), LRSA's and Transolver's three seeds finished (Transolver's seed 2 diverged),
    FLARE's seed 0 finished and seed 1 at epoch 24 of 40, GeoTransolver not started, over 3 rounds."""
    plan = accuracy.protocols.plan_wall_clock(
        protocol, {"LRSA": [2.0, 2.2, 1.8], "Transolver": [4.0], "FLARE": [5.0], "GeoTransolver": [4.0]})
    runs, slices = {}, []
    finished = {("LRSA", 0): 0.10, ("LRSA", 1): 0.12, ("LRSA", 2): 0.11,
                ("Transolver", 0): 0.20, ("Transolver", 1): 0.24, ("Transolver", 2): math.nan, ("FLARE", 0): 0.16}
    for spec in accuracy.protocols.wall_clock_runs(protocol, plan):
        error = finished.get((spec.model, spec.seed))
        if spec.model == "GeoTransolver":
            continue
        for round_index in range(3):
            done = spec.epochs if error is not None and round_index == 2 else (round_index + 1) * 12
            slices.append({"round": round_index, "run_id": spec.run_id, "epochs_done": done, "train_seconds": 40.0,
                           "finished": done == spec.epochs})
            if error is None and round_index == 1:
                break  # FLARE's unfinished seeds stopped after round 1 (epoch 24)
        if error is None:
            continue
        metrics = {"surface_rel_l2/p": error * 2, "Cl_abs_error": error / 10, "Cd_abs_error": 0.001, "Cd_rel_error": 0.1}
        runs[spec.run_id] = {
            "run_id": spec.run_id, "spec": dataclasses.asdict(spec), "parameters": 1000,
            "diverged": not math.isfinite(error), "test_rel_l2": {"p": error}, "test_metrics": metrics,
            "train_seconds": 190.0 + spec.seed * 5, "epochs_timed": spec.epochs, "train_history": [],
        }
    return {"epoch_timing": {"rounds": 3, "seconds": {}, "device": "cpu", "torch_threads": 1},
            "plan": plan, "slices": slices, "runs": runs}


def test_the_wall_clock_study_reports_errors_at_equal_training_seconds_and_what_is_missing(accuracy):
    protocol = accuracy.protocols.PROTOCOLS["airfoil"]
    study = _wall_clock_study(accuracy, protocol)
    report = accuracy.tables.tables(protocol, {"runs": {}, "wall_clock": study})
    text = report.split("**Equal training wall-clock**", 1)[1]  # the main comparison's rows start alike
    assert "one budget of 200.0 s of training" in text
    assert ("| model | planned epochs | planned s | train s (of budget) | seeds | test rel. L2 | vs best peer | "
            "vs Transolver | surface p | abs. Cl error | abs. Cd error | rel. Cd error |") in text
    # LRSA (mean 0.11) against FLARE's one seed (0.16, the best peer) and Transolver's two finite seeds (0.22).
    assert _row(text, "| LRSA |") == (
        "| LRSA | 100 | 200.0 | 195.0 (0.97x) | 3 of 3 | 0.1100 ± 0.0100 | 0.69x FLARE | 0.50x | "
        "0.2200 ± 0.0200 | 0.0110 ± 0.0010 | 0.0010 ± 0.0000 | 0.1000 ± 0.0000 |")
    # A diverged seed is counted, left out of every number.
    assert _row(text, "| Transolver |").startswith(
        "| Transolver | 50 | 200.0 | 192.5 (0.96x) | 2 of 3 (+1 diverged, left out) | 0.2200 ± 0.0283 | 2.00x LRSA | 1.00x |")
    assert _row(text, "| FLARE |").startswith("| FLARE | 40 | 200.0 | 190.0 (0.95x) | 1 of 3 | 0.1600 | 1.45x LRSA | 0.73x |")
    assert _row(text, "| GeoTransolver |").startswith("| GeoTransolver | 50 | 200.0 | n/a | 0 of 3 | n/a | n/a | n/a |")
    plan_line = _row(text, "Plan: ")
    assert plan_line.startswith(f"Plan: {study['plan']['rule']}. Reference model LRSA: 100 epochs at 2.00 s/epoch")
    assert "cpu, 1 thread(s), 3 rounds" in plan_line and plan_line.endswith(
        "5 slices of 40.0 s per run; the slices took 3 round(s) so far.")
    partial = _row(text, "PARTIAL: 5 of 12 planned wall-clock run(s)")
    assert "FLARE-M32-wallclock-fp32-e40-s1 (epoch 24 of 40)" in partial
    assert "GeoTransolver-M32-wallclock-fp32-e50-s2 (not started)" in partial
    assert "LRSA-M32" not in partial
    # The protocol's own runs (12 main, 6 precision, 4 raw-targets) are still named apart, in the report's last line.
    assert report.splitlines()[-1].startswith("PARTIAL: 22 run(s) not finished")


def test_a_finished_wall_clock_study_has_no_partial_line_and_reaches_the_docs_block(accuracy, tmp_path, monkeypatch):
    protocol = accuracy.protocols.PROTOCOLS["airfoil-large"]
    study = _wall_clock_study(accuracy, protocol)
    study["plan"]["epochs"].pop("GeoTransolver")  # a model the stored plan has no epochs for
    for run_id in [key for key, run in study["runs"].items() if run["spec"]["model"] == "FLARE"]:
        del study["runs"][run_id]
    study["runs"] = {key: run for key, run in study["runs"].items() if run["spec"]["model"] in ("LRSA", "Transolver")}
    text = accuracy.tables.wall_clock_table(
        dataclasses.replace(protocol, models=("LRSA", "Transolver", "GeoTransolver")), study)
    joined = "\n".join(text)
    assert "PARTIAL" not in joined and "| FLARE |" not in joined and "| GeoTransolver |" not in joined
    assert "stored plan has no epochs for (not run in this study): GeoTransolver." in joined
    assert joined.split("\n")[-3].endswith("the slices took 3 round(s).")
    # Without a plan (the timing that makes it not stored yet) it says so instead of a table.
    assert accuracy.tables.wall_clock_table(protocol, {"runs": {}, "slices": []})[-1].startswith(
        "**Equal training wall-clock**: not planned yet")
    docs_path = tmp_path / "benchmarks.md"
    docs_path.write_text("# Benchmarks\n")
    monkeypatch.setattr(accuracy.paths, "DOCS_PATH", docs_path)
    accuracy.docs.update_docs(protocol, {"runs": {}, "wall_clock": _wall_clock_study(accuracy, protocol)})
    assert "**Equal training wall-clock**" in docs_path.read_text()


def test_the_report_names_the_dataset_its_role_and_generator_seed(accuracy):
    twin = accuracy.protocols.PROTOCOLS["airfoil-seed1"]
    results = {"runs": {}, "dataset": twin.data.record()}
    first = accuracy.tables.tables(twin, results).splitlines()[0]
    assert first == ("**Dataset**: `datasets/airfoil_coarse120_seed1`, generator seed 1: confirmation dataset "
                     "(drawn with another generator seed to re-measure settings chosen elsewhere, never used to choose them).")
    held_out = accuracy.protocols.PROTOCOLS["airfoil-heldout"]
    first = accuracy.tables.tables(held_out, {"runs": {}, "dataset": held_out.data.record()}).splitlines()[0]
    assert first.startswith("**Dataset**: `") and ", held out from datasets/airfoil_coarse120, generator seed 0: " in first
    assert first.endswith("selection dataset (the dataset settings are chosen on).")
    # A file written before the dataset was recorded opens with the main comparison, as it always did.
    assert accuracy.tables.tables(twin, {"runs": {}}).startswith("**Main comparison**")

def test_held_out_view_validates_on_training_cases_and_never_sees_the_test_cases(accuracy, tmp_path, monkeypatch):
    source_root = tmp_path / "datasets" / "airfoil"
    cases = [
        {"id": f"case_{i:04d}", "status": "ok" if i != 3 else "unconverged",
         "split": "test" if i % 5 == 0 else "train", "path": f"cases/case_{i:04d}"}
        for i in range(20)
    ]
    source_root.mkdir(parents=True)
    (source_root / "manifest.json").write_text(json.dumps({"format_version": 1, "cases": cases}))
    monkeypatch.setattr(accuracy.paths, "ROOT", tmp_path)
    # The source dataset is already complete; re-running OpenFOAM is not what is tested.
    monkeypatch.setattr(accuracy.datasets.AirfoilData, "generate", lambda self: None)
    source = accuracy.datasets.AirfoilData("datasets/airfoil", n_cases=20, mesh="coarse", volume_points=8, surface_points=4)
    view = accuracy.datasets.HeldOutData(source, "datasets/airfoil_heldout", n_validation=5)
    view.generate()
    written = json.loads((tmp_path / "datasets" / "airfoil_heldout" / "manifest.json").read_text())["cases"]
    usable_train = {c["id"] for c in cases if c["split"] == "train" and c["status"] == "ok"}
    assert {c["id"] for c in written} == usable_train  # test and failed cases left out
    assert sum(c["split"] == "val" for c in written) == 5
    assert all((tmp_path / "datasets" / "airfoil_heldout" / c["path"]).resolve()
               == (source_root / "cases" / c["id"]).resolve() for c in written)
    view.generate()  # idempotent: same draw, file untouched
    assert json.loads((tmp_path / "datasets" / "airfoil_heldout" / "manifest.json").read_text())["cases"] == written
    assert "data.val_split=val" in view.overrides()
    with pytest.raises(SystemExit, match="cannot hold out 15"):
        accuracy.datasets.HeldOutData(source, "datasets/other", n_validation=15).generate()


def test_stored_results_survive_added_runs_but_not_a_changed_definition(accuracy, tmp_path, monkeypatch):
    monkeypatch.setattr(accuracy.paths, "ROOT", tmp_path)
    protocol = accuracy.protocols.PROTOCOLS["airfoil"]
    accuracy.storage.save_results(protocol, {"protocol": accuracy.storage.protocol_dict(protocol), "runs": {"r": {}}})
    more_seeds = dataclasses.replace(protocol, seeds=(0, 1, 2, 3), tuned_lrsa=None)
    assert accuracy.storage.load_results(more_seeds)["runs"] == {"r": {}}
    wider = dataclasses.replace(protocol, widths={**protocol.widths, "LRSA": (48, 1)})
    with pytest.raises(SystemExit, match="widths differ"):
        accuracy.storage.load_results(wider)


def test_a_stored_run_trained_under_other_configs_is_refused(accuracy, tmp_path, monkeypatch):
    # A new LRSA default or free-stream targets change what a stored run means even though
    # its id and the protocol stay the same: the recorded configs catch it.
    monkeypatch.setattr(accuracy.paths, "ROOT", tmp_path)
    protocol = accuracy.protocols.PROTOCOLS["airfoil"]
    spec = accuracy.protocols.RunSpec("LRSA", 0, "fp32", protocol.n_latents, protocol.epochs)
    definition = accuracy.configs.run_definition(protocol, spec)
    current = {spec.run_id: {"definition": definition}}
    accuracy.storage.save_results(protocol, {"protocol": accuracy.storage.protocol_dict(protocol), "runs": current})
    assert accuracy.storage.load_results(protocol)["runs"] == current
    # Recorded in another checkout: the resolved paths differ, the run is the same.
    elsewhere = {**definition, "data": {**definition["data"], "path": "/elsewhere/d", "cache_dir": "/elsewhere/d/.cache"}}
    elsewhere_runs = {spec.run_id: {"definition": elsewhere}}
    accuracy.storage.save_results(protocol, {"protocol": accuracy.storage.protocol_dict(protocol), "runs": elsewhere_runs})
    assert accuracy.storage.load_results(protocol)["runs"] == elsewhere_runs
    old_default = {**definition, "model": {**definition["model"], "logit_scale": None}}
    accuracy.storage.save_results(
        protocol, {"protocol": accuracy.storage.protocol_dict(protocol), "runs": {spec.run_id: {"definition": old_default}}}
    )
    with pytest.raises(SystemExit, match=r"LRSA-M32-fp32-e100-s0 \(model.logit_scale differ\)"):
        accuracy.storage.load_results(protocol)
    accuracy.storage.save_results(protocol, {"protocol": accuracy.storage.protocol_dict(protocol), "runs": {spec.run_id: {}}})
    with pytest.raises(SystemExit, match="no recorded configs"):
        accuracy.storage.load_results(protocol)


def test_a_result_already_in_the_log_is_taken_without_training_again(accuracy, tmp_path):
    protocol = accuracy.protocols.PROTOCOLS["airfoil"]
    spec = accuracy.protocols.ordered_runs(protocol)[0]
    (tmp_path / f"{spec.run_id}.log").write_text(
        "epoch 100/100 ...\n" + accuracy.child.RESULT_MARKER + json.dumps({"run_id": spec.run_id, "test_rel_l2": {}}) + "\n"
    )
    # A real launch would train for an hour; the logged result comes back at once.
    assert accuracy.runner.launch(protocol, spec, tmp_path) == {"run_id": spec.run_id, "test_rel_l2": {}}


def test_the_documented_command_line_is_what_child_runs_execute(accuracy):
    # Children run paths.ENTRY_POINT; README.md and docs/ document benchmarks/accuracy.py.
    assert accuracy.paths.ENTRY_POINT == ROOT / "benchmarks" / "accuracy.py"
    done = subprocess.run([sys.executable, str(accuracy.paths.ENTRY_POINT), "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert accuracy.__doc__.splitlines()[0] in " ".join(done.stdout.split())
    assert all(option in done.stdout for option in ("--protocol", "--study", "--report", "--update-docs", "--readme-table"))


def test_attention_focus_reports_how_far_latents_concentrate(make_lrsa):
    spec = importlib.util.spec_from_file_location("attention_focus", ROOT / "benchmarks" / "attention_focus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    sample = {"fx": torch.randn(500, 2), "embedding": torch.rand(500, 2), "is_surface": torch.arange(500) < 50}
    rows = {}
    # The plain qk-norm bound at this head width (sqrt(8)), and the default learned scale.
    plain, default = math.sqrt(8), 10.0
    for scale in (plain, default):
        torch.manual_seed(1)
        model = make_lrsa(logit_scale=scale)
        with torch.no_grad():
            for p in model.parameters():
                if p.ndim == 2:
                    p.mul_(15.0)  # past the 0.02 init, so keys differ from point to point
        rows[scale] = module.focus(model, sample)
    assert len(rows[plain]) == len(make_lrsa().blocks)
    for row in rows[plain] + rows[default]:
        assert 0.0 < row["effective_points_share_min"] <= row["effective_points_share_median"] <= 1.0
        assert row["max_weight_over_uniform_median"] >= 1.0 and row["wall_points_share"] == pytest.approx(0.1)
    # Same weights apart from the logit scales: the default's larger bound focuses the first block.
    assert rows[default][0]["effective_points_share_median"] < rows[plain][0]["effective_points_share_median"]


def test_3d_runs_with_per_case_forces_draw_predicted_against_true_drag(accuracy, tmp_path, monkeypatch):
    protocol = accuracy.protocols.PROTOCOLS["ahmed"]
    monkeypatch.setattr(accuracy.paths, "FIGURES", tmp_path)
    runs = dict(_stored_body_run(accuracy, protocol, name, 0, 0.1, 0.003, 0.9) for name in ("LRSA", "FLARE"))
    cases = [{"case_id": f"case_{k}", "predicted": {"Cd": 0.3 + 0.01 * k}, "true": {"Cd": 0.31 + 0.01 * k}} for k in range(4)]
    runs[next(iter(runs))]["test_cases"] = cases  # FLARE's run predates per-case records: no panel
    written = accuracy.figures.figures(protocol, {"runs": runs})
    assert tmp_path / "accuracy_ahmed_cd_predicted_vs_true.png" in written
    assert all(path.stat().st_size > 0 for path in written)
    # Without per-case records, no drag figure.
    del runs[next(iter(runs))]["test_cases"]
    assert tmp_path / "accuracy_ahmed_cd_predicted_vs_true.png" not in accuracy.figures.figures(protocol, {"runs": runs})


def test_the_3d_loss_study_tunes_on_held_out_training_bodies_and_reports_drag_bias(accuracy):
    protocol = accuracy.protocols.PROTOCOLS["ahmed-heldout"]
    runs = accuracy.protocols.studies(protocol)["loss"]
    # The baseline is the plain LRSA run; each setting is in its run id, so results never mix.
    assert [run.run_id for run in runs] == [
        "LRSA-M32-fp32-e100-s0", "LRSA-M32-FW1-fp32-e100-s0", "LRSA-M32-FW4-fp32-e100-s0", "LRSA-M32-AW-fp32-e100-s0",
        "LRSA-M32-FW0.1-fp32-e100-s0", "LRSA-M32-FW0.3-fp32-e100-s0"]
    assert protocol.data.kind == "ahmed" and "data.val_split=val" in protocol.data.overrides()
    assert protocol.data.record()["held_out_from"] == "datasets/ahmed_coarse60"
    assert "loss" in accuracy.protocols.SELECTION_STUDIES
    stored = {}
    for index, run in enumerate(runs[:2]):
        run_id, record = _stored_body_run(accuracy, protocol, "LRSA", 0, 0.1 - 0.01 * index, 0.004 - 0.001 * index, 0.5)
        record["test_cases"] = [{"case_id": "a", "predicted": {"Cd": 0.30}, "true": {"Cd": 0.33}},
                                {"case_id": "b", "predicted": {"Cd": 0.31}, "true": {"Cd": 0.32}}]
        stored[run.run_id] = record
    text = accuracy.tables.tables(protocol, {"runs": stored})
    assert "errors on the validation cases" in text
    # Bias: mean of (-0.03, -0.01) = -200 counts; the FW1 run's Cd error 0.003 = 30 counts.
    assert "| 0 | no | " in text and "| 40.0 | 0.500 | 0.900 | -200.0 |" in text
    assert "| 1 | no | " in text and "| 30.0 | 0.500 | 0.900 | -200.0 |" in text
    assert "| 4 | no | not run |" in text and "| 0 | yes | not run |" in text
