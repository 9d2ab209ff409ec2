"""Comparison reports of a study, from MLflow alone: tables (md/csv/tex/html) and figures (png).

`write_report(tracking_uri, study, out_dir)` is the one way in (build.py); it raises ReportError when the
store holds no such study or the study has no runs.
"""

from .build import ReportResult, write_report
from .collect import ReportError

__all__ = ["ReportError", "ReportResult", "write_report"]
