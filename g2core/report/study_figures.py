"""The figures of one study's report: which ones, from which runs, and a note for each one left out.

figures.py and search_figures.py draw; this module picks the runs shown, says which histories and samples
the report's read stage fetches for them (read.figure_data), and the order the README lists the figures in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from g2core.names import SAMPLES_PATH, TRAIN, VAL, metric_key, strip_split, term_key, terms_of

from . import figures as figs
from .collect import StudyInfo
from .columns import FIGURE_METRICS, Columns
from .curves import CURVE_COLUMNS
from .figures import Drawn
from .samples import Samples
from .search_figures import draw_search_figures
from .summary import Summary, summarize

MAX_CURVE_TRIALS = 5  # a search draws the curves of its best trials only: more lines are unreadable
MAX_SAMPLE_GROUPS = 6
MAX_SAMPLE_IMAGES = 4
TRAIN_CAPTION = "Training loss per term: mean over seeds, band min-max."
VAL_CAPTION = "Validation curves of the deciding metric and δ1: mean over seeds, band min-max."


@dataclass
class FigureData:
    """What the figures show that the per-run values do not hold: read from MLflow by read.figure_data."""

    train: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CURVE_COLUMNS))
    val: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CURVE_COLUMNS))
    samples: list[Samples] = field(default_factory=list)
    sample_notes: list[str] = field(default_factory=list)


def shown_groups(info: StudyInfo, summary: Summary) -> list[str]:
    """The groups the figures show: every group with runs, a search's best trials only."""
    groups = summary.counted()
    return groups[:MAX_CURVE_TRIALS] if info.is_search else groups


def val_keys(info: StudyInfo) -> list[str]:
    """The deciding metric and δ1 (or abs_rel when δ1 decides): error and accuracy side by side."""
    delta1 = metric_key(VAL, "delta1")
    return list(dict.fromkeys([info.metric, delta1 if info.metric != delta1 else metric_key(VAL, "abs_rel")]))


def draw_figures(
    info: StudyInfo,
    summary: Summary,
    columns: Columns,
    data: FigureData,
    out_dir: Path,
    notes: list[str],
    comparison: pd.DataFrame,
) -> list[Drawn]:
    """Seeds with the tables' CIs, training and validation curves, the qualitative grid, and a search's
    Optuna figures, in README order (each PNG has its SVG beside it).

    comparison: significance.compare's table (the one the README prints), for the CIs in metrics.png."""
    values = summary.values
    if values.empty:
        notes.append("No run has validation results yet: no figures.")
        return []
    shown, groups = shown_groups(info, summary), summary.counted()
    if len(shown) < len(groups):
        notes.append(f"Metrics, curves and samples show the best {len(shown)} of {len(groups)} trials.")
    figure_metrics = list(dict.fromkeys([info.metric_name, *FIGURE_METRICS]))
    bar_summary = summary if not info.is_search else summarize(values, shown, columns.values)
    drawn = [
        figs.metrics_figure(
            bar_summary,
            figure_metrics,
            info.lower_is_better,
            info.baseline,
            out_dir / "metrics.png",
            comparison,
        )
    ]
    train_keys = [term_key(TRAIN, t) for t in terms_of(columns.terms)]
    if data.train.empty:
        notes.append(f"No {term_key(TRAIN, '<term>')} history: train_curves.png skipped.")
    else:
        drawn.append(
            figs.curves_figure(
                data.train,
                shown,
                train_keys,
                ["loss"] * len(train_keys),
                "step",
                "Training loss per term (mean over seeds, band: min-max)",
                out_dir / "train_curves.png",
                TRAIN_CAPTION,
                log_y=True,
            )
        )
    keys = val_keys(info)
    if data.val.empty:
        notes.append("No validation history: val_curves.png skipped.")
    else:
        labels = [figs.axis_label(strip_split(k)) for k in keys]
        drawn.append(
            figs.curves_figure(
                data.val,
                shown,
                keys,
                labels,
                "epoch",
                "Validation (mean over seeds, band: min-max)",
                out_dir / "val_curves.png",
                VAL_CAPTION,
            )
        )
    notes += data.sample_notes
    if data.samples:
        drawn.append(figs.qualitative_figure(data.samples, MAX_SAMPLE_IMAGES, out_dir / "qualitative.png"))
    else:
        notes.append(f"No run saved {SAMPLES_PATH}: qualitative.png skipped.")
    if info.is_search:
        drawn += draw_search_figures(info, summary, columns, out_dir, notes)
    return drawn
