# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The GPU bundle (benchmarks/gpu/bundle.py, ``make gpu-bundle``) and its runner (benchmarks/gpu/run.sh),
offline: what it would fetch, packing into parts under the limit of one call, staging and joining
them on the other side, and the runner's time limits, failures and summary on this CPU."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "benchmarks" / "gpu" / "bundle.py"
RUN = ROOT / "benchmarks" / "gpu" / "run.sh"
MIB = 2**20


@pytest.fixture(scope="module")
def bundle():
    spec = importlib.util.spec_from_file_location("gpu_bundle", BUNDLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while being defined
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BUNDLE), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_wheels(tmp_path):
    """Four wheel files of random bytes, 6.5 MiB in all, one of them larger than a part."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    generator = random.Random(7)
    sizes = {"bigpkg-1.0-py3-none-manylinux_2_28_x86_64.whl": 5 * MIB, "midpkg-2.1-cp312-cp312-manylinux_2_17_x86_64.whl":
             3 * MIB // 2, "tiny_one-0.1-py3-none-any.whl": 10_000, "tiny_two-0.2-py3-none-any.whl": 20_000}
    for name, size in sizes.items():
        (folder / name).write_bytes(generator.randbytes(size))
    return folder


def _pack(wheels: Path, out: Path, tree: int = MIB // 2) -> subprocess.CompletedProcess:
    return _cli("pack", "--wheels", str(wheels), "--out", str(out), "--limit-mib", "4", "--headroom-mib", "0.5",
                "--tree-bytes", str(tree))


def test_dry_run_lists_what_the_image_lacks_checks_the_imports_and_fetches_nothing(tmp_path):
    out = tmp_path / "bundle"
    done = _cli("build", "--dry-run", "--out", str(out))
    assert done.returncode == 0, done.stderr
    listed = {line.split("==")[0].strip() for line in done.stdout.splitlines() if "==" in line}
    assert {"nvidia-physicsnemo", "warp-lang", "omegaconf", "hydra-core", "antlr4-python3-runtime", "tensordict",
            "s3fs", "botocore", "fsspec"} <= listed
    assert not listed & {"torch", "numpy", "scipy", "pytest", "vtk", "modulus-lrsa"}  # in the image, left out, or the checkout
    assert "left out: vtk" in done.stdout
    assert "import check: modulus_lrsa.models" in done.stdout and "note: would need vtk" in done.stdout
    assert done.stdout.rstrip().endswith("dry run: nothing downloaded") and not out.exists()


def test_requirements_are_followed_through_bundled_distributions_only(bundle):
    wanted, excluded = bundle.resolve()
    names = {w.name: w for w in wanted}
    from importlib.metadata import version

    assert all(w.version == version(w.name) for w in wanted)  # the versions this checkout's suite runs
    assert "vtk" in excluded and "vtk" not in names
    assert names["fsspec"].reason == bundle.OVERRIDES["fsspec"]  # in the image, at a version s3fs refuses
    assert "treelib" in names and names["treelib"].reason.startswith("required by nvidia-physicsnemo")
    # aiobotocore imports httpx2 without requiring it: only the import probe brings it in, with its needs.
    assert "httpx2" not in names
    imported = {w.name for w in bundle.resolve({"physicsnemo": ["httpx2"]})[0]}
    assert {"httpx2", "httpcore2", "truststore"} <= imported
    assert "vtk" in {w.name for w in bundle.resolve(with_vtk=True)[0]}


def test_parts_fit_the_limit_beside_the_tree_and_join_back_into_the_same_wheels(bundle, fake_wheels, tmp_path):
    out = tmp_path / "bundle"
    done = _pack(fake_wheels, out)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    budget = 4 * MIB - MIB // 2 - MIB // 2
    assert manifest["part_budget_bytes"] == budget and manifest["tree_bytes"] == MIB // 2
    assert [p["name"] for p in manifest["parts"]] == ["part1", "part2", "part3"]  # 6.5 MiB over 3 MiB parts
    for part in manifest["parts"]:
        files = [f for f in (out / part["name"]).iterdir() if f.name != "manifest.json"]
        assert sum(f.stat().st_size for f in files) == part["bytes"] <= budget
        assert json.loads((out / part["name"] / "manifest.json").read_text()) == manifest
    assert [p["bytes"] for p in manifest["parts"][:-1]] == [budget, budget]  # every part but the last is full
    assert {e["file"]: e["sha256"] for e in manifest["wheels"]} == {w.name: _sha(w) for w in fake_wheels.iterdir()}
    assert (out / "part1" / "bigpkg-1.0-py3-none-manylinux_2_28_x86_64.whl.000").is_file()
    assert "3 part(s)" in done.stdout and "part3:" in done.stdout

    # One call carries one part: each arrives alone, and the staging folder keeps what came before.
    stage = tmp_path / "stage"
    for index, still_to_send in ((1, "part2, part3"), (2, "part3")):
        carried = tmp_path / f"call{index}"
        carried.mkdir()
        (carried / f"part{index}").symlink_to(out / f"part{index}", target_is_directory=True)
        staged = _cli("assemble", "--bundle", str(carried), "--stage", str(stage))
        assert staged.returncode == bundle.INCOMPLETE, staged.stderr
        assert staged.stdout.strip() == f"staged; still to send: {still_to_send} (one call each, back to back)"
    last = tmp_path / "call3"
    last.mkdir()
    (last / "part3").symlink_to(out / "part3", target_is_directory=True)
    joined = _cli("assemble", "--bundle", str(last), "--stage", str(stage))
    assert joined.returncode == 0, joined.stderr
    wheels = Path((stage / "ready").read_text())
    assert {w.name: _sha(w) for w in wheels.iterdir()} == {w.name: _sha(w) for w in fake_wheels.iterdir()}
    # A later call to the same machine carries no part (a rerun of one step): the joined wheels serve.
    rerun = tmp_path / "call4"
    rerun.mkdir()
    again = _cli("assemble", "--bundle", str(rerun), "--stage", str(stage))
    assert again.returncode == 0 and Path((stage / "ready").read_text()) == wheels


def test_a_damaged_piece_or_parts_of_two_builds_are_refused_in_one_line(bundle, fake_wheels, tmp_path):
    out = tmp_path / "bundle"
    assert _pack(fake_wheels, out).returncode == 0
    piece = out / "part2" / "bigpkg-1.0-py3-none-manylinux_2_28_x86_64.whl.001"
    data = bytearray(piece.read_bytes())
    data[1000] ^= 0xFF
    piece.unlink()  # a hard link would damage the source wheel too
    piece.write_bytes(bytes(data))
    done = _cli("assemble", "--bundle", str(out), "--stage", str(tmp_path / "stage"))
    assert done.returncode == 1
    assert done.stderr.strip() == (f"error: {piece}: sha256 differs from the manifest's (damaged in transfer?); "
                                   "send part2 again")

    (fake_wheels / "tiny_one-0.1-py3-none-any.whl").write_bytes(b"another build")
    other = tmp_path / "other"
    assert _pack(fake_wheels, other).returncode == 0
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "part1").symlink_to(out / "part1", target_is_directory=True)
    (mixed / "part2").symlink_to(other / "part2", target_is_directory=True)
    done = _cli("assemble", "--bundle", str(mixed), "--stage", str(tmp_path / "stage"))
    assert done.returncode == 1 and "parts of different builds" in done.stderr and len(done.stderr.splitlines()) == 1

    empty = tmp_path / "empty"
    empty.mkdir()
    done = _cli("assemble", "--bundle", str(empty), "--stage", str(tmp_path / "stage"))
    assert done.returncode == 1 and done.stderr.startswith(f"error: {empty}: no part of a bundle here, and none joined")


def test_the_size_check_refuses_parts_that_no_longer_fit_beside_the_tree(bundle, fake_wheels, tmp_path):
    out = tmp_path / "bundle"
    assert _pack(fake_wheels, out).returncode == 0
    fits = _cli("check", "--out", str(out), "--limit-mib", "4", "--tree-bytes", str(MIB // 2))
    assert fits.returncode == 0 and fits.stdout.count("of 4 MiB") == 3
    grown = _cli("check", "--out", str(out), "--limit-mib", "4", "--tree-bytes", str(2 * MIB))
    assert grown.returncode == 1
    assert grown.stderr.strip().startswith("error: part1, part2 with the working tree exceed the 4 MiB of one call")
    too_big = _pack(fake_wheels, tmp_path / "never", tree=4 * MIB)
    assert too_big.returncode == 1 and "the working tree alone is 4.0 MiB" in too_big.stderr
    assert not (tmp_path / "never").exists()
    missing = _cli("check", "--out", str(tmp_path / "nothing"))
    assert missing.returncode == 1 and "run `make gpu-bundle` first" in missing.stderr


def test_the_tree_counts_tracked_and_untracked_files_but_not_ignored_ones(bundle, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".gitignore").write_text(".gpu_bundle/\n")
    (repo / "tracked.py").write_bytes(b"x" * 1000)
    subprocess.run(["git", "add", "tracked.py", ".gitignore"], cwd=repo, check=True)
    (repo / "untracked.txt").write_bytes(b"y" * 300)
    (repo / ".gpu_bundle").mkdir()
    (repo / ".gpu_bundle" / "big.whl").write_bytes(b"z" * 10_000)
    assert bundle.tree_bytes(repo) == 1000 + 300 + len(".gpu_bundle/\n")


def test_wheel_tags_accepted_for_the_gpu_image(bundle):
    accepted = ["warp_lang-1.19.0-py3-none-manylinux_2_28_x86_64.whl", "nvtx-0.2.17-cp312-cp312-manylinux2014_x86_64"
                ".manylinux_2_17_x86_64.whl", "cftime-1.6.6.1-cp311-abi3-manylinux1_x86_64.manylinux_2_28_x86_64.whl",
                "omegaconf-2.3.1-py3-none-any.whl"]
    refused = ["nvtx-0.2.17-cp311-cp311-manylinux2014_x86_64.whl", "warp_lang-1.19.0-py3-none-macosx_11_0_arm64.whl",
               "cftime-1.6.6.1-cp313-abi3-manylinux1_x86_64.whl"]
    assert all(bundle.runs_on_gpu_image(Path(name)) for name in accepted)
    assert not any(bundle.runs_on_gpu_image(Path(name)) for name in refused)


def test_unmet_requirements_of_bundled_wheels_are_named(bundle, tmp_path, monkeypatch):
    info = tmp_path / "site" / "needy_pkg-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: needy-pkg\nVersion: 1.0\n"
                                   "Requires-Dist: packaging>=999\nRequires-Dist: absent-dist-xyz\n"
                                   "Requires-Dist: vtk\nRequires-Dist: rich; extra == 'pretty'\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    from importlib.metadata import version

    unmet = bundle.unmet_requirements({"wheels": [{"name": "needy-pkg", "version": "1.0"}]})
    assert unmet == [f"needy-pkg 1.0 needs packaging>=999, found {version('packaging')}",
                     "needy-pkg 1.0 needs absent-dist-xyz: not installed"]  # vtk left out on purpose, extras skipped


@pytest.mark.parametrize("name, slug", [("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H200", "h200"),
                                        ("NVIDIA A100-SXM4-80GB", "a100")])
def test_device_names_become_short_file_tags(bundle, name, slug):
    assert bundle.device_slug(name) == slug


def _run_sh(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    variables = {**os.environ, "PYTHON": sys.executable, "LRSA_GPU_RESULTS": str(tmp_path / "results"),
                 "OUT": str(tmp_path / "out"), **env}
    if "LRSA_GPU_ALLOW_CPU" not in env:
        variables.pop("LRSA_GPU_ALLOW_CPU", None)
    return subprocess.run(["bash", str(RUN), *args], capture_output=True, text=True, cwd=tmp_path, env=variables,
                          timeout=300)


def test_the_runner_plans_every_step_within_the_budget(tmp_path):
    done = _run_sh(tmp_path, "--plan")
    assert done.returncode == 0, done.stderr
    steps = [line.split(":")[0] for line in done.stdout.splitlines() if ": at most " in line]
    assert steps == ["stage", "install", "environment", "cuda-tests", "compiled-gradients", "cuda-graph-step",
                     "throughput", "attention"]
    assert "budget 470s" in done.stdout and "cuda-graph-step: " in done.stdout.splitlines()[-1]
    bad = _run_sh(tmp_path, "--only", "cuda-tests,warp-drive")
    assert bad.returncode == 2 and "unknown step 'warp-drive'" in bad.stderr


def test_the_runner_goes_on_past_a_failing_step_stops_a_slow_one_and_exits_non_zero(tmp_path):
    """On this CPU the environment step fails (no CUDA device); the next step still runs and is
    stopped at its limit (compiling LRSA on a CPU takes far longer than 5 s); the summary says so."""
    done = _run_sh(tmp_path, "--no-install", "--only", "environment,compiled-gradients",
                   LRSA_GPU_LIMITS="compiled-gradients=5")
    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads((tmp_path / "results" / "gpu_cpu_run.json").read_text())
    assert [(s["step"], s["status"]) for s in summary["steps"]] == [("environment", "failed"),
                                                                     ("compiled-gradients", "timed out")]
    assert summary["failed"] == ["environment", "compiled-gradients"] and not summary["ok"]
    assert summary["environment"]["problems"] == ["torch sees no CUDA device"]
    assert summary["environment"]["torch"] and summary["environment"]["device_name"] == "cpu"
    assert "FAILED: environment, compiled-gradients" in done.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gpu_cpu_run.json", "run.log"]
    assert "error: torch sees no CUDA device" in (tmp_path / "out" / "run.log").read_text()


def test_steps_the_budget_leaves_no_time_for_are_not_run_and_fail_the_run(tmp_path):
    done = _run_sh(tmp_path, "--no-install", "--only", "cuda-tests", LRSA_GPU_BUDGET_S="3")
    assert done.returncode == 1
    summary = json.loads((tmp_path / "results" / "gpu_unknown_run.json").read_text())
    assert [(s["step"], s["status"]) for s in summary["steps"]] == [("environment", "not run"), ("cuda-tests", "not run")]
    assert all(s["note"].startswith("out of time") for s in summary["steps"])


def test_a_run_without_its_bundle_fails_at_staging_and_runs_nothing_else(tmp_path):
    done = _run_sh(tmp_path, "--only", "cuda-tests", LRSA_GPU_BUNDLE=str(tmp_path / "absent"),
                   LRSA_GPU_STAGE=str(tmp_path / "stage"), LRSA_GPU_SITE=str(tmp_path / "site"))
    assert done.returncode == 1
    summary = json.loads((tmp_path / "results" / "gpu_unknown_run.json").read_text())
    assert [(s["step"], s["status"]) for s in summary["steps"]] == [
        ("stage", "failed"), ("install", "not run"), ("environment", "not run"), ("cuda-tests", "not run")]
    assert "no part of a bundle here" in summary["steps"][0]["note"]
