"""g2core.models: the registry, both G2 UNets, their parameter counts, names and input checks."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from g2core.models import (
    build_model,
    check_input_size,
    list_models,
    load_official_state_dict,
    param_count,
    register_model,
)
from g2core.models.g2_official import Bottleneck
from tests.conftest import REFERENCE

OFFICIAL_PARAMS_JSON = REFERENCE / "g2_official_params.json"
OFFICIAL_PARAM_COUNT = 18_161_672

# CPU CI must stay fast: a test that hangs or balloons fails instead of stalling the suite.
pytestmark = pytest.mark.timeout(60)

# Small configurations so the whole file runs in seconds on 2 CPU cores: (kwargs, batch, H, W).
SMALL_CONFIGS: dict[str, tuple[dict, int, int, int]] = {
    "g2_unet": ({"levels": 4, "features": 8}, 2, 32, 32),
    "g2_official": ({}, 1, 64, 64),
}
# RGB-only models through an optional extra, with their own tests (tests/test_depth_anything.py).
FOREIGN = {"depth_anything_v2"}


def _official_reference() -> dict:
    return json.loads(OFFICIAL_PARAMS_JSON.read_text())


def _build_small(name: str, **overrides: object) -> tuple[nn.Module, torch.Tensor]:
    kwargs, batch, height, width = SMALL_CONFIGS[name]
    model = build_model(name, **{**kwargs, **overrides})
    channels = overrides.get("in_channels", 5)
    return model, torch.randn(batch, channels, height, width)


def _alphas(model: nn.Module) -> list[nn.Parameter]:
    return [p for n, p in model.named_parameters() if n.endswith("alpha")]


def test_every_registered_model_has_a_small_config() -> None:
    assert set(list_models()) - FOREIGN == set(SMALL_CONFIGS)


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_forward_shape_finite_and_size_multiple(name: str) -> None:
    torch.manual_seed(0)
    model, x = _build_small(name)
    assert x.shape[-1] % model.size_multiple == 0
    y = model(x)
    assert y.shape == (x.shape[0], 1, *x.shape[-2:])
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model, x = _build_small(name)
    # At init (every ReZero alpha = 0) the residual branches are cut off: their weights get exactly
    # zero gradient by design, but every alpha and every parameter on the main path must get one.
    model(x).square().mean().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None, f"{n} is not in the graph"
    assert all(p.grad.abs().sum() > 0 for p in _alphas(model))
    # Open the branches: now every single parameter must receive a non-zero gradient.
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for alpha in _alphas(model):
            alpha.fill_(0.5)
    model(x).square().mean().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches {dead[:5]}"


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_rgb_only_variant(name: str) -> None:
    model, x = _build_small(name, in_channels=3)
    assert model(x).shape == (x.shape[0], 1, *x.shape[-2:])
    with pytest.raises(ValueError, match="input channels"):
        model(torch.randn(1, 5, *x.shape[-2:]))


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_bad_input_size_names_the_multiple(name: str) -> None:
    model, x = _build_small(name)
    m = model.size_multiple
    bad_h = x.shape[-2] - 4
    with pytest.raises(
        ValueError, match=rf"input {bad_h}x{x.shape[-1]}: H and W must be multiples of {m} for {name}"
    ):
        model(x[..., :bad_h, :])
    with pytest.raises(ValueError, match="set data.height/data.width"):
        check_input_size(model, x.shape[-2], x.shape[-1] + 1)
    check_input_size(model, 2 * m, 3 * m)  # a valid size passes silently


def test_input_size_error_suggests_a_size() -> None:
    with torch.device("meta"):
        model = build_model("g2_official")
    with pytest.raises(ValueError) as err:
        check_input_size(model, 60, 64)
    assert str(err.value) == (
        "input 60x64: H and W must be multiples of 64 for g2_official (e.g. 64x64); "
        "set data.height/data.width accordingly"
    )


def test_unknown_model_lists_registered_names() -> None:
    with pytest.raises(ValueError, match="registered models: depth_anything_v2, g2_official, g2_unet"):
        build_model("resnet")


def test_register_model_rejects_a_second_model_under_one_name() -> None:
    def g2_unet() -> nn.Module:  # same name as the real one
        return nn.Identity()

    with pytest.raises(ValueError, match="registered twice"):
        register_model(g2_unet)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"levels": 1}, "levels"),
        ({"levels": 3.0}, "levels"),
        ({"features": 0}, "features"),
        ({"in_channels": 4}, "in_channels"),
    ],
)
def test_g2_unet_rejects_bad_kwargs(kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        build_model("g2_unet", **kwargs)


# --- g2_official: the published architecture -------------------------------------------------


def test_official_param_count_and_names_match_the_published_model() -> None:
    ref = _official_reference()
    with torch.device("meta"):  # shapes and counts only: skip 18 M random draws
        model = build_model("g2_official")
    assert param_count(model) == OFFICIAL_PARAM_COUNT == ref["total_parameters"]
    assert model.size_multiple == ref["input_multiple_of"]
    ours = [(name, list(t.shape)) for name, t in model.state_dict().items()]
    assert ours == [(name, list(shape)) for name, shape in ref["tensors"]]


def test_official_init_is_kaiming_with_zero_bias_and_zero_alpha() -> None:
    torch.manual_seed(0)
    model = build_model("g2_official")
    assert all(float(a.detach()) == 0.0 for a in _alphas(model))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(float(c.bias.detach().abs().max()) == 0.0 for c in convs)
    big = model.block[2].block[0]  # 64 -> 128 stride-2 conv: enough samples to check the std
    expected_std = (2.0 / (1 + 0.2**2) / (64 * 9)) ** 0.5
    assert float(big.weight.detach().std()) == pytest.approx(expected_std, rel=0.05)


@pytest.mark.parametrize(("cin", "cout"), [(64, 64), (256, 64)])
def test_official_bottleneck_matches_the_in_place_published_formula(cin: int, cout: int) -> None:
    torch.manual_seed(0)
    block = Bottleneck(cin, cout)
    with torch.no_grad():
        block.alpha.fill_(0.7)
    x = torch.randn(2, cin, 8, 8)
    # Published forward: alpha * left(x) + right(x), where left opens with LeakyReLU(inplace=True).
    x_ref = x.clone()
    branch = F.leaky_relu_(x_ref, 0.2)
    for layer in list(block.left)[1:]:
        branch = layer(branch)
    expected = block.alpha * branch + (x_ref if block.right is None else block.right(x_ref))
    torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize("wrap", ["raw", "state_dict", "model"])
def test_official_state_dict_round_trip(wrap: str) -> None:
    torch.manual_seed(0)
    source, x = _build_small("g2_official")
    with torch.no_grad():
        for alpha in _alphas(source):
            alpha.uniform_(0.1, 0.5)  # make the round trip observable in the output
    state = {f"module.{k}": v.clone() for k, v in source.state_dict().items()}  # DataParallel
    checkpoint = state if wrap == "raw" else {wrap: state, "epoch": 3}
    target = build_model("g2_official")
    load_official_state_dict(target, checkpoint)
    for name, tensor in source.state_dict().items():
        assert torch.equal(target.state_dict()[name], tensor), name
    torch.testing.assert_close(target(x), source(x))


def test_official_state_dict_mismatch_names_the_keys() -> None:
    with torch.device("meta"):
        model = build_model("g2_official")
    state = dict(model.state_dict())
    del state["block.0.bias"]
    state["rgb_x_block.0.weight"] = torch.zeros(1)
    state["block.4.weight"] = torch.zeros(1, 32, 3, 3)
    with pytest.raises(ValueError) as err:
        load_official_state_dict(model, state)
    message = str(err.value)
    assert "1 missing: block.0.bias" in message
    assert "1 unexpected: rgb_x_block.0.weight" in message
    assert "block.4.weight (checkpoint [1, 32, 3, 3] vs model [1, 64, 3, 3])" in message


# --- g2_unet: the design-document architecture ------------------------------------------------


def _g2_unet_param_formula(levels: int, features: int, in_channels: int) -> int:
    """Parameters of g2_unet counted by hand from the design, independently of the code."""
    w = [min(features * 2**i, features * 8) for i in range(levels)]

    def bottleneck(c: int) -> int:
        h = 2 * c
        expand = c * h + h
        depthwise = 9 * h + h
        project = h * c + c
        norms = 2 * h + 2 * h + 2 * c  # weight + bias of each LayerNorm
        return expand + depthwise + project + norms + 1  # + alpha

    stem = 9 * in_channels * w[0] + w[0] + 2 * w[0]
    encoder = sum(3 * bottleneck(c) for c in w)
    downs = sum(9 * w[i - 1] * w[i] + w[i] for i in range(1, levels))
    decoder = sum(w[i] * w[i - 1] + w[i - 1] + 3 * bottleneck(w[i - 1]) for i in range(1, levels))
    head = 9 * w[0] + 1
    return stem + encoder + downs + decoder + head


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [({}, 34_120_744), ({"in_channels": 3}, 34_120_744 - 2 * 9 * 64), ({"levels": 4, "features": 8}, None)],
)
def test_g2_unet_param_count(kwargs: dict, expected: int | None) -> None:
    cfg = {"levels": 7, "features": 64, "in_channels": 5, **kwargs}
    with torch.device("meta"):
        model = build_model("g2_unet", **kwargs)
    count = param_count(model)
    assert count == _g2_unet_param_formula(**cfg)
    if expected is not None:
        assert count == expected
    if not kwargs:
        assert 10_000_000 <= count < 100_000_000  # DESIGN: "about 34 M" in the seed-described form
        assert model.widths == [64, 128, 256, 512, 512, 512, 512]
        assert model.size_multiple == 64


def test_g2_unet_starts_alive_and_positive() -> None:
    torch.manual_seed(0)
    model, x = _build_small("g2_unet")
    assert all(float(a.detach()) == 0.0 for a in _alphas(model))
    y = model(x)
    assert (y > 0).float().mean() > 0.99  # no dead ReLU at init: every pixel gets a gradient
