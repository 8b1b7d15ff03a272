# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Inference: trained models on new cases, results as VTK for ParaView.

One module per mode, each taking an options dataclass:

* :mod:`~modulus_lrsa.inference.mesh`: :func:`~modulus_lrsa.inference.mesh.predict_case`
  on CFD cases (:class:`~modulus_lrsa.inference.mesh.MeshOptions`);
* :mod:`~modulus_lrsa.inference.new_geometry`:
  :func:`~modulus_lrsa.inference.new_geometry.predict_new_geometry` on a wall surface
  without a mesh (:class:`~modulus_lrsa.inference.new_geometry.NewGeometryOptions`);
* :mod:`~modulus_lrsa.inference.darcy`: :func:`~modulus_lrsa.inference.darcy.predict_darcy`
  on Darcy arrays (:class:`~modulus_lrsa.inference.darcy.DarcyOptions`);
* :mod:`~modulus_lrsa.inference.common`: the model file, the output folder and the checks
  they share; :mod:`~modulus_lrsa.inference.cli`: the command line;
  :mod:`~modulus_lrsa.inference.predict`: the ``lrsa-predict`` entry point.

It writes with :mod:`modulus_lrsa.io.writers` and calls the model through
:mod:`modulus_lrsa.surrogate`.
"""
