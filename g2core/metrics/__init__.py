"""Depth metrics as torchmetrics Metrics: the standard Eigen set plus edge/boundary errors.

  standard.py, edges.py   per-image metrics;  depth_metrics.py  DepthMetrics, their means over a split
  align.py                the one alignment of a prediction to the ground truth (trainer.align modes)
  per_image.py            every metric of every image as rows (what the report's paired tests read)
Imports torch and g2core.names only; the `val/` / `test/` prefixes are the trainer's, via g2core.names.
"""

from g2core.names import EDGE_METRIC_KEYS, LOWER_IS_BETTER, METRIC_KEYS

from .depth_metrics import DepthMetrics
from .edges import depth_boundary_errors, edge_band
from .standard import eigen_crop_mask, per_image_metrics, valid_pixels

__all__ = [
    "EDGE_METRIC_KEYS",
    "LOWER_IS_BETTER",
    "METRIC_KEYS",
    "DepthMetrics",
    "depth_boundary_errors",
    "edge_band",
    "eigen_crop_mask",
    "per_image_metrics",
    "valid_pixels",
]
