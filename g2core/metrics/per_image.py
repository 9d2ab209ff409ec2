"""Every metric of every image, as rows: what a paired comparison between two runs needs.

`DepthMetrics` keeps sums so that DDP ranks reduce cheaply; a test-split evaluation instead keeps one row per
image (image id, then `ALL_METRIC_KEYS` in order), so that two variants can be paired image by image. The
per-image values are the same ones `DepthMetrics` averages: an image's row averaged over the images that have
the metric gives the dataset value (`nanmean`: an image without a ground-truth edge has NaN edge metrics).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from g2core.names import ALL_METRIC_KEYS

from .edges import EDGE_BAND_PX, EDGE_JUMP, depth_boundary_errors, edge_band
from .standard import per_image_metrics, rmse_abs_rel, valid_pixels


@torch.no_grad()
def per_image_rows(
    pred: Tensor,
    gt: Tensor,
    mask: Tensor | None,
    *,
    min_depth: float,
    max_depth: float,
    eigen_crop: bool = False,
    clamp: bool = True,
) -> np.ndarray:
    """float64 [B, len(ALL_METRIC_KEYS)]: each image's metrics, NaN where an image has no valid pixel (every
    column) or no ground-truth edge (edge columns). Same pixel rules as `DepthMetrics.update`."""
    pred = pred.detach().float()
    gt = gt.detach().to(pred.dtype)
    if clamp:
        pred = pred.clamp(min_depth, max_depth)
    valid = valid_pixels(gt, mask, min_depth, max_depth, eigen_crop)
    standard = per_image_metrics(pred, gt, valid).double()
    standard[~valid.flatten(1).any(1)] = math.nan

    band = edge_band(gt, valid, EDGE_JUMP, EDGE_BAND_PX)
    band_values = torch.stack(rmse_abs_rel(pred, gt, band), dim=1).double()
    band_values[~band.flatten(1).any(1)] = math.nan

    pred_np, gt_np, valid_np = (t[:, 0].cpu().numpy() for t in (pred, gt, valid))
    dbe = np.full((pred.shape[0], 2), math.nan)
    for image in range(pred.shape[0]):  # iBims-1's Canny runs per image on the CPU
        errors = depth_boundary_errors(pred_np[image], gt_np[image], valid_np[image])
        if errors is not None:
            dbe[image] = errors
    return np.concatenate([standard.cpu().numpy(), band_values.cpu().numpy(), dbe], axis=1)


def summarize(rows: np.ndarray) -> dict[str, float]:
    """Dataset values from per-image rows: each metric averaged over the images that have it."""
    counts = np.isfinite(rows).sum(0)
    sums = np.nansum(rows, axis=0)
    return {
        key: float(sums[i] / counts[i]) if counts[i] else math.nan for i, key in enumerate(ALL_METRIC_KEYS)
    }
