"""A search's bookkeeping (issue 23 item 3): compute per stage and the validation-test rank correlation in its
report; its trial budget with several workers; a pruned search ends FINISHED; a kill in the search stage
trains nothing twice (tests/test_confirm.py: a kill in the confirmation stage)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import optuna
import pytest

from g2core import names
from g2core.report.collect import ChildRun, StudyInfo
from g2core.report.search_compute import (
    SECTION,
    SearchCompute,
    stage_compute,
    val_test_rank,
    with_section,
)
from g2core.study.runner import done_keys
from g2core.study.spec import StudySpec
from g2core.study.worker import over_budget
from tests.test_confirm import by_stage, kill_9_at, runs, search

INFO = StudyInfo(
    "s", "g2/s", "1", "search", "val/abs_rel", "minimize", "", ["baseline"], [0], "finished", "p"
)


def kid(run_id: str, status: str, epochs: float, start: int, val: float = 0.2, test: float = 0.2, **kw):
    metrics = {names.VAL_EPOCH_KEY: epochs, "best/abs_rel": val, "test/abs_rel": test}
    failure, end = kw.get("failure", ""), kw.get("end", 0)
    return ChildRun(run_id, run_id, status, "baseline", 0, 0, failure, start, {}, metrics, end_time=end)


def test_stage_compute_counts_epochs_trained_and_the_runs_wall() -> None:
    pruned = "pruned by Optuna's median pruner at epoch 2"
    search = [  # ms: 60 s, 20 s, 60 s; c ran beside a (2 workers)
        kid("a", "FINISHED", 6, 1_000, end=61_000),
        kid("b", "KILLED", 2, 2_000, failure=pruned, end=22_000),
        kid("c", "FINISHED", 6, 2_500, end=62_500),
    ]
    stage = stage_compute("search", search)
    assert (stage.runs, stage.pruned, stage.epochs) == (3, 1, 14)  # the pruned trial counts its 2 epochs
    assert stage.run_s == pytest.approx(140.0) and stage.span_s == pytest.approx(61.5)
    running = stage_compute("search", [*search, kid("d", "RUNNING", 3, 70_000)])
    assert running.epochs == 17 and running.run_s == pytest.approx(140.0)  # no end yet: no wall


def test_val_test_rank_is_spearman_over_finished_trials() -> None:
    agree = [kid(str(i), "FINISHED", 6, 0, val=v, test=v * 2 + 0.1) for i, v in enumerate((0.3, 0.1, 0.2))]
    assert val_test_rank(INFO, agree) == (pytest.approx(1.0), 3)
    flipped = [kid(str(i), "FINISHED", 6, 0, val=v, test=1 - v) for i, v in enumerate((0.3, 0.1, 0.2, 0.4))]
    assert val_test_rank(INFO, flipped) == (pytest.approx(-1.0), 4)
    pruned = kid("p", "KILLED", 2, 0, val=0.9, test=0.9)
    assert val_test_rank(INFO, [*agree[:2], pruned])[1] == 2 and math.isnan(val_test_rank(INFO, agree[:2])[0])
    flat = [kid(str(i), "FINISHED", 6, 0, val=0.2, test=t) for i, t in enumerate((0.1, 0.2, 0.3))]
    assert math.isnan(val_test_rank(INFO, flat)[0])  # no spread: no rank correlation (scipy would warn)


def test_the_section_states_each_stage_their_ratio_and_spearman() -> None:
    search = stage_compute("search", [kid("a", "FINISHED", 6, 1_000, end=101_000)])
    twice = [kid("b", "FINISHED", 6, 1_000, end=51_000), kid("c", "FINISHED", 6, 1_000, end=71_000)]
    confirm = stage_compute("confirmation", twice)
    result = SearchCompute([search, confirm], 0.5, 12, "abs_rel")
    text = with_section("# t\n\n## Results\n\n## Provenance\n\nx\n", result, INFO)
    assert text.index("## Results") < text.index(SECTION) < text.index("## Provenance")
    assert "| confirmation | 2 | 12 | 2m00s |" in text and "| total | 3 | 18 | 3m40s |" in text
    assert "2.00x the search's trial-epochs and 1.20x its run time" in text
    assert "Spearman ρ = 0.5" in text and "over 12 finished trials" in text
    line = result.line()
    assert line.startswith("compute: search 6 trial-epochs, 1m40s; confirmation 12 trial-epochs, 2m00s")
    assert "Spearman +0.50 over 12 trials" in line
    assert with_section("x", None, INFO) == "x"


def _trial(state: optuna.trial.TrialState, key: str, **attrs) -> optuna.trial.FrozenTrial:
    value = 0.1 if state == optuna.trial.TrialState.COMPLETE else None
    return optuna.trial.create_trial(state=state, value=value, user_attrs={names.ATTR_KEY: key, **attrs})


def test_a_pruned_trial_is_done_work_an_idle_or_failed_one_is_not() -> None:
    states = optuna.trial.TrialState
    trials = [
        _trial(states.COMPLETE, "w-a"),
        _trial(states.PRUNED, "w-b"),  # the pruner stopped it: its parent must still end FINISHED
        _trial(states.PRUNED, "w-c", **{names.ATTR_IDLE: True}),
        _trial(states.FAIL, "w-d"),
        _trial(states.COMPLETE, "w-a"),  # a retried trial with the same weights: one piece of work
    ]
    assert done_keys(trials) == {"w-a", "w-b"}


def test_a_trial_past_the_budget_is_idle_however_many_workers_ask() -> None:
    states = optuna.trial.TrialState
    study = optuna.create_study()
    for trial in (
        _trial(states.COMPLETE, "w-a"),
        _trial(states.PRUNED, "w-b"),
        _trial(states.FAIL, "w-c"),  # failed: its weights are tried again or replaced, not counted
        _trial(states.PRUNED, "w-d", **{names.ATTR_IDLE: True}),
    ):
        study.add_trial(trial)
    spec = StudySpec(name="s", kind="search", seeds=(0,), search_space={"ssi": (0.0, 1.0)}, n_trials=3)
    running = study.ask()  # another worker's trial, still training: it counts
    mine = study.ask()
    assert not over_budget(running, spec) and over_budget(mine, spec)
    assert not over_budget(mine, StudySpec(**{**spec.__dict__, "n_trials": 4}))


@pytest.mark.slow
def test_two_workers_with_pruning_train_n_trials_distinct_weights_and_the_parent_finishes(root: Path) -> None:
    extra = ("study.n_trials=4", "study.workers=2", "trainer.max_epochs=3", "study.pruner_warmup_epochs=1",
             "study.confirm=false")  # fmt: skip
    out = search(root, *extra)
    assert out.returncode == 0, out.stderr[-3000:]
    parent, kids = runs(root)
    keys = [k.info.run_name for k in kids]
    assert len(keys) == 4 and len(set(keys)) == 4, keys  # no weights drawn twice, no fifth trial
    assert "study weight_search: 4/4 trials complete" in out.stdout, out.stdout[-2000:]
    assert parent.info.status == "FINISHED" and parent.data.tags[names.TAG_STUDY_STATUS] == "finished"
    readme = (root / "reports" / "weight_search" / "README.md").read_text()
    epochs = sum(int(k.data.metrics[names.VAL_EPOCH_KEY]) for k in kids)  # a pruned one: fewer than 3
    assert SECTION in readme and "| search | " in readme and f"| {epochs} |" in readme, readme
    assert "compute: search " in out.stdout


@pytest.mark.slow
def test_kill_9_in_the_search_then_same_command_trains_nothing_twice(root: Path) -> None:
    extra = ("study.n_trials=3", "study.confirm=false")
    seen = kill_9_at(root, "trial 1 start", *extra)  # inside the search's second trial
    done_before = {line.split(": ")[1].split(":")[0] for line in seen.splitlines() if " done: " in line}
    out = search(root, *extra)
    assert out.returncode == 0, out.stderr[-3000:]
    started = [line.rsplit(": ", 1)[1] for line in out.stdout.splitlines() if " start: " in line]
    assert not set(started) & done_before, (started, done_before)  # a finished trial is not trained again
    _, kids = runs(root)
    searched = by_stage(kids, names.STAGE_SEARCH)
    assert Counter(k.info.run_name for k in searched).most_common(1)[0][1] == 1  # the killed one resumed
    assert len(searched) == 3 and all(k.info.status == "FINISHED" for k in searched)


def test_a_trial_whose_config_fails_is_a_failure_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not lost work: a search that could not compose its trials drew new weights and failed again, silently,
    without end (2,800 trials in 17 minutes while conf/ changed under a running study)."""
    from g2core.config import ConfigError
    from g2core.study import worker
    from g2core.study.plan import TrialPlan
    from g2core.study.storage import lost, too_many_failures

    def refuse(*_args, **_kw):
        raise ConfigError("loss.weights.foo: unknown loss term 'foo'")

    monkeypatch.setattr(worker, "trial_config", refuse)
    spec = StudySpec(
        name="s",
        kind="search",
        variants=("baseline",),
        seeds=(0,),
        search_space={"ssi": (0.0, 1.0)},
        n_trials=5,
        max_failures=1,
    )
    study = optuna.create_study()
    for _ in range(2):
        study.optimize(
            lambda t: worker.objective(t, TrialPlan(spec, (), "", "")), n_trials=1, catch=(Exception,)
        )
    failed = study.get_trials(deepcopy=False)
    assert all(t.state == optuna.trial.TrialState.FAIL and not lost(t) for t in failed)
    assert "unknown loss term" in failed[0].user_attrs[names.ATTR_FAILURE]
    assert too_many_failures(study, spec)  # the study stops, and says why
