"""A model's metrics on one dataset, image by image, with the trainer's own evaluation code, and logging them.

The numbers are what the trainer's test split gives (g2core.train.evaluate.evaluate_per_image: the same
alignment over exactly the pixels the metrics count, the same per-image rows, averaged the same way), so a
checkpoint's `eval/<dataset>/*` and its run's `test/*` are comparable when the frames are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from g2core.config import ConfigError
from g2core.metrics import DepthMetrics
from g2core.names import eval_key, eval_per_image_artifact
from g2core.tracking import RunTracker
from g2core.train.evaluate import evaluate_per_image, per_image_summary
from g2core.train.setup import autocast_dtype

from .dataset import evaluation_dataset


@dataclass
class Scores:
    """One checkpoint on one dataset: the dataset values and the per-image table they average."""

    dataset: str
    values: dict[str, float]  # ALL_METRIC_KEYS (and ALIGN_CLAMPED under scale_shift_disparity)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)  # IMAGE_COLUMN, then ALL_METRIC_KEYS

    @property
    def images(self) -> int:
        return len(self.table)


def score(
    model: torch.nn.Module,
    data: Mapping[str, Any],
    split: str,
    dataset: str,
    *,
    in_channels: int,
    align: str,
    device: torch.device,
    precision: str,
) -> Scores:
    """Every metric of every image of `data`'s `split` frames (a resolved data config: its depth range, crop,
    batch size and workers), aligned as `align` says (trainer.align's modes), in trainer.precision's autocast."""
    frames = evaluation_dataset(data, split, sparse_input=in_channels == 5)
    if len(frames) == 0:
        raise ConfigError(f"eval.dataset={dataset}: the dataset has no frames to evaluate")
    loader = DataLoader(
        frames, batch_size=int(data["batch_size"]), shuffle=False, num_workers=int(data.get("num_workers", 0))
    )
    metrics = DepthMetrics(
        float(data["min_depth"]), float(data["max_depth"]), eigen_crop=bool(data.get("eigen_crop", False))
    ).to(device)
    amp_dtype = autocast_dtype(precision)
    rows, clamped = evaluate_per_image(
        model, loader, metrics, device=device, in_channels=in_channels, align_mode=align, amp_dtype=amp_dtype
    )
    return Scores(dataset, *per_image_summary(rows, clamped, align))


def log_scores(run: RunTracker, scores: Scores, workdir: Path) -> None:
    """`eval/<dataset>/per_image.csv`, then the metrics `eval/<dataset>/<metric>`: a run that has the metrics
    has the table too (what a resumed study checks before evaluating again)."""
    artifact = Path(eval_per_image_artifact(scores.dataset))
    local = workdir / run.run_id / artifact
    local.parent.mkdir(parents=True, exist_ok=True)
    scores.table.to_csv(local, index=False)
    run.log_artifact(local, artifact.parent.as_posix())
    run.write(metrics={eval_key(scores.dataset, k): v for k, v in scores.values.items() if np.isfinite(v)})
