"""The report's README: study facts, the verdict, the tables with their notes, provenance, figures, gaps."""

from __future__ import annotations

from itertools import product

import pandas as pd

from g2core.config import redact
from g2core.names import (
    ALIGN_CLAMPED,
    ALIGN_PARAM,
    BEST,
    REF,
    TAG_FAILURE,
    TEST,
    metric_key,
    per_image_artifact,
    study_tag,
    term_name,
)

from . import verdicts
from .collect import ChildRun, StudyInfo
from .cross_dataset import deciding_metrics
from .delta_tables import baseline_note, details_note
from .figures import Drawn
from .fmt import sig
from .observations import clamped_text
from .provenance import provenance_section
from .read import StudyRecords
from .summary import Summary
from .tables import LINKS as LINKS_COLUMN
from .tables import Table, to_markdown, weights_by_group
from .values import OBJECTIVE

FAILED = ("FAILED", "KILLED")
RUNNING = ("RUNNING", "SCHEDULED")


def split_line(info: StudyInfo, split: str) -> str:
    """Which numbers the report shows: the header says it first."""
    if split == TEST:
        return (
            f"- **numbers from**: the **test** split (`{metric_key(TEST, '*')}`): each run's selected checkpoint "
            f"(best by `{info.metric}`) evaluated once on held-out test images; paired tests over "
            f"`{per_image_artifact(TEST)}`"
        )
    return (
        f"- **numbers from**: the **validation** split (`{metric_key(BEST, '*')}`, report.split=val): the split "
        "that also selected the checkpoint; no per-image tables, so each run's value is one observation"
    )


def alignment_line(values: pd.DataFrame) -> str:
    aligns = sorted({a for a in values[ALIGN_PARAM] if a}) if not values.empty else []
    text = f"- **alignment**: `{ALIGN_PARAM}` = {', '.join(aligns) or '(not logged)'}"
    clamped = clamped_text(values, ALIGN_CLAMPED)
    return text + (f"; clamped into [min_depth, max_depth] (`{ALIGN_CLAMPED}`): {clamped}" if clamped else "")


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


def verdict(info: StudyInfo, summary: Summary, comparison: pd.DataFrame, split: str, robustness: str) -> str:
    """The verdict sentence (verdicts.sentence, the parent's `study.verdict`), whether it holds under each
    alignment (robustness.robustness_line), and the power line."""
    metric = info.metric_name
    groups = [g for g in summary.groups if summary.n.loc[g, metric] > 0]
    if not groups:
        return f"No run has a {split} value of `{metric}` yet: nothing to compare.\n"
    if info.is_search:
        return search_verdict(info, summary, groups, split) + "\n"
    if info.baseline not in groups:
        return f"No baseline result on the {split} split to compare with: no test, no verdict.\n"
    text = verdicts.sentence(info, comparison, groups, split) + "\n"
    power = verdicts.power_line(info, comparison, groups)
    return text + "".join("\n" + part for part in (robustness, power) if part)


def search_verdict(info: StudyInfo, summary: Summary, groups: list[str], split: str) -> str:
    """A search's best trial stays one trial: chosen by the validation objective, not a tested difference."""
    best = groups[0]
    weights = weights_by_group(summary).get(best, {})
    chosen = ", ".join(f"{k}={sig(v, 3)}" for k, v in sorted(weights.items()) if v == v)
    return (
        f"Best single trial by the validation objective `{info.metric}`: **{best}** (objective "
        f"{sig(summary.mean.loc[best, OBJECTIVE])}; {split} `{info.metric_name}` "
        f"{summary.cell(best, info.metric_name)}). Weights: {chosen or 'not logged'}. "
        f"{len(groups)} finished trial(s) ranked; one trial, not a tested difference."
    )


def reference_note(info: StudyInfo, children: list[ChildRun]) -> str:
    """What a model that learned nothing scores (the trainer's `ref/*` metrics), to read the table against."""
    keys = {k: metric_key(REF, k) for k in deciding_metrics(info)}
    scores = {k: [c.metrics[key] for c in children if key in c.metrics] for k, key in keys.items()}
    if not all(scores.values()):
        return ""
    text = ", ".join(f"{k} {sum(v) / len(v):.3f}" for k, v in scores.items())
    # the trainer takes the reference on the test split when the run has one, else on the validation split
    split = "test" if all(metric_key(TEST, "abs_rel") in c.metrics for c in children) else "validation"
    return (
        f"Reference: predicting the mean depth everywhere (aligned like the predictions) scores {text} "
        f"on the same {split} images; a variant near these has learned nothing.\n"
    )


def results_note(info: StudyInfo, summary: Summary, has_terms: bool, split: str) -> str:
    lines = [
        "Cells: mean ± sample std (ddof=1) over seeds, n = runs counted (the seed-level view); values of each "
        f"run's selected checkpoint (best by `{info.metric}`) on the {split} split. ↓ lower is better, ↑ higher "
        "is better; **bold**: significantly best after Holm correction (the only variant significantly better "
        "than the baseline, or the baseline when every variant is significantly worse), never the best mean "
        f"alone. `{LINKS_COLUMN}`: each seed's MLflow run and its selected checkpoint, the one behind every "
        "number.",
    ]
    if has_terms:
        lines.append(
            f"`{term_name('<term>')}`: the term's training loss at the last logged step "
            "(blank: the variant does not use it); never bold or tested: not comparable across recipes."
        )
    partial = int(summary.partial.sum())
    if partial:
        lines.append(
            f"{partial} run(s) have no best checkpoint yet (running or failed): their values are the validation "
            f'history at the step where `{info.metric}` was best, counted as "partial" in n.'
        )
    return "\n".join(lines) + "\n"


def _first_line(text: str, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else f"(no {TAG_FAILURE} tag)"
    line = line.replace("|", "\\|")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def missing_section(info: StudyInfo, children: list[ChildRun], no_values: list[ChildRun], split: str) -> str:
    no_values_label = "a test evaluation yet" if split == TEST else "any validation yet"
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
        out += [f"**Runs without {no_values_label}** (not in the tables)", ""]
        out += [f"- {c.name} ({c.status.lower()}): `{c.run_id}`" for c in sorted(no_values, key=key)]
        out.append("")
    if not info.is_search:
        gaps = []
        for variant, seed in product(info.variants, info.seeds):
            if (variant, seed) in finished:
                continue
            states = sorted({c.status.lower() for c in children if (c.variant, c.seed) == (variant, seed)})
            gaps.append(f"- {variant}, seed {seed}: {', '.join(states) if states else 'no run'}")
        if gaps:
            out += ["**Expected (variant, seed) pairs without a finished run**", "", *gaps, ""]
    if not out:
        return "Nothing missing: every expected run finished.\n"
    return "\n".join(out)


def readme(
    records: StudyRecords,
    title: str,
    verdict_text: str,
    tables: list[Table],
    drawn: list[Drawn],
    notes: list[str],
    split: str,
    *,
    confirmation: str = "",
    front: str = "",
    more: list[str] | None = None,
) -> str:
    """The README.md, the verdict first (decide.py's text). tables: [0] the results, [1] and [2] (if any) against
    the baseline and the details of the tests. The sections only some studies have ('' for none):
    confirmation, a search's confirmed answer after the verdict; front, a Pareto search's front before the
    results; more, those before the provenance (loss-term balance, test sets)."""
    info, summary, children = records.info, records.summary, records.children
    # The answer first: the verdict, then the facts it rests on.
    out = [f"# {title}\n", "## Verdict\n", verdict_text]
    if confirmation:
        out.append(confirmation)
    facts = split_line(info, split) + "\n" + alignment_line(summary.values) + "\n"
    out += ["## Study\n", study_section(info, records.uri) + facts]
    if front:
        out.append(front)
    out += [
        "## Results\n",
        to_markdown(tables[0]),
        results_note(info, summary, bool(records.columns.terms), split),
        reference_note(info, children),
    ]
    if len(tables) > 2:
        out += [f"## Against the baseline ({info.baseline})\n", to_markdown(tables[1]), baseline_note(split)]
        out += ["## Details of the tests\n", to_markdown(tables[2]), details_note()]
    out.append(
        "Files: [table.csv](table.csv) (unrounded), [comparison.csv](comparison.csv) (every test, unrounded), "
        "[table.tex](table.tex) (booktabs), [table.html](table.html).\n"
    )
    out += [section for section in more or [] if section]
    out += ["## Provenance\n", provenance_section(summary.values, children)]
    if drawn:
        out.append("## Figures\n")
        # Each PNG has its SVG beside it (figures.save), for papers.
        out += [f"![{d.path.stem}]({d.path.name})\n\n{d.caption} [SVG]({d.svg.name})\n" for d in drawn]
    out += ["## Missing / failed\n", missing_section(info, children, records.no_values, split)]
    if notes:
        out += ["## Notes\n", "\n".join(f"- {n}" for n in notes) + "\n"]
    return "\n".join(out)
