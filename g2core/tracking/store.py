"""Where the tracking store is: the default local store, a check before any training, experiments."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from g2core.names import EXPERIMENT_KIND_TRAINING, TAG_EXPERIMENT_KIND, TAG_MLFLOW_NOTE
from g2core.net import http_ok
from g2core.store_probe import check_tracking_uri, default_tracking_uri, health_url, resolve_tracking_uri

ARTIFACTS_DIR = "mlartifacts"  # beside the default store, under paths.root

__all__ = [
    "check_tracking_uri",
    "default_artifacts_dir",
    "default_tracking_uri",
    "describe_experiment",
    "get_or_create_experiment",
    "resolve_tracking_uri",
    "server_answers",
]


def default_artifacts_dir(root: str | Path) -> Path:
    return Path(root).resolve() / ARTIFACTS_DIR


def server_answers(uri: str, timeout: float = 3.0) -> bool:
    """True unless an http(s) tracking server fails its /health check (file and database stores: True)."""
    return not uri.startswith(("http://", "https://")) or http_ok(health_url(uri), timeout)


MAX_NOTE = 7900  # characters of an experiment tag value MLflow keeps (8000)


def describe_experiment(client: MlflowClient, experiment_id: str, text: str) -> None:
    """The experiment's description in the UI (its `mlflow.note.content` tag, markdown)."""
    client.set_experiment_tag(experiment_id, TAG_MLFLOW_NOTE, text[:MAX_NOTE])


def get_or_create_experiment(client: MlflowClient, name: str, root: str | Path) -> str:
    """The experiment's id, created when missing; marked a training experiment (MLflow 3's kind tag)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if TAG_EXPERIMENT_KIND not in experiment.tags:  # made before the kind was set; a user's choice stays
            client.set_experiment_tag(experiment.experiment_id, TAG_EXPERIMENT_KIND, EXPERIMENT_KIND_TRAINING)
        return experiment.experiment_id
    location = None
    if client.tracking_uri.startswith("sqlite:"):
        # Keep artifacts beside the store under paths.root, not in the current directory.
        safe = name.replace("/", "_")
        location = (default_artifacts_dir(root) / safe).as_uri()
    try:
        # Without the kind, MLflow 3's UI opens the experiment in its GenAI pages, not the runs view.
        kind = {TAG_EXPERIMENT_KIND: EXPERIMENT_KIND_TRAINING}
        return client.create_experiment(name, artifact_location=location, tags=kind)
    except Exception:  # another worker created it between our lookup and create
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id
