"""MLflow tracking: where the store is, one run created or resumed, metrics in batches sent in the background.

Names follow DESIGN.md: `train/loss_<term>`, `val/<metric>`, `best/<metric>`; tags `variant`, `seed`,
`config_hash`, `git_commit`; artifacts `config.yaml`, `checkpoints/`, `samples/`.
"""

from __future__ import annotations

import logging
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from g2core.config import PACKAGE_ROOT, ConfigError, redact

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call
# Per metric prefix, the key whose last step tells how far a resumed run had logged: train/* and val/*
# every few steps, best/* once at the end, ref/* once at the start (step 0).
FLOOR_KEYS = {"train": "train/loss", "val": "val/loss", "best": "best/epoch", "ref": "ref/abs_rel"}
MAX_PARAM_LEN = 6000


def default_tracking_uri(root: str | Path) -> str:
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


def resolve_tracking_uri(uri: str | None, root: str | Path) -> str:
    return str(uri) if uri else default_tracking_uri(root)


def check_tracking_uri(uri: str) -> None:
    """Fail before any training when the store cannot be reached, naming tracking.uri."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConfigError(
                f"tracking.uri={redact('uri', uri)}: no MLflow server answers ({reason}); start one "
                "(`python -m g2core.stack up` or `docker compose up -d`) or fix tracking.uri"
            ) from None
        raise ConfigError(f"tracking.uri={redact('uri', uri)}: the server's /health did not answer 200")
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return
    if not uri.startswith(("postgresql", "mysql", "databricks", "file:")):
        raise ConfigError(
            f"tracking.uri={redact('uri', uri)}: unsupported scheme; use sqlite:///path/mlflow.db or http://host:port"
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


def get_or_create_experiment(client: MlflowClient, name: str, root: str | Path) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if client.tracking_uri.startswith("sqlite:"):
        # Keep artifacts beside the store under paths.root, not in the current directory.
        safe = name.replace("/", "_")
        location = (Path(root).resolve() / "mlartifacts" / safe).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # another worker created it between our lookup and create
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def find_runs(client: MlflowClient, experiment_id: str, tags: Mapping[str, str]) -> list:
    """Runs of an experiment whose tags all match (used to resume a run that never checkpointed)."""
    clauses = [f"tags.`{k}` = '{v}'" for k, v in tags.items()]
    return client.search_runs(
        [experiment_id], " and ".join(clauses), max_results=50, order_by=["attributes.start_time ASC"]
    )


class TrackingUnavailable(RuntimeError):
    """The tracking server stopped answering and some run data could not be sent (it is kept, not lost)."""


def server_answers(uri: str, timeout: float = 3.0) -> bool:
    """True unless an http(s) tracking server fails its /health check (file and database stores: True)."""
    if not uri.startswith(("http://", "https://")):
        return True
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class RunTracker:
    """One MLflow run. Metrics are buffered and sent with log_batch, asynchronously unless told otherwise.

    On resume, metric steps already in the store are not sent again (`floor`), so a run that restarts
    from its last checkpoint logs every step exactly once.

    While the tracking server does not answer, metrics and deferrable artifacts are kept and sent
    again at the next flush, so training goes on through a server restart. What is still unsent is
    saved in every checkpoint (`unsent_state`) and handed back on resume (`unsent=`): a run that ends
    during an outage loses nothing, and the same command sends it once the server is back.
    """

    def __init__(
        self, client: MlflowClient, run_id: str, *, asynchronous: bool = True, unsent: Mapping | None = None
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.asynchronous = asynchronous
        self._buffer: list[Metric] = []
        self._pending: list[tuple[Any, list[Metric]]] = []
        self._unsent: list[Metric] = []
        self._unsent_artifacts: list[tuple[str, str | None]] = []
        self._floor = {prefix: self._max_step(key) for prefix, key in FLOOR_KEYS.items()}
        for key, value, timestamp, step in (unsent or {}).get("metrics", []):
            if not self._stored(key, step):
                self._unsent.append(Metric(key, float(value), int(timestamp), int(step)))
        self._unsent_artifacts = [
            (str(p), a) for p, a in (unsent or {}).get("artifacts", []) if Path(p).exists()
        ]

    def _max_step(self, key: str) -> int:
        history = self.client.get_metric_history(self.run_id, key)
        return max((m.step for m in history), default=-1)

    def _stored(self, key: str, step: int) -> bool:
        """Whether the store already held this step of this key when the run was resumed."""
        return step <= self._floor.get(key.split("/", 1)[0], -1)

    def log_metrics(self, values: Mapping[str, float], step: int) -> None:
        timestamp = int(time.time() * 1000)
        for key, value in values.items():
            if self._stored(key, step):
                continue
            self._buffer.append(Metric(key, float(value), timestamp, step))
        if len(self._buffer) >= MAX_BATCH:
            self.flush()

    def _keep(self, metrics: list[Metric], exc: BaseException | None) -> None:
        """Keep metrics that could not be sent, if the server is down; any other failure is raised."""
        if exc is not None and server_answers(self.client.tracking_uri):
            raise exc
        if not self._unsent and not self._unsent_artifacts:
            log.warning(
                "tracking server %s does not answer: training goes on; metrics and sample images are "
                "kept (and saved in checkpoints) until it answers",
                redact("uri", self.client.tracking_uri),
            )
        self._unsent.extend(metrics)

    def flush(self, wait: bool = False) -> None:
        pending, self._buffer = self._unsent + self._buffer, []
        self._unsent = []
        if (pending or self._unsent_artifacts) and not server_answers(self.client.tracking_uri):
            self._keep(pending, None)
            pending = []
        for i in range(0, len(pending), MAX_BATCH):
            chunk = pending[i : i + MAX_BATCH]
            try:
                op = self.client.log_batch(self.run_id, metrics=chunk, synchronous=not self.asynchronous)
            except Exception as exc:  # a synchronous batch to a server that went away
                self._keep(pending[i:], exc)
                break
            if op is not None:
                self._pending.append((op, chunk))
        if wait:
            pending_ops, self._pending = self._pending, []
            for op, chunk in pending_ops:
                try:
                    op.wait()
                except Exception as exc:
                    self._keep(chunk, exc)
            if not self._unsent:
                self._send_artifacts()

    def unsent_state(self) -> dict[str, list]:
        """What the server has not received yet, as plain data for a checkpoint (flush(wait=True) first)."""
        return {
            "metrics": [[m.key, m.value, m.timestamp, m.step] for m in self._unsent],
            "artifacts": [[p, a] for p, a in self._unsent_artifacts],
        }

    def log_params(self, params: Mapping[str, Any]) -> None:
        existing = self.client.get_run(self.run_id).data.params
        fresh = [
            Param(k, str(redact(k, v))[:MAX_PARAM_LEN])
            for k, v in sorted(params.items())
            if k not in existing
        ]
        for i in range(0, len(fresh), 100):
            self.client.log_batch(self.run_id, params=fresh[i : i + 100], synchronous=True)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.log_batch(
            self.run_id, tags=[RunTag(k, str(redact(k, v))) for k, v in tags.items()], synchronous=True
        )

    def log_artifact(
        self, path: str | Path, artifact_path: str | None = None, *, deferrable: bool = False
    ) -> None:
        """Upload a file; a deferrable one waits for the server when it does not answer."""
        if deferrable and (self._unsent_artifacts or not server_answers(self.client.tracking_uri)):
            self._defer_artifact(path, artifact_path, None)  # queued behind those already waiting
            return
        try:
            self.client.log_artifact(self.run_id, str(path), artifact_path)
        except Exception as exc:
            if not deferrable:
                raise
            self._defer_artifact(path, artifact_path, exc)

    def _defer_artifact(self, path: str | Path, artifact_path: str | None, exc: BaseException | None) -> None:
        self._keep([], exc)
        self._unsent_artifacts.append((str(path), artifact_path))

    def _send_artifacts(self) -> None:
        waiting, self._unsent_artifacts = self._unsent_artifacts, []
        for i, (path, artifact_path) in enumerate(waiting):
            try:
                self.client.log_artifact(self.run_id, path, artifact_path)
            except Exception as exc:
                self._keep([], exc)
                self._unsent_artifacts = waiting[i:]
                return

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        """Send everything still buffered, then mark the run FINISHED / FAILED / KILLED.

        Raises TrackingUnavailable, leaving the run open to be resumed, when the server does not answer.
        """
        try:
            self.flush(wait=True)
        finally:
            if self._unsent or self._unsent_artifacts:
                raise TrackingUnavailable(
                    f"tracking.uri={redact('uri', self.client.tracking_uri)}: the MLflow server does not answer; "
                    f"{len(self._unsent)} metric values and {len(self._unsent_artifacts)} files are not sent yet "
                    "(the run's checkpoint keeps them): start the server, then run the same command again"
                )
            if reason:
                self.set_tags({"g2.failure": reason[:5000]})
            self.client.set_terminated(self.run_id, status)
