"""Is a variant better than the baseline? Statistics over per-image test tables, paired on seed and image.

Every run of a study evaluates the same test images, and a variant's run with seed s starts from the same
weights and batch order as the baseline's run with seed s, so the analysis works on the paired differences
D[s, i] = variant[s, i] - baseline[s, i] (arrays shaped [n_seeds, n_images]).

The deciding test (`paired_bootstrap`) asks about the *recipe*: would other seeds, on other test images,
show the same Δ? It resamples seeds, then test images. Images are crossed with seeds (the same test images
for every run), so one image draw serves every seed of a resample: the pairing holds across seeds, and an
image-by-variant effect (a variant better on some images) counts once per image, as in the estimate itself.
Independent image draws per seed shrink that term by the number of seeds: with 10 seeds and such an effect
(sd 0.03 per image) they covered 95% of 200 simulated studies, the crossed draw 98% (a side check).

Why not the plain percentile interval: with the default 2 seeds a resample holds one of three seed
combinations, and the bootstrap distribution cannot reach past the two observed seeds. On simulated default
studies (2 seeds x 256 images, abs_rel ~0.25, per-image sd ~0.1, a run effect of 3% of the mean) it covered
the true Δ in 75-79% of 200 studies. The remedy is the standard one for few clusters (Cameron & Miller 2015;
Ibragimov & Müller 2010): a t interval with n_seeds - 1 degrees of freedom around the estimate, with the
bootstrap standard error scaled by sqrt(n/(n-1)) (resampling n seeds gives (n-1)/n of the usual variance).
The image level then counts twice (inside the seed means and again by image resampling): slightly
conservative. Measured in tests/test_significance.py: coverage 100% at 2 seeds (a t(1) interval is wide:
honest about seed noise; a 5% effect is not detected), 95% at 9 seeds with a planted 5% effect, found in 80%.
The p-value is the same t statistic's, so "CI excludes 0" and "p < 1 - level" always agree, and p is not
floored at 2/(B+1) ~ 0.001 as a resampling count would be (Holm over 3 variants x 14 metrics needs 0.0012).

`wilcoxon_paired` answers the narrower question "on these trained models": per-image differences pooled
over seeds, blind to seed noise. `welch_seeds` is the seed-level view: Welch's test over seed means.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..names import IMAGE_COLUMN, TAG_SEED, TAG_VARIANT

IMAGE = IMAGE_COLUMN  # the per-image table's image id column
NO_EVIDENCE = "no evidence of a difference at this n"
BETTER, WORSE = "▲", "▼"


@dataclass(frozen=True)
class Comparison:
    """Δ of the mean (variant - baseline) with its confidence interval and two-sided p-value."""

    delta: float
    delta_pct: float  # Δ / |baseline mean| * 100
    ci_low: float
    ci_high: float
    p: float
    se: float  # the standard error the interval uses
    n_seeds: int
    n_images: int


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


def bootstrap_deltas(diff: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Δ* of every resample: seeds drawn with replacement, then one image draw shared by those seeds."""
    n, m = diff.shape
    seeds = rng.integers(0, n, (n_resamples, n))
    images = rng.integers(0, m, (n_resamples, m))
    # Each seed's mean over this resample's images, one seed at a time to keep memory at [B, n_images].
    seed_means = np.stack([row[images].mean(axis=1) for row in diff], axis=1)  # [B, n]
    return np.take_along_axis(seed_means, seeds, axis=1).mean(axis=1)


def paired_bootstrap(
    variant: np.ndarray, baseline: np.ndarray, n_resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> Comparison:
    """Δ of the mean with a hierarchical-bootstrap t interval and p-value (module docstring: why t).

    NaN interval and p with fewer than 2 seeds: one seed says nothing about seed noise."""
    # C order whatever the input's layout: the float sums, and so the digits, do not depend on it.
    diff = np.ascontiguousarray(np.asarray(variant, dtype=float) - np.asarray(baseline, dtype=float))
    n, m = diff.shape
    base_mean = float(np.mean(baseline)) if baseline.size else math.nan
    delta = float(diff.mean()) if diff.size else math.nan
    delta_pct = delta / abs(base_mean) * 100.0 if base_mean else math.nan
    if n < 2 or m < 1:
        return Comparison(delta, delta_pct, math.nan, math.nan, math.nan, math.nan, n, m)
    deltas = bootstrap_deltas(diff, n_resamples, np.random.default_rng(seed))
    se = float(np.std(deltas, ddof=1)) * math.sqrt(n / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    if se > 0:
        p = float(2 * stats.t.sf(abs(delta) / se, n - 1))
    else:  # every resample equal: the difference is exactly constant
        p = 1.0 if delta == 0 else 0.0
    return Comparison(delta, delta_pct, delta - half, delta + half, p, se, n, m)


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


def verdict_word(delta: float, p_adjusted: float, lower_is_better: bool, alpha: float = 0.05) -> str:
    """'better', 'worse' or 'no evidence of a difference at this n': never a winner by mean alone."""
    return {BETTER: "better", WORSE: "worse"}.get(
        mark(delta, p_adjusted, lower_is_better, alpha), NO_EVIDENCE
    )


def paired_power(effect: float, seed_sd: float, n_seeds: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test over n_seeds per-seed differences with sd seed_sd (noncentral t)."""
    df = n_seeds - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    shift = abs(effect) * math.sqrt(n_seeds) / seed_sd
    # The lower tail as the mirrored upper one: nct.cdf far in the left tail returns NaN at df=1.
    return float(stats.nct.sf(crit, df, shift) + np.nan_to_num(stats.nct.sf(crit, df, -shift)))


def minimum_detectable_effect(seed_sd: float, n_seeds: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest |Δ| found with probability power by a paired-by-seed t-test with n_seeds seeds.

    seed_sd: the sd over seeds of the per-seed mean difference (variant - baseline); exact noncentral-t power
    (not the normal approximation, which is far off at 2-3 seeds). NaN when n_seeds < 2 or seed_sd unknown."""
    if n_seeds < 2 or not math.isfinite(seed_sd):
        return math.nan
    if seed_sd == 0:
        return 0.0
    high = seed_sd
    while paired_power(high, seed_sd, n_seeds, alpha) < power:
        high *= 2
    return float(
        optimize.brentq(lambda e: paired_power(e, seed_sd, n_seeds, alpha) - power, 0.0, high, xtol=1e-12)
    )


def seeds_needed(
    seed_sd: float, effect: float, alpha: float = 0.05, power: float = 0.8, max_seeds: int = 1000
) -> int | float:
    """Smallest n_seeds (>= 2) whose paired t-test finds |effect| with probability power; max_seeds means
    'at least that many'; NaN when seed_sd is unknown."""
    if not math.isfinite(seed_sd) or not math.isfinite(effect):
        return math.nan
    if seed_sd == 0 or paired_power(effect, seed_sd, 2, alpha) >= power:
        return 2
    if effect == 0 or paired_power(effect, seed_sd, max_seeds, alpha) < power:
        return max_seeds
    low, high = 2, max_seeds  # power(low) < power <= power(high); power grows with n
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if paired_power(effect, seed_sd, mid, alpha) < power else (low, mid)
    return high


def compare(
    table: pd.DataFrame,
    baseline: str,
    metrics: list[str],
    lower_is_better: dict[str, bool],
    n_resamples: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    image: str = IMAGE,
) -> pd.DataFrame:
    """One row per (variant, metric) against the baseline; Holm over the whole table (every variant x metric).

    table: the long per-image table, columns variant, seed, image and one per metric. Variants in order of
    first appearance. mde: the minimum detectable |Δ| at 80% power with this many seeds; seeds_2pct: seeds
    for 80% power at a 2% change of the baseline mean; both from diff_sd, the sd over seeds of the per-seed
    mean difference."""
    rows = []
    for variant in pd.unique(table[TAG_VARIANT]):
        if variant == baseline:
            continue
        for metric in metrics:
            v, b = paired(table, variant, baseline, metric, image)
            c = paired_bootstrap(v, b, n_resamples, seed, 1 - alpha)
            seed_means = v.mean(axis=1) if v.size else np.full(len(v), np.nan)
            diff_sd = (
                float(np.std(seed_means - b.mean(axis=1), ddof=1)) if v.size and len(v) > 1 else math.nan
            )
            base_mean = float(b.mean()) if b.size else math.nan
            rows.append(
                {
                    "variant": variant,
                    "metric": metric,
                    "n_seeds": c.n_seeds,
                    "n_images": c.n_images,
                    "mean": float(seed_means.mean()) if v.size else math.nan,
                    "std": float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else math.nan,
                    "baseline_mean": base_mean,
                    "delta": c.delta,
                    "delta_pct": c.delta_pct,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                    "p_boot": c.p,
                    "p_wilcoxon": wilcoxon_paired(v, b),
                    "p_welch": welch_seeds(v, b),
                    "diff_sd": diff_sd,
                    "mde": minimum_detectable_effect(diff_sd, c.n_seeds, alpha),
                    "seeds_2pct": seeds_needed(diff_sd, 0.02 * abs(base_mean), alpha),
                }
            )
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_holm", "mark")])
    out["p_holm"] = holm(out["p_boot"].to_numpy(dtype=float))
    out["mark"] = [
        mark(d, p, lower_is_better[m], alpha)
        for d, p, m in zip(out["delta"], out["p_holm"], out["metric"], strict=True)
    ]
    return out[COLUMNS]


COLUMNS = [
    "variant", "metric", "n_seeds", "n_images", "mean", "std", "baseline_mean", "delta", "delta_pct",
    "ci_low", "ci_high", "p_boot", "p_holm", "p_wilcoxon", "p_welch", "mark", "diff_sd", "mde", "seeds_2pct",
]  # fmt: skip
