"""An `mlflow server` process: the team tracking server, or the local UI on the SQLite store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from g2core.net import http_ok, pid_alive, port_in_use, wait_until
from g2core.store_probe import health_url

# Measured (DESIGN): one worker avoids ~44 ms per kept-alive request; the job runner costs 1.7 GB.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class ServerError(RuntimeError):
    pass


def split_password(backend_uri: str) -> tuple[str, dict[str, str]]:
    """Move a PostgreSQL password from the URI to PGPASSWORD so that `ps` never shows it.

    libpq reads PGPASSWORD from the process environment, which only the same OS user can see.
    """
    from sqlalchemy.engine import URL, make_url

    url = make_url(backend_uri)
    if not url.drivername.startswith("postgresql") or not url.password:
        return backend_uri, {}
    # URL.set(password=None) keeps the old value ("None = unchanged"), so rebuild the URL.
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
    return bare.render_as_string(hide_password=False), {"PGPASSWORD": str(url.password)}


def stop_process_group(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the server's process group (mlflow server + its uvicorn child), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)


@dataclass
class ServerHandle:
    """A running `mlflow server`; `process` is None when attached by pid (`python -m g2core.stack down`)."""

    uri: str
    pid: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def stop(self, timeout: float = 15.0) -> None:
        stop_process_group(self.pid, timeout)
        if self.process is not None:
            self.process.wait(timeout=timeout)

    def is_running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return pid_alive(self.pid)

    def healthy(self) -> bool:
        return http_ok(health_url(self.uri))


def _log_tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def start_mlflow_server(
    stack_dir: str | os.PathLike[str],
    port: int,
    backend_uri: str,
    *,
    host: str = "127.0.0.1",
    artifacts_dir: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 120,
) -> ServerHandle:
    """Start `mlflow server` in its own session (so it outlives a CLI and can be stopped as a group).

    Returns once GET /health answers; raises with the server's log when it dies or times out.
    """
    stack_dir = Path(stack_dir).resolve()
    stack_dir.mkdir(parents=True, exist_ok=True)
    artifacts = Path(artifacts_dir) if artifacts_dir is not None else stack_dir / "mlartifacts"
    log = Path(log_path) if log_path is not None else stack_dir / "mlflow.log"
    if port_in_use(host, port):
        raise ServerError(
            f"port {port} on {host} is already in use: choose another port (--port/--mlflow-port)"
        )
    uri_arg, secret_env = split_password(backend_uri)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port), "--workers", "1"]
    cmd += ["--backend-store-uri", uri_arg, "--artifacts-destination", str(artifacts), "--serve-artifacts"]
    cmd += list(extra_args)
    env = {**os.environ, **SERVER_ENV, **secret_env}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    client_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    handle = ServerHandle(f"http://{client_host}:{port}", process.pid, log, process)
    try:
        wait_until(handle.healthy, timeout, f"mlflow server on port {port}", alive=handle.is_running)
    except (RuntimeError, TimeoutError) as exc:
        handle.stop()
        raise ServerError(f"{exc}; its log ({log}) ends with:\n{_log_tail(log)}") from None
    except BaseException:  # Ctrl-C while waiting: leave no server behind
        handle.stop()
        raise
    return handle
