# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""modulus-lrsa: the Low-Rank Spatial Attention neural operator as an NVIDIA Modulus plugin.

Sub-packages follow the architecture: ``models`` (the network), ``data`` (benchmark data
generators), ``geometry`` (Warp-based geometry features and sampling), ``datapipes``
(VTK readers, caches, datasets), ``training`` and ``inference``.

Only ``models`` is needed to load an LRSA checkpoint, and it works in either Modulus host
(``physicsnemo`` or the legacy ``modulus``); nothing is imported eagerly here so that the
legacy host does not pull in the PhysicsNeMo-only parts.
"""

__version__ = "0.1.0"
