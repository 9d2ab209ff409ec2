"""What identifies a run across restarts: its tags (to find it again), the code's commit, and the standard
tags MLflow's UI reads (who ran it, from which entry point, at which commit); `open_run`, the one way a run
is created or found again (a training run, a study's parent, an evaluation)."""

from __future__ import annotations

import getpass
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from g2core.config import PACKAGE_ROOT, ConfigError, project_root
from g2core.names import (
    ROLE_CHILD,
    RUNS_TABLE_QUERY,
    SOURCE_TYPE_LOCAL,
    TAG_CHILD_VERDICT,
    TAG_MLFLOW_GIT_COMMIT,
    TAG_MLFLOW_NOTE,
    TAG_MLFLOW_SOURCE_NAME,
    TAG_MLFLOW_SOURCE_TYPE,
    TAG_MLFLOW_USER,
    TAG_PARENT_RUN_ID,
    TAG_ROLE,
    TAG_SEED,
    TAG_STUDY,
    TAG_VARIANT,
    parent_run_name,
)
from g2core.tracking.buffer import RunTracker
from g2core.tracking.environment import environment_tags
from g2core.tracking.params import portable_path


def find_runs(client: MlflowClient, experiment_id: str, tags: Mapping[str, str]) -> list:
    """Runs of an experiment whose tags all match (used to resume a run that never checkpointed)."""
    clauses = [f"tags.`{k}` = '{v}'" for k, v in tags.items()]
    return client.search_runs(
        [experiment_id], " and ".join(clauses), max_results=50, order_by=["attributes.start_time ASC"]
    )


def open_run(
    client: MlflowClient,
    experiment_id: str,
    identity: Mapping[str, str],
    run_name: str,
    *,
    known_id: str | None = None,
    new: bool = False,
    keep_finished: bool = False,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    param_prefix: str = "",
    asynchronous: bool = True,
    unsent: Mapping | None = None,
) -> RunTracker:
    """The run of these identity tags, found again or created (`new`: always created), set RUNNING, with the
    standard tags, `tags` and `params` (written once, redacted) on it, as the tracker that writes to it.

    `known_id`: the run a checkpoint or a study recorded, taken while it is active; else the newest active
    run with the identity tags. `keep_finished`: a FINISHED run is handed back untouched
    (`tracker.already_finished`). `unsent`: what `known_id`'s checkpoint still held, sent when that run is
    the one opened.
    """
    run = None if new else _find_run(client, experiment_id, identity, known_id)
    if run is not None and keep_finished and run.info.status == "FINISHED":
        tracker = RunTracker(client, run.info.run_id)
        tracker.already_finished = True
        return tracker
    if run is None:
        run_id = client.create_run(experiment_id, tags=dict(identity), run_name=run_name).info.run_id
    else:
        run_id = run.info.run_id
        client.update_run(run_id, status="RUNNING")
    kept = unsent if known_id == run_id else None
    tracker = RunTracker(client, run_id, asynchronous=asynchronous, unsent=kept)
    # MlflowClient.create_run sets none of MLflow's standard tags (only mlflow.start_run does)
    note = trial_note(identity, tags or {}, run_name, experiment_id)
    tracker.write(tags={**standard_tags(), **note, **(tags or {})})
    tracker.log_params(params or {}, param_prefix)
    return tracker


def trial_note(
    identity: Mapping[str, str], tags: Mapping[str, Any], run_name: str, experiment_id: str
) -> dict[str, str]:
    """A study's trial run gets a description (`mlflow.note.content`) so that it is not blank in the UI: its
    variant, seed and study, and a link to the parent run, which carries the verdict and the report. The link
    is a relative UI route (it works on whatever host and port serve the store) in the classic runs view:
    MLflow opens a description's links in a new tab, which would otherwise show its GenAI pages."""
    parent = identity.get(TAG_PARENT_RUN_ID)
    if tags.get(TAG_ROLE) != ROLE_CHILD or not parent or TAG_MLFLOW_NOTE in tags:
        return {}
    study = tags.get(TAG_STUDY, "")
    route = f"#/experiments/{experiment_id}/runs/{parent}{RUNS_TABLE_QUERY}"
    return {
        TAG_MLFLOW_NOTE: f"Trial run `{run_name}` of study **{study}**: variant `{tags.get(TAG_VARIANT)}`, seed "
        f"{tags.get(TAG_SEED)}. The study's verdict, summary table and report are on its parent run "
        f"[{parent_run_name(study)}]({route}); this run's tag `{TAG_CHILD_VERDICT}` is its variant's."
    }


def _find_run(client: MlflowClient, experiment_id: str, identity: Mapping[str, str], known_id: str | None):
    if known_id:
        try:
            run = client.get_run(known_id)
            if run.info.lifecycle_stage == "active":
                return run
        except MlflowException:
            pass  # deleted from the store: found by its tags, or made again
    active = [r for r in find_runs(client, experiment_id, identity) if r.info.lifecycle_stage == "active"]
    return active[-1] if active else None


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
    if not Path(argv0).exists():
        return argv0
    # Relative to the project (`experiments/ablate.py`): the same on every machine, no local path on a server.
    return portable_path(str(Path(argv0).resolve()), str(project_root()))


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
