"""Comparison reports of a study, from MLflow alone: tables (md/csv/tex/html) and figures (png).

`write_report(tracking_uri, study, out_dir)` is the one way in (build.py); it raises ReportError when the
store holds no such study or the study has no runs.
  collect.py, values.py, observations.py, samples.py   MLflow -> records, per-run values, per-image tables
  interval.py -> significance.py -> verdicts.py, delta_tables.py, summary.py   the paired interval and its
      power, the comparison table (primary family decided by g2core.design, secondary family), the claims
  robustness.py  the primary verdict under each relative alignment;  looks.py  a running study's looks
  confirmation.py  a search's confirmation stage as an ablation of its candidates: the confirmed answer
  tables.py, figures.py, study_figures.py, search_figures.py, markdown.py   what is written
  parent.py    the study in MLflow (parent, children, experiment);  provenance.py  links, config hashes, commits
  mlflow_copy.py  the copies logged to MLflow, with links that work inside its UI
Reads MLflow only (never the Optuna storage, never torch); every key and tag from g2core.names, the
qualitative grid from g2core.sample_grid.
"""

from .build import ReportResult, write_report
from .collect import ReportError

__all__ = ["ReportError", "ReportResult", "write_report"]
