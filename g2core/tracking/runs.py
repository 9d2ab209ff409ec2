"""What identifies a run across restarts: its tags (to find it again) and the code's commit."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from mlflow import MlflowClient

from g2core.config import PACKAGE_ROOT


def find_runs(client: MlflowClient, experiment_id: str, tags: Mapping[str, str]) -> list:
    """Runs of an experiment whose tags all match (used to resume a run that never checkpointed)."""
    clauses = [f"tags.`{k}` = '{v}'" for k, v in tags.items()]
    return client.search_runs(
        [experiment_id], " and ".join(clauses), max_results=50, order_by=["attributes.start_time ASC"]
    )


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PACKAGE_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
