"""Where a study's workers run: `study.launcher` = local (processes here: g2core.study.runner), ray or slurm.

Every launcher starts the same worker loop (g2core.study.worker.work) against the same Optuna storage, the
single source of truth of which trials exist and which are done; so workers of any launcher, and ones
started by hand, can share a study, and the same command resumes it after its driver died.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from g2core.config import ConfigError
from g2core.study.launch.settings import check_launcher

if TYPE_CHECKING:  # spec.py imports this package; worker.py imports spec.py
    from g2core.study.worker import TrialPlan

# launcher -> (module with run(plan), the package it needs, the extra that installs it)
LAUNCHERS = {
    "ray": ("g2core.study.launch.ray_tasks", "ray", "ray"),
    "slurm": ("g2core.study.launch.slurm_jobs", "submitit", "slurm"),
}

__all__ = ["check_launcher", "launch_workers"]


def require(package: str, launcher: str, extra: str) -> None:
    """One line naming the extra when the launcher's package is not installed."""
    try:
        importlib.import_module(package)
    except ImportError:
        raise ConfigError(
            f"study.launcher={launcher}: needs the {package!r} package; pip install -e '.[{extra}]'"
        ) from None


def launch_workers(plan: TrialPlan) -> None:
    """Run plan.spec.workers workers on the launcher the study names, until they end; a worker lost on
    the way is reported, and its trial is reclaimed and queued again by the runner's next round."""
    name = plan.spec.launcher["name"]
    module, package, extra = LAUNCHERS[name]
    require(package, name, extra)
    importlib.import_module(module).run(plan)
