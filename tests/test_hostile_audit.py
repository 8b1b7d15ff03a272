# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""A second hostile-input audit (issue 29): crafted files that passed the first round's loaders.

Each test is a file an outsider could hand to ``lrsa-predict`` or leave in an
``output_dir`` that ``lrsa-train`` resumes, and each failed before its fix:

* a ``model.pt`` whose tensors are stride-0 views claiming the shapes of a model of
  billions of weights (the real build allocated them), or whose entries are integers,
  booleans, complex, meta, quantized or sparse tensors (cast silently, or refused with
  torch's warnings and a message about shapes);
* a training state with only allow-listed objects but the wrong structure: missing or
  wrong-typed metadata, generator states of another kind, optimizer moments of other
  shapes (tracebacks at the first step, or deep in the resume);
* a ``.data.json`` whose channels or force settings disagree with its own cache index or
  with the model, names data files outside the case, or nests too deeply (tracebacks);
* a ``.vtm`` that references itself (a ``RecursionError``).
"""

from __future__ import annotations

import json

import pytest
import torch
from test_security_loaders import TINY, assert_one_line_refusal, members_of, torch_bytes, zip_mdlus

from modulus_lrsa.errors import ModelFileError
from modulus_lrsa.models import LRSA
from modulus_lrsa.models.trusted import load_trusted_model, load_trusted_weights

# ------------------------------------------------------------------------ model.pt


def test_stride_zero_weights_claiming_a_huge_model_are_refused_before_it_is_built(tmp_path, monkeypatch):
    # 2**14 hidden channels: about 4 * 10**9 weights, 16 GB, from a file of a few kilobytes.
    huge = {**TINY, "n_hidden": 1 << 14}
    with torch.device("meta"):
        skeleton = LRSA(**huge)
    state = {name: torch.zeros(1).expand(*value.shape) for name, value in skeleton.state_dict().items()}
    members = members_of(LRSA(**TINY))
    members["args.json"] = json.dumps({"__name__": "LRSA", "__module__": "modulus_lrsa.models.lrsa", "__args__": huge}).encode()
    members["model.pt"] = torch_bytes(state)
    path = zip_mdlus(tmp_path / "huge.mdlus", members)
    assert path.stat().st_size < 100_000
    built = []
    original = LRSA.__init__

    def record(self, *args, **kwargs):
        built.append(torch.empty(0).device.type)
        original(self, *args, **kwargs)

    monkeypatch.setattr(LRSA, "__init__", record)
    with pytest.raises(ModelFileError, match=r"build \d+ bytes of weights, but model.pt stores \d+ bytes") as refused:
        load_trusted_model(path)
    assert_one_line_refusal(refused.value, path)
    assert built == ["meta"], "the model was built for real before the weights' bytes were counted"


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64, torch.uint8])
def test_weights_of_a_non_floating_dtype_are_refused_not_cast(tmp_path, dtype):
    model = LRSA(**TINY)
    members = members_of(model)
    members["model.pt"] = torch_bytes({name: (value * 10).to(dtype) for name, value in model.state_dict().items()})
    path = zip_mdlus(tmp_path / "cast.mdlus", members)
    with pytest.raises(ModelFileError, match=f"holds {dtype} values, where the model's torch.float32 weights") as refused:
        load_trusted_model(path)
    assert_one_line_refusal(refused.value, path)
    with pytest.raises(ModelFileError, match=f"holds {dtype} values"):
        load_trusted_weights(LRSA(**TINY), path)


def test_weights_of_another_floating_dtype_still_load(tmp_path):
    model = LRSA(**TINY)
    members = members_of(model)
    members["model.pt"] = torch_bytes({name: value.double() for name, value in model.state_dict().items()})
    loaded = load_trusted_model(zip_mdlus(tmp_path / "double.mdlus", members))
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)


@pytest.mark.parametrize("kind, convert", [
    ("a meta tensor", lambda value: value.to("meta")),
    ("a quantized tensor", lambda value: torch.quantize_per_tensor(value.float(), 0.1, 0, torch.qint8)),
    ("a sparse tensor", lambda value: value.to_sparse()),
])
def test_meta_quantized_and_sparse_entries_are_named_in_one_line_without_torch_warnings(tmp_path, recwarn, kind, convert):
    model = LRSA(**TINY)
    members = members_of(model)
    state = model.state_dict()
    name = next(key for key, value in state.items() if value.dim() == 2)
    members["model.pt"] = torch_bytes({**state, name: convert(state[name])})
    path = zip_mdlus(tmp_path / "odd.mdlus", members)
    with pytest.raises(ModelFileError, match=f"entry '{name}' is {kind}") as refused:
        load_trusted_model(path)
    assert_one_line_refusal(refused.value, path)
    assert not [str(warning.message) for warning in recwarn if "torch" in warning.filename], "torch warned in lines of its own"
