"""MLflow tracking, the one door through which anything writes to MLflow: where the store is, opening a run
(found again by its identity tags, or created), metrics in batches sent in the background, and riding out a
server outage.

  store.py    tracking.uri resolution and checks, the default local store, experiments
  runs.py     open_run: a training run, a study's parent or an evaluation, found again (tags) or created
  buffer.py   RunTracker: every write to one run, and every MLflow limit (batch sizes, value lengths)
  outage.py   what the server has not received yet, kept and saved in checkpoints

Names (metric keys, tags) come from g2core.names;
the /health probe is g2core.net's. Nothing here imports torch or knows of studies.
"""

from g2core.tracking.buffer import MAX_BATCH, RunTracker
from g2core.tracking.outage import TrackingUnavailable
from g2core.tracking.runs import find_runs, git_commit, open_run
from g2core.tracking.store import (
    check_tracking_uri,
    default_artifacts_dir,
    default_tracking_uri,
    describe_experiment,
    get_or_create_experiment,
    resolve_tracking_uri,
    server_answers,
)

__all__ = [
    "MAX_BATCH",
    "RunTracker",
    "TrackingUnavailable",
    "check_tracking_uri",
    "default_artifacts_dir",
    "default_tracking_uri",
    "describe_experiment",
    "find_runs",
    "get_or_create_experiment",
    "git_commit",
    "open_run",
    "resolve_tracking_uri",
    "server_answers",
]
