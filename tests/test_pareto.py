"""A search of two objectives (issue 23 item 2): Optuna's multi-objective sampler, the Pareto front in the
report, the confirmation's candidates from the front."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from g2core import names
from g2core.report.pareto import non_dominated
from tests.conftest import REPO, tiny

SMALL = ("study.n_trials=3", "study.confirm_top_k=2", "study.first_seeds=2", "study.max_seeds=2",
         "trainer.max_epochs=1")  # fmt: skip


def brute_front(values: np.ndarray, lower: list[bool]) -> set[int]:
    """Rows no other row dominates, by the definition, pair by pair."""
    sign = np.where(lower, 1.0, -1.0)
    dominated = set()
    for i, j in itertools.permutations(range(len(values)), 2):
        a, b = sign * values[j], sign * values[i]
        if np.all(a <= b) and np.any(a < b):
            dominated.add(i)
    return set(range(len(values))) - dominated


def test_non_dominated_is_the_front_by_definition() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        values = rng.integers(0, 5, size=(rng.integers(1, 12), 2)).astype(float)  # ties included
        lower = [True, bool(rng.integers(0, 2))]
        assert set(np.flatnonzero(non_dominated(values, lower))) == brute_front(values, lower)


@pytest.mark.slow
def test_a_pareto_search_shows_its_front_and_confirms_from_it(root: Path) -> None:
    cmd = [sys.executable, str(REPO / "experiments" / "ablate.py"), "+study=weight_search_pareto", *tiny(root),
           *SMALL]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("g2/weight_search_pareto")
    found = client.search_runs([exp.experiment_id])
    parent = next(r for r in found if r.data.tags.get(names.TAG_ROLE) == names.ROLE_PARENT)
    kids = [r for r in found if r.data.tags.get(names.TAG_ROLE) == names.ROLE_CHILD]
    searched = [k for k in kids if k.data.tags.get(names.TAG_STAGE) == names.STAGE_SEARCH]
    assert len(searched) == 3
    # the report's front is the non-dominated set of the logged trials (abs_rel ↓, dbe_acc ↓)
    values = np.array([[k.data.metrics["best/abs_rel"], k.data.metrics["best/dbe_acc"]] for k in searched])
    front = {searched[i].info.run_name for i in brute_front(values, [True, True])}
    readme = (root / "reports" / "weight_search_pareto" / "README.md").read_text()
    section = readme.split("## Pareto front", 1)[1].split("\n## ", 1)[0]
    shown = {
        line.split("(", 1)[1].split(")", 1)[0]
        for line in section.splitlines()
        if line.startswith("| trial ") and "(" in line
    }
    assert shown == front, section
    assert (root / "reports" / "weight_search_pareto" / "search_pareto.png").exists()
    # the confirmation's candidates come from the front
    confirmed = {
        k.data.tags["variant"] for k in kids if k.data.tags.get(names.TAG_STAGE) == names.STAGE_CONFIRM
    }
    assert confirmed - {"baseline"} and confirmed - {"baseline"} <= front
    assert parent.data.tags[names.TAG_VERDICT].startswith("Confirmed")


@pytest.mark.parametrize(
    "value",
    ["[val/abs_rel]", "[val/abs_rel,val/abs_rel]", "[val/abs_rel,test/dbe_acc]", "[val/abs_rel,val/nope]"],
)
def test_bad_objectives_are_one_line_naming_the_key(value: str) -> None:
    from g2core.config import ConfigError, compose
    from g2core.study.spec import load_spec

    with pytest.raises(
        ConfigError, match=r"study\.objectives=.*expected two or more distinct validation metrics"
    ):
        load_spec(compose(["+study=weight_search_pareto", f"study.objectives={value}"], config_name="ablate"))


def test_a_pareto_spec_decides_on_its_first_objective() -> None:
    from g2core.config import compose
    from g2core.study.spec import load_spec

    spec = load_spec(compose(["+study=weight_search_pareto", "study.objectives=[val/delta1,val/dbe_acc]"],
                             config_name="ablate"))  # fmt: skip
    assert spec.metric == "val/delta1" and spec.direction == "maximize"
    assert spec.directions == ["maximize", "minimize"]
