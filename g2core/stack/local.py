"""The team stack from local processes (no Docker): PostgreSQL + `mlflow server`, managed in one directory.

`up` leaves both servers running after the command exits; `down` stops them; DIR/stack.json remembers
ports and the server's pid between commands. The database password lives only in DIR/pgpass (0600):
the printed URLs carry none, libpq finds it through PGPASSFILE.
"""

from __future__ import annotations

import json
from pathlib import Path

from g2core.net import http_ok, pid_alive
from g2core.stack.mlflow_server import start_mlflow_server, stop_process_group
from g2core.stack.postgres import (
    DATABASES,
    PostgresError,
    PostgresHandle,
    find_pg_bin,
    load_or_create_password,
    start_postgres,
)
from g2core.store_probe import health_url

STATE_FILE = "stack.json"


def _read_state(stack_dir: Path) -> dict:
    path = stack_dir / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _write_state(stack_dir: Path, state: dict) -> None:
    path = stack_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(path)  # atomic: a killed `up` never leaves half a state file


def _postgres(stack_dir: Path, state: dict) -> PostgresHandle | None:
    data_dir = stack_dir / "pg" / "data"
    if not (data_dir / "PG_VERSION").exists() or "pg_port" not in state:
        return None
    password = load_or_create_password(stack_dir, state["host"])
    return PostgresHandle(find_pg_bin(), data_dir, state["host"], state["pg_port"], password)


def _server_pid(state: dict) -> int | None:
    """The recorded mlflow pid, if that process still exists and is still an mlflow server."""
    pid = state.get("mlflow_pid")
    if not pid or not pid_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"mlflow" in cmdline else None  # guards against a recycled pid


def urls(stack_dir: Path, state: dict) -> dict[str, str]:
    pg = _postgres(stack_dir, state)
    storage = pg.url_for("optuna", password=False) if pg else ""
    host = "127.0.0.1" if state["host"] in ("0.0.0.0", "") else state["host"]
    return {
        "tracking.uri": f"http://{host}:{state['mlflow_port']}",
        "study.storage": storage,
        "PGPASSFILE": str(stack_dir / "pgpass"),
    }


def up(
    stack_dir: Path, pg_port: int = 5433, mlflow_port: int = 5001, host: str = "127.0.0.1"
) -> dict[str, str]:
    """Start whatever is not running yet; returns the URLs to put in configs."""
    stack_dir = stack_dir.resolve()
    state = _read_state(stack_dir)
    pg = _postgres(stack_dir, state)
    if pg is None or not pg.is_running():
        pg = start_postgres(stack_dir, pg_port, host=host)
        state.update(host=host, pg_port=pg_port)
        _write_state(stack_dir, state)
    if _server_pid(state) is None:
        server = start_mlflow_server(stack_dir, mlflow_port, pg.url_for("mlflow"), host=host)
        server.process = None  # detach: the server outlives this command, `down` stops it by pid
        state.update(mlflow_port=mlflow_port, mlflow_pid=server.pid)
        _write_state(stack_dir, state)
    return urls(stack_dir, state)


def down(stack_dir: Path) -> list[str]:
    """Stop the server, then the database (the server holds connections to it)."""
    stack_dir = stack_dir.resolve()
    state = _read_state(stack_dir)
    stopped = []
    pid = _server_pid(state)
    if pid is not None:
        stop_process_group(pid)
        stopped.append(f"mlflow server (pid {pid})")
    state.pop("mlflow_pid", None)
    pg = _postgres(stack_dir, state)
    if pg is not None and pg.is_running():
        pg.stop()
        stopped.append(f"postgresql (port {pg.port})")
    if state:
        _write_state(stack_dir, state)
    return stopped


def status(stack_dir: Path) -> tuple[bool, list[str]]:
    """(everything runs, one line per component)."""
    stack_dir = stack_dir.resolve()
    state = _read_state(stack_dir)
    if "pg_port" not in state:
        return False, [f"no stack in {stack_dir}: start one with `python -m g2core.stack up`"]
    pg = _postgres(stack_dir, state)
    pg_up = pg is not None and pg.is_running()
    lines = [
        f"postgresql: running on {state['host']}:{state['pg_port']} (databases {', '.join(DATABASES)})"
        if pg_up
        else "postgresql: stopped"
    ]
    pid = _server_pid(state)
    healthy = False
    if pid is None:
        lines.append("mlflow server: stopped")
    else:
        uri = urls(stack_dir, state)["tracking.uri"]
        healthy = http_ok(health_url(uri))
        lines.append(
            f"mlflow server: {'running at' if healthy else 'not answering /health at'} {uri} (pid {pid})"
        )
    return pg_up and healthy, lines


def env_lines(stack_dir: Path) -> list[str]:
    """Shell exports for `eval "$(python -m g2core.stack env)"`: MLflow and Optuna clients pick these up."""
    stack_dir = stack_dir.resolve()
    state = _read_state(stack_dir)
    if "mlflow_port" not in state:
        raise PostgresError(f"no stack in {stack_dir}: start one with `python -m g2core.stack up`")
    found = urls(stack_dir, state)
    return [
        f"export MLFLOW_TRACKING_URI={found['tracking.uri']}",
        f"export G2_STUDY_STORAGE={found['study.storage']}",
        f"export PGPASSFILE={found['PGPASSFILE']}",
    ]
