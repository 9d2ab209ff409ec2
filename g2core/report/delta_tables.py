"""The two comparison tables: Δ against the baseline with its CI and mark (readable), and every test (details).

Each column answers one question, and the notes say which:
- Δ [95% CI], p, p Holm, ▲/▼/≈: would the recipe beat the baseline with other seeds, on other test images?
  (interval.py; the primary family decided by the study's design, the secondary one Holm-corrected)
- p Wilcoxon: on these trained models only, are the per-image differences centred on zero?
- p Welch: the seed-level view, one mean per seed, unpaired.
"""

from __future__ import annotations

import math

import pandas as pd

from g2core.names import VAL, metric_spec

from .collect import StudyInfo
from .fmt import mean_std, p_text, pct, sig
from .significance import PRIMARY, UNDECIDED
from .summary import Summary
from .tables import Cell, Table, header_label
from .verdicts import ALPHA, ci_pct, row, seeds_text


def delta_text(r: pd.Series | None) -> str:
    """ "-3.1% [-4.0%, -2.2%] ▲": Δ of the mean, its 95% CI, the mark from the Holm-adjusted p."""
    if r is None or r["n_seeds"] == 0:
        return "no runs"
    if r["n_seeds"] < 2:
        return f"{pct(r['delta_pct'])} (n=1, no test)"
    mark = f" {r['mark']}" if r["mark"] else ""
    return f"{pct(r['delta_pct'])} {ci_pct(r)}{mark}".rstrip()


def baseline_table(
    info: StudyInfo, summary: Summary, metrics: list[str], comparison: pd.DataFrame, split: str
) -> Table:
    """Rows = metrics; columns = the baseline's mean ± std, then each variant's Δ [CI] ▲/▼."""
    others = [g for g in summary.groups if g != info.baseline]
    header = ["metric", f"{info.baseline} (baseline, n={summary.runs(info.baseline)})"]
    header += [f"{g} (n={summary.runs(g)})" for g in others]
    title = (
        f"{info.name}: change of the mean against {info.baseline} on the {split} split, 95% CI "
        f"(paired on seed and image); {info.metric_name}: the verdict (▲ better / ▼ worse / ≈ equivalent); "
        f"other rows secondary, ▲/▼ at Holm-adjusted p<{ALPHA}"
    )
    table = Table(title, header, ["l"] + ["r"] * (len(header) - 1))
    for metric in metrics:
        spec = metric_spec(metric, info.lower_is_better)
        cells = [Cell(header_label(metric, spec.lower_is_better)), Cell(summary.cell(info.baseline, metric))]
        cells += [Cell(delta_text(row(comparison, g, metric))) for g in others]
        table.rows.append(cells)
    return table


DETAIL_HEADER = [
    "variant", "metric", "family", "seeds × images", "mean ± std (seeds)", "Δ", "95% CI of Δ", "p",
    "p Holm", "verdict", "p equivalence", "p Wilcoxon (these models)", "p Welch (seeds)", "MDE (80%)",
    "seeds to decide",
]  # fmt: skip


def details_table(info: StudyInfo, comparison: pd.DataFrame) -> Table:
    """One row per (variant, metric) of the comparison table with every test and the power estimates."""
    title = (
        f"{info.name}: every test against {info.baseline} (primary: `{info.metric_name}`, Holm over the "
        "variants; secondary: every other metric, Holm over those cells)"
    )
    table = Table(title, list(DETAIL_HEADER), ["l", "l", "l"] + ["r"] * (len(DETAIL_HEADER) - 3))
    for _, r in comparison.iterrows():
        spec = metric_spec(r["metric"], info.lower_is_better)
        lo, hi = r["ci_low"], r["ci_high"]
        primary = r["family"] == PRIMARY
        table.rows.append(
            [
                Cell(r["variant"]),
                Cell(header_label(r["metric"], spec.lower_is_better)),
                Cell(r["family"]),
                Cell(f"{int(r['n_seeds'])} × {int(r['n_images'])}"),
                Cell(mean_std(r["mean"], r["std"], int(r["n_seeds"]))),
                Cell(f"{sig(r['delta'])} ({pct(r['delta_pct'])})" if not math.isnan(r["delta"]) else ""),
                Cell("" if math.isnan(lo) else f"[{sig(lo)}, {sig(hi)}]"),
                Cell(p_text(r["p"])),
                Cell(p_text(r["p_holm"])),
                Cell(r["verdict"] if primary else r["mark"]),
                Cell(p_text(r["p_equivalence"]) if primary else ""),
                Cell(p_text(r["p_wilcoxon"])),
                Cell(p_text(r["p_welch"])),
                Cell(sig(r["mde"], 2) if primary else ""),
                Cell(seeds_text(r["seeds_to_decide"]) if primary and r["verdict"] == UNDECIDED else ""),
            ]
        )
    return table


def baseline_note(split: str) -> str:
    return (
        "Δ: relative change of the mean against the baseline, (variant − baseline) / |baseline|, on the images "
        "every paired run has; for a ↓ metric a negative Δ is an improvement. The 95% CI and its p answer "
        "'would this recipe beat the baseline with other seeds, on other images?': paired on seed and image, "
        "t(seeds − 1) on the per-seed part and the normal quantile on the image part (g2core/report/interval.py). "
        "The deciding metric's row is the **primary** family: ▲ better / ▼ worse / ≈ equivalent within the margin "
        "as the study's design decided it (Holm over the variants); every other row is **secondary**: ▲/▼ at "
        f"Holm-adjusted p<{ALPHA} over all secondary cells, never a verdict. No mark: undecided at this n. "
        '"n=1, no test": fewer than two paired seeds. Training-loss columns are not tested (they are not '
        "comparable across recipes).\n"
        + (
            f"\nreport.split={VAL}: no per-image tables, each run's value is one observation (the interval then "
            "has a seed part only; the Wilcoxon test pairs seeds, not images).\n"
            if split == VAL
            else ""
        )
    )


def details_note() -> str:
    return (
        "Which question each column answers. **p**, **p Holm**, **verdict**/mark: the recipe, with other seeds "
        "and images (primary: Holm over the variants at the α of the look that decided; secondary: Holm over "
        "the secondary cells). **p equivalence**: two one-sided tests against ±margin, Holm-adjusted. "
        "**p Wilcoxon (these models)**: the narrower question 'on these trained models': signed-rank test over "
        "per-image differences pooled over seeds, blind to seed noise. **p Welch (seeds)**: the seed-level view, "
        "Welch's t-test over per-seed means, unadjusted. **MDE (80%)**: the smallest |Δ| the verdict's own test "
        "finds 80% of the time at these seeds; **seeds to decide**: for an undecided variant, the seeds at which "
        "a study would decide the observed Δ (a difference or equivalence) 80% of the time.\n"
    )
