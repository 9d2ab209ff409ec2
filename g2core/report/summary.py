"""Aggregation over seeds (the seed-level view: mean ± std, n) and the order of a search's trials.

The tests against the baseline live in significance.py and verdicts.py; nothing here decides a winner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .collect import StudyInfo
from .columns import Columns
from .fmt import mean_std
from .values import OBJECTIVE


@dataclass
class Summary:
    """Per-group mean, sample std (ddof=1) and n of every value column, rows in display order."""

    groups: list[str]
    mean: pd.DataFrame
    std: pd.DataFrame
    n: pd.DataFrame
    partial: pd.Series  # runs per group whose values come from the validation history (no best/*)
    values: pd.DataFrame  # the per-run rows the statistics were computed from

    def samples(self, group: str, column: str) -> np.ndarray:
        rows = self.values[self.values["group"] == group] if not self.values.empty else self.values
        if rows.empty or column not in rows:
            return np.array([], dtype=float)
        data = rows[column].to_numpy(dtype=float)
        return data[~np.isnan(data)]

    def runs(self, group: str) -> int:
        """Runs counted for a group: those with a value of the first (deciding) column."""
        return int(self.n.loc[group].max()) if group in self.n.index and len(self.n.columns) else 0

    def counted(self) -> list[str]:
        """The groups with runs, in display order (a search's: its best trial first): what the figures show
        and what a search names as its best trial."""
        return [g for g in self.groups if self.runs(g) > 0]

    def cell(self, group: str, column: str) -> str:
        """A group's "mean ± std" of a column, as every table prints it ('' without runs or without the
        column, e.g. a variant the study's terminal line names that the report did not summarize)."""
        if group not in self.mean.index or column not in self.mean.columns:
            return ""
        return mean_std(
            self.mean.loc[group, column], self.std.loc[group, column], int(self.n.loc[group, column])
        )


def summarize(values: pd.DataFrame, groups: list[str], columns: list[str]) -> Summary:
    """Mean, std and n per group; groups without runs keep an empty row so the gap stays visible."""
    mean = pd.DataFrame(np.nan, index=groups, columns=columns, dtype=float)
    std = mean.copy()
    n = pd.DataFrame(0, index=groups, columns=columns, dtype=int)
    partial = pd.Series(0, index=groups, dtype=int)
    for group in groups:
        rows = values[values["group"] == group] if not values.empty else values
        if rows.empty:
            continue
        partial[group] = int(rows["partial"].sum())
        for column in columns:
            data = rows[column].to_numpy(dtype=float) if column in rows else np.array([])
            data = data[~np.isnan(data)]
            n.loc[group, column] = len(data)
            if len(data):
                # Sorted so that the float sum, and so the printed digits, never depend on run order.
                data = np.sort(data)
                mean.loc[group, column] = float(np.mean(data))
                std.loc[group, column] = float(np.std(data, ddof=1)) if len(data) > 1 else math.nan
    return Summary(groups=groups, mean=mean, std=std, n=n, partial=partial, values=values)


def rank_groups(summary: Summary, column: str, lower_is_better: bool) -> list[str]:
    """Groups from best to worst by a column's mean; groups without a value last, ties in display order (the
    sort is stable)."""

    def key(group: str) -> tuple[int, float]:
        value = summary.mean.loc[group, column]
        return (1, 0.0) if math.isnan(value) else (0, value if lower_is_better else -value)

    return sorted(summary.groups, key=key)


def report_summary(info: StudyInfo, values: pd.DataFrame, columns: Columns) -> Summary:
    """The tables' summary: an ablation's variants in study order; a search's trials from best to worst
    validation objective (the test split selects nothing), the objective as a column."""
    if not info.is_search:
        return summarize(values, list(info.variants), columns.values)
    shown = [*columns.values, OBJECTIVE]
    groups = list(dict.fromkeys(values["group"])) if not values.empty else []
    unordered = summarize(values, groups, shown)
    return summarize(values, rank_groups(unordered, OBJECTIVE, info.lower_is_better), shown)
