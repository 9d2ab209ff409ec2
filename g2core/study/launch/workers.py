"""Starting a study's workers on the launcher it names (ray or slurm), and settling what they leave."""

from __future__ import annotations

import importlib
import time

from optuna.trial import TrialState

from g2core.study.launch.settings import require
from g2core.study.plan import TrialPlan, load_study
from g2core.study.storage import reclaim_stale

# launcher -> the module whose run(plan) starts its workers; the only modules that import Ray or submitit
LAUNCHERS = {"ray": "g2core.study.launch.ray_tasks", "slurm": "g2core.study.launch.slurm_jobs"}


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
    study, storage = load_study(plan)
    deadline = time.time() + plan.spec.grace_s + plan.spec.heartbeat_s
    while time.time() < deadline:
        reclaim_stale(study, storage, plan.spec)  # dead here at once, elsewhere once its heartbeat is stale
        if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            return
        time.sleep(poll_s)
