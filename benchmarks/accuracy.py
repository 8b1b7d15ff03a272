# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Test accuracy of LRSA vs PhysicsNeMo's Transolver and FLARE on Darcy and airfoil RANS, trained by lrsa-train.

    .venv/bin/python benchmarks/accuracy.py --protocol reduced --jobs 2   # CPU, about an hour
    .venv/bin/python benchmarks/accuracy.py --protocol airfoil --jobs 2   # CPU: OpenFOAM data, then training
    .venv/bin/python benchmarks/accuracy.py --protocol paper              # GPU: Darcy 85x85, 500 epochs
    .venv/bin/python benchmarks/accuracy.py --protocol reduced --report --figures --update-docs
    .venv/bin/python benchmarks/accuracy.py --protocol airfoil --study wall-clock  # equal training seconds
    .venv/bin/python benchmarks/accuracy.py --protocol airfoil-seed1 --jobs 2     # confirmation dataset
    .venv/bin/python benchmarks/accuracy.py --protocol airfoil --dataset-seed 2   # = airfoil-seed2

The benchmark is the package ``benchmarks/accuracy_bench/``, whose docstring describes the
protocols (the ``<name>-seed<N>`` confirmation twins of the airfoil protocols, on a
dataset drawn with another generator seed and never used to choose settings, included),
studies (the interleaved equal wall-clock study included), results files and what each
run reports. This file is its command line, which every child run executes too.
"""

from accuracy_bench.cli import main

# benchmarks/attention_focus.py reads these through ``import accuracy``.
from accuracy_bench.configs import output_dir, training_config
from accuracy_bench.paths import ROOT
from accuracy_bench.protocols import PROTOCOLS, ordered_runs

__all__ = ["PROTOCOLS", "ROOT", "main", "ordered_runs", "output_dir", "training_config"]

if __name__ == "__main__":
    main()
