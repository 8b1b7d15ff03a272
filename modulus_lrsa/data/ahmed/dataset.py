# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Generating a family of Ahmed-body cases: sampling, parallel runs, resume, manifest.

The layout and the guarantees are the airfoil generator's
(:mod:`modulus_lrsa.data.airfoil.dataset`, whose helpers this module uses)::

    <out>/manifest.json             dataset settings and one entry per case
    <out>/cases/<id>/case.json      params, results, files of one case
    <out>/cases/<id>/VTK/...        foamToVTK output of the result iteration
    <out>/cases/<id>/body.stl       the body the case was meshed from
    <out>/.work/                    cases being built (moved into cases/ when complete)

Each case is built in a folder of its own under ``.work`` that its builder holds an
exclusive lock on; only the generator, which holds the dataset lock
(:func:`~modulus_lrsa.data.lock.hold_dataset_lock`), moves finished cases into
``cases/`` and rewrites the manifest after each one. A rerun keeps finished cases, runs
the missing and the interrupted ones, and refuses a folder made with other settings.
Workers and solvers die with the generator, even when it is killed with SIGKILL.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import multiprocessing
import os
import shutil
import signal
import uuid
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modulus_lrsa import __version__
from modulus_lrsa.atomic import atomic_write_json
from modulus_lrsa.data.airfoil.dataset import (
    _OWNER_FILE,
    _OWNER_WAIT_SECONDS,
    _WORK_DIR,
    MANIFEST_FILE,
    MANIFEST_STATUSES,
    DatasetError,
    _clear_work_dir,
    _init_worker,
    _publish_case,
    _read_case_record,
    _sigterm_as_interrupt,
    _spec_differences,
    assign_splits,
    case_id,
)
from modulus_lrsa.data.airfoil.openfoam import OpenFOAM
from modulus_lrsa.data.lock import LOCK_FILE, DatasetLockedError, hold_dataset_lock

from .case import NU_AIR, PRESETS, DomainLayout, FlowCase, Preset
from .geometry import AhmedBody, GeometryError
from .run import FORMAT_VERSION, INTERRUPTED, find_ahmed_openfoam, run_case

logger = logging.getLogger(__name__)

DATASET_KIND = "modulus_lrsa.ahmed"
#: Sampled parameters: AhmedBody fields and the free-stream speed "U", with the digits kept.
PARAMETERS = {"length": 4, "width": 4, "height": 4, "clearance": 4, "slant_deg": 2, "front_radius": 4, "U": 2}


@dataclass(frozen=True)
class ParameterRanges:
    """Uniform sampling ranges (min, max); lengths in m, the angle in degrees, the speed in m/s.

    The defaults span the variations of the Ahmed-body family PhysicsNeMo's AeroGraphNet
    example trains on (length, width, height, ground clearance, slant angle, front
    radius, inlet speed around Ahmed's 1044 x 389 x 288 mm body: see
    ``docs/data_ahmed.md``), with the slant over Ahmed's (1984) 0-40 degrees.
    """

    length: tuple[float, float] = (0.80, 1.30)
    width: tuple[float, float] = (0.28, 0.48)
    height: tuple[float, float] = (0.24, 0.34)
    clearance: tuple[float, float] = (0.03, 0.085)
    slant_deg: tuple[float, float] = (0.0, 40.0)
    front_radius: tuple[float, float] = (0.09, 0.115)
    U: tuple[float, float] = (20.0, 50.0)

    def __post_init__(self) -> None:
        for name in PARAMETERS:
            value = getattr(self, name)
            try:
                lo, hi = (float(v) for v in value)
            except (TypeError, ValueError):
                raise DatasetError(f"range {name} must be a pair (min, max), got {value!r}") from None
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise DatasetError(f"range {name} must be finite, got ({lo}, {hi})")
            if lo > hi:
                raise DatasetError(f"range {name}: min {lo} is greater than max {hi}")
            if lo < 0 or (hi <= 0 and name != "slant_deg"):
                raise DatasetError(f"range {name} = ({lo}, {hi}) must be positive")
            object.__setattr__(self, name, (lo, hi))

    def to_dict(self) -> dict:
        return {name: list(getattr(self, name)) for name in PARAMETERS}


def sample_flow_case(seed: int, index: int, ranges: ParameterRanges, nu: float = NU_AIR,
                     moving_ground: bool = False) -> FlowCase:
    """Case ``index``: independent uniform draws that depend on (seed, index) only, not on the case count.

    Raises
    ------
    DatasetError
        The draw is no valid body (the ranges allow a radius, slant or length that do not fit together).
    """
    rng = np.random.default_rng([seed, index])
    draw = {name: round(float(rng.uniform(*getattr(ranges, name))), digits) for name, digits in PARAMETERS.items()}
    speed = draw.pop("U")
    try:
        return FlowCase(AhmedBody(**draw), speed=speed, nu=nu, moving_ground=moving_ground)
    except (GeometryError, ValueError) as err:
        raise DatasetError(f"case {index} of seed {seed}: {err}; narrow the sampling ranges") from None


@dataclass(frozen=True)
class _Job:
    out: str
    case_id: str
    params: dict
    preset: Preset
    layout: DomainLayout
    openfoam: OpenFOAM


def _build_case(job: _Job) -> tuple[dict, str | None]:
    """Build one case in a claimed folder under .work; its record and that folder (None if interrupted)."""
    staging = Path(job.out) / _WORK_DIR / f"{job.case_id}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        with open(staging / _OWNER_FILE, "w") as owner:
            fcntl.flock(owner, fcntl.LOCK_EX)
            owner.write(f"{os.getpid()}\n")
            owner.flush()
            record = run_case(staging / job.case_id, FlowCase.from_dict(job.params), job.preset, job.layout, job.openfoam)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if record["status"] == INTERRUPTED:
        shutil.rmtree(staging, ignore_errors=True)
        return record, None
    return record, str(staging)


def _build_case_in_worker(job: _Job) -> tuple[dict, str | None]:
    """_build_case in a pool worker: an interrupt ends the worker (see the airfoil generator)."""
    try:
        return _build_case(job)
    except KeyboardInterrupt:
        os._exit(128 + signal.SIGTERM)


#: Results copied into each manifest entry.
_MANIFEST_RESULTS = ("Cd", "Cl", "Cs", "CmYaw", "Cd_pressure", "Cd_viscous", "n_cells", "iterations", "seconds")


def _manifest(spec: dict, ids: list[str], params: list[dict], records: dict[str, dict]) -> dict:
    statuses = [records[i]["status"] if i in records else "pending" for i in ids]
    splits = assign_splits(statuses, spec["seed"], spec["test_fraction"])
    cases = []
    for index, (cid, p, status, split) in enumerate(zip(ids, params, statuses, splits)):
        record = records.get(cid, {})
        results = record.get("results", {})
        cases.append({
            "id": cid, "index": index, "status": status,
            "reason": record.get("reason") if status != "pending" else "not run yet",
            "split": split, "path": f"cases/{cid}", "params": p,
            **{key: results.get(key) for key in _MANIFEST_RESULTS},
        })
    summary = {status: statuses.count(status) for status in MANIFEST_STATUSES}
    summary.update(train=splits.count("train"), test=splits.count("test"))
    return {"format_version": FORMAT_VERSION, "kind": DATASET_KIND, "generator": f"modulus_lrsa {__version__}",
            "dataset": spec, "summary": summary, "cases": cases}


def generate_ahmed_dataset(
    out: str | os.PathLike,
    n_cases: int = 8,
    *,
    seed: int = 0,
    preset: str = "coarse",
    test_fraction: float = 0.2,
    ranges: ParameterRanges | None = None,
    cases: Sequence[FlowCase] | None = None,
    jobs: int = 1,
    retry_failed: bool = False,
    moving_ground: bool = False,
    layout: DomainLayout | None = None,
    nu: float = NU_AIR,
    openfoam: OpenFOAM | None = None,
) -> dict:
    """Run (or resume) a family of Ahmed-body cases and return its manifest.

    Parameters
    ----------
    out : path
        Output folder: new, empty, or a dataset made with the same settings (finished
        cases are kept, missing and interrupted ones run).
    n_cases : int
        Number of sampled cases; ignored when ``cases`` is given.
    seed : int
        Seed of the sampling and of the train/test split.
    preset : {"coarse", "medium"}
        Mesh and iteration preset, see :data:`~modulus_lrsa.data.ahmed.case.PRESETS`.
    test_fraction : float
        Share of the cases drawn for the test split, in [0, 1).
    ranges : ParameterRanges, optional
        Sampling ranges (defaults documented on :class:`ParameterRanges`).
    cases : sequence of FlowCase, optional
        Explicit cases instead of sampled ones.
    jobs : int
        Cases run at once (each one serial OpenFOAM run).
    retry_failed : bool
        Run cases recorded as failed or unconverged again.
    moving_ground : bool
        Sampled cases get a ground moving with the free stream (default: fixed ground).
    layout : DomainLayout, optional
        Size of the box around the body.
    nu : float
        Kinematic viscosity of sampled cases (m^2/s).
    openfoam : OpenFOAM, optional
        Installation to use; found on PATH when omitted.

    Raises
    ------
    DatasetError
        Bad options, a folder holding something else or a dataset made with other
        settings (nothing is changed), a folder another generator is writing, a worker
        that died.
    OpenFOAMNotFoundError
        OpenFOAM, or its snappyHexMesh, is not installed.
    """
    if preset not in PRESETS:
        raise DatasetError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not 0.0 <= test_fraction < 1.0:
        raise DatasetError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    if jobs < 1:
        raise DatasetError(f"jobs must be >= 1, got {jobs}")
    layout = layout or DomainLayout()
    settings = PRESETS[preset]
    if cases is not None:
        if ranges is not None:
            raise DatasetError("give either explicit cases or sampling ranges, not both")
        params = [flow.to_dict() for flow in cases]
        if not params:
            raise DatasetError("the list of explicit cases is empty")
    else:
        if n_cases < 1:
            raise DatasetError(f"n_cases must be >= 1, got {n_cases}")
        ranges = ranges or ParameterRanges()
        params = [sample_flow_case(seed, i, ranges, nu, moving_ground).to_dict() for i in range(n_cases)]
    spec = {"seed": seed, "n_cases": len(params), "test_fraction": test_fraction, "preset": settings.to_dict(),
            "layout": layout.to_dict(), "nu": nu, "moving_ground": moving_ground}
    if cases is not None:
        spec["explicit_cases"] = params
    else:
        spec["ranges"] = ranges.to_dict()
    openfoam = openfoam or find_ahmed_openfoam()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with hold_dataset_lock(out, "lrsa-data ahmed"):
            return _generate_locked(out, spec, params, settings, layout, jobs, retry_failed, openfoam)
    except DatasetLockedError as err:
        raise DatasetError(str(err)) from None


def _check_folder(out: Path, spec: dict) -> None:
    manifest_path = out / MANIFEST_FILE
    if manifest_path.is_file():
        try:
            existing = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise DatasetError(f"{manifest_path} is not readable JSON ({err})") from None
        if existing.get("kind") != DATASET_KIND:
            raise DatasetError(f"{manifest_path} is not an Ahmed-body dataset manifest (kind={existing.get('kind')!r})")
        diffs = _spec_differences(existing.get("dataset", {}), spec)
        if diffs:
            raise DatasetError(
                f"{out} holds an Ahmed-body dataset made with other settings; nothing was changed. Use another "
                "output folder, or the original settings to resume it. Differences: " + "; ".join(diffs)
            )
    else:
        foreign = sorted(p.name for p in out.iterdir() if p.name not in (LOCK_FILE, _WORK_DIR))
        if foreign:
            raise DatasetError(f"{out} is not empty and has no {MANIFEST_FILE} (found {', '.join(foreign[:5])}); "
                               "refusing to write a dataset into it")


def _generate_locked(out: Path, spec: dict, params: list[dict], preset: Preset, layout: DomainLayout, jobs: int,
                     retry_failed: bool, openfoam: OpenFOAM) -> dict:
    _check_folder(out, spec)
    manifest_path = out / MANIFEST_FILE
    _clear_work_dir(out / _WORK_DIR, _OWNER_WAIT_SECONDS)
    (out / _WORK_DIR).mkdir(exist_ok=True)
    (out / "cases").mkdir(exist_ok=True)
    ids = [case_id(i, len(params)) for i in range(len(params))]
    records: dict[str, dict] = {}
    for cid in ids:
        record = _read_case_record(out / "cases" / cid)
        if record is not None and not (retry_failed and record["status"] != "ok"):
            records[cid] = record
    todo = [i for i, cid in enumerate(ids) if cid not in records]
    atomic_write_json(manifest_path, _manifest(spec, ids, params, records), allow_nan=False)
    logger.info("%s: %d of %d cases already finished, %d to run with %d job(s)", out, len(records), len(ids), len(todo), jobs)
    jobs_list = [_Job(str(out), ids[i], params[i], preset, layout, openfoam) for i in todo]
    out_of_space: list[dict] = []

    def finished(built: tuple[dict, str | None]) -> None:
        record, staging = built
        if staging is not None:
            _publish_case(out, record["id"], Path(staging))
        records[record["id"]] = record
        atomic_write_json(manifest_path, _manifest(spec, ids, params, records), allow_nan=False)
        res = record["results"]
        detail = (f"Cd={res['Cd']:.4f} Cl={res['Cl']:.4f} Cs={res['Cs']:.4f}, {res['n_cells']} cells"
                  if record["status"] in ("ok", "unconverged") else record["reason"])
        logger.info("[%d/%d] %s %s: %s, %.1f s", len(records), len(ids), record["id"], record["status"], detail,
                    res.get("seconds", 0.0))
        if record.get("interruption") == "no_space" and not out_of_space:
            out_of_space.append(record)
            logger.warning("%s: %s found no space left; no further case is started. Free space and run the same "
                           "command again to run the rest", out, record["id"])

    def stopped(case_ids: list[str], why: str) -> None:
        for cid in case_ids:
            records[cid] = {"id": cid, "status": INTERRUPTED, "results": {},
                            "reason": f"{why} while this case ran; it runs again on the next run"}
        try:
            atomic_write_json(manifest_path, _manifest(spec, ids, params, records), allow_nan=False)
        except OSError as err:
            logger.warning("%s: could not record the interrupted cases in %s (%s)", out, manifest_path, err)

    with _sigterm_as_interrupt():
        if jobs == 1 or len(jobs_list) <= 1:
            for job in jobs_list:
                if out_of_space:
                    break
                try:
                    built = _build_case(job)
                except KeyboardInterrupt:
                    stopped([job.case_id], "the generator was stopped")
                    raise
                finished(built)
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(jobs, len(jobs_list)), mp_context=context,
                                     initializer=_init_worker, initargs=(os.getpid(),)) as pool:
                futures = {pool.submit(_build_case_in_worker, job): job.case_id for job in jobs_list}
                pending = set(futures)
                try:
                    while pending:
                        completed, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in completed:
                            if not future.cancelled():
                                finished(future.result())
                        if out_of_space:
                            for future in pending:
                                future.cancel()
                except BaseException as error:
                    running = [futures[future] for future in pending if future.running()]
                    for future in pending:
                        future.cancel()
                    for worker in multiprocessing.active_children():
                        worker.terminate()
                    if isinstance(error, BrokenProcessPool):
                        raise DatasetError(
                            f"{out}: a worker process died before finishing its case (killed by a signal, e.g. by the "
                            "out-of-memory killer); finished cases are kept, and the others run on the next run: run "
                            "the same command again (with fewer --jobs if memory is short)"
                        ) from None
                    if isinstance(error, KeyboardInterrupt):
                        stopped(running, "the generator was stopped")
                    raise
    _clear_work_dir(out / _WORK_DIR, _OWNER_WAIT_SECONDS)
    (out / _WORK_DIR).rmdir()
    manifest = _manifest(spec, ids, params, records)
    atomic_write_json(manifest_path, manifest, allow_nan=False)
    return manifest
