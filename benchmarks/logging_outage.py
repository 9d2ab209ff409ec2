"""Section 3, outage part: what MLflow's own asynchronous logging and g2core's RunTracker keep when the
tracking server goes away in the middle of a run and comes back (same port, same store).

Each side logs half its steps with the server up, the other half while it is stopped, then the server starts
again. MLflow's async queue sends each batch once: a batch whose request fails is reported by its
`RunOperations.wait()` and is gone. RunTracker keeps what the server did not receive (g2core.tracking.outage)
and sends it at its next flush once /health answers. HTTP retries are switched off for this part
(MLFLOW_HTTP_REQUEST_MAX_RETRIES=0) so that both sides meet the outage at once, not after MLflow's back-off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric

from benchmarks._common import Row, Section, Settings
from g2core.tracking import RunTracker

NO_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def _mlflow_async(client: MlflowClient, run_id: str, steps: range, values: Callable[[int], dict]) -> list:
    ops = []
    for step in steps:
        stamp = int(time.time() * 1000)
        metrics = [Metric(k, v, stamp, step) for k, v in values(step).items()]
        ops.append(client.log_batch(run_id, metrics=metrics, synchronous=False))
    return ops


def _failed(ops: list) -> int:
    failed = 0
    for op in ops:
        try:
            op.wait()
        except Exception:  # the batch's request failed: MLflow does not send it again
            failed += 1
    return failed


def measure_outage(
    root: Path, port: int, settings: Settings, section: Section, values: Callable[[int], dict], key: str
) -> None:
    from g2core.stack import start_mlflow_server

    saved = {name: os.environ.get(name) for name in NO_RETRIES}
    os.environ.update(NO_RETRIES)
    backend = f"sqlite:///{root / 'server.db'}"
    root.mkdir(parents=True, exist_ok=True)
    server = start_mlflow_server(root, port, backend, artifacts_dir=root / "artifacts")
    try:
        client = MlflowClient(server.uri)
        experiment_id = client.create_experiment(f"bench-outage-{time.time_ns()}")
        steps = settings.pick(20, 200)
        first, second = range(steps // 2), range(steps // 2, steps)
        theirs = client.create_run(experiment_id).info.run_id
        ours = client.create_run(experiment_id).info.run_id
        tracker = RunTracker(client, ours, asynchronous=True)
        _failed(_mlflow_async(client, theirs, first, values))
        for step in first:
            tracker.log_metrics(values(step), step)
        tracker.flush(wait=True)

        server.stop()
        start = time.perf_counter()
        lost_ops = _mlflow_async(client, theirs, second, values)
        their_caller = 1000 * (time.perf_counter() - start) / len(second)
        start = time.perf_counter()
        for step in second:
            tracker.log_metrics(values(step), step)
        tracker.flush()  # the server does not answer: kept, as a run's epoch-end flush would
        our_caller = 1000 * (time.perf_counter() - start) / len(second)
        failed = _failed(lost_ops)

        server = start_mlflow_server(root, port, backend, artifacts_dir=root / "artifacts")
        tracker.flush(wait=True)  # what a run does at its next flush; MLflow's queue has nothing to resend
        stored = {run: len(client.get_metric_history(run, key)) for run in (theirs, ours)}
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    section.rows.append(
        Row(
            f"http server outage: steps stored of {steps} ({len(second)} logged while it was down)",
            "MLflow async log_batch",
            "g2core RunTracker",
            "steps",
            [float(stored[theirs])],
            [float(stored[ours])],
            ratio_label="g2core / MLflow async",
        )
    )
    section.extra["outage_caller_ms_per_step"] = {
        "MLflow async log_batch": their_caller,
        "g2core RunTracker": our_caller,
    }
    section.extra["outage_mlflow_async_failed_batches"] = failed
