"""The compose stack's own scripts, run against local processes (no Docker engine on these machines).

docker/postgres-init/10-databases.sh runs against a fresh cluster the way the postgres image runs
it; docker/mlflow-entrypoint.sh then starts the tracking server with MLFLOW_AUTH=1 on the databases
it created, and basic auth must guard the API.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from g2core.net import http_ok, wait_until
from g2core.stack.mlflow_server import stop_process_group
from g2core.stack.postgres import SUPERUSER, start_postgres
from tests.net_helpers import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TEAM_USER, TEAM_PASSWORD = "team", "team-secret-1"
ADMIN_PASSWORD = "admin-secret-1"


def _get(url: str, auth: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_init_script_and_entrypoint_with_basic_auth(
    reachable_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    # The image installs mlflow[auth]; a dev environment without that extra cannot run this part.
    pytest.importorskip("flask_wtf", reason="MLflow basic auth needs Flask-WTF: pip install 'mlflow[auth]'")

    cluster = start_postgres(reachable_tmp / "pg", free_port(), ephemeral=True, databases=())
    server = None
    try:
        # As the image does: psql as the superuser, G2_DB_* from .env. libpq's PG* variables point
        # psql at our TCP port instead of the image's unix socket.
        env = {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(cluster.port),
            "PGPASSWORD": cluster.password,
            "POSTGRES_USER": SUPERUSER,
            "G2_DB_USER": TEAM_USER,
            "G2_DB_PASSWORD": TEAM_PASSWORD,
        }
        init = subprocess.run(
            ["bash", str(REPO / "docker/postgres-init/10-databases.sh")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert init.returncode == 0, init.stderr
        for db in ("mlflow", "optuna", "mlflow_auth"):
            conninfo = f"postgresql://{TEAM_USER}:{TEAM_PASSWORD}@127.0.0.1:{cluster.port}/{db}"
            with psycopg.connect(conninfo) as conn:  # the role owns each database: it may create tables
                conn.execute("CREATE TABLE probe (x int)")

        port = free_port()
        server_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "G2_DB_USER": TEAM_USER,
            "G2_DB_PASSWORD": TEAM_PASSWORD,
            "G2_DB_HOST": "127.0.0.1",
            "G2_DB_PORT": str(cluster.port),
            "G2_MLFLOW_HOST": "127.0.0.1",
            "G2_MLFLOW_PORT": str(port),
            "G2_ARTIFACTS_DESTINATION": str(reachable_tmp / "mlartifacts"),
            "TMPDIR": str(reachable_tmp),  # where the entrypoint writes its basic_auth.ini
            "MLFLOW_AUTH": "1",
            "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
        }
        with open(reachable_tmp / "mlflow.log", "wb") as log:
            server = subprocess.Popen(
                ["sh", str(REPO / "docker/mlflow-entrypoint.sh")],
                env=server_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=reachable_tmp,
            )
        uri = f"http://127.0.0.1:{port}"
        alive = lambda: server.poll() is None  # noqa: E731
        try:
            wait_until(lambda: http_ok(f"{uri}/health"), 120, "entrypoint's mlflow server", alive=alive)
        except (RuntimeError, TimeoutError):
            pytest.fail((reachable_tmp / "mlflow.log").read_text()[-3000:])

        search = f"{uri}/api/2.0/mlflow/experiments/search?max_results=10"
        assert _get(search) == 401
        assert _get(search, ("admin", "wrong")) == 401
        assert _get(search, ("admin", ADMIN_PASSWORD)) == 200
        # What docker/README.md tells clients to do: credentials from the environment.
        from mlflow.tracking import MlflowClient

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
        assert MlflowClient(tracking_uri=uri).create_experiment("g2/auth-check")
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert TEAM_PASSWORD.encode() not in cmdline and b"--app-name\0basic-auth" in cmdline
        with psycopg.connect(
            f"postgresql://{TEAM_USER}:{TEAM_PASSWORD}@127.0.0.1:{cluster.port}/mlflow_auth"
        ) as conn:
            assert conn.execute("SELECT username FROM users").fetchall() == [("admin",)]
    finally:
        if server is not None:
            stop_process_group(server.pid)
            server.wait(timeout=30)
        cluster.stop(mode="immediate")
