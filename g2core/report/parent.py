"""The study parent run's summary: what its Overview in the MLflow UI says is what the report says (written
through g2core.tracking.RunTracker, which owns MLflow's limits).

Tags and metrics come from the report's own statistics (means over seeds, Δ with its CI, Holm-adjusted p,
the verdict words and sentence), never from a single run; a search's best trial is labelled as one trial.
The run's description (`mlflow.note.content`, markdown the UI renders) is the verdict and the main table.

Where the summary metrics sit in MLflow's charts: at the step the children's `best/*` values sit (the end of
their training), not at step 0; and the parent's `variant` tag names it (PARENT_GROUP), so charts grouped by
variant show it as its own group instead of MLflow's "Unassigned" (the runs lacking the grouping key).
"""

from __future__ import annotations

import math

import pandas as pd
from mlflow import MlflowClient

from g2core.names import (
    BEST_EPOCH_KEY,
    PARENT_GROUP,
    REPORT_DIR,
    REPORT_HTML,
    REPORT_TABLE,
    TAG_BEST_TRIAL,
    TAG_MLFLOW_NOTE,
    TAG_REPORT_SPLIT,
    TAG_VARIANT,
    TAG_VERDICT,
    best_trial_key,
    summary_key,
    verdict_tag,
    weight_param,
)
from g2core.tracking import RunTracker

from .collect import ChildRun, StudyInfo
from .summary import Summary
from .tables import Table, weights_by_group
from .verdicts import row, word

MAX_NOTE = 7500  # characters of mlflow.note.content (MLflow keeps tag values up to 8000)
# Seed-level view (Results table) and test of the Δ (Against the baseline table), per variant and metric.
SUMMARY_STATS = ("mean", "std", "n")
DELTA_STATS = {"delta": "delta", "delta_ci_low": "ci_low", "delta_ci_high": "ci_high", "p_holm": "p_holm"}


def parent_summary(
    info: StudyInfo, summary: Summary, table: pd.DataFrame, metrics: list[str], verdict: str, split: str
) -> tuple[dict[str, str], dict[str, float]]:
    """(tags, metrics) for the parent run; NaN statistics (one seed, no test) are left out."""
    tags = {TAG_VERDICT: verdict, TAG_REPORT_SPLIT: split, TAG_VARIANT: PARENT_GROUP}
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
            tags[verdict_tag(g)] = word(row(table, g, info.metric_name))
    return tags, _finite(values)


def _finite(values: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if math.isfinite(v)}


def note_tag(title: str, verdict: str, main_table: str) -> dict[str, str]:
    """The parent's description in the UI (`mlflow.note.content`): the verdict and the main table (markdown),
    then where the rest is. A table too long for a tag (a large search) is cut at a row, and the note says so.
    """
    tail = f"\nThe full report: artifacts `{REPORT_DIR}/{REPORT_HTML}` (figures, tests, provenance).\n"
    head = f"**{title}**\n\n{verdict.strip()}\n\n"
    lines = main_table.rstrip("\n").split("\n")
    while len(head) + len("\n".join(lines)) + len(tail) > MAX_NOTE and len(lines) > 3:
        lines = lines[:-1]
        tail = f"\n(table cut to fit the description; every row is in `{REPORT_DIR}/{REPORT_HTML}`)\n"
    return {TAG_MLFLOW_NOTE: (head + "\n".join(lines) + "\n" + tail)[: MAX_NOTE + 500]}


def log_main_table(parent: RunTracker, table: Table) -> None:
    """The main table as an MLflow table artifact (mlflow.log_table: the UI shows it as a table)."""
    rows = [[" ".join(url for _, url in c.links) if c.links else c.text for c in row] for row in table.rows]
    parent.log_table(pd.DataFrame(rows, columns=_unique(table.header)), REPORT_TABLE)


def _unique(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def summary_step(client: MlflowClient, children: list[ChildRun]) -> int:
    """The step the children's best/* values sit at (their last training step), so that the parent's summary
    points sit beside them in step charts rather than at 0; 0 when no child finished."""
    steps = [
        max((m.step for m in client.get_metric_history(c.run_id, BEST_EPOCH_KEY)), default=0)
        for c in children
        if BEST_EPOCH_KEY in c.metrics
    ]
    return max(steps, default=0)
