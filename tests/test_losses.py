"""Loss terms against the reference vectors, their edge cases, and the composite loss."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
import torch
import torch.nn.functional as F

import g2core.losses as losses
from g2core.losses import TERMS, CompositeLoss, create_loss
from tests.conftest import REFERENCE

VARIANT_TERMS = ("adepth", "rdepth", "rgrad")
PLAIN_TERMS = ("ssi", "gm", "silog")
VARIANTS = ("seed", "official")


def _load_cases():
    spec = importlib.util.spec_from_file_location("reference_cases", REFERENCE / "cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


CASES = _load_cases()
VECTORS = json.loads((REFERENCE / "loss_vectors.json").read_text())["cases"]

# (term, variant) for every reference value: variant None for the terms without variants.
TERM_VARIANTS = [(t, v) for t in VARIANT_TERMS for v in VARIANTS] + [(t, None) for t in PLAIN_TERMS]


def _term(term: str, variant: str | None):
    fn = getattr(losses, term)
    return fn if variant is None else lambda p, g, m: fn(p, g, m, variant=variant)


def _reference(case: str, term: str, variant: str | None) -> float:
    return VECTORS[case][term] if variant is None else VECTORS[case][variant][term]


def _ids(param) -> str:
    term, variant = param
    return term if variant is None else f"{term}-{variant}"


@pytest.fixture(params=TERM_VARIANTS, ids=_ids)
def term_variant(request):
    return request.param


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_values_float64(case, term_variant):
    pred, gt, mask = CASES[case]()
    value = _term(*term_variant)(pred.double(), gt.double(), mask)
    assert value.dim() == 0
    assert value.item() == pytest.approx(_reference(case, *term_variant), rel=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_agrees_with_float64(case, term_variant):
    pred, gt, mask = CASES[case]()
    fn = _term(*term_variant)
    single = fn(pred, gt, mask)
    assert single.dtype == torch.float32
    assert single.item() == pytest.approx(fn(pred.double(), gt.double(), mask).item(), rel=1e-4)


def _one_image(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    gt = torch.rand(1, 1, 32, 32, generator=generator) * 5 + 0.5
    pred = gt * torch.exp(0.2 * torch.randn(1, 1, 32, 32, generator=generator))
    mask = torch.rand(1, 1, 32, 32, generator=generator) > 0.2
    return pred, gt, mask


# Per-image means put the empty image's 0 into the batch mean; every other term pools
# pixels over the batch, where an empty image adds nothing to either side of the ratio.
EMPTY_IMAGE_FACTOR = {("adepth", "seed"): 0.5, ("rdepth", "seed"): 0.5}


def test_empty_image_contributes_zero(term_variant):
    pred, gt, mask = _one_image()
    fn = _term(*term_variant)
    alone = fn(pred, gt, mask)
    batch_pred = torch.cat([pred, 3 * torch.rand_like(pred)]).requires_grad_()
    batch_gt = torch.cat([gt, torch.rand_like(gt)])
    batch_mask = torch.cat([mask, torch.zeros_like(mask)])
    value = fn(batch_pred, batch_gt, batch_mask)
    value.backward()
    factor = EMPTY_IMAGE_FACTOR.get(term_variant, 1.0)
    assert torch.isfinite(value)
    assert value.item() == pytest.approx(factor * alone.item(), rel=1e-5)
    assert torch.isfinite(batch_pred.grad).all()
    assert batch_pred.grad[1].abs().sum() == 0  # the empty image gets no gradient


def test_fully_empty_batch_is_zero(term_variant):
    pred, gt, mask = _one_image()
    pred = torch.cat([pred, pred]).requires_grad_()
    value = _term(*term_variant)(pred, torch.cat([gt, gt]), torch.zeros(2, 1, 32, 32, dtype=torch.bool))
    value.backward()
    assert value.item() == 0.0
    assert torch.isfinite(pred.grad).all()


def test_gradients_flow_to_pred(term_variant):
    pred, gt, mask = _one_image(seed=3)
    pred = pred.requires_grad_()
    _term(*term_variant)(pred, gt, mask).backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0


def test_unknown_variant_names_the_key():
    pred, gt, mask = _one_image()
    for term in VARIANT_TERMS:
        with pytest.raises(ValueError, match=r"loss\.variant"):
            getattr(losses, term)(pred, gt, mask, variant="paper")


def test_zero_prediction_gives_finite_losses():
    # A ReLU head outputs exact zeros early in training: silog clamps before the log and
    # the MiDaS solve treats a constant prediction as degenerate instead of dividing by ~0.
    _, gt, mask = _one_image()
    pred = torch.zeros_like(gt, requires_grad=True)
    for term, variant in TERM_VARIANTS:
        value = _term(term, variant)(pred, gt, mask)
        (grad,) = torch.autograd.grad(value, pred)
        assert torch.isfinite(value), term
        assert torch.isfinite(grad).all(), term


def test_silog_of_a_perfect_prediction_has_finite_gradient():
    _, gt, mask = _one_image()
    pred = gt.clone().requires_grad_()
    value = losses.silog(pred, gt, mask)
    value.backward()
    assert value.item() == 0.0
    assert torch.isfinite(pred.grad).all()


def test_rgrad_does_both_sobel_directions_in_one_conv(monkeypatch):
    calls = []
    conv2d = F.conv2d

    def counting(x, weight, *args, **kwargs):
        calls.append(tuple(weight.shape))
        return conv2d(x, weight, *args, **kwargs)

    monkeypatch.setattr(F, "conv2d", counting)
    pred, gt, mask = _one_image()
    for variant in VARIANTS:
        calls.clear()
        losses.rgrad(pred, gt, mask, variant=variant)
        assert calls == [(2, 1, 3, 3)] * 4  # one call per scale


def test_standardize_is_zero_mean_unit_mad_over_the_mask():
    pred, _, mask = _one_image()
    standardized = losses.standardize(pred.double(), mask)
    values = standardized[mask]
    assert values.mean().item() == pytest.approx(0.0, abs=1e-12)
    assert values.abs().mean().item() == pytest.approx(1.0, rel=1e-5)


# --- composite ---------------------------------------------------------------------------


def test_composite_total_is_the_weighted_sum():
    pred, gt, mask = CASES["A"]()
    weights = {"adepth": 1.0, "rdepth": 0.7, "rgrad": 0.5, "ssi": 2.0, "gm": 0.25, "silog": 3.0}
    for variant in VARIANTS:
        loss = create_loss(weights=weights, variant=variant)
        total, values = loss(pred, gt, mask)
        assert set(values) == set(TERMS)
        assert loss.active_terms == TERMS
        expected = sum(w * values[t] for t, w in weights.items())
        assert total.item() == pytest.approx(expected.item(), rel=1e-6)
        for term in VARIANT_TERMS:
            direct = getattr(losses, term)(pred, gt, mask, variant=variant)
            assert values[term].item() == pytest.approx(direct.item(), rel=1e-6)


def test_zero_weight_terms_are_not_computed(monkeypatch):
    import g2core.losses.composite as composite

    def must_not_run(*args, **kwargs):
        raise AssertionError("a zero-weight term was computed")

    monkeypatch.setattr(composite, "silog", must_not_run)
    monkeypatch.setattr(composite, "gm", must_not_run)
    loss = CompositeLoss({"adepth": 1.0, "rgrad": 0.5, "silog": 0.0, "gm": 0})
    pred, gt, mask = _one_image()
    total, values = loss(pred, gt, mask)
    assert loss.active_terms == ("adepth", "rgrad")
    assert set(values) == {"adepth", "rgrad"}
    assert total.item() == pytest.approx((values["adepth"] + 0.5 * values["rgrad"]).item())


def test_composite_backward_reaches_pred():
    pred, gt, mask = _one_image()
    pred = pred.requires_grad_()
    total, _ = create_loss(weights=dict.fromkeys(TERMS, 1.0))(pred, gt, mask)
    total.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("weights", "kwargs", "key"),
    [
        (
            {"adepth": 1.0, "foo": 1.0},
            {},
            r"loss\.weights\.foo: unknown loss term 'foo'; known terms: adepth, rdepth",
        ),
        ({"adepth": 1.0, "rgrad": -0.5}, {}, r"loss\.weights\.rgrad"),
        ({"adepth": 0.0, "ssi": 0}, {}, r"^loss\.weights:"),
        ({}, {}, r"^loss\.weights:"),
        ({"adepth": "one"}, {}, r"loss\.weights\.adepth"),
        ({"adepth": True}, {}, r"loss\.weights\.adepth"),
        ({"adepth": math.nan}, {}, r"loss\.weights\.adepth"),
        ({"adepth": 1.0}, {"variant": "paper"}, r"loss\.variant"),
        ({"adepth": 1.0}, {"adepth_mask": "raw"}, r"loss\.adepth_mask"),
    ],
)
def test_validation_errors_name_the_key(weights, kwargs, key):
    with pytest.raises(ValueError, match=key):
        create_loss(weights=weights, **kwargs)


def test_weights_from_an_omegaconf_mapping():
    omegaconf = pytest.importorskip("omegaconf")
    loss = create_loss(weights=omegaconf.OmegaConf.create({"adepth": 1, "rgrad": 0.5, "ssi": 0}))
    assert loss.active_terms == ("adepth", "rgrad")


def test_adepth_sparse_mask():
    pred, gt, mask = _one_image()
    loss = create_loss(weights={"adepth": 1.0, "rdepth": 1.0}, adepth_mask="sparse")
    total, values = loss(pred, gt, mask, sparse_mask=torch.zeros_like(mask))
    assert values["adepth"].item() == 0.0  # a monocular sample: no sparse input, no absolute term
    assert values["rdepth"].item() > 0
    _, with_gt = create_loss(weights={"adepth": 1.0})(pred, gt, mask)
    _, as_float = loss(pred, gt, mask, sparse_mask=mask.float())  # a 0/1 validity channel
    assert as_float["adepth"].item() == pytest.approx(with_gt["adepth"].item())
    with pytest.raises(ValueError, match=r"loss\.adepth_mask"):
        loss(pred, gt, mask)


def test_half_precision_prediction_is_promoted():
    pred, gt, mask = _one_image()
    total, values = create_loss(weights=dict.fromkeys(TERMS, 1.0))(pred.half(), gt, mask)
    assert total.dtype == torch.float32 and torch.isfinite(total)
    reference, _ = create_loss(weights=dict.fromkeys(TERMS, 1.0))(pred.half().float(), gt, mask)
    assert total.item() == pytest.approx(reference.item(), rel=1e-6)


# --- the published G2-MonoDepth rgrad ------------------------------------------------------
# Ported from Wang-xjtu/G2-MonoDepth, src/losses.py (WeightedMSGradLoss, Gradient2D) and
# src/utils.py (StandardizeData), commit 55878069763dec8089f219981b955365584cdfb9. Changes:
# no .cuda(), the Sobel kernels follow the input's dtype (the original's float32 Parameters
# refuse a float64 input), and the classes are flattened into functions.


def _published_standardize(depth, mask, eps=1e-6):
    mask_num = torch.sum(mask, dim=(1, 2, 3))
    mask_num[mask_num == 0] = eps
    depth_mean = (torch.sum(depth * mask, dim=(1, 2, 3)) / mask_num).view(depth.shape[0], 1, 1, 1)
    depth_std = torch.sum(torch.abs((depth - depth_mean) * mask), dim=(1, 2, 3)) / mask_num
    return (depth - depth_mean) / (depth_std.view(depth.shape[0], 1, 1, 1) + eps)


def _published_gradient_loss(residual):
    kernel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=residual.dtype)
    kernel_y = torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]], dtype=residual.dtype)
    loss_x = torch.sum(torch.abs(F.conv2d(residual, kernel_x.unsqueeze(0).unsqueeze(0))))
    loss_y = torch.sum(torch.abs(F.conv2d(residual, kernel_y.unsqueeze(0).unsqueeze(0))))
    return loss_x + loss_y


def _published_rgrad(output, target, hole_target, k=4, eps=1e-6):
    output = _published_standardize(output, hole_target)
    target = _published_standardize(target, hole_target)
    sampled_output = hole_target * output + (1.0 - hole_target) * target
    residual = sampled_output - target
    number_valid = torch.sum(hole_target) + eps
    loss = 0.0
    for i in range(k):
        scale_factor = 1.0 / (2**i)
        if i == 0:
            k_residual = residual
        else:
            k_residual = F.interpolate(residual, scale_factor=scale_factor, recompute_scale_factor=True)
        loss += _published_gradient_loss(k_residual)
    return loss / number_valid


@pytest.mark.parametrize("size", [(50, 70), (64, 96), (37, 41)])
def test_official_rgrad_equals_the_published_code(size):
    generator = torch.Generator().manual_seed(7)
    gt = torch.rand(2, 1, *size, generator=generator, dtype=torch.float64) * 5 + 0.5
    pred = gt * torch.exp(0.2 * torch.randn(2, 1, *size, generator=generator, dtype=torch.float64))
    mask = torch.rand(2, 1, *size, generator=generator) > 0.3
    expected = _published_rgrad(pred, gt, mask.double()).item()
    assert losses.rgrad(pred, gt, mask, variant="official").item() == pytest.approx(expected, rel=1e-10)
    if size[0] % 8 or size[1] % 8:
        # the stride-2^i slice (what this term used before) is a different number at this size
        residual = _published_standardize(pred, mask.double()) - _published_standardize(gt, mask.double())
        residual = residual * mask
        sliced = sum(_published_gradient_loss(residual[..., :: 2**i, :: 2**i]) for i in range(4))
        assert abs(sliced.item() / (mask.sum().item() + 1e-6) - expected) > 1e-3 * expected
