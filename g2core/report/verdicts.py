"""The report's claims, derived from the corrected, paired statistics of significance.py and nothing else.

One comparison table (every variant against the baseline on every metric, Holm over all of it) decides the
▲/▼ marks, the bold cells, the verdict sentence and the parent run's summary. A mean alone never crowns a
winner; training-loss columns are never tested (they are not comparable across recipes).
"""

from __future__ import annotations

import math

import pandas as pd

from g2core.names import metric_spec

from .collect import StudyInfo
from .fmt import p_text, pct, sig
from .significance import BETTER, NO_EVIDENCE, WORSE, compare, verdict_word

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 1000  # significance.seeds_needed's cap: 'at least this many'


def directions(info: StudyInfo, metrics: list[str]) -> dict[str, bool]:
    return {m: metric_spec(m, info.lower_is_better).lower_is_better for m in metrics}


def comparisons(info: StudyInfo, observations: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """significance.compare over the study's variants (baseline first), or an empty table for a search
    or a study without baseline observations."""
    if info.is_search or observations.empty or info.baseline not in set(observations["variant"]):
        return pd.DataFrame()
    order = {v: i for i, v in enumerate([info.baseline, *info.variants])}
    ordered = observations.sort_values(
        "variant", key=lambda s: s.map(order).fillna(len(order)), kind="stable"
    )
    return compare(ordered, info.baseline, metrics, directions(info, metrics), alpha=ALPHA)


def row(table: pd.DataFrame, variant: str, metric: str) -> pd.Series | None:
    if table.empty:
        return None
    hit = table[(table["variant"] == variant) & (table["metric"] == metric)]
    return hit.iloc[0] if len(hit) else None


def significantly_best(table: pd.DataFrame, baseline: str, metric: str) -> str | None:
    """The one row the corrected tests put above all others on a metric, or None.

    The tests compare each variant with the baseline, so a row is 'significantly best' when it is the only
    variant significantly better than the baseline (▲ after Holm), or it is the baseline and every variant is
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


def word(r: pd.Series | None, info: StudyInfo) -> str:
    """better | worse | no evidence of a difference at this n (significance.verdict_word)."""
    if r is None:
        return NO_EVIDENCE
    return verdict_word(
        r["delta"], r["p_holm"], metric_spec(r["metric"], info.lower_is_better).lower_is_better
    )


def ci_pct(r: pd.Series) -> str:
    """The Δ's 95% CI in percent of the baseline mean: "[-3.1%, +0.4%]"."""
    base = abs(r["baseline_mean"])
    if math.isnan(r["ci_low"]) or not base:
        return ""
    return f"[{pct(r['ci_low'] / base * 100)}, {pct(r['ci_high'] / base * 100)}]"


def clause(r: pd.Series | None, variant: str, info: StudyInfo) -> str:
    """One variant's part of the verdict sentence, with the numbers it rests on."""
    if r is None or r["n_seeds"] == 0:
        return f"{variant}: no paired runs to compare"
    size = f"{int(r['n_seeds'])} seeds × {int(r['n_images'])} images"
    if r["n_seeds"] < 2:
        return f"{variant}: n=1, no test (Δ {pct(r['delta_pct'])}, {size})"
    numbers = f"Δ {pct(r['delta_pct'])} {ci_pct(r)}, Holm-adjusted {p_text(r['p_holm'])}, {size}"
    verdict = word(r, info)
    if verdict == NO_EVIDENCE:
        return f"{variant}: {NO_EVIDENCE} ({numbers})"
    return f"{variant} is {verdict} than {info.baseline} ({numbers})"


def sentence(info: StudyInfo, table: pd.DataFrame, groups: list[str], split: str) -> str:
    """The verdict sentence: every variant against the baseline on the deciding metric, from the table."""
    metric = info.metric_name
    arrow = metric_spec(metric, info.lower_is_better).arrow
    others = [g for g in groups if g != info.baseline]
    if not others:
        return f"Only the baseline {info.baseline} has results: nothing to compare."
    clauses = [clause(row(table, g, metric), g, info) for g in others]
    return f"{split} `{metric}` {arrow} against {info.baseline}: " + "; ".join(clauses) + "."


def seeds_text(n: float) -> str:
    if isinstance(n, float) and math.isnan(n):
        return "n/a"
    return f"≥{MAX_SEEDS}" if int(n) >= MAX_SEEDS else str(int(n))


def power_line(info: StudyInfo, table: pd.DataFrame, groups: list[str]) -> str:
    """'How many seeds do I need', answered from the observed seed-to-seed variance of the paired Δ."""
    metric = info.metric_name
    parts, few = [], False
    for g in groups:
        r = row(table, g, metric)
        if r is None or g == info.baseline:
            continue
        if r["n_seeds"] < 2 or math.isnan(r["mde"]):
            parts.append(f"{g}: no estimate (needs 2 paired seeds)")
            continue
        few = few or r["n_seeds"] <= 2
        rel = r["mde"] / abs(r["baseline_mean"]) * 100 if r["baseline_mean"] else math.nan
        parts.append(
            f"{g}: minimum detectable effect {sig(r['mde'], 2)} ({'n/a' if math.isnan(rel) else f'{rel:.1f}%'}"
            f" of the baseline) with {int(r['n_seeds'])} seeds; seeds to detect a 2% change: "
            f"{seeds_text(r['seeds_2pct'])}"
        )
    if not parts:
        return ""
    text = (
        f"Power on `{metric}` ({int(POWER * 100)}% power, α={ALPHA}, paired by seed, from the observed "
        f"seed-to-seed sd of the paired differences): " + "; ".join(parts) + "."
    )
    if few:
        text += " Rough: a standard deviation estimated from 2 seeds is itself very uncertain."
    return text + "\n"
