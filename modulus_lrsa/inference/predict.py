# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""``lrsa-predict``: run a trained model on a CFD case or on Darcy arrays, write VTK for ParaView.

::

    lrsa-predict outputs/airfoil_lrsa/best_model.mdlus datasets/airfoil_small/cases/case_0007 -o predictions/case_0007
    lrsa-predict outputs/darcy_lrsa/best_model.mdlus datasets/darcy --split test --samples 0 1 2 -o predictions/darcy
    lrsa-predict outputs/darcy_lrsa/best_model.mdlus my_permeability.npy -o predictions/mine

The model comes from its ``.mdlus`` file, through :func:`~modulus_lrsa.models.trusted.load_trusted_model`
(which, unlike ``physicsnemo.Module.from_checkpoint``, imports nothing the file names); the
``<model>.data.json`` written beside it by ``lrsa-train`` holds the normalization
statistics and feature layout, so a new case is preprocessed exactly like the training
data. Predictions are de-normalized to physical units.

Mesh cases produce, in the output folder, ``volume.vtu`` and ``surface.vtp`` (the case's
own mesh and wall patch with ``<field>_predicted`` arrays, plus ``<field>_error`` =
prediction - CFD where the case holds CFD results), ``prediction.vtm`` grouping both
for ParaView, and ``quantities.json`` (relative and absolute L2 per field, the relative
one null where the CFD field is zero, e.g. U on a wall; lift and drag coefficients).
Meshes above ``--chunk-points`` points are evaluated with the model's exact chunked
inference. Darcy inputs produce one ``sample_<k>.vti`` image per sample
and ``quantities.json``.

The output folder is written whole (:func:`modulus_lrsa.atomic.atomic_folder`): every
file goes into a hidden sibling, ``.<OUT>.partial-<host>-<pid>-<random>``, which replaces
``OUT`` only once the prediction is complete, so a killed, failed or refused run leaves
the earlier result as it was, and the next run removes what a killed one left. An
existing ``OUT`` is replaced only if it is empty or an earlier prediction (it holds
``quantities.json`` or ``prediction.vtm``); a folder of other files is refused. The
folder is checked (name and path length, a writable parent) before the model is loaded,
and a prediction holding NaN or Inf is refused, naming the fields, instead of written.

Values are checked where they enter: a condition, sampling setting or chunk size that
is not a finite number in its range is refused by the argument parser; a condition
outside the range of the training cases (recorded in ``<model>.data.json``) is warned
about, naming that range.

This module is the ``lrsa-predict`` entry point (``python -m modulus_lrsa.inference.predict``
too); the modes live in their own modules, each taking an options dataclass:
:mod:`~modulus_lrsa.inference.mesh` (CFD cases), :mod:`~modulus_lrsa.inference.darcy`
(Darcy arrays), :mod:`~modulus_lrsa.inference.new_geometry` (a wall without a mesh),
sharing :mod:`~modulus_lrsa.inference.common`; :mod:`~modulus_lrsa.inference.cli` is the
command line. Their public names are importable from here as well.
"""

from __future__ import annotations

import sys

from modulus_lrsa.inference.cli import build_parser, main
from modulus_lrsa.inference.common import PredictionError, RunOptions, load_model
from modulus_lrsa.inference.darcy import DarcyOptions, predict_darcy
from modulus_lrsa.inference.mesh import MeshOptions, predict_case
from modulus_lrsa.inference.new_geometry import NewGeometryOptions, predict_new_geometry

__all__ = [
    "DarcyOptions", "MeshOptions", "NewGeometryOptions", "PredictionError", "RunOptions", "build_parser", "load_model",
    "main", "predict_case", "predict_darcy", "predict_new_geometry",
]

if __name__ == "__main__":
    sys.exit(main())
