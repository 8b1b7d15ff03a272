# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Training: Hydra-configured runs of LRSA and other PhysicsNeMo operators.

* :mod:`~modulus_lrsa.training.train`: the ``lrsa-train`` entry point and :func:`run_training`.
* :mod:`~modulus_lrsa.training.config`: config checks that name the offending key.
* :mod:`~modulus_lrsa.training.data`: datasets and model widths from the ``data`` group.
* :mod:`~modulus_lrsa.training.checkpoint`: atomic, resumable checkpoints.
* :mod:`~modulus_lrsa.training.resume`: the run fingerprint that a resumed checkpoint must match.
* :mod:`~modulus_lrsa.training.lock`: one ``lrsa-train`` per ``output_dir``.
* :mod:`~modulus_lrsa.training.metrics`: loss and per-field errors.
* :mod:`~modulus_lrsa.training.loggers`: rank-0 console, TensorBoard and MLflow logging.
"""
