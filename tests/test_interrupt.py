"""Ctrl-C as a terminal sends it (SIGINT to the whole process group) in a study and in a run: one line, no
traceback, status 130, the MLflow runs KILLED (not left RUNNING), the Optuna trial not lost; the same command
again resumes and finishes."""

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
from optuna.trial import TrialState

from g2core.cli import INTERRUPTED, INTERRUPTED_STATUS
from g2core.names import (
    ATTR_KEY,
    ROLE_CHILD,
    ROLE_PARENT,
    TAG_ROLE,
    TAG_RUN_KEY,
    TAG_SEED,
    TAG_VARIANT,
    TRAIN_EXPERIMENT,
    study_experiment,
)
from g2core.study.storage import open_storage
from tests.conftest import REPO, tiny

pytestmark = pytest.mark.slow

PAIRS = ("study.variants=[ssi_only,ssi_silog]", "study.baseline=ssi_silog", "study.seeds=[0]")
KEYS = {"ssi_only-s0", "ssi_silog-s0"}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}


def _as_a_terminal_starts_it() -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and a child inherits that
    # (CI may run the tests that way); a program started from a terminal gets the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(cmd: list[str], ready) -> tuple[int, str]:
    """Start `cmd` in its own session, send SIGINT to its process group once `ready(output)`, collect."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        start_new_session=True,
        preexec_fn=_as_a_terminal_starts_it,
    )
    seen, deadline = "", time.time() + 240
    while time.time() < deadline and not ready(seen):
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    assert ready(seen), seen[-3000:]
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    return proc.returncode, seen + rest


def _assert_one_line(status: int, output: str) -> None:
    assert status == INTERRUPTED_STATUS, output[-3000:]
    assert INTERRUPTED in output and "Traceback" not in output, output[-3000:]


def _runs(root: Path, experiment: str):
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id])


def _trials(root: Path) -> list:
    storage = open_storage(str(root / "studies" / "loss_terms" / "optuna.journal"))
    return optuna.load_study(study_name="loss_terms", storage=storage).get_trials(deepcopy=False)


def _epoch_line_of(keys: set[str], epoch: int = 1):
    """Ready when each key's trial printed its epoch line (its first checkpoint is written)."""
    return lambda out: all(f"{k} epoch {epoch}/" in out for k in keys)


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_in_a_study_then_the_same_command_resumes(root: Path, workers: int) -> None:
    cmd = [
        sys.executable,
        str(REPO / "experiments" / "ablate.py"),
        "+study=loss_terms",
        *tiny(root, "trainer.max_epochs=3"),
        *PAIRS,
        f"study.workers={workers}",
    ]
    running = {"ssi_only-s0"} if workers == 1 else KEYS
    status, output = _interrupt(cmd, _epoch_line_of(running))
    _assert_one_line(status, output)

    runs = _runs(root, study_experiment("loss_terms"))
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == ROLE_PARENT]
    kids = {r.info.run_name: r for r in runs if r.data.tags.get(TAG_ROLE) == ROLE_CHILD}
    assert [p.info.status for p in parents] == ["KILLED"]
    assert {k: kids[k].info.status for k in running} == {k: "KILLED" for k in running}
    assert "RUNNING" not in {r.info.status for r in runs}
    interrupted = [t for t in _trials(root) if t.user_attrs.get(ATTR_KEY) in running]
    assert interrupted and all(t.state != TrialState.COMPLETE for t in interrupted)

    again = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    for key in running:  # re-run, from its checkpoint: it starts at epoch 2
        assert f"start: {key}" in again.stdout and f"{key} epoch 1/" not in again.stdout, again.stdout
    runs = _runs(root, study_experiment("loss_terms"))
    assert {r.info.status for r in runs} == {"FINISHED"}
    kids = [r for r in runs if r.data.tags.get(TAG_ROLE) == ROLE_CHILD]
    pairs = Counter((r.data.tags[TAG_VARIANT], r.data.tags[TAG_SEED]) for r in kids)
    assert pairs == Counter({("ssi_only", "0"): 1, ("ssi_silog", "0"): 1})  # the same runs, resumed
    done = {t.user_attrs.get(ATTR_KEY) for t in _trials(root) if t.state == TrialState.COMPLETE}
    assert done == KEYS
    # what a user sees meanwhile and at the end: epoch lines with both ETAs, the summary, the balance table
    assert "trial ETA" in output and "study ETA" in output, output
    assert "verdict: " in again.stdout and "MLflow UI: python -m g2core.stack ui" in again.stdout
    readme = (root / "reports" / "loss_terms" / "README.md").read_text()
    assert "## Loss-term balance" in readme and "grad share silog" in readme


def test_ctrl_c_in_a_run_then_the_same_command_resumes(root: Path) -> None:
    cmd = [
        sys.executable,
        str(REPO / "experiments" / "train.py"),
        "experiment=ssi_only",
        *tiny(root, "trainer.max_epochs=3", "trainer.progress=true"),
    ]
    status, output = _interrupt(cmd, lambda out: "] epoch 1/3:" in out)  # the line, not the step bar
    _assert_one_line(status, output)
    (run,) = _runs(root, TRAIN_EXPERIMENT)
    assert run.info.status == "KILLED"

    again = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "] epoch 1/3:" not in again.stdout and "] epoch 3/3:" in again.stdout, again.stdout
    (resumed,) = _runs(root, TRAIN_EXPERIMENT)
    assert resumed.info.run_id == run.info.run_id and resumed.info.status == "FINISHED"
    assert resumed.data.tags[TAG_RUN_KEY]
