# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The ``lrsa-predict`` command line: arguments checked where they enter, then one mode.

Every number is checked by the parser (a condition or setting that is not finite or not
in its range stops the run there, in one line); the output folder is checked before the
model is loaded, on every rank alike; the model's descriptor picks the mode
(:mod:`~modulus_lrsa.inference.darcy`, :mod:`~modulus_lrsa.inference.new_geometry` with
``--sample-volume``, else :mod:`~modulus_lrsa.inference.mesh`). Under torchrun,
``--domain-parallel`` splits a case's points over the ranks, and rank 0 writes; the
process group starts as ``lrsa-train``'s does (:func:`modulus_lrsa.distributed.process_group`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from modulus_lrsa.atomic import OutputFolderError
from modulus_lrsa.descriptor import DarcyDescriptor
from modulus_lrsa.distributed import launcher_layout, process_group
from modulus_lrsa.errors import MeshDataError, ModelFileError
from modulus_lrsa.inference.common import PredictionError, RunOptions, check_output_folder, load_model
from modulus_lrsa.inference.darcy import DarcyOptions, predict_darcy
from modulus_lrsa.inference.mesh import MeshOptions, predict_case
from modulus_lrsa.inference.new_geometry import NewGeometryOptions, predict_new_geometry


def parse_condition(text: str) -> tuple[str, float]:
    """``--condition NAME=VALUE``: a name and a finite number."""
    name, separator, value = text.partition("=")
    name = name.strip()
    try:
        number = float(value) if separator and name else None
    except ValueError:
        number = None
    if number is None:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with a number, got {text!r}")
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{text!r}: the value must be a finite number")
    return name, number


def _finite(text: str) -> float:
    """A finite float (``nan``, ``inf`` and ``1e999`` are refused)."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return number


def _fraction(text: str) -> float:
    number = _finite(text)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text!r}")
    return number


def _positive(text: str) -> float:
    number = _finite(text)
    if number <= 0.0:
        raise argparse.ArgumentTypeError(f"expected a length > 0, got {text!r}")
    return number


def _area(text: str) -> float:
    """``--reference-area``: a finite area > 0 in m^2."""
    number = _finite(text)
    if number <= 0.0:
        raise argparse.ArgumentTypeError(f"expected an area > 0 in m^2, got {text!r}")
    return number


def _count(text: str) -> int:
    """An integer >= 1."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrsa-predict",
        description="Predict fields with a trained model and write VTK files for ParaView.",
    )
    parser.add_argument("model", type=Path, help="exported model (.mdlus) with its .data.json beside it")
    parser.add_argument("input", type=Path, help="CFD case folder or VTK file; or a Darcy dataset folder, .npz or .npy")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument("--split", default="test", help="Darcy dataset folder: split to predict (default: test)")
    parser.add_argument("--samples", type=int, nargs="+", help="Darcy: sample indices (default: all)")
    parser.add_argument(
        "--condition", type=parse_condition, action="append", default=[], metavar="NAME=VALUE",
        help="mesh cases: global condition overriding case.json, e.g. --condition aoa_deg=4 (repeatable)",
    )
    parser.add_argument("--volume-block", help="mesh input given as one .vtm file: block of the volume mesh "
                        "(default: the training setting, else 'internal')")
    parser.add_argument("--surface-block", help="mesh input given as one .vtm file: block of the wall surface "
                        "(default: the training setting, else the only block besides the volume)")
    parser.add_argument("--surface", type=Path, metavar="FILE",
                        help="the wall surface as a file of its own (.vtp, .stl, .vtk), for a single-file volume input")
    geometry = parser.add_argument_group(
        "new geometry without a CFD mesh",
        "INPUT is the wall surface (.stl, .vtp, .vtk; in 2D the one-cell-thick wall patch); volume query "
        "points are sampled around it with their quadrature weights. Give every --condition.",
    )
    # const=0 is "N omitted"; a given N goes through _count, so 0 itself is refused.
    geometry.add_argument("--sample-volume", type=_count, nargs="?", const=0, metavar="N",
                          help="sample N volume points around the wall (N omitted: the training cases' median count)")
    geometry.add_argument("--near-wall-fraction", type=_fraction, default=0.5,
                          help="share of the points crowded at the wall, in [0, 1] (default: 0.5)")
    geometry.add_argument("--near-wall-thickness", type=_positive,
                          help="mean wall distance of those points (default: 5%% of the body's size)")
    geometry.add_argument("--box", type=_finite, nargs="+", metavar="X",
                          help="sampling box: the D minima, then the D maxima (default: the training domain)")
    geometry.add_argument("--seed", type=int, default=0, help="seed of the sampled points (default: 0)")
    geometry.add_argument("--reference-area", type=_area, metavar="A",
                          help="3D: the area in m^2 the force coefficients are divided by (default: the model's, else the "
                               "body's shadow along the free stream)")
    parser.add_argument("--chunk-points", type=_count, default=262144,
                        help="evaluate meshes larger than this in exact chunks (default: 262144)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    parser.add_argument("--domain-parallel", action="store_true",
                        help="under torchrun: split the case's points over all ranks (exact; gloo on CPU, NCCL on "
                             "GPUs, one GPU per rank); rank 0 writes the output")
    return parser


def _start_domain_parallel(device: torch.device, output: Path, stack: contextlib.ExitStack) -> tuple[torch.device, int, Path]:
    """Join the launcher's process group through PhysicsNeMo's DistributedManager, as lrsa-train does.

    Returns this rank's device (``cuda:<local rank>`` on GPUs), its rank, and where it
    writes: every rank but 0 writes into a folder it discards.
    """
    import torch.distributed as dist

    if not dist.is_initialized() and launcher_layout() is None:
        raise PredictionError("--domain-parallel runs under torchrun (e.g. torchrun --nproc_per_node=4 -m "
                              "modulus_lrsa.inference.predict ... --domain-parallel)")
    manager = stack.enter_context(process_group("cpu" if device.type == "cpu" else "cuda"))
    if manager.rank != 0:
        output = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lrsa-predict-rank-")))
    return manager.device, manager.rank, output


def _domain_parallel_model(model: torch.nn.Module) -> torch.nn.Module:
    from modulus_lrsa.models import LRSA
    from modulus_lrsa.models.domain_parallel import GatheredDomainParallelLRSA

    if not isinstance(model, LRSA) or model.structured_shape is not None:
        raise PredictionError("--domain-parallel needs an LRSA model on meshes or point clouds "
                              f"(got {type(model).__name__}{' on a structured grid' if isinstance(model, LRSA) else ''})")
    return GatheredDomainParallelLRSA(model)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lrsa-predict``; returns the exit status (1 with a one-line message on bad input)."""
    args = build_parser().parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"lrsa-predict: error: --device {args.device}: no CUDA GPU is available here; use --device cpu",
              file=sys.stderr)
        return 2
    stack = contextlib.ExitStack()
    try:
        # Before the model is loaded, and on every rank alike, so that all ranks refuse together.
        if args.reference_area is not None and args.sample_volume is None:
            raise PredictionError("--reference-area applies to a body predicted with --sample-volume; on a CFD mesh the "
                                  "model's own reference area is used")
        check_output_folder(args.output)
        output, rank = args.output, 0
        if args.domain_parallel:
            device, rank, output = _start_domain_parallel(device, args.output, stack)
        args.output = output
        model, descriptor = load_model(args.model, device)
        if args.domain_parallel:
            model = _domain_parallel_model(model)
        run = RunOptions(device=device, precision=args.precision, chunk_points=args.chunk_points)
        if isinstance(descriptor, DarcyDescriptor):
            quantities = predict_darcy(model, descriptor, args.input, args.output,
                                       DarcyOptions(split=args.split, samples=args.samples, run=run))
        elif args.sample_volume is not None:
            options = NewGeometryOptions(
                conditions=dict(args.condition), volume_points=args.sample_volume or None,
                near_wall_fraction=args.near_wall_fraction, near_wall_thickness=args.near_wall_thickness,
                box=args.box, seed=args.seed, reference_area=args.reference_area, run=run,
            )
            quantities = predict_new_geometry(model, descriptor, args.input, args.output, options)
        else:
            options = MeshOptions(conditions=dict(args.condition), volume_block=args.volume_block,
                                  surface_block=args.surface_block, surface=args.surface, run=run)
            quantities = predict_case(model, descriptor, args.input, args.output, options)
    except (PredictionError, MeshDataError, ModelFileError, OutputFolderError, OSError) as error:
        print(f"lrsa-predict: error: {error}", file=sys.stderr)
        return 1
    finally:
        stack.close()
    if rank == 0:
        summary = {key: quantities[key] for key in ("mean_rel_l2", "rel_l2", "abs_l2", "forces") if key in quantities}
        if (quantities.get("wall") or {}).get("warnings"):
            summary["wall_warnings"] = quantities["wall"]["warnings"]
        print(json.dumps(summary, indent=2))
        print(f"wrote {args.output}")
    return 0

