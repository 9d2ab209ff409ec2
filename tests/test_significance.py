"""g2core.report.significance: the comparison table (pairing, families, Holm, marks), on simulated tables.

The interval itself, its coverage and power, and the seeds-until-decided design are measured in
tests/test_interval.py on noise fitted to a real study.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from g2core.design import Design
from g2core.names import TAG_SEED, TAG_VARIANT
from g2core.report import significance as sg
from g2core.report.interval import paired_interval
from g2core.report.robustness import holds

MU, IMAGE_SD, RUN_SD, NOISE_SD = 0.25, 0.09, 0.03, 0.04
N_SEEDS, N_IMAGES, STUDIES = 2, 256, 200


def simulate(rng: np.random.Generator, n_seeds: int, effects: list[float]) -> list[np.ndarray]:
    """Per-image abs_rel [n_seeds, N_IMAGES] of one run per (variant, seed); effects[0] is the baseline's."""
    s2 = math.log(1 + (IMAGE_SD / MU) ** 2)
    image = rng.lognormal(math.log(MU) - s2 / 2, math.sqrt(s2), N_IMAGES)
    return [
        image * (1 + effect) * (1 + rng.normal(0, RUN_SD, (n_seeds, 1)))
        + rng.normal(0, NOISE_SD, (n_seeds, N_IMAGES))
        for effect in effects
    ]


def seed_diff_sd() -> float:
    """The true sd of a per-seed mean difference (variant - baseline) under the noise model."""
    return math.sqrt(2 * (MU * RUN_SD) ** 2 + 2 * NOISE_SD**2 / N_IMAGES)


def long_table(runs: dict[str, np.ndarray], metric: str = "abs_rel") -> pd.DataFrame:
    frames = []
    for variant, values in runs.items():
        seeds, images = np.meshgrid(np.arange(values.shape[0]), np.arange(values.shape[1]), indexing="ij")
        frames.append(
            pd.DataFrame(
                {
                    TAG_VARIANT: variant,
                    TAG_SEED: seeds.ravel(),
                    sg.IMAGE: images.ravel(),
                    metric: values.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_holm_on_a_known_vector():
    p = [0.01, np.nan, 0.04, 0.03, 0.005, 0.5]
    # Family of 5 (the NaN is not tested): sorted 0.005 0.01 0.03 0.04 0.5 times 5 4 3 2 1 = 0.025 0.04 0.09
    # 0.08 0.5, then the running maximum: 0.025 0.04 0.09 0.09 0.5.
    expected = [0.04, np.nan, 0.09, 0.09, 0.025, 0.5]
    np.testing.assert_allclose(sg.holm(p), expected, rtol=1e-12)
    np.testing.assert_allclose(sg.holm([0.3, 0.4]), [0.6, 0.6])
    assert sg.holm([0.6, 0.7]).tolist() == [1.0, 1.0]
    assert sg.holm([]).size == 0 and np.isnan(sg.holm([np.nan])).all()


def test_same_input_same_output_and_row_order_does_not_matter():
    rng = np.random.default_rng(5)
    runs = dict(zip(["baseline", "grad_a", "grad_b"], simulate(rng, 3, [0.0, 0.0, 0.1]), strict=True))
    table = long_table(runs)
    table["delta1"] = 1 - table["abs_rel"]
    table["rmse"] = 4 * table["abs_rel"]
    args = dict(
        baseline="baseline",
        metrics=["abs_rel", "delta1", "rmse"],
        lower_is_better={"abs_rel": True, "delta1": False, "rmse": True},
    )
    first = sg.compare(table, **args)
    pd.testing.assert_frame_equal(first, sg.compare(table, **args))
    shuffled = table.sample(frac=1.0, random_state=1).reset_index(drop=True)
    pd.testing.assert_frame_equal(first, sg.compare(shuffled, **args))
    assert list(first.columns) == sg.COLUMNS
    assert first[["variant", "metric", "family"]].values.tolist() == [
        ["grad_a", "abs_rel", "primary"], ["grad_a", "delta1", "secondary"], ["grad_a", "rmse", "secondary"],
        ["grad_b", "abs_rel", "primary"], ["grad_b", "delta1", "secondary"], ["grad_b", "rmse", "secondary"],
    ]  # fmt: skip
    # Two families: Holm over the variants on the primary metric, over every secondary cell on the others.
    primary, secondary = first[first["family"] == "primary"], first[first["family"] == "secondary"]
    np.testing.assert_allclose(primary["p_holm"], sg.holm(primary["p"]))
    np.testing.assert_allclose(secondary["p_holm"], sg.holm(secondary["p"]))
    c = paired_interval(runs["grad_b"], runs["baseline"])
    row = first.iloc[3]
    assert (row["delta"], row["ci_low"], row["ci_high"], row["p"]) == (c.delta, c.ci_low, c.ci_high, c.p)
    assert row["n_seeds"] == 3 and row["n_images"] == N_IMAGES
    assert row["std"] == pytest.approx(np.std(runs["grad_b"].mean(axis=1), ddof=1))
    assert row["verdict"] == "worse" and row["mark"] == "▼"  # a 10% worse abs_rel, 3 seeds
    assert set(secondary["verdict"]) == {""}  # secondary metrics are marked, never given a verdict
    # delta1 = 1 - abs_rel here: the same Δ with the sign turned, so the same p and the opposite direction.
    assert first.iloc[4]["delta"] == pytest.approx(-row["delta"])
    assert first.iloc[4]["p"] == pytest.approx(row["p"])


def test_pairing_keeps_shared_seeds_and_images():
    table = long_table({"base": np.arange(12.0).reshape(3, 4), "var": np.arange(8.0).reshape(2, 4) + 1})
    table.loc[(table[TAG_VARIANT] == "var") & (table[sg.IMAGE] == 2) & (table[TAG_SEED] == 1), "abs_rel"] = (
        np.nan
    )
    table = table[~((table[TAG_VARIANT] == "base") & (table[sg.IMAGE] == 3))]
    v, b = sg.paired(table, "var", "base", "abs_rel")
    # seeds 0, 1 (var has no seed 2); images 0, 1 (image 2 has a NaN in one run, image 3 no baseline value)
    np.testing.assert_array_equal(v, [[1, 2], [5, 6]])
    np.testing.assert_array_equal(b, [[0, 1], [4, 5]])
    with pytest.raises(ValueError, match="several rows"):
        sg.paired(pd.concat([table, table.iloc[:1]]), "base", "var", "abs_rel")


def test_marks_and_verdicts_follow_the_adjusted_p_only():
    assert sg.mark(-0.01, 0.01, lower_is_better=True) == "▲"
    assert sg.mark(0.01, 0.01, lower_is_better=True) == "▼"
    assert sg.mark(0.01, 0.01, lower_is_better=False) == "▲"
    assert sg.mark(-0.5, 0.06, lower_is_better=True) == ""  # a large Δ is no evidence on its own
    assert sg.mark(-0.01, np.nan, lower_is_better=True) == ""


def test_small_and_degenerate_inputs_print_no_warnings():
    rng = np.random.default_rng(0)
    a = rng.normal(0.25, 0.1, (1, 50))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one_seed = paired_interval(a + 0.01, a)
        assert (
            one_seed.delta == pytest.approx(0.01) and math.isnan(one_seed.p) and math.isnan(one_seed.ci_low)
        )
        assert math.isnan(sg.welch_seeds(a + 0.01, a))
        assert sg.wilcoxon_paired(a, a) == 1.0  # every difference zero
        with_zeros = np.where(np.arange(50) < 25, a, a + 0.01)
        assert sg.wilcoxon_paired(with_zeros, a) < 1e-4
        assert math.isnan(sg.welch_seeds(np.ones((2, 3)), np.ones((2, 3))))
        assert paired_interval(np.ones((2, 3)), np.ones((2, 3))).p == 1.0
        # A variant without a seed in common with the baseline: an empty row, no mark, no error.
        table = long_table({"base": np.vstack([a, a]), "lonely": a})
        table.loc[table[TAG_VARIANT] == "lonely", TAG_SEED] = 7
        row = sg.compare(table, "base", ["abs_rel"], {"abs_rel": True}).iloc[0]
        assert (row["n_seeds"], row["n_images"], row["mark"]) == (0, 0, "") and math.isnan(row["p_holm"])


def test_identical_variants_claim_nothing():
    """Default-like study, 4 identical variants (3 compared), 3 seeds, a run effect multiplying every image:
    better/worse on the primary metric in <= 5% of 500 studies (the family-wise error the verdict promises)."""
    rng = np.random.default_rng(12)
    false = 0
    for _ in range(500):
        baseline, *variants = simulate(rng, 3, [0.0] * 4)
        grids = {f"v{k}": (v, baseline) for k, v in enumerate(variants)}
        decided = sg.decide(grids, Design(), lower_is_better=True)
        false += any(d["verdict"] in ("better", "worse") for d in decided.values())
    assert false / 500 <= 0.05, false


def test_robustness_says_whether_a_verdict_holds():
    assert holds({"scale_shift": "worse", "scale_shift_disparity": "worse"}) == "holds under both"
    assert holds({"scale_shift": "better", "scale_shift_disparity": "worse"}) == "depends on the alignment"
    assert holds({"scale_shift": "undecided", "scale_shift_disparity": "worse"}) == (
        "decided under scale_shift_disparity only"
    )
    assert holds({"scale_shift": "undecided", "scale_shift_disparity": "undecided"}) == "undecided under both"
