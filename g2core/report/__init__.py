"""Comparison reports of a study, from MLflow alone: tables (md/csv/tex/html) and figures (png).

`write_report(tracking_uri, study, out_dir)` is the one way in; it reads the study's parent and child
runs (DESIGN: MLflow names), writes the report into `out_dir` and logs it to the parent under `report/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from . import figures as figs
from . import markdown, search_figures
from .collect import ReportError, StudyInfo, load_study, redact_uri
from .curves import train_curves, val_curves
from .samples import load_samples
from .stats import Comparison, Summary, compare, rank_groups, summarize
from .tables import (
    Columns,
    baseline_table,
    choose_columns,
    main_table,
    to_csv,
    to_html,
    to_latex,
    to_markdown,
    weights_by_group,
)
from .values import run_values, select_runs, value_columns
from .vocab import FIGURE_METRICS

__all__ = ["ReportError", "ReportResult", "write_report", "redact_uri"]

MAX_CURVE_TRIALS = 5  # a search draws the curves of its best trials only: more lines are unreadable
MAX_SAMPLE_GROUPS = 6
MAX_SAMPLE_IMAGES = 4


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
    info, children = load_study(client, tracking_uri, study, experiment_name or f"g2/{study}")
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
    drawn = _figures(client, info, summary, columns, out_dir, notes) if figures else []
    files += drawn

    text = _readme(title, tracking_uri, info, summary, columns, tables, children, no_values, drawn, notes)
    readme = out_dir / "README.md"
    readme.write_text(text, encoding="utf-8")
    files.insert(0, readme)
    if log_to_parent and info.parent_run_id:
        # One file at a time: out_dir may hold other files that are not part of this report.
        for path in files:
            client.log_artifact(info.parent_run_id, str(path), "report")
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


def _figures(
    client: MlflowClient, info: StudyInfo, summary: Summary, columns: Columns, out_dir: Path, notes: list[str]
) -> list[Path]:
    values = summary.values
    if values.empty:
        notes.append("No run has validation results yet: no figures.")
        return []
    drawn = []
    groups = [g for g in summary.groups if summary.runs(g) > 0]
    shown = groups[:MAX_CURVE_TRIALS] if info.is_search else groups
    if len(shown) < len(groups):
        notes.append(f"Bars, curves and samples show the best {len(shown)} of {len(groups)} trials.")
    runs = values[values["group"].isin(shown)]
    figure_metrics = list(dict.fromkeys([info.metric_name, *FIGURE_METRICS]))
    bar_summary = summary if not info.is_search else summarize(values, shown, columns.values)
    drawn.append(
        figs.metrics_figure(
            bar_summary, figure_metrics, info.lower_is_better, info.baseline, out_dir / "metrics.png"
        )
    )
    terms = [c.removeprefix("loss_") for c in columns.terms]
    train = train_curves(client, runs, terms)
    if train.empty:
        notes.append("No train/loss_<term> history: train_curves.png skipped.")
    else:
        drawn.append(
            figs.curves_figure(
                train,
                shown,
                terms,
                [f"train/loss_{t}" for t in terms],
                ["loss"] * len(terms),
                "step",
                "Training loss per term (mean over seeds, band: min-max)",
                out_dir / "train_curves.png",
                log_y=True,
            )
        )
    val_keys = list(
        dict.fromkeys([info.metric, "val/delta1" if info.metric != "val/delta1" else "val/abs_rel"])
    )
    val = val_curves(client, runs, val_keys)
    if val.empty:
        notes.append("No validation history: val_curves.png skipped.")
    else:
        names = [k.split("/", 1)[-1] for k in val_keys]
        labels = [
            figs.axis_label(n, info.lower_is_better if k == info.metric else n != "delta1")
            for n, k in zip(names, val_keys, strict=True)
        ]
        drawn.append(
            figs.curves_figure(
                val,
                shown,
                val_keys,
                val_keys,
                labels,
                "epoch",
                "Validation (mean over seeds, band: min-max)",
                out_dir / "val_curves.png",
            )
        )
    samples, sample_notes = load_samples(client, runs, shown[:MAX_SAMPLE_GROUPS], info.seeds)
    notes += sample_notes
    if samples:
        drawn.append(figs.qualitative_figure(samples, MAX_SAMPLE_IMAGES, out_dir / "qualitative.png"))
    else:
        notes.append("No run saved samples/best_predictions.npz: qualitative.png skipped.")
    if info.is_search:
        drawn += _search_figures(info, summary, columns, out_dir, notes)
    return drawn


def _search_figures(
    info: StudyInfo, summary: Summary, columns: Columns, out_dir: Path, notes: list[str]
) -> list[Path]:
    metric, lower = info.metric_name, info.lower_is_better
    trials = search_figures.trial_frame(summary, metric, columns.weights)
    if trials.empty:
        notes.append("No finished trial with a trial number: search figures skipped.")
        return []
    drawn = [search_figures.history_figure(trials, info.metric, lower, out_dir / "search_history.png")]
    if len(trials) < 2:
        notes.append("Fewer than 2 finished trials: search_importance.png skipped.")
    else:
        try:
            importances = search_figures.importances(trials, columns.weights, lower)
        except (RuntimeError, ValueError) as error:  # fANOVA on degenerate data: a note, not a crash
            importances = {}
            notes.append(f"Parameter importances failed ({error}).")
        if importances:
            drawn.append(
                search_figures.importance_figure(importances, info.metric, out_dir / "search_importance.png")
            )
        else:
            notes.append("No loss weight varies across finished trials: search_importance.png skipped.")
    if columns.weights:
        drawn.append(
            search_figures.parallel_figure(
                trials, columns.weights, info.metric, lower, out_dir / "search_parallel.png"
            )
        )
    return drawn


_CAPTIONS = {
    "metrics.png": "Metrics at the best checkpoint: mean over seeds, whiskers ± std.",
    "train_curves.png": "Training loss per term: mean over seeds, band min-max.",
    "val_curves.png": "Validation curves of the deciding metric and δ1: mean over seeds, band min-max.",
    "qualitative.png": "The same validation images for every variant (first seed), one depth colour scale.",
    "search_history.png": "Objective of each trial and the best so far.",
    "search_importance.png": "Parameter importances (Optuna fANOVA, rebuilt from the MLflow runs).",
    "search_parallel.png": "Loss weights of each trial, coloured by the objective.",
}


def _readme(
    title: str,
    uri: str,
    info: StudyInfo,
    summary: Summary,
    columns: Columns,
    tables: list,
    children: list,
    no_values: list,
    drawn: list[Path],
    notes: list[str],
) -> str:
    parts = [f"# {title}\n", markdown.study_section(info, uri), "## Verdict\n"]
    parts.append(markdown.verdict(info, summary, weights_by_group(summary)))
    parts += [
        "## Results\n",
        to_markdown(tables[0]),
        markdown.results_note(info, summary, bool(columns.terms)),
        markdown.reference_note(info, children),
    ]
    if len(tables) > 1:
        parts += [
            f"## Against the baseline ({info.baseline})\n",
            to_markdown(tables[1]),
            markdown.baseline_note(),
        ]
    parts.append(
        "Files: [table.csv](table.csv) (unrounded), [table.tex](table.tex) (booktabs), [table.html](table.html).\n"
    )
    if drawn:
        parts.append("## Figures\n")
        parts += [f"![{p.stem}]({p.name})\n\n{_CAPTIONS.get(p.name, '')}\n" for p in drawn]
    parts += ["## Missing / failed\n", markdown.missing_section(info, children, no_values)]
    if notes:
        parts += ["## Notes\n", "\n".join(f"- {n}" for n in notes) + "\n"]
    return "\n".join(parts)
