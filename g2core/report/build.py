"""The report pipeline: MLflow runs -> per-run values and per-image tables -> statistics -> tables, figures,
README, and the parent run's summary.

It reads the study's parent and child runs (DESIGN: MLflow names), writes the report into `out_dir`, logs it
to the parent under `report/` and sets the parent's summary tags and metrics from the same statistics.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from g2core.names import REPORT_DIR, REPORT_HTML, ROBUSTNESS_ALIGNS, TEST, study_experiment
from g2core.tracking import RunTracker

from . import confirmation, markdown, pareto, verdicts
from . import cross_dataset as across
from .collect import ReportError, StudyInfo, load_study
from .columns import Columns, choose_columns, value_columns
from .delta_tables import baseline_table, details_table
from .grad_shares import grad_share_table, with_section
from .html import report_html
from .mlflow_copy import logged_copies
from .observations import observations
from .parent import headline, in_mlflow, log_main_table, log_study, note_tag, parent_summary
from .robustness import per_align, robustness_line
from .staging import publish, staging_folder
from .study_figures import draw_figures, svg_files
from .summary import Summary, rank_groups, summarize
from .tables import main_table, to_csv, to_html, to_latex, to_markdown
from .values import OBJECTIVE, SPLIT_CHOICES, run_values, select_runs


@dataclass
class ReportResult:
    out_dir: Path
    files: list[Path]
    markdown: str
    parent_run_id: str | None
    # The variant significantly best on the deciding metric after correction (None when no test says so);
    # a search's best trial by its validation objective.
    best: str | None = None
    notes: list[str] = field(default_factory=list)
    split: str = TEST
    verdict: str = ""  # the verdict sentence (the parent's study.verdict tag)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)  # significance.compare's rows
    summary_tags: dict[str, str] = field(default_factory=dict)  # what was (or would be) logged on the parent
    summary_metrics: dict[str, float] = field(default_factory=dict)  # the parent's headline metrics
    summary: Summary | None = None  # mean ± std, n per variant (the terminal's baseline row)


def write_report(
    tracking_uri: str,
    study: str,
    out_dir: Path,
    *,
    experiment_name: str | None = None,
    log_to_parent: bool = True,
    figures: bool = True,
    split: str = TEST,
    robustness_aligns: tuple[str, ...] = ROBUSTNESS_ALIGNS,
) -> ReportResult:
    """Write the study's report into `out_dir` (README.md, table.csv/.tex/.html, comparison.csv, figures).

    split: `test` (default: each run's test/* and per-image test table) or `val` (report.split=val, for runs
    trained without a test split). robustness_aligns: the alignments under which a relative-depth study's
    primary verdict is decided again from the same checkpoints (report.robustness_aligns; () for none).
    `figures=False` writes the tables and the README only (seconds faster).
    Raises ReportError when the store holds no such study or the study has no runs.
    """
    if split not in SPLIT_CHOICES:
        raise ReportError(f"report.split={split!r}: expected one of {', '.join(SPLIT_CHOICES)}")
    out_dir = Path(out_dir)
    client = MlflowClient(tracking_uri=tracking_uri)
    info, children = load_study(client, tracking_uri, study, experiment_name or study_experiment(study))
    children, confirm_runs = confirmation.stages(children)  # a search's trials; its confirmation's runs
    selected = select_runs(info, children)
    values, no_values = run_values(client, info, selected, split)
    metrics = value_columns(info)
    columns = choose_columns(info, values, metrics)
    summary = _summary(info, values, columns)
    notes = list(info.notes)
    observed = observations(client, values, metrics, split, notes) if not info.is_search else pd.DataFrame()
    comparison = verdicts.comparisons(info, observed, metrics)
    confirmed = confirmation.confirm(client, info, children, confirm_runs, split, notes)
    robust = (
        robustness_line(info, per_align(client, info, values, robustness_aligns)) if split == TEST else ""
    )

    final_dir, out_dir = out_dir, staging_folder(out_dir)  # written whole, then moved in (staging.py)
    tables = [main_table(info, summary, columns, comparison, tracking_uri, split)]
    if not comparison.empty:
        tables.append(baseline_table(info, summary, metrics, comparison, split))
        tables.append(details_table(info, comparison))
    balance = grad_share_table(client, info, selected)
    if balance is not None:  # after the tables the README indexes (0-2): in the .tex and .html files too
        tables.append(balance)
    # study.test_sets: variant x dataset with the main table's statistics (g2core.report.cross_dataset)
    cross = across.cross_dataset(client, info, selected, summary, comparison, split, notes)
    if cross is not None:
        tables.append(cross.table)
    title = f"Study {study}: {'weight search' if info.is_search else 'ablation'} report ({split} split)"
    files = [out_dir / name for name in ("table.csv", "comparison.csv", "table.tex", "table.html")]
    files[0].write_text(to_csv(info, summary, columns, comparison), encoding="utf-8")
    files[1].write_text(
        comparison.to_csv(index=False, float_format="%.8g", lineterminator="\n"), encoding="utf-8"
    )
    files[2].write_text(to_latex(tables, f"g2-{study}"), encoding="utf-8")
    files[3].write_text(to_html(tables, title), encoding="utf-8")
    if cross is not None:
        files.append(across.write_csv(cross, out_dir))
    drawn = draw_figures(client, info, summary, columns, out_dir, notes, comparison) if figures else []
    front = pareto.front(info, children)  # a Pareto search's front (study.objectives), None otherwise
    drawn += pareto.draw_front(front, out_dir) if figures else []
    files += drawn + svg_files(drawn)

    text = markdown.readme(
        title,
        tracking_uri,
        info,
        summary,
        columns,
        tables,
        comparison,
        split,
        children,
        no_values,
        drawn,
        notes,
        robust,
    )
    if balance is not None:
        text = with_section(text, balance)
    text = across.with_section(text, info, cross)
    text = confirmation.with_section(text, confirmed)  # a search's confirmed answer first
    text = pareto.with_section(text, front)
    readme = out_dir / "README.md"
    readme.write_text(text, encoding="utf-8")
    files.insert(0, readme)
    # issue 14, MLflow as its users know it: a page the artifact viewer renders, the note, the table
    page = out_dir / REPORT_HTML
    page.write_text(report_html(text, out_dir, title), encoding="utf-8")
    files.insert(1, page)
    files, out_dir = publish(out_dir, final_dir, files), final_dir

    verdict_text = markdown.verdict(info, summary, comparison, split, robust)
    if confirmed is not None:
        verdict_text = f"{confirmed.sentence}\n\nThe search alone: {verdict_text}"
    sentence = verdict_text.split("\n", 1)[0]
    tags, logged = parent_summary(info, summary, comparison, metrics, sentence, split)
    said = headline(info, comparison, split)
    best, shown = _best(info, summary, comparison), summary
    if confirmed is not None:  # each candidate's verdict and headline, as an ablation's variants have
        more = parent_summary(confirmed.info, confirmed.summary, confirmed.table, metrics, sentence, split)
        tags.update(more[0])
        logged.update(more[1])
        comparison, shown = confirmed.table, confirmed.summary  # what the terminal's table shows
        said = headline(confirmed.info, comparison, split)
    routed = in_mlflow(tables[0], info, summary.values)  # its links as routes of the MLflow server
    tags.update(note_tag(verdict_text, to_markdown(routed), said))
    if log_to_parent and info.parent_run_id:
        # One file at a time: out_dir may hold other files that are not part of this report.
        parent = RunTracker(client, info.parent_run_id, asynchronous=False)
        with tempfile.TemporaryDirectory() as scratch:  # README.md and report.html with links that work there
            copies = logged_copies(files, Path(scratch), REPORT_DIR, info.parent_run_id, info.experiment_id)
            for path in copies:
                parent.log_artifact(path, REPORT_DIR)
        log_main_table(parent, routed)
        log_study(client, info, children, comparison, tags, logged)  # tags, headlines, children, experiment
        confirmation.tag_runs(client, confirmed, confirm_runs)
    return ReportResult(
        out_dir,
        files,
        text,
        info.parent_run_id,
        best,
        notes,
        split,
        sentence,
        comparison,
        tags,
        logged,
        shown,
    )


def _best(info: StudyInfo, summary: Summary, comparison: pd.DataFrame) -> str | None:
    if info.is_search:
        ranked = [g for g in summary.groups if summary.runs(g) > 0]
        return ranked[0] if ranked else None
    return verdicts.significantly_best(comparison, info.baseline, info.metric_name)


def _summary(info: StudyInfo, values: pd.DataFrame, columns: Columns) -> Summary:
    if not info.is_search:
        return summarize(values, list(info.variants), columns.values)
    # A search lists its trials from best to worst validation objective (the test split selects nothing).
    shown = [*columns.values, OBJECTIVE]
    groups = list(dict.fromkeys(values["group"])) if not values.empty else []
    unordered = summarize(values, groups, shown)
    return summarize(values, rank_groups(unordered, OBJECTIVE, info.lower_is_better), shown)
