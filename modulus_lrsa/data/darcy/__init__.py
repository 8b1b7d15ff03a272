# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Darcy flow benchmark data, generated with the recipe of the FNO paper.

* :mod:`~modulus_lrsa.data.darcy.solver`: the random permeability and the finite-difference
  solver, one sample at a time;
* :mod:`~modulus_lrsa.data.darcy.generation`: sharded, resumable generation of a dataset
  (:func:`generate_darcy`);
* :mod:`~modulus_lrsa.data.darcy.cli`: ``lrsa-data darcy``.

The files it writes, and their loader ``load_darcy``, are in :mod:`modulus_lrsa.io.darcy`,
below both this generator and the datapipe that reads them.
"""

from modulus_lrsa.data.darcy.cli import add_subparser
from modulus_lrsa.data.darcy.generation import compatible_resolutions, darcy_params, generate_darcy
from modulus_lrsa.data.darcy.solver import (
    assemble_darcy_operator,
    gaussian_random_field,
    generate_sample,
    node_coordinates,
    sample_coefficient,
    sample_rng,
    solve_darcy,
)

__all__ = [
    "add_subparser",
    "assemble_darcy_operator",
    "compatible_resolutions",
    "darcy_params",
    "gaussian_random_field",
    "generate_darcy",
    "generate_sample",
    "node_coordinates",
    "sample_coefficient",
    "sample_rng",
    "solve_darcy",
]
