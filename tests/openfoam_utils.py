"""Test helpers for suites that run OpenFOAM.

``require_openfoam`` skips a test when OpenFOAM is not installed locally, but fails it
under CI (``CI=true``), where ``make openfoam`` must have installed it: a CI run must
never pass by skipping the CFD tests. Use it as a fixture::

    from openfoam_utils import require_openfoam  # noqa: F401  (pytest fixture)

    @pytest.mark.openfoam
    def test_something(require_openfoam):
        openfoam = require_openfoam  # a modulus_lrsa.data.airfoil.openfoam.OpenFOAM
"""

from __future__ import annotations

import os

import pytest

from modulus_lrsa.data.airfoil.openfoam import OpenFOAMNotFoundError, find_openfoam


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def require_openfoam():
    """The OpenFOAM installation; skip without one (fail under CI)."""
    try:
        return find_openfoam()
    except OpenFOAMNotFoundError as err:
        if running_in_ci():
            pytest.fail(f"OpenFOAM is required under CI=true: {err}")
        pytest.skip(f"OpenFOAM not installed: {err}")
