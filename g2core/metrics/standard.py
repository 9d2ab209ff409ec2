"""Standard Eigen depth metrics, per image, batched over the images of a batch.

Every function works on whole ``[B,1,H,W]`` tensors with masked sums, on the input's
device: no per-pixel Python and no host sync.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from g2core.names import METRIC_KEYS

IMAGE_DIMS = (1, 2, 3)
SILOG_LAMBDA = 0.5  # the Depth Anything V2 form, which loss_vectors.json's metrics use
# Eigen et al.'s crop of a 480x640 NYU frame (rows 45:471, cols 41:601).
EIGEN_CROP_480x640 = (45, 471, 41, 601)


def eigen_crop_mask(height: int, width: int, device: torch.device | str | None = None) -> Tensor:
    """Bool [H,W], True inside the Eigen crop scaled proportionally to an HxW frame."""
    top, bottom, left, right = EIGEN_CROP_480x640
    rows = slice(round(top * height / 480), round(bottom * height / 480))
    cols = slice(round(left * width / 640), round(right * width / 640))
    crop = torch.zeros(height, width, dtype=torch.bool, device=device)
    crop[rows, cols] = True
    return crop


def valid_pixels(
    gt: Tensor, mask: Tensor | None, min_depth: float, max_depth: float, eigen_crop: bool
) -> Tensor:
    """mask & (min_depth < gt < max_depth) [& Eigen crop], as a bool [B,1,H,W]."""
    valid = (gt > min_depth) & (gt < max_depth)
    if mask is not None:
        valid = valid & mask.bool()
    if eigen_crop:
        valid = valid & eigen_crop_mask(gt.shape[-2], gt.shape[-1], device=gt.device)
    return valid


def masked_image_mean(values: Tensor, weight: Tensor) -> Tensor:
    """[B] mean of values over each image's weight (0 for an empty image; callers skip those)."""
    return (values * weight).sum(IMAGE_DIMS) / weight.sum(IMAGE_DIMS).clamp_min(1.0)


def rmse_abs_rel(pred: Tensor, gt: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """[B] rmse and abs_rel over each image's valid pixels (the edge metrics reuse these two)."""
    weight = valid.to(pred.dtype)
    safe_gt = torch.where(valid, gt, torch.ones_like(gt))
    diff = pred - safe_gt
    rmse = masked_image_mean(diff.square(), weight).sqrt()
    abs_rel = masked_image_mean(diff.abs() / safe_gt, weight)
    return rmse, abs_rel


def per_image_metrics(pred: Tensor, gt: Tensor, valid: Tensor) -> Tensor:
    """[B, len(METRIC_KEYS)] metric values of each image, in METRIC_KEYS order.

    Invalid pixels are replaced by 1 before any division or log, so that holes (gt = 0)
    cannot put NaN into the masked sums. Rows of images without a valid pixel are 0.
    """
    weight = valid.to(pred.dtype)
    ones = torch.ones_like(pred)
    p = torch.where(valid, pred, ones)
    g = torch.where(valid, gt, ones)
    diff = p - g
    log_diff = torch.log(p) - torch.log(g)
    ratio = torch.maximum(p / g, g / p)
    mean_log_diff = masked_image_mean(log_diff, weight)
    mean_sq_log_diff = masked_image_mean(log_diff.square(), weight)
    values = {
        "rmse": masked_image_mean(diff.square(), weight).sqrt(),
        "mae": masked_image_mean(diff.abs(), weight),
        "abs_rel": masked_image_mean(diff.abs() / g, weight),
        "sq_rel": masked_image_mean(diff.square() / g, weight),
        "rmse_log": mean_sq_log_diff.sqrt(),
        "log10": masked_image_mean(log_diff.abs(), weight) / math.log(10.0),
        "silog": (mean_sq_log_diff - SILOG_LAMBDA * mean_log_diff.square()).clamp_min(0.0).sqrt(),
    }
    for k in (1, 2, 3):
        values[f"delta{k}"] = masked_image_mean((ratio < 1.25**k).to(pred.dtype), weight)
    return torch.stack([values[key] for key in METRIC_KEYS], dim=1)
