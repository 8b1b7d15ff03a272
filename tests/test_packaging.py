# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""What an installed wheel holds: the package, lrsa-train's Hydra configs, the licence."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_every_config_so_lrsa_train_runs_outside_the_checkout(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("modulus_lrsa-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"modulus_lrsa/conf/{p.relative_to(ROOT / 'conf').as_posix()}" for p in (ROOT / "conf").rglob("*.yaml")}
    assert configs and configs <= names, sorted(configs - names)
    # Every module of the package ships (a new room missed by the package list fails here).
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "modulus_lrsa").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)


def test_lrsa_train_composes_its_config_from_any_folder(tmp_path):
    # --cfg job prints the composed config and exits: no data needed.
    completed = subprocess.run(
        [sys.executable, "-m", "modulus_lrsa.train", "--cfg", "job", "data=airfoil", "model=transolver"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    assert "physicsnemo.models.transolver.Transolver" in completed.stdout
    assert "name: airfoil" in completed.stdout
