"""The team stack from local processes: real PostgreSQL, a real `mlflow server`, real Optuna workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from g2core.names import TAG_SEED, TAG_VARIANT, VAL, metric_key
from g2core.net import http_ok
from g2core.stack.mlflow_server import ServerHandle
from g2core.stack.postgres import PostgresHandle
from tests.net_helpers import free_port, listening_addresses

pytestmark = pytest.mark.integration

STACK_CLI = [sys.executable, "-m", "g2core.stack"]
DELTA1 = metric_key(VAL, "delta1")

# An Optuna worker: waits for its sibling (so both really run in parallel), then takes enqueued
# trials until none is left. Losing the race for the last one yields a fresh sampled trial, which
# it fails instead of running, so a queued trial never runs twice.
OPTUNA_WORKER = r"""
import sys, time
from pathlib import Path
import optuna
from optuna.trial import TrialState

storage, name, barrier, me = sys.argv[1:5]
Path(barrier, me).touch()
while len(list(Path(barrier).iterdir())) < 2:
    time.sleep(0.05)
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name=name, storage=storage)
while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
    trial = study.ask()
    if "fixed_params" not in study.get_trials(deepcopy=False)[trial.number].system_attrs:
        study.tell(trial, state=TrialState.FAIL)
        break
    x = trial.suggest_int("x", 0, 2)
    trial.set_user_attr("worker", me)
    time.sleep(0.3)
    study.tell(trial, float(x))
"""


def _non_loopback_ipv4() -> str | None:
    """This machine's outward IPv4 address (a UDP connect sends nothing, it only picks a route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def _assert_loopback_only(port: int) -> None:
    assert listening_addresses(port) == ["127.0.0.1"], f"port {port} listens on {listening_addresses(port)}"
    outward = _non_loopback_ipv4()
    if outward is not None:
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((outward, port)) != 0, f"port {port} answers on {outward}"


def test_server_answers_health(mlflow_server: ServerHandle, stack_timings: dict[str, float]) -> None:
    assert http_ok(f"{mlflow_server.uri}/health")
    print("start-up seconds:", {k: round(v, 2) for k, v in stack_timings.items()})


def test_run_with_metric_and_artifact_reads_back(mlflow_server: ServerHandle, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    experiment_id = client.create_experiment(f"g2/it-{time.time_ns()}")
    run = client.create_run(experiment_id, tags={TAG_VARIANT: "baseline", TAG_SEED: "0"})
    for step, value in enumerate([0.5, 0.7, 0.9]):
        client.log_metric(run.info.run_id, DELTA1, value, step=step)
    (tmp_path / "config.yaml").write_text("loss:\n  weights: {adepth: 1.0}\n")
    client.log_artifact(run.info.run_id, str(tmp_path / "config.yaml"))
    client.set_terminated(run.info.run_id)

    # Proxied artifacts: clients never need the server's disk.
    assert client.get_run(run.info.run_id).info.artifact_uri.startswith("mlflow-artifacts:")
    history = client.get_metric_history(run.info.run_id, DELTA1)
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.7), (2, 0.9)]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["config.yaml"]
    local = client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path / "back"))
    assert Path(local).read_text() == (tmp_path / "config.yaml").read_text()


def test_optuna_storage_two_processes_run_each_trial_once(optuna_storage: str, tmp_path: Path) -> None:
    import optuna

    name = f"it-{time.time_ns()}"
    # Created once, here, before the workers start (concurrent creation races).
    study = optuna.create_study(study_name=name, storage=optuna_storage)
    for x in range(3):
        study.enqueue_trial({"x": x})
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    workers = [
        subprocess.Popen([sys.executable, "-c", OPTUNA_WORKER, optuna_storage, name, str(barrier), me])
        for me in ("a", "b")
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]

    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert sorted(t.params["x"] for t in done) == [0, 1, 2]
    assert {t.user_attrs["worker"] for t in done} == {"a", "b"}
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING))


def test_servers_bind_loopback_only(postgres: PostgresHandle, mlflow_server: ServerHandle) -> None:
    _assert_loopback_only(postgres.port)
    _assert_loopback_only(int(mlflow_server.uri.rsplit(":", 1)[1]))


def test_cli_up_status_env_down_round_trip(reachable_tmp: Path) -> None:
    stack = reachable_tmp / "stack"
    pg_port, mlflow_port = free_port(), free_port()
    args = ["--dir", str(stack)]
    try:
        started = time.perf_counter()
        up = subprocess.run(
            [*STACK_CLI, "up", *args, "--pg-port", str(pg_port), "--mlflow-port", str(mlflow_port)],
            capture_output=True,
            text=True,
            timeout=180,
        )
        print(f"`up` took {time.perf_counter() - started:.1f} s")
        assert up.returncode == 0, up.stderr
        assert f"tracking.uri=http://127.0.0.1:{mlflow_port}" in up.stdout
        assert f"study.storage=postgresql+psycopg://g2@127.0.0.1:{pg_port}/optuna" in up.stdout
        assert (stack / "pgpass").stat().st_mode & 0o777 == 0o600
        password = (stack / "pgpass").read_text().split(":")[-1].strip()
        assert password not in up.stdout

        status = subprocess.run([*STACK_CLI, "status", *args], capture_output=True, text=True)
        assert status.returncode == 0, status.stdout
        _assert_loopback_only(pg_port)
        _assert_loopback_only(mlflow_port)
        # the password stays out of every command line (`ps` shows those to all users)
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    pass

        env = subprocess.run([*STACK_CLI, "env", *args], capture_output=True, text=True).stdout
        exports = dict(line.removeprefix("export ").split("=", 1) for line in env.splitlines())
        assert exports["MLFLOW_TRACKING_URI"] == f"http://127.0.0.1:{mlflow_port}"
        # The printed storage URL works as printed, with PGPASSFILE as the only extra.
        check = "import optuna, sys; optuna.create_study(storage=sys.argv[1], study_name='cli')"
        result = subprocess.run(
            [sys.executable, "-c", check, exports["G2_STUDY_STORAGE"]],
            env={**os.environ, "PGPASSFILE": exports["PGPASSFILE"]},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads((stack / "stack.json").read_text())["mlflow_port"] == mlflow_port
    finally:
        down = subprocess.run([*STACK_CLI, "down", *args], capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert "mlflow server" in down.stdout and "postgresql" in down.stdout
    status = subprocess.run([*STACK_CLI, "status", *args], capture_output=True, text=True)
    assert status.returncode == 3 and "stopped" in status.stdout
    assert listening_addresses(pg_port) == [] and listening_addresses(mlflow_port) == []


def test_ui_serves_local_store_and_prints_runs_table_urls(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = MlflowClient(tracking_uri=store).create_experiment("g2/demo")
    MlflowClient(tracking_uri=store).create_experiment("other")
    port = free_port()
    ui = subprocess.Popen(
        [*STACK_CLI, "ui", "--root", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        lines = []
        assert ui.stdout is not None
        for line in ui.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        output = "".join(lines)
        expected = f"http://127.0.0.1:{port}/#/experiments/{experiment_id}?workflowType=machine_learning"
        assert f"g2/demo: {expected}" in output, output
        assert "other" not in output
        _assert_loopback_only(port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=30) == 0
    assert listening_addresses(port) == []


def test_missing_postgres_binaries_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import g2core.stack.postgres as pg

    monkeypatch.setattr(pg.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(pg.shutil, "which", lambda name: None)
    with pytest.raises(pg.PostgresError, match="apt-get install -y postgresql"):
        pg.find_pg_bin()
