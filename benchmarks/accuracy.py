# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Test accuracy of LRSA vs PhysicsNeMo's Transolver and FLARE on Darcy and airfoil RANS, trained by lrsa-train.

    .venv/bin/python benchmarks/accuracy.py --protocol reduced --jobs 2   # CPU, about an hour
    .venv/bin/python benchmarks/accuracy.py --protocol airfoil --jobs 2   # CPU: OpenFOAM data, then training
    .venv/bin/python benchmarks/accuracy.py --protocol paper              # GPU: Darcy 85x85, 500 epochs
    .venv/bin/python benchmarks/accuracy.py --protocol reduced --report --figures --update-docs

The benchmark is the package ``benchmarks/accuracy_bench/``, whose docstring describes the
protocols, studies, results files and what each run reports. This file is its command
line, which every child run executes too.
"""

from accuracy_bench.cli import main

# benchmarks/attention_focus.py reads these through ``import accuracy``.
from accuracy_bench.configs import output_dir, training_config
from accuracy_bench.paths import ROOT
from accuracy_bench.protocols import PROTOCOLS, ordered_runs

__all__ = ["PROTOCOLS", "ROOT", "main", "ordered_runs", "output_dir", "training_config"]

if __name__ == "__main__":
    main()
