# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""From a protocol's run to lrsa-train's composed Hydra config, and what of it defines a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import paths
from .protocols import MODELS, Protocol, RunSpec


def output_dir(protocol: Protocol, spec: RunSpec) -> Path:
    return paths.protocol_outputs(protocol.name) / spec.run_id


def overrides(protocol: Protocol, spec: RunSpec, time_limit_s: float | None = None) -> list[str]:
    """Hydra overrides of conf/config.yaml for one run; ``time_limit_s`` ends this launch
    (one slice of a wall-clock run) before an epoch that would finish after it."""
    group, target = MODELS[spec.model]
    width, mlp_ratio = protocol.widths["LRSA" if group == "lrsa" else spec.model]
    latent_key = "n_latents" if group == "lrsa" else "slice_num"
    items = [
        f"model={group}",
        f"model.n_hidden={width}",
        f"model.mlp_ratio={mlp_ratio}",
        f"model.n_layers={protocol.n_layers}",
        f"model.n_head={protocol.n_head}",
        f"model.{latent_key}={spec.n_latents}",
        *protocol.data.overrides(),
        f"training.seed={spec.seed}",
        f"training.epochs={spec.epochs}",
        f"training.batch_size={protocol.batch_size}",
        "training.num_workers=0",
        f"training.precision={spec.precision}",
        "training.validate_every_epochs=1",
        "training.checkpoint_every_epochs=5",
        "logging=console",
        "logging.progress_bar=false",
        f"experiment_name=accuracy_{protocol.name}_{spec.run_id}",
        f"output_dir={output_dir(protocol, spec)}",
    ]
    if target is not None:
        items.append(f"model._target_={target}")
    if spec.n_frequencies is not None:
        items.append(f"model.n_frequencies={spec.n_frequencies}")
    if spec.logit_scale is not None:
        items.append(f"model.logit_scale={spec.logit_scale}")
    if not spec.free_stream:
        items.append("data.free_stream=null")
    if spec.force_weight is not None:
        items.append(f"training.loss.force_weight={spec.force_weight!r}")
    if spec.surface_area_weighted:
        items.append("training.loss.surface_area_weighted=true")
    if time_limit_s is not None:
        items.append(f"training.time_limit_minutes={time_limit_s / 60.0!r}")
    return items


def run_definition(protocol: Protocol, spec: RunSpec) -> dict[str, Any]:
    """The composed model and data configs that define a run's result.

    A stored run counts only while these still compose the same: a changed default in
    conf/model or conf/data (a new LRSA default, free-stream targets) makes it stale. The
    training budget and schedule are the protocol's (:data:`storage.RUN_DEFINING_FIELDS`). Paths
    are left out so a checkout elsewhere reads the same results.
    """
    from omegaconf import OmegaConf

    cfg = training_config(protocol, spec)
    definition = {group: OmegaConf.to_container(cfg[group], resolve=True) for group in ("model", "data")}
    return without_paths(definition)


#: Data keys that hold where the files are (absolute once resolved), not what a run is.
PATH_KEYS = ("path", "cache_dir")


def without_paths(definition: dict[str, Any]) -> dict[str, Any]:
    data = {key: value for key, value in definition.get("data", {}).items() if key not in PATH_KEYS}
    return {**definition, "data": data}


def training_config(protocol: Protocol, spec: RunSpec, time_limit_s: float | None = None):
    """lrsa-train's composed config for one run (its own configs plus :func:`overrides`)."""
    import hydra

    from modulus_lrsa.training.train import CONFIG_DIR

    with hydra.initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return hydra.compose(config_name="config", overrides=overrides(protocol, spec, time_limit_s))
