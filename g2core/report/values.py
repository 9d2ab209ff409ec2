"""Which runs a report counts, and each run's values at its best checkpoint (one DataFrame row per run)."""

from __future__ import annotations

import math
from collections import defaultdict

import pandas as pd
from mlflow import MlflowClient

from g2core.names import BEST, LOSS_TERMS, TRAIN, VAL, metric_key, term_key, term_name, weight_param

from .collect import ChildRun, StudyInfo, metric_history
from .columns import value_columns, weight_column

# A finished run beats a running one, which beats a failed one, when a (variant, seed) has several
# (a retried trial leaves its failed attempt behind).
_STATUS_RANK = {"FINISHED": 0, "RUNNING": 1, "SCHEDULED": 2}


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
    client: MlflowClient, info: StudyInfo, runs: list[ChildRun]
) -> tuple[pd.DataFrame, list[ChildRun]]:
    """One row per run with a value of the deciding metric, and the runs that have none yet.

    Finished runs give `best/*`. A run without `best/*` (running or failed) gives its validation history at
    the step where the deciding metric was best; its row is flagged `partial` so the tables can say so.
    """
    metrics = value_columns(info)
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
            "status": run.status,
            "partial": False,
            "best_step": math.nan,
        }
        if metric_key(BEST, info.metric_name) in run.metrics:
            row.update({m: run.metrics.get(metric_key(BEST, m), math.nan) for m in metrics})
        else:
            history = metric_history(client, run.run_id, info.metric)
            if history.dropna().empty:
                without.append(run)
                continue
            step = _best_step(history, info.lower_is_better)
            row.update(partial=True, best_step=step)
            for m in metrics:
                key = metric_key(VAL, m)
                values = history if key == info.metric else metric_history(client, run.run_id, key)
                row[m] = float(values.get(step, math.nan))
        for term in LOSS_TERMS:
            row[term_name(term)] = run.metrics.get(term_key(TRAIN, term), math.nan)
        if info.is_search:
            row.update({weight_column(term): weight_value(run, term) for term in LOSS_TERMS})
        rows.append(row)
    return pd.DataFrame(rows), without
