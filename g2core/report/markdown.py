"""The report's README: study facts, the verdict, the tables with their notes, figures and what is missing."""

from __future__ import annotations

from pathlib import Path

from g2core.config import redact
from g2core.names import BEST, REF, TAG_FAILURE, metric_key, study_tag, term_name

from .collect import ChildRun, StudyInfo
from .columns import Columns
from .fmt import mean_std, p_text, pct, sig
from .stats import ALPHA, TEST_NAME, Comparison, Summary, compare, rank_groups
from .tables import Table, to_markdown, weights_by_group

FAILED = ("FAILED", "KILLED")
RUNNING = ("RUNNING", "SCHEDULED")


def study_section(info: StudyInfo, uri: str) -> str:
    arrow = "↓" if info.lower_is_better else "↑"
    seeds = ", ".join(str(s) for s in info.seeds) or "none listed"
    lines = [
        f"- **kind**: {info.kind}",
        f"- **deciding metric**: `{info.metric}` ({info.direction} {arrow})",
        f"- **baseline**: {info.baseline or '(none)'}",
        f"- **{'base variants' if info.is_search else 'variants'}**: {', '.join(info.variants) or '(none listed)'}",
        f"- **seeds**: {seeds}",
        f"- **study status**: {info.status}",
        f"- **MLflow experiment**: `{info.experiment_name}` (id {info.experiment_id})",
        f"- **parent run**: `{info.parent_run_id or '(none)'}`",
        f"- **tracking store**: `{redact('uri', uri)}`",
    ]
    return "\n".join(lines) + "\n"


def _cell(summary: Summary, group: str, metric: str) -> str:
    return mean_std(
        summary.mean.loc[group, metric], summary.std.loc[group, metric], int(summary.n.loc[group, metric])
    )


def test_phrase(comparison: Comparison) -> str:
    """What the test says, with its n: the verdict never claims more than the seeds allow."""
    if comparison.n_variant == 0 or comparison.n_baseline == 0:
        return "no runs to compare"
    if not comparison.tested:
        return "n=1, no test"
    if comparison.p_value != comparison.p_value:  # nan: both sides without spread
        verdict = "no test possible (no spread over seeds)"
    else:
        verdict = "significant" if comparison.p_value < ALPHA else "not significant"
    return (
        f"{p_text(comparison.p_value)}, {verdict} at {ALPHA} "
        f"over {comparison.n_variant} vs {comparison.n_baseline} seeds"
    )


def verdict(info: StudyInfo, summary: Summary, weights: dict[str, dict[str, float]]) -> str:
    metric = info.metric_name
    ranked = [g for g in rank_groups(summary, metric, info.lower_is_better) if summary.n.loc[g, metric] > 0]
    if not ranked:
        return f"No run has a value of `{info.metric}` yet: nothing to compare.\n"
    best = ranked[0]
    better = "lower" if info.lower_is_better else "higher"
    head = f"Best {'trial' if info.is_search else 'variant'} by `{info.metric}` ({better} is better): "
    head += f"**{best}** ({_cell(summary, best, metric)}, n={summary.runs(best)})."
    if info.is_search:
        chosen = ", ".join(f"{k}={sig(v, 3)}" for k, v in sorted(weights.get(best, {}).items()) if v == v)
        return f"{head} Weights: {chosen or 'not logged'}. {len(ranked)} finished trial(s) ranked.\n"
    base = info.baseline
    if not base or base not in summary.groups or summary.runs(base) == 0:
        return f"{head} No baseline result to compare with.\n"
    if best == base:
        if len(ranked) == 1:
            return f"{head} It is the baseline and the only variant with results.\n"
        other = ranked[1]
        head += f" It is the baseline; runner-up **{other}** ({_cell(summary, other, metric)})"
    else:
        other = ranked[0]
        head += f" Against the baseline **{base}** ({_cell(summary, base, metric)}, n={summary.runs(base)})"
    parts = []
    for m in dict.fromkeys([metric, "delta1"]):
        if m in summary.mean.columns:
            c = compare(summary.samples(other, m), summary.samples(base, m))
            parts.append(f"{m}: Δ {pct(c.delta_pct)}, {test_phrase(c)}")
    return f"{head}: {'; '.join(parts)}. Test: {TEST_NAME}.\n"


def reference_note(info: StudyInfo, children: list[ChildRun]) -> str:
    """What a model that learned nothing scores (the trainer's `ref/*` metrics), to read the table against."""
    keys = {k: metric_key(REF, k) for k in dict.fromkeys([info.metric_name, "abs_rel", "delta1"])}
    scores = {k: [c.metrics[key] for c in children if key in c.metrics] for k, key in keys.items()}
    if not all(scores.values()):
        return ""
    text = ", ".join(f"{k} {sum(v) / len(v):.3f}" for k, v in scores.items())
    return (
        f"Reference: predicting the mean depth everywhere (aligned like the predictions) scores {text} "
        "on the same validation images; a variant near these has learned nothing.\n"
    )


def results_note(info: StudyInfo, summary: Summary, has_terms: bool) -> str:
    lines = [
        f"Cells: mean ± sample std (ddof=1) over seeds, n = runs counted; values at each run's best checkpoint "
        f"by `{info.metric}` (the `{metric_key(BEST, '*')}` metrics). ↓ lower is better, ↑ higher is better; "
        "**bold**: best mean of the column.",
    ]
    if has_terms:
        lines.append(
            f"`{term_name('<term>')}`: the term's training loss at the last logged step "
            "(blank: the variant does not use it)."
        )
    partial = int(summary.partial.sum())
    if partial:
        lines.append(
            f"{partial} run(s) have no best checkpoint yet (running or failed): their values are the validation "
            f'history at the step where `{info.metric}` was best, counted as "partial" in n.'
        )
    return "\n".join(lines) + "\n"


def baseline_note() -> str:
    return (
        "Δ: relative change of the mean against the baseline, (variant − baseline) / |baseline|; for a ↓ metric a "
        f"negative Δ is an improvement. p: {TEST_NAME}, n per side in the column header; "
        '`*` p<0.05, `**` p<0.01; "n=1, no test" where a side has fewer than two runs.\n'
    )


def _first_line(text: str, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else f"(no {TAG_FAILURE} tag)"
    line = line.replace("|", "\\|")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def missing_section(info: StudyInfo, children: list[ChildRun], no_values: list[ChildRun]) -> str:
    order = {v: i for i, v in enumerate(info.variants)}

    def key(c: ChildRun) -> tuple:
        return (
            order.get(c.variant, len(order)),
            c.variant,
            c.seed or 0,
            c.trial or 0,
            c.start_time,
            c.run_id,
        )

    finished = {(c.variant, c.seed) for c in children if c.status == "FINISHED"}
    failed = sorted((c for c in children if c.status in FAILED), key=key)
    running = sorted((c for c in children if c.status in RUNNING), key=key)
    out: list[str] = []
    if info.status == "running":
        status = f"`{study_tag('status')}=running`"
        out += [f"The study is still running ({status}): these results are provisional.", ""]
    if failed:
        out += [
            "**Failed or stopped runs** (FAILED; KILLED: pruned or interrupted)",
            "",
            "| run | variant | seed | trial | run id | reason |",
            "|---|---|---:|---:|---|---|",
        ]
        for c in failed:
            retried = (
                " (retried: a finished run exists)"
                if not info.is_search and (c.variant, c.seed) in finished
                else ""
            )
            out.append(
                f"| {c.name} | {c.variant} | {c.seed} | {c.trial} | `{c.run_id}` | "
                f"{c.status.lower()}: {_first_line(c.failure)}{retried} |"
            )
        out.append("")
    if running:
        out += ["**Running runs** (or interrupted, not yet resumed)", ""]
        out += [f"- {c.name} ({c.variant}, seed {c.seed}, trial {c.trial}): `{c.run_id}`" for c in running]
        out.append("")
    if no_values:
        out += ["**Runs without any validation yet** (not in the tables)", ""]
        out += [f"- {c.name} ({c.status.lower()}): `{c.run_id}`" for c in sorted(no_values, key=key)]
        out.append("")
    if not info.is_search:
        gaps = []
        for variant in info.variants:
            for seed in info.seeds:
                if (variant, seed) in finished:
                    continue
                states = sorted(
                    {c.status.lower() for c in children if (c.variant, c.seed) == (variant, seed)}
                )
                gaps.append(f"- {variant}, seed {seed}: {', '.join(states) if states else 'no run'}")
        if gaps:
            out += ["**Expected (variant, seed) pairs without a finished run**", "", *gaps, ""]
    if not out:
        return "Nothing missing: every expected run finished.\n"
    return "\n".join(out)


CAPTIONS = {
    "metrics.png": "Metrics at the best checkpoint: mean over seeds, whiskers ± std.",
    "train_curves.png": "Training loss per term: mean over seeds, band min-max.",
    "val_curves.png": "Validation curves of the deciding metric and δ1: mean over seeds, band min-max.",
    "qualitative.png": "The same validation images for every variant (first seed), one depth colour scale.",
    "search_history.png": "Objective of each trial and the best so far.",
    "search_importance.png": "Parameter importances (Optuna fANOVA, rebuilt from the MLflow runs).",
    "search_parallel.png": "Loss weights of each trial, coloured by the objective.",
}


def readme(
    title: str,
    uri: str,
    info: StudyInfo,
    summary: Summary,
    columns: Columns,
    tables: list[Table],
    children: list[ChildRun],
    no_values: list[ChildRun],
    drawn: list[Path],
    notes: list[str],
) -> str:
    """The README.md of a report: tables[0] is the results table, tables[1] (if any) the baseline one."""
    parts = [f"# {title}\n", study_section(info, uri), "## Verdict\n"]
    parts.append(verdict(info, summary, weights_by_group(summary)))
    parts += [
        "## Results\n",
        to_markdown(tables[0]),
        results_note(info, summary, bool(columns.terms)),
        reference_note(info, children),
    ]
    if len(tables) > 1:
        parts += [f"## Against the baseline ({info.baseline})\n", to_markdown(tables[1]), baseline_note()]
    parts.append(
        "Files: [table.csv](table.csv) (unrounded), [table.tex](table.tex) (booktabs), [table.html](table.html).\n"
    )
    if drawn:
        parts.append("## Figures\n")
        parts += [f"![{p.stem}]({p.name})\n\n{CAPTIONS.get(p.name, '')}\n" for p in drawn]
    parts += ["## Missing / failed\n", missing_section(info, children, no_values)]
    if notes:
        parts += ["## Notes\n", "\n".join(f"- {n}" for n in notes) + "\n"]
    return "\n".join(parts)
