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
            key = (type(protocol.data), run.model, run.precision, run.n_frequencies, run.logit_scale, run.free_stream)
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
    view = accuracy.datasets.HeldOutAirfoilData(source, "datasets/airfoil_heldout", n_validation=5)
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
        accuracy.datasets.HeldOutAirfoilData(source, "datasets/other", n_validation=15).generate()


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
