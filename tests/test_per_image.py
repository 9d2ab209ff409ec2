"""Per-image metric rows: what the test split's paired statistics stand on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from g2core.metrics import DepthMetrics
from g2core.metrics.per_image import per_image_rows, summarize
from g2core.names import ALL_METRIC_KEYS


def _scenes(n: int = 6, size: int = 48) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    gt = 1.0 + 4.0 * torch.rand(n, 1, size, size, generator=gen)
    gt[:, :, :, size // 2 :] += 2.0  # a depth step: every image has a ground-truth edge
    gt[0, :, :, size // 2 :] = gt[0, :, :, : size // 2]  # ... except the first
    pred = gt * (1.0 + 0.2 * torch.randn(n, 1, size, size, generator=gen)).clamp_min(0.1)
    mask = torch.rand(n, 1, size, size, generator=gen) > 0.1
    mask[1] = False  # an image without a valid pixel
    return pred, gt, mask


def test_rows_average_to_what_depth_metrics_reports() -> None:
    pred, gt, mask = _scenes()
    rows = per_image_rows(pred, gt, mask, min_depth=1e-3, max_depth=10.0)
    assert rows.shape == (6, len(ALL_METRIC_KEYS))
    assert np.isnan(rows[1]).all(), "an image without valid pixels has no values"
    metrics = DepthMetrics(1e-3, 10.0)
    metrics.update(pred, gt, mask)
    expected = {k: float(v) for k, v in metrics.compute().items()}
    for key, value in summarize(rows).items():
        assert value == pytest.approx(expected[key], rel=1e-5, abs=1e-6), key


def test_summary_of_no_images_is_nan_not_zero() -> None:
    rows = np.full((2, len(ALL_METRIC_KEYS)), math.nan)
    assert all(math.isnan(v) for v in summarize(rows).values())
