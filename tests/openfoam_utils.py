# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
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
import shutil
from pathlib import Path

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


# Where Debian's openfoam-examples puts the tutorials (e.g. incompressible/simpleFoam/airFoil2D).
TUTORIAL_ROOTS = [
    Path("/usr/share/doc/openfoam-examples/examples"),
    Path("/usr/share/openfoam/tutorials"),
]


def tutorial_folder(relative: str) -> Path:
    """An installed OpenFOAM tutorial, e.g. ``incompressible/icoFoam/cavity/cavity``; skip (fail under CI) if absent."""
    tutorial = next((root / relative for root in TUTORIAL_ROOTS if (root / relative).is_dir()), None)
    if tutorial is None:
        message = f"the OpenFOAM tutorial {relative} (Debian package openfoam-examples) is not installed"
        if running_in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return tutorial


def copy_airfoil2d_tutorial(destination_root: Path) -> Path:
    """Copy the airFoil2D tutorial to ``destination_root/airFoil2D``; skip (fail under CI) if absent."""
    case = destination_root / "airFoil2D"
    shutil.copytree(tutorial_folder("incompressible/simpleFoam/airFoil2D"), case)
    return case
