# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Neural operator models. ``LRSA`` is registered with the Modulus model registry."""

from .checkpoint import save_legacy_checkpoint
from .domain_parallel import DomainParallelLRSA
from .lrsa import LRSA, LRSABlock, MetaData

__all__ = ["DomainParallelLRSA", "LRSA", "LRSABlock", "MetaData", "save_legacy_checkpoint"]
