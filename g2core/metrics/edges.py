"""Errors near depth discontinuities: the band metrics and iBims-1 depth-boundary errors.

A gradient-loss ablation is about sharp object boundaries, which the image-wide means
barely see (boundary pixels are a few percent of an image). Two complementary views:

- ``edge_rmse``/``edge_abs_rel``: rmse and abs_rel restricted to a band around the
  ground truth's depth discontinuities (batched torch, like the standard metrics; ours);
- ``dbe_acc``/``dbe_comp``: iBims-1 depth-boundary errors, chamfer distances between
  Canny edges of the prediction and ground-truth edges (per image, CPU numpy), computed
  as the published iBims-1 script does (``compute_depth_boundary_error`` in Koch's
  ``evaluate_ibims_error_metrics.py``), so that they compare with published numbers.

Ground-truth edges: iBims-1 ships hand-drawn edge maps. Datasets without them get
``ground_truth_edges``: the prediction's own edge detector (the script's normalisation,
Canny sigma sqrt 2, thresholds 0.15 / 0.3) run on the ground truth with each invalid pixel
filled by its nearest valid depth, keeping the edges that fall on valid pixels. Filling
stops the holes' borders from reading as depth edges; dropping the edges inside holes
keeps the seams that the filling invents out of the ground truth. A dense prediction
equal to a hole-free ground truth therefore scores exactly 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.feature import canny
from torch import Tensor

# A discontinuity is a jump of more than 5% between 4-neighbours (both valid): well above
# the step between neighbours on smooth surfaces at these resolutions, well below a
# real occlusion boundary. The band reaches 2 pixels either side of it.
EDGE_JUMP = 0.05
EDGE_BAND_PX = 2

# iBims-1's published evaluation script: Canny with sigma sqrt 2 and hysteresis thresholds
# 0.15 / 0.3 on the min-max-normalised prediction; chamfer distances capped at 10 px.
DBE_SIGMA = math.sqrt(2.0)
DBE_LOW = 0.15
DBE_HIGH = 0.3
DBE_MAX_DIST = 10.0


def edge_band(gt: Tensor, valid: Tensor, jump: float = EDGE_JUMP, band_px: int = EDGE_BAND_PX) -> Tensor:
    """Bool [B,1,H,W]: valid pixels within ``band_px`` pixels of a ground-truth discontinuity.

    A neighbour pair is a discontinuity when |a - b| > jump * min(a, b) and both are valid:
    a step into a sensor hole is not an edge of the scene.
    """

    def jumps(a: Tensor, b: Tensor, va: Tensor, vb: Tensor) -> Tensor:
        return (va & vb & ((a - b).abs() > jump * torch.minimum(a, b))).to(gt.dtype)

    across_x = jumps(gt[..., :, 1:], gt[..., :, :-1], valid[..., :, 1:], valid[..., :, :-1])
    across_y = jumps(gt[..., 1:, :], gt[..., :-1, :], valid[..., 1:, :], valid[..., :-1, :])
    # Mark both pixels of every jumping pair (pad on either side puts the pair back in place).
    edges = (
        F.pad(across_x, (1, 0))
        + F.pad(across_x, (0, 1))
        + F.pad(across_y, (0, 0, 1, 0))
        + F.pad(across_y, (0, 0, 0, 1))
    )
    size = 2 * band_px + 1
    band = F.max_pool2d(edges, size, stride=1, padding=band_px) > 0
    return band & valid


def prediction_edges(pred: np.ndarray) -> np.ndarray:
    """Bool [H,W]: iBims-1's Canny edges of a depth map, normalised as its script does.

    The script casts to float32, treats 0 as missing (NaN, which yields no edge), subtracts
    the minimum and divides by the maximum of what is left; Canny then runs on the whole
    map, unmasked. A map without two distinct non-zero depths has no edge.
    """
    normalised = pred.astype(np.float32)  # the script's .astype('f'): Canny runs in float32
    missing = normalised == 0
    if missing.all():
        return np.zeros(pred.shape, dtype=bool)
    normalised[missing] = np.nan
    normalised = normalised - np.nanmin(normalised)
    top = np.nanmax(normalised)
    if not top > 0:
        return np.zeros(pred.shape, dtype=bool)  # the script would divide by 0: NaN, no edge
    normalised = normalised / top
    return canny(normalised, sigma=DBE_SIGMA, low_threshold=DBE_LOW, high_threshold=DBE_HIGH)


def ground_truth_edges(gt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Bool [H,W]: stand-in for iBims-1's hand-drawn edges (see the module docstring)."""
    if not valid.any():
        return np.zeros(gt.shape, dtype=bool)
    # Indices of each pixel's nearest valid pixel (itself when valid).
    _, (rows, cols) = ndimage.distance_transform_edt(~valid, return_indices=True)
    return prediction_edges(gt[rows, cols]) & valid


def boundary_errors(edges_gt: np.ndarray, pred: np.ndarray) -> tuple[float, float] | None:
    """iBims-1 (dbe_acc, dbe_comp) of one [H,W] prediction against a ground-truth edge map.

    The published script's computation: acc = mean distance to the nearest ground-truth
    edge over the predicted edges that lie within 10 px of one; comp = the 10-px-capped
    chamfer distances summed over both directions, divided by the number of predicted plus
    ground-truth edges; 10 for both when no predicted edge lies within 10 px. None (the
    script's NaN) when the ground truth has no edge.
    """
    edges_gt = edges_gt.astype(bool)
    if not edges_gt.any():
        return None
    edges_pred = prediction_edges(pred)
    dist_to_gt = ndimage.distance_transform_edt(~edges_gt)
    near = edges_pred & (dist_to_gt < DBE_MAX_DIST)
    if not near.any():
        return DBE_MAX_DIST, DBE_MAX_DIST
    acc = float(dist_to_gt[near].mean())
    dist_to_pred = ndimage.distance_transform_edt(~edges_pred)
    chamfer = (
        np.minimum(dist_to_gt[edges_pred], DBE_MAX_DIST).sum()
        + np.minimum(dist_to_pred[edges_gt], DBE_MAX_DIST).sum()
    )
    comp = float(chamfer / (edges_pred.sum() + edges_gt.sum()))
    return acc, comp


def depth_boundary_errors(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> tuple[float, float] | None:
    """iBims-1 (dbe_acc, dbe_comp) of one [H,W] image, or None when the ground truth has no edge.

    ``boundary_errors`` against ``ground_truth_edges(gt, valid)``. The prediction's edges
    come from the whole frame given, as in the script: crop both maps first to evaluate
    a window only.
    """
    return boundary_errors(ground_truth_edges(gt, valid), pred)
