# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Files in and out, below everything that computes: VTK readers and writers, field selectors.

* :mod:`~modulus_lrsa.io.fields`: field selectors (``U[0,1]``), channel names and layouts;
* :mod:`~modulus_lrsa.io.readers`: VTK/OpenFOAM files into NumPy arrays, failing loudly;
* :mod:`~modulus_lrsa.io.integrity`: checks of file structure before VTK reads a file;
* :mod:`~modulus_lrsa.io.writers`: atomic VTK XML writers for ParaView;
* :mod:`~modulus_lrsa.io.darcy`: the Darcy dataset files and their loader.

Nothing is imported here, so that a module needing only field names does not load VTK;
import the submodule you need.
"""
