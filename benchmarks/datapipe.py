# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Datapipe throughput on airfoil-like data: cache building (cases/s) and loading (points/s).

Data: the airfoil generator's output (``--data``, default ``datasets/airfoil`` when it
holds a manifest.json), else the OpenFOAM ``airFoil2D`` tutorial (10,720 cells, 78 wall
faces) run for a few iterations and replicated ``--cases`` times with different inflow
conditions. The load rate is compared with an LRSA forward+backward step on the same
batch (same K points per case), measured on this machine's CPU; a GPU step is much
faster, so the table also gives the loader's time per batch, i.e. the shortest training
step it can feed with the given number of workers.

    .venv/bin/python benchmarks/datapipe.py
    .venv/bin/python benchmarks/datapipe.py --cases 32 --workers 2 --volume-points 8192
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modulus_lrsa.atomic import atomic_write_json  # noqa: E402
from modulus_lrsa.datapipes import (  # noqa: E402  (after the path set-up above)
    CaseShardSampler,
    MeshCacheConfig,
    MeshPointDataset,
    build_cache,
    pad_collate,
)

TUTORIAL_CANDIDATES = [
    Path("/usr/share/doc/openfoam-examples/examples/incompressible/simpleFoam/airFoil2D"),
    Path("/usr/share/openfoam/tutorials/incompressible/simpleFoam/airFoil2D"),
]


def replicated_tutorial(workdir: Path, num_cases: int, iterations: int) -> tuple[Path, MeshCacheConfig]:
    """Run airFoil2D once and copy its VTK output into ``num_cases`` case folders."""
    tutorial = next((path for path in TUTORIAL_CANDIDATES if path.is_dir()), None)
    if tutorial is None or shutil.which("simpleFoam") is None:
        raise SystemExit("no airfoil data: pass --data, or install OpenFOAM (make openfoam) for the airFoil2D tutorial")
    run_dir = workdir / "run"
    shutil.copytree(tutorial, run_dir)
    control = run_dir / "system" / "controlDict"
    text = re.sub(r"^endTime\s+\S+;", f"endTime {iterations};", control.read_text(), flags=re.M)
    control.write_text(re.sub(r"^writeInterval\s+\S+;", f"writeInterval {iterations};", text, flags=re.M))
    environment = {**os.environ, "WM_PROJECT_DIR": os.environ.get("WM_PROJECT_DIR", "/usr/share/openfoam")}
    for command in (["simpleFoam"], ["foamToVTK", "-latestTime"]):
        subprocess.run(command, cwd=run_dir, env=environment, check=True, capture_output=True)
    root = workdir / "cases"
    conditions = {}
    for index in range(num_cases):
        case_id = f"airfoil{index:03d}"
        shutil.copytree(run_dir / "VTK", root / case_id / "VTK")
        conditions[case_id] = {"U": 20.0 + index % 7, "aoa_deg": float(index % 11 - 5)}
    config = MeshCacheConfig(
        volume_fields=["U[0,1]", "p", "nut"],
        surface_fields=["p"],
        conditions=["U", "aoa_deg"],
        condition_values=conditions,
        volume_file="VTK/*/internal.vtu",
        surface_file="VTK/*/boundary/walls.vtp",
        case_pattern="airfoil*",
        test_fraction=0.2,
    )
    return root, config


def generator_config() -> MeshCacheConfig:
    """Fields of the airfoil generator's cases (case.json lists the files)."""
    return MeshCacheConfig(
        volume_fields=["U[0,1]", "p", "nut"],
        surface_fields=["p", "wallShearStress[0,1]"],
        conditions=["U", "aoa_deg"],
    )


def time_cache_build(root: Path, cache_dir: Path, config: MeshCacheConfig, workers: int) -> dict:
    shutil.rmtree(cache_dir, ignore_errors=True)
    started = time.perf_counter()
    cache = build_cache(root, cache_dir, config, num_workers=workers, on_error="skip")
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    build_cache(root, cache_dir, config, num_workers=workers, on_error="skip")
    reuse_seconds = time.perf_counter() - started
    cases = len(cache.cases())
    return {
        "workers": workers,
        "cases": cases,
        "skipped": len(cache.index.skipped),
        "seconds": build_seconds,
        "cases_per_second": cases / build_seconds,
        "reuse_seconds": reuse_seconds,
        "cache": cache,
    }


def time_loading(cache, volume_points: int, surface_points: int, batch_size: int, workers: int, epochs: int) -> dict:
    dataset = MeshPointDataset(cache, "train", volume_points=volume_points, surface_points=surface_points)
    sampler = CaseShardSampler(dataset, shuffle=True)
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, collate_fn=pad_collate,
        num_workers=workers, persistent_workers=workers > 0,
    )
    # Epoch 0 warms the workers up (process start, imports); later epochs are timed.
    points = batches = 0
    seconds = 0.0
    for epoch in range(epochs + 1):
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        started = time.perf_counter()
        for batch in loader:
            if epoch:
                points += int(batch["mask"].sum())
                batches += 1
        if epoch:
            seconds += time.perf_counter() - started
    return {
        "workers": workers,
        "batches": batches,
        "points": points,
        "seconds": seconds,
        "points_per_second": points / seconds,
        "seconds_per_batch": seconds / batches,
        "dataset": dataset,
    }


def time_training_step(dataset: MeshPointDataset, batch_size: int, repeats: int) -> dict | None:
    try:
        from modulus_lrsa.models import LRSA
    except ImportError:
        return None
    batch = pad_collate([dataset[index % len(dataset)] for index in range(batch_size)])
    model = LRSA(
        functional_dim=dataset.functional_dim, embedding_dim=dataset.embedding_dim, out_dim=dataset.out_dim,
        n_layers=8, n_hidden=128, n_head=8, n_latents=64, mlp_ratio=1.0,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        prediction = model(batch["fx"], batch["embedding"], mask=batch["mask"], weights=batch["weights"])
        mask = batch["target_mask"]
        loss = ((prediction - batch["target"]) ** 2 * mask).sum() / mask.sum()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        durations.append(time.perf_counter() - started)
    durations.sort()
    median = durations[len(durations) // 2]
    points = int(batch["mask"].sum())
    return {
        "model": "LRSA(n_layers=8, n_hidden=128, n_head=8, n_latents=64, mlp_ratio=1)",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "seconds_per_step": median,
        "points_per_second": points / median,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "datasets" / "airfoil",
                        help="airfoil generator output (used when it holds manifest.json)")
    parser.add_argument("--cases", type=int, default=16, help="replicated tutorial cases (without --data)")
    parser.add_argument("--iterations", type=int, default=20, help="simpleFoam iterations of the tutorial run")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="process counts to time")
    parser.add_argument("--volume-points", type=int, default=4096)
    parser.add_argument("--surface-points", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3, help="timed loading epochs (after one warm-up epoch)")
    parser.add_argument("--step-repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "datapipe.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="lrsa-datapipe-bench-") as scratch:
        scratch = Path(scratch)
        if (args.data / "manifest.json").is_file():
            root, config, source = args.data, generator_config(), f"airfoil generator output {args.data}"
        else:
            root, config = replicated_tutorial(scratch, args.cases, args.iterations)
            source = f"OpenFOAM airFoil2D tutorial ({args.iterations} iterations) x {args.cases} cases"

        builds = [time_cache_build(root, scratch / f"cache{workers}", config, workers) for workers in args.workers]
        cache = builds[-1]["cache"]
        case = cache.cases()[0]
        loads = [
            time_loading(cache, args.volume_points, args.surface_points, args.batch_size, workers, args.epochs)
            for workers in args.workers
        ]
        training = time_training_step(loads[0]["dataset"], args.batch_size, args.step_repeats)

    print(f"\nData: {source}; {case['num_volume_points']} volume cells, {case['num_surface_points']} wall faces per case")
    print(f"\n{'cache build':<28}{'workers':>8}{'cases':>7}{'seconds':>10}{'cases/s':>10}{'re-run s':>10}")
    for build in builds:
        print(f"{'':<28}{build['workers']:>8}{build['cases']:>7}{build['seconds']:>10.2f}"
              f"{build['cases_per_second']:>10.2f}{build['reuse_seconds']:>10.3f}")
    k = args.volume_points + args.surface_points
    print(f"\n{f'loading (K={k}, batch {args.batch_size})':<28}{'workers':>8}{'points/s':>14}{'ms/batch':>10}")
    for load in loads:
        print(f"{'':<28}{load['workers']:>8}{load['points_per_second']:>14,.0f}{1000 * load['seconds_per_batch']:>10.1f}")
    if training:
        print(f"\n{'LRSA fwd+bwd+step (CPU)':<28}{training['threads']:>8}{training['points_per_second']:>14,.0f}"
              f"{1000 * training['seconds_per_step']:>10.1f}")
        for load in loads:
            margin = load["points_per_second"] / training["points_per_second"]
            print(f"margin with {load['workers']} loader workers: loader is {margin:.1f}x faster than the CPU step; "
                  f"it keeps up with any step slower than {1000 * load['seconds_per_batch']:.1f} ms")
    else:
        print("\nmodulus_lrsa.models.LRSA is not available: no training-step comparison")

    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
        "source": source,
        "volume_points": args.volume_points,
        "surface_points": args.surface_points,
        "batch_size": args.batch_size,
        "cache_build": [{k: v for k, v in build.items() if k != "cache"} for build in builds],
        "loading": [{k: v for k, v in load.items() if k != "dataset"} for load in loads],
        "training_step": training,
    }
    atomic_write_json(args.out, result)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
