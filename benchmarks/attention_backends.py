# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Forward and backward time of each attention direction of LRSA, per SDPA backend and by hand.

LRSA attends in two directions whose shapes no other model has:

* compression: the M latent queries over the N point keys (softmax over N);
* reconstruction: the N point queries over the M latent keys (softmax over M).

For each direction, point count N, precision and head width, every candidate is first run
forward and backward on the same inputs as the plain result (SDPA's math backend in float32,
TF32 off) and compared with it; a candidate whose output or input gradients differ by more
than the precision allows is reported as inexact and not timed. The others are timed with
CUDA events (median of ``--repeats`` after ``--warmup`` runs): the forward alone, and the
backward alone after an untimed forward. Candidates:

* ``sdpa-default``: the call the model makes (SDPA picks the backend);
* ``sdpa-flash``, ``sdpa-efficient``, ``sdpa-cudnn``, ``sdpa-math``: one backend forced with
  :func:`torch.nn.attention.sdpa_kernel`; a backend that cannot run the shape is reported
  unsupported, with SDPA's reason. Where the head width is not a multiple of 8, each also
  runs on heads zero-padded to one (``-pad<d>``, padding and cut timed with it);
* ``matmul-softmax``: scores, float32 softmax and product as three operators (the
  reconstruction's scores are 268 MB in bf16 at 262k points), and ``matmul-softmax-f32scores``
  with the scores computed from float32 heads;
* reconstruction only, ``chunked<C>-<backend>``: the points cut into chunks of C queries
  folded into the batch dimension, the latent keys and values repeated per chunk. FlashAttention-2's
  backward parallelizes over key blocks, and the 64 latents are one block per batch and head.

Inputs are laid out as the model's projections are, (B, L, h d_h) viewed as heads, with
qk-normalized queries and keys at the model's initial logit scale (10); every candidate
returns merged heads (B, L, h d_h), as the model needs them. The head widths default to
the throughput benchmark's LRSA at matched parameters (80 wide, 8 heads: d_h = 10) and at
width 128 (d_h = 16). ``--compression-bias`` adds compression with the (B, 1, 1, N) log-weight
and padding bias of masked, weighted training.

    python benchmarks/attention_backends.py --out benchmarks/results/attention_backends_h100.json
    python benchmarks/attention_backends.py --smoke --out /tmp/attention_smoke.json   # CPU, seconds

On a CPU only ``--smoke`` runs (a tiny size, to test the script: CPU timings of these
kernels say nothing about a GPU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: Largest relative L2 error of the output and of each input gradient against the float32
#: plain result. A bf16 value carries a relative rounding error of up to 2^-9 (fp16: 2^-12);
#: the bounds leave room for the rounded inputs and the longer sums of the backward.
TOLERANCE = {"bf16": 2e-2, "fp16": 4e-3}
BACKENDS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "math": SDPBackend.MATH,
}
#: The backends the chunked reconstruction is tried with (math folds nothing into kernels).
CHUNKED_BACKENDS = ("flash", "efficient", "cudnn")
DIRECTIONS = ("compression", "reconstruction")
#: The model's initial logit scale: logits tau * q.k / d_h, bounded by tau.
LOGIT_SCALE = 10.0
#: Defaults of the options ``--smoke`` shrinks; an option given on the command line wins.
FULL = dict(sizes=[16384, 65536, 262144, 1048576], head_dims=[10, 16], chunk_sizes=[1024, 8192],
            compression_bias=False, repeats=10, warmup=3)
SMOKE = dict(sizes=[512], head_dims=[10], chunk_sizes=[128], compression_bias=True, repeats=2, warmup=1)

Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | None", int], torch.Tensor]


@dataclass(frozen=True)
class Problem:
    """One attention: direction, points, latents, heads, head width, batch, and whether a bias is added."""

    direction: str
    n_points: int
    n_latents: int
    n_head: int
    head_dim: int
    batch: int
    bias: bool

    @property
    def lengths(self) -> tuple[int, int]:
        """Query and key lengths."""
        if self.direction == "compression":
            return self.n_latents, self.n_points
        return self.n_points, self.n_latents

    def flops(self) -> tuple[int, int]:
        """Matmul FLOPs of the forward (QK^T, PV) and of the backward (four products, no recomputation)."""
        queries, keys = self.lengths
        forward = 4 * self.batch * self.n_head * queries * keys * self.head_dim
        return forward, 2 * forward


def heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, L, h d_h) -> (B, h, L, d_h), a view as the model's split_heads makes."""
    return x.unflatten(-1, (n_head, -1)).transpose(1, 2)


def merged(x: torch.Tensor) -> torch.Tensor:
    """(B, h, L, d_h) -> (B, L, h d_h), the copy the model's merge_heads makes."""
    return x.transpose(1, 2).flatten(2)


def sdpa(backend: str | None, pad_to: int | None = None) -> Attend:
    """SDPA with ``backend`` forced (None: SDPA's own choice), heads optionally zero-padded."""

    def attend(q, k, v, bias, n_head):
        qh, kh, vh = (heads(t, n_head) for t in (q, k, v))
        head_dim = qh.shape[-1]
        if pad_to:
            qh, kh, vh = (F.pad(t, (0, -head_dim % pad_to)) for t in (qh, kh, vh))
        with sdpa_kernel(BACKENDS[backend]) if backend else nullcontext():
            out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=bias, scale=head_dim**-0.5)
        return merged(out[..., :head_dim] if pad_to else out)

    return attend


def matmul_softmax(float32_scores: bool) -> Attend:
    """Scores, float32 softmax, product: three operators and the (B, h, L_q, L_k) scores kept.

    The scores come out of the matmul in the input dtype, or in float32 from float32 heads:
    bf16 logits of magnitude up to the logit scale (10) are rounded by up to 0.02.
    """

    def attend(q, k, v, bias, n_head):
        qh, kh, vh = (heads(t, n_head) for t in (q, k, v))
        if float32_scores:
            qh, kh = qh.float(), kh.float()
        scores = (qh @ kh.transpose(-1, -2)) * qh.shape[-1] ** -0.5
        if bias is not None:
            scores = scores + bias
        return merged(torch.softmax(scores, dim=-1, dtype=torch.float32).to(vh.dtype) @ vh)

    return attend


def chunked(backend: str, chunk: int) -> Attend:
    """Reconstruction with the points cut into ``chunk``-query pieces folded into the batch."""

    def attend(q, k, v, bias, n_head):
        batch, n_points, width = q.shape
        pad = -n_points % chunk
        if pad:
            q = F.pad(q, (0, 0, 0, pad))
        pieces = (n_points + pad) // chunk
        qh = heads(q.reshape(batch * pieces, chunk, width), n_head)
        # Repeated per chunk, contiguous (a kernel may refuse a zero batch stride); autograd sums them back.
        kh, vh = (heads(t, n_head).unsqueeze(1).expand(-1, pieces, -1, -1, -1).flatten(0, 1).contiguous()
                  for t in (k, v))
        head_dim = qh.shape[-1]
        with sdpa_kernel(BACKENDS[backend]):
            out = F.scaled_dot_product_attention(qh, kh, vh, scale=head_dim**-0.5)
        return merged(out).reshape(batch, n_points + pad, width)[:, :n_points]

    return attend


def candidates(problem: Problem, chunk_sizes: list[int]) -> dict[str, Attend]:
    """Every candidate for this problem, by name."""
    found: dict[str, Attend] = {"sdpa-default": sdpa(None)}
    padded = problem.head_dim + (-problem.head_dim % 8)
    for name in BACKENDS:
        found[f"sdpa-{name}"] = sdpa(name)
        if padded != problem.head_dim and name != "math":
            found[f"sdpa-{name}-pad{padded}"] = sdpa(name, pad_to=8)
    found["matmul-softmax"] = matmul_softmax(float32_scores=False)
    found["matmul-softmax-f32scores"] = matmul_softmax(float32_scores=True)
    if problem.direction == "reconstruction":
        for size in chunk_sizes:
            if size < problem.n_points:
                for name in CHUNKED_BACKENDS:
                    found[f"chunked{size}-{name}"] = chunked(name, size)
    return found


def make_inputs(problem: Problem, device: torch.device, seed: int) -> dict[str, torch.Tensor | None]:
    """Float32 projections (B, L, h d_h) as the model feeds attention, an upstream gradient, and the bias.

    Queries and keys are RMS-normalized per head and the queries carry the logit scale's
    factor tau / sqrt(d_h), so the logits have the model's range; values are unit normal.
    The bias (compression only) holds log quadrature weights over their mean, and -inf on
    the last sixteenth of the points, as padding.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    queries, keys = problem.lengths
    width = problem.n_head * problem.head_dim

    def normal(length: int) -> torch.Tensor:
        return torch.randn(problem.batch, length, width, generator=generator)

    def unit_rms(x: torch.Tensor) -> torch.Tensor:
        split = x.unflatten(-1, (problem.n_head, -1))
        return (split * torch.rsqrt(split.square().mean(-1, keepdim=True))).flatten(2)

    tensors: dict[str, torch.Tensor | None] = dict(
        q=unit_rms(normal(queries)) * (LOGIT_SCALE / math.sqrt(problem.head_dim)),
        k=unit_rms(normal(keys)), v=normal(keys), grad=normal(queries), bias=None,
    )
    if problem.bias:
        weights = torch.rand(problem.batch, problem.n_points, generator=generator) + 0.1
        bias = torch.log(weights / weights.mean(1, keepdim=True))
        bias[:, -max(1, problem.n_points // 16):] = float("-inf")
        tensors["bias"] = bias[:, None, None, :]
    return {name: None if t is None else t.to(device) for name, t in tensors.items()}


def forward_backward(attend: Attend, inputs: dict, dtype: torch.dtype, n_head: int) -> list[torch.Tensor]:
    """Output and the gradients of q, k, v for the upstream gradient, each in float32."""
    leaves = [inputs[name].to(dtype, copy=True).requires_grad_() for name in "qkv"]
    bias = None if inputs["bias"] is None else inputs["bias"].to(dtype)
    out = attend(*leaves, bias, n_head)
    out.backward(inputs["grad"].to(dtype))
    return [t.float() for t in (out.detach(), *(leaf.grad for leaf in leaves))]


def reference(problem: Problem, inputs: dict) -> list[torch.Tensor]:
    """The plain result: SDPA's math backend in float32, TF32 off."""
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        return forward_backward(sdpa("math"), inputs, torch.float32, problem.n_head)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


def relative_error(got: list[torch.Tensor], expected: list[torch.Tensor]) -> float:
    """Largest relative L2 error over the output and the three input gradients."""
    return max(((g - e).norm() / e.norm().clamp_min(1e-30)).item() for g, e in zip(got, expected))


class Timer:
    """Milliseconds of a callable: CUDA events on a GPU, the wall clock on a CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    @staticmethod
    def _call(run: Callable, prepared: object) -> None:
        if prepared is None:
            run()
        else:
            run(prepared)

    def __call__(self, run: Callable, before: Callable[[], object] | None = None) -> float:
        prepared = before() if before else None
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            self._call(run, prepared)
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        begin = time.perf_counter()
        self._call(run, prepared)
        return 1e3 * (time.perf_counter() - begin)


def time_candidate(attend: Attend, inputs: dict, dtype: torch.dtype, n_head: int, repeats: int, warmup: int,
                   device: torch.device) -> dict:
    """Median forward and backward milliseconds, and the extra peak memory of one step on a GPU."""
    leaves = [inputs[name].to(dtype, copy=True).requires_grad_() for name in "qkv"]
    bias = None if inputs["bias"] is None else inputs["bias"].to(dtype)
    grad = inputs["grad"].to(dtype)
    timer = Timer(device)

    def forward():
        return attend(*leaves, bias, n_head)

    def backward(out):
        out.backward(grad)

    def clear():
        for leaf in leaves:
            leaf.grad = None
        return forward()

    for _ in range(warmup):
        backward(clear())
    forward_ms = [timer(forward) for _ in range(repeats)]
    backward_ms = [timer(backward, before=clear) for _ in range(repeats)]
    peak_mib = None
    if device.type == "cuda":
        for leaf in leaves:
            leaf.grad = None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        backward(forward())
        torch.cuda.synchronize()
        peak_mib = (torch.cuda.max_memory_allocated() - base) / 2**20
    return dict(fwd_ms=statistics.median(forward_ms), bwd_ms=statistics.median(backward_ms), peak_mib=peak_mib)


def _first_line(error: BaseException, caught: list) -> str:
    reasons = [str(w.message).strip().splitlines()[0] for w in caught if str(w.message).strip()]
    return "; ".join(dict.fromkeys(reasons)) or str(error).strip().splitlines()[0]


def measure(problem: Problem, dtype_name: str, args: argparse.Namespace, device: torch.device) -> list[dict]:
    """Check and time every candidate of one problem at one precision; one row each."""
    dtype = DTYPES[dtype_name]
    found = candidates(problem, args.chunk_sizes)

    def row_of(name: str, **values) -> dict:
        return dict(asdict(problem), candidate=name, dtype=dtype_name, supported=True, error=None, exact=None,
                    fwd_ms=None, bwd_ms=None, fwd_tflops=None, bwd_tflops=None, peak_mib=None, note=None) | values

    try:
        inputs = make_inputs(problem, device, seed=problem.n_points + problem.head_dim)
        expected = reference(problem, inputs)
    except torch.OutOfMemoryError:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return [row_of(name, supported=None, note="the float32 plain result ran out of memory") for name in found]
    flops_forward, flops_backward = problem.flops()
    rows = []
    for name, attend in found.items():
        row = row_of(name)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                row["error"] = relative_error(forward_backward(attend, inputs, dtype, problem.n_head), expected)
                row["exact"] = row["error"] <= TOLERANCE[dtype_name]
                if row["exact"]:
                    row.update(time_candidate(attend, inputs, dtype, problem.n_head, args.repeats, args.warmup, device))
                    row["fwd_tflops"] = flops_forward / row["fwd_ms"] / 1e9
                    row["bwd_tflops"] = flops_backward / row["bwd_ms"] / 1e9
                else:
                    row["note"] = f"inexact: error {row['error']:.2e} > {TOLERANCE[dtype_name]:.0e}, not timed"
            except torch.OutOfMemoryError:
                row.update(supported=None, note="out of memory")
            except RuntimeError as error:
                row.update(supported=False, note=_first_line(error, caught))
        if device.type == "cuda":
            torch.cuda.empty_cache()
        rows.append(row)
    return rows


def group_key(row: dict) -> tuple:
    return row["direction"], row["bias"], row["dtype"], row["head_dim"], row["n_points"]


def fastest(rows: list[dict]) -> list[dict]:
    """Per problem and precision, the exact candidate with the least forward + backward time."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(group_key(row), []).append(row)
    best = []
    for (direction, bias, dtype, head_dim, n_points), members in groups.items():
        timed = [r for r in members if r["exact"] and r["fwd_ms"] is not None]
        if not timed:
            continue
        winner = min(timed, key=lambda r: r["fwd_ms"] + r["bwd_ms"])
        default = next((r for r in timed if r["candidate"] == "sdpa-default"), None)
        total = winner["fwd_ms"] + winner["bwd_ms"]
        best.append(dict(direction=direction, bias=bias, dtype=dtype, head_dim=head_dim, n_points=n_points,
                         candidate=winner["candidate"], fwd_bwd_ms=total,
                         default_fwd_bwd_ms=None if default is None else default["fwd_ms"] + default["bwd_ms"]))
    return best


def format_row(row: dict, winner: bool) -> str:
    label = f"{row['direction']}{'+bias' if row['bias'] else ''}"
    head = f"{label:20s} {row['dtype']} d={row['head_dim']:<3d} N={row['n_points']:>9,d}  {row['candidate']:22s}"
    if row["fwd_ms"] is None:
        return f"{head} {row['note']}"
    memory = "" if row["peak_mib"] is None else f"  {row['peak_mib']:8.1f} MiB"
    return (f"{head} fwd {row['fwd_ms']:8.3f} ms  bwd {row['bwd_ms']:8.3f} ms  "
            f"{row['fwd_tflops']:6.1f}/{row['bwd_tflops']:6.1f} TFLOP/s  err {row['error']:.1e}{memory}"
            f"{'  <- fastest' if winner else ''}")


def machine(device: torch.device) -> dict:
    info = dict(device=device.type, torch=torch.__version__, platform=platform.platform(), python=platform.python_version())
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(device_name=props.name, multiprocessors=props.multi_processor_count,
                    memory_mib=props.total_memory // 2**20, cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    else:
        info.update(device_name=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    return info


def write_json(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    started = time.monotonic()
    result = dict(
        command="benchmarks/attention_backends.py " + " ".join(sys.argv[1:]), machine=machine(device),
        config=dict(sizes=args.sizes, dtypes=args.dtypes, head_dims=args.head_dims, n_head=args.heads,
                    n_latents=args.latents, batch=args.batch, chunk_sizes=args.chunk_sizes,
                    compression_bias=args.compression_bias, repeats=args.repeats, warmup=args.warmup,
                    logit_scale=LOGIT_SCALE, tolerance={d: TOLERANCE[d] for d in args.dtypes}, smoke=args.smoke),
        stopped_by_time_limit=False, rows=[], fastest=[],
    )
    problems = []
    for head_dim in args.head_dims:  # the matched configuration first: a time limit cuts the rest
        for dtype_name in args.dtypes:
            for n_points in args.sizes:
                for direction in DIRECTIONS:
                    for bias in (False, True) if direction == "compression" and args.compression_bias else (False,):
                        problems.append((Problem(direction, n_points, args.latents, args.heads, head_dim, args.batch, bias),
                                         dtype_name))
    for problem, dtype_name in problems:
        if args.time_limit and time.monotonic() - started > args.time_limit:
            result["stopped_by_time_limit"] = True
            print(f"time limit of {args.time_limit:.0f} s reached: the remaining problems are not measured", flush=True)
            break
        rows = measure(problem, dtype_name, args, device)
        result["rows"] += rows
        result["fastest"] = fastest(result["rows"])
        winners = {(group_key(b), b["candidate"]) for b in result["fastest"]}
        for row in rows:
            print(format_row(row, (group_key(row), row["candidate"]) in winners), flush=True)
        if args.out:
            write_json(args.out, result)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", help=f"point counts N (default {FULL['sizes']})")
    parser.add_argument("--dtypes", nargs="+", choices=sorted(DTYPES), default=["bf16", "fp16"])
    parser.add_argument("--head-dims", type=int, nargs="+",
                        help="head widths: 10 is LRSA at the throughput benchmark's matched parameters "
                             "(width 80, 8 heads), 16 is width 128")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--latents", type=int, default=64, help="latent tokens M")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--chunk-sizes", type=int, nargs="+",
                        help=f"queries per chunk of the chunked reconstruction (default {FULL['chunk_sizes']})")
    parser.add_argument("--compression-bias", action="store_true", default=None,
                        help="also measure compression with the (B, 1, 1, N) log-weight and padding bias")
    parser.add_argument("--repeats", type=int, help=f"timed runs (default {FULL['repeats']})")
    parser.add_argument("--warmup", type=int, help=f"untimed runs first (default {FULL['warmup']})")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="start no new problem after this long; what was measured is kept")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true",
                        help=f"a tiny size ({SMOKE['sizes'][0]} points, {SMOKE['repeats']} repeats), e.g. on a CPU; "
                             "options given beside it win")
    parser.add_argument("--out", type=Path, help="write the JSON here (rewritten after each problem)")
    args = parser.parse_args(argv)
    for name, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.smoke:
        if torch.device(args.device).type == "cpu":
            torch.set_num_threads(1)  # its timings mean nothing; one thread stays quick on a busy machine
    elif torch.device(args.device).type != "cuda":
        parser.error(f"--device {args.device}: without a GPU only --smoke runs (CPU timings of these kernels "
                     "say nothing about a GPU)")
    for name in ("sizes", "head_dims", "chunk_sizes"):
        if min(getattr(args, name)) < 1:
            parser.error(f"--{name.replace('_', '-')}: every value must be >= 1, got {getattr(args, name)}")
    if args.repeats < 1 or args.warmup < 0:
        parser.error(f"--repeats must be >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = run(args)
    inexact = [r for r in result["rows"] if r["exact"] is False]
    print(f"{len(result['rows'])} rows, {len(inexact)} inexact, "
          f"{sum(r['supported'] is False for r in result['rows'])} unsupported")
    for best in result["fastest"]:
        default = best["default_fwd_bwd_ms"]
        versus = "" if default is None else f" ({best['fwd_bwd_ms'] / default:.2f}x sdpa-default)"
        print(f"fastest {best['direction']}{'+bias' if best['bias'] else ''} {best['dtype']} d={best['head_dim']} "
              f"N={best['n_points']:,}: {best['candidate']} {best['fwd_bwd_ms']:.3f} ms{versus}")
    if args.out:
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
