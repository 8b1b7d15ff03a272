# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The wheels an offline GPU machine lacks, packed into transfers it can take, and unpacked there.

The GPU machine this project is checked on has no network. Its image holds Python 3.12 and
torch 2.11 with CUDA (``image_packages.txt`` beside this file lists its distributions) but
not PhysicsNeMo, Warp, Hydra or OmegaConf, and one call to it carries at most 64 MiB: the
working tree plus whatever folder the call names. On the CPU machine (``make gpu-bundle``):

    python benchmarks/gpu/bundle.py build --dry-run   # what it would fetch, and the import check
    python benchmarks/gpu/bundle.py build             # download into .gpu_bundle/, pack the parts
    python benchmarks/gpu/bundle.py check             # before a call: each part still fits beside the tree

``build`` takes this project's requirements (pyproject.toml) and everything they require,
at the versions this checkout's environment runs, less what the image holds and less VTK
(``EXCLUDED``); it downloads them for CPython 3.12 on manylinux x86_64, and checks that
every distribution the GPU run imports is in the image or the bundle. Then ``pack`` fills
parts ``.gpu_bundle/part1``, ``part2``, ... each of at most 64 MiB less the working tree
(Warp's wheel alone is 142 MiB: a wheel larger than the room left is cut into pieces), and
writes ``manifest.json`` (every wheel's name, version, size and sha256, every piece's part)
into each part. One call carries one part (``carry: [".gpu_bundle/partN"]``).

On the GPU machine, ``benchmarks/gpu/run.sh`` calls ``assemble``: it copies the parts it
finds into a staging folder, checking each piece's sha256, and once all parts of one
build are staged, joins the pieces and checks each wheel's sha256. ``environment`` then
records the device, torch and the bundle's versions, and which requirements of the bundled
wheels the image does not meet; ``summary`` writes the run's steps as JSON. Those three use
the standard library only (``packaging`` where the image has it), so they run before
anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DEFAULT_OUT = ROOT / ".gpu_bundle"
MIB = 2**20
#: What one call to the GPU machine carries: the working tree plus the carried folder.
LIMIT_MIB = 64.0
#: Room kept for the tree to grow (other work, results) between packing and the call.
HEADROOM_MIB = 2.0
PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
#: Markers of the GPU image (CPython 3.12 on Linux x86_64), for requirements' environment markers.
GPU_MARKERS = dict(python_version="3.12", python_full_version="3.12.3", sys_platform="linux", platform_system="Linux",
                   platform_machine="x86_64", os_name="posix", implementation_name="cpython",
                   platform_python_implementation="CPython", extra="")
#: Requirements left out, and why. The GPU steps (tests/test_lrsa_cuda.py, the compiled-gradient
#: tests, benchmarks/throughput.py and attention_backends.py) never import VTK: only lrsa-train's
#: data path does (modulus_lrsa.io.readers), and its cp312 wheel is larger than a whole transfer.
EXCLUDED = {"vtk": "only modulus_lrsa.io.readers (lrsa-train's data path) imports it; no GPU step does; "
                   "its cp312 wheel (133 MiB) would take two or three more calls (build --with-vtk adds it)"}
#: Distributions the image holds at a version the bundle's wheels do not accept.
OVERRIDES = {"fsspec": "s3fs (imported by physicsnemo.core) pins fsspec to its own release"}
#: Published as a source archive only: built here into a pure-Python wheel.
FROM_SOURCE = {"antlr4-python3-runtime": "publishes no wheel, only a pure-Python sdist"}
#: What the GPU run imports: its tests and benchmarks. Every distribution these pull in must be in
#: the image or the bundle. OPTIONAL_IMPORTS are reported, not required.
GPU_IMPORTS = ("modulus_lrsa.models", "modulus_lrsa.models.attention", "physicsnemo.models.transolver",
               "physicsnemo.models.flare", "omegaconf", "hydra", "pytest")
OPTIONAL_IMPORTS = ("modulus_lrsa.training.train",)
#: Exit status of ``assemble`` when parts are still to come (a staging call, not a failure).
INCOMPLETE = 3


class BundleError(Exception):
    """A bundle that cannot be built, packed or unpacked; its message is one line for the user."""


def canonical(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(4 * MIB):
            digest.update(block)
    return digest.hexdigest()


def wheel_name(path: Path) -> tuple[str, str]:
    """(canonical name, version) of a wheel file name."""
    parts = path.name.split("-")
    if not path.name.endswith(".whl") or len(parts) < 5:
        raise BundleError(f"{path}: not a wheel file name (name-version-python-abi-platform.whl)")
    return canonical(parts[0]), parts[1]


# ------------------------------------------------------------------ CPU side: what to bundle
def image_packages(path: Path = HERE / "image_packages.txt") -> set[str]:
    """The distributions the GPU image holds, canonical names."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return {canonical(line) for line in lines if line and not line.startswith("#")}


@dataclass(frozen=True)
class Wanted:
    """One distribution to bundle: name, the version this checkout runs, and why it is needed."""

    name: str
    version: str
    reason: str

    @property
    def from_source(self) -> bool:
        return self.name in FROM_SOURCE


def resolve(imported: dict[str, list[str]] | None = None, with_vtk: bool = False,
            pyproject: Path = ROOT / "pyproject.toml") -> tuple[list[Wanted], dict[str, str]]:
    """What the GPU image lacks of the project's requirements and of what the GPU run imports, with their needs.

    Starts from pyproject.toml's dependencies and the distributions ``imported`` (module ->
    distributions, from :func:`import_needs`; this catches imports a package makes without
    declaring them, such as aiobotocore's optional httpx2), and follows the requirements of
    every distribution bundled (not of the image's: it holds theirs), extras left out.
    Versions are those installed in this environment, which the CPU suite passes with.
    Returns the distributions to bundle and those left out, with why.
    """
    import importlib.metadata as metadata

    from packaging.requirements import Requirement

    image = image_packages()
    excluded = {} if with_vtk else dict(EXCLUDED)
    roots = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pending = [(Requirement(text), "required by pyproject.toml") for text in roots]
    for module, dists in (imported or {}).items():
        pending += [(Requirement(d), f"imported by {module}") for d in dists if canonical(d) != "modulus-lrsa"]
    wanted: dict[str, Wanted] = {}
    seen: set[str] = set()
    while pending:
        requirement, why = pending.pop(0)
        name = canonical(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate(GPU_MARKERS)):
            continue
        seen.add(name)
        if name in excluded or (name in image and name not in OVERRIDES):
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise BundleError(f"{name} ({why}) is not installed here: run `make venv` first") from None
        wanted[name] = Wanted(name, distribution.version, OVERRIDES.get(name) or FROM_SOURCE.get(name) or why)
        pending += [(Requirement(text), f"required by {name} {distribution.version}") for text in distribution.requires or []]
    return sorted(wanted.values(), key=lambda w: w.name), excluded


_IMPORT_PROBE = """
import importlib, importlib.metadata as metadata, json, sys
modules = json.loads(sys.argv[1])
found = {}
for module in modules:
    before = set(sys.modules)
    try:
        importlib.import_module(module)
    except Exception as error:
        found[module] = {"error": f"{type(error).__name__}: {error}"}
        continue
    found[module] = sorted(set(sys.modules) - before)
owners = metadata.packages_distributions()
print(json.dumps({module: names if isinstance(names, dict) else sorted(
    {d for name in names for d in owners.get(name.partition(".")[0], [])}) for module, names in found.items()}))
"""


def import_needs(modules: tuple[str, ...] = GPU_IMPORTS + OPTIONAL_IMPORTS) -> dict[str, list[str] | dict]:
    """Distributions each module pulls in when imported first, in a fresh interpreter of this environment.

    Modules are imported in order, so a later one lists only what the earlier ones did not import.
    """
    done = subprocess.run([sys.executable, "-c", _IMPORT_PROBE, json.dumps(list(modules))], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    if done.returncode != 0:
        raise BundleError(f"import probe failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def uncovered(needs: dict, wanted: list[Wanted]) -> dict[str, list[str]]:
    """Per module, the distributions it imports that are neither in the image nor in the bundle."""
    have = image_packages() | {w.name for w in wanted} | {"modulus-lrsa"}
    missing = {}
    for module, dists in needs.items():
        if isinstance(dists, dict):
            missing[module] = [dists["error"]]
            continue
        lacking = sorted({canonical(d) for d in dists} - have)
        if lacking:
            missing[module] = lacking
    return missing


def download(wanted: list[Wanted], wheels: Path) -> list[Path]:
    """Fetch each wanted wheel for CPython 3.12 manylinux x86_64 into ``wheels`` (build the source-only ones).

    Files of other distributions or versions left from earlier builds are removed: two
    versions of one distribution would stop the install.
    """
    wheels.mkdir(parents=True, exist_ok=True)
    binary = [f"{w.name}=={w.version}" for w in wanted if not w.from_source]
    platform = [arg for tag in PLATFORMS for arg in ("--platform", tag)]
    commands = [[sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
                 PYTHON_VERSION, "--implementation", "cp", *platform, "-d", str(wheels), *binary]]
    for w in wanted:
        if w.from_source:  # pure Python: built here, no build isolation (setuptools is in the dev extra)
            commands.append([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                             f"{w.name}=={w.version}"])
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = [line for line in done.stderr.strip().splitlines() if line.startswith("ERROR")] or ["(no message)"]
            raise BundleError(f"pip {command[3]} failed: {tail[-1]}")
    expected = {(w.name, w.version) for w in wanted}
    kept = []
    for path in sorted(wheels.iterdir()):
        if path.suffix != ".whl" or wheel_name(path) not in expected:
            path.unlink()
            continue
        kept.append(path)
    found = {wheel_name(p) for p in kept}
    if found != expected:
        raise BundleError(f"pip left no wheel for {', '.join(sorted(f'{n}=={v}' for n, v in expected - found))}")
    for path in kept:
        if not runs_on_gpu_image(path):
            raise BundleError(f"{path.name}: not a wheel for CPython {PYTHON_VERSION} on manylinux x86_64")
    return kept


def runs_on_gpu_image(path: Path) -> bool:
    """Whether a wheel's tags accept CPython 3.12 on manylinux x86_64."""
    python, abi, platform = path.name.removesuffix(".whl").split("-")[-3:]
    platform_ok = platform == "any" or all("linux" in tag and tag.endswith("x86_64") for tag in platform.split("."))
    minor = int(PYTHON_VERSION.split(".")[1])
    python_ok = any(tag in ("py3", f"py3{minor}", f"cp3{minor}")
                    or (abi == "abi3" and tag.startswith("cp3") and int(tag[3:]) <= minor) for tag in python.split("."))
    return platform_ok and python_ok


# ------------------------------------------------------------------ CPU side: packing
def tree_bytes(root: Path = ROOT) -> int:
    """Bytes of what every call carries: tracked and untracked-not-ignored files, and shared/ if any."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout.decode().split("\0")
    paths = {root / name for name in listed if name}
    shared = root / "shared"
    if shared.is_dir():
        paths |= {p for p in shared.rglob("*") if not p.is_dir()}
    return sum(p.lstat().st_size for p in paths if p.is_symlink() or p.is_file())


def part_budget(limit_mib: float, headroom_mib: float, tree: int) -> int:
    """Bytes one part may hold beside the working tree."""
    budget = int(limit_mib * MIB) - tree - int(headroom_mib * MIB)
    if budget < MIB:
        raise BundleError(f"the working tree alone is {tree / MIB:.1f} MiB: with {headroom_mib:g} MiB of headroom, "
                          f"no room is left for wheels under the {limit_mib:g} MiB limit of one call")
    return budget


def _copy_range(source: Path, target: Path, offset: int, size: int) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        src.seek(offset)
        left = size
        while left:
            block = src.read(min(left, 4 * MIB))
            if not block:
                raise BundleError(f"{source}: shorter than its manifest says")
            dst.write(block)
            left -= len(block)


def pack(wheels: list[Path], out: Path, budget: int, wanted: list[Wanted] | None = None, tree: int = 0,
         limit_mib: float = LIMIT_MIB, excluded: dict[str, str] | None = None) -> dict:
    """Fill parts of at most ``budget`` bytes with the wheels, largest first, cutting a wheel where a part is full.

    As few parts as the bytes allow (their sum over ``budget``, rounded up): every part but
    the last is full. Writes ``out/partN/`` with the wheels, or the pieces of a cut wheel
    (``<wheel>.000``, ``.001``, ...), and a copy of the manifest in each, and
    ``out/manifest.json``; returns the manifest.
    """
    reasons = {w.name: w.reason for w in wanted or []}
    ordered = sorted(wheels, key=lambda p: (-p.stat().st_size, p.name))
    entries = []
    for path in ordered:
        name, version = wheel_name(path)
        entries.append(dict(name=name, version=version, file=path.name, size=path.stat().st_size, sha256=sha256(path),
                            reason=reasons.get(name, "")))
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        raise BundleError(f"{out}: two wheels of one distribution: {sorted(e['file'] for e in entries)}")
    digest = "".join(e["sha256"] for e in sorted(entries, key=lambda e: e["file"]))
    bundle_id = hashlib.sha256(digest.encode()).hexdigest()[:16]
    parts: list[dict] = [dict(name="part1", bytes=0, pieces=[])]
    for entry in entries:
        pieces, offset = [], 0
        while True:
            if parts[-1]["bytes"] >= budget:
                parts.append(dict(name=f"part{len(parts) + 1}", bytes=0, pieces=[]))
            size = min(budget - parts[-1]["bytes"], entry["size"] - offset)
            piece = dict(file="", wheel=entry["file"], offset=offset, size=size)
            parts[-1]["pieces"].append(piece)
            parts[-1]["bytes"] += size
            pieces.append(piece)
            offset += size
            if offset == entry["size"]:
                break
        for index, piece in enumerate(pieces):
            piece["file"] = entry["file"] if len(pieces) == 1 else f"{entry['file']}.{index:03d}"
    for stale in out.glob("part*"):
        shutil.rmtree(stale)
    sources = {path.name: path for path in ordered}
    for part in parts:
        folder = out / part["name"]
        folder.mkdir(parents=True)
        for piece in part["pieces"]:
            target, source = folder / piece["file"], sources[piece["wheel"]]
            if piece["file"] == piece["wheel"]:
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copyfile(source, target)
            else:
                _copy_range(source, target, piece["offset"], piece["size"])
            piece["sha256"] = sha256(target)
    manifest = dict(format=1, bundle_id=bundle_id, python=PYTHON_VERSION, platforms=list(PLATFORMS),
                    limit_mib=limit_mib, tree_bytes=tree, part_budget_bytes=budget,
                    wheel_bytes=sum(e["size"] for e in entries), wheels=entries, parts=parts, excluded=excluded or {})
    text = json.dumps(manifest, indent=2)
    for part in parts:
        (out / part["name"] / "manifest.json").write_text(text)
    (out / "manifest.json").write_text(text)
    return manifest


def check(out: Path, limit_mib: float, tree: int) -> list[str]:
    """One line per part: its size beside the tree against the limit. Raises if any part does not fit."""
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path}: no bundle here; run `make gpu-bundle` first")
    manifest = json.loads(manifest_path.read_text())
    lines, over = [], []
    for part in manifest["parts"]:
        folder = out / part["name"]
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        total = size + tree
        lines.append(f"{part['name']}: {size / MIB:6.1f} MiB + tree {tree / MIB:.1f} MiB = {total / MIB:6.1f} MiB "
                     f"of {limit_mib:g} MiB")
        if total > limit_mib * MIB:
            over.append(part["name"])
    if over:
        raise BundleError(f"{', '.join(over)} with the working tree exceed the {limit_mib:g} MiB of one call; "
                          "rebuild (`make gpu-bundle`) to repack for the tree's present size")
    return lines


# ------------------------------------------------------------------ GPU side (standard library only)
def _manifests(bundle: Path) -> list[tuple[Path, dict]]:
    found = []
    for folder in sorted(bundle.glob("part*")):
        path = folder / "manifest.json"
        if path.is_file():
            try:
                found.append((folder, json.loads(path.read_text())))
            except json.JSONDecodeError as error:
                raise BundleError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    return found


def assemble(bundle: Path, stage: Path) -> tuple[Path | None, list[str]]:
    """Stage the parts present under ``bundle``; once all are staged, join and check the wheels.

    Returns the folder of checked wheels (None while parts are missing) and the parts still
    to send. Staged pieces stay in ``stage/<bundle id>/`` between calls to the same machine.
    """
    found = _manifests(bundle)
    if not found:
        return _joined_earlier(bundle, stage), []
    ids = {manifest["bundle_id"] for _, manifest in found}
    if len(ids) > 1:
        raise BundleError(f"{bundle}: parts of different builds ({', '.join(sorted(ids))}); send the parts of one build")
    manifest = found[0][1]
    home = stage / manifest["bundle_id"]
    pieces = home / "pieces"
    pieces.mkdir(parents=True, exist_ok=True)
    for folder, _ in found:
        part = next((p for p in manifest["parts"] if p["name"] == folder.name), None)
        if part is None:
            raise BundleError(f"{folder}: not a part of bundle {manifest['bundle_id']}")
        for piece in part["pieces"]:
            target = pieces / piece["file"]
            if target.is_file() and target.stat().st_size == piece["size"] and sha256(target) == piece["sha256"]:
                continue
            source = folder / piece["file"]
            if not source.is_file():
                raise BundleError(f"{source}: missing from {folder.name} (the manifest lists it)")
            if sha256(source) != piece["sha256"]:
                raise BundleError(f"{source}: sha256 differs from the manifest's (damaged in transfer?); send {folder.name} again")
            shutil.copyfile(source, target)
    missing = [part["name"] for part in manifest["parts"]
               if not all((pieces / piece["file"]).is_file() for piece in part["pieces"])]
    if missing:
        return None, missing
    wheels = home / "wheels"
    wheels.mkdir(exist_ok=True)
    for entry in manifest["wheels"]:
        target = wheels / entry["file"]
        if target.is_file() and target.stat().st_size == entry["size"] and sha256(target) == entry["sha256"]:
            continue
        with target.open("wb") as stream:
            for part in manifest["parts"]:
                for piece in part["pieces"]:
                    if piece["wheel"] == entry["file"]:
                        with (pieces / piece["file"]).open("rb") as source:
                            shutil.copyfileobj(source, stream, 4 * MIB)
        if sha256(target) != entry["sha256"]:
            target.unlink()
            raise BundleError(f"{entry['file']}: the joined pieces do not give the wheel's sha256; send every part again")
    (home / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return wheels, []


def _joined_earlier(bundle: Path, stage: Path) -> Path:
    """The wheels of the bundle last joined in ``stage``, checked again, for a call that carries no part."""
    joined = sorted((d for d in stage.glob("*") if (d / "manifest.json").is_file() and (d / "wheels").is_dir()),
                    key=lambda d: (d / "manifest.json").stat().st_mtime)
    if not joined:
        raise BundleError(f"{bundle}: no part of a bundle here, and none joined in {stage} "
                          "(carry .gpu_bundle/partN; see docs/gpu.md)")
    manifest = json.loads((joined[-1] / "manifest.json").read_text())
    for entry in manifest["wheels"]:
        path = joined[-1] / "wheels" / entry["file"]
        if not path.is_file() or sha256(path) != entry["sha256"]:
            raise BundleError(f"{path}: missing or damaged since it was joined; send every part again")
    return joined[-1] / "wheels"


def device_slug(name: str) -> str:
    """Short file-name tag of a device: 'NVIDIA H100 80GB HBM3' -> 'h100', 'NVIDIA H200' -> 'h200'."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w and w not in {"nvidia", "tesla", "geforce"}]
    model = next((w for w in words if re.fullmatch(r"[a-z]+\d+[a-z]*", w)), None)
    return model or "-".join(words[:3]) or "device"


def unmet_requirements(manifest: dict) -> list[str]:
    """Requirements of the bundled wheels that what this interpreter sees does not meet (extras skipped)."""
    import importlib.metadata as metadata

    try:
        from packaging.requirements import Requirement
    except ImportError:
        return ["packaging is not importable: requirements not checked"]
    unmet = []
    for entry in manifest["wheels"]:
        try:
            requires = metadata.distribution(entry["name"]).requires or []
        except metadata.PackageNotFoundError:
            unmet.append(f"{entry['name']} {entry['version']}: not importable after the install")
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            try:
                version = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                if canonical(requirement.name) not in EXCLUDED:
                    unmet.append(f"{entry['name']} {entry['version']} needs {requirement}: not installed")
                continue
            if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
                unmet.append(f"{entry['name']} {entry['version']} needs {requirement}, found {version}")
    return unmet


def environment(stage_manifest: Path | None, allow_cpu: bool) -> dict:
    """Device, torch, CUDA and the bundle's versions, the imports the GPU run needs, unmet requirements."""
    import importlib
    import importlib.metadata as metadata
    import platform

    import torch

    info = dict(python=platform.python_version(), torch=torch.__version__, cuda=torch.version.cuda,
                cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                cuda_available=torch.cuda.is_available(), platform=platform.platform())
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(device_name=props.name, capability=f"{props.major}.{props.minor}",
                    multiprocessors=props.multi_processor_count, memory_mib=props.total_memory // MIB,
                    device_count=torch.cuda.device_count())
    else:
        info.update(device_name="cpu")
    info["slug"] = device_slug(info["device_name"]) if info["cuda_available"] else "cpu"
    imports = {}
    for module in GPU_IMPORTS:
        try:
            importlib.import_module(module)
            imports[module] = "ok"
        except Exception as error:  # reported, and the step fails below
            imports[module] = f"{type(error).__name__}: {error}"
    info["imports"] = imports
    versions = {}
    for name in ("nvidia-physicsnemo", "warp-lang", "omegaconf", "hydra-core", "tensordict", "numpy", "triton"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info["versions"] = versions
    if stage_manifest is not None and stage_manifest.is_file():
        manifest = json.loads(stage_manifest.read_text())
        info["bundle_id"] = manifest["bundle_id"]
        info["unmet_requirements"] = unmet_requirements(manifest)
    problems = [f"import {m}: {r}" for m, r in imports.items() if r != "ok"]
    if not info["cuda_available"] and not allow_cpu:
        problems.insert(0, "torch sees no CUDA device")
    info["problems"] = problems
    return info


def summary(steps: Path, env: Path | None, out: Path) -> tuple[dict, str]:
    """The run's JSON (environment and steps) and a table of the steps."""
    rows = []
    for line in steps.read_text().splitlines():
        if line.strip():
            name, status, rc, seconds, note = (line.split("\t") + [""] * 5)[:5]
            rows.append(dict(step=name, status=status, rc=int(rc) if rc.lstrip("-").isdigit() else None,
                             seconds=float(seconds) if seconds else None, note=note))
    environment_info = json.loads(env.read_text()) if env and env.is_file() else None
    failed = [r["step"] for r in rows if r["status"] in ("failed", "timed out", "not run")]
    result = dict(environment=environment_info, steps=rows, failed=failed, ok=not failed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    width = max([len(r["step"]) for r in rows] + [4])
    table = [f"{'step':{width}s}  {'status':10s}  {'seconds':>7s}  note"]
    table += [f"{r['step']:{width}s}  {r['status']:10s}  {r['seconds'] or 0:7.1f}  {r['note']}" for r in rows]
    device = environment_info and f"{environment_info.get('device_name')}, torch {environment_info.get('torch')}"
    table.append(f"{'all steps passed' if not failed else 'FAILED: ' + ', '.join(failed)}"
                 f"{f' ({device})' if device else ''}; wrote {out}")
    return result, "\n".join(table)


# ------------------------------------------------------------------ command line
def _build(args: argparse.Namespace) -> int:
    needs = import_needs()
    wanted, excluded = resolve({m: d for m, d in needs.items() if m in GPU_IMPORTS and isinstance(d, list)},
                               with_vtk=args.with_vtk)
    print(f"{len(wanted)} distributions the GPU image lacks (for CPython {PYTHON_VERSION}, manylinux x86_64):")
    for w in wanted:
        print(f"  {w.name}=={w.version}  ({w.reason})")
    for name, reason in excluded.items():
        print(f"  left out: {name} ({reason})")
    missing = uncovered(needs, wanted)
    required = {m: d for m, d in missing.items() if m not in OPTIONAL_IMPORTS}
    for module, dists in missing.items():
        kind = "needs" if module in required else "note: would need"
        print(f"  {kind} {', '.join(dists)} (imported by {module}), in neither the image nor the bundle")
    if required:
        raise BundleError(f"the GPU run imports what the bundle lacks: {json.dumps(required)}")
    print(f"import check: {', '.join(GPU_IMPORTS)} import only what the image and the bundle hold")
    if args.dry_run:
        print("dry run: nothing downloaded")
        return 0
    paths = download(wanted, args.out / "wheels")
    tree = tree_bytes()
    manifest = pack(paths, args.out, part_budget(args.limit_mib, args.headroom_mib, tree), wanted, tree, args.limit_mib,
                    excluded)
    return _report(manifest, args.out, args.limit_mib, tree)


def _report(manifest: dict, out: Path, limit_mib: float, tree: int) -> int:
    for line in check(out, limit_mib, tree):
        print(line)
    parts = len(manifest["parts"])
    print(f"{len(manifest['wheels'])} wheels, {manifest['wheel_bytes'] / MIB:.1f} MiB, in {parts} part(s) "
          f"(at most {manifest['part_budget_bytes'] / MIB:.1f} MiB each beside the {tree / MIB:.1f} MiB tree): "
          f"{parts} calls, each carrying one part, back to back; the last one runs the checks (docs/gpu.md)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="resolve, download and pack (make gpu-bundle)")
    build.add_argument("--dry-run", action="store_true", help="list what would be fetched and check the imports only")
    build.add_argument("--with-vtk", action="store_true", help="bundle VTK too (lrsa-train's data path)")
    pack_command = commands.add_parser("pack", help="pack a folder of wheels into parts")
    pack_command.add_argument("--wheels", type=Path, required=True)
    check_command = commands.add_parser("check", help="check each packed part against the limit beside the tree")
    for command in (build, pack_command, check_command):
        command.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the bundle folder (default .gpu_bundle)")
        command.add_argument("--limit-mib", type=float, default=LIMIT_MIB, help="what one call carries")
        command.add_argument("--tree-bytes", type=int, help="the working tree's size (default: measured with git)")
    for command in (build, pack_command):
        command.add_argument("--headroom-mib", type=float, default=HEADROOM_MIB, help="room left for the tree to grow")
    assemble_command = commands.add_parser("assemble", help="GPU side: stage the parts here, join them when complete")
    assemble_command.add_argument("--bundle", type=Path, default=DEFAULT_OUT)
    assemble_command.add_argument("--stage", type=Path, required=True)
    env_command = commands.add_parser("environment", help="GPU side: device, versions, imports (JSON)")
    env_command.add_argument("--manifest", type=Path)
    env_command.add_argument("--allow-cpu", action="store_true")
    env_command.add_argument("--out", type=Path, required=True)
    summary_command = commands.add_parser("summary", help="GPU side: the steps' table and JSON")
    summary_command.add_argument("--steps", type=Path, required=True)
    summary_command.add_argument("--env", type=Path)
    summary_command.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            return _build(args)
        if args.command == "pack":
            tree = tree_bytes() if args.tree_bytes is None else args.tree_bytes
            wheels = sorted(args.wheels.glob("*.whl"))
            if not wheels:
                raise BundleError(f"{args.wheels}: no .whl files")
            manifest = pack(wheels, args.out, part_budget(args.limit_mib, args.headroom_mib, tree), None, tree, args.limit_mib)
            return _report(manifest, args.out, args.limit_mib, tree)
        if args.command == "check":
            tree = tree_bytes() if args.tree_bytes is None else args.tree_bytes
            for line in check(args.out, args.limit_mib, tree):
                print(line)
            return 0
        if args.command == "assemble":
            wheels, missing = assemble(args.bundle, args.stage)
            if wheels is None:
                print(f"staged; still to send: {', '.join(missing)} (one call each, back to back)")
                return INCOMPLETE
            (args.stage / "ready").write_text(str(wheels))
            print(f"all parts staged; {len(list(wheels.glob('*.whl')))} wheels checked in {wheels}")
            return 0
        if args.command == "environment":
            info = environment(args.manifest, args.allow_cpu)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(info, indent=2))
            print(f"{info['device_name']}, torch {info['torch']} (CUDA {info['cuda']}, cuDNN {info['cudnn']}), "
                  f"physicsnemo {info['versions']['nvidia-physicsnemo']}, warp {info['versions']['warp-lang']}")
            for line in info.get("unmet_requirements", []):
                print(f"warning: {line}")
            for line in info["problems"]:
                print(f"error: {line}")
            return 1 if info["problems"] else 0
        _, table = summary(args.steps, args.env, args.out)
        print(table)
        return 0
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
