"""RunTracker: one MLflow run's metrics buffered and sent with log_batch, in the background by default.

What is MLflow's and what the project keeps (issue 14; measured by `python -m benchmarks --only logging`,
benchmarks/logging_cost.py and logging_outage.py): the sending itself is MLflow's own asynchronous logging,
`log_batch(..., synchronous=False)` (the queue and thread behind MLFLOW_ENABLE_ASYNC_LOGGING); nothing of
the project's replaces it. The project keeps two things MLflow's async logging does not do:
- the buffer in front of it: up to MAX_BATCH points per request instead of one request per step. Calling
  MLflow's async log_batch every step costs the caller more per step and takes several times longer to
  drain at the end of a run (quick smoke on sqlite: 0.39 vs 0.013 ms per step for the caller, 65 vs 10 ms
  per step including the drain; the benchmark's full run prints the ratios on sqlite and on a server);
- the outage persistence (outage.py): MLflow's queue sends a batch once, and a batch whose request fails
  is logged as an error and lost; RunTracker keeps what the server did not receive, saves it in
  checkpoints and sends it when the server answers again (smoke: 10 of 20 steps stored vs 20 of 20 after a
  server outage over half the run).
The resume floor (steps already stored are not sent again) is the project's too: MLflow has no such notion.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from g2core.config import flatten, redact
from g2core.names import BEST, BEST_EPOCH_KEY, LOSS, TAG_FAILURE, TEST, TRAIN, VAL, metric_key, split_of
from g2core.tracking.outage import Unsent
from g2core.tracking.params import portable_params
from g2core.tracking.store import server_answers

# MLflow's limits, kept here alone: metrics, params and tags per log_batch call, characters of a param value.
MAX_BATCH, MAX_PARAMS, MAX_TAGS, MAX_PARAM_LEN = 1000, 100, 100, 6000
MAX_REASON = 5000  # of the failure tag: MLflow keeps tag values up to 8000 characters
# Per metric prefix, the key whose last step tells how far a resumed run had logged: train/* and val/*
# every few steps, best/* and test/* once at the end. (The mean-depth reference is params, ref.<metric>.)
FLOOR_KEYS = {
    TRAIN: metric_key(TRAIN, LOSS),
    VAL: metric_key(VAL, LOSS),
    BEST: BEST_EPOCH_KEY,
    TEST: metric_key(TEST, "abs_rel"),
}


class RunTracker:
    """One MLflow run. Metrics are buffered and sent with log_batch, asynchronously unless told otherwise.

    On resume, metric steps already in the store are not sent again (`floor`), so a run that restarts
    from its last checkpoint logs every step exactly once.

    While the tracking server does not answer, metrics and deferrable artifacts are kept (`Unsent`) and
    sent again at the next flush, so training goes on through a server restart. What is still unsent is
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
        self._floor = {prefix: self._max_step(key) for prefix, key in FLOOR_KEYS.items()}
        self._unsent = Unsent(client.tracking_uri, unsent, self._stored)
        self.system_monitor: Any = None  # MLflow's SystemMetricsMonitor (tracking.system_metrics), if started
        self.already_finished = False  # open_run(keep_finished=True) found it FINISHED: nothing to write

    def _max_step(self, key: str) -> int:
        history = self.client.get_metric_history(self.run_id, key)
        return max((m.step for m in history), default=-1)

    def _stored(self, key: str, step: int) -> bool:
        """Whether the store already held this step of this key when the run was resumed."""
        return step <= self._floor.get(split_of(key), -1)

    def _answers(self) -> bool:
        return server_answers(self.client.tracking_uri)

    def log_metrics(self, values: Mapping[str, float], step: int) -> None:
        timestamp = int(time.time() * 1000)
        for key, value in values.items():
            if self._stored(key, step):
                continue
            self._buffer.append(Metric(key, float(value), timestamp, step))
        if len(self._buffer) >= MAX_BATCH:
            self.flush()

    def flush(self, wait: bool = False) -> None:
        pending, self._buffer = self._unsent.take_metrics() + self._buffer, []
        if (pending or self._unsent.artifacts) and not self._answers():
            self._unsent.keep(pending)
            pending = []
        for i in range(0, len(pending), MAX_BATCH):
            chunk = pending[i : i + MAX_BATCH]
            try:
                op = self.client.log_batch(self.run_id, metrics=chunk, synchronous=not self.asynchronous)
            except Exception as exc:  # a synchronous batch to a server that went away
                self._unsent.keep(pending[i:], exc)
                break
            if op is not None:
                self._pending.append((op, chunk))
        if wait:
            pending_ops, self._pending = self._pending, []
            for op, chunk in pending_ops:
                try:
                    op.wait()
                except Exception as exc:
                    self._unsent.keep(chunk, exc)
            if not self._unsent.metrics:
                self._send_artifacts()

    def unsent_state(self) -> dict[str, list]:
        """What the server has not received yet, as plain data for a checkpoint (flush(wait=True) first)."""
        return self._unsent.state()

    def log_params(self, params: Mapping[str, Any], prefix: str = "") -> None:
        """Nested or flat params, flattened and redacted (g2core.config.flatten) and written once: a key the
        run already has keeps its value, so a resumed run keeps the params it started with. Paths relative to
        paths.root, unset ones left out (g2core.tracking.params: the same on every machine)."""
        existing = self.client.get_run(self.run_id).data.params
        fresh = [
            Param(k, str(v)[:MAX_PARAM_LEN])
            for k, v in sorted(portable_params(flatten(params, prefix)).items())
            if k not in existing
        ]
        for i in range(0, len(fresh), MAX_PARAMS):
            self.client.log_batch(self.run_id, params=fresh[i : i + MAX_PARAMS], synchronous=True)

    def write(
        self, tags: Mapping[str, Any] | None = None, metrics: Mapping[str, float] | None = None, step: int = 0
    ) -> None:
        """Tags (redacted) and metrics sent now, not buffered: a run's settings, a summary, an evaluation."""
        now = int(time.time() * 1000)
        metric_list = [Metric(k, float(v), now, step) for k, v in sorted((metrics or {}).items())]
        tag_list = [RunTag(k, str(redact(k, v))) for k, v in sorted((tags or {}).items())]
        while metric_list or tag_list:
            batch = {"metrics": metric_list[:MAX_BATCH], "tags": tag_list[:MAX_TAGS]}
            self.client.log_batch(self.run_id, **batch, synchronous=True)
            metric_list, tag_list = metric_list[MAX_BATCH:], tag_list[MAX_TAGS:]

    def log_table(self, data: Any, artifact_file: str) -> None:
        """A table artifact the MLflow UI shows as a table (MlflowClient.log_table)."""
        self.client.log_table(self.run_id, data=data, artifact_file=artifact_file)

    def log_image(self, path: str | Path, key: str, step: int) -> bool:
        """A PNG as an MLflow image at a step (the chart view's image grid, compared across runs). Skipped
        (False) while the server does not answer: the same PNG is a deferrable artifact too."""
        if not self._answers():
            return False
        from PIL import Image  # only a run that draws samples needs it

        with Image.open(path) as image:
            self.client.log_image(self.run_id, image.convert("RGB"), key=key, step=step, synchronous=True)
        return True

    def log_artifact(
        self, path: str | Path, artifact_path: str | None = None, *, deferrable: bool = False
    ) -> None:
        """Upload a file; a deferrable one waits for the server when it does not answer."""
        if deferrable and (self._unsent.artifacts or not self._answers()):
            self._unsent.defer_artifact(path, artifact_path)  # queued behind those already waiting
            return
        try:
            self.client.log_artifact(self.run_id, str(path), artifact_path)
        except Exception as exc:
            if not deferrable:
                raise
            self._unsent.defer_artifact(path, artifact_path, exc)

    def _send_artifacts(self) -> None:
        waiting, self._unsent.artifacts = self._unsent.artifacts, []
        for i, (path, artifact_path) in enumerate(waiting):
            try:
                self.client.log_artifact(self.run_id, path, artifact_path)
            except Exception as exc:
                self._unsent.keep([], exc)
                self._unsent.artifacts = waiting[i:]
                return

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        """Send everything still buffered, then mark the run FINISHED / FAILED / KILLED.

        Raises TrackingUnavailable, leaving the run open to be resumed, when the server does not answer.
        """
        if self.system_monitor is not None:
            self.system_monitor.finish()  # its last sample is logged before the run is terminated
            self.system_monitor = None
        try:
            self.flush(wait=True)
        finally:
            if not self._unsent.empty:
                raise self._unsent.error()
            if reason:
                self.write(tags={TAG_FAILURE: reason[:MAX_REASON]})
            elif status == "FINISHED":
                self._clear_failure()
            self.client.set_terminated(self.run_id, status)

    def _clear_failure(self) -> None:
        """A run resumed after a failure has now finished: the failure it recorded no longer describes it
        (the report and the UI would list a finished run with an error). MLflow refuses to delete a tag
        that is not there, hence the look first."""
        if TAG_FAILURE in self.client.get_run(self.run_id).data.tags:
            self.client.delete_tag(self.run_id, TAG_FAILURE)
