# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""benchmarks/attention_backends.py in its CPU smoke mode: every candidate checked against
the float32 plain result, the JSON it writes, and the arguments it refuses."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "attention_backends.py"
ROW_KEYS = {"direction", "n_points", "n_latents", "n_head", "head_dim", "batch", "bias", "candidate", "dtype",
            "supported", "error", "exact", "fwd_ms", "bwd_ms", "fwd_tflops", "bwd_tflops", "peak_mib", "note"}


@pytest.fixture(scope="module")
def bench():
    """The script as a module, imported from its file as ``python benchmarks/...`` runs it."""
    spec = importlib.util.spec_from_file_location("attention_backends", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while being defined
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke run in a child process (it sets the thread count), its JSON and output."""
    out = tmp_path_factory.mktemp("attention") / "smoke.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--device", "cpu", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout


def test_smoke_json_names_the_machine_and_every_candidate_of_both_directions(smoke):
    result, stdout = smoke
    assert result["machine"]["torch"] == torch.__version__ and result["machine"]["device"] == "cpu"
    assert result["machine"]["device_name"]
    assert result["config"]["smoke"] and not result["stopped_by_time_limit"]
    rows = result["rows"]
    assert all(set(row) == ROW_KEYS for row in rows)
    names = {(row["direction"], row["bias"]): {r["candidate"] for r in rows
                                               if (r["direction"], r["bias"]) == (row["direction"], row["bias"])}
             for row in rows}
    assert set(names) == {("compression", False), ("compression", True), ("reconstruction", False)}
    common = {"sdpa-default", "sdpa-flash", "sdpa-efficient", "sdpa-cudnn", "sdpa-math", "sdpa-flash-pad16",
              "matmul-softmax", "matmul-softmax-f32scores"}
    assert all(common <= found for found in names.values())
    assert {"chunked128-flash", "chunked128-efficient", "chunked128-cudnn"} <= names[("reconstruction", False)]
    assert not any(name.startswith("chunked") for name in names[("compression", False)])
    assert {row["dtype"] for row in rows} == {"bf16", "fp16"}
    # One line per row and one "fastest" line per problem and precision.
    assert len(result["fastest"]) == 6 and stdout.count("fastest ") == 6


def test_every_candidate_that_runs_equals_the_plain_float32_result(smoke):
    result, _ = smoke
    tolerance = result["config"]["tolerance"]
    ran = [row for row in result["rows"] if row["supported"]]
    # On a CPU the flash, math and hand-written paths run; efficient and cuDNN are GPU kernels.
    assert {row["candidate"] for row in ran} >= {"sdpa-default", "sdpa-flash", "sdpa-math", "matmul-softmax-f32scores",
                                                 "chunked128-flash"}
    for row in ran:
        assert row["exact"] == (row["error"] <= tolerance[row["dtype"]])
        if row["candidate"] != "matmul-softmax":  # bf16 scores round the logits: near the bound, by design
            assert row["exact"], row
            assert row["error"] < tolerance[row["dtype"]] / 2, row
        if row["exact"]:
            assert row["fwd_ms"] > 0 and row["bwd_ms"] > 0 and row["fwd_tflops"] > 0
    unsupported = [row for row in result["rows"] if row["supported"] is False]
    assert unsupported and all(row["candidate"].split("-")[1] in ("efficient", "cudnn") for row in unsupported)
    assert all(row["note"] and row["fwd_ms"] is None for row in unsupported)
    for best in result["fastest"]:
        assert best["candidate"] in {row["candidate"] for row in ran if row["exact"]}


def test_a_candidate_far_from_the_plain_result_is_reported_and_not_timed(bench, monkeypatch):
    args = bench.parse_args(["--smoke", "--device", "cpu"])
    problem = bench.Problem("reconstruction", 256, 64, 8, 10, 1, False)
    plain = bench.sdpa("math")

    def off_by_a_percent(q, k, v, bias, n_head):
        return plain(q, k, v, bias, n_head) * 1.01

    monkeypatch.setattr(bench, "candidates", lambda problem, chunk_sizes: {"scaled": off_by_a_percent, "plain": plain})
    rows = {row["candidate"]: row for row in bench.measure(problem, "fp16", args, torch.device("cpu"))}
    assert rows["scaled"]["exact"] is False and rows["scaled"]["fwd_ms"] is None
    assert rows["scaled"]["note"].startswith("inexact: error 1.0") and rows["plain"]["exact"]


@pytest.mark.parametrize("args, message", [
    (["--device", "cpu"], "--device cpu: without a GPU only --smoke runs"),
    (["--smoke", "--device", "cpu", "--repeats", "0"], "--repeats must be >= 1"),
    (["--device", "cuda", "--sizes", "0"], "--sizes: every value must be >= 1"),
])
def test_bad_arguments_are_refused_in_one_line(bench, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        bench.parse_args(args)
    assert exit_.value.code == 2 and message in capsys.readouterr().err.strip().splitlines()[-1]


def test_options_given_beside_smoke_win(bench):
    args = bench.parse_args(["--smoke", "--device", "cpu", "--repeats", "3", "--sizes", "256"])
    assert (args.repeats, args.sizes, args.warmup) == (3, [256], bench.SMOKE["warmup"])
