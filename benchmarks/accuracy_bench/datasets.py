# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The data a protocol trains on: Darcy grids, OpenFOAM airfoil cases, a held-out view
of a mesh dataset's training cases (airfoils or Ahmed bodies), and OpenFOAM Ahmed bodies (3D). Each makes its files (once)
and names them to lrsa-train.

Every dataset has a role. The generator seed :data:`SELECTION_SEED` makes the *selection*
data: the datasets on which settings were and may be chosen. An airfoil dataset drawn with
any other generator seed is a *confirmation* dataset (other cases, another train/test
split): it only re-measures settings chosen elsewhere, and the held-out tuning view refuses
it. :meth:`AirfoilData.record` is what the results JSON stores about it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from typing import Any

from modulus_lrsa.atomic import atomic_write_text

from . import paths

#: The generator seed of every dataset settings are chosen on.
SELECTION_SEED = 0


def _record(role: str, generator_seed: int, path: str) -> dict[str, Any]:
    return {"role": role, "generator_seed": generator_seed, "path": path}


@dataclass(frozen=True)
class DarcyData:
    """A Darcy dataset made by :func:`modulus_lrsa.data.darcy.generate_darcy` (seed 0)."""

    path: str
    n_train: int
    n_test: int
    solve_resolution: int
    resolution: int
    jobs: int = 1
    kind: str = "darcy"

    @property
    def title(self) -> str:
        return f"Darcy {self.resolution}x{self.resolution}"

    @property
    def size(self) -> str:
        return f"{self.n_train}/{self.n_test} samples"

    def record(self) -> dict[str, Any]:
        """The dataset as each run's JSON records it: role, generator seed, folder."""
        return _record("selection", SELECTION_SEED, self.path)

    def generate(self) -> None:
        from modulus_lrsa.data.darcy import generate_darcy

        generate_darcy(
            paths.ROOT / self.path, n_train=self.n_train, n_test=self.n_test,
            solve_resolution=self.solve_resolution, resolution=self.resolution, seed=0, jobs=self.jobs,
        )

    def overrides(self) -> list[str]:
        return [
            "data=darcy", f"data.path={paths.ROOT / self.path}", "data.view=grid",
            "training=default", f"training.eval_batch_size={min(self.n_test, 50)}",
        ]


def _mesh_overrides(data: AirfoilData | AhmedData) -> list[str]:
    """OpenFOAM case data: its preset, the points drawn per case, whole test cases one per batch."""
    return [
        f"data={data.kind}", f"data.path={paths.ROOT / data.path}",
        f"data.volume_points={data.volume_points}", f"data.surface_points={data.surface_points}",
        "training=airfoil", "training.eval_batch_size=1",
    ]


@dataclass(frozen=True)
class AirfoilData:
    """OpenFOAM airfoil cases made by ``lrsa-data airfoil --seed <seed>``: surface and volume fields.

    Training draws ``volume_points`` cells and ``surface_points`` wall faces per case and
    epoch; evaluation uses every cell and wall face of the test cases, one case per batch.
    The generator seed draws the cases' flow parameters and the test split; any seed but
    :data:`SELECTION_SEED` makes a confirmation dataset (see the module docstring).
    """

    path: str
    n_cases: int
    mesh: str
    volume_points: int
    surface_points: int
    test_fraction: float = 0.2
    jobs: int = 2
    kind: str = "airfoil"
    seed: int = SELECTION_SEED

    @property
    def role(self) -> str:
        """``selection`` (settings may be chosen on it) or ``confirmation`` (never)."""
        return "selection" if self.seed == SELECTION_SEED else "confirmation"

    @property
    def title(self) -> str:
        title = f"airfoil RANS ({self.mesh} mesh)"
        return title if self.role == "selection" else f"{title}, generator seed {self.seed} ({self.role} dataset)"

    def with_seed(self, seed: int) -> AirfoilData:
        """This selection dataset drawn with generator seed ``seed`` instead, in its own folder ``<path>_seed<seed>``."""
        if self.role != "selection":
            raise ValueError(f"{self.path} is already drawn with generator seed {self.seed}; derive from the seed-0 dataset")
        if seed < 0:
            raise ValueError(f"dataset generator seed: expected an integer >= 0, got {seed}")
        return self if seed == SELECTION_SEED else replace(self, seed=seed, path=f"{self.path}_seed{seed}")

    def record(self) -> dict[str, Any]:
        """The dataset as each run's JSON records it: role, generator seed, folder."""
        return _record(self.role, self.seed, self.path)

    @property
    def size(self) -> str:
        return f"{self.n_cases} cases ({self.test_fraction:.0%} test)"

    def generate(self) -> None:
        from modulus_lrsa.data.airfoil import generate_airfoil_dataset

        generate_airfoil_dataset(
            paths.ROOT / self.path, n_cases=self.n_cases, resolution=self.mesh, seed=self.seed,
            test_fraction=self.test_fraction, jobs=self.jobs,
        )

    def overrides(self) -> list[str]:
        return _mesh_overrides(self)


@dataclass(frozen=True)
class AhmedData:
    """3D Ahmed bodies over a ground made by ``lrsa-data ahmed`` (seed 0): surface and volume fields.

    Training draws ``volume_points`` cells and ``surface_points`` body faces per case and
    epoch; evaluation uses every cell and body face of the test cases, one case per batch,
    and integrates Cd, Cl and side force from the predicted surface fields.
    """

    path: str
    n_cases: int
    preset: str
    volume_points: int
    surface_points: int
    test_fraction: float = 0.2
    jobs: int = 2
    kind: str = "ahmed"

    @property
    def title(self) -> str:
        return f"Ahmed bodies, RANS ({self.preset} mesh)"

    @property
    def size(self) -> str:
        return f"{self.n_cases} cases ({self.test_fraction:.0%} test)"

    def record(self) -> dict[str, Any]:
        """The dataset as each run's JSON records it: role, generator seed, folder."""
        return _record("selection", SELECTION_SEED, self.path)

    def generate(self) -> None:
        from modulus_lrsa.data.ahmed import generate_ahmed_dataset

        generate_ahmed_dataset(
            paths.ROOT / self.path, n_cases=self.n_cases, preset=self.preset, seed=0,
            test_fraction=self.test_fraction, jobs=self.jobs,
        )

    def overrides(self) -> list[str]:
        return _mesh_overrides(self)


@dataclass(frozen=True)
class HeldOutData:
    """Tuning data that never touches the test cases: ``n_validation`` of the source's
    training cases (seeded draw) become the validation split, the rest stay for training,
    and the test cases are left out. ``path`` holds only a manifest (and the cache) that
    points at the source's case folders.

    Its runs choose settings, so the source must be a selection dataset: a confirmation
    dataset is refused here, before anything is drawn or trained.
    """

    source: AirfoilData | AhmedData
    path: str
    n_validation: int
    seed: int = 0
    #: The source's kind; a field (not a property) so that stored results keep comparing equal.
    kind: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", self.source.kind)  # frozen: set once, here
        source = self.source.record()
        if source["role"] != "selection":
            raise ValueError(
                f"held-out tuning data {self.path}: its source {self.source.path} is a {source['role']} dataset "
                f"(generator seed {source['generator_seed']}); settings are chosen on generator seed {SELECTION_SEED} only"
            )

    def record(self) -> dict[str, Any]:
        """The dataset as each run's JSON records it: role, the source's generator seed, folder."""
        return {**_record("selection", self.source.record()["generator_seed"], self.path), "held_out_from": self.source.path}

    @property
    def title(self) -> str:
        return f"{self.source.title}, held-out validation"

    @property
    def size(self) -> str:
        return f"{self.n_validation} of the {self.source.path} training cases held out (test cases unused)"

    def generate(self) -> None:
        import random

        self.source.generate()
        manifest = json.loads((paths.ROOT / self.source.path / "manifest.json").read_text())
        train = [case for case in manifest["cases"] if case.get("split") == "train" and case.get("status") == "ok"]
        if len(train) <= self.n_validation:
            raise SystemExit(f"{self.source.path}: {len(train)} training cases, cannot hold out {self.n_validation}")
        held_out = {case["id"] for case in random.Random(self.seed).sample(train, self.n_validation)}
        source = os.path.relpath(paths.ROOT / self.source.path, paths.ROOT / self.path)
        cases = [
            {**case, "split": "val" if case["id"] in held_out else "train", "path": f"{source}/{case['path']}"}
            for case in train
        ]
        view = {**manifest, "cases": cases, "held_out_from": self.source.path, "summary": None}
        target = paths.ROOT / self.path / "manifest.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or json.loads(target.read_text()) != view:
            atomic_write_text(target, json.dumps(view, indent=2) + "\n")

    def overrides(self) -> list[str]:
        source = [o for o in self.source.overrides() if not o.startswith("data.path=")]
        return [*source, f"data.path={paths.ROOT / self.path}", "data.val_split=val"]
