"""Comparison reports of a study, from MLflow alone: tables (md/csv/tex/html) and figures (png).

`write_report(tracking_uri, study, out_dir)` is the one way in (build.py); it raises ReportError when the
store holds no such study or the study has no runs. It runs three stages, then logs to the parent run:
  read.py    every MLflow read, into one StudyRecords (helpers: collect.py runs and settings, values.py per-run
             values, observations.py per-image tables, curves.py histories, samples.py saved predictions)
  decide.py  the statistics, into one Decisions: interval.py -> significance.py -> verdicts.py (the paired
             interval, the primary family decided by g2core.design, the secondary family, the claims),
             summary.py, robustness.py (each relative alignment), cross_dataset.py (study.test_sets),
             confirmation.py (a search's candidates as an ablation), pareto.py (a two-objective front)
  render.py  the files, written whole (staging.py): tables.py, delta_tables.py, figures.py (each figure
             returns its path and caption), study_figures.py, search_figures.py, markdown.py (the
             README, its optional sections from their own modules), html.py
  then parent.py (the study in MLflow: parent, children, experiment) and mlflow_copy.py (the copies logged
  to MLflow, with links that work inside its UI); looks.py replays the decisions for a running study.
Reads MLflow only (never the Optuna storage, never torch); every key and tag from g2core.names, the
qualitative grid from g2core.sample_grid.
"""

from .build import ReportResult, write_report
from .collect import ReportError

__all__ = ["ReportError", "ReportResult", "write_report"]
