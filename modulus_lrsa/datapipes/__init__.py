# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Data pipelines: case discovery, preprocessing cache, torch datasets, batching.

Typical use on a folder of CFD cases::

    from modulus_lrsa.datapipes import (MeshCacheConfig, build_cache, MeshPointDataset,
                                        CaseShardSampler, pad_collate)
    config = MeshCacheConfig(volume_fields=["U[0,1]", "p"], surface_fields=["p"],
                             conditions=["U", "aoa_deg"])
    cache = build_cache("datasets/airfoil", "datasets/airfoil/.cache", config, num_workers=8)
    train = MeshPointDataset(cache, "train", volume_points=4096, surface_points=512)

Per-case extraction is :mod:`~modulus_lrsa.datapipes.features` (:class:`CaseArrays`), the
cache index :mod:`~modulus_lrsa.datapipes.index` (:class:`CacheIndex`). The VTK readers,
field selectors and the Darcy file format they build on are in :mod:`modulus_lrsa.io`, the
geometry features in :mod:`modulus_lrsa.geometry` and the errors in :mod:`modulus_lrsa.errors`.
"""

from modulus_lrsa.datapipes.cache import MeshCache, build_cache
from modulus_lrsa.datapipes.cases import MeshCacheConfig, list_cases, resolve_case
from modulus_lrsa.datapipes.collate import pad_collate
from modulus_lrsa.datapipes.dataset import EpochSeededDataset, MeshPointDataset
from modulus_lrsa.datapipes.features import CaseArrays, extract_features
from modulus_lrsa.datapipes.grid import DarcyDataset, DarcyNormalizers
from modulus_lrsa.datapipes.index import CacheIndex
from modulus_lrsa.datapipes.normalization import Normalizer, RunningMoments
from modulus_lrsa.datapipes.sampler import CaseShardSampler

__all__ = [
    "CacheIndex",
    "CaseArrays",
    "CaseShardSampler",
    "DarcyDataset",
    "DarcyNormalizers",
    "EpochSeededDataset",
    "MeshCache",
    "MeshCacheConfig",
    "MeshPointDataset",
    "Normalizer",
    "RunningMoments",
    "build_cache",
    "extract_features",
    "list_cases",
    "pad_collate",
    "resolve_case",
]
