# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Memory and time of exact chunked inference (``LRSA.forward_chunked``) against N.

Each (size, precision) runs in a fresh child process, so the peak resident set size
(``VmHWM``) is that run's alone. A child builds the model (width 128, 8 layers, 8 heads,
64 latents: the defaults), draws one sample of N points (3 input fields, 3-D
coordinates), records its resident memory, runs ``forward_chunked`` once and reports the
peak and the wall time. The parent prints a table, fits the memory slope per point from
the two largest sizes, and writes ``benchmarks/results/scaling.json``.

    .venv/bin/python benchmarks/scaling.py                       # 0.25M .. 2M, 8 layers, fp32 + bf16
    .venv/bin/python benchmarks/scaling.py --runs 8:250000 1:250000 1:1000000 1:2000000

``--runs LAYERS:POINTS ...`` picks the runs explicitly. The feature buffer is reused by
every block, so peak memory does not depend on the layer count (the 8- and 1-layer runs
at the same N show it) while time grows with it: on a slow machine the memory slope can
come from 1-layer runs and the time per point from an 8-layer run.

Projections to sizes that were not run (10M points by default) are linear in N from the
measured slope and time per point, and are labeled as projections.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scaling.json"
CONFIG = dict(functional_dim=3, out_dim=4, embedding_dim=3, n_layers=8, n_hidden=128, n_head=8, n_latents=64)


def _vm_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(n_points: int, precision: str, chunk_size: int, n_layers: int) -> dict:
    """One measurement, in this (fresh) process."""
    import torch

    from modulus_lrsa.models import LRSA

    torch.manual_seed(0)
    model = LRSA(**{**CONFIG, "n_layers": n_layers}).eval()
    fx = torch.randn(1, n_points, CONFIG["functional_dim"])
    coords = torch.rand(1, n_points, CONFIG["embedding_dim"])
    before = _vm_kib("VmRSS")
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = model.forward_chunked(fx, coords, chunk_size=chunk_size)
    seconds = time.perf_counter() - start
    assert out.shape == (1, n_points, CONFIG["out_dim"]) and bool(torch.isfinite(out.float()).all())
    return dict(
        n_points=n_points,
        precision=precision,
        n_layers=n_layers,
        chunk_size=chunk_size,
        seconds=seconds,
        peak_rss_bytes=_vm_kib("VmHWM") * 1024,
        rss_before_forward_bytes=before * 1024,
        threads=torch.get_num_threads(),
    )


def measure(n_points: int, precision: str, chunk_size: int, n_layers: int) -> dict:
    command = [sys.executable, __file__, "--child", str(n_points), precision, str(chunk_size), str(n_layers)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"child {n_points} {precision} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarize(runs: list[dict], project_to: int, n_layers: int) -> dict:
    """Per precision: slope of peak memory per point (the two largest sizes of the layer
    count with the most sizes), time per point (largest run at ``n_layers``), and linear
    projections to ``project_to`` points at ``n_layers``."""
    summary = {}
    for precision in sorted({r["precision"] for r in runs}):
        mine = [r for r in runs if r["precision"] == precision]
        by_layers = {}
        for r in mine:
            by_layers.setdefault(r["n_layers"], []).append(r)
        memory_layers = max(by_layers, key=lambda k: (len(by_layers[k]), max(r["n_points"] for r in by_layers[k])))
        rows = sorted(by_layers[memory_layers], key=lambda r: r["n_points"])
        timed = sorted(by_layers.get(n_layers, []), key=lambda r: r["n_points"])
        if len(rows) < 2 or not timed:
            continue
        small, large = rows[-2], rows[-1]
        slope = (large["peak_rss_bytes"] - small["peak_rss_bytes"]) / (large["n_points"] - small["n_points"])
        seconds_per_point = timed[-1]["seconds"] / timed[-1]["n_points"]
        summary[precision] = dict(
            slope_from=dict(n_layers=memory_layers, n_points=[small["n_points"], large["n_points"]]),
            peak_bytes_per_point=slope,
            seconds_per_point=seconds_per_point,
            seconds_per_point_from=dict(n_layers=n_layers, n_points=timed[-1]["n_points"]),
            projection=dict(
                label="PROJECTION (linear in N from the measured slope and time per point; not measured)",
                n_points=project_to,
                n_layers=n_layers,
                peak_rss_bytes=large["peak_rss_bytes"] + slope * (project_to - large["n_points"]),
                seconds=seconds_per_point * project_to,
            ),
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250_000, 500_000, 1_000_000, 2_000_000])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--chunk-size", type=int, default=65536)
    parser.add_argument("--layers", type=int, default=CONFIG["n_layers"], help="layers of --sizes runs and projections")
    parser.add_argument("--runs", nargs="+", metavar="LAYERS:POINTS", help="explicit runs, instead of --sizes")
    parser.add_argument("--project-to", type=int, default=10_000_000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=4, metavar=("N", "PRECISION", "CHUNK", "LAYERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n_points, precision, chunk_size, n_layers = args.child
        print(json.dumps(child(int(n_points), precision, int(chunk_size), int(n_layers))))
        return

    runs = []
    header = f"{'points':>10} {'precision':>9} {'seconds':>9} {'us/point':>9} {'peak RSS GB':>12} {'RSS before GB':>14}"
    plan = ([tuple(int(v) for v in spec.split(":")) for spec in args.runs] if args.runs
            else [(args.layers, n) for n in args.sizes])
    print(f"{'layers':>6} " + header)
    for precision in args.precisions:
        for n_layers, n_points in plan:
            run = measure(n_points, precision, args.chunk_size, n_layers)
            runs.append(run)
            print(f"{n_layers:>6} {n_points:>10} {precision:>9} {run['seconds']:>9.1f} "
                  f"{1e6 * run['seconds'] / n_points:>9.1f} {run['peak_rss_bytes'] / 1e9:>12.3f} "
                  f"{run['rss_before_forward_bytes'] / 1e9:>14.3f}", flush=True)
    summary = summarize(runs, args.project_to, args.layers)
    for precision, s in summary.items():
        p = s["projection"]
        print(f"{precision}: {s['peak_bytes_per_point']:.0f} B/point peak-memory slope "
              f"({s['slope_from']['n_points'][0]} -> {s['slope_from']['n_points'][1]} points, "
              f"{s['slope_from']['n_layers']} layers), "
              f"{1e6 * s['seconds_per_point']:.1f} us/point at {args.layers} layers; PROJECTION at {p['n_points']:,} points: "
              f"{p['peak_rss_bytes'] / 1e9:.2f} GB peak, {p['seconds'] / 60:.1f} min")
    record = dict(
        benchmark="forward_chunked peak RSS and time vs points (fresh child process per run)",
        config={**CONFIG, "n_layers_projected": args.layers, "chunk_size": args.chunk_size, "batch": 1},
        machine=dict(platform=platform.platform(), processor=platform.processor(), cpus=os.cpu_count()),
        command=" ".join([Path(sys.executable).name, "benchmarks/scaling.py", *sys.argv[1:]]),
        runs=runs,
        summary=summary,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")


if __name__ == "__main__":
    main()
