"""A search's confirmation stage: its best weights, trained again over seeds and tested against the base preset.

A search ranks its trials by one validation run each; the best of them is partly the luckiest (benchmarks/
RESULTS.md "Search vs grid": most of the top points lie within one run's noise of each other). After the
search, the top `study.confirm_top_k` distinct weight sets by the deciding validation metric and
`study.base_variant` with its own weights are trained as an ablation whose variants are those candidates
(each a pseudo-variant named by its run key `w-<hash>`, whose config is base_variant plus its weights): seeds
until decided with the study's Design (first_seeds..max_seeds, the equivalence margin), evaluated on the test
split, and decided by the report's statistics like an ablation (g2core.report.confirmation).

The stage is its own Optuna study (`<name>.confirm`, same storage): its trials are (candidate, seed) pairs
queued like an ablation's, so the search's trial budget and sampler never see them, and the same command
again trains nothing twice. Its seeds are fresh: the search's own seed is left out, since the search selected
its candidates on that seed's runs (their luck would carry into the comparison).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import count

import optuna
from optuna.trial import TrialState

from g2core.config import ConfigError
from g2core.names import ATTR_KEY, STAGE_CONFIRM
from g2core.study.plan import TrialPlan
from g2core.study.spec import StudySpec

WEIGHT_PARAM = "w_{}"  # the search trial's Optuna parameter of a term's weight (worker.objective)


@dataclass(frozen=True)
class Stage:
    """One Optuna study as the runner runs it: a study's own, or a search's confirmation. Its plan holds the
    stage's spec and the trial number failures are counted from in this invocation."""

    plan: TrialPlan
    study: optuna.Study


def top_candidates(spec: StudySpec, search: optuna.Study) -> dict[str, dict[str, float]]:
    """Run key -> weights of the search's best `confirm_top_k` distinct weight sets by the validation
    objective (finished trials only: a pruned trial was not trained to the end); ties by trial number.
    A Pareto search (study.objectives) takes them from its front only (Optuna's best_trials: no other
    finished trial is at least as good on every objective and better on one), ordered by the first objective."""
    pool = (
        search.best_trials
        if spec.objectives
        else search.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    )
    finished = [t for t in pool if t.values and t.user_attrs.get(ATTR_KEY)]
    sign = 1.0 if spec.direction == "minimize" else -1.0
    chosen: dict[str, dict[str, float]] = {}
    for trial in sorted(finished, key=lambda t: (sign * float(t.values[0]), t.number)):
        key = str(trial.user_attrs[ATTR_KEY])  # a retried trial has its weights, so its key: one candidate
        if key not in chosen:
            chosen[key] = {term: float(trial.params[WEIGHT_PARAM.format(term)]) for term in spec.search_space}
        if len(chosen) == spec.confirm_top_k:
            break
    return chosen


def confirm_seeds(spec: StudySpec) -> tuple[int, ...]:
    """max_seeds seeds the search did not train with, in order (first_seeds of them at the first look)."""
    fresh = (s for s in count() if s not in spec.seeds)
    return tuple(next(fresh) for _ in range(spec.max_seeds))


def confirm_spec(spec: StudySpec, search: optuna.Study) -> StudySpec | None:
    """The stage's spec: an ablation of the candidates against base_variant with seeds until decided; None
    when the study is not a confirmed search or no trial finished."""
    if spec.kind != "search" or not spec.confirm or spec.stage:
        return None
    candidates = top_candidates(spec, search)
    if not candidates:
        return None
    return replace(
        spec,
        kind="ablation",
        stage=STAGE_CONFIRM,
        variants=(spec.base_variant, *candidates),
        baseline=spec.base_variant,
        seeds=confirm_seeds(spec),
        seeds_auto=True,
        candidates=candidates,
        round_pairs=(),
        objectives=(),  # each candidate is decided on the first objective, the deciding metric
    )


def _check_candidates(study: optuna.Study, spec: StudySpec) -> None:
    """A stored confirmation was run with its candidates as the variant choices; Optuna refuses others (the
    search's top k changed: more trials, another confirm_top_k): say so before a worker fails on it."""
    trial = next((t for t in study.get_trials(deepcopy=False) if t.distributions), None)
    dist = trial.distributions.get("variant") if trial else None
    if dist is not None and tuple(dist.choices) != spec.variants:
        raise ConfigError(
            f"study.confirm_top_k: the stored confirmation of {spec.name!r} was run with candidates "
            f"{list(dist.choices)[1:]} (now {list(spec.variants)[1:]}: study.n_trials or study.confirm_top_k "
            "changed the search's top); keep them, or start another study with study.name=<new name>"
        )


def confirmation(plan: TrialPlan, search: optuna.Study, storage: optuna.storages.BaseStorage) -> Stage | None:
    """Open (or resume) the confirmation stage of a finished search; None when there is none to run."""
    spec = confirm_spec(plan.spec, search)
    if spec is None:
        return None
    study = optuna.create_study(
        study_name=spec.optuna_name, storage=storage, direction=spec.direction, load_if_exists=True
    )
    _check_candidates(study, spec)
    return Stage(replace(plan, spec=spec, since_trial=len(study.get_trials(deepcopy=False))), study)


def describe(stage: Stage, search: StudySpec) -> str:
    """The line the runner prints as the stage starts: what is trained, and how much at most."""
    spec = stage.plan.spec
    picked = "the Pareto front's first" if search.objectives else "the search's top"
    keys = ", ".join(spec.variants[1:])
    n = len(spec.variants)
    first, last = n * spec.first_seeds, n * spec.max_seeds
    trials = f"{first} trials" if first == last else f"{first} to {last} trials"
    return (
        f"confirmation: {picked} {len(spec.candidates)} ({keys}) against {spec.baseline} on the test "
        f"split, seeds {list(spec.seeds)} until decided: {trials}"
    )
