# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Preprocessing caches that cannot lie (issue 29): checked entries, named damage, writable folders.

The index records each entry's byte size and SHA-256. ``build_cache`` (which ``lrsa-train``
runs at every launch) checks both for every entry it reuses and rebuilds a missing,
truncated or altered one from its case's files, with one warning naming the file and why;
``MeshCache.load_case`` checks the size and the archive's own CRC-32s and names a damaged
entry in one line instead of a ``BadZipFile`` traceback. A cache folder that cannot be
written is named, with the ``data.cache_dir`` key that moves it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic_cfd_cases import cylinder_dataset

from modulus_lrsa.datapipes import MeshCache, MeshCacheConfig, MeshPointDataset, build_cache
from modulus_lrsa.errors import MeshDataError

CONFIG = MeshCacheConfig(volume_fields=["U[0,1]", "p", "nut"], surface_fields=["p"], conditions=["U", "aoa_deg"])
LOGGER = "modulus_lrsa.datapipes.cache"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two cylinder cases and their cache, built once; tests damage copies of the cache."""
    base = tmp_path_factory.mktemp("built")
    root = cylinder_dataset(base / "data", n_cases=2, n_test=0)
    cache = build_cache(root, base / "cache", CONFIG)
    intact = {case["case_id"]: cache.load_case(case) for case in cache.cases()}
    return root, base / "cache", intact


def copy_of(built, folder: Path) -> tuple[Path, Path, dict]:
    """The built cases with a private copy of their cache in ``folder``: (root, cache_dir, first entry)."""
    root, cache_dir, _ = built
    shutil.copytree(cache_dir, folder)
    entry = json.loads((folder / "index.json").read_text())["cases"][0]
    return root, folder, entry


def entry_path(cache_dir: Path, entry: dict) -> Path:
    return cache_dir / "cases" / entry["file"]


def assert_intact(cache: MeshCache, intact: dict) -> None:
    for case_id, arrays in intact.items():
        loaded = cache.load_case(case_id)
        assert set(loaded) == set(arrays)
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded[key], value, err_msg=f"{case_id}: {key}")


def warnings_about(caplog, name: str) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.levelno == logging.WARNING and record.name == LOGGER and name in record.getMessage()]


def test_the_index_records_each_entrys_size_and_sha256(built):
    _, cache_dir, _ = built
    for entry in json.loads((cache_dir / "index.json").read_text())["cases"]:
        data = entry_path(cache_dir, entry).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_truncated_entry_is_rebuilt_naming_the_file_and_both_sizes(built, tmp_path, caplog):
    root, cache_dir, entry = copy_of(built, tmp_path / "cache")
    path = entry_path(cache_dir, entry)
    path.write_bytes(path.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        cache = build_cache(root, cache_dir, CONFIG)
    [warning] = warnings_about(caplog, entry["file"])
    assert f"size 1000 != recorded {entry['size']}" in warning and "rebuilding" in warning
    assert_intact(cache, built[2])
    assert json.loads((cache_dir / "index.json").read_text())["cases"][0]["size"] == path.stat().st_size


def test_an_altered_byte_is_caught_by_the_checksum_and_rebuilt(built, tmp_path, caplog):
    root, cache_dir, entry = copy_of(built, tmp_path / "cache")
    path = entry_path(cache_dir, entry)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        cache = build_cache(root, cache_dir, CONFIG)
    [warning] = warnings_about(caplog, entry["file"])
    assert f"SHA-256 {hashlib.sha256(data).hexdigest()[:12]}" in warning and "!= recorded" in warning
    assert_intact(cache, built[2])


def test_a_missing_entry_is_rebuilt_naming_it(built, tmp_path, caplog):
    root, cache_dir, entry = copy_of(built, tmp_path / "cache")
    entry_path(cache_dir, entry).unlink()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        cache = build_cache(root, cache_dir, CONFIG)
    [warning] = warnings_about(caplog, entry["file"])
    assert "missing" in warning
    assert_intact(cache, built[2])


def test_an_intact_cache_is_reused_without_rewriting_anything(built, tmp_path, caplog):
    root, cache_dir, _ = copy_of(built, tmp_path / "cache")
    stamps = {path: path.stat().st_mtime_ns for path in cache_dir.rglob("*") if path.is_file()}
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        build_cache(root, cache_dir, CONFIG)
    assert not caplog.records
    assert {path: path.stat().st_mtime_ns for path in cache_dir.rglob("*") if path.is_file()} == stamps


def test_loading_a_damaged_entry_names_it_in_one_line_not_a_bad_zip_file(built, tmp_path):
    root, cache_dir, entry = copy_of(built, tmp_path / "cache")
    cache = MeshCache.open(cache_dir)
    path = entry_path(cache_dir, entry)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(MeshDataError, match=rf"{path}: the cache entry of case '{entry['case_id']}' is damaged "
                                            rf"\(size {entry['size'] - 10} != recorded {entry['size']}\).*build_cache") as raised:
        MeshPointDataset(cache, "train", volume_points=8, surface_points=4)[0]
    assert "\n" not in str(raised.value)
    # Same size, damaged inside: the archive's CRC-32 catches it on every read.
    data = bytearray(entry_path(built[1], entry).read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(MeshDataError, match=rf"{path}: the cache entry of case '{entry['case_id']}' is damaged \(.*CRC"):
        cache.load_case(entry["case_id"])


def test_an_entry_whose_encrypted_flag_was_flipped_is_named_not_a_runtime_error(built, tmp_path):
    # Found by fuzzing: zipfile raises RuntimeError ("password required") for such a member.
    _, cache_dir, entry = copy_of(built, tmp_path / "cache")
    path = entry_path(cache_dir, entry)
    data = bytearray(path.read_bytes())
    directory = data.index(b"PK\x01\x02")  # the first central directory record; its flags are at +8
    data[directory + 8] |= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(MeshDataError, match=r"is damaged \(unreadable archive: .*encrypted"):
        MeshCache.open(cache_dir).load_case(entry["case_id"])


def test_a_damaged_entry_whose_case_is_gone_is_refused_naming_the_case(built, tmp_path):
    root, cache_dir, entry = copy_of(built, tmp_path / "cache")
    data_copy = tmp_path / "data"
    shutil.copytree(root, data_copy)
    entry_path(cache_dir, entry).write_bytes(b"")
    shutil.rmtree(data_copy / "cases" / entry["case_id"])
    with pytest.raises(MeshDataError, match=rf"{entry['case_id']}") as raised:
        build_cache(data_copy, cache_dir, CONFIG)
    assert "\n" not in str(raised.value)


def _without_checksums(cache_dir: Path) -> None:
    """The index as the format-2 caches written before checksums were recorded."""
    index_path = cache_dir / "index.json"
    index = json.loads(index_path.read_text())
    for case in index["cases"]:
        del case["size"], case["sha256"]
    index_path.write_text(json.dumps(index, indent=2))


def test_an_index_without_checksums_is_verified_by_reading_and_its_entries_adopted(built, tmp_path, caplog):
    root, cache_dir, entry = copy_of(built, tmp_path / "cache")
    _without_checksums(cache_dir)
    path = entry_path(cache_dir, entry)
    stamp = path.stat().st_mtime_ns
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        cache = build_cache(root, cache_dir, CONFIG)
    assert not warnings_about(caplog, "")
    assert path.stat().st_mtime_ns == stamp
    assert_intact(cache, built[2])
    recorded = json.loads((cache_dir / "index.json").read_text())["cases"][0]
    assert recorded["size"] == entry["size"] and recorded["sha256"] == entry["sha256"]


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_a_damaged_entry_of_an_index_without_checksums_is_rebuilt(built, tmp_path, caplog, damage):
    root, cache_dir, entry = copy_of(built, tmp_path / "cache")
    _without_checksums(cache_dir)
    path = entry_path(cache_dir, entry)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        del data[len(data) // 3:]
    else:
        data[len(data) // 2] ^= 0x04
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        cache = build_cache(root, cache_dir, CONFIG)
    [warning] = warnings_about(caplog, entry["file"])
    assert "rebuilding" in warning
    assert_intact(cache, built[2])


@contextlib.contextmanager
def read_only(folder: Path):
    """Make ``folder`` unwritable, by a condition root cannot bypass when running as root.

    Permission bits do not stop root, so under root the immutable attribute (``chattr +i``)
    is used; where it is not available the test is skipped, saying so.
    """
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = [lambda: folder.chmod(0o755)]
    else:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root, which permission bits do not stop, and chattr +i is unavailable here")
        undo = [lambda: subprocess.run([chattr, "-i", str(folder)], check=True)]
    try:
        try:
            (folder / "probe").touch()
        except OSError:
            pass
        else:
            (folder / "probe").unlink()
            pytest.skip(f"{folder} is still writable after making it read-only on this filesystem")
        yield folder
    finally:
        for step in undo:
            step()


def test_a_read_only_data_folder_says_to_set_the_cache_dir(built, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(built[0], data)
    with read_only(data), pytest.raises(MeshDataError) as raised:
        build_cache(data, data / ".cache", CONFIG)
    message = str(raised.value)
    assert message.startswith(f"{data / '.cache'}: cannot write the preprocessing cache")
    assert "data.cache_dir=<writable folder>" in message and "\n" not in message
    assert not (data / ".cache").exists()


def test_lrsa_train_names_the_read_only_data_path_and_the_cache_dir_key(built, tmp_path):
    from hydra import compose, initialize_config_dir

    from modulus_lrsa.training.data import DataError, build_mesh_data
    from modulus_lrsa.training.train import CONFIG_DIR

    data = tmp_path / "data"
    shutil.copytree(built[0], data)
    overrides = ["data=vtk_folder", f"data.path={data}", "data.volume_fields=[p,nut]", "data.test_fraction=0.5"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        config = compose(config_name="config", overrides=overrides)
    with read_only(data), pytest.raises(DataError, match=rf"{data / '.cache'}: cannot write .*set data.cache_dir="):
        build_mesh_data(config.data, seed=0, is_writer=True, all_ranks_agree=lambda ok: ok)


def test_a_cache_folder_below_a_file_is_named(built, tmp_path):
    # ENOTDIR holds for root too: the message path of every unwritable folder.
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(MeshDataError, match=rf"{tmp_path / 'file' / 'cache'}: cannot write the preprocessing cache "
                                            r".*Not a directory.*data.cache_dir=<writable folder>"):
        build_cache(built[0], tmp_path / "file" / "cache", CONFIG)


def test_a_failed_write_during_the_build_stops_it_and_is_not_recorded_as_a_bad_case(built, tmp_path):
    # A folder where an entry goes makes its rename fail (for root too), after the folder checks passed.
    root, cache_dir, entry = copy_of(built, tmp_path / "cache")
    path = entry_path(cache_dir, entry)
    path.unlink()
    path.mkdir()
    with pytest.raises(MeshDataError, match=rf"{cache_dir / 'cases'}: cannot write the preprocessing cache \(Is a directory"):
        build_cache(root, cache_dir, CONFIG, on_error="skip")
    assert json.loads((cache_dir / "index.json").read_text())["skipped"] == []


def test_an_intact_cache_in_a_read_only_folder_is_used_as_it_is(built, tmp_path):
    root, cache_dir, _ = copy_of(built, tmp_path / "cache")
    with read_only(cache_dir), read_only(cache_dir / "cases"):
        cache = build_cache(root, cache_dir, CONFIG)
        assert_intact(cache, built[2])


def _damage(data, original: bytes) -> bytes:
    """``original`` cut at a random offset, or with one to three bytes changed at distinct random offsets."""
    damaged = bytearray(original)
    if data.draw(st.booleans(), label="truncate"):
        del damaged[data.draw(st.integers(0, len(original) - 1), label="cut at"):]
    else:
        offsets = data.draw(st.lists(st.integers(0, len(original) - 1), min_size=1, max_size=3, unique=True), label="offsets")
        for offset in offsets:
            damaged[offset] ^= data.draw(st.integers(1, 255), label="mask")
    assert damaged != original
    return bytes(damaged)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_reading_a_randomly_damaged_entry_gives_the_intact_arrays_or_one_named_error(built, tmp_path, data):
    """A change in a part of the archive no read depends on (a local header's date) reads intact."""
    _, cache_dir, intact = built
    cache = MeshCache.open(cache_dir)
    entry = cache.cases()[0]
    damaged = tmp_path / "damaged"
    damaged.mkdir(exist_ok=True)
    (damaged / "cases").mkdir(exist_ok=True)
    entry_path(damaged, entry).write_bytes(_damage(data, entry_path(cache_dir, entry).read_bytes()))
    try:
        arrays = MeshCache(damaged, cache.index).load_case(entry)
    except MeshDataError as error:
        assert str(error).startswith(f"{entry_path(damaged, entry)}: the cache entry of case") and "\n" not in str(error)
    else:
        assert set(arrays) == set(intact[entry["case_id"]])
        for key, value in intact[entry["case_id"]].items():
            np.testing.assert_array_equal(arrays[key], value, err_msg=key)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_randomly_damaged_entry_is_rebuilt_naming_it(built, data):
    """Every cut or flip changes the size or the SHA-256: the entry is rebuilt, with a warning naming it."""
    root, cache_dir, intact = built
    entry = json.loads((cache_dir / "index.json").read_text())["cases"][0]
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "cache"
        shutil.copytree(cache_dir, copy)
        entry_path(copy, entry).write_bytes(_damage(data, entry_path(cache_dir, entry).read_bytes()))
        with _captured(logging.getLogger(LOGGER)) as messages:
            cache = build_cache(root, copy, CONFIG)
        assert [message for message in messages if entry["file"] in message and "rebuilding" in message]
        assert_intact(cache, intact)


@contextlib.contextmanager
def _captured(logger: logging.Logger):
    """Warnings of ``logger`` (caplog is function-scoped, and Hypothesis runs many examples per call)."""
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
