"""Aligning a relative prediction to the ground truth before the depth metrics, as the field does it.

`trainer.align` (g2core.names.ALIGN_MODES):

- ``none``: the prediction as it is (a metric-depth model).
- ``median``: per image, pred * median(gt) / median(pred): Monodepth's scale-only alignment.
- ``scale_shift``: per image, least squares s * pred + t ~ gt in depth.
- ``scale_shift_disparity``: the MiDaS / Depth Anything protocol: least squares s * x + t ~ 1 / gt in inverse
  depth, then depth = 1 / (s * x + t), clamped to [min_depth, max_depth]. ``x`` is the prediction itself for
  a network that outputs disparity (``output="disparity"``, MiDaS and Depth Anything's relative heads), and
  1 / pred for one that outputs depth (``output="depth"``, every model of this project), its depth floored
  at min_depth first (no 1/0, no negative disparity) but not capped: only the fitted result is clamped, as
  the metrics need. The count of clamped pixels says how often the fit left the range (a non-positive
  disparity, say); it is returned so that evaluation can log it.

Every fit runs over ``valid``, exactly the pixels the metrics count (``DepthMetrics.valid_pixels``: mask,
gt in (min_depth, max_depth), Eigen crop), batched over the images: no per-image Python loop.
"""

from __future__ import annotations

import torch
from torch import Tensor

from g2core.names import ALIGN_MODES

IMAGE_DIMS = (1, 2, 3)
# The fit treats a prediction as constant when its variance over the pixels is at most this share of its
# mean square: the 2x2 system is then singular and round-off would give an arbitrary scale. The metrics'
# share sits far above float32 round-off of the centred variance (about 1e-14) and far below any real
# prediction's spread; the MiDaS losses keep their own, larger share (a ReLU head's near-zero start).
METRIC_DEGENERATE_SHARE = 1e-10
MEDIAN_FLOOR = 1e-6  # median scaling divides by the prediction's median


def fit_scale_shift(
    x: Tensor, y: Tensor, weight: Tensor, degenerate_share: float = METRIC_DEGENERATE_SHARE
) -> tuple[Tensor, Tensor]:
    """Per-image s, t ([B] each) minimising sum weight * (s * x + t - y)^2 over [B,1,H,W] tensors.

    Centred closed form with the corrected two-pass variance, so float32 loses nothing to a large mean
    (torch.linalg.lstsq on [x, 1] in float32 is off by 1e-1 on a near-constant image; this is not). An
    image whose x is constant over its weight gets s = 0, t = weighted mean of y (the least-squares
    optimum of that singular system with the smallest scale); an empty image gets s = t = 0.
    Differentiable: the MiDaS losses fit with it too.
    """
    count = weight.sum(IMAGE_DIMS, keepdim=True)
    safe_count = count.clamp_min(1.0)
    mean_x = (weight * x).sum(IMAGE_DIMS, keepdim=True) / safe_count
    mean_y = (weight * y).sum(IMAGE_DIMS, keepdim=True) / safe_count
    dx = x - mean_x
    # The correction removes what round-off left of the mean in dx (it makes a constant's variance ~0).
    residual_mean = (weight * dx).sum(IMAGE_DIMS)
    var = (weight * dx * dx).sum(IMAGE_DIMS) - residual_mean.square() / safe_count.flatten()
    cov = (weight * dx * (y - mean_y)).sum(IMAGE_DIMS)
    square = (weight * x * x).sum(IMAGE_DIMS)
    solvable = var > degenerate_share * square
    safe_var = torch.where(solvable, var, torch.ones_like(var))
    scale = torch.where(solvable, cov / safe_var, torch.zeros_like(var))
    shift = mean_y.flatten() - scale * mean_x.flatten()
    return scale, shift


def align_prediction(
    pred: Tensor,
    gt: Tensor,
    valid: Tensor,
    mode: str,
    min_depth: float,
    max_depth: float,
    output: str = "depth",
) -> tuple[Tensor, Tensor]:
    """(aligned prediction [B,1,H,W], clamped valid pixels per image [B] int64), fitted over ``valid``.

    Only ``scale_shift_disparity`` clamps (and counts); the other modes leave the range to the metrics'
    own clamp and count 0. ``median`` and ``scale_shift`` leave an image with fewer than 2 valid pixels
    as it is: one pixel fixes no fit.
    """
    if mode not in ALIGN_MODES:
        raise ValueError(f"trainer.align={mode!r}: expected one of {', '.join(ALIGN_MODES)}")
    clamped = torch.zeros(pred.shape[0], dtype=torch.int64, device=pred.device)
    if mode == "none":
        return pred, clamped
    weight = valid.to(pred.dtype)
    if mode == "scale_shift_disparity":
        if output not in ("depth", "disparity"):
            raise ValueError(f"output={output!r}: expected depth or disparity")
        # Only the floor: a depth beyond max_depth still says something about the scene's relative layout
        # (a relative output's scale is arbitrary); clamping it before the fit would throw that away.
        x = pred if output == "disparity" else 1.0 / pred.clamp_min(min_depth)
        disparity = 1.0 / torch.where(valid, gt, torch.ones_like(gt))
        scale, shift = fit_scale_shift(x, disparity, weight)
        fitted = scale.view(-1, 1, 1, 1) * x + shift.view(-1, 1, 1, 1)
        # Clamping the disparity to [1/max_depth, 1/min_depth] clamps the depth to [min_depth, max_depth]
        # and sends a non-positive disparity (a point behind the camera) to max_depth, without a 1/0.
        low, high = 1.0 / max_depth, 1.0 / min_depth
        outside = valid & ((fitted < low) | (fitted > high))
        clamped = outside.flatten(1).sum(1)
        return 1.0 / fitted.clamp(low, high), clamped
    if mode == "median":
        nan = torch.full_like(pred, float("nan"))
        median_gt = torch.where(valid, gt, nan).flatten(1).nanmedian(1).values
        median_pred = torch.where(valid, pred, nan).flatten(1).nanmedian(1).values
        aligned = pred * (median_gt / median_pred.clamp_min(MEDIAN_FLOOR)).view(-1, 1, 1, 1)
    else:
        scale, shift = fit_scale_shift(pred, gt, weight)
        aligned = scale.view(-1, 1, 1, 1) * pred + shift.view(-1, 1, 1, 1)
    enough = valid.flatten(1).sum(1) >= 2
    return torch.where(enough.view(-1, 1, 1, 1), aligned, pred), clamped
