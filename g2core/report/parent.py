"""The study in MLflow, answer first (issue 24): what the parent run, its children and the experiment say is
what the report says (written through g2core.tracking, which owns MLflow's limits).

- the parent's description (`mlflow.note.content`) opens with the verdict in plain words and its intervals
  (the runs table shows its first line; the run name already says which study), then the main table;
- the parent's Δ / CI / p / verdict table is one table artifact (SUMMARY_TABLE), and its metrics are a few
  headlines at step 0: each variant's relative Δ on the deciding metric and its CI in % (not one metric per
  cell: 288 one-dot charts buried the answer). No `variant` tag on the parent: a group-by shows variants only;
- each child carries its variant's verdict (TAG_CHILD_VERDICT), so filtering or grouping children by it
  answers "who won" without sorting single runs;
- the experiment's description names the study, its design and the parent run.

Tags and metrics come from the report's own statistics (means over seeds, Δ with its CI, Holm-adjusted p,
the verdict words), never from a single run; a search's best trial is labelled as one trial.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
from mlflow import MlflowClient

from g2core.names import (
    HEADLINE_STATS,
    REPORT_DIR,
    REPORT_HTML,
    REPORT_TABLE,
    SUMMARY_TABLE,
    TAG_BEST_TRIAL,
    TAG_CHILD_VERDICT,
    TAG_MLFLOW_NOTE,
    TAG_REPORT_SPLIT,
    TAG_VERDICT,
    VERDICT_BASELINE,
    best_trial_key,
    headline_key,
    metric_spec,
    verdict_tag,
    weight_param,
)
from g2core.tracking import RunTracker, describe_experiment

from .collect import ChildRun, StudyInfo
from .fmt import pct
from .provenance import route_links
from .significance import PRIMARY
from .summary import Summary
from .tables import Cell, Table, weights_by_group
from .verdicts import row, word

MAX_NOTE = 7500  # characters of mlflow.note.content (MLflow keeps tag values up to 8000)
# The summary table's columns (significance.COLUMNS' names), CI bounds in % of the baseline mean beside Δ %.
SUMMARY_COLUMNS = ["variant", "metric", "family", "n_seeds", "n_images", "mean", "std", "baseline_mean",
                   "delta", "delta_pct", "ci_low_pct", "ci_high_pct", "p_holm", "verdict"]  # fmt: skip


def parent_summary(
    info: StudyInfo, summary: Summary, table: pd.DataFrame, metrics: list[str], verdict: str, split: str
) -> tuple[dict[str, str], dict[str, float]]:
    """(tags, metrics) for the parent run; NaN statistics (one seed, no test) are left out."""
    tags = {TAG_VERDICT: verdict, TAG_REPORT_SPLIT: split}
    values: dict[str, float] = {}
    groups = summary.counted()
    if info.is_search:
        if groups:
            best = groups[0]  # a search's groups are ordered by the validation objective
            tags[TAG_BEST_TRIAL] = f"{best} (best single trial by {info.metric}; not a tested difference)"
            weights = weights_by_group(summary).get(best, {})
            tags.update({f"{TAG_BEST_TRIAL}.{weight_param(t)}": str(w) for t, w in weights.items() if w == w})
            values.update({best_trial_key(m): float(summary.mean.loc[best, m]) for m in metrics})
        return tags, _finite(values)
    rows = summary_table(table)
    for g in groups:
        if g == info.baseline:
            continue
        tags[verdict_tag(g)] = word(row(table, g, info.metric_name))
        hit = row(rows, g, info.metric_name)
        if hit is not None:
            values.update({headline_key(g, s): float(hit[s]) for s in HEADLINE_STATS})
    return tags, _finite(values)


def _finite(values: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if math.isfinite(v)}


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison's Δ / CI / p / verdict per variant and metric, the CI in % of the baseline mean as Δ %
    is (the headlines and the report's cells say %)."""
    if table.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    out = table.copy()
    base = out["baseline_mean"].abs().where(out["baseline_mean"] != 0)
    out["ci_low_pct"], out["ci_high_pct"] = out["ci_low"] / base * 100, out["ci_high"] / base * 100
    return out[SUMMARY_COLUMNS].reset_index(drop=True)


def child_verdicts(info: StudyInfo, table: pd.DataFrame) -> dict[str, str]:
    """variant -> its primary verdict word; the baseline's runs say `baseline`. Empty for a search."""
    if info.is_search or table.empty:
        return {}
    primary = table[(table["family"] == PRIMARY) & (table["metric"] == info.metric_name)]
    verdicts = {str(r["variant"]): word(r) for _, r in primary.iterrows() if r["variant"] != info.baseline}
    return {info.baseline: VERDICT_BASELINE, **verdicts} if info.baseline else verdicts


def headline(info: StudyInfo, table: pd.DataFrame, split: str) -> str:
    """The verdict in one plain line, each variant with its Δ and 95% CI: what the runs table shows."""
    spec = metric_spec(info.metric_name, info.lower_is_better)
    rows = summary_table(table)
    primary = rows[(rows["family"] == PRIMARY) & (rows["metric"] == info.metric_name)]
    parts = [_clause(r) for _, r in primary.iterrows() if r["variant"] != info.baseline]
    if not parts:
        return ""
    return f"Against {info.baseline} on {split} {info.metric_name} {spec.arrow}: " + "; ".join(parts) + "."


def _clause(r: pd.Series) -> str:
    if not (math.isfinite(r["ci_low_pct"]) and math.isfinite(r["ci_high_pct"])):
        return f"{r['variant']} not tested at n={int(r['n_seeds'])} (Δ {pct(r['delta_pct'])})"
    interval = f"95% CI {pct(r['ci_low_pct'])} to {pct(r['ci_high_pct'])}"
    return f"{r['variant']} {r['verdict'] or 'untested'} (Δ {pct(r['delta_pct'])}, {interval})"


def note_tag(verdict: str, main_table: str, first_line: str = "") -> dict[str, str]:
    """The parent's description in the UI (`mlflow.note.content`): the verdict in plain words first (no title:
    the run name says which study), then the main table (markdown) and where the rest is. A table too long for
    a tag (a large search) is cut at a row, and the note says so."""
    tail = f"\nThe full report: artifacts `{REPORT_DIR}/{REPORT_HTML}` (figures, tests, provenance).\n"
    head = "".join(f"{part.strip()}\n\n" for part in (first_line, verdict) if part.strip())
    lines = main_table.rstrip("\n").split("\n")
    while len(head) + len("\n".join(lines)) + len(tail) > MAX_NOTE and len(lines) > 3:
        lines = lines[:-1]
        tail = f"\n(table cut to fit the description; every row is in `{REPORT_DIR}/{REPORT_HTML}`)\n"
    return {TAG_MLFLOW_NOTE: (head + "\n".join(lines) + "\n" + tail)[: MAX_NOTE + 500]}


def in_mlflow(table: Table, info: StudyInfo, values: pd.DataFrame) -> Table:
    """The main table as read inside MLflow (the parent's description, its table artifact): each row's run
    and checkpoint links as routes of the server showing it (provenance.route_links), not `runs:/` or
    `file://` addresses that a browser cannot open."""
    rows = [
        [*r[:-1], Cell(r[-1].text, links=route_links(info, values, r[0].text))] if r[-1].links else r
        for r in table.rows
    ]
    return replace(table, rows=rows)


def log_main_table(parent: RunTracker, table: Table) -> None:
    """The main table as an MLflow table artifact (mlflow.log_table: the UI shows it as a table)."""
    rows = [[" ".join(url for _, url in c.links) if c.links else c.text for c in row] for row in table.rows]
    parent.log_table(pd.DataFrame(rows, columns=_unique(table.header)), REPORT_TABLE)


def _unique(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def log_study(
    client: MlflowClient,
    info: StudyInfo,
    children: list[ChildRun],
    table: pd.DataFrame,
    tags: dict[str, str],
    metrics: dict[str, float],
) -> None:
    """Everything the report says in MLflow beside its files: the parent's tags, headline metrics (step 0)
    and summary table, each child's verdict tag, and the experiment's description."""
    if not info.parent_run_id:
        return
    parent = RunTracker(client, info.parent_run_id, asynchronous=False)
    if not info.is_search:
        parent.log_table(summary_table(table), SUMMARY_TABLE)
    parent.write(tags=tags, metrics=metrics, step=0)  # a summary has no training step
    tag_verdicts(client, info, table, children)
    describe_experiment(client, info.experiment_id, experiment_note(info, len(children)))


def tag_verdicts(client: MlflowClient, info: StudyInfo, table: pd.DataFrame, runs: list[ChildRun]) -> None:
    """Each run carries its variant's verdict (the baseline's: `baseline`), so that the runs table filters and
    groups them by the answer; a search's confirmation runs too, with their candidate's."""
    words = child_verdicts(info, table)
    for run in runs:
        word = words.get(run.variant)
        if word and run.tags.get(TAG_CHILD_VERDICT) != word:
            RunTracker(client, run.run_id, asynchronous=False).write(tags={TAG_CHILD_VERDICT: word})


def experiment_note(info: StudyInfo, runs: int) -> str:
    """The experiment's description: which study, how it decides, and the parent run (a UI route: the
    description is read inside MLflow, where `#/experiments/...` opens the run)."""
    kind = "weight search" if info.is_search else "ablation"
    what = (
        f"trials of loss weights, best by `{info.metric}` ({info.direction})"
        if info.is_search
        else f"variants {', '.join(info.variants)} against the baseline {info.baseline} on `{info.metric_name}` "
        f"({info.direction}), seeds {', '.join(map(str, info.seeds))}"
    )
    design = "" if info.is_search else f"\n\nDesign: {info.design.describe()}."
    parent = f"#/experiments/{info.experiment_id}/runs/{info.parent_run_id}"
    return (
        f"Study {info.name} ({kind}): {what}; {runs} trial runs.{design}\n\n"
        f"The verdict, the summary table and the report: the parent run [{info.name}]({parent}) "
        f"(`{info.parent_run_id}`); each trial run is tagged `{TAG_CHILD_VERDICT}` with its variant's verdict."
    )
