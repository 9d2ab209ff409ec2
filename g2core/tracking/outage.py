"""Riding out a tracking-server outage: what the server has not received is kept, saved in checkpoints,
and sent once it answers again, so a run that ends during an outage loses nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from mlflow.entities import Metric

from g2core.config import redact
from g2core.tracking.store import server_answers

log = logging.getLogger(__name__)


class TrackingUnavailable(RuntimeError):
    """The tracking server stopped answering and some run data could not be sent (it is kept, not lost)."""


class Unsent:
    """Metric values and files the server has not received, in the order they were logged.

    `state` is the plain-data form a checkpoint holds; a resumed run hands it back, minus the metric
    steps the store already had (`stored`) and the files that no longer exist.
    """

    def __init__(
        self,
        uri: str,
        state: Mapping | None = None,
        stored: Callable[[str, int], bool] = lambda key, step: False,
    ) -> None:
        self.uri = uri
        state = state or {}
        self.metrics = [
            Metric(key, float(value), int(timestamp), int(step))
            for key, value, timestamp, step in state.get("metrics", [])
            if not stored(key, step)
        ]
        self.artifacts = [(str(p), a) for p, a in state.get("artifacts", []) if Path(p).exists()]

    @property
    def empty(self) -> bool:
        return not self.metrics and not self.artifacts

    def take_metrics(self) -> list[Metric]:
        """The kept metrics, to be sent first at the next flush (kept again if that fails)."""
        metrics, self.metrics = self.metrics, []
        return metrics

    def keep(self, metrics: list[Metric], exc: BaseException | None = None) -> None:
        """Keep metrics that could not be sent, if the server is down; any other failure is raised."""
        if exc is not None and server_answers(self.uri):
            raise exc
        if self.empty:
            log.warning(
                "tracking server %s does not answer: training goes on; metrics and sample images are "
                "kept (and saved in checkpoints) until it answers",
                redact("uri", self.uri),
            )
        self.metrics.extend(metrics)

    def defer_artifact(
        self, path: str | Path, artifact_path: str | None, exc: BaseException | None = None
    ) -> None:
        self.keep([], exc)
        self.artifacts.append((str(path), artifact_path))

    def state(self) -> dict[str, list]:
        return {
            "metrics": [[m.key, m.value, m.timestamp, m.step] for m in self.metrics],
            "artifacts": [[p, a] for p, a in self.artifacts],
        }

    def error(self) -> TrackingUnavailable:
        return TrackingUnavailable(
            f"tracking.uri={redact('uri', self.uri)}: the MLflow server does not answer; "
            f"{len(self.metrics)} metric values and {len(self.artifacts)} files are not sent yet "
            "(the run's checkpoint keeps them): start the server, then run the same command again"
        )
