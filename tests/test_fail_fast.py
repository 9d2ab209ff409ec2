"""Stores that cannot be reached fail fast: a tracking URI or a study storage of any scheme that is down,
hangs, lacks its driver or cannot be written stops the real command within 10 seconds with one line that
names the key (and the environment variable it came from), exit status 2, no traceback, and nothing
generated or trained (no data cache, no checkpoint)."""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, tiny
from tests.faults._util import env
from tests.net_helpers import free_port

LIMIT_S = 10.0
CLOSED = free_port()  # nothing listens there
SECRET = "pw-SECRET-3318"
PG_DOWN = f"postgresql+psycopg://g2:{SECRET}@127.0.0.1:{CLOSED}/optuna"


def _entry(name: str, root: Path, *overrides: str) -> list[str]:
    study = ["+study=loss_terms"] if name in ("ablate", "report") else []
    # the report has no data, model or trainer keys
    keys = [f"paths.root={root}", *overrides] if name == "report" else tiny(root, *overrides)
    return [sys.executable, str(REPO / "experiments" / f"{name}.py"), *study, *keys]


def _cannot_override_permissions() -> None:
    """preexec_fn: as root, drop CAP_DAC_OVERRIDE (1) from the bounding set (PR_CAPBSET_DROP, 24) so the
    command meets a folder's permissions as any other user does; a no-op for other users."""
    if os.geteuid() == 0 and ctypes.CDLL(None, use_errno=True).prctl(24, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE)")


def refused(cmd: list[str], root: Path, *names: str, **extra_env: str) -> str:
    """Runs the command; asserts the fast, one-line refusal and that nothing was generated or trained."""
    started = time.monotonic()
    out = subprocess.run(
        cmd,
        env=env(**extra_env),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_cannot_override_permissions,
    )
    took = time.monotonic() - started
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2, (out.returncode, out.stdout[-1000:], out.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("g2-ablate: error: "), out.stderr[-2000:]
    assert "Traceback" not in out.stdout + out.stderr
    assert took < LIMIT_S, f"refused after {took:.1f} s: {lines[0]}"
    for name in names:
        assert name in lines[0], f"{name!r} not in: {lines[0]}"
    assert SECRET not in out.stdout + out.stderr
    assert not (root / "data").exists(), "data were generated"
    assert not list(root.rglob("*.pt")), "a checkpoint was written"
    return lines[0]


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers: a hung server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


TRACKING_DOWN: list[tuple[str, Callable[[int], str], tuple[str, ...]]] = [
    ("http", lambda port: f"http://127.0.0.1:{port}", ("no MLflow server answers",)),
    ("postgresql", lambda port: PG_DOWN.replace(str(CLOSED), str(port)), ("database server",)),
]


@pytest.mark.parametrize("entry", ["train", "ablate", "report"])
@pytest.mark.parametrize(("scheme", "url", "says"), TRACKING_DOWN, ids=[c[0] for c in TRACKING_DOWN])
def test_tracking_store_down(root: Path, entry: str, scheme: str, url, says: tuple[str, ...]) -> None:
    refused(_entry(entry, root, f"tracking.uri={url(CLOSED)}"), root, "tracking.uri=", str(CLOSED), *says)


@pytest.mark.parametrize(("scheme", "url", "says"), TRACKING_DOWN, ids=[c[0] for c in TRACKING_DOWN])
def test_tracking_server_that_never_answers(root: Path, hanging_port: int, scheme: str, url, says) -> None:
    refused(
        _entry("train", root, f"tracking.uri={url(hanging_port)}"), root, "tracking.uri=", str(hanging_port)
    )


def test_study_storage_down(root: Path) -> None:
    line = refused(_entry("ablate", root, f"study.storage={PG_DOWN}"), root, "study.storage=", str(CLOSED))
    assert "database server is running" in line


def test_values_from_the_environment_say_so(root: Path) -> None:
    refused(_entry("report", root), root, "(from MLFLOW_TRACKING_URI)", MLFLOW_TRACKING_URI=PG_DOWN)
    refused(_entry("ablate", root), root, "(from G2_STUDY_STORAGE)", G2_STUDY_STORAGE=PG_DOWN)


def test_mysql(root: Path) -> None:
    """Without a MySQL driver the line says which to install; with one, that nothing listens."""
    line = refused(_entry("train", root, f"tracking.uri=mysql://g2@127.0.0.1:{CLOSED}/mlflow"), root)
    assert "driver 'mysqldb' is not installed" in line or str(CLOSED) in line, line


@pytest.mark.parametrize("entry", ["train", "ablate"])
def test_sqlite_in_a_folder_that_cannot_be_written(root: Path, read_only: Path, entry: str) -> None:
    uri = f"sqlite:///{read_only / 'mlflow.db'}"
    refused(_entry(entry, root, f"tracking.uri={uri}"), root, "tracking.uri=", "cannot be written")


def test_file_store_on_a_read_only_path(root: Path, read_only: Path) -> None:
    uri = (read_only / "mlruns").as_uri()
    refused(_entry("train", root, f"tracking.uri={uri}"), root, "tracking.uri=file:", "cannot be written")


def test_journal_on_a_read_only_path(root: Path, read_only: Path) -> None:
    journal = read_only / "optuna.journal"
    refused(_entry("ablate", root, f"study.storage={journal}"), root, "study.storage=", "cannot be written")
