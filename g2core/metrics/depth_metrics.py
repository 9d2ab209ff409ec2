"""DepthMetrics: the standard and edge depth metrics as one torchmetrics Metric."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from g2core.names import EDGE_METRIC_KEYS, METRIC_KEYS
from g2core.schema import DataConfig

from ._torchmetrics import Metric
from .edges import EDGE_BAND_PX, EDGE_JUMP, depth_boundary_errors, edge_band
from .standard import per_image_metrics, rmse_abs_rel, valid_pixels

# Sums of per-image values in float64: a validation set is thousands of images, and the
# sums are tiny next to the images themselves, so the precision costs nothing.
_STATE_DTYPE = torch.float64


class DepthMetrics(Metric):
    """Eigen depth metrics averaged per image, then over images; optionally edge metrics.

    ``update(pred, gt, mask=None)`` takes ``[B,1,H,W]`` tensors and keeps the pixels where
    ``mask & (min_depth < gt < max_depth)`` (and inside the Eigen crop, scaled to the
    frame, when ``eigen_crop``); the prediction is clamped to [min_depth, max_depth] when
    ``clamp``. Images without a valid pixel are skipped. ``compute()`` returns a dict of
    scalar tensors: ``METRIC_KEYS`` and, when ``edges``, ``EDGE_METRIC_KEYS`` (each edge
    metric averaged over the images that have a ground-truth edge; NaN when none had one).

    State is sums of per-image values plus image counts, all reduced with "sum", so that
    DDP ranks (and ``merge_state``) combine exactly like one process seeing every image.
    ``edges`` adds a host round-trip per batch: iBims-1's Canny runs per image on the CPU.
    """

    is_differentiable = False
    higher_is_better = None  # mixed: see LOWER_IS_BETTER
    full_state_update = False

    def __init__(
        self,
        min_depth: float = DataConfig.min_depth,
        max_depth: float = DataConfig.max_depth,
        clamp: bool = True,
        eigen_crop: bool = False,
        edges: bool = True,
        *,
        edge_jump: float = EDGE_JUMP,
        edge_band_px: int = EDGE_BAND_PX,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not min_depth < max_depth:
            raise ValueError(f"min_depth ({min_depth}) must be below max_depth ({max_depth})")
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.clamp = clamp
        self.eigen_crop = eigen_crop
        self.edges = edges
        self.edge_jump = edge_jump
        self.edge_band_px = edge_band_px
        shapes = {"metric_sums": len(METRIC_KEYS), "images": ()}
        if edges:
            shapes |= {"band_sums": 2, "band_images": (), "dbe_sums": 2, "dbe_images": ()}
        for name, shape in shapes.items():
            self.add_state(name, torch.zeros(shape, dtype=_STATE_DTYPE), dist_reduce_fx="sum")

    def valid_pixels(self, gt: Tensor, mask: Tensor | None = None) -> Tensor:
        """Bool [B,1,H,W]: the pixels `update` counts; an alignment fits over exactly these."""
        return valid_pixels(gt, mask, self.min_depth, self.max_depth, self.eigen_crop)

    def update(self, pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> None:
        if pred.shape != gt.shape or pred.dim() != 4 or pred.shape[1] != 1:
            raise ValueError(
                f"DepthMetrics.update: pred and gt must both be [B,1,H,W], got {tuple(pred.shape)} "
                f"and {tuple(gt.shape)}"
            )
        pred = pred.detach()
        if pred.dtype in (torch.float16, torch.bfloat16):
            pred = pred.float()  # AMP outputs: squared errors and ratios need more than 16 bits
        gt = gt.detach().to(pred.dtype)
        if self.clamp:
            pred = pred.clamp(self.min_depth, self.max_depth)
        valid = self.valid_pixels(gt, mask)

        has_pixels = valid.flatten(1).any(1)
        values = per_image_metrics(pred, gt, valid)
        self.metric_sums += (values * has_pixels[:, None]).sum(0).to(_STATE_DTYPE)
        self.images += has_pixels.sum().to(_STATE_DTYPE)

        if self.edges:
            self._update_edges(pred, gt, valid)

    def _update_edges(self, pred: Tensor, gt: Tensor, valid: Tensor) -> None:
        band = edge_band(gt, valid, self.edge_jump, self.edge_band_px)
        has_band = band.flatten(1).any(1)
        band_values = torch.stack(rmse_abs_rel(pred, gt, band), dim=1) * has_band[:, None]
        self.band_sums += band_values.sum(0).to(_STATE_DTYPE)
        self.band_images += has_band.sum().to(_STATE_DTYPE)

        # iBims-1's Canny runs per image on the CPU; an image without a ground-truth edge counts for neither.
        images = zip(*(t[:, 0].cpu().numpy() for t in (pred, gt, valid)), strict=True)
        found = [e for e in (depth_boundary_errors(*image) for image in images) if e is not None]
        sums = [sum(acc for acc, _ in found), sum(comp for _, comp in found)]
        self.dbe_sums += torch.tensor(sums, dtype=_STATE_DTYPE, device=self.dbe_sums.device)
        self.dbe_images += len(found)

    def compute(self) -> dict[str, Tensor]:
        result = _means(METRIC_KEYS, self.metric_sums, self.images)
        if self.edges:
            result.update(_means(EDGE_METRIC_KEYS[:2], self.band_sums, self.band_images))
            result.update(_means(EDGE_METRIC_KEYS[2:], self.dbe_sums, self.dbe_images))
        return result


def _means(keys: tuple[str, ...], sums: Tensor, count: Tensor) -> dict[str, Tensor]:
    # NaN, not 0, when no image counted: 0 would read as a perfect score.
    means = torch.where(count > 0, sums / count.clamp_min(1.0), torch.full_like(sums, math.nan))
    return {key: means[i] for i, key in enumerate(keys)}
