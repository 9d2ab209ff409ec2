"""Is a variant better than the baseline? The study's comparison table, paired on seed and image.

Every run of a study evaluates the same test images, and a variant's run with seed s pairs with the
baseline's run with seed s, so each comparison works on D[s, i] = variant[s, i] - baseline[s, i] with the
interval of interval.py (seed, image and residual parts, each with the degrees of freedom it has).

Two families (DESIGN: significance):
- primary: the study's deciding metric, one comparison per variant, Holm over the variants, decided by the
  study's Design (design.py: a fixed look, or seeds until decided with alpha spending). Verdicts: better /
  worse / equivalent within ±margin (two one-sided tests) / undecided, with the seeds that would decide it.
- secondary: every other metric, Holm over all of their cells together, marked but never a verdict.

`wilcoxon_paired` answers the narrower question "on these trained models": per-image differences pooled
over seeds, blind to seed noise. `welch_seeds` is the seed-level view: Welch's test over seed means.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from g2core.design import Design

from ..names import IMAGE_COLUMN, TAG_SEED, TAG_VARIANT
from .interval import components, equivalence_p, minimum_detectable_effect, paired_interval, seeds_to_decide

IMAGE = IMAGE_COLUMN  # the per-image table's image id column
BETTER, WORSE, EQUIVALENT = "▲", "▼", "≈"
UNDECIDED = "undecided"
VERDICT_OF_MARK = {BETTER: "better", WORSE: "worse", EQUIVALENT: "equivalent"}
PRIMARY, SECONDARY = "primary", "secondary"


def paired(
    table: pd.DataFrame, variant: str, baseline: str, metric: str, image: str = IMAGE
) -> tuple[np.ndarray, np.ndarray]:
    """[n_seeds, n_images] arrays of one metric, paired on the seeds both variants have and the images with a
    finite value in every one of those runs. Rows and columns are sorted: the table's row order never matters."""
    grids = []
    for name in (variant, baseline):
        rows = table[table[TAG_VARIANT] == name]
        if rows.duplicated([TAG_SEED, image]).any():
            raise ValueError(
                f"per-image table: variant {name!r} has several rows for one ({TAG_SEED}, {image})"
            )
        grids.append(rows.pivot(index=TAG_SEED, columns=image, values=metric))
    seeds = sorted(set(grids[0].index) & set(grids[1].index))
    images = sorted(set(grids[0].columns) & set(grids[1].columns)) if seeds else []
    v, b = (g.loc[seeds, images].to_numpy(dtype=float) for g in grids)
    keep = np.isfinite(v).all(0) & np.isfinite(b).all(0)
    return v[:, keep], b[:, keep]


def wilcoxon_paired(variant: np.ndarray, baseline: np.ndarray) -> float:
    """Wilcoxon signed-rank p over per-image differences pooled over seeds: 'on these trained models' only.
    Zero differences (common for delta1 on easy images) are ranked and then dropped (Pratt)."""
    diff = (np.asarray(variant, dtype=float) - np.asarray(baseline, dtype=float)).ravel()
    diff = diff[np.isfinite(diff)]
    if diff.size == 0:
        return math.nan
    if not np.any(diff != 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.wilcoxon(diff, zero_method="pratt").pvalue)


def welch_seeds(variant: np.ndarray, baseline: np.ndarray) -> float:
    """Welch's t-test over per-seed means (the seed-level view); NaN with fewer than 2 seeds a side."""
    v, b = np.nanmean(variant, axis=1), np.nanmean(baseline, axis=1)
    if len(v) < 2 or len(b) < 2:
        return math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return float(stats.ttest_ind(v, b, equal_var=False).pvalue)


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values; NaNs stay NaN and are not part of the family."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    k = len(order)
    steps = p[order] * (k - np.arange(k))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return adjusted


def mark(delta: float, p_adjusted: float, lower_is_better: bool, alpha: float = 0.05) -> str:
    """▲ significantly better, ▼ significantly worse (adjusted p only), '' otherwise."""
    if not p_adjusted < alpha or not delta or math.isnan(delta):
        return ""
    return BETTER if (delta < 0) == lower_is_better else WORSE


def _row(variant: str, metric: str, family: str, v: np.ndarray, b: np.ndarray, level: float) -> dict:
    c = paired_interval(v, b, level)
    seed_means = v.mean(axis=1) if v.size else np.full(len(v), np.nan)
    return {
        "variant": variant,
        "metric": metric,
        "family": family,
        "n_seeds": c.n_seeds,
        "n_images": c.n_images,
        "mean": float(seed_means.mean()) if v.size else math.nan,
        "std": float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else math.nan,
        "baseline_mean": c.baseline_mean,
        "delta": c.delta,
        "delta_pct": c.delta / abs(c.baseline_mean) * 100 if c.baseline_mean else math.nan,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "p": c.p,
        "p_wilcoxon": wilcoxon_paired(v, b),
        "p_welch": welch_seeds(v, b),
    }


def decide(grids: dict[str, tuple[np.ndarray, np.ndarray]], design: Design, lower_is_better: bool) -> dict:
    """The primary family's verdicts: variant -> {verdict, mark, p_holm, p_equivalence, alpha_look, look,
    n_decided}, from each variant's (variant, baseline) [n_seeds, n_images] arrays, rows in seed order.

    Replays the design's looks: at look k the variants still undecided that have its seeds are tested at
    α_k, Holm over them; those not found different are tested for equivalence (two one-sided tests against
    ±margin · |baseline mean|, Holm over them, at the same α_k)."""
    out = {v: {**DECISION, "n_seeds": len(g[0])} for v, g in grids.items()}
    for k, n in enumerate(design.looks()):
        alpha = design.alpha_at(k)
        tested = [v for v, r in out.items() if r["verdict"] == UNDECIDED and r["n_seeds"] >= max(n, 2)]
        if not tested:
            continue
        rows = slice(0, n) if design.sequential else slice(None)
        at = {v: paired_interval(grids[v][0][rows], grids[v][1][rows]) for v in tested}
        p_adj = dict(zip(tested, holm([at[v].p for v in tested]), strict=True))
        kept = [v for v in tested if not p_adj[v] < alpha]
        p_eq = [equivalence_p(at[v], design.margin * abs(at[v].baseline_mean)) for v in kept]
        eq_adj = dict(zip(kept, holm(p_eq), strict=True))
        for v in tested:
            sign = mark(at[v].delta, p_adj[v], lower_is_better, alpha)
            if not sign and eq_adj.get(v, math.nan) < alpha:
                sign = EQUIVALENT
            out[v].update(
                p_holm=float(p_adj[v]),
                p_equivalence=float(eq_adj.get(v, math.nan)),
                alpha_look=alpha,
                look=k + 1,
                n_decided=at[v].n_seeds,
                mark=sign,
                verdict=VERDICT_OF_MARK.get(sign, UNDECIDED),
            )
    return out


def _power(row: dict, grid: tuple[np.ndarray, np.ndarray], family: int, margin: float) -> None:
    """The power model of the test a variant last faced (its look's α over its family): mde, and for an
    undecided variant the seeds at which a study would decide its observed Δ."""
    if math.isnan(row["alpha_look"]):  # fewer seeds than the design's first look: not tested yet
        return
    comp = components(grid[0] - grid[1])
    alpha = row["alpha_look"] / max(1, family)
    row["mde"] = minimum_detectable_effect(comp, row["n_seeds"], alpha)
    if row["verdict"] == UNDECIDED:
        needed = seeds_to_decide(row["delta"], margin * abs(row["baseline_mean"]), comp, alpha)
        row["seeds_to_decide"] = math.inf if needed is None else float(needed)


def compare(
    table: pd.DataFrame,
    baseline: str,
    metrics: list[str],
    lower_is_better: dict[str, bool],
    primary: str | None = None,
    design: Design | None = None,
    image: str = IMAGE,
) -> pd.DataFrame:
    """One row per (variant, metric) against the baseline: the primary family (`primary`, default the first
    metric) decided by `design`, the secondary family (every other metric) Holm-corrected over its cells.

    table: the long per-image table, columns variant, seed, image and one per metric. Variants in order of
    first appearance. mde: the minimum detectable |Δ| at 80% power for the test the variant last faced;
    seeds_to_decide: seeds at which a fixed study would decide the observed Δ with 80% power (inf: seeds
    alone would not: the image-level variance does not shrink with seeds)."""
    design = design or Design()
    primary = primary or metrics[0]
    level = 1 - design.alpha
    variants = [v for v in pd.unique(table[TAG_VARIANT]) if v != baseline]
    rows, grids = [], {}
    for variant in variants:
        for metric in metrics:
            v, b = paired(table, variant, baseline, metric, image)
            family = PRIMARY if metric == primary else SECONDARY
            rows.append({**_row(variant, metric, family, v, b, level), **EMPTY})
            if family == PRIMARY:
                grids[variant] = (v, b)
                rows[-1]["verdict"] = UNDECIDED
    decisions = decide(grids, design, lower_is_better[primary])
    tested = [v for v, g in grids.items() if len(g[0]) >= 2]
    for r in rows:
        if r["family"] == PRIMARY and r["variant"] in tested:
            r.update({k: v for k, v in decisions[r["variant"]].items() if k != "n_seeds"})
            _power(r, grids[r["variant"]], len(tested), design.margin)
    out = pd.DataFrame(rows, columns=COLUMNS)
    second = out["family"] == SECONDARY
    out.loc[second, "p_holm"] = holm(out.loc[second, "p"].to_numpy(dtype=float))
    out.loc[second, "mark"] = [
        mark(d, p, lower_is_better[m], design.alpha)
        for d, p, m in zip(
            out.loc[second, "delta"], out.loc[second, "p_holm"], out.loc[second, "metric"], strict=True
        )
    ]
    return out[COLUMNS].astype(DTYPES)


DECISION = {
    "p_holm": math.nan, "p_equivalence": math.nan, "alpha_look": math.nan, "look": 0, "n_decided": 0,
    "mark": "", "verdict": UNDECIDED,
}  # fmt: skip
EMPTY = {**DECISION, "verdict": "", "mde": math.nan, "seeds_to_decide": math.nan}
COLUMNS = [
    "variant", "metric", "family", "n_seeds", "n_images", "mean", "std", "baseline_mean", "delta", "delta_pct",
    "ci_low", "ci_high", "p", "p_holm", "mark", "verdict", "p_equivalence", "alpha_look", "look", "n_decided",
    "p_wilcoxon", "p_welch", "mde", "seeds_to_decide",
]  # fmt: skip
DTYPES = {c: float for c in COLUMNS if c not in ("variant", "metric", "family", "mark", "verdict")}
DTYPES.update(dict.fromkeys(("n_seeds", "n_images", "look", "n_decided"), int))
