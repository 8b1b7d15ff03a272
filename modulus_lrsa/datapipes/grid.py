# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Darcy benchmark data as torch datasets, on the structured grid or as a point cloud.

The arrays come from :func:`~modulus_lrsa.io.darcy.load_darcy` (``coeff`` and
``solution`` of shape (S, R, R), node coordinates ``x`` and ``y``; ``[i, j]`` is the node
``(x[i], y[j])``).

Normalization: one mean and one standard deviation per channel (the coefficient, the
solution), taken over every node of every training sample (global, not per node), with
the streaming moments of :mod:`~modulus_lrsa.datapipes.normalization`. The test split is
normalized with the training statistics; ``dataset.target_normalizer.denormalize``
returns predictions in physical units for relative-L2 reporting. Coordinates are used
as they are (already in [0, 1]).

Views
-----
``"grid"``: ``fx`` (R, R, 1) normalized coefficient, ``embedding`` (R, R, 2) node
coordinates, ``target`` (R, R, 1) normalized solution; for LRSA with
``structured_shape=(R, R)``. No mask or weights (every node is real, uniform spacing).

``"points"``: the same values flattened to N = R*R points in ``[i, j]`` row-major order
(``fx`` (N, 1), ``embedding`` (N, 2), ``target`` (N, 1)), plus ``mask`` (N,) True and
``weights`` (N,) ones; ``num_points`` draws a random subset per epoch instead.

Training (:class:`DarcyDataset`) and Darcy prediction (``lrsa-predict``) build the model
inputs with the same functions: :meth:`DarcyNormalizers.coefficient_features`,
:func:`node_coordinates` and :func:`as_points`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from modulus_lrsa.datapipes.dataset import EpochSeededDataset
from modulus_lrsa.datapipes.normalization import Normalizer, RunningMoments
from modulus_lrsa.errors import NonFiniteFieldError
from modulus_lrsa.io.darcy import load_darcy, split_file

GRID_VIEWS = ("grid", "points")


def node_coordinates(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The ``embedding`` of the grid view: (R, R, 2) float32, ``[i, j]`` the node ``(x[i], y[j])``."""
    grid_x, grid_y = np.meshgrid(x, y, indexing="ij")
    return np.stack([grid_x, grid_y], axis=-1).astype(np.float32)


def as_points(values: np.ndarray) -> np.ndarray:
    """Grid-view values (..., R, R, C) as the points view has them: (..., R*R, C) in ``[i, j]`` row-major order."""
    return values.reshape(*values.shape[:-3], -1, values.shape[-1])


def _load(folder: str | os.PathLike, split: str) -> dict[str, Any]:
    """One split's arrays, refused if a field holds NaN/Inf (naming the file, field and samples).

    Raises
    ------
    NonFiniteFieldError
        ``coeff`` or ``solution`` is not finite in some sample.
    """
    data = load_darcy(folder, split)
    for name in ("coeff", "solution"):
        values = data[name]
        finite = np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            listed = ", ".join(str(index) for index in bad[:10]) + (", ..." if bad.size > 10 else "")
            raise NonFiniteFieldError(
                f"{split_file(folder, split)}: field '{name}' holds NaN/Inf in {bad.size} of "
                f"{finite.size} samples (index {listed}); regenerate the dataset or drop those samples"
            )
    return data


@dataclass(frozen=True)
class DarcyNormalizers:
    """Training-split statistics of a Darcy dataset.

    Attributes
    ----------
    coefficient : Normalizer
        One channel, ``"coeff"``.
    solution : Normalizer
        One channel, ``"solution"``.
    """

    coefficient: Normalizer
    solution: Normalizer

    @classmethod
    def from_arrays(cls, coeff: np.ndarray, solution: np.ndarray) -> DarcyNormalizers:
        """Global mean/std of training arrays of shape (S, R, R), streamed sample by sample."""
        coefficient_moments, solution_moments = RunningMoments(1), RunningMoments(1)
        for coefficient_sample, solution_sample in zip(coeff, solution):
            coefficient_moments.update(coefficient_sample.reshape(-1, 1))
            solution_moments.update(solution_sample.reshape(-1, 1))
        return cls(
            coefficient=Normalizer.from_moments(["coeff"], coefficient_moments),
            solution=Normalizer.from_moments(["solution"], solution_moments),
        )

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> DarcyNormalizers:
        """Read :meth:`to_dict`'s payload (a Darcy model descriptor's ``normalization``)."""
        return cls(coefficient=Normalizer.from_dict(payload["coefficient"]), solution=Normalizer.from_dict(payload["solution"]))

    def to_dict(self) -> dict[str, Any]:
        """Both normalizers' payloads, by name (``coefficient``, ``solution``)."""
        return {"coefficient": self.coefficient.to_dict(), "solution": self.solution.to_dict()}

    def coefficient_features(self, coeff: np.ndarray) -> np.ndarray:
        """The ``fx`` of the grid view: coefficients (..., R, R) normalized, as (..., R, R, 1) float32."""
        return self.coefficient.normalize(coeff[..., None]).astype(np.float32)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> DarcyNormalizers:
        """Statistics of the ``train`` split of a dataset folder."""
        train = _load(folder, "train")
        if train["coeff"].shape[0] == 0:
            raise ValueError(f"{folder}: the train split is empty; cannot compute normalization statistics")
        return cls.from_arrays(train["coeff"], train["solution"])


class DarcyDataset(EpochSeededDataset):
    """One split of a Darcy dataset, normalized with training statistics.

    Parameters
    ----------
    folder : str or PathLike
        Dataset folder (``metadata.json``, ``train.npz``, ``test.npz``).
    split : {"train", "test"}
    view : {"grid", "points"}
        Structured samples or point clouds; see the module docstring.
    num_points : int, optional
        ``"points"`` view only: random nodes per sample and epoch (without replacement);
        None keeps all R*R nodes in row-major order.
    seed : int
        Base seed of the node subsets.
    normalizers : DarcyNormalizers, optional
        Statistics to use; default: computed from the folder's train split.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        split: str = "train",
        view: str = "grid",
        num_points: int | None = None,
        seed: int = 0,
        normalizers: DarcyNormalizers | None = None,
    ) -> None:
        super().__init__(seed)
        if view not in GRID_VIEWS:
            raise ValueError(f"view must be one of {GRID_VIEWS}, got {view!r}")
        if num_points is not None and (view != "points" or num_points <= 0):
            raise ValueError(f"num_points (got {num_points}) must be > 0 and needs view='points'")
        data = _load(folder, split)
        self.folder = folder
        self.split = split
        self.view = view
        self.num_points = num_points
        if normalizers is None:
            normalizers = (
                DarcyNormalizers.from_arrays(data["coeff"], data["solution"])
                if split == "train"
                else DarcyNormalizers.from_folder(folder)
            )
        self.normalizers = normalizers
        self.coeff = normalizers.coefficient_features(data["coeff"])
        self.solution = normalizers.solution.normalize(data["solution"][..., None]).astype(np.float32)
        self.coordinates = node_coordinates(data["x"], data["y"])

    @property
    def resolution(self) -> int:
        return int(self.coordinates.shape[0])

    @property
    def structured_shape(self) -> tuple[int, int]:
        """(R, R), LRSA's ``structured_shape`` for the grid view."""
        return (self.resolution, self.resolution)

    @property
    def target_normalizer(self) -> Normalizer:
        """Solution statistics: ``denormalize`` maps predictions to physical units."""
        return self.normalizers.solution

    functional_dim = 1
    embedding_dim = 2
    out_dim = 1

    def __len__(self) -> int:
        return int(self.coeff.shape[0])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.view == "grid":
            return {
                "fx": torch.from_numpy(self.coeff[index]),
                "embedding": torch.from_numpy(self.coordinates),
                "target": torch.from_numpy(self.solution[index]),
                "sample_index": index,
            }
        count = self.resolution**2
        if self.num_points is None or self.num_points >= count:
            chosen = np.arange(count)
        else:
            chosen = np.sort(self.rng(index).choice(count, size=self.num_points, replace=False))
        return {
            "fx": torch.from_numpy(as_points(self.coeff[index])[chosen]),
            "embedding": torch.from_numpy(as_points(self.coordinates)[chosen]),
            "target": torch.from_numpy(as_points(self.solution[index])[chosen]),
            "mask": torch.ones(len(chosen), dtype=torch.bool),
            "weights": torch.ones(len(chosen), dtype=torch.float32),
            "sample_index": index,
        }
