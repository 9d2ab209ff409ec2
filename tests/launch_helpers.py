"""What tests/test_launch_ray.py and tests/test_launch_slurm.py share: start a study through the real entry
point, find a trial's worker in the Optuna storage while it trains, and check the finished study."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from g2core import names
from tests.conftest import REPO, tiny
from tests.test_study import TWO_BY_TWO, children, finished_pairs

PAIRS = Counter({(v, s): 1 for v in ("ssi_only", "ssi_silog") for s in ("0", "1")})


def start_study(root: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, str(REPO / "experiments" / "ablate.py"), "+study=loss_terms", *tiny(root)]
    cmd += [*TWO_BY_TWO, "study.workers=2", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def journal(root: Path) -> optuna.Study:
    path = root / "studies" / "loss_terms" / "optuna.journal"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.load_study(study_name="loss_terms", storage=storage)


def training_trial(root: Path, proc: subprocess.Popen, timeout: float, ready=lambda t: True) -> FrozenTrial:
    """A RUNNING trial whose worker named itself and whose MLflow child run exists (and `ready(trial)`)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if (root / "studies" / "loss_terms" / "optuna.journal").exists():
            try:
                running = journal(root).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            except KeyError:  # the study is not created yet
                running = []
            for trial in running:
                attrs = trial.user_attrs
                if attrs.get(names.ATTR_WORKER) and attrs.get(names.ATTR_RUN_ID) and ready(trial):
                    return trial
        time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"no trial started training in {timeout:.0f}s:\n{proc.communicate()[0][-3000:]}")


def assert_each_pair_trained_once(root: Path, output: str) -> None:
    """The layout and report of a local study: one parent, one FINISHED child per (variant, seed)."""
    _, parents, kids = children(root)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED", output[-3000:]
    assert finished_pairs(kids) == PAIRS, [(k.info.run_name, k.info.status) for k in kids]
    assert len(kids) == 4, [(k.info.run_name, k.info.status) for k in kids]
    assert all(k.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for k in kids)
    complete = journal(root).get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert Counter((t.params["variant"], str(t.params["seed"])) for t in complete) == PAIRS
    assert (root / "reports" / "loss_terms" / "README.md").exists() and "report:" in output
