"""Alignment before the metrics (trainer.align): exact on the predictions each mode is invariant to, safe on
a constant prediction, and fitted over exactly the pixels the metrics count."""

from __future__ import annotations

import pytest
import torch

from g2core.metrics import DepthMetrics
from g2core.metrics.align import align_prediction, fit_scale_shift
from g2core.names import ALIGN_MODES

MIN_DEPTH, MAX_DEPTH = 1e-3, 10.0


def scene(batch: int = 4, size: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    gt = 0.5 + 8.0 * torch.rand(batch, 1, size, size)
    mask = torch.rand(batch, 1, size, size) > 0.2
    return gt, mask


def metrics_of(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, mode: str, output: str = "depth"
) -> dict[str, float]:
    metrics = DepthMetrics(MIN_DEPTH, MAX_DEPTH, edges=False)
    valid = metrics.valid_pixels(gt, mask)
    aligned, _ = align_prediction(pred, gt, valid, mode, MIN_DEPTH, MAX_DEPTH, output)
    metrics.update(aligned, gt, mask)
    return {k: float(v) for k, v in metrics.compute().items()}


def test_disparity_alignment_is_exact_on_an_affine_map_of_the_true_disparity() -> None:
    gt, mask = scene()
    scale = torch.tensor([0.5, 2.0, 7.0, 0.1]).view(-1, 1, 1, 1)
    shift = torch.tensor([0.3, -0.1, 1.0, 0.0]).view(-1, 1, 1, 1)
    pred = scale * (1.0 / gt) + shift  # a disparity network's output
    values = metrics_of(pred, gt, mask, "scale_shift_disparity", output="disparity")
    assert values["abs_rel"] == pytest.approx(0.0, abs=1e-5)
    assert values["delta1"] == 1.0
    # the same prediction read as depth fits far worse: the protocol matters
    assert metrics_of(pred, gt, mask, "scale_shift")["abs_rel"] > 0.05
    # a depth network whose inverse is that map: the fit runs on 1 / pred
    depth_scale = torch.tensor([1.0, 2.0, 3.0, 1.5]).view(-1, 1, 1, 1)  # keeps its depths inside the range
    depth_pred = 1.0 / (depth_scale / gt + shift.abs())
    assert metrics_of(depth_pred, gt, mask, "scale_shift_disparity")["abs_rel"] == pytest.approx(
        0.0, abs=1e-5
    )
    assert metrics_of(depth_pred, gt, mask, "scale_shift")["abs_rel"] > 0.01


def test_scale_shift_is_exact_on_an_affine_map_of_the_depth() -> None:
    gt, mask = scene()
    pred = 0.25 * gt - 3.0
    assert metrics_of(pred, gt, mask, "scale_shift")["abs_rel"] == pytest.approx(0.0, abs=1e-5)


def test_median_scaling_fixes_the_scale_only() -> None:
    gt, mask = scene()
    scaled = metrics_of(3.0 * gt, gt, mask, "median")
    assert scaled["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    gt, mask = scene(batch=1)
    valid = mask & (gt > MIN_DEPTH) & (gt < MAX_DEPTH)
    pred = gt + 1.0
    aligned, clamped = align_prediction(pred, gt, valid, "median", MIN_DEPTH, MAX_DEPTH)
    ratio = gt[valid].median() / pred[valid].median()
    assert torch.allclose(aligned, pred * ratio)
    assert int(clamped.sum()) == 0


@pytest.mark.parametrize("mode", ALIGN_MODES)
@pytest.mark.parametrize("value", [0.0, 2.5, -1.0])
def test_a_constant_prediction_gives_finite_metrics(mode: str, value: float) -> None:
    gt, mask = scene()
    pred = torch.full_like(gt, value)
    aligned, clamped = align_prediction(pred, gt, mask, mode, MIN_DEPTH, MAX_DEPTH)
    assert torch.isfinite(aligned).all() and clamped.dtype == torch.int64
    values = metrics_of(pred, gt, mask, mode)
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values()), values


def test_a_constant_prediction_aligns_to_the_mean_in_the_fitted_space() -> None:
    gt, mask = scene(batch=2)
    pred = torch.full_like(gt, 4.0)
    depth, _ = align_prediction(pred, gt, mask, "scale_shift", MIN_DEPTH, MAX_DEPTH)
    disparity, _ = align_prediction(pred, gt, mask, "scale_shift_disparity", MIN_DEPTH, MAX_DEPTH)
    for image in range(2):
        m = mask[image]
        assert depth[image][m] == pytest.approx(gt[image][m].mean().item(), rel=1e-5)
        harmonic = 1.0 / (1.0 / gt[image][m]).mean()
        assert disparity[image][m] == pytest.approx(harmonic.item(), rel=1e-5)


def test_disparity_alignment_clamps_into_the_depth_range_and_counts_it() -> None:
    gt = torch.tensor([1.0, 2.0, 4.0, 8.0]).view(1, 1, 2, 2)
    valid = torch.ones_like(gt, dtype=torch.bool)
    # the fit over the first three pixels is exact; the last one is pushed behind the camera
    pred = 1.0 / gt
    pred[..., 1, 1] = -5.0
    aligned, clamped = align_prediction(pred, gt, valid, "scale_shift_disparity", 0.5, 6.0, "disparity")
    assert aligned.min() >= 0.5 and aligned.max() <= 6.0
    assert aligned[..., 1, 1].item() == pytest.approx(6.0)
    assert clamped.tolist() == [1]
    # pixels outside `valid` are neither fitted nor counted
    valid[..., 1, 1] = False
    aligned, clamped = align_prediction(pred, gt, valid, "scale_shift_disparity", 0.5, 6.0, "disparity")
    assert clamped.tolist() == [0]
    assert aligned[valid].tolist() == pytest.approx(gt[valid].tolist(), rel=1e-5)


def test_the_fit_uses_exactly_the_pixels_the_metrics_count() -> None:
    gt, mask = scene(batch=1)
    gt[..., :4, :] = 50.0  # beyond max_depth: the metrics skip these rows, so must the fit
    pred = 2.0 * gt + 1.0
    pred[..., :4, :] = -100.0
    assert metrics_of(pred, gt, mask, "scale_shift")["abs_rel"] == pytest.approx(0.0, abs=1e-5)
    cropped = DepthMetrics(MIN_DEPTH, MAX_DEPTH, eigen_crop=True, edges=False)
    assert not cropped.valid_pixels(gt, mask)[..., 0, :].any()  # the Eigen crop is part of the set


def test_empty_and_single_pixel_images_stay_as_they_are() -> None:
    gt, _ = scene(batch=2)
    pred = torch.rand_like(gt) + 1.0
    valid = torch.zeros_like(gt, dtype=torch.bool)
    valid[1, 0, 3, 3] = True
    for mode in ("median", "scale_shift"):
        aligned, _ = align_prediction(pred, gt, valid, mode, MIN_DEPTH, MAX_DEPTH)
        assert torch.equal(aligned, pred)
    aligned, clamped = align_prediction(pred, gt, valid, "scale_shift_disparity", MIN_DEPTH, MAX_DEPTH)
    assert torch.isfinite(aligned).all() and clamped.tolist() == [0, 0]


def test_fit_is_precise_on_a_near_constant_prediction_in_float32() -> None:
    torch.manual_seed(1)
    gt = 1.0 + torch.rand(1, 1, 32, 32)
    pred = 5.0 + 1e-3 * (gt - 1.5)  # tiny spread on a large mean: lstsq on [p, 1] in float32 loses it
    scale, shift = fit_scale_shift(pred, gt, torch.ones_like(gt))
    assert scale.item() == pytest.approx(1e3, rel=1e-3)
    assert (scale * pred + shift).flatten() == pytest.approx(gt.flatten().tolist(), abs=1e-3)


def test_unknown_mode_names_the_key() -> None:
    gt, mask = scene(batch=1)
    with pytest.raises(ValueError, match=r"trainer\.align"):
        align_prediction(gt, gt, mask, "affine", MIN_DEPTH, MAX_DEPTH)
