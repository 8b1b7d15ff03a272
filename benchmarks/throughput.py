# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Training-step cost of LRSA vs PhysicsNeMo's Transolver and FLARE at matched parameters.

For each point count N and precision, every model runs forward + backward on one sample;
the models are interleaved within each repeat so that machine noise hits them alike, and
the median over repeats is reported. Peak memory is the extra memory of one training step:
``torch.cuda.max_memory_allocated`` on a GPU, and on a CPU the rise of the peak resident set
size (VmHWM, reset just before the step) of a fresh child process per measurement.

    .venv/bin/python benchmarks/throughput.py                 # full table, writes JSON
    .venv/bin/python benchmarks/throughput.py --sizes 4096 16384 --repeats 3
    .venv/bin/python benchmarks/throughput.py --update-readme  # rewrite the README table

Widths: the reference models run at ``--width`` (128 or 256); LRSA's width is chosen so its
parameter count lands within 10% of Transolver's (its block holds three attentions and three
FFNs, so it is narrower at equal parameters). ``--same-width`` builds LRSA at ``--width`` too,
every model at one width (``--width 128 --same-width``: all at 128):

    .venv/bin/python benchmarks/throughput.py --width 128 --same-width --out benchmarks/results/throughput_w128.json

``--cuda-graphs`` (on a GPU) adds, per model, the whole training step of ``lrsa-train``
(:class:`~modulus_lrsa.training.step.TrainingStep`: relative L2 loss, backward, clipping,
fused AdamW) run eagerly and captured in one CUDA graph (``training.cuda_graphs=true``),
timed in the same interleaved loop. The JSON and the table name the device (the GPU's name,
or the CPU model from ``/proc/cpuinfo``).

How far from the hardware: each model's matmul and attention FLOPs of one step are counted
(``torch.utils.flop_counter``; CPU flash attention by the same formula torch uses on GPUs)
and divided by its median time, beside this machine's rate for the models' per-point
linear, an ``(N, d) @ (d, d)`` matmul at each model width, timed in the same interleaved
loop. ``--compile`` adds LRSA and FLARE under ``torch.compile`` (what ``training.compile=true``
runs), timed after compiling; their memory is probed in a fresh process that compiles and
runs two steps first, then hands freed memory back to the system (``malloc_trim``) and
measures a third. ``--dispatch N`` counts the operators one step dispatches and times the step at
N points, few enough that launching them is all the step costs, which bounds a GPU step:

    .venv/bin/python benchmarks/throughput.py --dispatch 64 --sizes 64 --repeats 20 \
        --out benchmarks/results/dispatch_cpu.json

``--count-only`` with ``--dispatch`` counts and times nothing (a shared machine's count is
exact, its times are not): the operators per model and precision, the most frequent ones
by name, and LRSA's count on its plain path (``fused_ops(False)``) beside its fused one.
"""

from __future__ import annotations

import argparse
import collections
import copy
import ctypes
import ctypes.util
import gc
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from modulus_lrsa.models.attention import fused_ops
from modulus_lrsa.surrogate import ModelInputs
from modulus_lrsa.training.step import WARMUP_STEPS, TrainingStep

ROOT = Path(__file__).resolve().parents[1]
README_BEGIN = "<!-- throughput:begin -->"
README_END = "<!-- throughput:end -->"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# LRSA width and MLP ratio giving a parameter count within 10% of Transolver's at each width.
LRSA_WIDTH = {128: 80, 256: 160}


def build_model(name: str, width: int, same_width: bool = False) -> torch.nn.Module:
    """One of the compared models; LRSA at its matched-parameter width, or at ``width`` with ``same_width``."""
    common = dict(functional_dim=1, out_dim=1, embedding_dim=2, n_layers=8, n_head=8)
    if name == "LRSA":
        from modulus_lrsa.models import LRSA

        return LRSA(**common, n_hidden=width if same_width else LRSA_WIDTH[width], n_latents=64, mlp_ratio=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "Transolver":
            from physicsnemo.models.transolver import Transolver

            return Transolver(**common, n_hidden=width, mlp_ratio=2, slice_num=64, use_te=False)
        from physicsnemo.models.flare import FLARE

        return FLARE(**common, n_hidden=width, mlp_ratio=2, slice_num=64)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model as /proc/cpuinfo gives it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def make_inputs(n_points: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(n_points)
    fx = torch.randn(1, n_points, 1, generator=generator)
    embedding = torch.rand(1, n_points, 2, generator=generator)
    return fx.to(device), embedding.to(device)


def train_step(model, fx, embedding, dtype: torch.dtype) -> None:
    model.zero_grad(set_to_none=True)
    with torch.autocast(fx.device.type, dtype=dtype, enabled=dtype != torch.float32):
        out = model(fx, embedding)
    out.float().square().mean().backward()
    if fx.device.type == "cuda":
        torch.cuda.synchronize()


#: Models ``--compile`` also times under torch.compile, each as "<name> compiled".
COMPILED_MODELS = ("LRSA", "FLARE")
COMPILED = " compiled"


def _cpu_flash_forward_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_flash_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


#: torch counts SDPA's GPU kernels only; the CPU flash kernel does the same arithmetic.
CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_forward_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_flash_backward_flops,
}


def step_flops(model, fx, embedding, dtype: torch.dtype) -> int:
    """Matmul, convolution and attention FLOPs of one forward + backward."""
    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS) as counter:
        train_step(model, fx, embedding, dtype)
    return counter.get_total_flops()


#: Suffixes of the ``--cuda-graphs`` rows: lrsa-train's whole step, eager and captured.
STEP_EAGER, STEP_GRAPH = " step", " graph"


def training_steps(model: torch.nn.Module, precision: str) -> dict[str, TrainingStep]:
    """lrsa-train's step on two copies of ``model``, eager and captured, each with fused AdamW."""
    steps = {}
    for suffix, graphs in ((STEP_EAGER, False), (STEP_GRAPH, True)):
        twin = copy.deepcopy(model)
        optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-4, fused=True)
        scaler = torch.amp.GradScaler("cuda", enabled=False)
        steps[suffix] = TrainingStep(twin, ModelInputs(twin), optimizer, precision, scaler, 1.0,
                                     agree=lambda ok: ok, cuda_graphs=graphs)
    return steps


def step_seconds(step: TrainingStep, batch: dict) -> float:
    # The step reads its loss back to the host, so it has finished when it returns.
    start = time.perf_counter()
    step(batch)
    return time.perf_counter() - start


def time_training_steps(models: dict, names: list[str], precision: str, fx, embedding, repeats: int) -> dict:
    """Median seconds of the eager and the captured training step per model (None: out of memory)."""
    batch = {"fx": fx, "embedding": embedding, "target": torch.randn_like(fx)}
    steps, times = {}, {}
    for name in names:
        try:
            for suffix, step in training_steps(models[name], precision).items():
                for _ in range(WARMUP_STEPS + 1):  # warm-up, then (for the graph) the capture
                    step(batch)
                steps[name + suffix], times[name + suffix] = step, []
        except torch.cuda.OutOfMemoryError:
            times.update({name + STEP_EAGER: None, name + STEP_GRAPH: None})
            steps.pop(name + STEP_EAGER, None)
    for _ in range(repeats):
        for key, step in steps.items():
            times[key].append(step_seconds(step, batch))
    del steps
    torch.cuda.empty_cache()
    return times


def matmul_seconds(a: torch.Tensor, b: torch.Tensor) -> float:
    start = time.perf_counter()
    a @ b
    if a.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


#: Self-time groups of a profiled step: what the hardware is good at, and the rest.
PROFILE_GROUPS = (
    ("matmul", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")),
    ("attention", ("scaled_dot_product", "flash_attention")),
    ("convolution", ("convolution",)),
    ("copies (cat, copy, layout)", ("aten::cat", "aten::copy_", "aten::clone", "aten::fill_", "aten::zero_")),
)


def profile_step(model, fx, embedding, dtype: torch.dtype) -> dict:
    """Self CPU time of one forward + backward by group (seconds), and the top operators."""
    from torch.profiler import ProfilerActivity, profile

    train_step(model, fx, embedding, dtype)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_step(model, fx, embedding, dtype)
    events = [(e.key, e.self_cpu_time_total / 1e6) for e in prof.key_averages()]
    groups = dict.fromkeys([name for name, _ in PROFILE_GROUPS] + ["elementwise, norms, other"], 0.0)
    for key, seconds in events:
        group = next((name for name, marks in PROFILE_GROUPS if any(m in key for m in marks)),
                     "elementwise, norms, other")
        groups[group] += seconds
    top = sorted(events, key=lambda item: -item[1])[:12]
    return dict(groups=groups, total=sum(groups.values()), top=[dict(op=k, seconds=v) for k, v in top])


class _OperatorCount(TorchDispatchMode):
    """Counts the operators dispatched below autograd: each is a kernel launch or a view."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.by_name: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        self.by_name[str(func)] += 1
        return func(*args, **(kwargs or {}))


def dispatch_cost(model, fx, embedding, dtype: torch.dtype, repeats: int) -> dict:
    """Operators one step dispatches, and its median time on inputs too small to compute much
    (``None`` with no repeats), with the 12 most frequent operators.

    Where a GPU step is bound by launching kernels, not arithmetic, this is what it costs.
    """
    train_step(model, fx, embedding, dtype)
    with _OperatorCount() as counter:
        train_step(model, fx, embedding, dtype)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        train_step(model, fx, embedding, dtype)
        times.append(time.perf_counter() - start)
    return dict(operators=counter.count, seconds=statistics.median(times) if times else None,
                top_operators=dict(counter.by_name.most_common(12)))


def peak_memory_mib(name: str, width: int, n_points: int, precision: str, device: str,
                    same_width: bool = False) -> float | None:
    """Extra memory of one training step (MiB), or None when the step runs out of memory."""
    compiled = name.endswith(COMPILED)
    if device == "cuda":
        model = build_model(name.removesuffix(COMPILED), width, same_width).to(device)
        fx, embedding = make_inputs(n_points, torch.device(device))
        if compiled:
            model = torch.compile(model)
            train_step(model, fx, embedding, DTYPES[precision])
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        try:
            train_step(model, fx, embedding, DTYPES[precision])
        except torch.cuda.OutOfMemoryError:
            return None
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    child = subprocess.run(
        [sys.executable, __file__, "--child-memory", name.removesuffix(COMPILED), str(width), str(n_points),
         precision, *(["--compiled"] if compiled else []), *(["--same-width"] if same_width else [])],
        capture_output=True, text=True,
    )
    if child.returncode == -signal.SIGKILL:  # the kernel's out-of-memory killer
        return None
    if child.returncode != 0:
        raise RuntimeError(f"memory probe for {name} at N={n_points} failed:\n{child.stderr}")
    return float(child.stdout.strip().splitlines()[-1])


def _resident_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def child_memory(name: str, width: int, n_points: int, precision: str, compiled: bool, same_width: bool) -> None:
    model = build_model(name, width, same_width)
    fx, embedding = make_inputs(n_points, torch.device("cpu"))
    if compiled:  # compile and warm up first, then give what the steps freed back to the system
        model = torch.compile(model)
        for _ in range(2):
            train_step(model, fx, embedding, DTYPES[precision])
        model.zero_grad(set_to_none=True)
        gc.collect()
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    # Imports peak far above a small step; reset the kernel's high-water mark (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")
    base_kib = _resident_kib("VmRSS")
    train_step(model, fx, embedding, DTYPES[precision])
    print((_resident_kib("VmHWM") - base_kib) / 1024)


def run(args: argparse.Namespace, save) -> dict:
    """Measure every (precision, N); ``save(result)`` is called after each so far."""
    device = torch.device(args.device)
    names = ["LRSA", "Transolver", "FLARE"]
    models = {name: build_model(name, args.width, args.same_width).to(device) for name in names}
    params = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    compiled = [name + COMPILED for name in COMPILED_MODELS] if args.compile else []
    if args.compile:
        if device.type == "cuda":
            print("note: on an H200 (torch 2.11) compiled LRSA's gradients were wrong "
                  "(tests/test_lrsa_cuda.py); its time here is not a training speed lrsa-train offers")
        for name in COMPILED_MODELS:
            twin = build_model(name, args.width, args.same_width).to(device)
            twin.load_state_dict(models[name].state_dict())
            models[name + COMPILED] = torch.compile(twin)
    lrsa_width = args.width if args.same_width else LRSA_WIDTH[args.width]
    widths = sorted({args.width, lrsa_width})
    graphs = args.cuda_graphs and device.type == "cuda"
    if args.cuda_graphs and not graphs:
        print(f"note: --cuda-graphs times captured steps on a CUDA device only; {device} times none")
    result = dict(
        command="benchmarks/throughput.py " + " ".join(sys.argv[1:]),
        machine=dict(platform=platform.platform(), processor=platform.processor(),
                     torch=torch.__version__, device=args.device, device_name=device_name(device),
                     threads=torch.get_num_threads()),
        width=args.width, lrsa_width=lrsa_width, same_width=args.same_width, parameters=params,
        parameter_spread=max(params.values()) / min(params.values()) - 1,
        repeats=args.repeats, rows=[],
    )
    if args.dispatch:
        fx, embedding = make_inputs(args.dispatch, device)
        result["dispatch"] = {"n_points": args.dispatch}
        repeats = 0 if args.count_only else max(args.repeats, 10)
        for precision in args.precisions:
            costs = {name: dispatch_cost(models[name], fx, embedding, DTYPES[precision], repeats) for name in names}
            with fused_ops(False):
                costs["LRSA plain path"] = dispatch_cost(models["LRSA"], fx, embedding, DTYPES[precision], repeats)
            result["dispatch"][precision] = costs
            print(f"dispatch {precision} N={args.dispatch}: " + ", ".join(
                f"{name} {cost['operators']} operators"
                + ("" if cost["seconds"] is None else f" {1e3 * cost['seconds']:.1f} ms")
                for name, cost in costs.items()), flush=True)
        save(result)
    if args.count_only:
        return result
    if args.profile:
        fx, embedding = make_inputs(args.profile, device)
        result["profile"] = {"n_points": args.profile, "note": "profiler self time (adds overhead per op)"}
        for precision in args.precisions:
            result["profile"][precision] = {
                name: profile_step(models[name], fx, embedding, DTYPES[precision]) for name in names}
            for name in names:
                shares = result["profile"][precision][name]
                print(f"profile {precision} N={args.profile} {name}: " + ", ".join(
                    f"{group} {seconds / shares['total']:.0%}" for group, seconds in shares["groups"].items()))
        save(result)
    for precision in args.precisions:
        for n_points in args.sizes:
            # Memory first, each in a fresh process: a model that does not fit is recorded
            # as out of memory and left out of the timing instead of killing the run.
            dtype = DTYPES[precision]
            peak = {name: peak_memory_mib(name, args.width, n_points, precision, args.device, args.same_width)
                    for name in [*names, *compiled]}
            fits = [name for name in [*names, *compiled] if peak[name] is not None]
            fx, embedding = make_inputs(n_points, device)
            flops = {name: step_flops(models[name], fx, embedding, dtype) for name in fits if name in names}
            for name in fits:  # a compiled model does the same arithmetic, only scheduled differently
                flops.setdefault(name, flops.get(name.removesuffix(COMPILED)))
            for name in fits:  # warm-up: kernels, allocator, autotuning, compilation
                train_step(models[name], fx, embedding, dtype)
            operands = {d: (torch.randn(n_points, d, device=device, dtype=dtype),
                            torch.randn(d, d, device=device, dtype=dtype)) for d in widths}
            times = {name: [] for name in fits}
            matmul = {d: [] for d in widths}
            for _ in range(args.repeats):
                for name in fits:
                    start = time.perf_counter()
                    train_step(models[name], fx, embedding, dtype)
                    times[name].append(time.perf_counter() - start)
                for d, (a, b) in operands.items():
                    matmul[d].append(matmul_seconds(a, b))
            matmul_gflops = {str(d): 2 * n_points * d * d / statistics.median(t) / 1e9 for d, t in matmul.items()}
            if graphs:
                times.update(time_training_steps(models, [n for n in names if n in fits], precision, fx, embedding,
                                                 args.repeats))
            stepped = [name + suffix for name in names for suffix in (STEP_EAGER, STEP_GRAPH)] if graphs else []
            for name in stepped:  # the model's arithmetic; the loss and the update add next to nothing
                flops[name] = flops.get(name.rsplit(" ", 1)[0])
            for name in [*names, *compiled, *stepped]:
                median = statistics.median(times[name]) if times.get(name) else None
                counted = flops.get(name)
                result["rows"].append(dict(
                    model=name, precision=precision, n_points=n_points, seconds=median,
                    us_per_point=None if median is None else 1e6 * median / n_points,
                    all_seconds=times.get(name), peak_mib=peak.get(name),
                    gflop=None if counted is None else counted / 1e9,
                    gflops_per_s=None if median is None or counted is None else counted / median / 1e9,
                    matmul_gflops_per_s=matmul_gflops,
                ))
                memory = f"  {_fmt(peak[name], '9.1f')} MiB" if name in peak else ""
                rate = result["rows"][-1]["gflops_per_s"]
                shown = "out of memory" if median is None else (
                    f"{median:8.3f} s{memory}" + ("" if rate is None else f"  {rate:6.1f} GFLOP/s"))
                print(f"{precision:5s} N={n_points:7d} {name:14s} {shown}", flush=True)
            print(f"{precision:5s} N={n_points:7d} matmul (N, d) @ (d, d): "
                  + ", ".join(f"d={d} {rate:.1f} GFLOP/s" for d, rate in matmul_gflops.items()), flush=True)
            save(result)
    return result


def merge_earlier_rows(earlier: dict, result: dict) -> dict:
    """Add the rows of an earlier run at the same widths that ``result`` did not measure."""
    if (earlier.get("width"), earlier.get("lrsa_width")) != (result["width"], result["lrsa_width"]):
        raise SystemExit("--append: the earlier results used other model widths; use another --out")
    measured = {(r["model"], r["precision"], r["n_points"]) for r in result["rows"]}
    kept = [r for r in earlier["rows"] if (r["model"], r["precision"], r["n_points"]) not in measured]
    order = {"fp32": 0, "bf16": 1}
    rows = sorted(kept + result["rows"], key=lambda r: (order[r["precision"]], r["n_points"]))
    commands = [earlier["command"]] if isinstance(earlier["command"], str) else earlier["command"]
    return {**result, "rows": rows, "command": commands + [result["command"]]}


def summary_table(result: dict) -> str:
    by_key = {(r["model"], r["precision"], r["n_points"]): r for r in result["rows"]}
    compiled = any(model.endswith(COMPILED) for model, _, _ in by_key)
    lines = [
        "| precision | N | LRSA s | Transolver s | FLARE s | LRSA/Transolver time | LRSA/FLARE time | "
        "LRSA MiB | Transolver MiB | FLARE MiB | LRSA/Transolver memory |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rates = [
        "| precision | N | LRSA GFLOP/s | Transolver GFLOP/s | FLARE GFLOP/s | matmul GFLOP/s, (N, d) @ (d, d) |",
        "|---|---|---|---|---|---|",
    ]
    compiled_rows = [
        "| precision | N | LRSA compiled s | FLARE compiled s | LRSA/FLARE time, both compiled | "
        "LRSA compiled / eager time | LRSA compiled MiB | FLARE compiled MiB | "
        "LRSA compiled / Transolver eager memory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (model, precision, n_points), row in by_key.items():
        if model != "LRSA":
            continue
        t = by_key[("Transolver", precision, n_points)]
        f = by_key[("FLARE", precision, n_points)]
        lines.append(
            f"| {precision} | {n_points:,} | {_fmt(row['seconds'], '.3f')} | "
            f"{_fmt(t['seconds'], '.3f')} | {_fmt(f['seconds'], '.3f')} | "
            f"{_ratio(row['seconds'], t['seconds'])} | {_ratio(row['seconds'], f['seconds'])} | "
            f"{_fmt(row['peak_mib'], '.0f')} | {_fmt(t['peak_mib'], '.0f')} | {_fmt(f['peak_mib'], '.0f')} | "
            f"{_ratio(row['peak_mib'], t['peak_mib'])} |"
        )
        if row.get("gflops_per_s") is None:
            continue  # measured before the FLOP count was added
        matmul = ", ".join(f"d={d}: {rate:.0f}" for d, rate in row["matmul_gflops_per_s"].items())
        rates.append(f"| {precision} | {n_points:,} | {_fmt(row['gflops_per_s'], '.1f')} | "
                     f"{_fmt(t.get('gflops_per_s'), '.1f')} | {_fmt(f.get('gflops_per_s'), '.1f')} | {matmul} |")
        c = by_key.get(("LRSA" + COMPILED, precision, n_points))
        fc = by_key.get(("FLARE" + COMPILED, precision, n_points))
        if c and fc:
            compiled_rows.append(
                f"| {precision} | {n_points:,} | {_fmt(c['seconds'], '.3f')} | {_fmt(fc['seconds'], '.3f')} | "
                f"{_ratio(c['seconds'], fc['seconds'])} | {_ratio(c['seconds'], row['seconds'])} | "
                f"{_fmt(c['peak_mib'], '.0f')} | {_fmt(fc['peak_mib'], '.0f')} | {_ratio(c['peak_mib'], t['peak_mib'])} |")
    graph_rows = [
        "| precision | N | model | eager step ms | graph step ms | graph / eager | graph TFLOP/s | "
        "LRSA graph / this model's graph |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (model, precision, n_points), row in by_key.items():
        if not model.endswith(STEP_GRAPH):
            continue
        name = model.removesuffix(STEP_GRAPH)
        eager = by_key.get((name + STEP_EAGER, precision, n_points), {})
        lrsa = by_key.get(("LRSA" + STEP_GRAPH, precision, n_points), {})
        rate = row.get("gflops_per_s")
        graph_rows.append(
            f"| {precision} | {n_points:,} | {name} | {_fmt(_ms(eager.get('seconds')), '.2f')} | "
            f"{_fmt(_ms(row['seconds']), '.2f')} | {_ratio(row['seconds'], eager.get('seconds'))} | "
            f"{'n/a' if rate is None else format(rate / 1e3, '.1f')} | {_ratio(lrsa.get('seconds'), row['seconds'])} |")
    p = result["parameters"]
    machine = result["machine"]
    named = f"{machine['device_name']} ({machine['device']})" if machine.get("device_name") else machine["device"]
    widths = (f"all at width {result['width']}" if result.get("same_width") else "matched parameters")
    lines.append("")
    lines.append(
        f"Parameters ({widths}): LRSA {p['LRSA']:,} (width {result['lrsa_width']}, mlp_ratio 1), "
        f"Transolver {p['Transolver']:,} and FLARE {p['FLARE']:,} (width {result['width']}, "
        f"mlp_ratio 2); 8 layers, 8 heads, 64 latents/slices. Forward+backward of one sample, "
        f"median of {result['repeats']} interleaved repeats; peak = extra memory of the step. "
        f"Machine: {named}, torch {machine['torch']}, {machine['threads']} threads."
    )
    if len(rates) > 2:
        lines += ["", *rates, "",
                  "GFLOP/s: counted matmul and attention FLOPs of the step over its time; matmul: this "
                  "machine's rate for one (N, d) @ (d, d) product at the models' widths, timed in the same loop."]
    if compiled and len(compiled_rows) > 2:
        lines += ["", *compiled_rows, "",
                  "Compiled: torch.compile (what training.compile=true runs), timed in the same loop after "
                  "compiling; memory of a third step after two, with freed memory handed back to the system "
                  "first (the eager probes measure a fresh process's first step)."]
    if len(graph_rows) > 2:
        lines += ["", *graph_rows, "",
                  "Steps: lrsa-train's whole training step (relative L2 loss, backward, clipping to norm 1, fused "
                  "AdamW) on one sample, eager and captured in one CUDA graph (training.cuda_graphs=true), timed "
                  "in the same loop after warm-up and capture; TFLOP/s: the model's counted FLOPs over the graph "
                  "step's time."]
    return "\n".join(lines)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1e3 * seconds


def _fmt(value: float | None, spec: str) -> str:
    return "OOM" if value is None else format(value, spec)


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or reference is None:
        return "n/a (reference OOM)" if reference is None and value is not None else "n/a"
    return f"{value / reference:.2f}"


def update_readme(table: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise SystemExit(f"{readme}: markers {README_BEGIN} / {README_END} not found")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 16384, 65536, 262144])
    parser.add_argument("--precisions", nargs="+", choices=sorted(DTYPES), default=["fp32", "bf16"])
    parser.add_argument("--width", type=int, choices=sorted(LRSA_WIDTH), default=128)
    parser.add_argument("--same-width", action="store_true",
                        help="build LRSA at --width too (every model at one width) instead of at matched parameters")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="on a GPU, also time lrsa-train's whole training step per model, eager and captured "
                             "in one CUDA graph (training.cuda_graphs=true)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", type=int, metavar="N",
                        help="first profile one step of each model at N points: self time by group")
    parser.add_argument("--dispatch", type=int, metavar="N",
                        help="first count the operators one step dispatches and time it at N (small) "
                             "points: the per-step launch cost that bounds a GPU step at small N")
    parser.add_argument("--count-only", action="store_true",
                        help="with --dispatch: count the operators only, time nothing, measure no sizes")
    parser.add_argument("--compile", action="store_true",
                        help="also time LRSA and FLARE under torch.compile, and probe their memory")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "throughput.json")
    parser.add_argument("--append", action="store_true",
                        help="keep rows of an earlier run in --out (same widths) that this run "
                             "does not measure, e.g. bf16 at small N after fp32 at all N")
    parser.add_argument("--update-readme", action="store_true",
                        help="rewrite the table between the README's throughput markers")
    parser.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-memory", nargs=4, metavar=("MODEL", "WIDTH", "N", "PRECISION"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        name, width, n_points, precision = args.child_memory
        child_memory(name, int(width), int(n_points), precision, args.compiled, args.same_width)
        return
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.count_only and not args.dispatch:
        parser.error("--count-only needs --dispatch N")
    earlier = json.loads(args.out.read_text()) if args.append and args.out.exists() else None
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save(partial: dict) -> dict:
        merged = merge_earlier_rows(earlier, partial) if earlier else partial
        tmp = args.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(merged, indent=2))
        os.replace(tmp, args.out)
        return merged

    result = save(run(args, save))
    if result["parameter_spread"] > 0.10 and not args.same_width:
        print(f"warning: parameter counts differ by {result['parameter_spread']:.1%} (> 10%)")
    if args.count_only:
        print(f"wrote {args.out}")
        return
    table = summary_table(result)
    print(table)
    print(f"wrote {args.out}")
    if args.update_readme:
        update_readme(table)


if __name__ == "__main__":
    main()
