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

from g2core.names import REPORT_DIR, ROBUSTNESS_ALIGNS, TEST, study_experiment
from g2core.tracking import RunTracker

from .collect import ReportError
from .decide import decide
from .mlflow_copy import logged_copies
from .parent import headline, in_mlflow, log_main_table, log_study, note_tag, parent_summary, tag_verdicts
from .read import read_study
from .render import render
from .summary import Summary
from .tables import to_markdown
from .values import SPLIT_CHOICES


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
    compute: str = ""  # a search's compute per stage and val-test rank correlation, in one line


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
    client = MlflowClient(tracking_uri=tracking_uri)
    name = experiment_name or study_experiment(study)
    records = read_study(client, tracking_uri, study, name, split, robustness_aligns, figures)
    decided = decide(records, split)
    rendered = render(records, decided, Path(out_dir), split, figures)

    info, metrics, confirmed = records.info, records.columns.metrics, decided.confirmed
    comparison, shown = decided.comparison, records.summary
    sentence = decided.verdict.split("\n", 1)[0]
    tags, logged = parent_summary(info, shown, comparison, metrics, sentence, split)
    said = headline(info, comparison, split)
    if confirmed is not None:  # each candidate's verdict and headline, as an ablation's variants have
        more = parent_summary(confirmed.info, confirmed.summary, confirmed.table, metrics, sentence, split)
        tags.update(more[0])
        logged.update(more[1])
        comparison, shown = confirmed.table, confirmed.summary  # what the terminal's table shows
        said = headline(confirmed.info, comparison, split)
    routed = in_mlflow(rendered.main, info, records.summary.values)  # links as routes of the MLflow server
    tags.update(note_tag(decided.verdict, to_markdown(routed), said))
    if log_to_parent and info.parent_run_id:
        # One file at a time: out_dir may hold other files that are not part of this report.
        parent = RunTracker(client, info.parent_run_id, asynchronous=False)
        with tempfile.TemporaryDirectory() as scratch:  # README.md and report.html with links that work there
            copies = logged_copies(
                rendered.files, Path(scratch), REPORT_DIR, info.parent_run_id, info.experiment_id
            )
            for path in copies:
                parent.log_artifact(path, REPORT_DIR)
        log_main_table(parent, routed)
        log_study(client, info, records.children, comparison, tags, logged)  # tags, headlines, children
        if confirmed is not None and records.confirm is not None:
            tag_verdicts(client, confirmed.info, confirmed.table, records.confirm.runs)
    return ReportResult(
        Path(out_dir),
        rendered.files,
        rendered.text,
        info.parent_run_id,
        decided.best,
        rendered.notes,
        split,
        sentence,
        comparison,
        tags,
        logged,
        shown,
        decided.compute.line() if decided.compute is not None else "",
    )
