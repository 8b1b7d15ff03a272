# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""PhysicsNeMo's own Transolver/FLARE recipes with only ``_target_`` changed to LRSA.

Each case holds the model config of one upstream recipe (values as in NVIDIA/physicsnemo's
examples, inlined: nothing is fetched), builds it the way that recipe's train script does
(``hydra.utils.instantiate`` with the recipe's ``_convert_``) and calls the model the way
the script does, on tiny random tensors shaped as that recipe's datapipe delivers them.
GeoTransolver configs and recipes whose target is their own Transolver subclass need more
than a target change; the last tests pin the errors they get and the wrapper they need.
"""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from modulus_lrsa.models import LRSA

TARGET = "modulus_lrsa.models.LRSA"
N_POINTS = 64

# examples/cfd/external_aerodynamics/transformer_models/src/conf/model/transolver.yaml
# (transolver_volume.yaml overrides out_dim 5, embedding_dim 7)
AERO_TRANSOLVER = dict(
    functional_dim=2, out_dim=4, embedding_dim=6, n_layers=8, n_hidden=256, dropout=0.0,
    n_head=8, act="gelu", mlp_ratio=2, slice_num=512, unified_pos=False, ref=8,
    structured_shape=None, use_te=False, time_input=False, plus=False,
)
# examples/cfd/external_aerodynamics/unified_external_aero_recipe/conf/model/
# {transolver,flare}_{surface,volume}.yaml (the "model:" block; out_dim comes from the dataset)
UNIFIED_TRANSOLVER = dict(
    out_dim=4, functional_dim=3, embedding_dim=6, n_layers=8, n_hidden=256, dropout=0.0,
    n_head=8, act="gelu", mlp_ratio=4, slice_num=256, unified_pos=False,
    structured_shape=None, use_te=False, plus=False,
)
UNIFIED_FLARE = dict(
    out_dim=4, functional_dim=3, embedding_dim=6, n_layers=12, n_hidden=256, dropout=0.0,
    n_head=8, act="gelu", mlp_ratio=4, slice_num=256, unified_pos=False,
    structured_shape=None,
)
# examples/nuclear_engineering/radiation_transport/src/conf/model/transolver.yaml, after
# train.py strips num_spatial_points and include_q_in_embedding (embedding_dim: 4 lattice,
# 3 hohlraum)
RADIATION_TRANSOLVER = dict(
    functional_dim=14, embedding_dim=4, out_dim=1, n_layers=8, n_hidden=256, n_head=16,
    slice_num=128, mlp_ratio=4, dropout=0.0, use_te=False, structured_shape=None,
)


def _darcy_config(flare: bool, resolution: int) -> dict:
    """examples/cfd/darcy_transolver/model/{transolver,flare}.yaml (structured_shape is
    ``[${resolution}, ${resolution}]``; FLARE's file has no use_te)."""
    config = dict(
        _convert_="all", functional_dim=1, out_dim=1, embedding_dim=2, n_layers=4,
        n_hidden=128, dropout=0.0, n_head=4, act="gelu", mlp_ratio=4, slice_num=64,
        unified_pos=False, ref=8, structured_shape=[resolution, resolution], time_input=False,
    )
    if not flare:
        config["use_te"] = False
    return config


def _build(values: dict, **instantiate_kwargs) -> LRSA:
    cfg = OmegaConf.create({"_target_": TARGET, **values})
    model = instantiate(cfg, **instantiate_kwargs)
    assert type(model) is LRSA
    return model


def _backward(out: torch.Tensor, model: LRSA) -> None:
    out.square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("flare", [False, True], ids=["transolver", "flare"])
def test_darcy_transolver_fix_recipe(flare):
    # train_transolver_darcy_fix.py: instantiate(cfg.model); the Darcy2D_fix datapipe gives
    # pos (B, s*s, 2), x (B, s*s); the call is model(embedding=pos, fx=x.unsqueeze(-1)).
    resolution = 10
    model = _build(_darcy_config(flare, resolution))
    assert model.structured_shape == (resolution, resolution)
    pos = torch.rand(2, resolution * resolution, 2)
    x = torch.randn(2, resolution * resolution)
    pred = model(embedding=pos, fx=x.unsqueeze(-1)).squeeze(-1)
    assert pred.shape == x.shape
    _backward(pred, model)


@pytest.mark.parametrize("volume", [False, True], ids=["surface", "volume"])
def test_transformer_models_recipe(volume):
    # transformer_models/src/train.py: instantiate(cfg.model, _convert_="partial");
    # TransolverDataPipe broadcasts the 2 global features to every point (fx) and gives
    # coordinates + normals (+ SDF for volume) as embeddings; batch size 1.
    values = dict(AERO_TRANSOLVER)
    if volume:
        values.update(out_dim=5, embedding_dim=7)
    model = _build(values, _convert_="partial")
    features = torch.randn(1, 2).broadcast_to(N_POINTS, 2).unsqueeze(0)
    embeddings = torch.randn(1, N_POINTS, values["embedding_dim"])
    outputs = model(fx=features, embedding=embeddings)
    assert outputs.shape == (1, N_POINTS, values["out_dim"])
    _backward(outputs, model)


@pytest.mark.parametrize(
    "values, embedding_dim",
    [(UNIFIED_TRANSOLVER, 6), (UNIFIED_TRANSOLVER, 7), (UNIFIED_FLARE, 6), (UNIFIED_FLARE, 7)],
    ids=["transolver_surface", "transolver_volume", "flare_surface", "flare_volume"],
)
def test_unified_external_aero_recipe(values, embedding_dim):
    # unified_external_aero_recipe/src/train.py: instantiate(cfg.model, _convert_="partial")
    # and model(**forward_kwargs): embedding = points + normals (surface) or points + SDF +
    # SDF normals (volume), fx = U_inf (3) expanded like embedding.
    values = dict(values, embedding_dim=embedding_dim)
    if embedding_dim == 7:
        values["n_layers"] = 12
    model = _build(values, _convert_="partial")
    embedding = torch.randn(1, N_POINTS, embedding_dim)
    forward_kwargs = {"embedding": embedding, "fx": torch.randn(1, 1, 3).expand(1, N_POINTS, 3)}
    out = model(**forward_kwargs)
    assert out.shape == (1, N_POINTS, 4)
    _backward(out, model)


@pytest.mark.parametrize("embedding_dim", [4, 3], ids=["lattice", "hohlraum"])
def test_radiation_transport_recipe(embedding_dim):
    # radiation_transport/src/train.py: instantiate(cfg_model) with no _convert_;
    # fx = coordinates + Fourier features (14), embedding = material properties.
    model = _build(dict(RADIATION_TRANSOLVER, embedding_dim=embedding_dim))
    batch = {"fx": torch.randn(1, N_POINTS, 14), "embedding": torch.rand(1, N_POINTS, embedding_dim)}
    pred = model(fx=batch["fx"], embedding=batch["embedding"])
    assert pred.shape == (1, N_POINTS, 1)
    _backward(pred, model)


def test_geotransolver_config_is_refused_with_what_to_use_instead():
    # unified_external_aero_recipe/conf/model/geotransolver_surface.yaml's model block.
    geotransolver = dict(
        out_dim=4, functional_dim=6, geometry_dim=3, global_dim=3, n_layers=12, n_hidden=256,
        dropout=0.0, n_head=8, act="gelu", mlp_ratio=4, slice_num=256, use_te=False,
        plus=False, include_local_features=False, radii=[0.1, 0.5, 2.0],
        neighbors_in_radius=[16, 32, 64], n_hidden_local=32, state_mixing_mode="weighted",
    )
    with pytest.raises(Exception, match="'geometry_dim'.*GeoTransolver keys.*Transolver or FLARE"):
        _build(geotransolver, _convert_="partial")
    with pytest.raises(TypeError, match="'attention_type' is a GeoTransolver key"):
        LRSA(functional_dim=3, out_dim=1, embedding_dim=2, attention_type="GALE")


def test_recipe_wrapper_key_is_named_and_a_wrapper_subclass_works():
    # structural_mechanics/crash (and drop_test) model/transolver_one_shot.yaml targets the
    # recipe's own Transolver subclass, which takes num_time_steps and a sample object.
    one_shot = dict(
        _convert_="all", functional_dim=4, embedding_dim=3, out_dim=75, slice_num=128,
        n_layers=6, unified_pos=False, structured_shape=None, use_te=False, time_input=False,
        num_time_steps=26,
    )
    with pytest.raises(Exception, match="'num_time_steps'.*wrapper.*subclass LRSA"):
        _build(one_shot)

    class OneShotLRSA(LRSA):
        def __init__(self, *args, **kwargs):
            self.rollout_steps = kwargs.pop("num_time_steps") - 1
            super().__init__(*args, **kwargs)

        def forward(self, coords, features):
            fx = torch.cat([coords, features], dim=-1)[None]
            out = super().forward(fx=fx, embedding=coords[None])[0]
            return out.view(coords.shape[0], self.rollout_steps, 3) + coords[:, None]

    model = OneShotLRSA(**{k: v for k, v in one_shot.items() if k != "_convert_"})
    pred = model(torch.randn(N_POINTS, 3), torch.rand(N_POINTS, 1))
    assert pred.shape == (N_POINTS, 25, 3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'radii'"):
        OneShotLRSA(**{k: v for k, v in one_shot.items() if k != "_convert_"}, radii=[1.0])
