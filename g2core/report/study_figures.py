"""The figures of one study's report: which ones, from which runs, and a note for each one left out.

figures.py and search_figures.py draw; this module picks the data (curves and samples fetched from MLflow
only for the runs shown) and the order the README lists them in.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from g2core.names import (
    SAMPLES_PATH,
    TRAIN,
    VAL,
    metric_key,
    metric_spec,
    strip_split,
    term_key,
    terms_of,
)

from . import figures as figs
from .collect import StudyInfo
from .columns import FIGURE_METRICS, Columns
from .curves import train_curves, val_curves
from .samples import load_samples
from .search_figures import draw_search_figures
from .summary import Summary, summarize

MAX_CURVE_TRIALS = 5  # a search draws the curves of its best trials only: more lines are unreadable
MAX_SAMPLE_GROUPS = 6
MAX_SAMPLE_IMAGES = 4


def draw_figures(
    client: MlflowClient,
    info: StudyInfo,
    summary: Summary,
    columns: Columns,
    out_dir: Path,
    notes: list[str],
    comparison: pd.DataFrame | None = None,
) -> list[Path]:
    """Seeds with the tables' CIs, training and validation curves, the qualitative grid, and a search's
    Optuna figures: the PNGs, in README order (each has its SVG beside it: `svg_files`).

    comparison: significance.compare's table (the one the README prints), for the CIs in metrics.png."""
    values = summary.values
    if values.empty:
        notes.append("No run has validation results yet: no figures.")
        return []
    drawn = []
    groups = [g for g in summary.groups if summary.runs(g) > 0]
    shown = groups[:MAX_CURVE_TRIALS] if info.is_search else groups
    if len(shown) < len(groups):
        notes.append(f"Metrics, curves and samples show the best {len(shown)} of {len(groups)} trials.")
    runs = values[values["group"].isin(shown)]
    figure_metrics = list(dict.fromkeys([info.metric_name, *FIGURE_METRICS]))
    bar_summary = summary if not info.is_search else summarize(values, shown, columns.values)
    drawn.append(
        figs.metrics_figure(
            bar_summary,
            figure_metrics,
            info.lower_is_better,
            info.baseline,
            out_dir / "metrics.png",
            comparison,
        )
    )
    terms = terms_of(columns.terms)
    train = train_curves(client, runs, terms)
    if train.empty:
        notes.append(f"No {term_key(TRAIN, '<term>')} history: train_curves.png skipped.")
    else:
        drawn.append(
            figs.curves_figure(
                train,
                shown,
                terms,
                [term_key(TRAIN, t) for t in terms],
                ["loss"] * len(terms),
                "step",
                "Training loss per term (mean over seeds, band: min-max)",
                out_dir / "train_curves.png",
                log_y=True,
            )
        )
    # The deciding metric and δ1 (or abs_rel when δ1 decides): error and accuracy side by side.
    delta1 = metric_key(VAL, "delta1")
    val_keys = list(
        dict.fromkeys([info.metric, delta1 if info.metric != delta1 else metric_key(VAL, "abs_rel")])
    )
    val = val_curves(client, runs, val_keys)
    if val.empty:
        notes.append("No validation history: val_curves.png skipped.")
    else:
        labels = [
            figs.axis_label(
                strip_split(k),
                info.lower_is_better if k == info.metric else metric_spec(strip_split(k)).lower_is_better,
            )
            for k in val_keys
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
        notes.append(f"No run saved {SAMPLES_PATH}: qualitative.png skipped.")
    if info.is_search:
        drawn += draw_search_figures(info, summary, columns, out_dir, notes)
    return drawn


def svg_files(drawn: list[Path]) -> list[Path]:
    """The SVG written beside each PNG of `draw_figures` (for papers; the README and report.html show the PNGs)."""
    return [figs.svg_of(p) for p in drawn]
