"""study/launcher=slurm through submitit's local executor (jobs as processes here): a job preempted
mid-trial is requeued, and its trial resumes from its checkpoint; no work is lost or duplicated."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from optuna.trial import TrialState

from g2core import names
from tests.launch_helpers import assert_each_pair_trained_once, journal, start_study, training_trial

pytest.importorskip("submitit")
pytestmark = pytest.mark.slow

SLURM = ("study/launcher=slurm", "study.launcher.cluster=local", "study.launcher.cpus=1")


def test_slurm_job_preempted_mid_trial_is_requeued_and_resumes_from_its_checkpoint(root: Path) -> None:
    proc = start_study(root, *SLURM, "trainer.max_epochs=2")
    runs = root / "studies" / "loss_terms" / "runs"

    def checkpointed(trial) -> bool:  # after its first epoch, before its last
        return (runs / trial.user_attrs[names.ATTR_KEY] / "last.pt").exists()

    victim = training_trial(root, proc, timeout=300, ready=checkpointed)
    key, worker = victim.user_attrs[names.ATTR_KEY], victim.user_attrs[names.ATTR_WORKER]
    os.kill(worker["pid"], signal.SIGUSR2)  # what SLURM sends before preempting or timing out a job
    output = proc.communicate(timeout=400)[0]
    assert proc.returncode == 0, output[-3000:]
    assert_each_pair_trained_once(root, output)
    released = journal(root).trials[victim.number]
    assert released.state == TrialState.FAIL and "worker died" in released.user_attrs[names.ATTR_FAILURE]
    logs = "".join(p.read_text() for p in (root / "studies" / "loss_terms" / "slurm").glob("*_log.*"))
    assert "this job is preempted" in logs and "queued again to resume" in logs, logs[-3000:]
    # resumed from last.pt: its first epoch was trained once, before the preemption
    assert logs.count(f"{key} epoch 1/2") == 1, logs[-3000:]
    assert logs.count(f"{key} epoch 2/2") == 1, logs[-3000:]


def test_a_search_and_its_confirmation_run_as_slurm_jobs(root: Path) -> None:
    """Both stages of a search go through the launcher: the search's trials and then its confirmation's, each
    a job of submitit's local executor, against the same storage and parent run (issue 23)."""
    from tests.test_confirm import by_stage, runs, search

    small = ("study.n_trials=2", "study.confirm_top_k=1", "study.first_seeds=2", "study.max_seeds=2")
    out = search(root, *SLURM, *small, "trainer.max_epochs=1")
    assert out.returncode == 0, out.stderr[-3000:]
    parent, kids = runs(root)
    searched, confirmed = by_stage(kids, names.STAGE_SEARCH), by_stage(kids, names.STAGE_CONFIRM)
    assert len(searched) == 2 and len(confirmed) == 4, [k.info.run_name for k in kids]  # (top 1 + base) x 2
    assert parent.info.status == "FINISHED" and all(k.info.status == "FINISHED" for k in kids)
    folder = root / "studies" / "weight_search" / "slurm"
    logs = "".join(p.read_text() for p in folder.glob("*_log.*"))
    assert "confirm trial" in logs and "] trial " in logs, logs[-3000:]  # each stage trained in a job
    assert "## Confirmation" in (root / "reports" / "weight_search" / "README.md").read_text()
