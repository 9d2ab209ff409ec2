"""MiDaS terms: scale-and-shift-invariant MSE and multi-scale gradient matching.

Both compare the ground truth with the prediction after a per-image least-squares scale
and shift, and both use MiDaS's batch-based reduction (sums over the batch divided by the
mask sum over the batch), which is what ``shared/reference/loss_vectors.json`` holds.
"""

from __future__ import annotations

from torch import Tensor

from g2core.metrics.align import fit_scale_shift

from ._masked import as_weight

GM_SCALES = 4
# A prediction whose variance over the mask is below this share of its mean square is
# constant for the solve (e.g. a ReLU head that outputs 0 everywhere at initialisation);
# the 2x2 system is then singular and float round-off would produce an arbitrary scale.
_DEGENERATE_SHARE = 1e-6


def align_scale_shift(pred: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    """s * pred + t with per-image s, t minimising sum mask * (s * pred + t - gt)^2.

    The same closed-form fit the depth metrics align with (`g2core.metrics.align`), batched over
    images. An image whose prediction is constant over the mask gets s = 0, t = mean(gt); an empty
    mask gets s = t = 0.
    """
    scale, shift = fit_scale_shift(pred, gt, as_weight(mask, pred), _DEGENERATE_SHARE)
    return scale.view(-1, 1, 1, 1) * pred + shift.view(-1, 1, 1, 1)


def ssi(pred: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    """Scale-and-shift-invariant MSE: sum m (s p + t - g)^2 / (2 sum m) over the batch."""
    weight = as_weight(mask, pred)
    residual = align_scale_shift(pred, gt, mask) - gt
    # clamp: an all-empty batch has a zero numerator too, so it gives 0 instead of 0/0.
    return (weight * residual.square()).sum() / (2.0 * weight.sum()).clamp_min(1.0)


def gm(pred: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    """MiDaS gradient matching on the aligned residual, summed over 4 scales (strides 1, 2, 4, 8).

    At each scale the residual's finite differences count only where both neighbours are
    masked, and the scale is divided by its own mask sum over the batch.
    """
    weight = as_weight(mask, pred)
    residual = weight * (align_scale_shift(pred, gt, mask) - gt)
    total = residual.new_zeros(())
    for level in range(GM_SCALES):
        step = 2**level
        r = residual[..., ::step, ::step]
        m = weight[..., ::step, ::step]
        grad_x = (r[..., :, 1:] - r[..., :, :-1]).abs() * (m[..., :, 1:] * m[..., :, :-1])
        grad_y = (r[..., 1:, :] - r[..., :-1, :]).abs() * (m[..., 1:, :] * m[..., :-1, :])
        total = total + (grad_x.sum() + grad_y.sum()) / m.sum().clamp_min(1.0)
    return total
