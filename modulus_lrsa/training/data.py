# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""From the ``data`` config group to datasets, channel layout and what inference needs.

This is a thin adapter over :mod:`modulus_lrsa.datapipes`: Darcy folders become
:class:`~modulus_lrsa.datapipes.grid.DarcyDataset` and folders of VTK cases a
preprocessing cache (:func:`~modulus_lrsa.datapipes.cache.build_cache`) served by
:class:`~modulus_lrsa.datapipes.dataset.MeshPointDataset`. It adds what a training run
needs on top: the model's input/output widths, a JSON *data descriptor* saved next to
every exported model (normalization statistics and feature layout, so that
``lrsa-predict`` rebuilds exactly the training inputs for a new case), and the lift and
drag evaluation (:mod:`modulus_lrsa.forces`) for aerodynamic data.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset, Subset

from modulus_lrsa.datapipes.cache import INDEX_NAME, MeshCache, build_cache
from modulus_lrsa.datapipes.cases import MANIFEST_NAME, MeshCacheConfig
from modulus_lrsa.datapipes.dataset import MeshPointDataset
from modulus_lrsa.datapipes.grid import DarcyDataset
from modulus_lrsa.datapipes.normalization import Normalizer
from modulus_lrsa.descriptor import DarcyDescriptor, MeshDescriptor, ModelDescriptor
from modulus_lrsa.errors import ConfigError, LaunchError, MeshDataError
from modulus_lrsa.forces import ForceSettings, SurfaceForceEvaluator
from modulus_lrsa.io.darcy import DarcyDatasetError

#: The datapipes name settings as fields of MeshCacheConfig; the ``data`` group uses the same names.
_API_SETTING = re.compile(r"\bMeshCacheConfig\.(\w+)")
_API_SETTING_ALIAS = re.compile(r" \(MeshCacheConfig\.\w+\)")


class DataError(LaunchError, ValueError):
    """The data named by ``data.*`` cannot be used; the message names the file or key."""


def in_config_terms(message: str) -> str:
    """A datapipes message with ``MeshCacheConfig.<field>`` written as the ``data.<field>`` key."""
    return _API_SETTING.sub(r"data.\1", _API_SETTING_ALIAS.sub("", message))


@dataclass
class TrainingData:
    """Everything the training loop needs from the data side.

    Attributes
    ----------
    name : str
        ``data.name``.
    train, validation : Dataset
        Samples following the datapipes contract (``fx``, ``embedding``, ``target``,
        optional ``mask``, ``weights``, ``target_mask``, ``is_surface``, ``case_id``).
    target_normalizer : Normalizer
        Maps normalized model outputs to physical units.
    fx_names, embedding_names, target_names : list of str
        Channel layout of the model's inputs and outputs.
    structured_shape : tuple of int or None
        Grid shape when samples are structured grids.
    model_descriptor : ModelDescriptor
        What is saved beside exported models (:meth:`ModelDescriptor.write`);
        :attr:`descriptor` is its JSON object.
    forces : SurfaceForceEvaluator or None
        Lift/drag evaluation, when configured.
    set_epoch : callable
        Re-seeds the random point subsets of the training set for an epoch.
    """

    name: str
    train: Dataset
    validation: Dataset
    target_normalizer: Normalizer
    fx_names: list[str]
    embedding_names: list[str]
    target_names: list[str]
    structured_shape: tuple[int, ...] | None
    model_descriptor: ModelDescriptor
    forces: SurfaceForceEvaluator | None = None
    set_epoch: Callable[[int], None] = field(default=lambda epoch: None)

    @property
    def descriptor(self) -> dict[str, Any]:
        """The JSON object of :attr:`model_descriptor`, as the run fingerprint records it."""
        return self.model_descriptor.to_dict()

    @property
    def functional_dim(self) -> int:
        return len(self.fx_names)

    @property
    def embedding_dim(self) -> int:
        return len(self.embedding_names)

    @property
    def out_dim(self) -> int:
        return len(self.target_names)


def _first(dataset: Dataset, count: int | None) -> Dataset:
    if count is None or count >= len(dataset):
        return dataset
    return Subset(dataset, range(count))


def build_darcy_data(data_cfg: DictConfig, seed: int) -> TrainingData:
    """Darcy train/test splits (the test split doubles as validation, as in the benchmark).

    Parameters
    ----------
    data_cfg : DictConfig
        ``data`` group with ``kind: darcy`` (see ``conf/data/darcy.yaml``).
    seed : int
        Seed of the random node subsets of the points view.
    """
    folder = Path(str(data_cfg.path))
    view = str(data_cfg.view)
    try:
        train = DarcyDataset(folder, "train", view=view, num_points=data_cfg.get("train_points"), seed=seed)
        normalizers = train.normalizers
        validation = DarcyDataset(folder, "test", view=view, normalizers=normalizers)
    except (DarcyDatasetError, MeshDataError, FileNotFoundError) as error:
        raise DataError(f"data.path: {error}") from error
    if train.resolution != validation.resolution:
        raise ConfigError(
            f"data.path: {folder} has train resolution {train.resolution} but test resolution "
            f"{validation.resolution}; regenerate it"
        )
    descriptor = DarcyDescriptor(
        name=str(data_cfg.name), view=view, resolution=train.resolution, fx_names=["coeff"],
        embedding_names=["x", "y"], target_names=["solution"], normalization=normalizers,
    )
    return TrainingData(
        name=str(data_cfg.name),
        train=_first(train, data_cfg.get("max_train_samples")),
        validation=_first(validation, data_cfg.get("max_val_samples")),
        target_normalizer=train.target_normalizer,
        fx_names=list(descriptor.fx_names),
        embedding_names=list(descriptor.embedding_names),
        target_names=list(descriptor.target_names),
        structured_shape=train.structured_shape if view == "grid" else None,
        model_descriptor=descriptor,
        set_epoch=train.set_epoch,
    )


def mesh_cache_config(data_cfg: DictConfig) -> MeshCacheConfig:
    """The :class:`MeshCacheConfig` described by a ``kind: mesh`` data group.

    Raises
    ------
    ConfigError
        A setting is unusable; the message names it as ``data.<key>``.
    """
    # The data group holds the MeshCacheConfig fields under their own names, next to training-only keys.
    names = [field.name for field in dataclasses.fields(MeshCacheConfig) if field.name in data_cfg]
    settings = OmegaConf.to_container(OmegaConf.masked_copy(data_cfg, names), resolve=True)
    settings["free_stream"] = _free_stream_settings(settings.get("free_stream"))
    try:
        return MeshCacheConfig(**settings)
    except ValueError as error:
        raise ConfigError(f"data: {in_config_terms(str(error))}") from error


def _free_stream_settings(free_stream: dict[str, Any] | None) -> dict[str, Any] | None:
    """``data.free_stream`` as MeshCacheConfig takes it; None when absent or not enabled."""
    if free_stream is None or not free_stream.get("enabled", True):
        return None
    return {key: value for key, value in free_stream.items() if key != "enabled"}


def build_mesh_data(
    data_cfg: DictConfig,
    seed: int,
    is_writer: bool,
    all_ranks_agree: Callable[[bool], bool],
) -> TrainingData:
    """Preprocess (once) a folder of VTK cases and serve random point subsets of it.

    Parameters
    ----------
    data_cfg : DictConfig
        ``data`` group with ``kind: mesh`` (``conf/data/airfoil.yaml``, ``vtk_folder.yaml``).
    seed : int
        Seed of the per-epoch point subsets.
    is_writer : bool
        Whether this process builds the cache (rank 0); the others wait for it and open it.
    all_ranks_agree : callable
        ``all_ranks_agree(ok)``: whether ``ok`` holds on every rank (a collective); it
        also makes the other ranks wait for the writer.

    Raises
    ------
    DataError
        The cases cannot be read as configured. When the writer fails, the other ranks
        raise one too, so every rank stops (only the writer's message says why).
    """
    config = mesh_cache_config(data_cfg)
    cache_dir = Path(str(data_cfg.cache_dir))
    failure: MeshDataError | None = None
    if is_writer:
        try:
            build_cache(
                str(data_cfg.path),
                cache_dir,
                config,
                num_workers=int(data_cfg.preprocess_workers),
                on_error=str(data_cfg.on_error),
                stats_split=str(data_cfg.train_split),
            )
        except MeshDataError as error:
            failure = error
    if not all_ranks_agree(failure is None):
        if failure is not None:
            raise DataError(f"data.path: {in_config_terms(str(failure))}") from failure
        raise DataError("data.path: rank 0 could not prepare the data (its message says why)")
    try:
        cache = MeshCache.open(cache_dir)
    except MeshDataError as error:
        raise DataError(f"data.cache_dir: {in_config_terms(str(error))}") from error
    splits = {case["split"] for case in cache.cases()}
    for key in ("train_split", "val_split"):
        if str(data_cfg[key]) not in splits:
            hint = ""
            if str(data_cfg[key]) == "test" and not (Path(str(data_cfg.path)) / MANIFEST_NAME).is_file():
                # Without a manifest the test split is round(test_fraction x cases) of them, drawn
                # before bad cases are skipped (on_error=skip): the held-out ones may all be bad.
                listed = len(cache.cases()) + len(cache.index.skipped)
                held_out = round(float(data_cfg.test_fraction) * listed)
                if held_out == 0:
                    hint = (f"; data.test_fraction={data_cfg.test_fraction} holds out none of the {listed} "
                            "cases: raise it so that at least one case is held out for validation")
                else:
                    reasons = "; ".join(f"'{case['case_id']}': {case['reason']}" for case in cache.index.skipped[:3])
                    hint = (f"; the {held_out} case(s) of {listed} that data.test_fraction={data_cfg.test_fraction} "
                            f"holds out were skipped as bad (data.on_error={data_cfg.on_error}): fix them, or remove "
                            f"them from data.path; the reasons are under 'skipped' in {cache_dir / INDEX_NAME} "
                            f"({reasons}{'; ...' if len(cache.index.skipped) > 3 else ''})")
            raise ConfigError(
                f"data.{key}: no case of split '{data_cfg[key]}' in {data_cfg.path} "
                f"(splits present: {sorted(splits)}; skipped cases: {len(cache.index.skipped)}){hint}"
            )
    train = MeshPointDataset(
        cache,
        split=str(data_cfg.train_split),
        volume_points=data_cfg.volume_points,
        surface_points=data_cfg.surface_points,
        seed=seed,
    )
    # Whole cases at evaluation: errors and forces on the CFD mesh itself.
    validation = MeshPointDataset(cache, split=str(data_cfg.val_split), volume_points=None,
                                  surface_points=None if train.uses_surface else 0)
    forces = None
    forces_cfg = data_cfg.get("forces")
    if forces_cfg is not None and forces_cfg.get("enabled", False):
        forces = SurfaceForceEvaluator(cache, ForceSettings.from_config(forces_cfg))
    # The layout without the cases: what prediction rebuilds a case's inputs from.
    layout = dataclasses.replace(cache.index, cases=[], skipped=[])
    descriptor = MeshDescriptor(
        name=str(data_cfg.name), cache_index=layout, uses_volume=train.uses_volume, uses_surface=train.uses_surface,
        fx_names=train.fx_names, embedding_names=train.embedding_names, target_names=train.target_names,
        forces=forces.settings if forces is not None else None,
    )
    return TrainingData(
        name=str(data_cfg.name),
        train=train,
        validation=validation,
        target_normalizer=train.target_normalizer,
        fx_names=train.fx_names,
        embedding_names=train.embedding_names,
        target_names=train.target_names,
        structured_shape=None,
        model_descriptor=descriptor,
        forces=forces,
        set_epoch=train.set_epoch,
    )


def build_training_data(
    data_cfg: DictConfig,
    seed: int,
    is_writer: bool = True,
    all_ranks_agree: Callable[[bool], bool] = lambda ok: ok,
) -> TrainingData:
    """Dispatch on ``data.kind`` (``darcy`` or ``mesh``); see :func:`build_mesh_data`."""
    if data_cfg.kind == "darcy":
        return build_darcy_data(data_cfg, seed)
    if data_cfg.kind == "mesh":
        return build_mesh_data(data_cfg, seed, is_writer, all_ranks_agree)
    raise ConfigError(f"data.kind: expected darcy or mesh, got {data_cfg.kind!r}")
