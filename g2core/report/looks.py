"""A look at a running study: the primary verdicts its finished runs support so far (seeds until decided).

The study runner asks after each round of seeds which variants are still undecided; the answer comes from
the same MLflow runs, per-image tables and statistics as the report (verdicts.comparisons with the study's
Design), so the study and a report rebuilt later replay the same looks and reach the same verdicts.
"""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient

from g2core.design import Design
from g2core.names import TEST

from . import verdicts
from .collect import load_study
from .confirmation import stage_study, stages
from .observations import observations
from .significance import UNDECIDED
from .values import run_values, select_runs


def primary_verdicts(tracking_uri: str, study: str, experiment_name: str, design: Design) -> pd.DataFrame:
    """The primary family's rows (variant, verdict, n_seeds, delta_pct, ...) on the test split."""
    client = MlflowClient(tracking_uri=tracking_uri)
    info, children = load_study(client, tracking_uri, study, experiment_name)
    if info.is_search:  # a search's confirmation stage: its candidates against the base preset
        search, children = stages(children)
        info = stage_study(info, search, children)
    values, _ = run_values(client, info, select_runs(info, children), TEST)
    metric = info.metric_name
    observed = observations(client, values, [metric], TEST, [])
    return verdicts.comparisons(info, observed, [metric], design)


def undecided(table: pd.DataFrame) -> list[str]:
    return [] if table.empty else table.loc[table["verdict"] == UNDECIDED, "variant"].tolist()
