"""Exceptions raised when CFD case data cannot be used.

Every error names the offending file (and field, case or argument) and says what was
expected, so that a failed preprocessing run of hundreds of cases points straight at
the broken one. All derive from :class:`MeshDataError`, itself a ``ValueError``, so
callers can catch one type; :func:`modulus_lrsa.datapipes.cache.build_cache` with
``on_error="skip"`` catches exactly this type and never anything else.
"""

from __future__ import annotations


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
