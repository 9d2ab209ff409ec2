"""Session fixtures for the integration tier: a real PostgreSQL cluster and a real `mlflow server` on it.

Both start once per session on free ports, bound to 127.0.0.1, and are stopped at session end.
Use `postgres.url_for("optuna")` as an Optuna storage, `mlflow_server.uri` as a tracking URI;
`postgres.restart()` / `mlflow_server.stop()` are there for fault-injection tests.

The cluster is the one `python -m g2core.stack up` runs (g2core.stack.postgres), not pytest-postgresql's
`postgresql_proc`: that runs initdb and pg_ctl as the current user, and PostgreSQL refuses to run as
root, which CI containers are; g2core.stack.postgres runs them as the `postgres` OS user. The tests
also need what the stack sets up (password auth, the `g2` role, the mlflow and optuna databases).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from g2core.stack.mlflow_server import ServerHandle, start_mlflow_server
from g2core.stack.postgres import INSTALL_HINT, PostgresError, PostgresHandle, find_pg_bin, start_postgres
from tests.net_helpers import free_port


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything in this folder needs real servers: `-m "not integration"` must skip all of it.
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


def _install_postgres_or_skip() -> None:
    try:
        find_pg_bin()
        return
    except PostgresError as exc:
        reason = str(exc)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{reason} (not root: cannot run `{INSTALL_HINT}` here)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
    if subprocess.run(install, capture_output=True, env=env).returncode != 0:
        # A fresh machine may have no package lists yet.
        subprocess.run(["apt-get", "update"], capture_output=True, env=env)
        result = subprocess.run(install, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            pytest.skip(f"{reason}; `{INSTALL_HINT}` failed: {result.stderr[-500:]}")
    find_pg_bin()


def reachable_tmp_dir(prefix: str) -> Path:
    """A temporary directory the `postgres` OS user can enter (pytest's tmp_path parents are 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


@pytest.fixture
def reachable_tmp() -> Iterator[Path]:
    """Like tmp_path, but the `postgres` OS user can enter it: for tests that start their own cluster."""
    path = reachable_tmp_dir("g2-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def stack_timings() -> dict[str, float]:
    """Start-up seconds of the session's servers (printed by test_stack for the record)."""
    return {}


class RestartableCluster(PostgresHandle):
    """The stack's cluster plus what fault tests need: restart it, see that its server process changed."""

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def pid(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        return int(pidfile.read_text().split()[0]) if pidfile.exists() else None


@pytest.fixture(scope="session")
def postgres(stack_timings: dict[str, float]) -> Iterator[RestartableCluster]:
    _install_postgres_or_skip()
    root = reachable_tmp_dir("g2-pg-")
    started = time.perf_counter()
    pg = start_postgres(root, free_port(), ephemeral=True)
    handle = RestartableCluster(pg.bindir, pg.data_dir, pg.host, pg.port, pg.password, pg.ephemeral)
    stack_timings["postgres"] = time.perf_counter() - started
    try:
        yield handle
    finally:
        handle.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server(postgres: PostgresHandle, stack_timings: dict[str, float]) -> Iterator[ServerHandle]:
    root = reachable_tmp_dir("g2-mlflow-")
    started = time.perf_counter()
    handle = start_mlflow_server(root, free_port(), postgres.url_for("mlflow"))
    stack_timings["mlflow_server"] = time.perf_counter() - started
    try:
        yield handle
    finally:
        handle.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def tracking_uri(mlflow_server: ServerHandle) -> str:
    return mlflow_server.uri


@pytest.fixture(scope="session")
def optuna_storage(postgres: PostgresHandle) -> str:
    return postgres.url_for("optuna")
