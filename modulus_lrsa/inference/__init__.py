"""Inference: trained models on new cases, results as VTK for ParaView.

* :mod:`~modulus_lrsa.inference.predict`: the ``lrsa-predict`` entry point,
  :func:`~modulus_lrsa.inference.predict.predict_case` (CFD cases) and
  :func:`~modulus_lrsa.inference.predict.predict_darcy` (Darcy arrays).
* :mod:`~modulus_lrsa.inference.vtk_output`: atomic VTK XML writers.
"""
