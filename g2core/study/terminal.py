"""The end of a study on the terminal: the report's comparison in a few lines (Δ against the baseline with
▲/▼), the verdict sentence, the report's path and the command that opens the MLflow UI on this store.

Everything is read from the report's own result (g2core.report.ReportResult): no statistic is recomputed.
"""

from __future__ import annotations

from pathlib import Path

from g2core.config import project_root, redact
from g2core.names import REPORT_DIR, REPORT_HTML, REPORT_README, RUNS_TABLE_QUERY, metric_spec, strip_split
from g2core.tracking.store import default_tracking_uri

LOCAL_UI = "http://127.0.0.1:5000"  # where `python -m g2core.stack ui` (make ui) serves a local store
# Shown beside the deciding metric when the report compared them: depth accuracy and the edge metrics.
EXTRA_METRICS = ("delta1", "edge_abs_rel", "dbe_acc")


def comparison_lines(report, metric: str, baseline: str, lower_is_better: bool) -> list[str]:
    """Rows = variants, columns = the deciding metric and a few others: the baseline's mean ± std, each
    other variant's Δ [95% CI] ▲/▼ (the report's 'Against the baseline' cells)."""
    from g2core.report.delta_tables import delta_text
    from g2core.report.verdicts import row

    table = report.comparison
    if table is None or table.empty:
        return []
    decided = strip_split(metric)
    metrics = [decided] + [m for m in EXTRA_METRICS if m != decided and (table["metric"] == m).any()]
    others = dict.fromkeys(v for v in table["variant"] if v != baseline)
    arrow = {m: "↓" if metric_spec(m, lower_is_better).lower_is_better else "↑" for m in metrics}
    stats = report.summary  # the report's seed-level statistics (mean ± std, n)
    rows = [
        ["variant", *(f"{m} {arrow[m]}" for m in metrics)],
        [f"{baseline} (baseline)", *(stats.cell(baseline, m) if stats is not None else "" for m in metrics)],
        *([variant, *(delta_text(row(table, variant, m)) for m in metrics)] for variant in others),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def ui_command(uri: str, root: str | Path) -> str:
    """How to look at this store in the MLflow UI."""
    if uri.startswith("http"):
        return f"open {redact('uri', uri).rstrip('/')}/#/experiments{RUNS_TABLE_QUERY}"
    if uri == default_tracking_uri(root):
        # `make ui` serves the project root's store: the same only when the study ran there
        same = Path(root).resolve() == project_root().resolve()
        return f"python -m g2core.stack ui --root {root}" + ("   (or: make ui)" if same else "")
    return f"python -m g2core.stack ui --root {root} --store {redact('uri', uri)}"


def run_lines(uri: str, run_id: str, report: bool) -> list[str]:
    """The parent run's page and its report as addresses a browser opens: the tracking server's, or the
    address `python -m g2core.stack ui` serves a local store on (its default); the classic runs view."""
    try:
        from mlflow import MlflowClient

        experiment = MlflowClient(uri).get_run(run_id).info.experiment_id
    except Exception:  # the store went away at the end of a study: the id is still worth printing
        return [f"MLflow parent run: {run_id}"]
    server = redact("uri", uri).rstrip("/") if uri.startswith(("http://", "https://")) else LOCAL_UI
    page = f"{server}/#/experiments/{experiment}/runs/{run_id}"
    lines = [f"MLflow parent run: {page}{RUNS_TABLE_QUERY}"]
    if report:
        lines.append(f"MLflow report: {page}/artifacts/{REPORT_DIR}/{REPORT_HTML}{RUNS_TABLE_QUERY}")
    if server == LOCAL_UI:
        lines[-1] += "   (once the UI below runs)"
    return lines


def study_summary(result, root: str | Path) -> list[str]:
    """The lines printed when a study ends."""
    lines = [f"study {result.name}: {result.complete}/{result.expected} trials complete"]
    lines += [f"  failed: {key}: {reason}" for key, reason in sorted(result.failed.items())]
    report = result.report
    if report is not None:
        if report.verdict:  # the answer first
            lines.append(f"verdict: {report.verdict}")
        table = comparison_lines(report, result.metric, result.baseline, result.lower_is_better)
        if table:
            lines.append(
                f"{report.split} split, Δ against the baseline [95% CI]; first column: the verdict (▲ better / "
                "▼ worse / ≈ equivalent); the others secondary (▲/▼ after Holm):"
            )
            lines += table
        if getattr(report, "compute", ""):  # a search: compute per stage, val-test rank correlation
            lines.append(report.compute)
    if result.report_dir:
        lines.append(f"report: {result.report_dir / REPORT_README}")
    lines += run_lines(result.tracking_uri, result.parent_run_id, result.report is not None)
    lines.append(f"MLflow UI: {ui_command(result.tracking_uri, root)}")
    return lines
