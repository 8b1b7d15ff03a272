# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The typed model descriptor: stored files load and write back unchanged, and a hostile one is one line.

``tests/data/descriptor_v1`` holds a mesh and a Darcy ``.data.json`` written at commit 62b5c39,
when the descriptor was a plain dict (tests/data/make_descriptor_fixtures.py).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modulus_lrsa.datapipes.grid import DarcyNormalizers
from modulus_lrsa.datapipes.index import CacheIndex
from modulus_lrsa.descriptor import DarcyDescriptor, DescriptorError, MeshDescriptor, ModelDescriptor, descriptor_path
from modulus_lrsa.forces import ForceSettings

STORED = Path(__file__).parent / "data" / "descriptor_v1"
PAYLOADS = {kind: json.loads((STORED / f"{kind}.data.json").read_text()) for kind in ("mesh", "darcy")}


@pytest.mark.parametrize("kind, cls", [("mesh", MeshDescriptor), ("darcy", DarcyDescriptor)])
def test_a_descriptor_written_before_the_type_loads_and_writes_back_byte_for_byte(kind, cls, tmp_path):
    descriptor = ModelDescriptor.read(STORED / f"{kind}.mdlus")
    assert type(descriptor) is cls and descriptor.kind == kind
    assert descriptor.epoch == 3 and descriptor.metrics["val_rel_l2/p"] is None
    if kind == "mesh":
        assert isinstance(descriptor.cache_index, CacheIndex) and isinstance(descriptor.forces, ForceSettings)
        assert descriptor.cache_index.cases == [] and descriptor.uses_surface and descriptor.forces.speed == "U"
        assert descriptor.target_names == ("U[0]", "U[1]", "p", "nut", "wallShearStress[0]", "wallShearStress[1]")
    else:
        assert isinstance(descriptor.normalization, DarcyNormalizers) and descriptor.view == "grid"
        assert descriptor.resolution == 9 and descriptor.fx_names == ("coeff",)
    written = descriptor.write(tmp_path / "copy.mdlus")
    assert written == descriptor_path(tmp_path / "copy.mdlus")
    assert written.read_bytes() == (STORED / f"{kind}.data.json").read_bytes()


def test_a_descriptor_round_trips_write_then_read_equal(tmp_path):
    mesh = ModelDescriptor.read(STORED / "mesh.mdlus")
    changed = dataclasses.replace(mesh, epoch=None, metrics=None, uses_volume=False,
                                  forces=ForceSettings.ground_vehicle(speed="U", reference_area=0.1))
    assert "epoch" not in changed.to_dict() and "metrics" not in changed.to_dict()
    changed.write(tmp_path / "mesh.mdlus")
    assert MeshDescriptor.read(tmp_path / "mesh.mdlus") == changed
    rng = np.random.default_rng(0)
    darcy = DarcyDescriptor(name="darcy", view="points", resolution=5, fx_names=["coeff"], embedding_names=["x", "y"],
                            target_names=["solution"],
                            normalization=DarcyNormalizers.from_arrays(rng.random((2, 5, 5)) + 1.0, rng.random((2, 5, 5))))
    darcy.write(tmp_path / "darcy.mdlus")
    read = ModelDescriptor.read(tmp_path / "darcy.mdlus")
    assert read.to_dict() == darcy.to_dict() and read.view == "points"
    with pytest.raises(DescriptorError, match="a darcy model's descriptor, not a mesh one"):
        MeshDescriptor.read(tmp_path / "darcy.mdlus")


def _with(kind: str, path: tuple[str, ...], value):
    """The stored payload of ``kind`` with the key at ``path`` set to ``value`` (``...``: removed)."""
    payload = json.loads(json.dumps(PAYLOADS[kind]))
    parent = payload
    for key in path[:-1]:
        parent = parent[key]
    if value is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return payload


@pytest.mark.parametrize("kind, path, value, message", [
    ("mesh", ("kind",), "graph", "'kind' must be 'darcy' or 'mesh', got 'graph'"),
    ("mesh", ("format",), "other", "not a modulus-lrsa data descriptor (format 'other')"),
    ("mesh", ("uses_surface",), ..., "missing keys ['uses_surface']"),
    ("mesh", ("extra",), 1, "unknown keys ['extra']"),
    ("mesh", ("fx_names",), "U", "'fx_names' must be a list of strings, got 'U'"),
    ("mesh", ("uses_volume",), 1, "'uses_volume' must be true or false, got 1"),
    ("mesh", ("epoch",), "3", "'epoch' must be an integer, got '3'"),
    ("mesh", ("metrics",), {"val_loss": "low"}, "'metrics' must be an object of numbers"),
    ("mesh", ("cache_index",), [], "'cache_index' must be an object (the training cache index), got a JSON list"),
    ("mesh", ("cache_index", "volume_channels"), 5, "(cache_index): 'volume_channels' must be a list of strings, got 5"),
    ("mesh", ("cache_index", "dimension"), 4, "(cache_index): 'dimension' must be 2 or 3, got 4"),
    ("mesh", ("cache_index", "normalization"), ..., "(cache_index): not a cache index of this version (missing keys"),
    ("mesh", ("cache_index", "normalization", "conditions", "std"), [0.0, 1.0], "cache_index.normalization.conditions is not"),
    ("mesh", ("cache_index", "settings", "volume_fields"), 7, "cache_index.settings are not the data settings"),
    ("mesh", ("forces", "chord"), "long", "forces are not force settings"),
    ("mesh", ("forces", "lift_direction"), [0.0, 0.0, 1.0], "forces are not force settings"),
    ("darcy", ("view",), "mesh", "'view' must be one of ['grid', 'points'], got 'mesh'"),
    ("darcy", ("resolution",), 0, "'resolution' must be a positive integer, got 0"),
    ("darcy", ("normalization", "solution"), ..., "normalization is not the coefficient and solution normalizers"),
])
def test_a_bad_key_is_one_line_naming_the_file_and_the_key(kind, path, value, message, tmp_path):
    model = tmp_path / "model.mdlus"
    descriptor_path(model).write_text(json.dumps(_with(kind, path, value)))
    with pytest.raises(DescriptorError) as refused:
        ModelDescriptor.read(model)
    text = str(refused.value)
    assert text.startswith(str(descriptor_path(model))) and message in text and "\n" not in text


def test_lrsa_predict_refuses_a_wrong_typed_descriptor_in_one_line(tmp_path, capsys):
    from modulus_lrsa.inference.predict import main

    model = tmp_path / "model.mdlus"
    shutil.copy(Path(__file__).parent / "data" / "lrsa_physicsnemo.mdlus", model)
    descriptor_path(model).write_text(json.dumps(_with("mesh", ("cache_index", "condition_names"), "U")))
    assert main([str(model), str(tmp_path), "-o", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert "'condition_names' must be a list of strings" in error and "\n" not in error
    assert not (tmp_path / "out").exists()


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=6)


def _paths(payload, prefix=()):
    for key, value in payload.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))


PATHS = {kind: sorted(_paths(payload)) for kind, payload in PAYLOADS.items()}


@settings(max_examples=250, deadline=None, derandomize=True)
@given(st.data())
def test_fuzz_a_descriptor_with_one_key_replaced_loads_or_is_one_line(data):
    kind = data.draw(st.sampled_from(sorted(PAYLOADS)))
    path = data.draw(st.sampled_from(PATHS[kind]))
    payload = _with(kind, path, data.draw(st.one_of(st.just(...), JSON)))
    try:
        descriptor = ModelDescriptor.from_dict(payload, "fuzz.data.json")
    except DescriptorError as error:
        assert str(error).startswith("fuzz.data.json") and "\n" not in str(error)
    else:
        # What loads is typed throughout and writes back as it was read.
        assert descriptor.to_dict() == ModelDescriptor.from_dict(descriptor.to_dict(), "again").to_dict()
        if isinstance(descriptor, MeshDescriptor):
            assert all(isinstance(name, str) for name in descriptor.cache_index.condition_names)
            descriptor.cache_index.normalizer("target")
