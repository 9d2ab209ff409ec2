"""A weight search's confirmation stage (issue 23 item 1): the search's top weights trained again over seeds
and decided against the base preset, through the real entry point on tiny trials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from g2core import names
from g2core.study.confirm import confirm_seeds, confirm_spec, top_candidates
from g2core.study.spec import StudySpec
from tests.conftest import REPO, tiny

# 3 search trials, the top 2 confirmed with the base preset over 2 to 3 fresh seeds, 1 epoch each
SMALL = ("study.n_trials=3", "study.confirm_top_k=2", "study.first_seeds=2", "study.max_seeds=3",
         "trainer.max_epochs=1")  # fmt: skip
# Every weight the search may draw is the base preset's own (baseline: ssi 0.5, silog 0.5, rgrad 0), to
# within 1e-7: any difference the search saw is noise.
AS_BASELINE = ("study.search_space.ssi=[0.5,0.5000001]", "study.search_space.silog=[0.5,0.5000001]",
               "study.search_space.rgrad=[0.0,0.0000001]")  # fmt: skip


def search_command(root: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(REPO / "experiments" / "ablate.py"),
        "+study=weight_search",
        *tiny(root),
        *extra,
    ]


def search(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(search_command(root, *extra), capture_output=True, text=True, env=dict(os.environ))


def kill_9_at(root: Path, marker: str, *extra: str) -> str:
    """Run the search, kill -9 its whole process group 2 s after `marker` appears in its output; the output."""
    proc = subprocess.Popen(
        search_command(root, *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    seen, deadline = "", time.time() + 240
    while time.time() < deadline:
        line = proc.stdout.readline()
        seen += line
        if marker in seen or not line:
            time.sleep(2.0)
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert marker in seen, seen[-3000:]
    return seen


def runs(root: Path):
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("g2/weight_search")
    found = client.search_runs([exp.experiment_id])
    parent = next(r for r in found if r.data.tags.get(names.TAG_ROLE) == names.ROLE_PARENT)
    kids = [r for r in found if r.data.tags.get(names.TAG_ROLE) == names.ROLE_CHILD]
    return parent, kids


def finished_once(kids) -> Counter:
    return Counter((k.data.tags["variant"], k.data.tags["seed"]) for k in kids if k.info.status == "FINISHED")


def by_stage(kids, stage: str) -> list:
    return [k for k in kids if k.data.tags.get(names.TAG_STAGE) == stage]


def _study_with(values: list[tuple[float, float]], direction: str = "minimize") -> optuna.Study:
    """An in-memory search: trials with weight w_ssi and objective value, keyed like the worker keys them."""
    study = optuna.create_study(direction=direction)
    dist = {"w_ssi": optuna.distributions.FloatDistribution(0.0, 1.0)}
    for weight, value in values:
        study.add_trial(
            optuna.trial.create_trial(
                params={"w_ssi": weight},
                distributions=dist,
                value=value,
                user_attrs={names.ATTR_KEY: f"w-{weight}"},
            )
        )
    return study


def test_candidates_are_the_top_distinct_weight_sets_and_seeds_are_fresh() -> None:
    spec = StudySpec(name="s", kind="search", seeds=(0,), search_space={"ssi": (0.0, 1.0)}, confirm_top_k=2)
    # a retried trial (same weights, so the same key) is one candidate; ties by trial number
    study = _study_with([(0.3, 0.20), (0.1, 0.10), (0.1, 0.12), (0.7, 0.15), (0.9, 0.15)])
    assert top_candidates(spec, study) == {"w-0.1": {"ssi": 0.1}, "w-0.7": {"ssi": 0.7}}
    up = _study_with([(0.3, 0.20), (0.1, 0.10)], "maximize")
    assert list(top_candidates(StudySpec(**{**spec.__dict__, "direction": "maximize"}), up)) == [
        "w-0.3",
        "w-0.1",
    ]
    assert confirm_seeds(spec) == (1, 2, 3)  # the search trained with seed 0: its luck must not carry over
    staged = confirm_spec(spec, study)
    assert staged is not None and staged.kind == "ablation" and staged.stage == names.STAGE_CONFIRM
    assert staged.variants == ("baseline", "w-0.1", "w-0.7") and staged.baseline == "baseline"
    assert staged.optuna_name == "s.confirm" and staged.design.looks() == [2, 3]
    assert confirm_spec(StudySpec(**{**spec.__dict__, "confirm": False}), study) is None


@pytest.mark.slow
def test_search_ends_with_a_confirmation_and_resumes_without_training(root: Path) -> None:
    out = search(root, *SMALL)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "confirmation: the search's top 2" in out.stdout, out.stdout[-3000:]
    parent, kids = runs(root)
    searched, confirmed = by_stage(kids, names.STAGE_SEARCH), by_stage(kids, names.STAGE_CONFIRM)
    assert len(searched) == 3 and len(searched) + len(confirmed) == len(kids)
    # the top 2 weight sets by the search's objective, plus the base preset, over fresh seeds
    objective = {k.info.run_name: k.data.metrics["best/abs_rel"] for k in searched}
    top = sorted(objective, key=objective.get)[:2]
    variants = {k.data.tags["variant"] for k in confirmed}
    assert variants == {"baseline", *top}
    pairs = Counter((k.data.tags["variant"], k.data.tags["seed"]) for k in confirmed)
    assert set(pairs.values()) == {1} and {s for _, s in pairs} <= {"1", "2", "3"}
    assert all(k.info.status == "FINISHED" and "test/abs_rel" in k.data.metrics for k in confirmed)
    for key in top:  # a candidate trains the base preset with its own weights
        run = next(k for k in confirmed if k.data.tags["variant"] == key)
        search_run = next(k for k in searched if k.info.run_name == key)
        for term in ("ssi", "silog", "rgrad"):
            param = names.weight_param(term)
            assert float(run.data.params[param]) == pytest.approx(float(search_run.data.params[param]))
    # the answer is the confirmation's: the parent's verdict, each candidate's word, the report, the terminal
    verdict = parent.data.tags[names.TAG_VERDICT]
    assert verdict.startswith("Confirmed") and all(key in verdict for key in top)
    for key in top:
        assert parent.data.tags[names.verdict_tag(key)] in ("better", "worse", "equivalent", "undecided")
    readme = (root / "reports" / "weight_search" / "README.md").read_text()
    assert "## Confirmation" in readme and "Δ vs base [95% CI]" in readme
    # what each stage cost (1 epoch a run) and how validation ranked the trials for test (issue 23 item 3)
    compute = readme.split("## Compute and ranking", 1)[1].split("\n## ", 1)[0]
    n = len(confirmed)
    assert "| search | 3 | 3 |" in compute and f"| confirmation | {n} | {n} |" in compute, compute
    assert f"The confirmation cost {n / 3:.2f}x the search's trial-epochs" in compute
    assert "Spearman ρ = " in compute and "compute: search 3 trial-epochs" in out.stdout
    assert "Between the candidates" in readme  # whether the two can be told apart
    for kid in confirmed:  # each confirmation run says its candidate's verdict, as an ablation's children do
        want = (
            "baseline"
            if kid.data.tags["variant"] == "baseline"
            else parent.data.tags[names.verdict_tag(kid.data.tags["variant"])]
        )
        assert kid.data.tags[names.TAG_CHILD_VERDICT] == want
    assert readme.index("Confirmed") < readme.index("Best single trial")
    assert f"verdict: {verdict}" in out.stdout
    # the search's own tables count its trials only
    assert readme.count("| trial ") == 3 or "3 finished trial(s) ranked" in readme
    # the same command again trains nothing, in either stage, and says the same
    again = search(root, *SMALL)
    assert again.returncode == 0 and "start" not in again.stdout, again.stdout[-3000:]
    parent_again, kids_again = runs(root)
    assert len(kids_again) == len(kids) and parent_again.data.tags[names.TAG_VERDICT] == verdict


@pytest.mark.slow
def test_a_search_of_the_baselines_own_weights_never_ends_better(root: Path) -> None:
    out = search(root, *SMALL, *AS_BASELINE)
    assert out.returncode == 0, out.stderr[-3000:]
    parent, kids = runs(root)
    candidates = {k.data.tags["variant"] for k in by_stage(kids, names.STAGE_CONFIRM)} - {"baseline"}
    assert len(candidates) == 2
    words = {key: parent.data.tags[names.verdict_tag(key)] for key in candidates}
    assert set(words.values()) <= {"equivalent", "undecided"}, words


@pytest.mark.slow
def test_kill_9_in_the_confirmation_then_same_command_trains_nothing_twice(root: Path) -> None:
    kill_9_at(root, "confirm trial 1 start", *SMALL)  # inside the confirmation's second trial
    out = search(root, *SMALL)
    assert out.returncode == 0, out.stderr[-3000:]
    restarted = [line for line in out.stdout.splitlines() if "] trial " in line and " start: " in line]
    assert not restarted, restarted  # no search trial trained again
    assert "w-" in out.stdout and "confirm trial" in out.stdout
    parent, kids = runs(root)
    pairs = finished_once(by_stage(kids, names.STAGE_CONFIRM))
    assert set(pairs.values()) == {1} and len(pairs) >= 6, pairs  # 3 variants x 2 to 3 seeds, each once
    assert len(by_stage(kids, names.STAGE_CONFIRM)) == len(pairs)  # the killed one resumed in its own run
    assert parent.data.tags[names.TAG_VERDICT].startswith("Confirmed")
