"""A search's confirmed answer: its confirmation stage read from MLflow as an ablation of its candidates.

The runner's confirmation stage (g2core.study.confirm) trains the search's top weight sets and the base preset
over fresh seeds, each a child of the study's parent tagged `stage=confirm` with its candidate's key as
`variant`. Here those children become an ablation-shaped study (baseline: the base preset; variants: the
candidates in the search's order) so that the statistics are the ablation's own (verdicts.comparisons with
the study's Design): each candidate better / worse / equivalent / undecided against the base preset on the
test split. The search's own tables count the search's trials only (`stages`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import combinations

import pandas as pd

from g2core.names import (
    BEST,
    STAGE_CONFIRM,
    TAG_STAGE,
    VERDICT_BASELINE,
    metric_key,
    metric_spec,
    terms_of,
    weight_param,
)

from . import verdicts
from .collect import ChildRun, StudyInfo
from .columns import value_columns
from .delta_tables import delta_text
from .fmt import p_text, pct, sig
from .interval import paired_interval
from .significance import holm, paired
from .summary import Summary, summarize
from .tables import Cell, Table, to_markdown

SECTION = "## Confirmation\n"


@dataclass
class Confirmation:
    """The confirmation stage's statistics and what the report says of them."""

    info: StudyInfo  # ablation-shaped: baseline = the base preset, variants = base + candidates
    summary: Summary  # mean ± std over seeds per candidate, on the report's split
    table: pd.DataFrame  # significance.compare's rows: the primary family is the verdict
    sentence: str  # the confirmed answer in one line (the parent's study.verdict)
    section: str  # the README's Confirmation section


def stages(children: list[ChildRun]) -> tuple[list[ChildRun], list[ChildRun]]:
    """(search trials, confirmation runs): a child without a stage tag is a search trial (older studies)."""
    confirm = [c for c in children if c.tags.get(TAG_STAGE) == STAGE_CONFIRM]
    return [c for c in children if c.tags.get(TAG_STAGE) != STAGE_CONFIRM], confirm


def stage_study(info: StudyInfo, search: list[ChildRun], confirm: list[ChildRun]) -> StudyInfo:
    """The confirmation as an ablation: the base preset (the search's base variant) against the candidates,
    ordered as the search ranked them (its trial's validation objective)."""
    base = info.variants[0] if info.variants else ""
    objective = search_objectives(info, search)
    sign = 1.0 if info.lower_is_better else -1.0
    keys = sorted(
        {c.variant for c in confirm if c.variant and c.variant != base},
        key=lambda k: (k not in objective, sign * objective.get(k, 0.0), k),
    )
    seeds = sorted({c.seed for c in confirm if c.seed is not None})
    return replace(info, kind="ablation", baseline=base, variants=[base, *keys], seeds=seeds, notes=[])


def _picked(info: StudyInfo, k: int) -> str:
    """Where the candidates come from: a Pareto search takes them from its front, in its first objective's order."""
    if len(info.objectives) > 1:
        return f"the Pareto front's first {k} by `{info.objectives[0]}`"
    return f"the search's top {k} by `{info.metric}`"


def search_objectives(info: StudyInfo, search: list[ChildRun]) -> dict[str, float]:
    """Run key -> the search trial's validation objective (`best/<metric>`): the rank that chose it."""
    key = metric_key(BEST, info.metric_name)
    return {c.name: c.metrics[key] for c in search if c.status == "FINISHED" and key in c.metrics}


@dataclass
class ConfirmationRuns:
    """The confirmation stage as read from MLflow (the report's read stage)."""

    info: StudyInfo  # stage_study's ablation-shaped settings
    runs: list[ChildRun]
    values: pd.DataFrame  # run_values of the counted runs
    observed: pd.DataFrame  # their per-image tables (observations)


def confirm(
    read: ConfirmationRuns | None, info: StudyInfo, search: list[ChildRun], split: str
) -> Confirmation | None:
    """The confirmed answer of a search, or None for an ablation or a search without confirmation runs."""
    if read is None:
        return None
    staged, runs, observed = read.info, read.runs, read.observed
    metrics = value_columns(staged)
    summary = summarize(read.values, list(staged.variants), metrics)
    table = verdicts.comparisons(staged, observed, metrics)
    groups = summary.counted()
    if staged.baseline not in groups:
        sentence = f"Confirmation: no {split} result of the base preset {staged.baseline} yet: no verdict."
    else:
        said = verdicts.sentence(staged, table, groups, split)
        sentence = f"Confirmed ({_picked(info, len(staged.variants) - 1)} trained again over seeds): {said}"
    objectives = search_objectives(info, search)
    section = _section(staged, summary, table, objectives, runs, split, len(search))
    section += between(staged, observed, split)
    return Confirmation(staged, summary, table, sentence, section)


def between(staged: StudyInfo, observed: pd.DataFrame, split: str) -> str:
    """Can the candidates be told apart? Every pair on the deciding metric, paired on the seeds and images both
    have, the same interval as the verdicts, Holm over the pairs at the study's α. A secondary question: the
    verdicts (each against the base preset) are the answer; this says whether their order means anything."""
    keys, metric, alpha = staged.variants[1:], staged.metric_name, staged.design.alpha
    if len(keys) < 2 or observed.empty:
        return ""
    tested = []
    for first, other in combinations(keys, 2):
        v, b = paired(observed, other, first, metric)
        if len(v) >= 2 and v.size:
            tested.append((first, other, paired_interval(v, b, 1 - alpha)))
    if not tested:
        return ""
    parts = []
    for (first, other, c), p in zip(tested, holm([c.p for *_, c in tested]), strict=True):
        scale = 100 / abs(c.baseline_mean) if c.baseline_mean else math.nan
        told = "told apart" if p < alpha else "not told apart"
        parts.append(
            f"{other} − {first} {pct(c.delta * scale)} [{pct(c.ci_low * scale)}, {pct(c.ci_high * scale)}], "
            f"Holm-adjusted {p_text(p)}: {told}"
        )
    return (
        f"\nBetween the candidates ({split} `{metric}`, Δ in % of the first one's mean, each pair on the seeds "
        f"both have, Holm over the {len(tested)} pairs at α={alpha:g}): " + "; ".join(parts) + ".\n"
    )


def run_weights(run: ChildRun) -> str:
    """A run's non-zero loss weights (its `loss.weights.*` params): `ssi=0.42 silog=0.8`."""
    weights = {t: run.params.get(weight_param(t), "") for t in terms_of(run.params, prefix=weight_param(""))}
    shown = []
    for term, text in weights.items():
        try:
            value = float(text)
        except ValueError:
            continue
        if value:
            shown.append(f"{term}={sig(value, 3)}")
    return " ".join(shown)


def _section(
    staged: StudyInfo,
    summary: Summary,
    table: pd.DataFrame,
    objectives: dict[str, float],
    runs: list[ChildRun],
    split: str,
    searched: int,
) -> str:
    metric = staged.metric_name
    spec = metric_spec(metric, staged.lower_is_better)
    header = ["candidate", "weights", f"search {staged.metric} (1 run)", "seeds",
              f"{split} {metric} {spec.arrow}", "Δ vs base [95% CI]", "verdict"]  # fmt: skip
    rows = []
    for g in staged.variants:
        r = verdicts.row(table, g, metric)
        base = g == staged.baseline
        cells = [
            f"{g} (base preset)" if base else g,
            next((run_weights(c) for c in runs if c.variant == g), ""),  # as its first run logged them
            sig(objectives.get(g, math.nan)),
            str(summary.runs(g)),
            summary.cell(g, metric),
            "" if base else delta_text(r),
            VERDICT_BASELINE if base else verdicts.word(r),
        ]
        rows.append([Cell(c) for c in cells])
    grid = Table("confirmation", header, ["l", "l", "r", "r", "r", "r", "l"], rows)
    note = (
        f"Each candidate is one of {_picked(staged, len(staged.variants) - 1)} (one run each, "
        f"so partly the luckiest), trained again with the base preset `{staged.baseline}` over fresh seeds "
        f"{', '.join(map(str, staged.seeds))} (not the search's) and scored on the {split} split; the verdict "
        f"is the ablation's: paired on seed and image, Holm over the candidates. Design: "
        f"{staged.design.describe()}. Cost: {len(runs)} confirmation runs beside the search's {searched} trials."
    )
    return f"{SECTION}\n{to_markdown(grid)}\n{note}\n"
