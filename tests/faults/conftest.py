"""Fixtures of the faults tier: a shared synthetic data cache and an initialised MLflow SQLite store per
test (both cost seconds each to create on this CPU), PostgreSQL from the integration tier, and an
`mlflow server` that a test may stop and start again."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from g2core.stack.mlflow_server import ServerHandle, start_mlflow_server
from tests.integration.conftest import postgres, reachable_tmp_dir, stack_timings  # noqa: F401  (fixtures)
from tests.net_helpers import free_port

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # `-m "not faults"` skips the whole folder, whatever a module declares
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """In-process training on one thread, like the OMP_NUM_THREADS=1 subprocesses: the same numbers, and
    no two-thread spin-waiting on a busy 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic scenes of `tiny` runs, generated once for the session."""
    from g2core.data import ensure_synthetic_cache

    root = tmp_path_factory.mktemp("data")
    ensure_synthetic_cache(root, 32, 8, 32, 32, 0)
    return root


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow SQLite store: copying it saves each test the schema migrations."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def root(tmp_path: Path, mlflow_template: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    shutil.copy(mlflow_template, path / "mlflow.db")
    return path


@dataclass
class RestartableServer:
    """An `mlflow server` on PostgreSQL that a test stops and starts again on the same port and store."""

    folder: Path
    port: int
    backend: str
    handle: ServerHandle | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.handle = start_mlflow_server(self.folder, self.port, self.backend)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()
            self.handle = None


@pytest.fixture(scope="session")
def tracking_server(request: pytest.FixtureRequest) -> Iterator[RestartableServer]:
    """On the session's PostgreSQL, as a team runs it; on a SQLite file where PostgreSQL cannot run."""
    folder = reachable_tmp_dir("g2-faults-mlflow-")
    try:
        backend = request.getfixturevalue("postgres").url_for("mlflow")
    except pytest.skip.Exception:
        backend = f"sqlite:///{folder / 'mlflow.db'}"
    server = RestartableServer(folder, free_port(), backend)
    server.start()
    try:
        yield server
    finally:
        server.stop()  # a test that stopped it has started it again (or left it stopped: harmless here)
        shutil.rmtree(folder, ignore_errors=True)
