"""Where a study's workers run: `study.launcher` = local (processes here: g2core.study.runner), ray or slurm.

Every launcher starts the same worker loop (g2core.study.worker.work) against the same Optuna storage, the
single source of truth of which trials exist and which are done; so workers of any launcher, and ones
started by hand, can share a study, and the same command resumes it after its driver died.
"""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING

from optuna.trial import TrialState

from g2core.study.launch.settings import check_launcher, require

if TYPE_CHECKING:  # spec.py imports this package; worker.py imports spec.py
    from g2core.study.worker import TrialPlan

# launcher -> the module whose run(plan) starts its workers; the only modules that import Ray or submitit
LAUNCHERS = {"ray": "g2core.study.launch.ray_tasks", "slurm": "g2core.study.launch.slurm_jobs"}

__all__ = ["check_launcher", "launch_workers"]


def launch_workers(plan: TrialPlan) -> None:
    """Run plan.spec.workers workers on the launcher the study names, until they end; a worker lost on
    the way is reported, and its trial is reclaimed and queued again by the runner's next round."""
    name = plan.spec.launcher["name"]
    require(name)  # load_spec checked it already; a plan built by hand may not have been
    importlib.import_module(LAUNCHERS[name]).run(plan)
    settle_running(plan)


def settle_running(plan: TrialPlan, poll_s: float = 2.0) -> None:
    """After this launcher's workers ended, wait until no trial is RUNNING or every one left was reclaimed.

    A worker that died on another node leaves its trial RUNNING until its heartbeat is older than
    study.grace_s; without this wait the runner would find nothing to queue again and end the study
    unfinished. A trial of a live worker elsewhere (one started by hand) finishes or is waited out.
    """
    from g2core.study.storage import reclaim_stale
    from g2core.study.worker import load_study

    study, storage = load_study(plan)
    deadline = time.time() + plan.spec.grace_s + plan.spec.heartbeat_s
    while time.time() < deadline:
        reclaim_stale(study, storage, plan.spec)  # dead here at once, elsewhere once its heartbeat is stale
        if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            return
        time.sleep(poll_s)
