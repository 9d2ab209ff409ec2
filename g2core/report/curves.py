"""Metric histories from MLflow (a read of the report's first stage): the curve figures' keys for the runs a
figure draws, and each run's mean gradient share per loss term."""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient

from g2core.names import TRAIN, VAL_EPOCH_KEY, grad_share_key, term_key, terms_of

from .collect import ChildRun, StudyInfo, metric_history
from .values import group_of

CURVE_COLUMNS = ["group", "run_id", "key", "x", "value"]


def train_curves(client: MlflowClient, runs: pd.DataFrame, terms: list[str]) -> pd.DataFrame:
    """`train/loss_<term>` by step for every run: long frame (group, run_id, key, x=step, value)."""
    frames = []
    for run in runs.itertuples(index=False):
        for term in terms:
            key = term_key(TRAIN, term)
            history = metric_history(client, run.run_id, key)
            if not history.empty:
                frames.append(_long(run.group, run.run_id, key, history.index, history.to_numpy()))
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
            numbers = range(1, len(history) + 1) if epochs.empty else epochs.reindex(history.index).to_numpy()
            x = pd.Index(numbers)
            keep = ~pd.isna(x)
            frames.append(_long(run.group, run.run_id, key, x[keep], history.to_numpy()[keep]))
    return _concat(frames)


def grad_shares(
    client: MlflowClient, info: StudyInfo, runs: list[ChildRun]
) -> dict[str, dict[str, list[float]]]:
    """group -> loss term -> each run's `train/grad_share_<term>` averaged over its logged steps (the user's own
    terms too), groups in the order of `runs`; g2core.report.grad_shares draws the table."""
    shares: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for term in terms_of(run.metrics, prefix=grad_share_key("")):
            history = metric_history(client, run.run_id, grad_share_key(term))
            if not history.empty:
                group = shares.setdefault(group_of(info, run), {})
                group.setdefault(term, []).append(float(history.mean()))
    return shares


def band(curves: pd.DataFrame, group: str, key: str) -> pd.DataFrame:
    """Mean, min and max over a group's runs at each x (x sorted); empty when the group has no points."""
    rows = curves[(curves["group"] == group) & (curves["key"] == key)]
    if rows.empty:
        return pd.DataFrame(columns=["x", "mean", "min", "max"])
    return rows.groupby("x", sort=True)["value"].agg(["mean", "min", "max"]).reset_index()


def _long(group: str, run_id: str, key: str, x, values) -> pd.DataFrame:
    return pd.DataFrame({"group": group, "run_id": run_id, "key": key, "x": list(x), "value": list(values)})


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    return pd.concat(frames, ignore_index=True)
