"""Data pipelines: VTK readers, preprocessing cache, torch datasets, batching.

Typical use on a folder of CFD cases::

    from modulus_lrsa.datapipes import (MeshCacheConfig, build_cache, MeshPointDataset,
                                        CaseShardSampler, pad_collate)
    config = MeshCacheConfig(volume_fields=["U[0,1]", "p"], surface_fields=["p"],
                             conditions=["U", "aoa_deg"])
    cache = build_cache("datasets/airfoil", "datasets/airfoil/.cache", config, num_workers=8)
    train = MeshPointDataset(cache, "train", volume_points=4096, surface_points=512)

Names are imported lazily so that ``import modulus_lrsa.datapipes.readers`` (used by the
geometry package) does not import torch-heavy modules, and the geometry package can in
turn be used by the cache without an import cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CorruptFileError": "errors",
    "EmptyMeshError": "errors",
    "MeshDataError": "errors",
    "MissingFieldError": "errors",
    "NonFiniteFieldError": "errors",
    "CaseConfigError": "errors",
    "FieldSelector": "readers",
    "PointSet": "readers",
    "extract_point_set": "readers",
    "list_blocks": "readers",
    "read_vtk": "readers",
    "MeshCacheConfig": "cases",
    "list_cases": "cases",
    "resolve_case": "cases",
    "MeshCache": "cache",
    "build_cache": "cache",
    "RunningMoments": "normalization",
    "Normalizer": "normalization",
    "MeshPointDataset": "dataset",
    "EpochSeededDataset": "dataset",
    "DarcyDataset": "grid",
    "DarcyNormalizers": "grid",
    "CaseShardSampler": "sampler",
    "pad_collate": "collate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'modulus_lrsa.datapipes' has no attribute {name!r}")
    module = importlib.import_module(f"modulus_lrsa.datapipes.{_EXPORTS[name]}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return __all__
