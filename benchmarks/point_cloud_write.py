# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Time to build and write a predicted point cloud (``lrsa-predict --sample-volume``'s ``volume.vtp``).

For each size N: :func:`modulus_lrsa.io.writers.point_cloud` of N float32 points with
four predicted channels, then :func:`modulus_lrsa.io.writers.atomic_write_vtk` to a
temporary ``.vtp`` (VTK's XML writer, appended binary). Medians of ``--repeats`` runs;
prints a table and writes ``benchmarks/results/point_cloud_write.json``.

    .venv/bin/python benchmarks/point_cloud_write.py --points 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from modulus_lrsa.io.writers import add_array, atomic_write_vtk, point_cloud

RESULTS = Path(__file__).resolve().parent / "results" / "point_cloud_write.json"


def measure(n_points: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    positions = rng.random((n_points, 3), dtype=np.float32)
    fields = rng.random((n_points, 4), dtype=np.float32)
    builds, writes, size = [], [], 0
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "volume.vtp"
        for _ in range(repeats):
            start = time.perf_counter()
            cloud = point_cloud(positions)
            add_array(cloud, "U_predicted", fields[:, :3], "point")
            add_array(cloud, "p_predicted", fields[:, 3], "point")
            builds.append(time.perf_counter() - start)
            start = time.perf_counter()
            atomic_write_vtk(cloud, target)
            writes.append(time.perf_counter() - start)
            size = target.stat().st_size
    return {"points": n_points, "build_s": statistics.median(builds), "write_s": statistics.median(writes),
            "file_mb": size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = [measure(n, args.repeats) for n in args.points]
    print(f"{'points':>12} {'build s':>9} {'write s':>9} {'file MB':>9}")
    for row in rows:
        print(f"{row['points']:>12,} {row['build_s']:>9.2f} {row['write_s']:>9.2f} {row['file_mb']:>9.0f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg()},
        "repeats": args.repeats, "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
