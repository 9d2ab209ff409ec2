"""The study parent run's summary: what its Overview in the MLflow UI says is what the report says.

Tags and metrics come from the report's own statistics (means over seeds, Δ with its CI, Holm-adjusted p,
the verdict words and sentence), never from a single run; a search's best trial is labelled as one trial.
"""

from __future__ import annotations

import math
import time

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from g2core.names import (
    TAG_BEST_TRIAL,
    TAG_REPORT_SPLIT,
    TAG_VERDICT,
    best_trial_key,
    summary_key,
    verdict_tag,
    weight_param,
)

from .collect import StudyInfo
from .summary import Summary
from .tables import weights_by_group
from .verdicts import row, word

MAX_METRICS = 1000  # MlflowClient.log_batch's limit per call
MAX_TAGS = 100
# Seed-level view (Results table) and test of the Δ (Against the baseline table), per variant and metric.
SUMMARY_STATS = ("mean", "std", "n")
DELTA_STATS = {"delta": "delta", "delta_ci_low": "ci_low", "delta_ci_high": "ci_high", "p_holm": "p_holm"}


def parent_summary(
    info: StudyInfo, summary: Summary, table: pd.DataFrame, metrics: list[str], verdict: str, split: str
) -> tuple[dict[str, str], dict[str, float]]:
    """(tags, metrics) for the parent run; NaN statistics (one seed, no test) are left out."""
    tags = {TAG_VERDICT: verdict, TAG_REPORT_SPLIT: split}
    values: dict[str, float] = {}
    groups = [g for g in summary.groups if summary.runs(g) > 0]
    if info.is_search:
        if groups:
            best = groups[0]  # a search's groups are ordered by the validation objective
            tags[TAG_BEST_TRIAL] = f"{best} (best single trial by {info.metric}; not a tested difference)"
            weights = weights_by_group(summary).get(best, {})
            tags.update({f"{TAG_BEST_TRIAL}.{weight_param(t)}": str(w) for t, w in weights.items() if w == w})
            values.update({best_trial_key(m): float(summary.mean.loc[best, m]) for m in metrics})
        return tags, _finite(values)
    for g in groups:
        for m in metrics:
            frames = {"mean": summary.mean, "std": summary.std, "n": summary.n}
            values.update({summary_key(g, m, s): float(frames[s].loc[g, m]) for s in SUMMARY_STATS})
            r = row(table, g, m)
            if r is not None:
                values.update({summary_key(g, m, k): float(r[c]) for k, c in DELTA_STATS.items()})
        if g != info.baseline:
            tags[verdict_tag(g)] = word(row(table, g, info.metric_name), info)
    return tags, _finite(values)


def _finite(values: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if math.isfinite(v)}


def log_summary(client: MlflowClient, run_id: str, tags: dict[str, str], metrics: dict[str, float]) -> None:
    """One log_batch (more only past MLflow's per-call limits)."""
    now = int(time.time() * 1000)
    metric_list = [Metric(k, v, now, 0) for k, v in sorted(metrics.items())]
    tag_list = [RunTag(k, v) for k, v in sorted(tags.items())]
    while metric_list or tag_list:
        client.log_batch(run_id, metrics=metric_list[:MAX_METRICS], tags=tag_list[:MAX_TAGS])
        metric_list, tag_list = metric_list[MAX_METRICS:], tag_list[MAX_TAGS:]
