"""G2-MonoDepth's loss terms: absolute depth, relative depth, relative gradient.

Two numerical variants of each (see DESIGN, "Vocabulary"):

- ``seed``: as G2's design documents write it (per-image means; multi-scale gradients on
  average-pooled maps with a padded Sobel, one normalisation per scale);
- ``official``: as the published G2-MonoDepth code computes it (one sum over the whole
  batch divided by the mask sum + 1e-6; gradients of the masked residual downsampled by
  nearest ``interpolate`` to 1/2^i, an unpadded Sobel, one normalisation by the
  full-resolution mask sum).

Both reproduce ``shared/reference/loss_vectors.json`` in float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._masked import IMAGE_DIMS, as_weight, batch_mean, check_variant, per_image_mean

STANDARDIZE_EPS = 1e-6
GRAD_SCALES = 4

# x and y Sobel stacked as two output channels so that both directions cost one conv2d call.
_SOBEL_XY = torch.tensor(
    [
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
        [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]],
    ]
).unsqueeze(1)


def standardize(depth: Tensor, mask: Tensor, eps: float = STANDARDIZE_EPS) -> Tensor:
    """(d - mean) / (mean absolute deviation around the mean + eps), statistics over each image's mask.

    The map is returned everywhere (the seed gradient term reads values outside the mask).
    An image with an empty mask standardizes to 0: the published code would divide by
    eps there, and 1e6-sized values overflow half precision and make 0 * inf = NaN.
    """
    weight = as_weight(mask, depth)
    counts = weight.sum(IMAGE_DIMS, keepdim=True)
    safe_counts = counts.clamp_min(1.0)
    mean = (depth * weight).sum(IMAGE_DIMS, keepdim=True) / safe_counts
    centred = depth - mean
    mad = (centred.abs() * weight).sum(IMAGE_DIMS, keepdim=True) / safe_counts
    inv_scale = torch.where(counts > 0, 1.0 / (mad + eps), torch.zeros_like(mad))
    return centred * inv_scale


def sobel_xy(x: Tensor, padding: int) -> Tensor:
    """[B,1,H,W] -> [B,2,H',W'] with the x and y Sobel responses."""
    return F.conv2d(x, _SOBEL_XY.to(device=x.device, dtype=x.dtype), padding=padding)


def _l1(error: Tensor, mask: Tensor, variant: str) -> Tensor:
    """The variant's mean of an absolute error: seed per image, then over the batch; official over the batch."""
    return per_image_mean(error, mask) if check_variant(variant) == "seed" else batch_mean(error, mask)


def adepth(pred: Tensor, gt: Tensor, mask: Tensor, *, variant: str = "seed") -> Tensor:
    """Masked L1 on absolute depth."""
    return _l1((pred - gt).abs(), mask, variant)


def rdepth(pred: Tensor, gt: Tensor, mask: Tensor, *, variant: str = "seed") -> Tensor:
    """Masked L1 between the two maps, each standardized per image over the mask."""
    return _l1((standardize(pred, mask) - standardize(gt, mask)).abs(), mask, variant)


def rgrad(pred: Tensor, gt: Tensor, mask: Tensor, *, variant: str = "seed") -> Tensor:
    """Multi-scale (1, 2, 4, 8) Sobel-gradient L1 between the standardized maps."""
    # Sobel is linear: Sobel(a) - Sobel(b) == Sobel(a - b), one convolution instead of two.
    diff = standardize(pred, mask) - standardize(gt, mask)
    if check_variant(variant) == "seed":
        return _rgrad_seed(diff, mask)
    return _rgrad_official(diff, mask)


def _rgrad_seed(diff: Tensor, mask: Tensor) -> Tensor:
    # The reference values fix the reductions: the *standardized* maps are average-pooled
    # (no re-standardization per scale) and each scale is normalised by the mask sum of the
    # whole batch (not per image); the four scales are then averaged.
    weight = as_weight(mask, diff)
    per_scale = []
    for level in range(GRAD_SCALES):
        size = 2**level
        if size > 1:
            scaled = F.avg_pool2d(diff, size)
            scaled_weight = (F.avg_pool2d(weight, size) > 0.5).to(diff.dtype)
        else:
            scaled, scaled_weight = diff, weight
        grad = sobel_xy(scaled, padding=1).abs().sum(1, keepdim=True)
        per_scale.append((grad * scaled_weight).sum() / (scaled_weight.sum() + 1e-6))
    return torch.stack(per_scale).mean()


def _rgrad_official(diff: Tensor, mask: Tensor) -> Tensor:
    # As the published code: nearest-neighbour downsamples of the masked residual, taken
    # with F.interpolate(scale_factor=1/2^i, recompute_scale_factor=True) exactly as it
    # does. That is the stride-2^i slice only when H and W are multiples of 2^i; otherwise
    # the output is floor(H/2^i) rows picked at floor(k * H/floor(H/2^i)), which a slice
    # does not reproduce. Values outside the mask are zeroed before the gradient, and the
    # unpadded Sobel still sees the step from a valid residual to those zeros.
    weight = as_weight(mask, diff)
    residual = weight * diff
    total = residual.new_zeros(())
    for level in range(GRAD_SCALES):
        scaled = residual
        if level > 0:
            scaled = F.interpolate(residual, scale_factor=1.0 / 2**level, recompute_scale_factor=True)
        total = total + sobel_xy(scaled, padding=0).abs().sum()
    return total / (weight.sum() + 1e-6)
