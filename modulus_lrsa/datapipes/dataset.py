# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Torch dataset over a preprocessing cache: K random points per case, or whole cases.

Each item is one case. In training mode (``volume_points``/``surface_points`` set) a
fresh random subset of points is drawn every epoch, from an RNG seeded by
``(seed, epoch, case position)``, so runs are reproducible and independent of the
number of DataLoader workers or ranks. ``set_epoch`` writes the epoch into shared
memory, so persistent DataLoader workers see it too. With ``None`` the whole case is
returned at full resolution in file order (evaluation).

Sample layout (N = number of points, volume points first, then surface points)
--------------------------------------------------------------------------------
``fx`` (N, G)
    Global conditions (``MeshCacheConfig.conditions``), normalized, broadcast to every
    point. G may be 0.
``embedding`` (N, E)
    ``coordinates`` (D, centered, one common scale), then, when the cases have a body
    surface, ``distance`` (1, wall distance / its RMS, >= 0; 0 on surface points) and
    ``direction`` (D, unit direction away from the nearest wall point; the wall normal
    into the fluid on surface points), then, when both volume and surface points exist, ``is_surface`` (1, 0/1).
    ``dataset.embedding_names`` lists the columns.
``target`` (N, C)
    ``dataset.target_names``: volume channels, then surface channels not among them;
    a channel present in both (e.g. ``p``) is one column. Divided by ``target_scale``,
    normalized; 0 where undefined.
``target_mask`` (N, C) bool
    Which target entries are defined: volume channels on volume points, surface
    channels on surface points. Losses and metrics must use it.
``mask`` (N,) bool
    True (real points); :func:`~modulus_lrsa.datapipes.collate.pad_collate` adds False padding.
``weights`` (N,) float32
    Quadrature weights (cell volumes for volume points, face areas for surface points),
    rescaled to mean 1 within each point set of the sample.
``is_surface`` (N,) bool
    Which points are surface points.
``face_area`` (N,) float32
    Surface points: the face area in physical units times (faces of the case / faces in
    the sample), so that a sum over a sample's surface points is an unbiased estimate of
    the integral over the whole surface (exact when every face is in the sample); 0 on
    volume points. The force loss of ``training.loss.force_weight`` integrates with it.
``face_normal`` (N, D) float32
    Surface points: the unit normal out of the body (into the fluid); 0 on volume points.
``target_scale`` (C,) float32
    The case's free-stream scale of each target channel (``MeshCacheConfig.free_stream``;
    all 1 without it): ``target`` is normalized ``physical / target_scale``, so physical
    units are ``denormalize(prediction) * target_scale``.
``case_id`` str
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from modulus_lrsa.datapipes.cache import MeshCache
from modulus_lrsa.datapipes.cases import free_stream_scales
from modulus_lrsa.datapipes.features import CaseArrays
from modulus_lrsa.datapipes.index import CacheIndex
from modulus_lrsa.datapipes.normalization import Normalizer
from modulus_lrsa.io.fields import columns_in


def _relative_weights(weights: np.ndarray) -> np.ndarray:
    # Volumes and areas have different units; only ratios within one set carry meaning.
    if weights.size == 0:
        return weights.astype(np.float32)
    return (weights / weights.mean()).astype(np.float32)


class EpochSeededDataset(Dataset):
    """Base for datasets whose random subsampling depends on the epoch.

    The epoch lives in a shared-memory tensor: DataLoader workers (forked or spawned,
    persistent or not) read the value set by :meth:`set_epoch` in the main process.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Select the random point subsets of ``epoch`` (call before iterating the loader)."""
        self._epoch.fill_(int(epoch))

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, index])


def _choose(rng: np.random.Generator, available: int, wanted: int | None) -> np.ndarray:
    if wanted is None or wanted >= available:
        return np.arange(available)
    return np.sort(rng.choice(available, size=wanted, replace=False))


class CaseFeatures:
    """Turns a case's arrays (from the cache or :func:`~modulus_lrsa.datapipes.features.extract_features`)
    into a model sample: the one place that defines ``fx``, ``embedding`` and ``target``.

    Training (:class:`MeshPointDataset`) and prediction (``lrsa-predict``) both build
    their samples here, from the normalization statistics of the training cache index.

    Parameters
    ----------
    index : CacheIndex
        A cache index (``index.json``): channel layout, geometry flag, normalization.
    uses_volume, uses_surface : bool
        Which point sets the samples hold.
    normalize : bool
        Normalize with the index statistics (False: physical units, identity scaling).
    """

    def __init__(self, index: CacheIndex, uses_volume: bool, uses_surface: bool, normalize: bool = True) -> None:
        self.has_geometry = bool(index.has_geometry)
        self.uses_volume, self.uses_surface = uses_volume, uses_surface
        self.coordinate_names = list(index.coordinate_names)
        self.condition_names = list(index.condition_names)
        self.target_names = list(index.target_channels)
        self.volume_columns = columns_in(self.target_names, index.volume_channels)
        self.surface_columns = columns_in(self.target_names, index.surface_channels)
        self.free_stream = index.settings.get("free_stream")

        def normalizer(kind: str, names: Sequence[str]) -> Normalizer:
            return index.normalizer(kind) if normalize else Normalizer.identity(names)

        self.target_normalizer = normalizer("target", self.target_names)
        self.condition_normalizer = normalizer("conditions", self.condition_names)
        self.coordinate_normalizer = normalizer("coordinates", self.coordinate_names)
        self.distance_normalizer = normalizer("distance", ["distance"])

    @property
    def embedding_names(self) -> list[str]:
        names = list(self.coordinate_names)
        if self.has_geometry:
            names += ["distance"] + [f"direction_{axis}" for axis in self.coordinate_names]
        if self.uses_volume and self.uses_surface:
            names.append("is_surface")
        return names

    def sample(
        self,
        arrays: CaseArrays,
        case_id: str,
        volume_rows: np.ndarray | None = None,
        surface_rows: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """The sample of one case, from the chosen volume and surface rows (default: all).

        Target entries that are NaN (fields a prediction input lacks) are left out of
        ``target_mask`` and set to 0.
        """
        scales = free_stream_scales(self.free_stream, self.target_names, self.condition_names, arrays.conditions)
        dimension = len(self.coordinate_names)
        parts: list[dict[str, np.ndarray]] = []
        if self.uses_volume:
            rows = np.arange(arrays.volume_positions.shape[0]) if volume_rows is None else volume_rows
            volume = self._point_block(
                positions=arrays.volume_positions[rows],
                distance=arrays.volume_distance[rows],
                direction=arrays.volume_direction[rows],
                values=arrays.volume_targets[rows] / scales[self.volume_columns],
                columns=self.volume_columns,
                weights=arrays.volume_weights[rows],
                is_surface=False,
            )
            volume["face_area"] = np.zeros(len(rows), dtype=np.float32)
            volume["face_normal"] = np.zeros((len(rows), dimension), dtype=np.float32)
            parts.append(volume)
        if self.uses_surface:
            faces = arrays.surface_positions.shape[0]
            rows = np.arange(faces) if surface_rows is None else surface_rows
            surface = self._point_block(
                positions=arrays.surface_positions[rows],
                distance=np.zeros(len(rows), dtype=np.float32),
                direction=arrays.surface_normals[rows],
                values=arrays.surface_targets[rows] / scales[self.surface_columns],
                columns=self.surface_columns,
                weights=arrays.surface_weights[rows],
                is_surface=True,
            )
            # Uniform sampling without replacement: each face is drawn with probability sampled / faces.
            scale = faces / len(rows) if len(rows) else 0.0
            surface["face_area"] = (arrays.surface_weights[rows].astype(np.float64) * scale).astype(np.float32)
            surface["face_normal"] = arrays.surface_normals[rows].astype(np.float32).reshape(len(rows), dimension)
            parts.append(surface)
        merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        count = merged["embedding"].shape[0]
        conditions = self.condition_normalizer.normalize(arrays.conditions.astype(np.float64)).astype(np.float32)
        fx = np.repeat(conditions[None, :], count, axis=0)
        return {
            "fx": torch.from_numpy(fx),
            "embedding": torch.from_numpy(merged["embedding"]),
            "target": torch.from_numpy(merged["target"]),
            "target_mask": torch.from_numpy(merged["target_mask"]),
            "mask": torch.ones(count, dtype=torch.bool),
            "weights": torch.from_numpy(merged["weights"]),
            "is_surface": torch.from_numpy(merged["is_surface"]),
            "face_area": torch.from_numpy(merged["face_area"]),
            "face_normal": torch.from_numpy(merged["face_normal"]),
            "target_scale": torch.from_numpy(scales.astype(np.float32)),
            "case_id": case_id,
        }

    def _point_block(
        self,
        positions: np.ndarray,
        distance: np.ndarray,
        direction: np.ndarray,
        values: np.ndarray,
        columns: list[int],
        weights: np.ndarray,
        is_surface: bool,
    ) -> dict[str, np.ndarray]:
        count = positions.shape[0]
        embedding = [self.coordinate_normalizer.normalize(positions)]
        if self.has_geometry:
            embedding.append(self.distance_normalizer.normalize(distance[:, None]))
            embedding.append(direction)
        if self.uses_volume and self.uses_surface:
            embedding.append(np.full((count, 1), float(is_surface), dtype=np.float32))
        target = np.zeros((count, len(self.target_names)), dtype=np.float32)
        target_mask = np.zeros((count, len(self.target_names)), dtype=bool)
        target[:, columns] = values
        target_mask[:, columns] = np.isfinite(values)
        target = np.where(target_mask, self.target_normalizer.normalize(np.nan_to_num(target)), 0.0).astype(np.float32)
        return {
            "embedding": np.concatenate(embedding, axis=1).astype(np.float32),
            "target": target,
            "target_mask": target_mask,
            "weights": _relative_weights(weights),
            "is_surface": np.full(count, is_surface),
        }


class MeshPointDataset(EpochSeededDataset):
    """Cases of a :class:`~modulus_lrsa.datapipes.cache.MeshCache` as point-cloud samples.

    Parameters
    ----------
    cache : MeshCache or str or PathLike
        Opened cache, or its folder.
    split : str or sequence of str, optional
        Cases to serve (``"train"``, ``"test"``, ...); None: all.
    volume_points : int or None
        Volume points drawn per case and epoch (without replacement; all if the case has
        fewer). None: every volume point (evaluation).
    surface_points : int or None
        Same for surface points; 0 leaves surface points out.
    seed : int
        Base seed of the point subsets.
    normalize : bool
        Normalize fx, embedding and target with the cache's training statistics.

    Examples
    --------
    >>> dataset = MeshPointDataset("cache/", split="train", volume_points=4096, surface_points=512)
    >>> loader = DataLoader(dataset, batch_size=4, collate_fn=pad_collate,
    ...                     sampler=CaseShardSampler(dataset, shuffle=True))
    >>> for epoch in range(epochs):
    ...     dataset.set_epoch(epoch); loader.sampler.set_epoch(epoch)
    ...     for batch in loader: ...
    """

    def __init__(
        self,
        cache: MeshCache | str | os.PathLike,
        split: str | Sequence[str] | None = "train",
        volume_points: int | None = 4096,
        surface_points: int | None = 1024,
        seed: int = 0,
        normalize: bool = True,
    ) -> None:
        super().__init__(seed)
        self.cache = cache if isinstance(cache, MeshCache) else MeshCache.open(cache)
        for name, value in (("volume_points", volume_points), ("surface_points", surface_points)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value}")
        self.case_entries = self.cache.cases(split)
        if not self.case_entries:
            raise ValueError(
                f"cache {self.cache.cache_dir} has no case in split {split!r} "
                f"(splits present: {sorted({c['split'] for c in self.cache.cases()})})"
            )
        self.volume_points = volume_points
        self.surface_points = surface_points
        self.normalize = normalize
        index = self.cache.index
        self.uses_volume = bool(index.volume_channels) and volume_points != 0
        self.uses_surface = bool(index.surface_channels) and surface_points != 0
        if not (self.uses_volume or self.uses_surface):
            raise ValueError("volume_points and surface_points leave no point to sample")
        self.features = CaseFeatures(index, self.uses_volume, self.uses_surface, normalize)
        self.target_names = self.features.target_names
        self.target_normalizer = self.features.target_normalizer

    @property
    def fx_names(self) -> list[str]:
        return list(self.cache.index.condition_names)

    @property
    def embedding_names(self) -> list[str]:
        return self.features.embedding_names

    @property
    def functional_dim(self) -> int:
        """C_in, the width of ``fx`` (LRSA ``functional_dim``)."""
        return len(self.fx_names)

    @property
    def embedding_dim(self) -> int:
        """C_emb, the width of ``embedding`` (LRSA ``embedding_dim``)."""
        return len(self.embedding_names)

    @property
    def out_dim(self) -> int:
        """C_out, the width of ``target`` (LRSA ``out_dim``)."""
        return len(self.target_names)

    def __len__(self) -> int:
        return len(self.case_entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.case_entries[index]
        arrays = CaseArrays.from_dict(self.cache.load_case(entry))
        rng = self.rng(index)
        volume_rows = _choose(rng, arrays.volume_positions.shape[0], self.volume_points) if self.uses_volume else None
        surface_rows = _choose(rng, arrays.surface_positions.shape[0], self.surface_points) if self.uses_surface else None
        return self.features.sample(arrays, entry["case_id"], volume_rows, surface_rows)
