# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Rank-0 console, TensorBoard and offline MLflow logging, built on PhysicsNeMo's loggers.

Console output goes through :class:`physicsnemo.utils.logging.PythonLogger` wrapped in
:class:`~physicsnemo.utils.logging.RankZeroLoggingWrapper` (plus a ``train.log`` file);
MLflow runs are created with PhysicsNeMo's ``initialize_mlflow`` against a ``file://``
tracking store, so no server is needed and the folder can be copied off a cluster and
browsed with ``mlflow ui``. Every backend is opened on rank 0 only.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from physicsnemo.distributed import DistributedManager
from physicsnemo.utils.logging import PythonLogger, RankZeroLoggingWrapper

from modulus_lrsa.errors import ConfigError


class ConsoleHandler(logging.StreamHandler):
    """A handler on whatever ``sys.stdout`` is when a record is written.

    A plain ``StreamHandler(sys.stdout)`` keeps the stream it was made with; once a caller
    swaps ``sys.stdout`` (pytest's capture, a demo's redirect) and closes the old one,
    every later record fails with "Logging error".
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


class RunLogger:
    """Console/file messages and scalar metrics for one training run.

    Parameters
    ----------
    logging_cfg : DictConfig
        The ``logging`` group.
    output_dir : Path
        Run folder (``train.log`` is written there).
    run_config : DictConfig
        The whole resolved config, recorded as MLflow parameters and a TensorBoard text.
    manager : DistributedManager
        For the rank.
    """

    def __init__(self, logging_cfg: DictConfig, output_dir: Path, run_config: DictConfig, manager: DistributedManager):
        self.is_root = manager.rank == 0
        python_logger = PythonLogger("lrsa.train")
        python_logger.logger.setLevel(str(logging_cfg.level).upper())
        self._file_handler: logging.FileHandler | None = None
        if self.is_root:
            output_dir.mkdir(parents=True, exist_ok=True)
            # Under lrsa-train, Hydra's logging prints to the console (and writes no file).
            if not logging.getLogger().handlers and not python_logger.logger.handlers:
                handler = ConsoleHandler()
                handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", datefmt="%H:%M:%S"))
                python_logger.logger.addHandler(handler)
            # Appends (PythonLogger.file_logging would truncate the log of a resumed run).
            self._file_handler = logging.FileHandler(output_dir / "train.log", mode="a")
            self._file_handler.setFormatter(
                _PlainFormatter("[%(asctime)s - %(levelname)s] %(message)s", datefmt="%H:%M:%S")
            )
            python_logger.logger.addHandler(self._file_handler)
        self.console = RankZeroLoggingWrapper(python_logger, manager)
        self._python_logger = python_logger
        self.tensorboard = None
        self.mlflow_client = None
        self.mlflow_run_id: str | None = None
        if not self.is_root:
            return
        if logging_cfg.tensorboard.enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(log_dir=str(logging_cfg.tensorboard.dir))
            self.tensorboard.add_text("config", f"```\n{OmegaConf.to_yaml(run_config)}\n```")
        if logging_cfg.mlflow.enabled:
            self._start_mlflow(logging_cfg.mlflow, run_config)

    def _start_mlflow(self, mlflow_cfg: DictConfig, run_config: DictConfig) -> None:
        try:
            from physicsnemo.utils.logging.mlflow import MLFLOW_AVAILABLE, initialize_mlflow
        except ImportError as error:  # pragma: no cover - physicsnemo always ships it
            raise ConfigError(f"logging.mlflow.enabled: PhysicsNeMo's MLflow helpers failed to import ({error})") from error
        if not MLFLOW_AVAILABLE:
            raise ConfigError(
                "logging.mlflow.enabled: MLflow is not installed; `pip install mlflow` "
                "or choose logging=tensorboard"
            )
        # MLflow 3 refuses file:// stores unless asked; they are what offline runs on a
        # cluster without a tracking server need (copy the folder, then `mlflow ui`).
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        tracking_dir = Path(str(mlflow_cfg.tracking_dir)).resolve()
        tracking_dir.mkdir(parents=True, exist_ok=True)
        client, run = initialize_mlflow(
            experiment_name=str(mlflow_cfg.experiment_name),
            experiment_desc="modulus-lrsa training runs",
            run_name=mlflow_cfg.run_name or str(mlflow_cfg.experiment_name),
            run_desc=f"lrsa-train {run_config.get('experiment_name', '')}",
            user_name=mlflow_cfg.user or "modulus-lrsa",
            mode="offline",
            tracking_location=tracking_dir.as_uri(),
        )
        self.mlflow_client, self.mlflow_run_id = client, run.info.run_id
        flat = _flatten(OmegaConf.to_container(run_config, resolve=True))
        for key, value in flat.items():
            # MLflow caps parameter values at a few hundred characters.
            client.log_param(self.mlflow_run_id, key, str(value)[:250])

    def info(self, message: str) -> None:
        self.console.log(message)

    def warning(self, message: str) -> None:
        self.console.warning(message)

    def error(self, message: str) -> None:
        self.console.error(message)

    def success(self, message: str) -> None:
        self.console.success(message)

    def scalars(self, metrics: Mapping[str, float], step: int) -> None:
        """Record scalars (``train/loss``, ``val/rel_l2/p``...) at a global step."""
        if not self.is_root:
            return
        if self.tensorboard is not None:
            for name, value in metrics.items():
                self.tensorboard.add_scalar(name, value, step)
        if self.mlflow_client is not None:
            for name, value in metrics.items():
                self.mlflow_client.log_metric(self.mlflow_run_id, _mlflow_key(name), float(value), step=step)

    def artifact(self, path: Path) -> None:
        """Attach a file (exported model, metrics) to the MLflow run."""
        if self.is_root and self.mlflow_client is not None:
            self.mlflow_client.log_artifact(self.mlflow_run_id, str(path))

    def close(self, status: str = "FINISHED") -> None:
        """Flush and close the backends; ``status`` is the MLflow run's final state."""
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        if self.mlflow_client is not None:
            self.mlflow_client.set_terminated(self.mlflow_run_id, status=status)
            self.mlflow_client = None
        if self._file_handler is not None:
            self._file_handler.close()
            self._python_logger.logger.removeHandler(self._file_handler)
            self._file_handler = None


class _PlainFormatter(logging.Formatter):
    """Drops the terminal color codes PythonLogger adds, for the log file."""

    _ANSI = re.compile(r"\x1b\[[0-9;]*m")

    def format(self, record: logging.LogRecord) -> str:
        return self._ANSI.sub("", super().format(record))


def _mlflow_key(name: str) -> str:
    # MLflow metric names allow letters, digits, _ - . / and spaces only.
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): tree}
