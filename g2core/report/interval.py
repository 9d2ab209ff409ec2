"""The deciding interval for Δ = mean(variant - baseline) over a study's paired per-image tables, and its power.

Every run of a study evaluates the same test images and a variant's seed s pairs with the baseline's seed s, so
the analysis works on D[s, i] = variant[s, i] - baseline[s, i], shaped [n_seeds, n_images]. D has three parts
(a two-way crossed design without replication):

    D[s, i] = δ + a[s] + b[i] + e[s, i]      a: seed (var σa²)   b: image × variant (σb²)   e: residual (σe²)

and Var(mean D) = σa²/n + σb²/m + σe²/(n m). Method of moments from the two-way ANOVA mean squares:
MS_seed = m var(row means) estimates m σa² + σe² (n - 1 df), MS_image = n var(column means) estimates
n σb² + σe² (m - 1 df), MS_resid estimates σe² ((n - 1)(m - 1) df). The interval gives each part the quantile
its own degrees of freedom allow (the "two-level" interval):

    half-width² = t(n-1)² · MS_seed / (n m) + z² · max(MS_image - MS_resid, 0) / (n m)

The first part is the squared standard error of the mean of the per-seed mean differences (σa²/n + σe²/(n m),
n - 1 df: with σb = 0 this is exactly the paired t-test over seeds); the second is the image level σb²/m,
shared by every seed because the test images are the same, estimated from hundreds of df. The p-value is the
level at which the interval touches 0, so "the CI excludes 0" and "p < 1 - level" always agree.

Chosen by measurement (4000 simulated studies per cell, 256 images, D drawn from seed/image/residual
components; tests/test_interval.py asserts the figures on components fitted to the default study):
- two-level: coverage 0.949-0.990 over 2-6 seeds and seed/image ratios from 0 to far beyond a real study's.
  On image-dominant noise it is close to the z interval from 3 seeds on, and it keeps t(n-1) only where the
  seeds are the only evidence.
- "three-part" (t only on the estimated σa²/n, z on σe²/(n m) too): up to 2x narrower at 2 seeds, but it
  covers only 0.86-0.92 when σa²/n is comparable to σe²/(n m) (the truncated σa² estimate from one df is too
  often near 0). Rejected: a verdict that decides wrongly is worse than one that waits for a third seed.
- the previous interval (t(n-1) on the whole bootstrap standard error) multiplied the image part, estimated
  from 255 df, by t(1) = 12.7 at 2 seeds: valid, but a 20% effect was found in 36% of default studies.
- Satterthwaite's df for the whole variance under-covers at 2 seeds (0.87-0.92), a paired t over seed means
  covers only "these images" (0.32-0.55 of the population Δ), percentile bootstraps over 2 seeds 0.45-0.80
  (the issue's measurements).

Power uses the same interval: MS_seed / (n m) is its expectation times χ²(n-1)/(n-1), the image part is treated
as known (hundreds of df), and the rejection probability is integrated over that χ² (`power`). More seeds
shrink only the first part: when σb²/m dominates, more test images decide, more seeds do not.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

_CHI_GRID = 400  # quantile midpoints of χ²(n-1) in the power integral


@dataclass(frozen=True)
class Components:
    """Variance components of D (per observation) and the table's shape."""

    seed: float  # σa²: a seed's shift shared by all its images
    image: float  # σb²: an image's shift shared by all seeds (image × variant)
    residual: float  # σe²
    n_seeds: int
    n_images: int

    def variances(self, n_seeds: int | None = None, n_images: int | None = None) -> tuple[float, float]:
        """(few-df part, many-df part) of Var(mean D) at another design: σa²/n + σe²/(n m) and σb²/m."""
        n, m = n_seeds or self.n_seeds, n_images or self.n_images
        return self.seed / n + self.residual / (n * m), self.image / m


@dataclass(frozen=True)
class Interval:
    """Δ = mean(variant - baseline) with its interval and two-sided p (the interval's own)."""

    delta: float
    ci_low: float
    ci_high: float
    p: float
    v_few: float  # the part of the estimated Var(mean D) with n_seeds - 1 df: MS_seed / (n m)
    v_many: float  # the image part, with hundreds of df
    n_seeds: int
    n_images: int
    baseline_mean: float


def components(diff: np.ndarray) -> Components:
    """Method-of-moments estimates (negative ones set to 0) from D [n_seeds, n_images]; needs n >= 2."""
    seed, image, residual = (float(x[0]) for x in mean_squares(diff[None]))
    n, m = diff.shape
    return Components(max(seed - residual, 0.0) / m, max(image - residual, 0.0) / n, residual, n, m)


def mean_squares(diff: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(MS_seed, MS_image, MS_resid) of each study in D [studies, n_seeds, n_images]; with one image, MS_seed
    and zeros."""
    _, n, m = diff.shape
    grand = diff.mean(axis=(1, 2))
    rows, cols = diff.mean(axis=2), diff.mean(axis=1)
    ms_seed = m * np.sum((rows - grand[:, None]) ** 2, axis=1) / (n - 1)
    if m == 1:  # one value per run (report.split=val): no image level, the paired t-test over seeds
        zero = np.zeros_like(ms_seed)
        return ms_seed, zero, zero
    ms_image = n * np.sum((cols - grand[:, None]) ** 2, axis=1) / (m - 1)
    resid = diff - rows[:, :, None] - cols[:, None, :] + grand[:, None, None]
    return ms_seed, ms_image, np.sum(resid**2, axis=(1, 2)) / ((n - 1) * (m - 1))


def intervals(diff: np.ndarray, level: float = 0.95) -> dict[str, np.ndarray]:
    """The interval of every study in D [studies, n_seeds >= 2, n_images >= 2] at once (what paired_interval
    computes for one; simulations use this): delta, ci_low, ci_high, p, v_few, v_many."""
    _, n, m = diff.shape
    ms_seed, ms_image, ms_resid = mean_squares(diff)
    v_few, v_many = ms_seed / (n * m), np.maximum(ms_image - ms_resid, 0.0) / (n * m)
    delta = diff.mean(axis=(1, 2))
    half = half_width(0.5 + level / 2, v_few, v_many, n - 1)
    p = np.minimum(1.0, 2 * tail_p(np.abs(delta), v_few, v_many, n - 1))
    return {"delta": delta, "ci_low": delta - half, "ci_high": delta + half, "p": p, "v_few": v_few,
            "v_many": v_many}  # fmt: skip


def half_width(q: np.ndarray | float, v_few, v_many, df: int) -> np.ndarray:
    """Half-width of the interval at upper quantile q (0.975 for a two-sided 95% interval)."""
    # scipy.special's inverse CDFs: the same values as stats.t.ppf / stats.norm.ppf, without their per-call
    # overhead (tail_p evaluates this 64 times per p-value)
    with np.errstate(invalid="ignore"):  # an infinite quantile times a zero variance part counts 0
        few = np.where(np.asarray(v_few) > 0, special.stdtrit(df, q) ** 2 * v_few, 0.0)
        many = np.where(np.asarray(v_many) > 0, special.ndtri(q) ** 2 * v_many, 0.0)
    return np.sqrt(few + many)


def tail_p(distance, v_few, v_many, df: int) -> np.ndarray:
    """One-sided p of a distance from a boundary: the tail mass q with half_width(1 - q) = distance.

    distance <= 0 (the estimate on the far side) gives p >= 0.5, by symmetry. Vectorised bisection in log p."""
    distance, v_few, v_many = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (distance, v_few, v_many))
    )
    d = np.abs(distance)
    zero_var = (v_few + v_many) <= 0
    low, high = np.full(d.shape, -745.0), np.full(d.shape, math.log(0.5))  # log p in [e^-745, 0.5]
    for _ in range(64):
        mid = (low + high) / 2
        wider = half_width(-np.expm1(mid), v_few, v_many, df) > d  # p = e^mid too small: interval too wide
        low, high = np.where(wider, mid, low), np.where(wider, high, mid)
    p = np.exp((low + high) / 2)
    p = np.where(d == 0, 0.5, p)
    p = np.where(zero_var, np.where(d == 0, 0.5, 0.0), p)
    return np.where(distance < 0, 1 - p, p)


def paired_interval(variant: np.ndarray, baseline: np.ndarray, level: float = 0.95) -> Interval:
    """Δ of the mean with the two-level interval (module docstring) and its two-sided p.

    variant, baseline: [n_seeds, n_images], paired by row (seed) and column (image). NaN interval and p with
    fewer than 2 seeds: one seed says nothing about seed noise. One image per run (a val report's one value
    per run) is the paired t-test over seeds."""
    variant, baseline = np.asarray(variant, dtype=float), np.asarray(baseline, dtype=float)
    # C order: the sums, and so the digits, never depend on the inputs' layout
    diff = np.ascontiguousarray(variant - baseline)
    n, m = diff.shape
    base = float(baseline.mean()) if baseline.size else math.nan
    if n < 2 or m < 1:
        delta = float(diff.mean()) if diff.size else math.nan
        return Interval(delta, math.nan, math.nan, math.nan, math.nan, math.nan, n, m, base)
    one = {k: float(v[0]) for k, v in intervals(diff[None], level).items()}
    return Interval(**one, n_seeds=n, n_images=m, baseline_mean=base)


def equivalence_p(c: Interval, margin: float) -> float:
    """Two one-sided tests against ±margin (absolute units): the larger one-sided p. Equivalent at α when
    p < α, i.e. the (1 - 2α) interval lies inside (-margin, +margin)."""
    if math.isnan(c.p) or not margin > 0:
        return math.nan
    lower = tail_p(c.delta + margin, c.v_few, c.v_many, c.n_seeds - 1)  # H0: δ <= -margin
    upper = tail_p(margin - c.delta, c.v_few, c.v_many, c.n_seeds - 1)  # H0: δ >= +margin
    return float(max(lower, upper))


@functools.cache
def _chi_grid(df: int) -> np.ndarray:
    """χ²(df)/df at quantile midpoints: E[f(χ²/df)] ≈ their mean."""
    return stats.chi2.ppf((np.arange(_CHI_GRID) + 0.5) / _CHI_GRID, df) / df


def _design(comp: Components, n_seeds: int, n_images: int | None):
    """sd of the estimate, the few-df part's estimate over the χ² grid, and the image part."""
    v_few, v_many = comp.variances(n_seeds, n_images)
    return math.sqrt(v_few + v_many), v_few * _chi_grid(n_seeds - 1), v_many


def power(effect: float, comp: Components, n_seeds: int, alpha: float, n_images: int | None = None) -> float:
    """P(the two-sided test at α rejects Δ = 0) when the true Δ is `effect`, at n_seeds seeds."""
    if n_seeds < 2:
        return math.nan
    sd, few, many = _design(comp, n_seeds, n_images)
    if sd == 0:
        return 1.0 if effect else alpha
    h = half_width(1 - alpha / 2, few, many, n_seeds - 1)
    e = abs(effect)
    return float(np.mean(stats.norm.sf((h - e) / sd) + stats.norm.cdf((-h - e) / sd)))


def equivalence_power(effect: float, margin: float, comp: Components, n_seeds: int, alpha: float) -> float:
    """P(two one-sided tests at α declare equivalence within ±margin) when the true Δ is `effect`."""
    if n_seeds < 2 or not margin > 0:
        return math.nan
    sd, few, many = _design(comp, n_seeds, None)
    h = half_width(1 - alpha, few, many, n_seeds - 1)
    if sd == 0:
        return float(np.mean(abs(effect) + h < margin))
    # the estimate must land in (-margin + h, margin - h)
    inside = stats.norm.cdf((margin - h - effect) / sd) - stats.norm.cdf((-margin + h - effect) / sd)
    return float(np.mean(np.clip(inside, 0.0, 1.0)))


def minimum_detectable_effect(comp: Components, n_seeds: int, alpha: float, target: float = 0.8) -> float:
    """Smallest |Δ| the test at α finds with probability `target` at n_seeds (NaN with fewer than 2)."""
    if n_seeds < 2:
        return math.nan
    v_few, v_many = comp.variances(n_seeds)
    if v_few + v_many == 0:
        return 0.0
    high = math.sqrt(v_few + v_many)
    while power(high, comp, n_seeds, alpha) < target:
        high *= 2
    low = 0.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if power(mid, comp, n_seeds, alpha) < target else (low, mid)
    return high


def seeds_to_decide(
    effect: float, margin: float, comp: Components, alpha: float, target: float = 0.8, cap: int = 64
) -> int | None:
    """Fewest seeds (>= 2) at which, if the true Δ is `effect`, the test at α decides with probability
    `target`: a difference found, or equivalence within ±margin. None when even `cap` seeds would not (the
    image-level variance does not shrink with seeds: more test images would help, more seeds would not)."""
    for n in range(2, cap + 1):
        decide = power(effect, comp, n, alpha)
        if margin > 0:
            decide = max(decide, equivalence_power(effect, margin, comp, n, alpha))
        if decide >= target:
            return n
    return None
