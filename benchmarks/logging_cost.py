"""Section 3: metric logging, the caller's time per training step with 10 metrics a step.

Sides, each on a fresh run of the same store, interleaved per round:
- sync per metric: `MlflowClient.log_metric` for every metric of every step (the naive way);
- sync batch per step: one synchronous `log_batch` of the step's 10 metrics (what Lightning's MLFlowLogger does);
- MLflow async: `log_batch(..., synchronous=False)` every step, MLflow's own asynchronous logging (what
  `MLFLOW_ENABLE_ASYNC_LOGGING=true` makes the fluent `mlflow.log_metric` do): a queue that a background
  thread drains in batches;
- g2core async batched: `g2core.tracking.RunTracker.log_metrics` (buffered, `log_batch(synchronous=False)`
  every 1000 points); the final `flush(wait=True)` (drain) is reported separately, it happens once a run.
Outage (full mode, on the server): each async side logs half its steps, the server stops, the other half is
logged, the server starts again on the same store; the row is the steps the store holds in the end.
The per-metric side runs a quarter of the steps (its per-step cost is flat and it is by far the slowest).
Stores: a local sqlite file, and an `mlflow server` on 127.0.0.1 started by `g2core.stack` (full mode only).
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mlflow import MlflowClient

from benchmarks._common import Row, Section, Settings, interleave
from benchmarks.logging_outage import measure_outage
from g2core.names import TRAIN, metric_key
from g2core.tracking import RunTracker

METRICS_PER_STEP = 10
KEYS = [metric_key(TRAIN, f"m{i}") for i in range(METRICS_PER_STEP)]


def _values(step: int) -> dict[str, float]:
    return {key: 1.0 / (step + i + 1) for i, key in enumerate(KEYS)}


def _sides(
    client: MlflowClient, experiment_id: str, steps: int, drains: list[float], mlflow_drains: list[float]
) -> dict[str, Callable[[], float]]:
    def new_run() -> str:
        return client.create_run(experiment_id).info.run_id

    def per_metric() -> float:
        run_id = new_run()
        few = max(5, steps // 4)  # 10 round trips a step: a quarter of the steps gives the same per-step mean
        start = time.perf_counter()
        for step in range(few):
            for key, value in _values(step).items():
                client.log_metric(run_id, key, value, step=step)
        return 1000 * (time.perf_counter() - start) / few

    def batch_per_step() -> float:
        from mlflow.entities import Metric

        run_id = new_run()
        start = time.perf_counter()
        for step in range(steps):
            stamp = int(time.time() * 1000)
            metrics = [Metric(k, v, stamp, step) for k, v in _values(step).items()]
            client.log_batch(run_id, metrics=metrics, synchronous=True)
        return 1000 * (time.perf_counter() - start) / steps

    def mlflow_async() -> float:
        from mlflow.entities import Metric

        run_id = new_run()
        start = time.perf_counter()
        ops = []
        for step in range(steps):
            stamp = int(time.time() * 1000)
            metrics = [Metric(k, v, stamp, step) for k, v in _values(step).items()]
            ops.append(client.log_batch(run_id, metrics=metrics, synchronous=False))
        caller = time.perf_counter() - start
        drain_start = time.perf_counter()
        for op in ops:
            op.wait()
        mlflow_drains.append(1000 * (time.perf_counter() - drain_start))
        return 1000 * caller / steps

    def tracker() -> float:
        run_id = new_run()
        tracked = RunTracker(client, run_id, asynchronous=True)  # its constructor reads the run: not timed
        start = time.perf_counter()
        for step in range(steps):
            tracked.log_metrics(_values(step), step)
        caller = time.perf_counter() - start
        drain_start = time.perf_counter()
        tracked.flush(wait=True)
        drains.append(1000 * (time.perf_counter() - drain_start))
        stored = len(client.get_metric_history(run_id, KEYS[-1]))
        if stored != steps:
            raise RuntimeError(f"RunTracker stored {stored} of {steps} steps of {KEYS[-1]}")
        return 1000 * caller / steps

    return {
        "sync log_metric": per_metric,
        "sync log_batch": batch_per_step,
        "MLflow async log_batch": mlflow_async,
        "g2core RunTracker": tracker,
    }


def _measure(store: str, uri: str, settings: Settings, section: Section) -> None:
    client = MlflowClient(uri)
    experiment_id = client.create_experiment(f"bench-{store}-{time.time_ns()}")
    steps = settings.pick(20, 120)
    drains: list[float] = []
    mlflow_drains: list[float] = []
    sides = _sides(client, experiment_id, steps, drains, mlflow_drains)
    for side in sides.values():
        side()  # warm-up: connection, first queries, async thread pool start
    drains.clear()
    mlflow_drains.clear()
    times = interleave(sides, settings.pick(1, 3))
    ours = times["g2core RunTracker"]
    for other in ("sync log_metric", "sync log_batch", "MLflow async log_batch"):
        section.rows.append(
            Row(
                f"{store}: caller ms per step ({METRICS_PER_STEP} metrics, {steps} steps)",
                other,
                "g2core RunTracker (async batched)",
                "ms",
                times[other],
                ours,
                ratio_label="g2core / MLflow async" if other.startswith("MLflow") else "async / sync",
            )
        )
    with_drain = [o + d / steps for o, d in zip(ours, drains, strict=True)]
    section.rows.append(
        Row(
            f"{store}: ms per step incl. the run's final drain (flush wait)",
            "sync log_batch",
            "g2core RunTracker + drain",
            "ms",
            times["sync log_batch"],
            with_drain,
            ratio_label="async / sync",
        )
    )
    theirs = [o + d / steps for o, d in zip(times["MLflow async log_batch"], mlflow_drains, strict=True)]
    section.rows.append(
        Row(
            f"{store}: ms per step incl. the run's final drain, both asynchronous",
            "MLflow async log_batch + drain",
            "g2core RunTracker + drain",
            "ms",
            theirs,
            with_drain,
            ratio_label="g2core / MLflow async",
        )
    )
    section.extra[f"{store}_drain_ms_per_run"] = sorted(drains)
    section.extra[f"{store}_mlflow_async_drain_ms_per_run"] = sorted(mlflow_drains)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(settings: Settings) -> Section:
    section = Section(
        "logging",
        "Metric logging: g2core async batched vs synchronous and MLflow's own async, caller time per step; "
        "what survives a server outage",
    )
    with tempfile.TemporaryDirectory(prefix="g2-bench-log-") as tmp:
        root = Path(tmp)
        _measure("sqlite", f"sqlite:///{root / 'mlflow.db'}", settings, section)
        if settings.quick:
            section.extra["server"] = "skipped in --quick (starting mlflow server takes 10-30 s)"
            return section
        try:
            from g2core.stack import start_mlflow_server
        except ImportError as exc:
            section.extra["server"] = f"skipped: g2core.stack.start_mlflow_server not importable ({exc})"
            return section
        try:
            server = start_mlflow_server(root / "server", _free_port(), f"sqlite:///{root / 'server.db'}")
        except Exception as exc:  # a server that does not start is a finding, not a crash of the suite
            section.extra["server"] = f"skipped: mlflow server did not start ({type(exc).__name__}: {exc})"[
                :500
            ]
            return section
        try:
            _measure("http server", server.uri, settings, section)
        finally:
            server.stop()
        measure_outage(root / "outage", _free_port(), settings, section, _values, KEYS[-1])
    return section
