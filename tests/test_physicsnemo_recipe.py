# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""LRSA's model templates for PhysicsNeMo's unified external-aerodynamics recipe.

``examples/external_aerodynamics/conf/model/lrsa_{surface,volume}.yaml`` are dropped into a
``conf/model/`` group and composed with Hydra the way the recipe's ``src/train.py`` composes
its templates (``# @package _global_``; ``out_dim`` added afterwards from the dataset's
``targets:``, as its ``build_dataloaders`` does), built as it builds them
(``hydra.utils.instantiate(cfg.model, _convert_="partial")``) and stepped as its training
loop steps: forward under autocast, per-field Huber loss in float32, ``zero_grad``,
backward, the recipe's Muon + AdamW optimizer, its StepLR, its checkpoint calls.

The samples are real ``physicsnemo.mesh`` DomainMeshes laid out as the recipe's datapipes
deliver them: the surface one made by the same PhysicsNeMo transforms its surface dataset
YAMLs end with. They reach the model through each template's ``forward_kwargs`` and the
collate's batch dimension. Recipe read: NVIDIA/physicsnemo 94b3551 (August 2026); its code is
not vendored, so the few recipe rules used here are restated below.
"""

import math
import shutil
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from physicsnemo.datapipes.transforms.mesh import CenterMesh, ComputeSurfaceNormals, MeshToDomainMesh, SubsampleMesh
from physicsnemo.mesh import DomainMesh, Mesh
from physicsnemo.mesh.primitives.surfaces import sphere_icosahedral
from physicsnemo.optim import CombinedOptimizer, Muon
from physicsnemo.utils import load_checkpoint, save_checkpoint

from modulus_lrsa.models import LRSA

MODEL_DIR = Path(__file__).resolve().parents[1] / "examples" / "external_aerodynamics" / "conf" / "model"

# The `targets:` blocks of the recipe's datasets/*.yaml, in their order (channels follow it).
TARGETS = {
    "drivaer_ml_surface": {"pressure": "scalar", "wss": "vector"},
    "drivaer_ml_volume": {"velocity": "vector", "pressure": "scalar", "nut": "scalar"},
    "highlift_surface": {"pressure": "scalar", "temperature": "scalar", "density": "scalar",
                         "velocity": "vector", "tau_wall": "vector"},
    "highlift_volume": {"pressure": "scalar", "temperature": "scalar", "density": "scalar", "velocity": "vector"},
}

# What the recipe's conf/base.yaml and conf/train.yaml set for a run, less data and logging.
RECIPE_RUN = {
    "precision": "bfloat16",
    "compile": False,  # the recipe's default is true; compiling costs ~45 s on 2 cores (see the docs)
    "training": {
        "loss_type": "huber",
        "batch_size": 1,
        "scheduler_update_mode": "epoch",
        "optimizer": {"lr": 3.0e-3, "weight_decay": 1.0e-4, "betas": [0.9, 0.999], "eps": 1.0e-8},
        "scheduler": {"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 100, "gamma": 0.1},
    },
}

# The recipe's transolver_{surface,volume}.yaml model blocks, for the size comparison.
RECIPE_TRANSOLVER = dict(
    _target_="physicsnemo.models.transolver.Transolver", functional_dim=3, n_hidden=256, dropout=0.0,
    n_head=8, act="gelu", mlp_ratio=4, slice_num=256, unified_pos=False, structured_shape=None,
    use_te=False, plus=False,
)
RECIPE_DEPTH = {"surface": (8, 6), "volume": (12, 7)}  # (n_layers, embedding_dim)

# Test-size model: same inputs and outputs, a fraction of the width and depth.
SMALL = ["model.n_layers=2", "model.n_hidden=32", "model.n_head=4", "model.n_latents=8"]

BODY_RADIUS = 0.5
U_INF = (38.9, 0.0, 0.0)  # a DrivAerML-like freestream, in m/s: the recipe feeds it unscaled


def _field_width(kind: str) -> int:
    return {"scalar": 1, "vector": 3}[kind]


def _compose(tmp_path: Path, template: str, dataset: str, overrides=()):
    """The recipe's config: its run settings, with the template picked as `model=<name>`."""
    conf = tmp_path / "conf"
    if not conf.exists():
        shutil.copytree(MODEL_DIR, conf / "model")
        OmegaConf.save(OmegaConf.create({"defaults": ["_self_", {"model": "lrsa_surface"}], **RECIPE_RUN}),
                       conf / "train.yaml")
    with initialize_config_dir(config_dir=str(conf), version_base=None):
        cfg = compose(config_name="train", overrides=[f"model={template}", *overrides])
    out_dim = sum(_field_width(kind) for kind in TARGETS[dataset].values())
    OmegaConf.update(cfg, "out_dim", out_dim, force_add=True)
    return cfg


def _smooth(points: torch.Tensor, kind: str, phase: float) -> torch.Tensor:
    """A deterministic field that varies over the body, so there is something to fit."""
    channels = [torch.sin(math.pi * points[:, i] + phase) for i in range(_field_width(kind))]
    values = torch.stack(channels, dim=-1)
    return values[:, 0] if kind == "scalar" else values


def _surface_sample(target_config: dict, n_cells: int) -> DomainMesh:
    """A body surface run through the last transforms of the recipe's surface dataset YAMLs:
    centre, face normals into cell_data, subsample cells, then MeshToDomainMesh (interior =
    cell centroids carrying the targets, boundary `vehicle` keeping the normals)."""
    body = sphere_icosahedral.load(radius=BODY_RADIUS, subdivisions=2)
    centroids = body.cell_centroids
    fields = {name: _smooth(centroids, kind, i) for i, (name, kind) in enumerate(target_config.items())}
    mesh = Mesh(points=body.points + 0.3, cells=body.cells, cell_data=fields,
                global_data={"U_inf": torch.tensor(U_INF), "rho_inf": torch.tensor(1.225), "p_inf": torch.tensor(0.0)})
    for transform in (
        CenterMesh(use_area_weighting=False),
        ComputeSurfaceNormals(store_as="cell_data", field_name="normals"),
        SubsampleMesh(n_cells=n_cells),
        MeshToDomainMesh(cell_data_targets=list(target_config), interior_points="cell_centroids"),
    ):
        mesh = transform(mesh)
    return mesh


def _volume_sample(target_config: dict, n_points: int) -> DomainMesh:
    """A volume sample as the recipe's volume datasets leave it: an interior point cloud outside
    the body with `sdf` and `sdf_normals` beside the targets in point_data, no boundaries (the
    pipeline drops them once the SDF is computed)."""
    generator = torch.Generator().manual_seed(1)
    points = torch.empty(0, 3)
    while len(points) < n_points:
        candidates = 4 * torch.rand(4 * n_points, 3, generator=generator) - 2
        points = torch.cat([points, candidates[candidates.norm(dim=1) > BODY_RADIUS]])
    points = points[:n_points]
    distance = points.norm(dim=1)
    point_data = {"sdf": distance - BODY_RADIUS, "sdf_normals": points / distance[:, None]}
    point_data |= {name: _smooth(points, kind, i) for i, (name, kind) in enumerate(target_config.items())}
    return DomainMesh(interior=Mesh(points=points, point_data=point_data), boundaries={},
                      global_data={"U_inf": torch.tensor(U_INF), "rho_inf": torch.tensor(1.225), "p_inf": torch.tensor(0.0)})


def _walk(domain: DomainMesh, path: str) -> torch.Tensor:
    """A forward_kwargs path, one attribute or key per dotted part."""
    value = domain
    for part in path.split("."):
        value = getattr(value, part) if hasattr(value, part) else value[part]
    return value


def _collate(spec: dict, domain: DomainMesh, target_config: dict) -> dict:
    """The recipe's tensor-input collate for the spec forms these templates use: a path, a
    list of paths (joined on the last dim, 1-D fields as one channel) and
    ``{source, expand_like}`` (a per-sample value repeated at every point of another kwarg);
    then every kwarg gets a leading batch dim of 1 and the targets become ``[1, N]``."""
    def resolve(item):
        if isinstance(item, str):
            return _walk(domain, item)
        if isinstance(item, list):
            parts = [resolve(part) for part in item]
            return torch.cat([part if part.ndim == 2 else part[:, None] for part in parts], dim=-1)
        raise AssertionError(f"forward_kwargs form this test does not know: {item!r}")

    expanded = {key: value for key, value in spec.items() if isinstance(value, dict) and "expand_like" in value}
    kwargs = {key: resolve(value) for key, value in spec.items() if key not in expanded}
    for key, value in expanded.items():
        reference = kwargs[value["expand_like"]]
        kwargs[key] = resolve(value["source"]).expand(reference.shape[0], -1)
    targets = domain.interior.point_data.select(*target_config).unsqueeze(0)
    return {"forward_kwargs": {key: value.unsqueeze(0) for key, value in kwargs.items()}, "targets": targets}


def _autocast(precision: str, device: torch.device):
    """The recipe's autocast choice. It names device "cuda"; the device of the batch is used
    here so that bf16 also runs on a CPU (on a GPU the two are the same)."""
    if precision == "float32":
        return nullcontext()
    return torch.autocast(device.type, dtype={"bfloat16": torch.bfloat16, "float16": torch.float16}[precision])


def _recipe_loss(output: torch.Tensor, targets, target_config: dict, delta: float = 1.0) -> torch.Tensor:
    """The recipe's loss on `tensors` output: channels split in `targets:` order, Huber mean
    per scalar field, Huber summed over a vector's components, total over the channel count;
    all in float32."""
    output, total, start = output.float(), output.new_zeros((), dtype=torch.float32), 0
    for name, kind in target_config.items():
        width = _field_width(kind)
        pred, target = output[..., start:start + width], targets[name].float()
        if kind == "scalar":
            total = total + F.huber_loss(pred.squeeze(-1), target, delta=delta)
        else:
            total = total + sum(F.huber_loss(pred[..., i], target[..., i], delta=delta) for i in range(width))
        start += width
    assert start == output.shape[-1], "output channels do not match the dataset's targets"
    return total / start


def _recipe_optimizer(model: torch.nn.Module, cfg) -> CombinedOptimizer:
    """The recipe's optimizer: Muon on every 2-D parameter, AdamW on the rest."""
    opt = cfg.training.optimizer
    matrices = [p for p in model.parameters() if p.ndim == 2]
    others = [p for p in model.parameters() if p.ndim != 2]
    return CombinedOptimizer(
        [
            Muon(matrices, lr=opt.lr, weight_decay=opt.weight_decay, adjust_lr_fn="match_rms_adamw"),
            torch.optim.AdamW(others, lr=opt.lr, weight_decay=opt.weight_decay, betas=tuple(opt.betas), eps=opt.eps),
        ],
        torch_compile_kwargs={} if cfg.compile else None,
    )


def _batch(cfg, dataset: str, n: int) -> dict:
    target_config = TARGETS[dataset]
    sample = _surface_sample(target_config, n) if "surface" in dataset else _volume_sample(target_config, n)
    return _collate(OmegaConf.to_container(cfg.forward_kwargs, resolve=True), sample, target_config)


@pytest.mark.parametrize("kind", ["surface", "volume"])
def test_template_builds_at_recipe_size_and_runs_on_a_datapipe_sample(tmp_path, kind):
    dataset = f"drivaer_ml_{kind}"
    cfg = _compose(tmp_path, f"lrsa_{kind}", dataset)
    assert cfg.input_type == "tensors" and cfg.output_type == "tensors"
    model = instantiate(cfg.model, _convert_="partial")
    assert type(model) is LRSA
    n_layers, embedding_dim = RECIPE_DEPTH[kind]
    assert (len(model.blocks), model.embedding_dim, model.functional_dim) == (n_layers, embedding_dim, 3)

    # Within 10% of the recipe's Transolver for the same task: the comparison the templates promise.
    transolver = instantiate(OmegaConf.create(dict(RECIPE_TRANSOLVER, out_dim=cfg.out_dim, n_layers=n_layers,
                                                   embedding_dim=embedding_dim)), _convert_="partial")
    sizes = [sum(p.numel() for p in m.parameters()) for m in (model, transolver)]
    assert abs(sizes[0] / sizes[1] - 1) < 0.10, f"LRSA {sizes[0]:,} against Transolver {sizes[1]:,} parameters"

    batch = _batch(cfg, dataset, 64)
    fx, embedding = batch["forward_kwargs"]["fx"], batch["forward_kwargs"]["embedding"]
    assert fx.shape == (1, 64, 3) and embedding.shape == (1, 64, embedding_dim)
    assert fx.dtype == embedding.dtype == torch.float32
    assert torch.equal(fx[0], torch.tensor(U_INF).expand(64, 3))
    model.eval()
    with torch.no_grad():
        out = model(**batch["forward_kwargs"])
    assert out.shape == (1, 64, cfg.out_dim) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "template, dataset, precision",
    [
        ("lrsa_surface", "drivaer_ml_surface", "bfloat16"),
        ("lrsa_surface", "drivaer_ml_surface", "float32"),
        ("lrsa_volume", "drivaer_ml_volume", "bfloat16"),
        ("lrsa_volume", "drivaer_ml_volume", "float32"),
        ("lrsa_surface", "highlift_surface", "bfloat16"),
        ("lrsa_volume", "highlift_volume", "bfloat16"),
    ],
)
def test_recipe_training_step(tmp_path, template, dataset, precision):
    cfg = _compose(tmp_path, template, dataset, [*SMALL, f"precision={precision}"])
    target_config = TARGETS[dataset]
    model = instantiate(cfg.model, _convert_="partial")
    batch = _batch(cfg, dataset, 96)
    optimizer = _recipe_optimizer(model, cfg)
    scheduler = instantiate(cfg.training.scheduler, optimizer=optimizer)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}

    def float32_loss() -> torch.Tensor:  # the descent check below, free of bf16 rounding
        with torch.no_grad():
            return _recipe_loss(model(**batch["forward_kwargs"]), batch["targets"], target_config)

    start = float32_loss()
    model.train()
    with _autocast(cfg.precision, batch["forward_kwargs"]["fx"].device):
        out = model(**batch["forward_kwargs"])
    assert out.shape == (1, 96, cfg.out_dim)
    assert out.dtype == (torch.bfloat16 if precision == "bfloat16" else torch.float32)
    assert torch.isfinite(out.float()).all()
    loss = _recipe_loss(out, batch["targets"], target_config)
    optimizer.zero_grad()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    optimizer.step()
    scheduler.step()  # scheduler_update_mode "epoch": once after the epoch's steps

    moved = {name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])}
    stuck = [name for name, p in model.named_parameters() if p.grad.abs().sum() > 0 and name not in moved]
    assert not stuck, f"parameters with a gradient that the step left unchanged: {stuck}"
    shapes = {name: p.ndim for name, p in model.named_parameters()}
    assert any(shapes[name] == 2 for name in moved) and any(shapes[name] != 2 for name in moved), \
        "both the Muon and the AdamW group must have moved"
    after = float32_loss()
    assert torch.isfinite(loss) and after < start, f"one step on the batch took the loss from {start:.5f} to {after:.5f}"


def test_recipe_checkpoint_round_trip(tmp_path):
    # train.py saves every save_interval epochs with save_checkpoint(path, optimizer, scheduler,
    # models, epoch) and resumes with load_checkpoint on the same arguments before training.
    cfg = _compose(tmp_path, "lrsa_surface", "drivaer_ml_surface", SMALL)
    batch = _batch(cfg, "drivaer_ml_surface", 48)

    def fresh():
        model = instantiate(cfg.model, _convert_="partial")
        optimizer = _recipe_optimizer(model, cfg)
        return model, optimizer, instantiate(cfg.training.scheduler, optimizer=optimizer)

    model, optimizer, scheduler = fresh()
    loss = _recipe_loss(model(**batch["forward_kwargs"]), batch["targets"], TARGETS["drivaer_ml_surface"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    path = tmp_path / "checkpoints"
    save_checkpoint(path, models=model, optimizer=optimizer, scheduler=scheduler, epoch=1)

    torch.manual_seed(123)  # a different initialization, so equality below comes from the file
    restored, restored_optimizer, restored_scheduler = fresh()
    assert load_checkpoint(path, models=restored, optimizer=restored_optimizer, scheduler=restored_scheduler) == 1
    model.eval()
    restored.eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(**batch["forward_kwargs"]), model(**batch["forward_kwargs"]))
    assert restored_scheduler.last_epoch == scheduler.last_epoch == 1
