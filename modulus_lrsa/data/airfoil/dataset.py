# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Generating a dataset of airfoil cases: sampling, parallel runs, resume, manifest.

Layout of the output folder::

    <out>/manifest.json             dataset settings and one entry per case
    <out>/cases/<id>/case.json      params, results, files of one case
    <out>/cases/<id>/VTK/...        foamToVTK output of the result iteration
    <out>/.work/                    cases being built (moved into cases/ when complete)

A case is built in a folder of its own under ``.work``, claimed by the process building
it (an exclusive lock on its ``owner.lock``). Only the generator process, which holds
the dataset lock (``.lock``, see :mod:`modulus_lrsa.data.lock`: readers ask
:func:`~modulus_lrsa.data.lock.dataset_writer` whether a generator is writing the folder,
and which), moves finished cases into ``cases/`` (with ``os.replace``) and rewrites the
manifest after each, so ``cases/`` never holds half-finished cases, the manifest never
lists a case that is not there, and an interrupted run resumes where it stopped. Workers
die with the generator (see :func:`_init_worker`); should one outlive it anyway, a
relaunch waits for its claim instead of deleting the folder under it, and nothing it
builds is ever moved into ``cases/``.

A case its environment stopped (no space left, a kill from outside, the generator
stopped while it ran: see :func:`~modulus_lrsa.data.airfoil.run.environment_cause`) is
not moved into ``cases/``: the manifest lists it as ``interrupted`` with the reason, and
the next run runs it again, without ``retry_failed``. Once a case found no space left,
no further case is started.
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
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from modulus_lrsa import __version__
from modulus_lrsa.atomic import atomic_write_json
from modulus_lrsa.data.lock import LOCK_FILE, DatasetLockedError, hold_dataset_lock

from .case import NU_AIR, FlowCase, SolverControls
from .mesh import RESOLUTIONS, DomainLayout, MeshResolution
from .naca import NacaSection
from .openfoam import OpenFOAM, find_openfoam, set_parent_death_signal
from .run import CASE_FILE, FORMAT_VERSION, INTERRUPTED, run_case

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
DATASET_KIND = "modulus_lrsa.airfoil"
_WORK_DIR = ".work"
#: Lock file (holding the builder's pid) inside each case folder under .work.
_OWNER_FILE = "owner.lock"
#: How long a relaunch waits for a process still building a case under .work; workers
#: of a killed generator release theirs within a second as they die with it.
_OWNER_WAIT_SECONDS = 30.0
#: Statuses a finished case can have; in the manifest, "interrupted" marks cases its
#: environment stopped and "pending" cases not run yet: the next run runs both.
FINISHED_STATUSES = ("ok", "unconverged", "failed")
MANIFEST_STATUSES = (*FINISHED_STATUSES, INTERRUPTED, "pending")


class DatasetError(ValueError):
    """The output folder or the requested options cannot be used."""


#: Allowed (min, max) of each sampling range: what NacaSection and FlowCase accept.
RANGE_LIMITS = {
    "camber": (0.0, 0.095),
    "camber_position": (0.05, 0.95),
    "thickness": (0.01, 0.4),
    "aoa_deg": (-30.0, 30.0),
    "speed": (1e-9, math.inf),
}


@dataclass(frozen=True)
class ParameterRanges:
    """Uniform sampling ranges (min, max) of the case parameters.

    Parameters
    ----------
    camber : (float, float)
        NACA maximum camber m, fraction of chord.
    camber_position : (float, float)
        NACA position of maximum camber p, fraction of chord.
    thickness : (float, float)
        NACA maximum thickness t, fraction of chord.
    aoa_deg : (float, float)
        Angle of attack in degrees.
    speed : (float, float)
        Free-stream speed in m/s; with chord 1 m and nu = 1.5e-5 m^2/s the default
        30..90 m/s gives Re = 2e6..6e6.
    """

    camber: tuple[float, float] = (0.0, 0.06)
    camber_position: tuple[float, float] = (0.2, 0.6)
    thickness: tuple[float, float] = (0.09, 0.18)
    aoa_deg: tuple[float, float] = (-4.0, 10.0)
    speed: tuple[float, float] = (30.0, 90.0)

    def __post_init__(self) -> None:
        for name, (lo_limit, hi_limit) in RANGE_LIMITS.items():
            value = getattr(self, name)
            try:
                lo, hi = (float(v) for v in value)
            except (TypeError, ValueError):
                raise DatasetError(f"range {name} must be a pair (min, max), got {value!r}") from None
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise DatasetError(f"range {name} must be finite, got ({lo}, {hi})")
            if lo > hi:
                raise DatasetError(f"range {name}: min {lo} is greater than max {hi}")
            if lo < lo_limit or hi > hi_limit:
                raise DatasetError(f"range {name} = ({lo}, {hi}) must lie within [{lo_limit}, {hi_limit}]")
            object.__setattr__(self, name, (lo, hi))

    def to_dict(self) -> dict:
        return {name: list(getattr(self, name)) for name in RANGE_LIMITS}


def sample_flow_case(seed: int, index: int, ranges: ParameterRanges, nu: float = NU_AIR) -> FlowCase:
    """Parameters of case ``index``: a function of (seed, index) only, not of the case count."""
    rng = np.random.default_rng([seed, index])
    draw = {name: float(rng.uniform(*getattr(ranges, name))) for name in RANGE_LIMITS}
    # Rounded so that case.json reproduces the case exactly.
    section = NacaSection(m=round(draw["camber"], 5), p=round(draw["camber_position"], 4), t=round(draw["thickness"], 5))
    return FlowCase(section, aoa_deg=round(draw["aoa_deg"], 4), speed=round(draw["speed"], 4), nu=nu)


def case_id(index: int, n_cases: int) -> str:
    return f"case_{index:0{max(4, len(str(n_cases - 1)))}d}"


def assign_splits(statuses: Sequence[str], seed: int, test_fraction: float) -> list[str]:
    """``train``/``test`` for ok cases, ``excluded`` for the rest.

    The test set is a seeded draw of round(test_fraction * n) case indices made before
    the runs, so a case's split does not depend on which other cases failed.
    """
    n = len(statuses)
    order = np.random.default_rng([seed, 0x5EED]).permutation(n)
    test = set(order[: int(round(test_fraction * n))].tolist())
    return [
        "excluded" if status != "ok" else ("test" if i in test else "train") for i, status in enumerate(statuses)
    ]


@dataclass(frozen=True)
class _Job:
    out: str
    case_id: str
    params: dict
    resolution: MeshResolution
    controls: SolverControls
    layout: DomainLayout
    openfoam: OpenFOAM


def _build_case(job: _Job) -> tuple[dict, str | None]:
    """Build one case in a claimed folder under .work; return its record and that folder.

    The case is left there for the generator process to publish (:func:`_publish_case`);
    on any error, and for a case its environment interrupted (then the folder returned is
    None), the folder is removed.
    """
    staging = Path(job.out) / _WORK_DIR / f"{job.case_id}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        with open(staging / _OWNER_FILE, "w") as owner:
            fcntl.flock(owner, fcntl.LOCK_EX)
            owner.write(f"{os.getpid()}\n")
            owner.flush()
            # The folder name becomes the VTK file prefix.
            record = run_case(staging / job.case_id, FlowCase.from_dict(job.params), job.resolution, job.controls,
                              job.layout, job.openfoam)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if record["status"] == INTERRUPTED:
        shutil.rmtree(staging, ignore_errors=True)
        return record, None
    return record, str(staging)


def _publish_case(out: Path, case_id: str, staging: Path) -> None:
    """Move a case built in ``staging`` into cases/; only the lock holder calls this."""
    final = out / "cases" / case_id
    if final.exists():  # a failed or unconverged case being retried
        os.replace(final, staging / "replaced")
    os.replace(staging / case_id, final)
    shutil.rmtree(staging)


def _clear_work_dir(work: Path, wait_seconds: float) -> None:
    """Remove what earlier runs left under ``work``, never a case a live process builds.

    A claimed case folder is removed once its builder has let go of it (it died or
    finished); if that takes longer than ``wait_seconds``, it is left alone.

    Raises
    ------
    DatasetError
        If a process still claims a case folder after ``wait_seconds``.
    """
    if not work.is_dir():
        return
    for entry in sorted(work.iterdir()):
        try:
            owner = open(entry / _OWNER_FILE, "r+")
        except (FileNotFoundError, NotADirectoryError):  # never claimed, so nobody builds it
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            continue
        with owner:
            if not _lock_within(owner, 0.0):
                builder = owner.read().strip() or "unknown"
                logger.info("%s: waiting for process %s, still building %s", work.parent, builder, entry.name)
                if not _lock_within(owner, wait_seconds):
                    raise DatasetError(
                        f"{entry} is still being built by process {builder}, which outlived the generator that "
                        f"started it; that folder was left alone. Wait for the process to end (or kill {builder}) "
                        "and run again"
                    )
            shutil.rmtree(entry)


def _lock_within(file, seconds: float) -> bool:
    """Take an exclusive lock on ``file``, trying for up to ``seconds``; whether it was taken."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)


def _read_case_record(case_dir: Path) -> dict | None:
    """The case.json of a finished case; None if the case has to run (again).

    A solved case whose VTK files are not all there counts as not run, so the manifest
    never lists a case as usable that cannot be read.
    """
    path = case_dir / CASE_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path} is not readable JSON ({err}); delete that case folder to re-run it") from None
    if record.get("status") == INTERRUPTED:  # written by run_case used on its own
        return None
    if record.get("status") not in FINISHED_STATUSES:
        raise DatasetError(f"{path} has unknown status {record.get('status')!r}; delete that case folder to re-run it")
    if record["status"] != "failed":
        files = record.get("files") or {}
        missing = [rel for rel in files.values() if not (case_dir / rel).is_file()]
        if missing or not files:
            logger.warning("%s says %s, but its VTK files %s are missing; running the case again",
                           path, record["status"], ", ".join(missing) or "(none listed)")
            return None
    return record


def _dataset_spec(
    seed: int, n_cases: int, resolution: MeshResolution, test_fraction: float, controls: SolverControls,
    layout: DomainLayout, ranges: ParameterRanges | None, explicit: list[dict] | None, nu: float,
) -> dict:
    spec = {
        "seed": seed,
        "n_cases": n_cases,
        "test_fraction": test_fraction,
        "resolution": asdict(resolution),
        "layout": layout.to_dict(),
        "solver": asdict(controls),
        "nu": nu,
    }
    if explicit is not None:
        spec["explicit_cases"] = explicit
    else:
        spec["ranges"] = ranges.to_dict()
    return spec


def _shown(value: object) -> str:
    return "(list)" if isinstance(value, list) and len(value) > 4 else json.dumps(value)


def _spec_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _spec_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: folder has {_shown(a)}, requested {_shown(b)}")
    return diffs


def _manifest(spec: dict, ids: list[str], params: list[dict], records: dict[str, dict]) -> dict:
    statuses = [records[i]["status"] if i in records else "pending" for i in ids]
    splits = assign_splits(statuses, spec["seed"], spec["test_fraction"])
    cases = []
    for index, (cid, p, status, split) in enumerate(zip(ids, params, statuses, splits)):
        record = records.get(cid, {})
        results = record.get("results", {})
        cases.append({
            "id": cid,
            "index": index,
            "status": status,
            "reason": record.get("reason") if status != "pending" else "not run yet",
            "split": split,
            "path": f"cases/{cid}",
            "params": p,
            "Cl": results.get("Cl"),
            "Cd": results.get("Cd"),
            "iterations": results.get("iterations"),
            "seconds": results.get("seconds"),
        })
    summary = {status: statuses.count(status) for status in MANIFEST_STATUSES}
    summary.update(train=splits.count("train"), test=splits.count("test"))
    return {
        "format_version": FORMAT_VERSION,
        "kind": DATASET_KIND,
        "generator": f"modulus_lrsa {__version__}",
        "dataset": spec,
        "summary": summary,
        "cases": cases,
    }


def _build_case_in_worker(job: _Job) -> tuple[dict, str | None]:
    """_build_case in a pool worker: an interrupt ends the worker, not just this case.

    The pool's worker loop would report the interrupt and start the next queued case;
    exiting once the solver has been stopped (by run_case's cleanup) ends the generation.
    """
    try:
        return _build_case(job)
    except KeyboardInterrupt:
        os._exit(128 + signal.SIGTERM)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


#: How long a pool worker may unwind after SIGTERM before the kernel ends it.
WORKER_UNWIND_SECONDS = 5


def _interrupt_worker(signum, frame) -> None:
    """SIGTERM in a pool worker: unwind like Ctrl-C, ended by SIGALRM if that stalls.

    The pool's own loop catches BaseException while it sends a result back, so a SIGTERM
    landing there is swallowed, and the worker would wait forever for work from a dead
    generator. The alarm's default action ends the process whatever Python is doing.
    """
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(WORKER_UNWIND_SECONDS)
    _raise_interrupt(signum, frame)


def _init_worker(generator_pid: int) -> None:
    """Pool-worker initializer: SIGTERM unwinds like Ctrl-C, so running solvers are stopped.

    On Linux the worker also gets that SIGTERM when the generator process dies, however
    it dies (SIGKILL included), so no worker keeps building cases nobody will collect.
    """
    signal.signal(signal.SIGTERM, _interrupt_worker)
    set_parent_death_signal(signal.SIGTERM, generator_pid)


@contextmanager
def _sigterm_as_interrupt():
    """Within the block, SIGTERM (batch schedulers, timeouts) unwinds like Ctrl-C.

    Python's default SIGTERM action exits without running ``finally`` blocks, which would
    leave simpleFoam processes running and half-written cases behind.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def generate_airfoil_dataset(
    out: str | os.PathLike,
    n_cases: int = 24,
    *,
    seed: int = 0,
    resolution: str = "medium",
    test_fraction: float = 0.2,
    max_iterations: int = 2000,
    ranges: ParameterRanges | None = None,
    cases: Sequence[FlowCase] | None = None,
    jobs: int = 1,
    retry_failed: bool = False,
    layout: DomainLayout = DomainLayout(),
    nu: float = NU_AIR,
    openfoam: OpenFOAM | None = None,
) -> dict:
    """Run (or resume) a dataset of airfoil RANS cases and return its manifest.

    Parameters
    ----------
    out : path
        Output folder: new, empty, or holding a dataset made with the same settings
        (then finished cases are kept and only missing ones run).
    n_cases : int
        Number of sampled cases; ignored when ``cases`` is given.
    seed : int
        Seed of the parameter sampling and of the train/test split.
    resolution : {"coarse", "medium", "fine"}
        Mesh preset, see :data:`~modulus_lrsa.data.airfoil.mesh.RESOLUTIONS`.
    test_fraction : float
        Share of the cases drawn for the test split, in [0, 1).
    max_iterations : int
        SIMPLE iteration limit per case, a multiple of ``SolverControls.check_interval``;
        cases not converged at any checkpoint up to it are "unconverged".
    ranges : ParameterRanges, optional
        Sampling ranges (defaults documented on :class:`ParameterRanges`).
    cases : sequence of FlowCase, optional
        Explicit cases to run instead of sampling (e.g. a polar sweep).
    jobs : int
        Cases run at once (each is a serial OpenFOAM run).
    retry_failed : bool
        Re-run cases recorded as failed or unconverged instead of keeping them.
    layout : DomainLayout
        Far-field distances.
    nu : float
        Kinematic viscosity for sampled cases (m^2/s).
    openfoam : OpenFOAM, optional
        Installation to use; found on PATH when omitted.

    Returns
    -------
    dict
        The manifest as written to ``<out>/manifest.json``. Cases its environment
        stopped are ``interrupted`` (``summary["interrupted"]``), and after a case found
        no space left the cases not started stay ``pending``: a later call runs both.

    Raises
    ------
    DatasetError
        Bad options, an output folder holding something else, a dataset made with
        other settings (nothing is overwritten), a folder another generator is writing
        (the message names its pid), or a pool worker that died.
    OSError
        The manifest could not be written (e.g. no space left); the cases in ``cases/``
        are kept and a later call resumes.
    OpenFOAMNotFoundError
        OpenFOAM is not installed (with instructions).
    """
    if resolution not in RESOLUTIONS:
        raise DatasetError(f"unknown resolution {resolution!r}; choose one of {', '.join(RESOLUTIONS)}")
    if not 0.0 <= test_fraction < 1.0:
        raise DatasetError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    if jobs < 1:
        raise DatasetError(f"jobs must be >= 1, got {jobs}")
    mesh = RESOLUTIONS[resolution]
    try:
        controls = SolverControls(max_iterations=max_iterations)
    except ValueError as err:
        raise DatasetError(str(err)) from None
    if cases is not None:
        if ranges is not None:
            raise DatasetError("give either explicit cases or sampling ranges, not both")
        flows = list(cases)
        if not flows:
            raise DatasetError("the list of explicit cases is empty")
        params = [flow.to_dict() for flow in flows]
        n_cases = len(flows)
    else:
        if n_cases < 1:
            raise DatasetError(f"n_cases must be >= 1, got {n_cases}")
        ranges = ranges or ParameterRanges()
        params = [sample_flow_case(seed, i, ranges, nu).to_dict() for i in range(n_cases)]
    spec = _dataset_spec(seed, n_cases, mesh, test_fraction, controls, layout, ranges, params if cases is not None else None, nu)
    openfoam = openfoam or find_openfoam()

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with hold_dataset_lock(out, "lrsa-data airfoil"):
            return _generate_locked(out, spec, params, mesh, controls, layout, jobs, retry_failed, openfoam)
    except DatasetLockedError as err:
        raise DatasetError(str(err)) from None


def _generate_locked(
    out: Path, spec: dict, params: list[dict], mesh: MeshResolution, controls: SolverControls,
    layout: DomainLayout, jobs: int, retry_failed: bool, openfoam: OpenFOAM,
) -> dict:
    manifest_path = out / MANIFEST_FILE
    if manifest_path.is_file():
        try:
            existing = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise DatasetError(f"{manifest_path} is not readable JSON ({err})") from None
        if existing.get("kind") != DATASET_KIND:
            raise DatasetError(f"{manifest_path} is not an airfoil dataset manifest (kind={existing.get('kind')!r})")
        diffs = _spec_differences(existing.get("dataset", {}), spec)
        if diffs:
            raise DatasetError(
                f"{out} holds an airfoil dataset made with other settings; nothing was changed. "
                f"Use another output folder, or the original settings to resume it. Differences: " + "; ".join(diffs)
            )
    else:
        foreign = sorted(p.name for p in out.iterdir() if p.name not in (LOCK_FILE, _WORK_DIR))
        if foreign:
            raise DatasetError(
                f"{out} is not empty and has no {MANIFEST_FILE} (found {', '.join(foreign[:5])}); "
                "refusing to write a dataset into it"
            )
    # Leftovers of interrupted runs; cases/ only ever holds complete cases.
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
    logger.info("%s: %d of %d cases already finished, %d to run with %d job(s)",
                out, len(records), len(ids), len(todo), jobs)

    jobs_list = [_Job(str(out), ids[i], params[i], mesh, controls, layout, openfoam) for i in todo]
    done = len(records)
    out_of_space: list[dict] = []

    def finished(built: tuple[dict, str | None]) -> None:
        nonlocal done
        record, staging = built
        if staging is not None:
            _publish_case(out, record["id"], Path(staging))
        done += 1
        records[record["id"]] = record
        atomic_write_json(manifest_path, _manifest(spec, ids, params, records), allow_nan=False)
        res = record["results"]
        detail = (
            f"Cl={res['Cl']:.4f} Cd={res['Cd']:.5f}, {res['iterations']} iterations"
            if record["status"] in ("ok", "unconverged") else record["reason"]
        )
        logger.info("[%d/%d] %s %s: %s, %.1f s", done, len(ids), record["id"], record["status"], detail, res.get("seconds", 0.0))
        if record.get("interruption") == "no_space" and not out_of_space:
            out_of_space.append(record)
            logger.warning("%s: %s found no space left; no further case is started. Free space and run the same "
                           "command again to run the rest", out, record["id"])

    def stopped(case_ids: list[str], why: str) -> None:
        """List the cases that were running when the generation stopped as interrupted."""
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
            # spawn: safe even when the caller has threads (e.g. torch) running.
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
                                future.cancel()  # the running ones finish
                except BaseException as error:
                    running = [futures[future] for future in pending if future.running()]
                    for future in pending:
                        future.cancel()
                    # Workers unwind on SIGTERM, which stops their solvers (see solve()).
                    for worker in multiprocessing.active_children():
                        worker.terminate()
                    if isinstance(error, BrokenProcessPool):
                        # Every case of a broken pool fails at once: which ones ran is unknown,
                        # so they stay pending.
                        raise DatasetError(
                            f"{out}: a worker process died before finishing its case (killed by a signal, e.g. by "
                            "the out-of-memory killer); finished cases are kept, and the others run on the next "
                            "run: run the same command again (with fewer --jobs if memory is short)"
                        ) from None
                    if isinstance(error, KeyboardInterrupt):
                        stopped(running, "the generator was stopped")
                    raise
    _clear_work_dir(out / _WORK_DIR, _OWNER_WAIT_SECONDS)
    (out / _WORK_DIR).rmdir()
    manifest = _manifest(spec, ids, params, records)
    atomic_write_json(manifest_path, manifest, allow_nan=False)
    return manifest
