# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The model of a launch: its config completed from the data, instantiated, and wrapped for the launch."""

from __future__ import annotations

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from physicsnemo.distributed import DistributedManager
from torch.nn.parallel import DistributedDataParallel

from modulus_lrsa.errors import ConfigError
from modulus_lrsa.surrogate import ModelInputs, takes_geometry_context
from modulus_lrsa.training.data import TrainingData
from modulus_lrsa.training.domain_parallel import DomainParallelism
from modulus_lrsa.training.loggers import RunLogger


def model_config_for(model_cfg: DictConfig, data: TrainingData) -> DictConfig:
    """The model config with its data-dependent keys filled in from the dataset.

    ``functional_dim``, ``out_dim`` and ``embedding_dim`` left as ``???`` take the
    dataset's widths (for a geometry-context model, ``functional_dim`` is fx and
    embedding together and ``geometry_dim`` the embedding's), and so does
    ``structured_shape`` (when null) for grid data. A value given explicitly must agree
    with the data.

    Raises
    ------
    ConfigError
        An explicit value disagrees with the data; the message names ``model.<key>``.
    """
    resolved = OmegaConf.create(OmegaConf.to_container(model_cfg, resolve=True))
    widths = {
        "functional_dim": (data.functional_dim, data.fx_names),
        "out_dim": (data.out_dim, data.target_names),
        "embedding_dim": (data.embedding_dim, data.embedding_names),
    }
    if takes_geometry_context(resolved.keys()):
        # GeoTransolver reads fx and embedding together, and the wall's embedding as context.
        widths["functional_dim"] = (data.functional_dim + data.embedding_dim, [*data.fx_names, *data.embedding_names])
        widths["geometry_dim"] = (data.embedding_dim, data.embedding_names)
    for key, (width, names) in widths.items():
        if key not in resolved.keys():
            continue
        if OmegaConf.is_missing(resolved, key):
            resolved[key] = width if (width or key != "embedding_dim") else None
        elif (resolved[key] or 0) != width:
            raise ConfigError(
                f"model.{key}: set to {resolved[key]} but the data '{data.name}' has {width} "
                f"channel(s) ({', '.join(names) or 'none'}); leave it as ??? to take it from the data"
            )
    if "structured_shape" in resolved.keys():
        configured = resolved.structured_shape
        configured = tuple(configured) if configured is not None else None
        if data.structured_shape is not None and configured is None:
            resolved.structured_shape = list(data.structured_shape)
        elif configured != data.structured_shape:
            raise ConfigError(
                f"model.structured_shape: set to {configured} but the data gives "
                f"{'grids of shape ' + str(data.structured_shape) if data.structured_shape else 'point clouds'}; "
                "leave it null to take it from the data"
            )
    elif data.structured_shape is not None:
        raise ConfigError(
            f"model: {model_cfg.get('_target_')} has no structured_shape, but data.view=grid gives "
            f"grids of shape {data.structured_shape}; use data.view=points"
        )
    return resolved


def instantiate_model(model_cfg: DictConfig) -> torch.nn.Module:
    """The model of ``model_cfg``; a constructor's refusal becomes a message about ``model.*``."""
    try:
        return instantiate(model_cfg, _convert_="partial")
    except Exception as error:
        # Hydra wraps the constructor's TypeError/ValueError in InstantiationException.
        cause = error.__cause__ or error
        if not isinstance(cause, (TypeError, ValueError)):
            raise
        raise ConfigError(f"model: {model_cfg._target_} refused the model.* settings: {cause}") from error


def build_model(
    model_cfg: DictConfig, data: TrainingData, cfg: DictConfig, manager: DistributedManager,
    domain: DomainParallelism | None, log: RunLogger,
) -> tuple[torch.nn.Module, ModelInputs]:
    """The configured model on this rank's device, wrapped for the launch (domain mesh, DDP, compile)."""
    model = instantiate_model(model_cfg).to(manager.device)
    inputs = ModelInputs(model)
    log.info(
        f"model {type(model).__name__}: {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"inputs fx={data.fx_names} embedding={data.embedding_names} -> {data.target_names}; "
        f"{len(data.train)} training / {len(data.validation)} validation samples"
    )
    if domain is not None:
        model = domain.wrap(model)
    elif manager.world_size > 1:
        model = DistributedDataParallel(
            model,
            device_ids=[manager.device] if manager.device.type == "cuda" else None,
            find_unused_parameters=manager.find_unused_parameters,
        )
    if cfg.training.compile:
        # Around DDP, so that its graph breaks at gradient buckets keep communication overlapped.
        # Static shapes: a graph per point count, never a symbolic one (inductor's dynamic
        # path failed on the grid model's convolution after another model's compile).
        model = torch.compile(model, dynamic=False)
    return model, inputs
