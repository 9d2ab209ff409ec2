"""MLflow tracking: where the store is, finding a run again, metrics in batches sent in the background,
and riding out a server outage.

  store.py    tracking.uri resolution and checks, the default local store, experiments
  runs.py     what finds a run again after a restart (tags) and the commit it ran on
  buffer.py   RunTracker: buffered, batched, asynchronous logging of one run
  outage.py   what the server has not received yet, kept and saved in checkpoints

Creating or resuming the run itself is g2core.train.run. Names (metric keys, tags) come from g2core.names;
the /health probe is g2core.net's. Nothing here imports torch or knows of studies.
"""

from g2core.tracking.buffer import MAX_BATCH, RunTracker
from g2core.tracking.outage import TrackingUnavailable
from g2core.tracking.runs import find_runs, git_commit
from g2core.tracking.store import (
    check_tracking_uri,
    default_artifacts_dir,
    default_tracking_uri,
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
    "find_runs",
    "get_or_create_experiment",
    "git_commit",
    "resolve_tracking_uri",
    "server_answers",
]
