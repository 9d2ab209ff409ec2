"""Optuna searches replayed on a trained grid (benchmarks/search_vs_grid.py): each proposal is a grid point,
its recorded val curve reported epoch by epoch, so a search costs no training and many seeds are cheap.

The sampler and pruner are the study's own (`g2core.study.plan.search_sampler`, `median_pruner`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import optuna

from g2core.study.plan import median_pruner, search_sampler
from g2core.study.spec import StudySpec

# "Within 2% of the grid's best" (the goal); 5%: about the spread of runs that differ only by noise (RESULTS.md)
TOLERANCES = (1.02, 1.05)
GOAL = 0.40  # of the grid's trial-epochs


def point_key(index: tuple[int, ...]) -> str:
    return ",".join(map(str, index))


@dataclass(frozen=True)
class Setting:
    name: str
    sampler: str  # tpe | random
    pruner: Callable[[], optuna.pruners.BasePruner]


def patient(warmup: int, patience: int) -> Callable[[], optuna.pruners.BasePruner]:
    return lambda: optuna.pruners.PatientPruner(median_pruner(warmup), patience=patience)


def settings(spec: StudySpec, epochs: int) -> list[Setting]:
    """Today's study first, then the median pruner as it shipped before this benchmark (warm-up 1) and the
    brief's alternatives, then the baselines (random proposals)."""
    w = spec.pruner_warmup_epochs
    hyperband = lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)  # noqa: E731
    return [
        Setting(f"TPE + Median, warm-up {w} (today's weight_search)", "tpe", partial(median_pruner, w)),
        Setting(
            "TPE + Median, warm-up 1 (weight_search before this benchmark)", "tpe", partial(median_pruner, 1)
        ),
        Setting("TPE + Median, warm-up 0", "tpe", partial(median_pruner, 0)),
        Setting(f"TPE + Median, warm-up {epochs - 2}", "tpe", partial(median_pruner, epochs - 2)),
        Setting("TPE + Patient(Median warm-up 1, patience 1)", "tpe", patient(1, 1)),
        Setting("TPE + Patient(Median warm-up 1, patience 2)", "tpe", patient(1, 2)),
        Setting(f"TPE + Hyperband(min 1, max {epochs})", "tpe", hyperband),
        Setting("TPE alone (NopPruner)", "tpe", optuna.pruners.NopPruner),
        Setting("Random + Median, warm-up 1", "random", partial(median_pruner, 1)),
        Setting("Random alone (NopPruner)", "random", optuna.pruners.NopPruner),
    ]


@dataclass
class Trace:
    """One replayed search: cumulative trial-epochs and the test abs_rel of its val-selected pick, per trial."""

    cost: list[int]
    pick_test: list[float]
    repeats: int = 0  # proposals of a point this search had already proposed (retrained, counted again)


def replay(points: dict, sizes: list[int], setting: Setting, seed: int, n_trials: int) -> Trace:
    tpe = setting.sampler == "tpe"
    sampler = search_sampler(n_trials, seed) if tpe else optuna.samplers.RandomSampler(seed=seed)
    name = f"replay-{seed}"  # Hyperband assigns brackets by hashing the study name: fixed, reproducible
    study = optuna.create_study(
        study_name=name, direction="minimize", sampler=sampler, pruner=setting.pruner()
    )
    trace, spent, best, seen = Trace([], []), 0, (float("inf"), float("nan")), set()

    def objective(trial: optuna.Trial) -> float:
        nonlocal spent, best
        key = point_key(tuple(trial.suggest_int(f"i{d}", 0, n - 1) for d, n in enumerate(sizes)))
        trace.repeats += key in seen
        seen.add(key)
        record = points[key]
        for epoch, value in enumerate(record["val"]):
            trial.report(value, epoch)
            if trial.should_prune():
                spent += epoch + 1
                raise optuna.TrialPruned()
        spent += len(record["val"])
        best = min(best, (record["best_val"], record["test_abs_rel"]))
        return record["best_val"]

    def log(_study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        trace.cost.append(spent)
        trace.pick_test.append(best[1])

    study.optimize(objective, n_trials=n_trials, callbacks=[log])
    return trace


def quantiles(values: list[float]) -> dict:
    """Median and p25-p75 over every seed, a search that never got there counting as infinitely costly."""
    q = np.percentile(values, [25, 50, 75], method="inverted_cdf")  # no interpolation towards inf
    return {
        k: (float(v) if np.isfinite(v) else None) for k, v in zip(("p25", "median", "p75"), q, strict=True)
    }


def evaluate(
    setting: Setting, points: dict, sizes: list[int], seeds: int, epochs: int, target: float, budget: int
) -> dict:
    grid_cost = len(points) * epochs
    full = [replay(points, sizes, setting, seed, len(points)) for seed in range(seeds)]
    short = [replay(points, sizes, setting, seed, budget) for seed in range(seeds)]
    out = {"setting": setting.name, "seeds": seeds, "budget": budget}
    out["repeat_share"] = statistics.median(t.repeats / len(points) for t in full)
    out["budget_cost_fraction"] = statistics.median(t.cost[-1] / grid_cost for t in short)
    for tol in TOLERANCES:
        costs = []
        for t in full:
            hit = next((c for c, p in zip(t.cost, t.pick_test, strict=True) if p <= tol * target), None)
            costs.append(hit / grid_cost if hit is not None else float("inf"))
        out[f"within_{tol - 1:.0%}"] = {
            "cost_fraction": quantiles(costs),
            "reached": int(np.isfinite(costs).sum()),
            "reached_within_goal": int(sum(c <= GOAL for c in costs)),
            "budget_final_within": int(sum(t.pick_test[-1] <= tol * target for t in short)),
            "per_seed_cost_fraction": [c if np.isfinite(c) else None for c in costs],
        }
    return out


def pct(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "not reached"


def table(rows: list[dict], tol: float) -> str:
    n, label = rows[0]["seeds"], f"within_{tol - 1:.0%}"
    lines = [
        f"Within {tol - 1:.0%} of the target ({n} search seeds; cost = trial-epochs as a share of the grid's):",
        f"| setting | median cost | p25-p75 | seeds by {GOAL:.0%} of the grid | seeds by 48 trials | n_trials={rows[0]['budget']}: final pick within | n_trials={rows[0]['budget']}: median cost | repeated proposals |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        w, c = r[label], r[label]["cost_fraction"]
        lines.append(
            f"| {r['setting']} | {pct(c['median'])} | {pct(c['p25'])}-{pct(c['p75'])} | {w['reached_within_goal']}/{n} | {w['reached']}/{n} | {w['budget_final_within']}/{n} | {pct(r['budget_cost_fraction'])} | {r['repeat_share']:.0%} |"
        )
    return "\n".join(lines)
