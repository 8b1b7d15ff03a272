# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Inference: trained models on new cases, results as VTK for ParaView.

* :mod:`~modulus_lrsa.inference.predict`: the ``lrsa-predict`` entry point,
  :func:`~modulus_lrsa.inference.predict.predict_case` (CFD cases) and
  :func:`~modulus_lrsa.inference.predict.predict_darcy` (Darcy arrays).

It writes with :mod:`modulus_lrsa.io.writers` and calls the model through
:mod:`modulus_lrsa.surrogate`.
"""
