# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Checkpoints that the legacy Modulus host (nvidia-modulus 0.9) can load.

PhysicsNeMo 2.x writes ``.mdlus`` files as zip archives, which ``modulus`` 0.9 cannot read,
and its own ``legacy_format=True`` writer fails on local paths in 2.2. Modulus 0.9 reads a
tar archive holding ``model.pt``, ``args.json`` and ``metadata.json``, and loads the state
dict strictly, including the ``device_buffer`` its ``Module`` registers. The opposite
direction needs nothing: PhysicsNeMo reads 0.9 checkpoints as they are.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import torch

from modulus_lrsa.atomic import atomic_write_bytes

# The file-format version both hosts write and accept.
MDLUS_FILE_VERSION = "0.1.0"


def save_legacy_checkpoint(model: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model`` as a ``.mdlus`` that ``modulus.Module.from_checkpoint`` (0.9) loads.

    Parameters
    ----------
    model : Module
        A Modulus/PhysicsNeMo ``Module`` (it carries its constructor arguments in ``_args``).
    path : str | os.PathLike
        Destination; must end in ``.mdlus``. Written atomically.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    if path.suffix != ".mdlus":
        raise ValueError(f"save_legacy_checkpoint: {path} must end in .mdlus")
    if not hasattr(model, "_args"):
        raise TypeError(
            f"save_legacy_checkpoint: {type(model).__name__} is not a Modulus Module "
            "(it has no recorded constructor arguments)"
        )
    state_dict = dict(model.state_dict())
    state_dict.setdefault("device_buffer", torch.empty(0))
    members = {
        "model.pt": _torch_bytes(state_dict),
        "args.json": json.dumps(model._args).encode(),
        "metadata.json": json.dumps({"mdlus_file_version": MDLUS_FILE_VERSION}).encode(),
    }
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    atomic_write_bytes(path, archive.getvalue())
    return path


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()
