"""The end of a study on the terminal: the report's comparison in a few lines (Δ against the baseline with
▲/▼), the verdict sentence, the report's path and the command that opens the MLflow UI on this store.

Everything is read from the report's own result (g2core.report.ReportResult): no statistic is recomputed.
"""

from __future__ import annotations

import math
from pathlib import Path

from g2core.config import project_root, redact
from g2core.names import metric_spec, strip_split, summary_key
from g2core.tracking.store import default_tracking_uri

# Shown beside the deciding metric when the report compared them: depth accuracy and the edge metrics.
EXTRA_METRICS = ("delta1", "edge_abs_rel", "dbe_acc")


def comparison_lines(report, metric: str, baseline: str, lower_is_better: bool) -> list[str]:
    """Rows = variants, columns = the deciding metric and a few others: the baseline's mean ± std, each
    other variant's Δ [95% CI] ▲/▼ (the report's 'Against the baseline' cells)."""
    from g2core.report.delta_tables import delta_text
    from g2core.report.fmt import mean_std
    from g2core.report.verdicts import row

    table = report.comparison
    if table is None or table.empty:
        return []
    decided = strip_split(metric)
    metrics = [decided] + [m for m in EXTRA_METRICS if m != decided and (table["metric"] == m).any()]
    variants = [baseline] + list(dict.fromkeys(v for v in table["variant"] if v != baseline))
    arrow = {m: "↓" if metric_spec(m, lower_is_better).lower_is_better else "↑" for m in metrics}
    rows = [["variant", *(f"{m} {arrow[m]}" for m in metrics)]]
    stats = report.summary_metrics
    for variant in variants:
        if variant == baseline:
            cells = [
                mean_std(
                    stats.get(summary_key(variant, m, "mean"), math.nan),
                    stats.get(summary_key(variant, m, "std"), math.nan),
                    int(stats.get(summary_key(variant, m, "n"), 0)),
                )
                for m in metrics
            ]
            rows.append([f"{variant} (baseline)", *cells])
        else:
            rows.append([variant, *(delta_text(row(table, variant, m)) for m in metrics)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def ui_command(uri: str, root: str | Path) -> str:
    """How to look at this store in the MLflow UI."""
    if uri.startswith("http"):
        return f"open {redact('uri', uri).rstrip('/')}/#/experiments"
    if uri == default_tracking_uri(root):
        # `make ui` serves the project root's store: the same only when the study ran there
        same = Path(root).resolve() == project_root().resolve()
        return f"python -m g2core.stack ui --root {root}" + ("   (or: make ui)" if same else "")
    return f"python -m g2core.stack ui --root {root} --store {redact('uri', uri)}"


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
    if result.report_dir:
        lines.append(f"report: {result.report_dir / 'README.md'}")
    lines.append(f"MLflow parent run: {result.parent_run_id}")
    lines.append(f"MLflow UI: {ui_command(result.tracking_uri, root)}")
    return lines
