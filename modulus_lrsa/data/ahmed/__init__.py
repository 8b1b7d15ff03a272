# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""3D Ahmed-body RANS data: parametric bodies meshed with snappyHexMesh and solved with simpleFoam (k-omega SST).

Python API::

    from modulus_lrsa.data.ahmed import generate_ahmed_dataset
    manifest = generate_ahmed_dataset("datasets/ahmed", n_cases=8, preset="coarse", jobs=2)

Command line: ``lrsa-data ahmed --out DIR --n-cases N --preset coarse`` (see ``--help``).
The geometry, the case set-up, the presets with their measured costs and what is
approximate are described in ``docs/data_ahmed.md``.
"""

from .case import NU_AIR, PRESETS, DomainLayout, FlowCase, Preset
from .cli import add_subparser
from .dataset import ParameterRanges, generate_ahmed_dataset, sample_flow_case
from .geometry import AhmedBody, GeometryError, check_closed_surface, read_stl, write_body_stl
from .run import find_ahmed_openfoam, run_case

__all__ = [
    "NU_AIR",
    "PRESETS",
    "AhmedBody",
    "DomainLayout",
    "FlowCase",
    "GeometryError",
    "ParameterRanges",
    "Preset",
    "add_subparser",
    "check_closed_surface",
    "find_ahmed_openfoam",
    "generate_ahmed_dataset",
    "read_stl",
    "run_case",
    "sample_flow_case",
    "write_body_stl",
]
