# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``make demo-3d`` / ``python -m modulus_lrsa.demos.ahmed``: an LRSA surrogate of OpenFOAM Ahmed bodies.

The 3D job end to end, in about twenty minutes on two CPU cores:

1. ``lrsa-data ahmed``: OpenFOAM (snappyHexMesh, simpleFoam k-omega SST) solves a small
   family of Ahmed bodies on the coarse preset: Ahmed's body with its rear slant angle
   and the free-stream speed varied (:data:`DEMO_RANGES`);
2. the preprocessing cache and ``lrsa-train data=ahmed``: LRSA learns U, p and nut in the
   volume and p and wall shear on the body, for the epochs that fit the time budget;
3. ``lrsa-predict`` on every held-out body (its own mesh), on the STL of the first
   held-out body alone (volume sampled around it), and on one new STL written by the
   family's geometry code (:data:`NEW_BODY`, a slant the family does not hold).

It writes to ``outputs/demo_3d/``:

* ``metrics.json``: per held-out body Cd and Cl from OpenFOAM's ``forceCoeffs`` and from
  LRSA, their errors in drag counts (1e-4), the surface-p and field relative L2; Cd from
  the STL alone against the mesh-based prediction and OpenFOAM; the new body's Cd, Cl and
  Cs; time per phase and the sizes;
* ``cd_slant.png``: Cd against the slant angle, OpenFOAM and LRSA;
* ``surface_cp.png``: Cp on a held-out body, OpenFOAM / LRSA / |error|, rendered
  off-screen with VTK;
* ``predictions/<case>/prediction.vtm`` (held-out bodies on their meshes),
  ``predictions/<case>_from_stl/`` and ``predictions/new_body/`` (the STL and its
  prediction), for ParaView;
* ``lrsa_ahmed_demo.mdlus`` (+ ``.data.json``), ``data/`` (the OpenFOAM cases and their
  cache) and ``training/``.

A rerun reuses the solved cases and the cache; training starts afresh. The result set is
never mixed from two runs (:mod:`modulus_lrsa.demos.common`): ``metrics.json`` is removed
first and written last, and ``predictions/`` is written in a hidden sibling and swapped
in whole.
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

from modulus_lrsa.atomic import atomic_folder, atomic_replace, atomic_write_json
from modulus_lrsa.demos.common import (
    METRICS_NAME,
    add_run_arguments,
    begin_result_set,
    compose_config,
    copy_model,
    generator_progress,
    log,
    measure_speed,
    openfoam_demo_main,
    save_figure,
    training_overrides,
)

MODEL_NAME = "lrsa_ahmed_demo.mdlus"
FIGURES = ("cd_slant.png", "surface_cp.png")

#: Model of the demo, sized for 2 CPU cores and about 25k points per case.
DEMO_MODEL = {"n_layers": 3, "n_hidden": 64, "n_head": 4, "n_latents": 32, "mlp_ratio": 2, "n_frequencies": 8}
#: Points drawn per case and step: the coarse mesh has about 23k cells and 3-4k body faces.
DEMO_VOLUME_POINTS = 4096
DEMO_SURFACE_POINTS = 1024
DEMO_BATCH_SIZE = 2
DEMO_LR = 1.0e-3
#: Seconds kept back for the predictions (held-out meshes, two STLs) and the figures.
_RESERVE_S = 150.0
_LOOP_OVERHEAD = 1.15
#: One drag count.
DRAG_COUNT = 1.0e-4


def _demo_ranges():
    from modulus_lrsa.data.ahmed import AhmedBody, ParameterRanges

    body = AhmedBody()
    fixed = {name: (value, value) for name, value in body.to_dict().items() if name != "slant_deg"}
    # Ahmed's body with the slant over Ahmed's (1984) 0-40 degrees and the speed varied:
    # few enough parameters for a dozen training bodies, and Cd against slant to plot.
    return ParameterRanges(**fixed, slant_deg=(0.0, 40.0), U=(30.0, 50.0))


#: The body of the new STL: Ahmed's with a 30 degree slant (the family's slants are
#: sampled with two decimals, and the demo checks that none equals it), at 40 m/s.
NEW_SLANT_DEG = 30.0
NEW_SPEED = 40.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m modulus_lrsa.demos.ahmed",
        description="Solve OpenFOAM Ahmed bodies, train an LRSA surrogate on them and predict unseen bodies and a new STL.",
    )
    add_run_arguments(parser, "outputs/demo_3d", time_budget=1200.0, max_epochs=400,
                      jobs_help="OpenFOAM cases solved at once")
    parser.add_argument("--n-cases", type=int, default=12,
                        help="OpenFOAM cases, a quarter of them held out (default: 12; about 25-60 s each on 2 cores)")
    return parser


def _config(args: argparse.Namespace, data_folder: Path, training_dir: Path, epochs: int,
            time_limit_s: float | None = None):
    return compose_config([
        "data=ahmed",
        f"data.path={data_folder}",
        f"data.volume_points={DEMO_VOLUME_POINTS}",
        f"data.surface_points={DEMO_SURFACE_POINTS}",
        "training.num_workers=0",
        # One validation, after the last epoch: the held-out bodies never choose a checkpoint.
        f"training.validate_every_epochs={epochs}",
        *training_overrides(args, training_dir, "ahmed_demo", epochs, DEMO_BATCH_SIZE, 1, DEMO_LR, time_limit_s,
                            DEMO_MODEL),
    ])


def _solve_cases(args: argparse.Namespace, folder: Path) -> tuple[dict[str, Any], float]:
    from modulus_lrsa.data.ahmed import generate_ahmed_dataset

    started = time.perf_counter()
    with generator_progress():
        manifest = generate_ahmed_dataset(folder, n_cases=args.n_cases, seed=args.seed, preset="coarse",
                                          test_fraction=0.25, ranges=_demo_ranges(), jobs=args.jobs)
    return manifest, time.perf_counter() - started


def _read_surface(path: Path):
    import vtk

    reader = vtk.vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()


def _force_settings(reference_area: float | None = None):
    from modulus_lrsa.forces import ForceSettings

    # As the family's forceCoeffs: drag along +x, lift along +z, the frontal area.
    return ForceSettings.ground_vehicle(speed="U", reference_area=reference_area)


def final_paths(payload: Any, staging: Path, final: Path) -> Any:
    """``payload`` (a prediction's record) with the staging folder ``staging`` named as ``final``, where it is swapped to.

    The new body's STL is written into the staging folder before it is predicted, so the
    record names it there (``input``, the wall's ``source`` and its warnings); that folder
    is gone once the predictions are swapped in.
    """
    if isinstance(payload, str):
        return payload.replace(str(staging), str(final))
    if isinstance(payload, dict):
        return {key: final_paths(value, staging, final) for key, value in payload.items()}
    if isinstance(payload, list):
        return [final_paths(value, staging, final) for value in payload]
    return payload


def _predict(model_path: Path, held_out: list[Path], new_stl_body, out: Path, device: torch.device) -> dict[str, Any]:
    """Every prediction of the demo into ``out`` (swapped in whole); returns their records."""
    from modulus_lrsa.data.ahmed import write_body_stl
    from modulus_lrsa.inference.common import QUANTITIES_NAME, RunOptions, load_model
    from modulus_lrsa.inference.mesh import MeshOptions, predict_case
    from modulus_lrsa.inference.new_geometry import NewGeometryOptions, predict_new_geometry, wall_force_coefficients

    model, descriptor = load_model(model_path, device)
    run = RunOptions(device=device)
    per_case: list[dict[str, Any]] = []
    with atomic_folder(out, lambda folder: all(entry.is_dir() for entry in folder.iterdir()),
                       "a demo's predictions/ (one folder per prediction)") as folder:
        for index, case in enumerate(held_out, 1):
            record = json.loads((case / "case.json").read_text())
            params, results = record["params"], record["results"]
            quantities = predict_case(model, descriptor, case, folder / case.name, MeshOptions(run=run))
            surface = _read_surface(folder / case.name / quantities["files"]["surface"])
            settings = _force_settings(params["frontal_area"])  # OpenFOAM's Aref
            conditions = {"U": float(params["U"])}
            lrsa = wall_force_coefficients(surface, settings, conditions, where=str(case))
            fields = wall_force_coefficients(surface, settings, conditions, suffix="", where=str(case))
            per_case.append({
                "case": case.name, "slant_deg": params["slant_deg"], "U": params["U"],
                "Cd": {"openfoam": results["Cd"], "openfoam_fields": fields.drag, "lrsa": lrsa.drag},
                "Cl": {"openfoam": results["Cl"], "openfoam_fields": fields.lift, "lrsa": lrsa.lift},
                "Cs": {"openfoam": results["Cs"], "lrsa": lrsa.side},
                "Cd_error_counts": abs(lrsa.drag - results["Cd"]) / DRAG_COUNT,
                "Cl_error_counts": abs(lrsa.lift - results["Cl"]) / DRAG_COUNT,
                "rel_l2": quantities["rel_l2"],
                "prediction": str(out / case.name / "prediction.vtm"),
            })
            log(f"predicted {index}/{len(held_out)} {case.name} (slant {params['slant_deg']:.1f} deg): surface p rel. L2 "
                f"{quantities['rel_l2']['surface/p']:.3f}, Cd {lrsa.drag:.4f} (OpenFOAM {results['Cd']:.4f})")
        # The first held-out body from its STL alone: the same body, no mesh.
        first = held_out[0]
        params = json.loads((first / "case.json").read_text())["params"]
        from_stl = predict_new_geometry(model, descriptor, first / "body.stl", folder / f"{first.name}_from_stl",
                                        NewGeometryOptions(conditions={"U": float(params["U"])}, run=run))
        stl_record = {
            "case": first.name, "Cd": from_stl["forces"]["predicted"]["Cd"], "Cl": from_stl["forces"]["predicted"]["Cl"],
            "Cd_on_mesh": per_case[0]["Cd"]["lrsa"], "Cd_openfoam": per_case[0]["Cd"]["openfoam"],
            "volume_points": from_stl["sampling"]["volume_points"],
        }
        stl_record["Cd_vs_mesh_counts"] = abs(stl_record["Cd"] - stl_record["Cd_on_mesh"]) / DRAG_COUNT
        stl_record["Cd_vs_openfoam_counts"] = abs(stl_record["Cd"] - stl_record["Cd_openfoam"]) / DRAG_COUNT
        log(f"{first.name} from its STL alone: Cd {stl_record['Cd']:.4f}, on its mesh {stl_record['Cd_on_mesh']:.4f}, "
            f"OpenFOAM {stl_record['Cd_openfoam']:.4f}")
        # A body that is not in the dataset, written by the family's own geometry code.
        new_folder = folder / "new_body"
        new_folder.mkdir()
        report = write_body_stl(new_stl_body, new_folder / "new_body.stl")
        new = predict_new_geometry(model, descriptor, new_folder / "new_body.stl", new_folder / "prediction",
                                   NewGeometryOptions(conditions={"U": NEW_SPEED}, run=run))
        new = final_paths(new, folder, out)
        atomic_write_json(new_folder / "prediction" / QUANTITIES_NAME, final_paths(
            json.loads((new_folder / "prediction" / QUANTITIES_NAME).read_text()), folder, out), allow_nan=False)
        new_record = {"body": new_stl_body.to_dict(), "U": NEW_SPEED, "faces": report.n_faces,
                      **{key: new["forces"]["predicted"][key] for key in ("Cd", "Cl", "Cs")},
                      "wall_warnings": new["wall"]["warnings"], "stl": str(out / "new_body" / "new_body.stl"),
                      "prediction": str(out / "new_body" / "prediction" / "prediction.vtm")}
        log(f"new STL (slant {new_stl_body.slant_deg:g} deg, {NEW_SPEED:g} m/s): Cd {new_record['Cd']:.4f}, "
            f"Cl {new_record['Cl']:.4f}")
    return {"held_out": per_case, "from_stl": stl_record, "new_body": new_record}


def _summarise(per_case: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and worst of the errors over the held-out bodies."""

    def stats(values: list[float]) -> dict[str, float]:
        return {"mean": float(np.mean(values)), "worst": float(np.max(values))}

    fields = sorted({key for case in per_case for key in case["rel_l2"]})
    return {
        "Cd_error_counts": stats([case["Cd_error_counts"] for case in per_case]),
        "Cl_error_counts": stats([case["Cl_error_counts"] for case in per_case]),
        "rel_l2": {field: stats([case["rel_l2"][field] for case in per_case if case["rel_l2"].get(field) is not None])
                   for field in fields if any(case["rel_l2"].get(field) is not None for case in per_case)},
    }


def _plot_drag_against_slant(manifest_cases: list[dict[str, Any]], data: Path, predictions: dict[str, Any],
                             path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.4), constrained_layout=True)
    train = [json.loads((data / "cases" / case["id"] / "case.json").read_text()) for case in manifest_cases
             if case.get("split") == "train" and case.get("status") == "ok"]
    axis.plot([r["params"]["slant_deg"] for r in train], [r["results"]["Cd"] for r in train], "o", color="0.7",
              label="OpenFOAM, training bodies")
    held_out = sorted(predictions["held_out"], key=lambda case: case["slant_deg"])
    slants = [case["slant_deg"] for case in held_out]
    axis.plot(slants, [case["Cd"]["openfoam"] for case in held_out], "ks", label="OpenFOAM, held-out bodies")
    axis.plot(slants, [case["Cd"]["lrsa"] for case in held_out], "x", color="tab:red", ms=9, mew=2,
              label="LRSA, held-out bodies (on their meshes)")
    new = predictions["new_body"]
    axis.plot([new["body"]["slant_deg"]], [new["Cd"]], "*", color="tab:red", ms=13, label="LRSA, new STL (no mesh)")
    axis.set_xlabel("rear slant angle (degrees)")
    axis.set_ylabel("Cd (frontal area)")
    axis.set_title("Ahmed body, coarse RANS: drag against slant angle", fontsize=10)
    axis.legend(fontsize=8)
    save_figure(figure, path)


def _render_surface_pressure(surface_path: Path, speed: float, title: str, path: Path) -> None:
    """Cp on the body: OpenFOAM, LRSA and |LRSA - OpenFOAM|, side by side, rendered off-screen."""
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR)
    vtk.vtkObject.GlobalWarningDisplayOff()
    surface = _read_surface(surface_path)
    dynamic = 0.5 * speed**2
    cells = surface.GetCellData()
    cp = vtk_to_numpy(cells.GetArray("p")).astype(np.float64) / dynamic
    cp_lrsa = vtk_to_numpy(cells.GetArray("p_predicted")).astype(np.float64) / dynamic
    panels = [("Cp OpenFOAM", cp, "cool"), ("Cp LRSA", cp_lrsa, "cool"), ("|Cp error|", np.abs(cp_lrsa - cp), "warm")]
    low, high = np.percentile(cp, [1, 99])
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(1)
    width, height = 560, 420
    window.SetSize(width * len(panels), height)
    bounds = surface.GetBounds()
    center = [(bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2, (bounds[4] + bounds[5]) / 2]
    length = bounds[1] - bounds[0]
    for index, (name, values, colors) in enumerate(panels):
        copy = vtk.vtkPolyData()
        copy.ShallowCopy(surface)
        array = numpy_to_vtk(np.ascontiguousarray(values), deep=True)
        array.SetName(name)
        copy.GetCellData().SetScalars(array)
        lookup = vtk.vtkLookupTable()
        if colors == "cool":
            lookup.SetHueRange(0.667, 0.0)
            lookup.SetTableRange(low, high)
        else:
            lookup.SetHueRange(0.15, 0.0)
            lookup.SetSaturationRange(0.0, 1.0)
            lookup.SetTableRange(0.0, max(float(np.percentile(values, 99)), 1e-6))
        lookup.Build()
        mapper = vtk.vtkPolyDataMapper()
        mapper.SetInputData(copy)
        mapper.SetScalarModeToUseCellData()
        mapper.SetLookupTable(lookup)
        mapper.UseLookupTableScalarRangeOn()
        actor = vtk.vtkActor()
        actor.SetMapper(mapper)
        renderer = vtk.vtkRenderer()
        renderer.SetViewport(index / len(panels), 0.0, (index + 1) / len(panels), 1.0)
        renderer.SetBackground(1.0, 1.0, 1.0)
        renderer.AddActor(actor)
        bar = vtk.vtkScalarBarActor()
        bar.SetLookupTable(lookup)
        bar.SetNumberOfLabels(5)
        bar.SetOrientationToHorizontal()
        bar.SetPosition(0.15, 0.04)
        bar.SetWidth(0.7)
        bar.SetHeight(0.12)
        bar.SetLabelFormat("%.2f")
        bar.UnconstrainedFontSizeOn()
        bar.GetLabelTextProperty().SetColor(0.1, 0.1, 0.1)
        bar.GetLabelTextProperty().SetFontSize(14)
        bar.GetLabelTextProperty().ItalicOff()
        bar.GetLabelTextProperty().ShadowOff()
        bar.SetTitle("")
        renderer.AddViewProp(bar)
        text = vtk.vtkTextActor()
        text.SetInput(f"{name}\n{title}" if index == 0 else name)
        text.GetTextProperty().SetColor(0.1, 0.1, 0.1)
        text.GetTextProperty().SetFontSize(16)
        text.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        text.SetPosition(0.03, 0.86)
        renderer.AddViewProp(text)
        # From above, behind and beside: the roof, the slant, one side and the base.
        camera = renderer.GetActiveCamera()
        camera.SetFocalPoint(*center)
        camera.SetPosition(center[0] + 1.2 * length, center[1] - 1.4 * length, center[2] + 1.6 * length)
        camera.SetViewUp(0.0, 0.0, 1.0)
        renderer.ResetCamera()
        camera.Zoom(1.15)
        window.AddRenderer(renderer)
    window.Render()
    image = vtk.vtkWindowToImageFilter()
    image.SetInput(window)
    image.Update()

    def write(temporary: Path) -> None:
        writer = vtk.vtkPNGWriter()
        writer.SetFileName(str(temporary))
        writer.SetInputConnection(image.GetOutputPort())
        writer.Write()

    atomic_replace(path, write, suffix=".png")
    window.Finalize()


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Every step of the demo; returns what is written to ``metrics.json``."""
    from modulus_lrsa.data.ahmed import AhmedBody
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

    log(f"OpenFOAM: {args.n_cases} coarse Ahmed bodies with snappyHexMesh and simpleFoam ({args.jobs} at a time; "
        "finished cases are reused)")
    manifest, seconds["openfoam"] = _solve_cases(args, out / "data")
    summary = manifest["summary"]
    log(f"OpenFOAM: {summary['ok']} converged ({summary['train']} train, {summary['test']} held out), "
        f"{summary['unconverged']} unconverged, {summary['failed']} failed, {seconds['openfoam']:.0f} s")
    held_out = [out / "data" / "cases" / case["id"] for case in manifest["cases"]
                if case.get("split") == "test" and case.get("status") == "ok"]
    if not held_out or not summary["train"]:
        raise RuntimeError(f"the family has {summary['train']} training and {len(held_out)} usable held-out bodies; "
                           "raise --n-cases or look at data/manifest.json for the failed cases")
    slants = {case["params"]["slant_deg"] for case in manifest["cases"] if case.get("params")}
    new_body = AhmedBody(slant_deg=NEW_SLANT_DEG if NEW_SLANT_DEG not in slants else NEW_SLANT_DEG + 0.5)

    training_dir = out / "training"
    shutil.rmtree(training_dir, ignore_errors=True)  # epochs depend on the machine: always train afresh
    phase = time.perf_counter()
    probe_cfg = _config(args, out / "data", training_dir, epochs=1)
    data = build_training_data(probe_cfg.data, seed=args.seed)
    seconds["cache"] = time.perf_counter() - phase
    log(f"cache: {len(data.train)} training and {len(data.validation)} held-out bodies with Warp distances and "
        f"normals in {seconds['cache']:.0f} s")
    train_speed, validation_speed = measure_speed(probe_cfg, data, device)
    if args.epochs is not None:
        epochs, time_limit_s = args.epochs, None
        log(f"{epochs} epochs as requested (no time limit)")
    else:
        validation_seconds = _LOOP_OVERHEAD * validation_speed * len(data.validation)
        remaining = args.time_budget - (time.perf_counter() - started) - _RESERVE_S - validation_seconds
        per_epoch = _LOOP_OVERHEAD * train_speed * len(data.train)
        epochs = int(min(args.max_epochs, max(1, math.floor(remaining / per_epoch) if remaining > 0 else 1)))
        log(f"{per_epoch:.1f} s per epoch, {validation_seconds:.1f} s per validation on {device}: "
            f"{epochs} epochs fit the budget")
        time_limit_s = max(remaining + validation_seconds, 1.0)
    cfg = _config(args, out / "data", training_dir, epochs=epochs, time_limit_s=time_limit_s)
    phase = time.perf_counter()
    training = run_training(cfg)
    seconds["training"] = time.perf_counter() - phase

    model_path = out / MODEL_NAME
    copy_model(Path(training["best_model"]), model_path)
    phase = time.perf_counter()
    predictions = _predict(model_path, held_out, new_body, out / "predictions", device)
    seconds["prediction"] = time.perf_counter() - phase

    phase = time.perf_counter()
    _plot_drag_against_slant(manifest["cases"], out / "data", predictions, out / FIGURES[0])
    ranked = sorted(predictions["held_out"], key=lambda case: case["rel_l2"]["surface/p"])
    shown = ranked[len(ranked) // 2]  # the median body, so the picture does not flatter the model
    _render_surface_pressure(Path(shown["prediction"]).with_name("surface.vtp"), float(shown["U"]),
                             f"{shown['case']}, slant {shown['slant_deg']:.1f} deg, held out", out / FIGURES[1])
    seconds["figures"] = time.perf_counter() - phase
    seconds["total"] = time.perf_counter() - started

    parameters = sum(p.numel() for p in load_trusted_model(model_path).parameters())
    first_case = data.train.cache.cases()[0]
    metrics = {
        "held_out": _summarise(predictions["held_out"]),
        "held_out_cases": predictions["held_out"],
        "from_stl_only": predictions["from_stl"],
        "new_body": predictions["new_body"],
        "cases": {"train": len(data.train), "held_out": len(predictions["held_out"]),
                  "cells_per_case": first_case["num_volume_points"], "body_faces_per_case": first_case["num_surface_points"],
                  "unconverged": summary["unconverged"], "failed": summary["failed"],
                  "ranges": _demo_ranges().to_dict()},
        "epochs": epochs,
        "epochs_run": training["history"][-1]["epoch"] if training["history"] else 0,
        "stopped_by_time_limit": training["stopped_by_time_limit"],
        "model": {"class": "LRSA", "parameters": parameters, **{key: cfg.model[key] for key in DEMO_MODEL}},
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "time_budget_s": args.time_budget,
        "seconds": {key: round(value, 1) for key, value in seconds.items()},
        "files": {"model": str(model_path), "cd_slant": str(out / FIGURES[0]), "surface_cp": str(out / FIGURES[1]),
                  "predictions": str(out / "predictions"), "data": str(out / "data"), "training_run": str(training_dir)},
    }
    # Last: the mark that the result set is complete.
    atomic_write_json(out / METRICS_NAME, metrics, allow_nan=False)
    return metrics


def summary(metrics: dict[str, Any]) -> str:
    """A short paragraph for the terminal."""
    held_out, model, seconds = metrics["held_out"], metrics["model"], metrics["seconds"]
    stl, new = metrics["from_stl_only"], metrics["new_body"]
    return (
        f"LRSA ({model['parameters']:,} parameters) learned coarse RANS flow around Ahmed bodies from "
        f"{metrics['cases']['train']} OpenFOAM cases in {metrics['epochs_run']} epochs ({seconds['training']:.0f} s of "
        f"training, {seconds['total']:.0f} s in all on {metrics['device']}). On {metrics['cases']['held_out']} unseen "
        f"bodies: surface p relative L2 {held_out['rel_l2']['surface/p']['mean']:.3f}, Cd error "
        f"{held_out['Cd_error_counts']['mean']:.0f} drag counts (worst {held_out['Cd_error_counts']['worst']:.0f}), "
        f"Cl error {held_out['Cl_error_counts']['mean']:.0f} counts, against OpenFOAM's forceCoeffs. From its STL alone, "
        f"{stl['case']} gets Cd {stl['Cd']:.4f} (on its mesh {stl['Cd_on_mesh']:.4f}, OpenFOAM {stl['Cd_openfoam']:.4f}); "
        f"the new body (slant {new['body']['slant_deg']:g} deg) Cd {new['Cd']:.4f}. Figures: {metrics['files']['cd_slant']}, "
        f"{metrics['files']['surface_cp']}; ParaView: {metrics['files']['predictions']}/<case>/prediction.vtm."
    )


def main(argv: list[str] | None = None) -> int:
    return openfoam_demo_main("demo-3d", build_parser().parse_args(argv), run_demo, summary, 4, "a quarter")


if __name__ == "__main__":
    sys.exit(main())
