"""Where a study's workers run: `study.launcher` = local (processes here: g2core.study.runner), ray or slurm.

Every launcher starts the same worker loop (g2core.study.worker.work) against the same Optuna storage, the
single source of truth of which trials exist and which are done; so workers of any launcher, and ones
started by hand, can share a study, and the same command resumes it after its driver died.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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
