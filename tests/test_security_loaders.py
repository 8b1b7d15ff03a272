# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""No file that someone else wrote runs code when it is loaded (issue 29, items 1 and 2).

A crafted training state (``checkpoint.0.<N>.pt``) whose pickle calls ``os.system``, a
``.mdlus`` whose ``args.json`` names a module of the attacker's choice (a ``payload_mod.py``
shipped beside the model), and a ``.mdlus`` whose ``model.pt`` carries a pickle payload are
each refused in one line that names the file, and the payload's marker file never appears.
Each payload is first shown to be live: the unguarded loader runs it. Hypothesis then
throws random bytes, random archives with mutated JSON and truncated real files at both
loaders: every outcome is a loaded model or a one-line refusal of the loaders' own types.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import random
import shlex
import sys
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import physicsnemo
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from physicsnemo.distributed import DistributedManager

from modulus_lrsa.errors import ModelFileError, UntrustedFileError
from modulus_lrsa.models import LRSA, save_legacy_checkpoint
from modulus_lrsa.models.ablations import LatentMLPLRSA, TiedLRSA
from modulus_lrsa.models.trusted import TRAINED_CLASSES, check_model_file, load_trusted_model, load_trusted_weights
from modulus_lrsa.training.checkpoint import (
    CheckpointError,
    CheckpointManager,
    atomic_save_module,
    gather_rng_states,
    load_training_state,
    restore_rng_state,
)
from modulus_lrsa.training.train import reported_errors

DATA = Path(__file__).parent / "data"
TINY = dict(functional_dim=2, out_dim=1, embedding_dim=2, n_layers=1, n_hidden=8, n_head=2, n_latents=4,
            n_frequencies=2, mlp_ratio=1.0)
FUZZ = settings(max_examples=70, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Payload:
    """Pickles as ``os.system("touch <marker>")``: harmless, and proof that it ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def zip_mdlus(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def members_of(model: torch.nn.Module) -> dict[str, bytes]:
    return {
        "model.pt": torch_bytes(model.state_dict()),
        "args.json": json.dumps(model._args).encode(),
        "metadata.json": json.dumps({"mdlus_file_version": "0.1.0"}).encode(),
    }


def assert_one_line_refusal(error: BaseException, path: Path) -> None:
    message = str(error)
    assert str(path) in message and "\n" not in message, message
    assert "weights_only" not in message, message  # never the advice to turn the check off


def outputs(model: torch.nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    fx, embedding = torch.randn(1, 30, 2, generator=generator), torch.rand(1, 30, 2, generator=generator)
    with torch.no_grad():
        return model.eval()(fx, embedding=embedding)


def transolver(**overrides):
    from physicsnemo.models.transolver import Transolver

    return Transolver(**{**dict(functional_dim=2, out_dim=1, embedding_dim=2, n_layers=1, n_hidden=8, n_head=2,
                                slice_num=4, use_te=False), **overrides})


# ------------------------------------------------------------------------ training state


def saved_run(folder: Path, epoch: int = 1) -> tuple[CheckpointManager, torch.nn.Module, torch.optim.Optimizer]:
    """A real checkpoint of a tiny LRSA after one optimizer step, with every state lrsa-train stores."""
    # As in lrsa-train, before the states are captured: its start-up reseeds NumPy.
    DistributedManager.initialize()
    model = LRSA(**TINY)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=10)
    scaler = torch.amp.GradScaler("cpu")
    generator = torch.Generator().manual_seed(1)
    fx, embedding = torch.randn(1, 30, 2, generator=generator), torch.rand(1, 30, 2, generator=generator)
    model(fx, embedding=embedding).square().mean().backward()
    optimizer.step()
    scheduler.step()
    metadata = {"global_step": 1, "skipped_steps": 0, "world_size": 1, "best_metric": np.float64(0.5), "best_epoch": 1,
                "history": [{"epoch": 1, "val/loss": np.float32(0.25)}], "rng_states": gather_rng_states(1)}
    manager = CheckpointManager(folder, keep_last=2, writer=True)
    manager.save(epoch, model, optimizer, scheduler, scaler, metadata)
    return manager, model, optimizer


def test_a_checkpoint_saved_by_the_manager_loads_back_with_weights_only(tmp_path):
    manager, model, optimizer = saved_run(tmp_path / "checkpoints")
    expected_python, expected_numpy = random.random(), np.random.rand()
    fresh = LRSA(**TINY)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    resumed = manager.load_newest(fresh, fresh_optimizer, torch.amp.GradScaler("cpu"), lambda epoch, metadata: None)
    assert resumed.epoch == 1 and resumed.scheduler_state["last_epoch"] == 1
    for name, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[name], value, rtol=0, atol=0)
    assert fresh_optimizer.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    assert resumed.metadata["history"][0]["val/loss"] == np.float32(0.25)
    restore_rng_state(resumed.metadata["rng_states"][0])
    assert (random.random(), np.random.rand()) == (expected_python, expected_numpy)


def test_the_training_state_written_before_the_change_loads_with_weights_only():
    state = load_training_state(DATA / "train_checkpoint_v1" / "checkpoints" / "checkpoint.0.1.pt")
    assert state["epoch"] == 1 and state["metadata"]["rng_states"][0]["numpy"][0] == "MT19937"


def test_a_crafted_training_state_is_refused_in_one_line_and_its_payload_never_runs(tmp_path, capsys):
    folder = tmp_path / "run" / "checkpoints"
    manager, _, _ = saved_run(folder)
    marker = tmp_path / "marker"
    state_file = folder / "checkpoint.0.1.pt"
    crafted = {"epoch": 1, "optimizer_state_dict": {}, "metadata": {"payload": Payload(marker)}}
    state_file.write_bytes(torch_bytes(crafted))
    # The payload is live: the loader before the fix (weights_only=False) runs it.
    live = tmp_path / "live.pt"
    live.write_bytes(torch_bytes({"x": Payload(tmp_path / "live-marker")}))
    torch.load(live, weights_only=False)
    assert (tmp_path / "live-marker").exists()

    model = LRSA(**TINY)
    with pytest.raises(CheckpointError, match="holds objects outside the allowed training state") as refused:
        manager.load_newest(model, torch.optim.AdamW(model.parameters()), torch.amp.GradScaler("cpu"),
                            lambda epoch, metadata: None)
    assert_one_line_refusal(refused.value, state_file)
    assert "posix.system" in str(refused.value) or "nt.system" in str(refused.value)
    assert not marker.exists()

    # What lrsa-train prints for it: one line, exit status 1.
    with pytest.raises(SystemExit) as exited, reported_errors(OmegaConf.create({"output_dir": str(tmp_path / "run")})):
        raise refused.value
    assert exited.value.code == 1
    printed = capsys.readouterr().err.strip()
    assert printed.startswith("lrsa-train: error: ") and "\n" not in printed and str(state_file) in printed


@pytest.mark.parametrize("junk", [b"", b"not a checkpoint", torch_bytes([1, 2, 3])])
def test_a_training_state_that_is_no_dict_of_states_is_one_line(tmp_path, junk):
    path = tmp_path / "checkpoint.0.1.pt"
    path.write_bytes(junk)
    with pytest.raises(CheckpointError) as refused:
        load_training_state(path)
    assert_one_line_refusal(refused.value, path)


# ------------------------------------------------------------------------ .mdlus: the class


def write_payload_module(folder: Path, marker: Path) -> None:
    (folder / "payload_mod.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\nclass Anything: pass\n")


def test_a_model_file_naming_a_module_beside_it_is_refused_without_importing_it(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    write_payload_module(tmp_path, marker)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    members = members_of(LRSA(**TINY))
    members["args.json"] = json.dumps({"__name__": "Anything", "__module__": "payload_mod", "__args__": {}}).encode()
    path = zip_mdlus(tmp_path / "model.mdlus", members)

    for loader in (check_model_file, load_trusted_model):
        with pytest.raises(UntrustedFileError, match="names the class 'payload_mod.Anything'") as refused:
            loader(path)
        assert_one_line_refusal(refused.value, path)
        assert "modulus_lrsa.models.lrsa.LRSA" in str(refused.value)  # says what is accepted
    assert not marker.exists() and "payload_mod" not in sys.modules

    # The hole is real: PhysicsNeMo's loader imports the module the file names.
    with contextlib.suppress(Exception), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        physicsnemo.Module.from_checkpoint(str(path))
    sys.modules.pop("payload_mod", None)
    assert marker.exists()


@pytest.mark.parametrize("module, name", [("antigravity", "geohash"), ("os", "system"), ("modulus_lrsa.models.lrsa", "MLP"),
                                          ("torch.nn", "Linear"), ("modulus_lrsa.models.lrsa", "LRSA.__init__")])
def test_a_model_file_naming_any_other_class_is_refused(tmp_path, module, name):
    members = members_of(LRSA(**TINY))
    members["args.json"] = json.dumps({"__name__": name, "__module__": module, "__args__": {}}).encode()
    path = zip_mdlus(tmp_path / "model.mdlus", members)
    already = set(sys.modules)
    with pytest.raises(UntrustedFileError) as refused:
        load_trusted_model(path)
    assert_one_line_refusal(refused.value, path)
    assert set(sys.modules) == already


def test_a_model_file_whose_weights_carry_a_pickle_payload_is_refused(tmp_path):
    marker = tmp_path / "marker"
    model = LRSA(**TINY)
    members = members_of(model)
    members["model.pt"] = torch_bytes({**model.state_dict(), "payload": Payload(marker)})
    path = zip_mdlus(tmp_path / "model.mdlus", members)
    with pytest.raises(UntrustedFileError, match=r"model\.pt holds objects other than tensors \((posix|nt)\.system\)"
                       ) as refused:
        load_trusted_model(path)
    assert_one_line_refusal(refused.value, path)
    assert not marker.exists()
    torch.load(io.BytesIO(members["model.pt"]), weights_only=False)  # the payload is live
    assert marker.exists()


def test_resuming_refuses_a_model_file_that_names_another_class_or_carries_a_payload(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    manager, model, _ = saved_run(folder)
    marker = tmp_path / "marker"
    write_payload_module(tmp_path, marker)
    monkeypatch.syspath_prepend(str(tmp_path))
    model_file = folder / "LRSA.0.1.mdlus"
    members = members_of(model)
    members["args.json"] = json.dumps({**model._args, "__module__": "payload_mod", "__name__": "Anything"}).encode()
    zip_mdlus(model_file, members)
    fresh = LRSA(**TINY)
    with pytest.raises(CheckpointError, match="names the class 'payload_mod.Anything'") as refused:
        manager.load_newest(fresh, torch.optim.AdamW(fresh.parameters()), torch.amp.GradScaler("cpu"),
                            lambda epoch, metadata: None)
    assert_one_line_refusal(refused.value, model_file)
    assert "payload_mod" not in sys.modules

    members = members_of(model)
    members["model.pt"] = torch_bytes({**model.state_dict(), "payload": Payload(marker)})
    zip_mdlus(model_file, members)
    with pytest.raises(CheckpointError, match="holds objects other than tensors") as refused:
        manager.load_newest(fresh, torch.optim.AdamW(fresh.parameters()), torch.amp.GradScaler("cpu"),
                            lambda epoch, metadata: None)
    assert_one_line_refusal(refused.value, model_file)
    assert not marker.exists()


def test_resuming_a_model_file_of_other_sizes_says_it_does_not_fit(tmp_path):
    folder = tmp_path / "checkpoints"
    manager, _, _ = saved_run(folder)
    atomic_save_module(LRSA(**{**TINY, "n_hidden": 16}), folder / "LRSA.0.1.mdlus")
    fresh = LRSA(**TINY)
    with pytest.raises(CheckpointError, match="does not fit the LRSA it is loaded into") as refused:
        manager.load_newest(fresh, torch.optim.AdamW(fresh.parameters()), torch.amp.GradScaler("cpu"),
                            lambda epoch, metadata: None)
    assert_one_line_refusal(refused.value, folder / "LRSA.0.1.mdlus")


# ------------------------------------------------------------------------ .mdlus: real files


def every_trained_class():
    from physicsnemo.models.flare import FLARE
    from physicsnemo.models.geotransolver import GeoTransolver

    common = dict(out_dim=1, n_layers=1, n_hidden=8, n_head=2)
    return [
        LRSA(**TINY), TiedLRSA(**TINY), LatentMLPLRSA(**TINY), transolver(),
        FLARE(functional_dim=2, embedding_dim=2, slice_num=4, use_te=False, **common),
        GeoTransolver(functional_dim=4, geometry_dim=2, slice_num=4, use_te=False, **common),
    ]


def test_the_allow_list_is_what_physicsnemo_writes_for_each_class_lrsa_train_exports(tmp_path):
    written = []
    for model in every_trained_class():
        path = tmp_path / f"{type(model).__name__}.mdlus"
        model.save(str(path))
        args = json.loads(zipfile.ZipFile(path).read("args.json"))
        written.append(f"{args['__module__']}.{args['__name__']}")
        assert check_model_file(path) is type(model)
        loaded = load_trusted_model(path)
        assert type(loaded) is type(model)
        for name, value in model.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[name], value, rtol=0, atol=0)
    assert tuple(written) == TRAINED_CLASSES


@pytest.mark.parametrize("make", [lambda: LRSA(**TINY), transolver], ids=["LRSA", "Transolver"])
def test_a_real_model_round_trips_to_the_same_outputs(tmp_path, make):
    model = make()
    path = atomic_save_module(model, tmp_path / "model.mdlus")
    torch.testing.assert_close(outputs(load_trusted_model(path)), outputs(model), rtol=0, atol=0)
    other = make()
    load_trusted_weights(other, path)
    torch.testing.assert_close(outputs(other), outputs(model), rtol=0, atol=0)


def test_a_legacy_tar_model_file_loads(tmp_path):
    model = LRSA(**TINY)
    path = save_legacy_checkpoint(model, tmp_path / "legacy.mdlus")
    assert tarfile.is_tarfile(path)
    torch.testing.assert_close(outputs(load_trusted_model(path)), outputs(model), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["lrsa_modulus.mdlus", "lrsa_physicsnemo.mdlus"])
def test_stored_model_files_of_both_hosts_give_their_reference_outputs(name):
    reference = torch.load(DATA / "lrsa_reference.pt", weights_only=True)
    model = load_trusted_model(DATA / name).eval()
    with torch.no_grad():
        out = model(reference["fx"], reference["embedding"], mask=reference["mask"], weights=reference["weights"])
    torch.testing.assert_close(out, reference["out"], atol=1e-5, rtol=1e-5)


def test_a_release_0_1_model_file_gives_its_stored_outputs():
    stored = torch.load(DATA / "lrsa_release_0_1_outputs.pt", weights_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # its qk_gain
        model = load_trusted_model(DATA / "lrsa_release_0_1.mdlus").eval()
    with torch.no_grad():
        out = model(stored["fx"], stored["embedding"], mask=stored["mask"], weights=stored["weights"])
    torch.testing.assert_close(out, stored["out"], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda m: {**m, "extra.py": b"x", "../escape": b"x"}, "is not a plain file name"),
        (lambda m: {k: v for k, v in m.items() if k != "metadata.json"}, "no metadata.json"),
        (lambda m: {**m, "args.json": b"[1, 2]"}, "args.json holds a JSON list, not an object"),
        (lambda m: {**m, "args.json": b'{"__name__": "LRSA", "__module__": "modulus_lrsa.models.lrsa", '
                                       b'"__args__": {"functional_dim": NaN}}'}, "args.json is not valid JSON"),
        (lambda m: {**m, "args.json": b"[" * 200_000}, "args.json is not valid JSON"),
        (lambda m: {**m, "args.json": json.dumps({**json.loads(m["args.json"]), "__physicsnemo.Module__.x": {}}).encode()},
         "besides __name__, __module__ and __args__"),
        (lambda m: {**m, "args.json": json.dumps({**json.loads(m["args.json"]), "__args__": {
            **json.loads(m["args.json"])["__args__"], "n_layers": 10**6}}).encode()}, "n_layers=1000000"),
        (lambda m: {**m, "args.json": json.dumps({**json.loads(m["args.json"]), "__args__": {
            **json.loads(m["args.json"])["__args__"], "n_hidden": 10**12}}).encode()}, "LRSA refuses args.json's arguments"),
        (lambda m: {**m, "metadata.json": b'{"mdlus_file_version": ["0.1.0"]}'}, "mdlus_file_version"),
        (lambda m: {**m, "model.pt": torch_bytes([torch.zeros(1)])}, "model.pt holds a list, not a state dict"),
        (lambda m: {**m, "model.pt": torch_bytes({"w": 1})}, "not a dense tensor"),
        (lambda m: {**m, "model.pt": b"junk"}, "model.pt"),
    ],
)
def test_malformed_model_files_are_one_line_refusals(tmp_path, change, reason):
    path = zip_mdlus(tmp_path / "model.mdlus", change(members_of(LRSA(**TINY))))
    with pytest.raises(ModelFileError, match=reason.replace("(", r"\(").replace("[", r"\[")) as refused:
        load_trusted_model(path)
    assert_one_line_refusal(refused.value, path)


# ------------------------------------------------------------------------ fuzzing

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_REAL = LRSA(**TINY)
REAL_MEMBERS = members_of(_REAL)
REAL_ARGS = json.loads(REAL_MEMBERS["args.json"])


@st.composite
def mutated_args(draw) -> bytes:
    args = json.loads(json.dumps(REAL_ARGS))
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["top", "arg", "drop-top", "drop-arg", "class"]))
        if where == "top":
            args[draw(st.sampled_from(["__name__", "__module__", "__args__", "extra"]))] = draw(JSON)
        elif where == "class":
            args["__module__"], args["__name__"] = draw(st.sampled_from(
                [name.rpartition(".")[::2] for name in TRAINED_CLASSES] + [("payload_mod", "Anything"), ("os", "system")]))
        elif isinstance(args.get("__args__"), dict) and args["__args__"]:
            key = draw(st.sampled_from(sorted(args["__args__"])))
            if where == "arg":
                args["__args__"][key] = draw(JSON)
            elif where == "drop-arg":
                del args["__args__"][key]
        elif where == "drop-top" and args:
            del args[draw(st.sampled_from(sorted(args)))]
    return json.dumps(args).encode()


def model_pt_choices(marker: Path):
    state = _REAL.state_dict()
    real = REAL_MEMBERS["model.pt"]
    return st.one_of(
        st.just(real),
        st.builds(lambda cut: real[:cut], st.integers(0, len(real) - 1)),
        st.just(torch_bytes({**state, "payload": Payload(marker)})),
        st.builds(torch_bytes, JSON),
        st.binary(max_size=64),
    )


def archive_bytes(members: list[tuple[str, bytes]], kind: str) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of duplicate names, which are the point
        if kind == "zip":
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in members:
                    archive.writestr(name, data)
        else:
            with tarfile.open(fileobj=buffer, mode="w") as archive:
                for name, data in members:
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def assert_loaded_or_refused(path: Path, marker: Path) -> None:
    try:
        model = load_trusted_model(path)
    except ModelFileError as error:
        assert_one_line_refusal(error, path)
    else:
        assert f"{type(model).__module__}.{type(model).__name__}" in TRAINED_CLASSES
    assert not marker.exists()
    assert "payload_mod" not in sys.modules


@pytest.fixture
def fuzz_folder(tmp_path, monkeypatch):
    write_payload_module(tmp_path, tmp_path / "marker")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@FUZZ
@given(data=st.data())
def test_fuzz_random_model_archives_load_or_are_refused_in_one_line(fuzz_folder, data):
    marker = fuzz_folder / "marker"
    members = {
        "args.json": data.draw(st.one_of(mutated_args(), st.builds(lambda v: json.dumps(v).encode(), JSON),
                                         st.binary(max_size=32))),
        "metadata.json": data.draw(st.sampled_from([REAL_MEMBERS["metadata.json"], b"{}", b'{"mdlus_file_version": 1}',
                                                    b"null"])),
        "model.pt": data.draw(model_pt_choices(marker)),
    }
    # Usually all three members, sometimes one missing; extras include unsafe names and a duplicate.
    listed = [(name, content) for name, content in members.items() if data.draw(st.integers(0, 9))]
    extras = data.draw(st.lists(st.sampled_from(["extra.bin", "../model.pt", "/args.json", "a/b", "args.json"]), max_size=3))
    listed += [(name, b"x") for name in extras]
    path = fuzz_folder / "fuzz.mdlus"
    path.write_bytes(archive_bytes(listed, data.draw(st.sampled_from(["zip", "tar"]))))
    assert_loaded_or_refused(path, marker)


@FUZZ
@given(junk=st.binary(max_size=512), prefix=st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06" + b"\0" * 18]))
def test_fuzz_random_bytes_are_refused_as_model_files(fuzz_folder, junk, prefix):
    path = fuzz_folder / "junk.mdlus"
    path.write_bytes(prefix + junk)
    assert_loaded_or_refused(path, fuzz_folder / "marker")


@pytest.fixture(scope="module")
def real_files(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("real")
    zip_path = atomic_save_module(_REAL, folder / "zip.mdlus")
    tar_path = save_legacy_checkpoint(_REAL, folder / "tar.mdlus")
    manager, _, _ = saved_run(folder / "checkpoints")
    return {"zip": zip_path.read_bytes(), "tar": tar_path.read_bytes(),
            "state": manager.training_state_file(1).read_bytes()}


@FUZZ
@given(data=st.data())
def test_fuzz_truncated_and_flipped_real_model_files(fuzz_folder, real_files, data):
    original = real_files[data.draw(st.sampled_from(["zip", "tar"]))]
    damaged = bytearray(original[: data.draw(st.integers(0, len(original)))])
    for _ in range(data.draw(st.integers(0, 3))):
        if damaged:
            damaged[data.draw(st.integers(0, len(damaged) - 1))] ^= data.draw(st.integers(1, 255))
    path = fuzz_folder / "damaged.mdlus"
    path.write_bytes(bytes(damaged))
    assert_loaded_or_refused(path, fuzz_folder / "marker")


@FUZZ
@given(data=st.data())
def test_fuzz_damaged_training_states_load_or_are_refused_in_one_line(tmp_path, real_files, data):
    marker = tmp_path / "marker"
    original = data.draw(st.sampled_from([real_files["state"],
                                          torch_bytes({"epoch": 1, "optimizer_state_dict": {}, "x": Payload(marker)})]))
    damaged = bytearray(original[: data.draw(st.integers(0, len(original)))])
    for _ in range(data.draw(st.integers(0, 3))):
        if damaged:
            damaged[data.draw(st.integers(0, len(damaged) - 1))] ^= data.draw(st.integers(1, 255))
    path = tmp_path / "checkpoint.0.1.pt"
    path.write_bytes(bytes(damaged))
    try:
        state = load_training_state(path)
    except CheckpointError as error:
        assert_one_line_refusal(error, path)
    else:
        assert isinstance(state, dict) and isinstance(state["optimizer_state_dict"], dict)
    assert not marker.exists()


# ------------------------------------------------------------------------ the package's own loaders


def _calls(name: str):
    """(file, line, call) of every call of ``...<name>(...)`` in the package's source."""
    import modulus_lrsa

    package = Path(modulus_lrsa.__file__).parent
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
                yield path.relative_to(package.parent), node.lineno, node


def test_every_torch_load_of_the_package_is_weights_only():
    loads = list(_calls("load"))
    torch_loads = [(path, line, node) for path, line, node in loads
                   if isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"]
    assert torch_loads  # the scan sees them
    for path, line, node in torch_loads:
        keywords = {keyword.arg: keyword.value for keyword in node.keywords}
        assert getattr(keywords.get("weights_only"), "value", None) is True, f"{path}:{line}: torch.load without weights_only=True"


def test_no_loader_of_the_package_imports_what_a_file_names_or_unpickles_numpy_objects():
    offenders = [f"{path}:{line}" for path, line, _ in _calls("from_checkpoint")]
    offenders += [f"{path}:{line}" for path, line, node in _calls("load")
                  if any(k.arg == "allow_pickle" and getattr(k.value, "value", False) is True for k in node.keywords)]
    assert offenders == [], "use modulus_lrsa.models.trusted / allow_pickle=False instead"
