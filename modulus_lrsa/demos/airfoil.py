# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``make demo`` / ``python -m modulus_lrsa.demos.airfoil``: an LRSA surrogate of OpenFOAM airfoils.

The main job of the package, end to end, in about ten minutes on two CPU cores:

1. ``lrsa-data airfoil``: OpenFOAM (simpleFoam, Spalart-Allmaras) solves a set of NACA
   4-digit sections at random angles of attack and speeds on a coarse C-grid;
2. the preprocessing cache (``lrsa-train``'s datapipe): cell centres and volumes, wall
   faces and areas, Warp signed distances and wall normals;
3. ``lrsa-train data=airfoil``: LRSA learns velocity, pressure and eddy viscosity in the
   volume and pressure and wall shear on the wall, for as many epochs as the time budget
   allows (timed at start-up, like the Darcy demo);
4. ``lrsa-predict`` on every held-out airfoil (its own mesh), and once on a held-out
   airfoil given only its wall contour (volume points sampled around it).

It writes to ``outputs/demo/``:

* ``metrics.json``: relative L2 per field (volume and wall; mean and worst over the held-out
  airfoils), Cl and Cd errors against OpenFOAM's ``forceCoeffs``, the wall-only
  prediction's Cl, time per phase, model and data sizes;
* ``pressure_coefficient.png``: wall Cp, LRSA against OpenFOAM, for three held-out airfoils;
* ``fields.png``: pressure and velocity magnitude around one held-out airfoil (OpenFOAM,
  LRSA, error), on the real mesh and zoomed to the airfoil;
* ``predictions/<case>/prediction.vtm`` per held-out airfoil, for ParaView;
* ``lrsa_airfoil_demo.mdlus`` (+ ``.data.json``), the trained model;
* ``data/`` (the OpenFOAM cases and their cache) and ``training/`` (the run).

A rerun reuses the data and the cache; training starts afresh. On a GPU the same command
uses it. A rerun never leaves the result set mixed from two runs (see
:mod:`modulus_lrsa.demos.common`): ``metrics.json`` is removed first and written last, as
the mark of a complete set; ``predictions/`` (every held-out case) and ``from_wall/`` are
each written in a hidden sibling and swapped in whole, so a killed run leaves the earlier
folder or none, never old cases beside new ones.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modulus_lrsa.atomic import atomic_folder
from modulus_lrsa.demos.common import (
    METRICS_NAME,
    add_run_arguments,
    begin_result_set,
    compose_config,
    copy_file,
    copy_model,
    generator_progress,
    log,
    measure_speed,
    openfoam_demo_main,
    save_figure,
    training_overrides,
)

MODEL_NAME = "lrsa_airfoil_demo.mdlus"
FIGURES = ("pressure_coefficient.png", "fields.png")

#: Model of the demo: the structure of the paper's model, sized for 2 CPU cores.
DEMO_MODEL = {"n_layers": 4, "n_hidden": 64, "n_head": 4, "n_latents": 32, "mlp_ratio": 2, "n_frequencies": 8}
#: Points drawn per case and step; the coarse mesh has 7,560 cells and 108 wall faces.
#: Chosen on held-out training airfoils at equal time: 2048 cells per step (more, cheaper
#: epochs) beat 4096 (docs/demo.md, benchmarks/results/demo_airfoil_tuning.json).
DEMO_VOLUME_POINTS = 2048
DEMO_SURFACE_POINTS = 512
DEMO_BATCH_SIZE = 2
DEMO_LR = 1.0e-3
#: Seconds kept back for the predictions, the figures and the wall-only prediction.
_RESERVE_S = 45.0
_LOOP_OVERHEAD = 1.15


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m modulus_lrsa.demos.airfoil",
        description="Solve OpenFOAM airfoils, train an LRSA surrogate on them and predict unseen airfoils.",
    )
    add_run_arguments(parser, "outputs/demo", time_budget=600.0, max_epochs=400,
                      jobs_help="OpenFOAM cases solved at once")
    parser.add_argument("--n-cases", type=int, default=48,
                        help="OpenFOAM cases, 20%% of them held out (default: 48; about 2 s each on 2 cores)")
    return parser


def _config(args: argparse.Namespace, data_folder: Path, training_dir: Path, epochs: int,
            time_limit_s: float | None = None):
    return compose_config([
        "data=airfoil",
        "training=airfoil",
        f"data.path={data_folder}",
        f"data.volume_points={DEMO_VOLUME_POINTS}",
        f"data.surface_points={DEMO_SURFACE_POINTS}",
        f"training.scheduler.warmup_epochs={max(1, epochs // 20)}",
        # One validation, after the last epoch: the held-out airfoils never choose a checkpoint.
        f"training.validate_every_epochs={epochs}",
        *training_overrides(args, training_dir, "airfoil_demo", epochs, DEMO_BATCH_SIZE, 1, DEMO_LR, time_limit_s,
                            DEMO_MODEL),
    ])


def _solve_cases(args: argparse.Namespace, folder: Path) -> tuple[dict[str, Any], float]:
    from modulus_lrsa.data.airfoil.dataset import generate_airfoil_dataset

    started = time.perf_counter()
    with generator_progress():
        manifest = generate_airfoil_dataset(folder, n_cases=args.n_cases, seed=args.seed, resolution="coarse",
                                            test_fraction=0.2, jobs=args.jobs)
    return manifest, time.perf_counter() - started


def _plan_epochs(args: argparse.Namespace, elapsed: float, seconds_per_sample: float, n_train: int,
                 validation_seconds: float) -> int:
    """Epochs that fit what is left of the budget, the final validation included."""
    remaining = args.time_budget - elapsed - _RESERVE_S - validation_seconds
    epochs = math.floor(remaining / (n_train * seconds_per_sample)) if remaining > 0 else 0
    return int(min(args.max_epochs, max(1, epochs)))


def _summarize(per_case: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and worst of every error over the held-out cases."""
    fields = sorted({key for case in per_case for key in case["rel_l2"]})
    summary: dict[str, Any] = {"rel_l2": {}}
    for field in fields:
        # None: undefined for that case (a field that is zero there), see predict.relative_l2.
        values = np.array([case["rel_l2"][field] for case in per_case if case["rel_l2"].get(field) is not None])
        summary["rel_l2"][field] = {"mean": float(values.mean()), "worst": float(values.max())} if values.size else None
    lift = np.array([case["abs_error_Cl"] for case in per_case])
    drag = np.array([case["rel_error_Cd"] for case in per_case])
    summary["abs_error_Cl"] = {"mean": float(lift.mean()), "worst": float(lift.max())}
    summary["rel_error_Cd"] = {"mean": float(drag.mean()), "worst": float(drag.max())}
    return summary


def _holds_only_case_folders(folder: Path) -> bool:
    """An earlier ``predictions/``: one folder per case."""
    return all(entry.is_dir() for entry in folder.iterdir())


def _holds_only_wall_prediction(folder: Path) -> bool:
    """An earlier ``from_wall/``: the wall file and its ``prediction/``."""
    return all(entry.name == "prediction" or entry.name.endswith("_wall.vtp") for entry in folder.iterdir())


def _predict_held_out(model_path: Path, cases: list[Path], out: Path, device: torch.device) -> list[dict[str, Any]]:
    """Predict every held-out case into ``out/<case>``.

    The whole of ``out`` is written in a hidden sibling and swapped in at the end; the
    records name the files where they are then.
    """
    from modulus_lrsa.inference.common import RunOptions, load_model
    from modulus_lrsa.inference.mesh import MeshOptions, predict_case

    model, descriptor = load_model(model_path, device)
    per_case = []
    with atomic_folder(out, _holds_only_case_folders, "a demo's predictions/ (one folder per case)") as folder:
        for index, case in enumerate(cases, 1):
            quantities = predict_case(model, descriptor, case, folder / case.name, MeshOptions(run=RunOptions(device=device)))
            solver = quantities["forces"]["reported_by_solver"]
            predicted = quantities["forces"]["predicted"]
            per_case.append({
                "case": case.name,
                "rel_l2": quantities["rel_l2"],
                "Cl": {"openfoam": solver["Cl"], "lrsa": predicted["Cl"]},
                "Cd": {"openfoam": solver["Cd"], "lrsa": predicted["Cd"]},
                "abs_error_Cl": abs(predicted["Cl"] - solver["Cl"]),
                "rel_error_Cd": abs(predicted["Cd"] - solver["Cd"]) / abs(solver["Cd"]),
                "prediction": str(out / case.name / "prediction.vtm"),
            })
            log(f"predicted {index}/{len(cases)} {case.name}: wall p rel. L2 {quantities['rel_l2']['surface/p']:.3f}, "
                f"Cl {predicted['Cl']:.3f} (OpenFOAM {solver['Cl']:.3f})")
    return per_case


def _predict_from_wall(model_path: Path, case: Path, out: Path, device: torch.device) -> dict[str, Any]:
    """The new-design path: the airfoil's wall contour and its conditions, no mesh.

    ``out`` gets a copy of the wall file (to try ``lrsa-predict --sample-volume`` on) and
    ``prediction/``, written together in a hidden sibling and swapped in whole. The
    prediction reads the case's own wall file, which the copy equals, so that its
    ``quantities.json`` names a file that stays where it is.
    """
    from modulus_lrsa.inference.common import RunOptions, load_model
    from modulus_lrsa.inference.new_geometry import NewGeometryOptions, predict_new_geometry

    model, descriptor = load_model(model_path, device)
    params = json.loads((case / "case.json").read_text())["params"]
    source = next(case.glob("VTK/*/boundary/airfoil.vtp"))
    wall = out / f"{case.name}_wall.vtp"
    with atomic_folder(out, _holds_only_wall_prediction, "a demo's from_wall/ (a wall file and prediction/)") as folder:
        copy_file(source, folder / wall.name)
        conditions = {name: float(params[name]) for name in ("U", "aoa_deg")}
        quantities = predict_new_geometry(model, descriptor, source, folder / "prediction",
                                          NewGeometryOptions(conditions=conditions, run=RunOptions(device=device)))
    return {"case": case.name, "wall_file": str(wall), "Cl": quantities["forces"]["predicted"]["Cl"],
            "Cd": quantities["forces"]["predicted"]["Cd"], "wall_p_rel_l2": quantities["rel_l2"].get("surface/p"),
            "volume_points": quantities["sampling"]["volume_points"], "prediction": str(out / "prediction")}


def _read(path: Path):
    import vtk

    reader = vtk.vtkXMLPolyDataReader() if path.suffix == ".vtp" else vtk.vtkXMLUnstructuredGridReader()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()


def _cell_centres_and(path: Path, names: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    dataset = _read(path)
    centres = vtk.vtkCellCenters()
    centres.SetInputData(dataset)
    centres.Update()
    positions = vtk_to_numpy(centres.GetOutput().GetPoints().GetData())[:, :2]
    arrays = {name: vtk_to_numpy(dataset.GetCellData().GetArray(name)).astype(np.float64) for name in names}
    return positions, arrays


def _around(points: np.ndarray) -> np.ndarray:
    """Order of wall points around the section, by angle about their centroid."""
    centre = points.mean(axis=0)
    return np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))


def _plot_pressure_coefficient(cases: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(cases), figsize=(4.6 * len(cases), 4.0), constrained_layout=True, squeeze=False)
    for axis, case in zip(axes[0], cases):
        surface = Path(case["prediction"]).with_name("surface.vtp")
        positions, arrays = _cell_centres_and(surface, ["Cp", "Cp_predicted"])
        order = _around(positions)
        x = positions[order, 0]
        axis.plot(x, arrays["Cp"][order], "k-", lw=1.5, label="OpenFOAM")
        axis.plot(x, arrays["Cp_predicted"][order], "o", ms=3, color="tab:red", label="LRSA")
        axis.invert_yaxis()
        axis.set_xlabel("x / c")
        axis.set_title(f"{case['case']}: Cl {case['Cl']['lrsa']:.3f} (OpenFOAM {case['Cl']['openfoam']:.3f})\n"
                       f"wall p rel. L2 {case['rel_l2']['surface/p']:.3f}", fontsize=9)
    axes[0, 0].set_ylabel("Cp")
    axes[0, 0].legend()
    figure.suptitle("Wall pressure coefficient on held-out airfoils")
    save_figure(figure, path)


def _plot_fields(case: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.path import Path as Polygon
    from matplotlib.tri import Triangulation

    volume = Path(case["prediction"]).with_name("volume.vtu")
    positions, arrays = _cell_centres_and(volume, ["p", "p_predicted", "U", "U_predicted"])
    wall, _ = _cell_centres_and(Path(case["prediction"]).with_name("surface.vtp"), [])
    triangulation = Triangulation(positions[:, 0], positions[:, 1])
    # Delaunay triangles across the airfoil are not fluid: mask those whose centre lies inside it.
    contour = wall[_around(wall)]
    centres = positions[triangulation.triangles].mean(axis=1)
    triangulation.set_mask(Polygon(contour).contains_points(centres))
    speed = {key: np.linalg.norm(arrays[key][:, :2], axis=1) for key in ("U", "U_predicted")}
    rows = [("p", arrays["p"], arrays["p_predicted"]), ("|U|", speed["U"], speed["U_predicted"])]
    views = [("wake", (-2.0, 6.0, -2.0, 2.0)), ("near the airfoil", (-0.4, 1.6, -0.5, 0.5))]
    figure, axes = plt.subplots(4, 3, figsize=(13.5, 13.0), constrained_layout=True)
    for view_index, (view_name, limits) in enumerate(views):
        for field_index, (name, truth, predicted) in enumerate(rows):
            row = 2 * view_index + field_index
            low, high = np.percentile(truth, [1, 99])
            panels = [(truth, "viridis", (low, high)), (predicted, "viridis", (low, high)),
                      (np.abs(predicted - truth), "magma", (0, np.percentile(np.abs(predicted - truth), 99)))]
            for column, (values, color_map, (vmin, vmax)) in enumerate(panels):
                axis = axes[row, column]
                image = axis.tripcolor(triangulation, values, shading="gouraud", cmap=color_map, vmin=vmin, vmax=vmax)
                axis.fill(contour[:, 0], contour[:, 1], color="0.85")
                axis.set_xlim(limits[:2])
                axis.set_ylim(limits[2:])
                axis.set_aspect("equal")
                axis.set_title(f"{name}: {('OpenFOAM', 'LRSA', '|LRSA - OpenFOAM|')[column]} ({view_name})", fontsize=9)
                figure.colorbar(image, ax=axis, shrink=0.8)
    figure.suptitle(f"{case['case']} (held out): kinematic pressure and velocity magnitude")
    save_figure(figure, path, dpi=80)


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Every step of the demo; returns what is written to ``metrics.json``."""
    from modulus_lrsa.atomic import atomic_write_json
    from modulus_lrsa.descriptor import descriptor_path
    from modulus_lrsa.models.trusted import load_trusted_model
    from modulus_lrsa.training.data import build_training_data
    from modulus_lrsa.training.train import run_training

    started = time.perf_counter()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    begin_result_set(out, [MODEL_NAME, descriptor_path(out / MODEL_NAME).name, *FIGURES])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log(f"device {device}; writing to {out}")
    seconds: dict[str, float] = {}

    log(f"OpenFOAM: {args.n_cases} coarse NACA cases with simpleFoam ({args.jobs} at a time; finished cases are reused)")
    manifest, seconds["openfoam"] = _solve_cases(args, out / "data")
    summary = manifest["summary"]
    log(f"OpenFOAM: {summary['ok']} converged ({summary['train']} train, {summary['test']} held out), "
        f"{summary['unconverged']} unconverged, {summary['failed']} failed, {seconds['openfoam']:.0f} s")

    training_dir = out / "training"
    shutil.rmtree(training_dir, ignore_errors=True)  # epochs depend on the machine: always train afresh
    phase = time.perf_counter()
    probe_cfg = _config(args, out / "data", training_dir, epochs=1)
    data = build_training_data(probe_cfg.data, seed=args.seed)
    seconds["cache"] = time.perf_counter() - phase
    log(f"cache: {len(data.train)} training and {len(data.validation)} held-out cases with Warp distances and "
        f"normals in {seconds['cache']:.0f} s ({out / 'data' / '.cache'})")
    train_speed, validation_speed = measure_speed(probe_cfg, data, device)
    if args.epochs is not None:
        epochs, time_limit_s = args.epochs, None
        log(f"{epochs} epochs as requested (no time limit)")
    else:
        seconds_per_sample = _LOOP_OVERHEAD * train_speed
        validation_seconds = _LOOP_OVERHEAD * validation_speed * len(data.validation)
        epochs = _plan_epochs(args, time.perf_counter() - started, seconds_per_sample, len(data.train),
                              validation_seconds)
        log(f"{seconds_per_sample * 1e3:.0f} ms per training case, {validation_seconds:.1f} s per validation "
            f"on {device}: {epochs} epochs fit the budget")
        time_limit_s = max(args.time_budget - (time.perf_counter() - started) - _RESERVE_S - validation_seconds, 1.0)
    cfg = _config(args, out / "data", training_dir, epochs=epochs, time_limit_s=time_limit_s)
    phase = time.perf_counter()
    training = run_training(cfg)
    seconds["training"] = time.perf_counter() - phase

    model_path = out / MODEL_NAME
    copy_model(Path(training["best_model"]), model_path)
    phase = time.perf_counter()
    held_out = [out / "data" / "cases" / case["id"] for case in manifest["cases"]
                if case.get("split") == "test" and case.get("status") == "ok"]
    per_case = _predict_held_out(model_path, held_out, out / "predictions", device)
    seconds["prediction"] = time.perf_counter() - phase
    phase = time.perf_counter()
    from_wall = _predict_from_wall(model_path, held_out[0], out / "from_wall", device)
    from_wall["Cl_on_mesh"] = per_case[0]["Cl"]["lrsa"]
    from_wall["Cl_openfoam"] = per_case[0]["Cl"]["openfoam"]
    seconds["prediction_from_wall"] = time.perf_counter() - phase
    log(f"{from_wall['case']} from its wall alone ({from_wall['volume_points']} sampled points): "
        f"Cl {from_wall['Cl']:.3f}, on its mesh {from_wall['Cl_on_mesh']:.3f}, OpenFOAM {from_wall['Cl_openfoam']:.3f}")

    phase = time.perf_counter()
    ranked = sorted(per_case, key=lambda case: case["rel_l2"]["surface/p"])
    # Best, median and worst wall pressure, so the figure does not flatter the model.
    picks = list({id(case): case for case in (ranked[0], ranked[len(ranked) // 2], ranked[-1])}.values())
    _plot_pressure_coefficient(picks, out / FIGURES[0])
    _plot_fields(ranked[len(ranked) // 2], out / FIGURES[1])
    seconds["figures"] = time.perf_counter() - phase
    seconds["total"] = time.perf_counter() - started

    parameters = sum(p.numel() for p in load_trusted_model(model_path).parameters())
    first_case = data.train.cache.cases()[0]
    metrics = {
        "held_out": _summarize(per_case),
        "held_out_cases": per_case,
        "from_wall_only": from_wall,
        "cases": {"train": len(data.train), "held_out": len(per_case), "cells_per_case": first_case["num_volume_points"],
                  "wall_faces_per_case": first_case["num_surface_points"],
                  "unconverged": summary["unconverged"], "failed": summary["failed"]},
        "epochs": epochs,
        "epochs_run": training["history"][-1]["epoch"] if training["history"] else 0,
        "stopped_by_time_limit": training["stopped_by_time_limit"],
        "best_epoch": training["best_epoch"],
        "optimizer_steps": training["global_step"],
        "model": {"class": "LRSA", "parameters": parameters,
                  **{key: cfg.model[key] for key in ("n_layers", "n_hidden", "n_head", "n_latents", "logit_scale")}},
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "time_budget_s": args.time_budget,
        "seconds": {key: round(value, 1) for key, value in seconds.items()},
        "files": {"model": str(model_path), "pressure_coefficient": str(out / FIGURES[0]),
                  "fields": str(out / FIGURES[1]), "predictions": str(out / "predictions"),
                  "data": str(out / "data"), "training_run": str(training_dir)},
    }
    # Last: the mark that the result set is complete.
    atomic_write_json(out / METRICS_NAME, metrics, allow_nan=False)
    return metrics


def summary(metrics: dict[str, Any]) -> str:
    """A short paragraph for the terminal."""
    held_out, model, seconds = metrics["held_out"], metrics["model"], metrics["seconds"]
    wall_p = held_out["rel_l2"]["surface/p"]
    wall = metrics["from_wall_only"]
    return (
        f"LRSA ({model['parameters']:,} parameters) learned RANS flow around NACA airfoils from "
        f"{metrics['cases']['train']} OpenFOAM cases in {metrics['epochs_run']} epochs "
        f"({seconds['training']:.0f} s of training, {seconds['total']:.0f} s in all on {metrics['device']}). "
        f"On {metrics['cases']['held_out']} unseen airfoils: wall pressure relative L2 {wall_p['mean']:.3f} "
        f"(worst {wall_p['worst']:.3f}), |dCl| {held_out['abs_error_Cl']['mean']:.3f} (worst "
        f"{held_out['abs_error_Cl']['worst']:.3f}) against OpenFOAM's forceCoeffs, volume p "
        f"{held_out['rel_l2']['p']['mean']:.3f}, U[0] {held_out['rel_l2']['U[0]']['mean']:.3f}. "
        f"From its wall contour alone, {wall['case']} gets Cl {wall['Cl']:.3f} (on its mesh {wall['Cl_on_mesh']:.3f}, "
        f"OpenFOAM {wall['Cl_openfoam']:.3f}). Figures: {metrics['files']['pressure_coefficient']}, "
        f"{metrics['files']['fields']}; ParaView: {metrics['files']['predictions']}/<case>/prediction.vtm; "
        f"model: {metrics['files']['model']}."
    )


def main(argv: list[str] | None = None) -> int:
    return openfoam_demo_main("demo", build_parser().parse_args(argv), run_demo, summary, 5, "a fifth")


if __name__ == "__main__":
    sys.exit(main())
