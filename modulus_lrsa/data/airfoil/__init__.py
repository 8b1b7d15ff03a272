# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Airfoil RANS data: NACA 4-digit sections solved with OpenFOAM simpleFoam (Spalart-Allmaras).

Python API::

    from modulus_lrsa.data.airfoil import generate_airfoil_dataset
    manifest = generate_airfoil_dataset("datasets/airfoil", n_cases=24, resolution="medium", jobs=2)

Command line: ``lrsa-data airfoil --out DIR --n-cases N --jobs J`` (see ``--help``).
The layout of the output and the sampled ranges are described in ``docs/data_airfoil.md``.
"""

from .case import NU_AIR, FlowCase, SolverControls
from .cli import add_subparser
from .dataset import DatasetError, ParameterRanges, generate_airfoil_dataset, sample_flow_case
from .mesh import RESOLUTIONS, DomainLayout, MeshResolution, block_mesh_dict
from .naca import NacaSection
from .openfoam import OpenFOAMNotFoundError, find_openfoam, openfoam_available
from .run import run_case

__all__ = [
    "NU_AIR",
    "RESOLUTIONS",
    "DatasetError",
    "DomainLayout",
    "FlowCase",
    "MeshResolution",
    "NacaSection",
    "OpenFOAMNotFoundError",
    "ParameterRanges",
    "SolverControls",
    "add_subparser",
    "block_mesh_dict",
    "find_openfoam",
    "generate_airfoil_dataset",
    "openfoam_available",
    "run_case",
    "sample_flow_case",
]
