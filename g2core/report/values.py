"""Which runs a report counts, and each run's values at its selected checkpoint (one DataFrame row per run).

The values come from one split: `test/*` (the default: the held-out evaluation of the selected checkpoint) or
`val/*` (`best/*`, for runs trained without a test split). `objective` is always the validation value of
the deciding metric: what selected the checkpoint and what orders a search's trials.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pandas as pd
from mlflow import MlflowClient

from g2core.names import (
    ALIGN_CLAMPED,
    ALIGN_PARAM,
    BEST,
    TAG_CONFIG_HASH,
    TAG_GIT_COMMIT,
    TEST,
    TRAIN,
    VAL,
    logged_terms,
    metric_key,
    ordered_terms,
    term_key,
    term_name,
    terms_of,
    weight_param,
)

from .collect import ChildRun, StudyInfo, metric_history
from .columns import value_columns, weight_column

# A finished run beats a running one, which beats a failed one, when a (variant, seed) has several
# (a retried trial leaves its failed attempt behind).
_STATUS_RANK = {"FINISHED": 0, "RUNNING": 1, "SCHEDULED": 2}
SPLIT_CHOICES = (TEST, VAL)
OBJECTIVE = "objective"  # the per-run frame's column of the validation objective


def group_of(info: StudyInfo, run: ChildRun) -> str:
    """The table row a run belongs to: its variant in an ablation, its trial in a search."""
    if info.is_search:
        return f"trial {run.trial}" if run.trial is not None else run.name
    return run.variant


def select_runs(info: StudyInfo, children: list[ChildRun]) -> list[ChildRun]:
    """The runs the tables count: a search's finished trials; an ablation's one run per (variant, seed)."""
    if info.is_search:
        finished = [c for c in children if c.status == "FINISHED"]
        return sorted(
            finished, key=lambda c: (c.trial if c.trial is not None else math.inf, c.seed or 0, c.run_id)
        )
    by_pair: dict[tuple[str, int | None], list[ChildRun]] = defaultdict(list)
    for child in children:
        if child.variant:
            by_pair[(child.variant, child.seed)].append(child)
    chosen = [
        min(runs, key=lambda c: (_STATUS_RANK.get(c.status, 3), -c.start_time, c.run_id))
        for runs in by_pair.values()
    ]
    order = {v: i for i, v in enumerate(info.variants)}
    return sorted(chosen, key=lambda c: (order.get(c.variant, len(order)), c.variant, c.seed or 0))


def weight_value(run: ChildRun, term: str) -> float:
    try:
        return float(run.params.get(weight_param(term), "nan"))
    except ValueError:
        return math.nan


def _best_step(history: pd.Series, lower_is_better: bool) -> int:
    """Step of the best validation (the earliest one on a tie), as the trainer picks its best checkpoint."""
    clean = history.dropna()
    target = clean.min() if lower_is_better else clean.max()
    return int(clean[clean == target].index.min())


def run_values(
    client: MlflowClient, info: StudyInfo, runs: list[ChildRun], split: str = TEST
) -> tuple[pd.DataFrame, list[ChildRun]]:
    """One row per run with a value of the deciding metric on `split`, and the runs that have none yet.

    test: the run's `test/*` metrics (logged once, after training); a run without them is not counted.
    val: finished runs give `best/*`; a run without `best/*` (running or failed) gives its validation history
    at the step where the deciding metric was best, its row flagged `partial` so the tables can say so.
    """
    metrics = value_columns(info)
    # Every term any run logged, the user's own (loss.custom_terms) included, in the tables' order.
    terms = ordered_terms(t for run in runs for t in logged_terms(run.metrics))
    weighted = ordered_terms(t for run in runs for t in terms_of(run.params, prefix=weight_param("")))
    rows: list[dict[str, object]] = []
    without: list[ChildRun] = []
    for run in runs:
        row: dict[str, object] = {
            "run_id": run.run_id,
            "run_name": run.name,
            "group": group_of(info, run),
            "variant": run.variant,
            "seed": run.seed,
            "trial": run.trial,
            "partial": False,
            "artifact_uri": run.artifact_uri,
            TAG_CONFIG_HASH: run.tags.get(TAG_CONFIG_HASH, ""),
            TAG_GIT_COMMIT: run.tags.get(TAG_GIT_COMMIT, ""),
            ALIGN_PARAM: run.params.get(ALIGN_PARAM, ""),
            OBJECTIVE: run.metrics.get(metric_key(BEST, info.metric_name), math.nan),
        }
        if split == TEST:
            if metric_key(TEST, info.metric_name) not in run.metrics:
                without.append(run)
                continue
            row.update({m: run.metrics.get(metric_key(TEST, m), math.nan) for m in metrics})
            row[ALIGN_CLAMPED] = run.metrics.get(metric_key(TEST, ALIGN_CLAMPED), math.nan)
        elif metric_key(BEST, info.metric_name) in run.metrics:
            row.update({m: run.metrics.get(metric_key(BEST, m), math.nan) for m in metrics})
            row[ALIGN_CLAMPED] = run.metrics.get(
                metric_key(BEST, ALIGN_CLAMPED), run.metrics.get(metric_key(VAL, ALIGN_CLAMPED), math.nan)
            )
        else:
            history = metric_history(client, run.run_id, info.metric)
            if history.dropna().empty:
                without.append(run)
                continue
            step = _best_step(history, info.lower_is_better)
            row["partial"] = True
            row[OBJECTIVE] = float(history[step])
            for m in metrics:
                key = metric_key(VAL, m)
                values = history if key == info.metric else metric_history(client, run.run_id, key)
                row[m] = float(values.get(step, math.nan))
            row[ALIGN_CLAMPED] = run.metrics.get(metric_key(VAL, ALIGN_CLAMPED), math.nan)
        for term in terms:
            row[term_name(term)] = run.metrics.get(term_key(TRAIN, term), math.nan)
        if info.is_search:
            row.update({weight_column(term): weight_value(run, term) for term in weighted})
        rows.append(row)
    return pd.DataFrame(rows), without
