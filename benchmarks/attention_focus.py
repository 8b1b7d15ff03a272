# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""How focused LRSA's compression is: where each latent token draws its points from.

For trained runs of ``benchmarks/accuracy.py`` this evaluates the first validation case and
reports, per block, the compression softmax over the N points of every latent token:

* effective points per latent, ``exp(entropy)`` as a share of N (100%: a plain average),
* the largest weight relative to a uniform ``1/N``,
* the largest share of one latent's weight that falls on wall faces (meshes with a
  surface flag), against the wall's share of the points.

    .venv/bin/python benchmarks/attention_focus.py --protocol airfoil \\
        --run LRSA-M32-fp32-e100-s0 --run LRSA-M32-G4-fp32-e100-s0

Each run's last-epoch model (``checkpoints/LRSA.0.<epochs>.mdlus``) is read from
``outputs/benchmarks/accuracy/<protocol>/<run>/``; results go to
``benchmarks/results/attention_focus_<protocol>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy  # noqa: E402  (the benchmark's protocols, run ids and configs)

from modulus_lrsa.atomic import atomic_write_text  # noqa: E402


def focus(model: torch.nn.Module, sample: dict) -> list[dict[str, float]]:
    """Per-block focus statistics of ``model`` on one sample."""
    fx, embedding = sample["fx"][None], sample["embedding"][None]
    n_points = embedding.shape[1]
    wall = sample["is_surface"].bool() if "is_surface" in sample else None
    rows = []

    def record(block, inputs, _output):
        weights = block.compress.attention_weights(block.point_norm(inputs[0]))[0]  # (h, M, N)
        entropy = -(weights * weights.clamp_min(1e-30).log()).sum(-1)
        row = {
            "effective_points_share_median": float(entropy.exp().median()) / n_points,
            "effective_points_share_min": float(entropy.exp().min()) / n_points,
            "max_weight_over_uniform_median": float(weights.amax(-1).median()) * n_points,
        }
        if wall is not None:
            row["largest_wall_share"] = float(weights[..., wall].sum(-1).max())
            row["wall_points_share"] = float(wall.float().mean())
        rows.append(row)

    hooks = [block.register_forward_hook(record) for block in model.blocks]
    with torch.no_grad():
        model(fx, embedding)
    for hook in hooks:
        hook.remove()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=sorted(accuracy.PROTOCOLS), required=True)
    parser.add_argument("--run", action="append", required=True, help="run id (repeatable)")
    parser.add_argument("--case", type=int, default=0, help="index of the validation case")
    args = parser.parse_args()

    from modulus_lrsa.models.trusted import load_trusted_model
    from modulus_lrsa.training.data import build_training_data

    protocol = accuracy.PROTOCOLS[args.protocol]
    specs = {spec.run_id: spec for spec in accuracy.ordered_runs(protocol)}
    unknown = [run for run in args.run if run not in specs or specs[run].model != "LRSA"]
    if unknown:
        raise SystemExit(f"--run {unknown}: not LRSA runs of protocol '{protocol.name}' (see --report)")
    cfg = accuracy.training_config(protocol, specs[args.run[0]])
    sample = build_training_data(cfg.data, 0).validation[args.case]
    results = {"protocol": protocol.name, "case": sample.get("case_id", args.case), "runs": {}}
    for run in args.run:
        spec = specs[run]
        path = accuracy.output_dir(protocol, spec) / "checkpoints" / f"LRSA.0.{spec.epochs}.mdlus"
        if not path.is_file():
            raise SystemExit(f"{path}: no last-epoch model; train the run first (benchmarks/accuracy.py)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_trusted_model(path).eval()
        results["runs"][run] = focus(model, sample)

    print(f"Compression focus, {protocol.data.title}, validation case {results['case']} "
          "(per block: median latent's effective points / N; median max weight x uniform; "
          "largest share of a latent on the wall, wall's share of the points in brackets)")
    for run, blocks in results["runs"].items():
        cells = []
        for row in blocks:
            text = f"{row['effective_points_share_median']:.0%} / {row['max_weight_over_uniform_median']:.1f}x"
            if "largest_wall_share" in row:
                text += f" / {row['largest_wall_share']:.0%} ({row['wall_points_share']:.1%})"
            cells.append(text)
        print(f"{run}: " + " | ".join(cells))
        summary = statistics.median(row["effective_points_share_median"] for row in blocks)
        print(f"  median over blocks: {summary:.0%} of the points per latent")
    out = accuracy.ROOT / "benchmarks" / "results" / f"attention_focus_{protocol.name.replace('-', '_')}.json"
    atomic_write_text(out, json.dumps(results, indent=1) + "\n")
    print(f"wrote {out.relative_to(accuracy.ROOT)}")


if __name__ == "__main__":
    main()
