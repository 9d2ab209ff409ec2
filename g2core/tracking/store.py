"""Where the tracking store is: the default local store, a check before any training, experiments."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from g2core.config import ConfigError, redact
from g2core.names import EXPERIMENT_KIND_TRAINING, TAG_EXPERIMENT_KIND
from g2core.stack.net import http_error, http_ok

ARTIFACTS_DIR = "mlartifacts"  # beside the default store, under paths.root


def default_tracking_uri(root: str | Path) -> str:
    """The trainer's store when tracking.uri is unset (and the one `python -m g2core.stack ui` serves)."""
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


def default_artifacts_dir(root: str | Path) -> Path:
    return Path(root).resolve() / ARTIFACTS_DIR


def resolve_tracking_uri(uri: str | None, root: str | Path) -> str:
    return str(uri) if uri else default_tracking_uri(root)


def _is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _health_url(uri: str) -> str:
    return f"{uri.rstrip('/')}/health"


def check_tracking_uri(uri: str) -> None:
    """Fail before any training when the store cannot be reached, naming tracking.uri."""
    if _is_http(uri):
        problem = http_error(_health_url(uri), timeout=5)
        if problem is not None:
            raise ConfigError(
                f"tracking.uri={redact('uri', uri)}: no MLflow server answers ({problem}); start one "
                "(`python -m g2core.stack up` or `docker compose up -d`) or fix tracking.uri"
            )
        return
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return
    if not uri.startswith(("postgresql", "mysql", "databricks", "file:")):
        raise ConfigError(
            f"tracking.uri={redact('uri', uri)}: unsupported scheme; use sqlite:///path/mlflow.db or http://host:port"
        )


def server_answers(uri: str, timeout: float = 3.0) -> bool:
    """True unless an http(s) tracking server fails its /health check (file and database stores: True)."""
    return not _is_http(uri) or http_ok(_health_url(uri), timeout)


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
