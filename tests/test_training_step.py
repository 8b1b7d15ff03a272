# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""The training step (modulus_lrsa.training.step): eager as before, captured as eager.

On a CPU: the eager step against the step as ``train_one_epoch`` took it before it moved
into :class:`TrainingStep` (copied below, frozen), parameter for parameter and bit for
bit; the eager step on kept gradient buffers (what a batch of another shape runs after a
capture); Adam/AdamW switched to the fused kernel; and every refusal of
``training.cuda_graphs=true``. On a GPU: the captured step against the eager one over
warm-up, capture, replays, a batch of another shape and a skipped non-finite step.

Nothing here imports ``modulus_lrsa.training.train`` (its data path needs VTK, which the
offline GPU machine's bundle leaves out).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from modulus_lrsa.errors import ConfigError
from modulus_lrsa.surrogate import ModelInputs, autocast
from modulus_lrsa.training.metrics import relative_l2_loss, valid_entries
from modulus_lrsa.training.step import CUDA_GRAPHS_KEY, TrainingStep, check_cuda_graphs, flat_points, use_fused_adam

CONFIG_DIR = Path(__file__).resolve().parents[1] / "modulus_lrsa" / "conf"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (CI and the CPU machine have none)")


def _one_process(flag: bool) -> bool:
    return flag


def _batch(n_points: int = 48, batch: int = 2, seed: int = 0, device: str = "cpu", nan_target: bool = False) -> dict:
    """A padded two-case batch as pad_collate gives it: mask, quadrature weights, a channel mask."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, n_points, dtype=torch.bool)
    mask[-1, n_points * 2 // 3:] = False
    target_mask = torch.ones(batch, n_points, 3, dtype=torch.bool)
    target_mask[:, : n_points // 4, 2] = False  # a surface-only channel
    target = torch.randn(batch, n_points, 3, generator=generator)
    if nan_target:
        target[0, 0, 0] = float("nan")
    values = {
        "fx": torch.randn(batch, n_points, 2, generator=generator),
        "embedding": torch.rand(batch, n_points, 2, generator=generator),
        "mask": mask,
        "weights": torch.rand(batch, n_points, generator=generator) + 0.5,
        "target": target * mask[..., None],
        "target_mask": target_mask & mask[..., None],
    }
    return {"case_id": [f"case_{seed}_{i}" for i in range(batch)], **{k: v.to(device) for k, v in values.items()}}


def _todays_step(model, inputs, batch, optimizer, precision, scaler, clip):
    """The step as train_one_epoch ran it before TrainingStep (one process, no domain parallelism)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    device = batch["fx"].device
    with autocast(precision, device):
        prediction = inputs(model, batch)
    target = flat_points(batch["target"])
    loss = relative_l2_loss(flat_points(prediction), target, valid_entries(batch, target), None)
    optimizer.zero_grad(set_to_none=True)
    step_ok = bool(torch.isfinite(loss.detach()))
    grad_norm = float("nan")
    if step_ok:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, clip if clip is not None else math.inf))
        if math.isfinite(grad_norm) or scaler.is_enabled():
            scaler.step(optimizer)
            scaler.update()
        else:
            step_ok = False
    return float(loss.detach()), step_ok, grad_norm


def _same(values, expected) -> bool:
    """Equal, value for value, NaN equal to NaN."""
    return all(a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)) for a, b in zip(values, expected, strict=True))


def _twins(make_lrsa, device="cpu", **model_args):
    first = make_lrsa(**model_args).to(device)
    second = copy.deepcopy(first)
    return first, second


def _batches(device="cpu"):
    # Ordinary steps, a non-finite loss (skipped), and a step after it.
    return [_batch(seed=0, device=device), _batch(seed=1, device=device), _batch(seed=2, device=device, nan_target=True),
            _batch(seed=3, device=device), _batch(seed=4, device=device)]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("clip", [0.05, None])
def test_eager_step_matches_todays_step_bit_for_bit(make_lrsa, precision, clip):
    reference_model, model = _twins(make_lrsa)
    reference_optimizer = torch.optim.AdamW(reference_model.parameters(), lr=1e-2, weight_decay=1e-5)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-5)
    reference_scaler = torch.amp.GradScaler("cpu", enabled=precision == "fp16")
    scaler = torch.amp.GradScaler("cpu", enabled=precision == "fp16")
    step = TrainingStep(model, ModelInputs(model), optimizer, precision, scaler, clip, agree=_one_process)
    reference_inputs = ModelInputs(reference_model)
    for batch in _batches():
        expected = _todays_step(reference_model, reference_inputs, batch, reference_optimizer, precision,
                                reference_scaler, clip)
        result = step(batch)
        assert _same((result.loss, result.step_ok, result.grad_norm), expected)
        assert result.samples == 2 and result.points == int(batch["mask"].sum())
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, dict(reference_model.named_parameters())[name]), name
    assert scaler.state_dict() == reference_scaler.state_dict()


def test_eager_step_skips_a_nonfinite_loss_without_touching_parameters(make_lrsa):
    model = make_lrsa()
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    step = TrainingStep(model, ModelInputs(model), optimizer, "fp32", torch.amp.GradScaler("cpu", enabled=False), 1.0,
                        agree=_one_process)
    result = step(_batch(nan_target=True))
    assert not result.step_ok and math.isnan(result.loss) and math.isnan(result.grad_norm)
    assert all(torch.equal(value, before[name]) for name, value in model.state_dict().items())
    assert not optimizer.state  # no update ran, so AdamW has no moments yet


def test_eager_step_on_kept_gradient_buffers_equals_a_fresh_one(make_lrsa):
    # What a batch of another shape runs once a graph owns the gradients: zeroed in place, added into.
    fresh_model, kept_model = _twins(make_lrsa)
    steps = []
    for model in (fresh_model, kept_model):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        steps.append(TrainingStep(model, ModelInputs(model), optimizer, "fp32", torch.amp.GradScaler("cpu", enabled=False),
                                  1.0, agree=_one_process))
    fresh, kept = steps
    fresh(_batch(seed=0))
    kept(_batch(seed=0))
    buffers = [p.grad for p in kept_model.parameters()]
    for seed in (1, 2, 3):
        fresh(_batch(seed=seed, n_points=40))
        kept._eager(_batch(seed=seed, n_points=40), keep_grads=True)
    assert all(p.grad is buffer for p, buffer in zip(kept_model.parameters(), buffers))
    for a, b in zip(fresh_model.parameters(), kept_model.parameters()):
        assert torch.equal(a, b)


def _adamw_steps(optimizer, parameter, steps):
    for index in range(steps):
        optimizer.zero_grad()
        (parameter.sin() * (index + 1)).sum().backward()
        optimizer.step()


def test_use_fused_adam_equals_an_adamw_built_fused():
    built = torch.nn.Parameter(torch.linspace(-1, 1, 37))
    switched = torch.nn.Parameter(built.detach().clone())
    reference = torch.optim.AdamW([built], lr=1e-2, fused=True)
    optimizer = torch.optim.AdamW([switched], lr=1e-2)
    assert use_fused_adam(optimizer)
    _adamw_steps(reference, built, 4)
    _adamw_steps(optimizer, switched, 4)
    assert torch.equal(built, switched)
    assert optimizer.param_groups[0]["fused"] is True and optimizer._step_supports_amp_scaling


def test_use_fused_adam_continues_an_unfused_checkpoint():
    unfused = torch.nn.Parameter(torch.linspace(-1, 1, 37))
    resumed = torch.nn.Parameter(unfused.detach().clone())
    optimizer = torch.optim.AdamW([unfused], lr=1e-2)
    _adamw_steps(optimizer, unfused, 3)
    checkpoint = copy.deepcopy(optimizer.state_dict())
    resumed.data.copy_(unfused.detach())
    fused = torch.optim.AdamW([resumed], lr=1e-2)
    fused.load_state_dict(checkpoint)
    assert use_fused_adam(fused)
    assert fused.state[resumed]["step"].dtype == torch.float32 and float(fused.state[resumed]["step"]) == 3
    _adamw_steps(optimizer, unfused, 3)
    _adamw_steps(fused, resumed, 3)
    assert float(fused.state[resumed]["step"]) == 6
    torch.testing.assert_close(resumed, unfused, rtol=1e-6, atol=1e-7)


def test_use_fused_adam_keeps_an_explicit_choice_and_other_optimizers():
    parameter = torch.nn.Parameter(torch.zeros(3))
    explicit = torch.optim.AdamW([parameter], foreach=False)
    assert not use_fused_adam(explicit) and explicit.param_groups[0]["fused"] is None
    assert not use_fused_adam(torch.optim.SGD([parameter], lr=0.1))


def _settings(**overrides):
    cfg = {
        "model": {"_target_": "modulus_lrsa.models.LRSA"},
        "data": {"kind": "mesh", "volume_points": 4096, "surface_points": 1024,
                 "volume_fields": ["p"], "surface_fields": ["p"]},
        "training": {"cuda_graphs": True, "device": "cuda", "compile": False, "domain_parallel_size": 1},
    }
    for dotted, value in overrides.items():
        group, key = dotted.split("__")
        cfg[group][key] = value
    return OmegaConf.create(cfg)


def _refusals(cfg, world_size=1) -> list[str]:
    lines = []
    check_cuda_graphs(cfg, world_size, lambda key, message: lines.append(f"{key}: {message}"))
    return lines


def _without_device_lines(lines):
    # On a CPU machine every launch is also refused for having no GPU; the other reasons are what is tested.
    return [line for line in lines if "sees no CUDA GPU" not in line]


@pytest.mark.parametrize("overrides, world_size, expected", [
    ({"training__device": "cpu"}, 1, "training.device=cpu"),
    ({}, 2, "this launch has 2 processes"),
    ({"training__domain_parallel_size": 2}, 1, "training.domain_parallel_size=2"),
    ({"training__compile": True}, 1, "training.compile=true"),
    ({"data__volume_points": None}, 1, "data.volume_points=null"),
    ({"data__surface_points": None}, 1, "data.surface_points=null"),
    ({"model___target_": "physicsnemo.models.geotransolver.GeoTransolver"}, 1, "data-dependent indexing"),
])
def test_cuda_graphs_refusals_name_the_key_and_why(overrides, world_size, expected):
    lines = _without_device_lines(_refusals(_settings(**overrides), world_size))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{CUDA_GRAPHS_KEY}: true, but ") and expected in lines[0]
    assert "\n" not in lines[0] and f"{CUDA_GRAPHS_KEY}=false" in lines[0]


def test_cuda_graphs_allowed_settings_and_a_non_boolean():
    assert _without_device_lines(_refusals(_settings())) == []
    # Whole cases of a point set the data does not use vary nothing; darcy's grids are all one size.
    assert _without_device_lines(_refusals(_settings(data__surface_points=None, data__surface_fields=[]))) == []
    assert _without_device_lines(_refusals(_settings(data__kind="darcy", data__volume_points=None))) == []
    assert _refusals(_settings(training__cuda_graphs=False, training__device="cpu"), world_size=4) == []
    assert _refusals(_settings(training__cuda_graphs="yes")) == [f"{CUDA_GRAPHS_KEY}: expected true or false, got 'yes'"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the refusal on a machine without a GPU")
def test_cuda_graphs_refused_without_a_gpu():
    assert _refusals(_settings(training__device="auto")) == [
        f"{CUDA_GRAPHS_KEY}: true, but torch sees no CUDA GPU here, and a CUDA graph records GPU kernels; "
        f"or use {CUDA_GRAPHS_KEY}=false"]


def test_cuda_graphs_is_a_training_preset_key_off_by_default():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        default = compose(config_name="config")
        airfoil = compose(config_name="config", overrides=["data=airfoil", "training=airfoil"])
        refused = compose(config_name="config", overrides=["training.cuda_graphs=true", "training.device=cpu"])
    assert default.training.cuda_graphs is False and airfoil.training.cuda_graphs is False
    assert _refusals(default) == []
    assert any("training.device=cpu" in line for line in _refusals(refused))


def test_cuda_graph_step_on_a_cpu_model_is_refused(make_lrsa):
    model = make_lrsa()
    with pytest.raises(ConfigError, match=r"^training\.cuda_graphs: true, but the model is on cpu"):
        TrainingStep(model, ModelInputs(model), torch.optim.AdamW(model.parameters()), "fp32",
                     torch.amp.GradScaler("cpu", enabled=False), 1.0, agree=_one_process, cuda_graphs=True)


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("activation_checkpointing", [False, True])
def test_cuda_graph_step_matches_eager(make_lrsa, precision, activation_checkpointing):
    """Warm-up, capture, replays, a batch of another shape (eager), a skipped NaN step, more replays."""
    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # the comparison is of the capture, not of TF32
    try:
        eager_model, graph_model = _twins(make_lrsa, "cuda", activation_checkpointing=activation_checkpointing)
        notes: list[str] = []
        steps = []
        for model, graphs in ((eager_model, False), (graph_model, True)):
            # The eager twin is built fused; the captured one is switched by the step.
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True if not graphs else None)
            scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
            steps.append(TrainingStep(model, ModelInputs(model), optimizer, precision, scaler, 0.5, agree=_one_process,
                                      cuda_graphs=graphs, warn=notes.append))
        eager, graph = steps
        batches = [_batch(seed=seed, device="cuda") for seed in range(5)]
        batches += [_batch(seed=5, batch=1, device="cuda"), _batch(seed=6, device="cuda", nan_target=True),
                    _batch(seed=7, device="cuda"), _batch(seed=8, device="cuda")]
        tolerance = {"fp32": 1e-5, "bf16": 2e-2, "fp16": 2e-3}[precision]
        for index, batch in enumerate(batches):
            expected, result = eager(batch), graph(batch)
            assert result.step_ok == expected.step_ok == (index != 6), index
            assert (result.samples, result.points) == (expected.samples, expected.points)
            assert result.loss == pytest.approx(expected.loss, rel=tolerance, nan_ok=True), index
            assert result.grad_norm == pytest.approx(expected.grad_norm, rel=tolerance, nan_ok=True), index
            assert graph.captured == (index >= 3), index
        assert len(notes) == 1 and "differs from the captured" in notes[0]
        for (name, a), b in zip(eager_model.named_parameters(), graph_model.parameters()):
            torch.testing.assert_close(b, a, rtol=tolerance, atol=tolerance, msg=lambda detail, name=name: f"{name}: {detail}")
        assert graph.optimizer.param_groups[0]["fused"] is True
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
