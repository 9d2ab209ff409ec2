"""The report pipeline: MLflow runs -> per-run values -> summary over seeds -> tables, figures, README.

It reads the study's parent and child runs (DESIGN: MLflow names), writes the report into `out_dir` and
logs it to the parent under `report/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from g2core.names import REPORT_DIR, study_experiment

from . import markdown
from .collect import StudyInfo, load_study
from .columns import Columns, choose_columns, value_columns
from .stats import Comparison, Summary, compare, rank_groups, summarize
from .study_figures import draw_figures
from .tables import baseline_table, main_table, to_csv, to_html, to_latex
from .values import run_values, select_runs


@dataclass
class ReportResult:
    out_dir: Path
    files: list[Path]
    markdown: str
    parent_run_id: str | None
    best: str | None = None  # the best variant (or trial) by the deciding metric
    notes: list[str] = field(default_factory=list)


def write_report(
    tracking_uri: str,
    study: str,
    out_dir: Path,
    *,
    experiment_name: str | None = None,
    log_to_parent: bool = True,
    figures: bool = True,
) -> ReportResult:
    """Write the study's report into `out_dir` (README.md, table.csv/.tex/.html, figures).

    `figures=False` writes the tables and the README only (seconds faster: drawing dominates the run time).
    Raises ReportError when the store holds no such study or the study has no runs.
    """
    out_dir = Path(out_dir)
    client = MlflowClient(tracking_uri=tracking_uri)
    info, children = load_study(client, tracking_uri, study, experiment_name or study_experiment(study))
    values, no_values = run_values(client, info, select_runs(info, children))
    metrics = value_columns(info)
    columns = choose_columns(info, values, metrics)
    summary = _summary(info, values, columns)
    comparisons = _comparisons(info, summary, metrics)
    notes = list(info.notes)

    out_dir.mkdir(parents=True, exist_ok=True)
    tables = [main_table(info, summary, columns)]
    if comparisons:
        tables.append(baseline_table(info, summary, metrics, comparisons))
    title = f"Study {study}: {'weight search' if info.is_search else 'ablation'} report"
    files = [out_dir / "table.csv", out_dir / "table.tex", out_dir / "table.html"]
    files[0].write_text(to_csv(info, summary, columns, comparisons), encoding="utf-8")
    files[1].write_text(to_latex(tables, f"g2-{study}"), encoding="utf-8")
    files[2].write_text(to_html(tables, title), encoding="utf-8")
    drawn = draw_figures(client, info, summary, columns, out_dir, notes) if figures else []
    files += drawn

    text = markdown.readme(
        title, tracking_uri, info, summary, columns, tables, children, no_values, drawn, notes
    )
    readme = out_dir / "README.md"
    readme.write_text(text, encoding="utf-8")
    files.insert(0, readme)
    if log_to_parent and info.parent_run_id:
        # One file at a time: out_dir may hold other files that are not part of this report.
        for path in files:
            client.log_artifact(info.parent_run_id, str(path), REPORT_DIR)
    ranked = [g for g in rank_groups(summary, info.metric_name, info.lower_is_better) if summary.runs(g) > 0]
    return ReportResult(out_dir, files, text, info.parent_run_id, ranked[0] if ranked else None, notes)


def _summary(info: StudyInfo, values: pd.DataFrame, columns: Columns) -> Summary:
    if not info.is_search:
        return summarize(values, list(info.variants), columns.values)
    # A search lists its trials from best to worst objective.
    groups = list(dict.fromkeys(values["group"])) if not values.empty else []
    unordered = summarize(values, groups, columns.values)
    return summarize(values, rank_groups(unordered, info.metric_name, info.lower_is_better), columns.values)


def _comparisons(info: StudyInfo, summary: Summary, metrics: list[str]) -> dict[tuple[str, str], Comparison]:
    """Every variant against the baseline on every metric; empty for a search or without baseline runs."""
    base = info.baseline
    if info.is_search or base not in summary.groups or summary.runs(base) == 0:
        return {}
    return {
        (g, m): compare(summary.samples(g, m), summary.samples(base, m))
        for g in summary.groups
        if g != base
        for m in metrics
    }
