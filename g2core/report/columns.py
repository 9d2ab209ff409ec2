"""What a report shows: its metric columns, loss-term columns, search weight columns, and the bar figure's metrics.

These are the report's own display choices; the names it reads back from MLflow come from g2core.names.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from g2core.names import term_name, terms_of

from .collect import StudyInfo

# The main table's metric columns (issue 5): mae and log10 are logged but left out to keep it readable.
TABLE_METRICS: tuple[str, ...] = (
    "abs_rel",
    "sq_rel",
    "rmse",
    "rmse_log",
    "silog",
    "delta1",
    "delta2",
    "delta3",
    "edge_rmse",
    "edge_abs_rel",
    "dbe_acc",
    "dbe_comp",
)

# Metrics drawn as bars in metrics.png: the standard trio plus the edge metrics a gradient loss targets.
FIGURE_METRICS: tuple[str, ...] = ("abs_rel", "rmse", "delta1", "edge_rmse", "edge_abs_rel", "dbe_acc")


def weight_column(term: str) -> str:
    """Column of a search trial's loss weight in the per-run frame, the tables and the figures: `w_<term>`."""
    return f"w_{term}"


@dataclass
class Columns:
    """What the main table shows: metric columns, loss-term columns, search weight columns."""

    metrics: list[str]
    terms: list[str]  # loss-term columns (`loss_<term>`) that some run logged
    weights: list[str]  # search: terms whose weight is a column

    @property
    def values(self) -> list[str]:
        return self.metrics + self.terms


def value_columns(info: StudyInfo) -> list[str]:
    """Metric columns: the table's metrics, with a custom deciding metric put first."""
    name = info.metric_name
    return list(TABLE_METRICS) if name in TABLE_METRICS else [name, *TABLE_METRICS]


def choose_columns(info: StudyInfo, values: pd.DataFrame, metrics: list[str]) -> Columns:
    present = terms_of(values.columns)  # built-in and the user's own terms, in the tables' order
    terms = [term_name(t) for t in present if values[term_name(t)].notna().any()]
    weights: list[str] = []
    if info.is_search and not values.empty:
        # The flattened config logs every weight; the columns worth showing are those the search varied.
        weighted = terms_of(values.columns, prefix=weight_column(""))
        logged = [t for t in weighted if values[weight_column(t)].notna().any()]
        weights = [t for t in logged if values[weight_column(t)].nunique(dropna=True) > 1]
        weights = weights or [t for t in logged if (values[weight_column(t)].fillna(0) != 0).any()]
    return Columns(metrics=metrics, terms=terms, weights=weights)
