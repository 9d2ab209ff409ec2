"""The deciding interval, its power model and the seeds-until-decided design, on realistic simulated noise.

Noise: D[s, i] = δ + a[s] + b[i] + e[s, i] with the variance components fitted (method of moments,
interval.components) to the default study's per-image test tables on 2026-12-07: image-level dominant and a
small seed level, as a real study is. abs_rel from ssi_only vs ssi_silog (the largest seed part of the three
variants), δ1 from ssi_silog_grad vs ssi_silog. Seed-dominant studies scale the seed variance up to 10x.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from g2core.design import Design
from g2core.report import interval as iv
from g2core.report import significance as sg

N_IMAGES = 256
# metric: (baseline mean, seed sd, image sd, residual sd), fitted on the default study
FITTED = {"abs_rel": (0.2162, 0.00331, 0.0443, 0.0428), "delta1": (0.6016, 0.00455, 0.0611, 0.0919)}


def simulate_diff(rng, studies: int, n_seeds: int, metric: str, seed_scale: float = 1.0, delta: float = 0.0):
    """D [studies, n_seeds, N_IMAGES] from the fitted components, the seed variance times seed_scale."""
    _, sa, sb, se = FITTED[metric]
    return (
        delta
        + rng.normal(0, sa * math.sqrt(seed_scale), (studies, n_seeds, 1))
        + rng.normal(0, sb, (studies, 1, N_IMAGES))
        + rng.normal(0, se, (studies, n_seeds, N_IMAGES))
    )


def study_grids(rng, n_seeds: int, deltas: list[float], metric: str = "abs_rel", seed_scale: float = 1.0):
    """One study: a baseline and one variant per delta, paired by seed and image (shared baseline runs)."""
    mean, _, _, _ = FITTED[metric]
    base = mean + rng.normal(0, 0.09, (1, N_IMAGES)) + rng.normal(0, 0.02, (n_seeds, N_IMAGES))
    return {
        f"v{k}": (base + simulate_diff(rng, 1, n_seeds, metric, seed_scale, d)[0], base)
        for k, d in enumerate(deltas)
    }


@pytest.mark.parametrize("metric", ["abs_rel", "delta1"])
def test_coverage_at_every_seed_count_and_seed_share(metric):
    """>= 93% coverage of the true Δ from 2 seeds on, seed variance 0 to 10x the fitted one (600 studies each)."""
    rng = np.random.default_rng(7)
    worst = 1.0
    for n in (2, 3, 4, 8):
        for scale in (0.0, 1.0, 3.0, 10.0):
            out = iv.intervals(simulate_diff(rng, 600, n, metric, scale, delta=0.01))
            covered = np.mean((out["ci_low"] <= 0.01) & (0.01 <= out["ci_high"]))
            worst = min(worst, covered)
            assert covered >= 0.93, (metric, n, scale, covered)
    assert worst < 0.99  # not valid by being uselessly wide everywhere


def test_interval_and_p_agree_and_match_the_batch_path():
    rng = np.random.default_rng(3)
    outcomes = []
    for case in range(150):
        n = int(rng.integers(2, 6))
        diff = simulate_diff(rng, 1, n, "abs_rel", delta=float(rng.normal(0, 0.01)))[0]
        baseline = rng.normal(0.2, 0.05, diff.shape)
        level = (0.95, 0.9)[case % 2]
        c = iv.paired_interval(baseline + diff, baseline, level)
        excludes = c.ci_low > 0 or c.ci_high < 0
        assert excludes == (c.p < 1 - level), (case, c)
        batch = iv.intervals(diff[None], level)
        assert c.ci_low == pytest.approx(batch["ci_low"][0], rel=1e-9, abs=1e-12)
        outcomes.append(excludes)
    assert 15 < sum(outcomes) < 135  # both sides of the boundary were exercised


def test_power_on_the_fitted_components():
    """A 5% change of abs_rel (α = 0.05): the simulated detection rate grows with seeds and the power model
    predicts it (measured here: about 19% at 2 seeds, 51% at 3, 70% at 4 with ssi_only's seed variance)."""
    rng = np.random.default_rng(11)
    mean, sa, sb, se = FITTED["abs_rel"]
    truth = iv.Components(sa**2, sb**2, se**2, 2, N_IMAGES)
    effect = 0.05 * mean
    found = {}
    for n in (2, 3, 4, 6):
        found[n] = np.mean(iv.intervals(simulate_diff(rng, 800, n, "abs_rel", delta=effect))["p"] < 0.05)
        assert found[n] == pytest.approx(iv.power(effect, truth, n, 0.05), abs=0.06), (n, found)
    assert found[2] < found[3] < found[4] < found[6] and found[6] >= 0.85, found


def test_the_power_model_keeps_its_promises():
    """seeds_to_decide and the minimum detectable effect come from the verdict's own test: at the promised
    seed count the test at α/3 (Holm's first step over 3 variants) detects the effect in >= 75% of studies."""
    rng = np.random.default_rng(5)
    mean = FITTED["abs_rel"][0]
    comp = iv.components(simulate_diff(rng, 1, 24, "abs_rel")[0])
    alpha = 0.05 / 3
    for effect in (0.06 * mean, 0.1 * mean):
        n = iv.seeds_to_decide(effect, 0.0, comp, alpha)
        assert n is not None and 2 <= n <= 12, (effect, n)
        hit = np.mean(iv.intervals(simulate_diff(rng, 600, n, "abs_rel", delta=effect))["p"] < alpha)
        assert hit >= 0.75, (effect, n, hit)
        assert iv.power(effect, comp, n, alpha) >= 0.8 > iv.power(effect, comp, n - 1, alpha)
    # 4% is below what any number of seeds decides on 256 images: the image part (σb²/m) does not shrink
    assert iv.seeds_to_decide(0.04 * mean, 0.0, comp, alpha) is None
    _, sa, sb, se = FITTED["abs_rel"]
    mde = iv.minimum_detectable_effect(iv.Components(sa**2, sb**2, se**2, 4, N_IMAGES), 4, alpha)
    assert iv.power(mde, iv.Components(sa**2, sb**2, se**2, 4, N_IMAGES), 4, alpha) == pytest.approx(
        0.8, abs=1e-3
    )
    hit = np.mean(iv.intervals(simulate_diff(rng, 800, 4, "abs_rel", delta=mde))["p"] < alpha)
    assert hit >= 0.75, hit
    # The image part does not shrink with seeds: with no seed or residual noise, seeds alone never decide a
    # change far below the image-level standard error.
    images_only = iv.Components(0.0, 0.05**2, 1e-12, 2, N_IMAGES)
    assert iv.seeds_to_decide(1e-4, 0.0, images_only, alpha) is None


DEFAULT = Design(first_seeds=2, max_seeds=3)  # conf/study/loss_terms.yaml


@pytest.mark.parametrize("seed_scale", [1.0, 10.0])
def test_seeds_until_decided_makes_no_false_claims_when_nothing_differs(seed_scale):
    """Every variant equal to the baseline: no better/worse over the family of 3 in <= 5% of 400 studies."""
    rng = np.random.default_rng(int(seed_scale))
    false = 0
    for _ in range(400):
        grids = study_grids(rng, DEFAULT.max_seeds, [0.0, 0.0, 0.0], seed_scale=seed_scale)
        decided = sg.decide(grids, DEFAULT, lower_is_better=True)
        false += any(d["verdict"] in ("better", "worse") for d in decided.values())
    assert false / 400 <= 0.05, false


def test_equivalence_is_not_claimed_at_the_margin():
    """True Δ equal to the margin: 'equivalent' in <= 5% of 400 studies (two one-sided tests, over the looks)."""
    rng = np.random.default_rng(21)
    margin = DEFAULT.margin * FITTED["abs_rel"][0]
    claimed = 0
    for _ in range(400):
        grids = study_grids(rng, DEFAULT.max_seeds, [margin])
        claimed += sg.decide(grids, DEFAULT, lower_is_better=True)["v0"]["verdict"] == "equivalent"
    assert claimed / 400 <= 0.05, claimed


def test_the_default_design_decides_clear_differences_and_equivalence():
    """+20% (ssi_only's gap) is decided worse in >= 90% of studies, a tiny difference is never better/worse
    beyond the error rate, and a study with no seed noise and Δ = 0 ends equivalent at 3 seeds."""
    rng = np.random.default_rng(4)
    mean = FITTED["abs_rel"][0]
    worse = 0
    for _ in range(100):
        grids = study_grids(rng, 3, [0.2 * mean, 0.0])
        decided = sg.decide(grids, DEFAULT, lower_is_better=True)
        worse += decided["v0"]["verdict"] == "worse"
    assert worse >= 90, worse
    quiet = {
        "v0": (np.full((3, N_IMAGES), 0.2) + rng.normal(0, 1e-4, (3, N_IMAGES)), np.full((3, N_IMAGES), 0.2))
    }
    assert sg.decide(quiet, DEFAULT, lower_is_better=True)["v0"]["verdict"] == "equivalent"


def test_alpha_spending_adds_up():
    for spending in ("obrien_fleming", "pocock"):
        d = Design(first_seeds=2, max_seeds=5, spending=spending)
        spent = [d.alpha_at(k) for k in range(len(d.looks()))]
        assert all(a > 0 for a in spent) and sum(spent) == pytest.approx(0.05)
    assert Design(first_seeds=3, max_seeds=3).alpha_at(0) == 0.05  # a fixed design: one look, all of α
    obf = Design(first_seeds=2, max_seeds=3)
    assert obf.alpha_at(0) < obf.alpha_at(1)
    assert Design.from_json(obf.to_json()) == obf and Design.from_json("") == Design()
