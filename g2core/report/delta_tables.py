"""The two comparison tables: Δ against the baseline with its CI and mark (readable), and every test (details).

Each column answers one question, and the notes say which:
- Δ [95% CI], p (bootstrap), p Holm, ▲/▼: would the recipe beat the baseline with other seeds, on other test
  images? (hierarchical paired bootstrap over seeds then images; Holm over the whole comparison table)
- p Wilcoxon: on these trained models only, are the per-image differences centred on zero?
- p Welch: the seed-level view, one mean per seed, unpaired.
"""

from __future__ import annotations

import math

import pandas as pd

from g2core.names import VAL, metric_spec

from .collect import StudyInfo
from .fmt import mean_std, p_text, pct, sig
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
        f"(hierarchical paired bootstrap); ▲ better / ▼ worse at Holm-adjusted p<{ALPHA}"
    )
    table = Table(title, header, ["l"] + ["r"] * (len(header) - 1))
    for metric in metrics:
        spec = metric_spec(metric, info.lower_is_better)
        base = mean_std(
            summary.mean.loc[info.baseline, metric],
            summary.std.loc[info.baseline, metric],
            int(summary.n.loc[info.baseline, metric]),
        )
        cells = [Cell(header_label(metric, spec.lower_is_better)), Cell(base)]
        cells += [Cell(delta_text(row(comparison, g, metric))) for g in others]
        table.rows.append(cells)
    return table


DETAIL_HEADER = [
    "variant", "metric", "seeds × images", "mean ± std (seeds)", "Δ", "95% CI of Δ", "p (bootstrap)",
    "p Holm", "mark", "p Wilcoxon (these models)", "p Welch (seeds)", "MDE (80%)", "seeds for 2%",
]  # fmt: skip


def details_table(info: StudyInfo, comparison: pd.DataFrame) -> Table:
    """One row per (variant, metric) of the comparison table with every test and the power estimates."""
    title = f"{info.name}: every test against {info.baseline} (the family Holm corrects is this whole table)"
    table = Table(title, list(DETAIL_HEADER), ["l", "l"] + ["r"] * (len(DETAIL_HEADER) - 2))
    for _, r in comparison.iterrows():
        spec = metric_spec(r["metric"], info.lower_is_better)
        lo, hi = r["ci_low"], r["ci_high"]
        table.rows.append(
            [
                Cell(r["variant"]),
                Cell(header_label(r["metric"], spec.lower_is_better)),
                Cell(f"{int(r['n_seeds'])} × {int(r['n_images'])}"),
                Cell(mean_std(r["mean"], r["std"], int(r["n_seeds"]))),
                Cell(f"{sig(r['delta'])} ({pct(r['delta_pct'])})" if not math.isnan(r["delta"]) else ""),
                Cell("" if math.isnan(lo) else f"[{sig(lo)}, {sig(hi)}]"),
                Cell(p_text(r["p_boot"])),
                Cell(p_text(r["p_holm"])),
                Cell(r["mark"]),
                Cell(p_text(r["p_wilcoxon"])),
                Cell(p_text(r["p_welch"])),
                Cell(sig(r["mde"], 2)),
                Cell(seeds_text(r["seeds_2pct"])),
            ]
        )
    return table


def baseline_note(split: str) -> str:
    return (
        "Δ: relative change of the mean against the baseline, (variant − baseline) / |baseline|, on the images "
        "every paired run has; for a ↓ metric a negative Δ is an improvement. The 95% CI and its p answer "
        "'would this recipe beat the baseline with other seeds, on other images?': a hierarchical bootstrap "
        "paired on seed and image (seeds resampled, then images). ▲ significantly better / ▼ significantly "
        f"worse: Holm-adjusted p<{ALPHA} over every variant × metric of this table; no mark: no evidence of a "
        'difference at this n. "n=1, no test": fewer than two paired seeds. Training-loss columns are not '
        "tested (they are not comparable across recipes).\n"
        + (
            f"\nreport.split={VAL}: no per-image tables, each run's value is one observation (the bootstrap "
            "resamples seeds only; the Wilcoxon test then pairs seeds, not images).\n"
            if split == VAL
            else ""
        )
    )


def details_note() -> str:
    return (
        "Which question each column answers. **p (bootstrap)**, **p Holm**, **mark**: the recipe, with other "
        "seeds and images (the deciding test; Holm over the whole table). **p Wilcoxon (these models)**: the "
        "narrower question 'on these trained models': signed-rank test over per-image differences pooled over "
        "seeds, blind to seed noise. **p Welch (seeds)**: the seed-level view, Welch's t-test over per-seed "
        "means, unadjusted. **MDE (80%)**: the smallest |Δ| this many seeds find with 80% power, from the "
        "observed seed-to-seed sd of the paired differences; **seeds for 2%**: seeds needed to find a 2% change "
        "of the baseline mean (≥1000: out of reach); both rough with 2 seeds.\n"
    )
