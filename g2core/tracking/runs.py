"""What identifies a run across restarts: its tags (to find it again), the code's commit, and the standard
tags MLflow's UI reads (who ran it, from which entry point, at which commit)."""

from __future__ import annotations

import getpass
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from g2core.config import PACKAGE_ROOT, ConfigError
from g2core.names import (
    SOURCE_TYPE_LOCAL,
    TAG_MLFLOW_GIT_COMMIT,
    TAG_MLFLOW_SOURCE_NAME,
    TAG_MLFLOW_SOURCE_TYPE,
    TAG_MLFLOW_USER,
)
from g2core.tracking.environment import environment_tags


def find_runs(client: MlflowClient, experiment_id: str, tags: Mapping[str, str]) -> list:
    """Runs of an experiment whose tags all match (used to resume a run that never checkpointed)."""
    clauses = [f"tags.`{k}` = '{v}'" for k, v in tags.items()]
    return client.search_runs(
        [experiment_id], " and ".join(clauses), max_results=50, order_by=["attributes.start_time ASC"]
    )


def git_commit(full: bool = False) -> str:
    """The checkout's commit (short; `full`: the 40-digit hash MLflow's own tag holds), or "unknown"."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", *([] if full else ["--short"]), "HEAD"],
            cwd=PACKAGE_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "unknown"


def source_name() -> str:
    """The entry point, as mlflow.start_run names it: the script run, or `python -m <module>`'s module."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return spec.name
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    return str(Path(argv0).resolve()) if Path(argv0).exists() else argv0


def standard_tags() -> dict[str, str]:
    """mlflow.user, mlflow.source.name/.type and mlflow.source.git.commit, as mlflow.start_run sets them.

    MlflowClient.create_run sets none of them (only the fluent API does), so every run the project
    creates gets them here; the commit is left out when the code is not a git checkout.
    """
    tags = {
        TAG_MLFLOW_USER: _user(),
        TAG_MLFLOW_SOURCE_NAME: source_name(),
        TAG_MLFLOW_SOURCE_TYPE: SOURCE_TYPE_LOCAL,
    }
    commit = git_commit(full=True)
    if commit != "unknown":
        tags[TAG_MLFLOW_GIT_COMMIT] = commit
    return {**tags, **environment_tags()}  # env.*: what made the numbers (g2core/tracking/environment.py)


def start_system_metrics(uri: str, run_id: str, *, resume: bool) -> Any:
    """MLflow's own system-metrics logger (system/* metrics every 10 s) on the run, started; needs psutil.

    Returns the monitor, whose finish() stops it (RunTracker.finish does).
    """
    try:
        import psutil  # noqa: F401  (MLflow's CPU/memory/disk monitors)
    except ImportError as exc:
        raise ConfigError(
            "tracking.system_metrics=true needs psutil: pip install -e '.[system]' (or set it false)"
        ) from exc
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(run_id, resume_logging=resume, tracking_uri=uri)
    monitor.start()
    return monitor
