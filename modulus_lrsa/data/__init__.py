# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Benchmark data generators, and the ``lrsa-data`` command line (:mod:`modulus_lrsa.data.cli`).

- :mod:`modulus_lrsa.data.darcy`: Darcy flow in a random two-phase medium (FNO recipe),
  ``generate_darcy`` (its files are read by :mod:`modulus_lrsa.io.darcy`).
- :mod:`modulus_lrsa.data.airfoil`: RANS flow around NACA sections with OpenFOAM.

Nothing is imported here, so ``import modulus_lrsa.data`` stays cheap; import the
submodule you need.
"""
