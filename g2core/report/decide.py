"""The report's second stage: the statistics, from what read.py read (no MLflow, no files).

The primary and secondary families against the baseline (verdicts.comparisons), the verdict under each
alignment, the test sets' table, a search's confirmed answer and Pareto front, and the verdict text that the
README, the parent run and the terminal all say.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import confirmation, markdown, pareto, search_compute, verdicts
from . import cross_dataset as across
from .read import StudyRecords
from .robustness import robustness_line


@dataclass
class Decisions:
    comparison: pd.DataFrame  # significance.compare's rows: the primary family decides the verdict
    cross: across.CrossDataset | None  # study.test_sets: every variant on every test set
    confirmed: confirmation.Confirmation | None  # a search's confirmation stage
    front: pareto.Front | None  # a Pareto search's non-dominated trials
    verdict: str  # the README's verdict section, a search's confirmed answer first (line 1: study.verdict)
    best: str | None  # the variant significantly best after correction; a search's best trial
    compute: search_compute.SearchCompute | None  # a search's compute per stage, val-test rank correlation


def decide(records: StudyRecords, split: str) -> Decisions:
    info, summary = records.info, records.summary
    comparison = verdicts.comparisons(info, records.observed, records.columns.metrics)
    robust = robustness_line(info, records.by_align)  # '' without the alignments' tables
    confirmed = confirmation.confirm(records.confirm, info, records.children, split)
    cross = across.cross_dataset(info, records.selected, records.test_sets, summary, comparison, split)
    text = markdown.verdict(info, summary, comparison, split, robust)
    if confirmed is not None:
        text = f"{confirmed.sentence}\n\nThe search alone: {text}"
    if info.is_search:  # its trials in the order of the validation objective
        best = next(iter(summary.counted()), None)
    else:
        best = verdicts.significantly_best(comparison, info.baseline, info.metric_name)
    confirm_runs = records.confirm.runs if records.confirm is not None else []
    compute = search_compute.search_compute(info, records.children, confirm_runs)
    front = pareto.front(info, records.children)
    return Decisions(comparison, cross, confirmed, front, text, best, compute)
