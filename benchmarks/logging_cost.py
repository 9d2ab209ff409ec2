"""Section 3: metric logging, the caller's time per training step with 10 metrics a step.

Sides, each on a fresh run of the same store, interleaved per round:
- sync per metric: `MlflowClient.log_metric` for every metric of every step (the naive way);
- sync batch per step: one synchronous `log_batch` of the step's 10 metrics (what Lightning's MLFlowLogger does);
- g2core async batched: `g2core.tracking.RunTracker.log_metrics` (buffered, `log_batch(synchronous=False)`
  every 1000 points); the final `flush(wait=True)` (drain) is reported separately, it happens once a run.
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
from g2core.names import TRAIN, metric_key
from g2core.tracking import RunTracker

METRICS_PER_STEP = 10
KEYS = [metric_key(TRAIN, f"m{i}") for i in range(METRICS_PER_STEP)]


def _values(step: int) -> dict[str, float]:
    return {key: 1.0 / (step + i + 1) for i, key in enumerate(KEYS)}


def _sides(
    client: MlflowClient, experiment_id: str, steps: int, drains: list[float]
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

    return {"sync log_metric": per_metric, "sync log_batch": batch_per_step, "g2core RunTracker": tracker}


def _measure(store: str, uri: str, settings: Settings, section: Section) -> None:
    client = MlflowClient(uri)
    experiment_id = client.create_experiment(f"bench-{store}-{time.time_ns()}")
    steps = settings.pick(20, 120)
    drains: list[float] = []
    sides = _sides(client, experiment_id, steps, drains)
    for side in sides.values():
        side()  # warm-up: connection, first queries, async thread pool start
    drains.clear()
    times = interleave(sides, settings.pick(1, 3))
    ours = times["g2core RunTracker"]
    for other in ("sync log_metric", "sync log_batch"):
        section.rows.append(
            Row(
                f"{store}: caller ms per step ({METRICS_PER_STEP} metrics, {steps} steps)",
                other,
                "g2core RunTracker (async batched)",
                "ms",
                times[other],
                ours,
                ratio_label="async / sync",
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
    section.extra[f"{store}_drain_ms_per_run"] = sorted(drains)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(settings: Settings) -> Section:
    section = Section("logging", "Metric logging: g2core async batched vs synchronous, caller time per step")
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
    return section
