"""The validation predictions each run saved at its best epoch (`samples/best_predictions.npz`), with the
settings its metrics evaluated by (`trainer.align`, depth range, Eigen crop) read back from the run's params,
so that the report's grid aligns them exactly as the run's metrics did (g2core.sample_grid)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from g2core.names import (
    ALIGN_PARAM,
    EIGEN_CROP_PARAM,
    MAX_DEPTH_PARAM,
    MIN_DEPTH_PARAM,
    SAMPLES_PATH,
)
from g2core.sample_grid import Evaluation


@dataclass
class Samples:
    """First K validation images: rgb uint8 [K,3,H,W], depth float32 [K,H,W] (0 = invalid), raw pred [K,H,W],
    and how the run's metrics evaluate a prediction."""

    label: str
    rgb: np.ndarray
    depth: np.ndarray
    pred: np.ndarray
    evaluation: Evaluation = Evaluation()


def evaluation_of(params: dict[str, str]) -> Evaluation:
    """The run's alignment and depth range from its flattened config; a key it did not log keeps the
    default (DepthMetrics' own, and no alignment)."""
    default = Evaluation()
    return Evaluation(
        align=params.get(ALIGN_PARAM) or default.align,
        min_depth=float(params.get(MIN_DEPTH_PARAM, default.min_depth)),
        max_depth=float(params.get(MAX_DEPTH_PARAM, default.max_depth)),
        eigen_crop=str(params.get(EIGEN_CROP_PARAM, default.eigen_crop)).lower() in ("true", "1"),
    )


@contextmanager
def quiet_downloads() -> Iterator[None]:
    """No tqdm bar per tiny download (an npz, a per-image csv); the caller's setting is restored afterwards."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _load(client: MlflowClient, run_id: str, tmp: Path) -> dict[str, np.ndarray] | None:
    try:
        local = client.download_artifacts(run_id, SAMPLES_PATH, str(tmp / run_id))
        with np.load(local) as data:
            return {k: np.asarray(data[k]) for k in ("rgb", "depth", "pred")}
    except Exception:  # a run without samples (failed early, old trainer) is skipped, not fatal
        return None


def load_samples(
    client: MlflowClient, runs: pd.DataFrame, groups: list[str], seeds: list[int]
) -> tuple[list[Samples], list[str]]:
    """Each group's predictions from its first seed (study order) that saved them, and notes on gaps.

    Every run of a study saves the same validation images, so one column per group compares like with like.
    """
    order = {s: i for i, s in enumerate(seeds)}
    found: list[Samples] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, quiet_downloads():
        for group in groups:
            rows = runs[runs["group"] == group]
            rows = rows.assign(_order=[order.get(s, len(order)) for s in rows["seed"]])
            data = None
            for row in rows.sort_values(["_order", "run_id"]).itertuples(index=False):
                data = _load(client, row.run_id, Path(tmp))
                if data is not None:
                    seed = f" s{int(row.seed)}" if row.seed is not None and not pd.isna(row.seed) else ""
                    evaluation = evaluation_of(client.get_run(row.run_id).data.params)
                    found.append(
                        Samples(f"{group}{seed}", data["rgb"], data["depth"], data["pred"], evaluation)
                    )
                    break
            if data is None and not rows.empty:
                notes.append(f"No {SAMPLES_PATH} in any run of {group}: left out of qualitative.png.")
    return found, notes
