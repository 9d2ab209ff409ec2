"""Metric histories for the curve figures, fetched only for the keys and runs a figure draws."""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient

from g2core.names import TRAIN, VAL_EPOCH_KEY, term_key

from .collect import metric_history

CURVE_COLUMNS = ["group", "run_id", "key", "x", "value"]


def train_curves(client: MlflowClient, runs: pd.DataFrame, terms: list[str]) -> pd.DataFrame:
    """`train/loss_<term>` by step for every run: long frame (group, run_id, key=term, x=step, value)."""
    frames = []
    for run in runs.itertuples(index=False):
        for term in terms:
            history = metric_history(client, run.run_id, term_key(TRAIN, term))
            if not history.empty:
                frames.append(_long(run.group, run.run_id, term, history.index, history.to_numpy()))
    return _concat(frames)


def val_curves(client: MlflowClient, runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Validation metrics by epoch: each validation step is mapped to the `val/epoch` logged with it.

    A run without `val/epoch` numbers its validations 1, 2, ... so that its curve still lines up.
    """
    frames = []
    for run in runs.itertuples(index=False):
        epochs = metric_history(client, run.run_id, VAL_EPOCH_KEY)
        for key in keys:
            history = metric_history(client, run.run_id, key)
            if history.empty:
                continue
            if epochs.empty:
                x = pd.Index(range(1, len(history) + 1))
            else:
                x = pd.Index(epochs.reindex(history.index).to_numpy())
            keep = ~pd.isna(x)
            frames.append(_long(run.group, run.run_id, key, x[keep], history.to_numpy()[keep]))
    return _concat(frames)


def band(curves: pd.DataFrame, group: str, key: str) -> pd.DataFrame:
    """Mean, min and max over a group's runs at each x (x sorted); empty when the group has no points."""
    rows = curves[(curves["group"] == group) & (curves["key"] == key)]
    if rows.empty:
        return pd.DataFrame(columns=["x", "mean", "min", "max"])
    stats = rows.groupby("x", sort=True)["value"].agg(["mean", "min", "max"]).reset_index()
    return stats


def _long(group: str, run_id: str, key: str, x, values) -> pd.DataFrame:
    return pd.DataFrame({"group": group, "run_id": run_id, "key": key, "x": list(x), "value": list(values)})


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return pd.concat(frames, ignore_index=True)
