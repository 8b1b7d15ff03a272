# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Loading ``.mdlus`` model files that someone else wrote, without running anything they name.

``physicsnemo.Module.from_checkpoint`` imports the module that a file's ``args.json`` names
(``__module__``) before anything is checked, so a file can make the loader import any
installed module, or a ``.py`` shipped beside the model when Python's path includes its
folder. This loader reads the archive itself and imports nothing that the file names:

1. the archive (PhysicsNeMo 2.x zip, or the legacy tar of Modulus 0.9 and
   :func:`~modulus_lrsa.models.checkpoint.save_legacy_checkpoint`) must hold regular
   members with plain names, ``args.json``, ``metadata.json`` and ``model.pt`` once each,
   no larger than the file allows;
2. ``args.json`` must be a JSON object naming an accepted class: by default the classes
   that ``lrsa-train`` exports (:data:`TRAINED_CLASSES`), matched as strings, so a refused
   name is never imported;
3. ``model.pt`` is read with ``torch.load(..., weights_only=True)`` and must be a flat
   mapping of names to dense tensors; a pickle that would build anything else is refused
   without running;
4. the class is built from ``args.json``'s arguments on the ``meta`` device first (no
   memory for weights, whatever sizes the file asks for) and ``model.pt`` loaded into it
   strictly, which checks names and shapes; only a model that fits is built for real and
   loaded.

Every refusal is a :class:`~modulus_lrsa.errors.ModelFileError` (an
:class:`~modulus_lrsa.errors.UntrustedFileError` for a class outside the allow-list or a
pickle payload) whose one-line message names the file and says why.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import stat
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import IO, Any

import torch

from modulus_lrsa.errors import ModelFileError, UntrustedFileError, one_line

from .ablations import LatentMLPLRSA, TiedLRSA
from .lrsa import LRSA

__all__ = ["TRAINED_CLASSES", "check_model_file", "load_trusted_model", "load_trusted_weights", "refused_globals"]

#: ``<__module__>.<__name__>`` of every class ``lrsa-train`` exports (conf/model/*.yaml and
#: the ablations a ``model._target_`` override selects), as PhysicsNeMo writes them.
TRAINED_CLASSES: tuple[str, ...] = (
    "modulus_lrsa.models.lrsa.LRSA",
    "modulus_lrsa.models.ablations.TiedLRSA",
    "modulus_lrsa.models.ablations.LatentMLPLRSA",
    "physicsnemo.models.transolver.transolver.Transolver",
    "physicsnemo.models.flare.flare.FLARE",
    "physicsnemo.models.geotransolver.geotransolver.GeoTransolver",
)

MEMBERS = ("args.json", "metadata.json", "model.pt")
_ARGS_KEYS = {"__name__", "__module__", "__args__"}
#: A real args.json or metadata.json is about a kilobyte.
_JSON_LIMIT = 1 << 20
#: Members may unpack to at most this multiple of the file's size (tensors barely compress).
_EXPANSION_LIMIT = 16
#: Elements the built model may hold beyond model.pt's (buffers it does not store).
_UNSTORED_ELEMENTS_LIMIT = 1 << 22
#: How much larger than model.pt's stored bytes the built weights may be (float16 or bool stored, float32 built).
_WIDENING_LIMIT = 4
#: What zipfile and tarfile raise on a damaged or hostile archive.
_ARCHIVE_ERRORS = (
    OSError, EOFError, ValueError, RuntimeError, NotImplementedError, OverflowError, KeyError, IndexError,
    zipfile.BadZipFile, tarfile.TarError, zlib.error, struct.error,
)


def check_model_file(path: str | os.PathLike, accept: Collection[type] | None = None) -> type[torch.nn.Module]:
    """The class a ``.mdlus`` file describes, once its archive and ``args.json`` pass the checks.

    Nothing the file names is imported; ``model.pt`` is checked when it is loaded
    (:func:`load_trusted_model`, :func:`load_trusted_weights`).

    Parameters
    ----------
    path : path-like
        The ``.mdlus`` file.
    accept : collection of classes, optional
        The classes the file may name; default: :data:`TRAINED_CLASSES`.

    Returns
    -------
    type
        The accepted class that ``args.json`` names.

    Raises
    ------
    UntrustedFileError
        ``args.json`` names another class.
    ModelFileError
        The file is missing, not a complete ``.mdlus`` archive, or its JSON members are malformed.
    """
    path = Path(path)
    members = _read_members(path)
    return _named_class(path, _json_object(path, "args.json", members["args.json"]), accept)


def load_trusted_model(path: str | os.PathLike, accept: Collection[type] | None = None) -> torch.nn.Module:
    """Build and load the model of a ``.mdlus`` file; a safe ``physicsnemo.Module.from_checkpoint``.

    Parameters
    ----------
    path : path-like
        The ``.mdlus`` file.
    accept : collection of classes, optional
        The classes the file may name; default: :data:`TRAINED_CLASSES`.

    Returns
    -------
    physicsnemo.Module
        The model on the CPU, in training mode (as ``from_checkpoint`` returns it).

    Raises
    ------
    UntrustedFileError
        ``args.json`` names a class outside ``accept``, or ``model.pt`` holds objects other than tensors.
    ModelFileError
        The file is missing or damaged, or its weights do not fit the model its ``args.json`` describes.
    """
    path = Path(path)
    members = _read_members(path)
    args = _json_object(path, "args.json", members["args.json"])
    cls = _named_class(path, args, accept)
    arguments = _constructor_arguments(path, cls, args, _json_object(path, "metadata.json", members["metadata.json"]))
    state = _read_weights(path, members["model.pt"])
    layers = arguments.get("n_layers")
    if isinstance(layers, int) and layers > len(state):
        # Every layer has a tensor; checked first, as building thousands of layers takes long even on meta.
        raise ModelFileError(f"{path}: args.json asks for n_layers={layers}, but model.pt holds {len(state)} tensors")
    with warnings.catch_warnings():
        # The real build below warns once; on meta, torch warns that each copy is a no-op.
        warnings.simplefilter("ignore")
        skeleton = _build(path, cls, arguments, torch.device("meta"))
        # On meta, copying the weights only checks names and shapes: nothing is allocated yet.
        _load(path, skeleton, state, "the model its args.json describes")
    _check_dtypes(path, skeleton, state)
    # Bytes, not elements: a tensor of model.pt may be a stride-0 view of one stored number
    # that claims any shape, so only the bytes model.pt really stores bound the real build.
    needed = sum(t.numel() * t.element_size() for t in (*skeleton.parameters(), *skeleton.buffers()))
    stored = _stored_bytes(state)
    if needed > _WIDENING_LIMIT * stored + _UNSTORED_ELEMENTS_LIMIT * 4:
        raise ModelFileError(
            f"{path}: args.json's arguments build {needed} bytes of weights, but model.pt stores {stored} bytes "
            f"(at most {_WIDENING_LIMIT} times as many expected, plus {_UNSTORED_ELEMENTS_LIMIT * 4} for buffers)"
        )
    model = _build(path, cls, arguments, torch.device("cpu"))
    _load(path, model, state, "the model its args.json describes")
    return model


def load_trusted_weights(module: torch.nn.Module, path: str | os.PathLike) -> None:
    """Load a ``.mdlus`` file's weights into ``module``: a safe ``Module.load``.

    The file's ``args.json`` must name ``module``'s own class, and its ``model.pt`` must
    load into ``module`` strictly (``device_buffer`` entries of older files aside).

    Raises
    ------
    UntrustedFileError
        ``args.json`` names another class, or ``model.pt`` holds objects other than tensors.
    ModelFileError
        The file is missing or damaged, or its weights do not fit ``module``.
    """
    path = Path(path)
    members = _read_members(path)
    _named_class(path, _json_object(path, "args.json", members["args.json"]), (type(module),))
    state = _read_weights(path, members["model.pt"])
    _check_dtypes(path, module, state)
    _load(path, module, state, f"the {type(module).__name__} it is loaded into")


# --------------------------------------------------------------------------------------
# The archive
# --------------------------------------------------------------------------------------


def _read_members(path: Path) -> dict[str, bytes]:
    """``args.json``, ``metadata.json`` and ``model.pt`` of a checked archive."""
    if not path.is_file():
        raise ModelFileError(f"{path}: model file does not exist")
    size = path.stat().st_size
    try:
        # Tar first, as PhysicsNeMo does: a file can be both, and PhysicsNeMo reads it as tar.
        if tarfile.is_tarfile(path):
            return _tar_members(path, size)
        if zipfile.is_zipfile(path):
            return _zip_members(path, size)
    except ModelFileError:
        raise
    except _ARCHIVE_ERRORS as error:
        raise ModelFileError(f"{path}: not a readable .mdlus archive ({one_line(error)})") from error
    raise ModelFileError(f"{path}: not a .mdlus model file (neither a zip nor a tar archive, {size} bytes)")


def _zip_members(path: Path, size: int) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        for info in infos:
            if info.flag_bits & 0x1:
                raise ModelFileError(f"{path}: member {info.filename!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ModelFileError(f"{path}: member {info.filename!r} uses compression method {info.compress_type}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ModelFileError(f"{path}: member {info.filename!r} is a link, not a file")
        _check_names(path, [info.filename for info in infos], sum(info.file_size for info in infos), size)
        sizes = {info.filename: info.file_size for info in infos}
        _check_json_sizes(path, sizes)
        # ZipFile.read checks each member's CRC.
        return {name: archive.read(name) for name in MEMBERS}


def _tar_members(path: Path, size: int) -> dict[str, bytes]:
    # "r:": uncompressed only, as every writer of .mdlus files writes them.
    with tarfile.open(path, "r:") as archive:
        members = archive.getmembers()
        for member in members:
            if not member.isfile():
                raise ModelFileError(f"{path}: member {member.name!r} is not a regular file")
        _check_names(path, [member.name for member in members], sum(member.size for member in members), size)
        _check_json_sizes(path, {member.name: member.size for member in members})
        by_name = {member.name: member for member in members}
        contents = {}
        for name in MEMBERS:
            data = archive.extractfile(by_name[name]).read()
            if len(data) != by_name[name].size:
                raise ModelFileError(f"{path}: member {name} is truncated ({len(data)} of {by_name[name].size} bytes)")
            contents[name] = data
        return contents


def _check_names(path: Path, names: list[str], unpacked: int, size: int) -> None:
    for name in names:
        if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
            raise ModelFileError(f"{path}: member {name!r} is not a plain file name")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ModelFileError(f"{path}: members {duplicates} appear more than once")
    missing = [name for name in MEMBERS if name not in names]
    if missing:
        raise ModelFileError(f"{path}: not a .mdlus model file: no {', '.join(missing)} (has {_shown(sorted(names))})")
    if unpacked > _EXPANSION_LIMIT * size + _JSON_LIMIT:
        raise ModelFileError(f"{path}: members unpack to {unpacked} bytes, more than {_EXPANSION_LIMIT} times the file's size")


def _check_json_sizes(path: Path, sizes: dict[str, int]) -> None:
    for name in ("args.json", "metadata.json"):
        if sizes[name] > _JSON_LIMIT:
            raise ModelFileError(f"{path}: {name} is {sizes[name]} bytes (at most {_JSON_LIMIT} expected)")


def _json_object(path: Path, name: str, data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ModelFileError(f"{path}: {name} is not valid JSON ({one_line(error)})") from error
    if not isinstance(value, dict):
        raise ModelFileError(f"{path}: {name} holds a JSON {type(value).__name__}, not an object")
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number a model argument may take")


# --------------------------------------------------------------------------------------
# The class and its arguments
# --------------------------------------------------------------------------------------


def _named_class(path: Path, args: dict[str, Any], accept: Collection[type] | None) -> type[torch.nn.Module]:
    """The accepted class that ``args.json`` names; refused names are compared, never imported."""
    extra = sorted(set(args) - _ARGS_KEYS)
    if extra:
        # PhysicsNeMo's nested modules: each would name another class to import.
        raise ModelFileError(f"{path}: args.json has keys {_shown(extra)} besides __name__, __module__ and __args__")
    module, name = args.get("__module__"), args.get("__name__")
    if not isinstance(module, str) or not isinstance(name, str):
        raise ModelFileError(
            f"{path}: args.json's __module__ and __name__ must be strings naming the model class, "
            f"got {_shown(module)} and {_shown(name)}"
        )
    if not isinstance(args.get("__args__"), dict):
        raise ModelFileError(f"{path}: args.json's __args__ must be an object of constructor arguments, "
                             f"got {_shown(args.get('__args__'))}")
    if module.split(".")[0] == "modulus":
        # Modulus 0.9 files name its classes; PhysicsNeMo loads them as its own, and so do we.
        module = "physicsnemo" + module[len("modulus"):]
    named = f"{module}.{name}"
    accepted = {f"{cls.__module__}.{cls.__name__}": cls for cls in accept} if accept is not None else None
    names = tuple(accepted) if accepted is not None else TRAINED_CLASSES
    if named not in names:
        raise UntrustedFileError(
            f"{path}: names the class {_shown(named)}, which is not one this loader accepts "
            f"({', '.join(names)}); nothing from the file was imported"
        )
    return accepted[named] if accepted is not None else _trained_class(named)


def _trained_class(name: str) -> type[torch.nn.Module]:
    """The class of an allow-listed name, imported by our own code."""
    if name.startswith("physicsnemo."):
        # Imported on first use: Transolver's import takes seconds, and most files hold LRSA.
        from physicsnemo.models.flare import FLARE
        from physicsnemo.models.geotransolver import GeoTransolver
        from physicsnemo.models.transolver import Transolver

        classes = (Transolver, FLARE, GeoTransolver)
    else:
        classes = (LRSA, TiedLRSA, LatentMLPLRSA)
    return next(cls for cls in classes if f"{cls.__module__}.{cls.__name__}" == name)


def _constructor_arguments(path: Path, cls: type, args: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """``__args__``, mapped from an older file version the class still reads, as PhysicsNeMo does."""
    arguments = dict(args["__args__"])
    version = metadata.get("mdlus_file_version", cls.__model_checkpoint_version__)
    if version == cls.__model_checkpoint_version__:
        return arguments
    if isinstance(version, str) and version in cls.__supported_model_checkpoint_version__:
        warnings.warn(cls.__supported_model_checkpoint_version__[version], stacklevel=3)
        try:
            return cls._backward_compat_arg_mapper(version, arguments)
        except Exception as error:  # the class's own mapping of the file's values: any refusal is the file's
            raise ModelFileError(f"{path}: {cls.__name__} cannot read args.json of file version {version} "
                                 f"({one_line(error)})") from error
    raise ModelFileError(
        f"{path}: metadata.json's mdlus_file_version {_shown(version)} is not one {cls.__name__} reads "
        f"({cls.__model_checkpoint_version__})"
    )


def _build(path: Path, cls: type, arguments: dict[str, Any], device: torch.device) -> torch.nn.Module:
    try:
        with device:
            return cls(**arguments)
    except Exception as error:  # the constructor runs on the file's values: any refusal is the file's
        raise ModelFileError(f"{path}: {cls.__name__} refuses args.json's arguments ({one_line(error)})") from error


# --------------------------------------------------------------------------------------
# The weights
# --------------------------------------------------------------------------------------


def _read_weights(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    """``model.pt`` as a flat state dict of dense tensors, unpickled with ``weights_only=True``."""
    try:
        with warnings.catch_warnings():
            # torch warns about the sparse and quantized entries refused below, in lines of its own.
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message advises turning the check off: say what was refused instead.
        refused = refused_globals(io.BytesIO(data))
        if refused:
            raise UntrustedFileError(
                f"{path}: model.pt holds objects other than tensors ({', '.join(refused)}); refused without loading them"
            ) from error
        raise ModelFileError(f"{path}: model.pt is damaged or holds objects other than tensors; refused") from error
    except Exception as error:  # the restricted unpickler fails on damaged bytes in many ways (struct.error, IndexError, ...)
        raise ModelFileError(f"{path}: model.pt is not a readable PyTorch state dict ({one_line(error)})") from error
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: model.pt holds a {type(state).__name__}, not a state dict")
    for key, value in state.items():
        if not isinstance(key, str) or type(value) not in (torch.Tensor, torch.nn.Parameter):
            raise ModelFileError(f"{path}: model.pt entry {_shown(key)} is a {type(value).__name__}, not a dense tensor")
        kind = ("a sparse tensor" if value.layout != torch.strided else "a meta tensor (it stores no values)"
                if value.device.type == "meta" else "a quantized tensor" if value.is_quantized else None)
        if kind is not None:
            raise ModelFileError(f"{path}: model.pt entry {_shown(key)} is {kind}, not a dense tensor of numbers")
    # Modulus 0.9 and PhysicsNeMo 1.x stored the device marker; it is no longer a state entry.
    return {key: value for key, value in state.items() if not key.endswith("device_buffer")}


def refused_globals(source: str | os.PathLike | IO[bytes]) -> list[str]:
    """The first names a pickle would import that ``weights_only`` refuses, read without unpickling.

    For refusals that say what a file asked for (torch's own message advises turning the
    check off); empty when the file is too damaged to tell.
    """
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(source))[:5]
    except (RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
        return []


def _stored_bytes(state: dict[str, torch.Tensor]) -> int:
    """The bytes of the distinct storages behind ``state``'s tensors: what model.pt really holds."""
    storages = {}
    for tensor in state.values():
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = max(storages.get(storage.data_ptr(), 0), storage.nbytes())
    return sum(storages.values())


def _check_dtypes(path: Path, module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Floating-point weights come from floating-point entries: a cast from integers, booleans or complex numbers is refused."""
    for name, expected in module.state_dict().items():
        value = state.get(name)
        if value is not None and expected.is_floating_point() and not value.is_floating_point():
            raise ModelFileError(f"{path}: model.pt entry {_shown(name)} holds {value.dtype} values, "
                                 f"where the model's {expected.dtype} weights expect floating-point numbers")


def _load(path: Path, module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``module.load_state_dict(state, strict=True)``, through the module's own hooks for older files."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelFileError(f"{path}: model.pt does not fit {what} ({one_line(error)})") from error


def _shown(value: Any, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters: one line, whatever the file holds."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
