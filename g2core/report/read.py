"""The report's first stage: every MLflow read, before anything is decided or drawn.

`read_study` returns the study's runs and everything the statistics and the figures need from them (per-run
values, per-image tables under each alignment and on each test set, gradient shares, curves, samples, a
search's confirmation runs), so that decide.py and render.py never see an MLflow client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from mlflow import MlflowClient

from g2core.names import TEST, terms_of

from .collect import ChildRun, StudyInfo, load_study
from .columns import Columns, choose_columns, value_columns
from .confirmation import ConfirmationRuns, stage_study, stages
from .cross_dataset import counted_runs, deciding_metrics, test_sets_of
from .curves import grad_shares, train_curves, val_curves
from .observations import align_observations, observations, test_set_observations
from .samples import load_samples
from .study_figures import MAX_SAMPLE_GROUPS, FigureData, shown_groups, val_keys
from .summary import Summary, report_summary
from .values import run_values, select_runs


@dataclass
class StudyRecords:
    """A study as MLflow holds it, read once."""

    uri: str
    info: StudyInfo
    children: list[ChildRun]  # an ablation's runs; a search's trials (its confirmation runs apart)
    selected: list[ChildRun]  # the runs the tables count (values.select_runs)
    no_values: list[ChildRun]  # counted runs without a value on the split yet (values.run_values)
    columns: Columns  # columns.metrics: the value columns the statistics test
    summary: Summary  # mean ± std over seeds per group (its values: a row per counted run with a value)
    observed: pd.DataFrame  # the per-image long table of the paired tests (observations)
    by_align: dict[str, pd.DataFrame]  # the same under each alignment of report.robustness_aligns
    test_sets: dict[str, pd.DataFrame]  # each study.test_sets dataset's per-image long table
    grad_shares: dict[str, dict[str, list[float]]]  # group -> term -> each run's mean gradient share
    confirm: ConfirmationRuns | None  # a search's confirmation stage
    figures: FigureData = field(default_factory=FigureData)
    notes: list[str] = field(default_factory=list)  # what the reads found missing, in the README's order


def read_study(
    client: MlflowClient,
    uri: str,
    study: str,
    experiment_name: str,
    split: str,
    aligns: tuple[str, ...],
    figures: bool = True,
) -> StudyRecords:
    """Read the study. Raises collect.ReportError when the store holds no such study or it has no runs."""
    info, children = load_study(client, uri, study, experiment_name)
    children, confirm_runs = stages(children)  # a search's trials; its confirmation's runs
    selected = select_runs(info, children)
    values, no_values = run_values(client, info, selected, split)
    metrics = value_columns(info)
    columns = choose_columns(info, values, metrics)
    summary = report_summary(info, values, columns)
    notes = list(info.notes)
    search = info.is_search
    observed = pd.DataFrame() if search else observations(client, values, metrics, split, notes)
    confirm = read_confirmation(client, info, children, confirm_runs, split, notes)
    robust = split == TEST and not search
    by_align = align_observations(client, values, info.metric_name, aligns) if robust else {}
    per_set = {}
    if not search:
        for name in test_sets_of(selected):
            counted = counted_runs(info, selected, name)
            per_set[name] = test_set_observations(client, counted, name, deciding_metrics(info), notes)
    return StudyRecords(
        uri,
        info,
        children,
        selected,
        no_values,
        columns,
        summary,
        observed,
        by_align,
        per_set,
        grad_shares(client, info, selected),
        confirm,
        figure_data(client, info, summary, columns) if figures else FigureData(),
        notes,
    )


def read_confirmation(
    client: MlflowClient,
    info: StudyInfo,
    search: list[ChildRun],
    runs: list[ChildRun],
    split: str,
    notes: list[str],
) -> ConfirmationRuns | None:
    """A search's confirmation runs, their values and per-image tables; None for an ablation or a search
    without them."""
    if not info.is_search or not runs:
        return None
    staged = stage_study(info, search, runs)
    values, _ = run_values(client, staged, select_runs(staged, runs), split)
    return ConfirmationRuns(
        staged, runs, values, observations(client, values, value_columns(staged), split, notes)
    )


def figure_data(client: MlflowClient, info: StudyInfo, summary: Summary, columns: Columns) -> FigureData:
    """The training and validation histories and the saved predictions of the runs the figures show."""
    if summary.values.empty:
        return FigureData()
    shown = shown_groups(info, summary)
    runs = summary.values[summary.values["group"].isin(shown)]
    samples, notes = load_samples(client, runs, shown[:MAX_SAMPLE_GROUPS], info.seeds)
    return FigureData(
        train_curves(client, runs, terms_of(columns.terms)),
        val_curves(client, runs, val_keys(info)),
        samples,
        notes,
    )
