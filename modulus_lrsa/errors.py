# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The package's exceptions, at the bottom of the house so that every layer can raise them.

Mesh data: every error names the offending file (and field, case or argument) and says
what was expected, so that a failed preprocessing run of hundreds of cases points
straight at the broken one. All derive from :class:`MeshDataError`, itself a
``ValueError``, so callers can catch one type;
:func:`modulus_lrsa.datapipes.cache.build_cache` with ``on_error="skip"`` catches exactly
this type and never anything else.

Launches: :class:`LaunchError` (and :class:`ConfigError` for a config key) carry a message
that says all a user needs; ``lrsa-train`` prints them without a traceback.

Model files: :class:`ModelFileError` for a ``.mdlus`` that cannot be loaded, and its
:class:`UntrustedFileError` for one refused before anything it names could run
(:mod:`modulus_lrsa.models.trusted`).
"""

from __future__ import annotations

from pathlib import Path


class MeshDataError(ValueError):
    """A mesh file or case cannot be used as training data."""


class CorruptFileError(MeshDataError):
    """A file is missing, truncated, of an unknown type or rejected by its VTK reader."""


class MissingFieldError(MeshDataError):
    """A requested field (point or cell array) is not in the file."""


class NonFiniteFieldError(MeshDataError):
    """A field or coordinate array holds NaN or Inf values."""


class EmptyMeshError(MeshDataError):
    """A mesh or surface has no points or no cells."""


class CaseConfigError(MeshDataError):
    """A case folder, case.json or manifest.json does not provide what the config asks for."""


class MissingCaseFileError(CaseConfigError):
    """A case folder has no file for one part of a case (``volume``, ``surface``, ``geometry``).

    ``pattern`` is the configured glob, or None when none was set and the default
    (``case.json``'s ``files``, else foamToVTK's ``VTK/*.vtm``) found nothing; callers
    that do not take globs (``lrsa-predict`` on a case folder) reword the message from these.
    """

    def __init__(self, message: str, folder: Path, part: str, pattern: str | None) -> None:
        super().__init__(message)
        self.folder, self.part, self.pattern = folder, part, pattern

    def __reduce__(self):
        # Preprocessing workers send it to the parent by pickle, which would call __init__
        # with the message alone.
        return type(self), (self.args[0], self.folder, self.part, self.pattern)


class SurfaceAsVolumeError(CaseConfigError):
    """The file given as a case's volume is a surface (a wall patch where the mesh was meant).

    ``cells`` is the dimension of its cells, lower than ``needed``, that of a volume's cells
    in such a case; callers that do not take globs (``lrsa-predict`` on a file) reword the
    message from ``path`` and these.
    """

    def __init__(self, message: str, path: Path, cells: int, needed: int) -> None:
        super().__init__(message)
        self.path, self.cells, self.needed = path, cells, needed

    def __reduce__(self):
        return type(self), (self.args[0], self.path, self.cells, self.needed)


class LaunchError(Exception):
    """A launch that cannot go ahead; the message says why and what to do instead.

    ``lrsa-train`` prints these as one message, without a traceback.
    """


class ConfigError(LaunchError, ValueError):
    """The configuration cannot be used; the message names every offending key."""


class ModelFileError(LaunchError, ValueError):
    """A ``.mdlus`` model file cannot be loaded: missing, damaged, malformed, or its weights
    do not fit the model it describes. The message names the file and says why, in one line.
    """


class UntrustedFileError(ModelFileError):
    """A model file was refused before anything it names was imported or built.

    Its ``args.json`` names a class outside the allow-list, or its weights hold objects
    other than tensors (a pickle that would run code). Nothing from the file has run.
    """


def one_line(error: BaseException, limit: int = 200) -> str:
    """An exception's message on one line, cut to ``limit`` characters (its type's name if empty).

    For refusals that quote what a library raised: a message spanning lines or pages
    would break the one-line rule.
    """
    return " ".join(str(error).split())[:limit] or type(error).__name__
