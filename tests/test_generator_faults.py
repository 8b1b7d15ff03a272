# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The dataset generators under faults of the machine (issue 29, items 4-5).

A full disk and a solver killed from outside are failures of the machine, not of the
case: the case is recorded ``interrupted`` with the solver's own fatal error as the
reason, the command exits 75 (EX_TEMPFAIL, "try again") and the same command run again,
once there is room, solves it without ``--retry-failed``. The disk really fills: the
dataset sits on a 3 MB tmpfs (mounted by the test, so it needs root; skipped, saying so,
where mounting is not allowed). One generator writes a folder at a time, and readers can
ask who.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from openfoam_utils import require_openfoam  # noqa: F401  (pytest fixture)

from modulus_lrsa.data.airfoil import DatasetError, FlowCase, NacaSection, generate_airfoil_dataset
from modulus_lrsa.data.airfoil.dataset import MANIFEST_FILE
from modulus_lrsa.data.airfoil.openfoam import log_error_summary
from modulus_lrsa.data.airfoil.run import CaseFailure, environment_cause, environment_error_kind
from modulus_lrsa.data.cli import main as lrsa_data
from modulus_lrsa.data.darcy import generate_darcy
from modulus_lrsa.data.lock import LOCK_FILE, dataset_writer, hold_dataset_lock
from modulus_lrsa.io.darcy import DarcyDatasetError

ROOT = Path(__file__).resolve().parents[1]
ONE_CASE = ["--n-cases", "1", "--resolution", "coarse", "--test-fraction", "0", "--seed", "3"]


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs: a coarse airfoil case fills it within its first 50 iterations."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def manifest_of(out: Path) -> dict:
    return json.loads((out / MANIFEST_FILE).read_text())


@pytest.mark.openfoam
def test_a_full_disk_interrupts_the_case_with_the_solvers_error_and_the_same_command_solves_it(
    require_openfoam, small_disk, capsys
):
    out = small_disk / "airfoil"
    assert lrsa_data(["airfoil", "--out", str(out), *ONE_CASE]) == 75
    (case,) = manifest_of(out)["cases"]
    # Before the fix: status "failed", for good, with the head of the log as the reason.
    assert case["status"] == "interrupted" and case["split"] == "excluded"
    assert "FOAM FATAL IO ERROR" in case["reason"] and "could not write its output" in case["reason"]
    assert "run the same command again" in capsys.readouterr().err
    assert not (out / "cases" / "case_0000").exists()  # nothing half-written is kept as a case

    subprocess.run(["mount", "-o", "remount,size=300m", str(small_disk)], check=True)
    assert lrsa_data(["airfoil", "--out", str(out), *ONE_CASE]) == 0
    (case,) = manifest_of(out)["cases"]
    assert case["status"] == "ok" and case["split"] == "train"


@pytest.mark.openfoam
def test_a_solver_killed_from_outside_is_run_again_not_recorded_failed(require_openfoam, tmp_path):
    out = tmp_path / "airfoil"
    command = [sys.executable, "-m", "modulus_lrsa.data.cli", "airfoil", "--out", str(out), *ONE_CASE]
    generator = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, solvers = time.monotonic() + 120, []
        while time.monotonic() < deadline and generator.poll() is None and not solvers:
            solvers = [p for p in psutil.Process(generator.pid).children(recursive=True) if p.name() == "simpleFoam"]
            time.sleep(0.05)
        assert solvers, "simpleFoam never started"
        solvers[0].send_signal(signal.SIGKILL)  # the out-of-memory killer, or an operator's kill -9
        output, _ = generator.communicate(timeout=120)
    finally:
        if generator.poll() is None:
            generator.kill()
    assert generator.returncode == 75, output
    (case,) = manifest_of(out)["cases"]
    assert case["status"] == "interrupted" and "killed by SIGKILL" in case["reason"], case
    assert lrsa_data(["airfoil", "--out", str(out), *ONE_CASE]) == 0
    assert manifest_of(out)["cases"][0]["status"] == "ok"


def test_the_recorded_cause_is_the_fatal_error_block_without_openfoams_source_lines(tmp_path):
    log = tmp_path / "log.simpleFoam"
    log.write_text("\n".join([
        "/*---------------------------------------------------------------------------*\\",
        "Build  : v1912", "trapFpe: Floating point exception trapping enabled", "Time = 40", "",
        "--> FOAM FATAL IO ERROR: ", 'error in IOstream "case/40/U" for operation Foam::Ostream& writeList', "",
        "file: case/40/U at line 24.", "", "    From function Foam::IOstream::fatalCheck(const char*) const",
        "    in file db/IOstreams/IOstreams/IOstream.C at line 109.", "", "FOAM exiting", "",
    ]))
    summary = log_error_summary(log)
    assert summary == '--> FOAM FATAL IO ERROR: | error in IOstream "case/40/U" for operation Foam::Ostream& writeList | ' \
                      "file: case/40/U at line 24."
    assert "trapFpe" not in summary


@pytest.mark.parametrize("failure, kind", [
    (CaseFailure("simpleFoam exited with signal 9 after 10 of 2000 iterations: (empty log)", -signal.SIGKILL), "signal"),
    (CaseFailure("simpleFoam exited with signal 25", -signal.SIGXFSZ), "no_space"),
    (CaseFailure("foamToVTK exited with code 1: No space left on device", 1), "no_space"),
    (CaseFailure("checkMesh: Failed 1 mesh checks: ***Zero or negative cell volume detected", None), None),
    (CaseFailure("simpleFoam exited with signal 8: Foam::sigFpe::sigHandler(int)", -signal.SIGFPE), None),
])
def test_machine_failures_are_told_from_failures_of_the_case(tmp_path, failure, kind):
    cause = environment_cause(tmp_path, failure)
    assert (cause and cause[0]) == kind


def test_python_errors_of_the_machine_are_retryable_and_others_are_not():
    assert environment_error_kind(OSError(28, "No space left on device")) == "no_space"
    assert environment_error_kind(MemoryError()) == "memory"
    assert environment_error_kind(ValueError("bad value")) is None
    assert environment_error_kind(FileNotFoundError(2, "missing")) is None


# --------------------------------------------------------------- the dataset lock


def test_a_second_generator_is_refused_naming_the_first_and_readers_can_ask_who(tmp_path):
    out = tmp_path / "airfoil"
    out.mkdir()
    case = FlowCase(NacaSection.from_code("0012"), 2.0, 50.0)
    with hold_dataset_lock(out, "lrsa-data airfoil"):
        writer = dataset_writer(out)
        assert writer.pid == os.getpid() and writer.generator == "lrsa-data airfoil"
        with pytest.raises(DatasetError, match=rf"being written by lrsa-data airfoil \(pid {os.getpid()} on host"):
            generate_airfoil_dataset(out, cases=[case], resolution="coarse", test_fraction=0.0)
        with pytest.raises(DarcyDatasetError, match=rf"pid {os.getpid()}"):
            generate_darcy(out, n_train=1, n_test=1, solve_resolution=9, resolution=9)
    assert dataset_writer(out) is None and not (out / LOCK_FILE).exists()


def test_a_lock_file_left_by_a_killed_generator_does_not_count(tmp_path):
    out = tmp_path / "darcy"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / LOCK_FILE).write_text(json.dumps({"pid": int(dead.stdout), "host": "h", "generator": "lrsa-data darcy"}))
    assert dataset_writer(out) is None  # no process holds the flock
    generate_darcy(out, n_train=2, n_test=1, solve_resolution=9, resolution=9)
    assert not (out / LOCK_FILE).exists()
