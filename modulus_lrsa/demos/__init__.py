# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The demos: ``make demo`` (OpenFOAM airfoils, the main job) and ``make demo-darcy``.

* :mod:`modulus_lrsa.demos.airfoil`: OpenFOAM airfoil cases in, a trained LRSA surrogate
  and its predictions on unseen airfoils out;
* :mod:`modulus_lrsa.demos.darcy`: LRSA on the FNO Darcy benchmark.
"""
