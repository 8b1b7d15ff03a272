# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Write the stored model descriptors that tests/test_descriptor.py loads.

They were written with the code of commit 62b5c39, the last one that built the descriptor
as a plain dict (before :class:`modulus_lrsa.descriptor.ModelDescriptor`), so the tests prove
that ``.data.json`` files of that time still load and write back byte for byte. The code
of that commit was unpacked with ``git archive 62b5c39 modulus_lrsa conf tests/synthetic_cfd_cases.py``
into a folder put first on ``PYTHONPATH``; rerun only to refresh them on purpose, and say
so in the commit:

    PYTHONPATH=<unpacked commit> .venv/bin/python tests/data/make_descriptor_fixtures.py

* ``descriptor_v1/darcy.data.json``: a tiny Darcy set, grid view (conf/data/darcy.yaml);
* ``descriptor_v1/mesh.data.json``: three synthetic cylinder cases with the airfoil
  settings (conf/data/airfoil.yaml: volume and wall fields, wall distances, conditions U
  and aoa_deg, forces);

each with the ``epoch`` and ``metrics`` keys lrsa-train adds at export.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "descriptor_v1"


def main() -> None:
    from hydra import compose, initialize_config_dir

    sys.path.append(str(HERE.parent))  # after the unpacked commit: its synthetic_cfd_cases wins
    from synthetic_cfd_cases import cylinder_dataset

    from modulus_lrsa.data.darcy import generate_darcy
    from modulus_lrsa.surrogate import write_descriptor
    from modulus_lrsa.training.data import build_training_data
    from modulus_lrsa.training.train import CONFIG_DIR

    FOLDER.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        generate_darcy(root / "darcy", n_train=4, n_test=2, solve_resolution=9, resolution=9, seed=11)
        cases = cylinder_dataset(root / "cylinders", n_cases=3, n_test=1)
        runs = {
            "darcy": [f"data.path={root / 'darcy'}"],
            "mesh": ["data=airfoil", f"data.path={cases}", f"data.cache_dir={root / 'cache'}", "data.preprocess_workers=0"],
        }
        for name, overrides in runs.items():
            with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
                config = compose(config_name="config", overrides=overrides)
            data = build_training_data(config.data, seed=0)
            metrics = {"val_loss": 0.25, "val_rel_l2/mean": 0.5, "val_rel_l2/p": None}
            write_descriptor({**data.descriptor, "epoch": 3, "metrics": metrics}, FOLDER / f"{name}.mdlus")
            print(FOLDER / f"{name}.data.json")


if __name__ == "__main__":
    main()
