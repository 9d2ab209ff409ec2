"""The report's claims, derived from the paired statistics of significance.py and nothing else.

The primary family (the deciding metric on the test split, one comparison per variant, Holm over the
variants, decided by the study's Design) gives each variant its verdict: better / worse / equivalent within
±margin / undecided. The verdict sentence, the bold cells, the parent run's description and the terminal
summary say that verdict; the other metrics are secondary (Holm over their own family) and shown as such.
A mean alone never crowns a winner; training-loss columns are never tested (not comparable across recipes).
"""

from __future__ import annotations

import math

import pandas as pd

from g2core.design import Design
from g2core.names import metric_spec

from .collect import StudyInfo
from .fmt import p_text, pct
from .significance import BETTER, UNDECIDED, WORSE, compare

ALPHA = 0.05


def directions(info: StudyInfo, metrics: list[str]) -> dict[str, bool]:
    return {m: metric_spec(m, info.lower_is_better).lower_is_better for m in metrics}


def comparisons(
    info: StudyInfo, observations: pd.DataFrame, metrics: list[str], design: Design | None = None
) -> pd.DataFrame:
    """significance.compare over the study's variants (baseline first), the deciding metric as the primary
    family, or an empty table for a search or a study without baseline observations."""
    if info.is_search or observations.empty or info.baseline not in set(observations["variant"]):
        return pd.DataFrame()
    order = {v: i for i, v in enumerate([info.baseline, *info.variants])}
    ordered = observations.sort_values(
        "variant", key=lambda s: s.map(order).fillna(len(order)), kind="stable"
    )
    primary = info.metric_name if info.metric_name in metrics else metrics[0]
    return compare(ordered, info.baseline, metrics, directions(info, metrics), primary, design or info.design)


def row(table: pd.DataFrame, variant: str, metric: str) -> pd.Series | None:
    if table.empty:
        return None
    hit = table[(table["variant"] == variant) & (table["metric"] == metric)]
    return hit.iloc[0] if len(hit) else None


def significantly_best(table: pd.DataFrame, baseline: str, metric: str) -> str | None:
    """The one row the decided tests put above all others on a metric, or None.

    The tests compare each variant with the baseline, so a row is 'significantly best' when it is the only
    variant significantly better than the baseline (▲), or it is the baseline and every variant is
    significantly worse (▼). Two ▲ variants are not ordered by these tests: neither is bold."""
    if table.empty:
        return None
    marks = table[table["metric"] == metric]["mark"]
    better = table[(table["metric"] == metric) & (table["mark"] == BETTER)]["variant"].tolist()
    if len(better) == 1:
        return better[0]
    if len(marks) and (marks == WORSE).all():
        return baseline
    return None


def word(r: pd.Series | None) -> str:
    """better | worse | equivalent | undecided: the primary verdict of a row."""
    return UNDECIDED if r is None else str(r["verdict"])


def ci_pct(r: pd.Series) -> str:
    """The Δ's 95% CI in percent of the baseline mean: "[-3.1%, +0.4%]"."""
    base = abs(r["baseline_mean"])
    if math.isnan(r["ci_low"]) or not base:
        return ""
    return f"[{pct(r['ci_low'] / base * 100)}, {pct(r['ci_high'] / base * 100)}]"


def seeds_text(n: float) -> str:
    """Seeds that would decide: 'n/a', a count, or 'more seeds alone would not' (inf)."""
    if math.isnan(n):
        return "n/a"
    return "more seeds alone would not (more test images would)" if math.isinf(n) else f"about {int(n)} seeds"


def clause(r: pd.Series | None, variant: str, info: StudyInfo) -> str:
    """One variant's verdict in plain words, with the numbers it rests on."""
    if r is None or r["n_seeds"] == 0:
        return f"{variant}: no paired runs to compare"
    size = f"{int(r['n_seeds'])} seeds × {int(r['n_images'])} images"
    if r["n_seeds"] < 2:
        return f"{variant}: n=1, no test (Δ {pct(r['delta_pct'])}, {size})"
    numbers = f"Δ {pct(r['delta_pct'])} {ci_pct(r)}, Holm-adjusted {p_text(r['p_holm'])}, {size}"
    verdict = word(r)
    if verdict == "equivalent":
        return (
            f"{variant} is equivalent to {info.baseline} within ±{info.design.margin * 100:g}% ({numbers}, "
            f"equivalence {p_text(r['p_equivalence'])})"
        )
    if verdict == UNDECIDED:
        needed = r["seeds_to_decide"]
        more = (
            "more seeds alone would not decide it (more test images would)"
            if math.isinf(needed)
            else f"{seeds_text(needed)} would decide it"
        )
        return f"{variant}: undecided at {int(r['n_seeds'])} seeds, {more} ({numbers})"
    return f"{variant} is {verdict} than {info.baseline} ({numbers})"


def sentence(info: StudyInfo, table: pd.DataFrame, groups: list[str], split: str) -> str:
    """The verdict sentence: every variant against the baseline on the deciding metric (the primary family)."""
    metric = info.metric_name
    arrow = metric_spec(metric, info.lower_is_better).arrow
    others = [g for g in groups if g != info.baseline]
    if not others:
        return f"Only the baseline {info.baseline} has results: nothing to compare."
    clauses = [clause(row(table, g, metric), g, info) for g in others]
    return f"{split} `{metric}` {arrow} against {info.baseline}: " + "; ".join(clauses) + "."


def power_line(info: StudyInfo, table: pd.DataFrame, groups: list[str]) -> str:
    """The power of the test each variant faced: the same interval, family and α as its verdict."""
    metric = info.metric_name
    parts = []
    for g in groups:
        r = row(table, g, metric)
        if r is None or g == info.baseline or r["n_seeds"] < 2 or math.isnan(r["mde"]):
            continue
        rel = r["mde"] / abs(r["baseline_mean"]) * 100 if r["baseline_mean"] else math.nan
        parts.append(
            f"{g}: {'n/a' if math.isnan(rel) else f'{rel:.1f}%'} of the baseline at {int(r['n_seeds'])} seeds"
        )
    if not parts:
        return ""
    return (
        f"Design: {info.design.describe()}. Smallest Δ on `{metric}` the verdict's own test finds 80% of "
        f"the time (its interval, α at the variant's last look over the variants tested there, the variance "
        f"components of its data): " + "; ".join(parts) + ".\n"
    )
