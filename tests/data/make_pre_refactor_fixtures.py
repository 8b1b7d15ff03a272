# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Write the stored cache and trainer checkpoint that tests/test_stored_artifacts.py loads.

They were written with the code of commit d59a3a1, before the package was re-layered (issue
14), so the tests prove that resumable checkpoints of that time still load and that caches of
that time (format 1, signed wall distances) are rebuilt with their reason. Rerun
only to refresh them on purpose, and say so in the commit:

    .venv/bin/python tests/data/make_pre_refactor_fixtures.py

* ``cache_v1/``: build_cache of two synthetic cylinder cases (tests/synthetic_cfd_cases.py),
  volume U[0,1], p and nut, wall p, conditions U and aoa_deg.
* ``train_checkpoint_v1/``: lrsa-train's checkpoints/ after one epoch of a tiny LRSA on a
  tiny Darcy set (onecycle schedule, training.epochs=1), with the Darcy settings in
  ``run.json`` so a test regenerates the same data and resumes the run.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CACHE_FOLDER = HERE / "cache_v1"
CHECKPOINT_FOLDER = HERE / "train_checkpoint_v1"
DARCY = dict(n_train=4, n_test=2, solve_resolution=9, resolution=9, seed=11)
TRAIN_OVERRIDES = [
    "model.n_layers=1",
    "model.n_hidden=8",
    "model.n_head=2",
    "model.n_latents=2",
    "model.n_frequencies=2",
    "model.mlp_ratio=1",
    "training.epochs=1",
    "training.batch_size=2",
    "training.eval_batch_size=2",
    "training.num_workers=0",
    "logging=console",
    "logging.progress_bar=false",
]


def write_cache(work: Path) -> None:
    from modulus_lrsa.datapipes import MeshCacheConfig, build_cache
    from synthetic_cfd_cases import cylinder_dataset

    root = cylinder_dataset(work / "cylinders", n_cases=3, n_test=1)
    config = MeshCacheConfig(volume_fields=["U[0,1]", "p", "nut"], surface_fields=["p"], conditions=["U", "aoa_deg"])
    shutil.rmtree(CACHE_FOLDER, ignore_errors=True)
    build_cache(root, CACHE_FOLDER, config, num_workers=0)


def write_checkpoint(work: Path) -> None:
    from hydra import compose, initialize_config_dir

    from modulus_lrsa.data.darcy import generate_darcy
    from modulus_lrsa.training.train import CONFIG_DIR, run_training

    data = work / "darcy"
    generate_darcy(data, **DARCY)
    overrides = [f"data.path={data}", f"output_dir={work / 'run'}", *TRAIN_OVERRIDES]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        run_training(compose(config_name="config", overrides=overrides))
    shutil.rmtree(CHECKPOINT_FOLDER, ignore_errors=True)
    shutil.copytree(work / "run" / "checkpoints", CHECKPOINT_FOLDER / "checkpoints")
    (CHECKPOINT_FOLDER / "run.json").write_text(
        json.dumps({"darcy": DARCY, "overrides": TRAIN_OVERRIDES, "data_path": str(data)}, indent=2) + "\n"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        write_cache(Path(work))
        write_checkpoint(Path(work))


if __name__ == "__main__":
    main()
