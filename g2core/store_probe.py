"""Can the stores be reached and written? One probe per kind of store, each answering within seconds.

The tracking URI (tracking.uri / MLFLOW_TRACKING_URI) and the Optuna storage (study.storage /
G2_STUDY_STORAGE) are checked before data are generated or anything is trained. Left to themselves the
drivers wait minutes (MLflow retries a database connection for about two; libpq waits for TCP's own
timeout on a host that does not answer) and end in a multi-line error; here a socket probe, a connect with
a short timeout, or a write probe on a local folder gives one line naming the key, where its value came
from, and the reason (g2core.config.ConfigError).

Light on purpose (stdlib; SQLAlchemy only for database URLs): the entry points call check_entry_stores
before importing torch, so an unreachable store is reported in seconds even on a busy machine.
g2core.tracking.store and g2core.study.storage call the same checks on their way in.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from g2core.config import ConfigError, redact
from g2core.net import http_error

TIMEOUT_S = 3.0  # each probe; libpq's connect_timeout counts whole seconds (2 at least)
TRACKING_ENV = "MLFLOW_TRACKING_URI"
STORAGE_ENV = "G2_STUDY_STORAGE"
TIMEOUT_ARG_BACKENDS = ("postgresql", "mysql", "mariadb")  # their drivers take connect_timeout (s)
DATABASES = ("postgresql", "mysql", "mariadb", "mssql", "oracle")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}
# What to install when a database driver is missing, by SQLAlchemy driver name.
DRIVER_HINTS = {
    "psycopg2": "use postgresql+psycopg://... (psycopg 3: pip install 'g2core[postgres]') or pip install psycopg2-binary",
    "psycopg": "pip install 'g2core[postgres]'",
    "mysqldb": "pip install mysqlclient, or pip install pymysql and use mysql+pymysql://...",
    "pymysql": "pip install pymysql",
}


def default_tracking_uri(root: str | Path) -> str:
    """The trainer's store when tracking.uri is unset (and the one `python -m g2core.stack ui` serves)."""
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


def resolve_tracking_uri(uri: str | None, root: str | Path) -> str:
    return str(uri) if uri else default_tracking_uri(root)


def health_url(uri: str) -> str:
    """An MLflow server's health endpoint."""
    return f"{uri.rstrip('/')}/health"


def named(key: str, value: str, env: str) -> str:
    """`key=value` for a message, the password redacted, saying so when the value came from `env`."""
    origin = f" (from {env})" if os.environ.get(env) == value else ""
    return f"{key}={redact('url', value)}{origin}"


def check_entry_stores(cfg: Any, *, study_storage: bool = True) -> None:
    """What an entry point checks before its heavy imports: tracking.uri, and study.storage when set
    (the default journal under paths.root is checked when the study opens it, as quickly)."""
    root = cfg.paths.root if "paths" in cfg else "."
    uri = cfg.tracking.uri if "tracking" in cfg else None
    check_tracking_uri(resolve_tracking_uri(uri, root))
    study = cfg.get("study") if study_storage else None
    storage = study.get("storage") if hasattr(study, "get") else None
    if storage:
        check_storage_url(str(storage))


def check_tracking_uri(uri: str) -> None:
    """Fail within seconds, naming tracking.uri, when the MLflow store cannot be reached or written."""
    key = named("tracking.uri", uri, TRACKING_ENV)
    if uri.startswith(("http://", "https://")):
        _check_http(uri, key)
    elif uri.startswith("sqlite:"):
        _check_sqlite(uri, key)
    elif uri.startswith("file:"):
        folder = Path(unquote(urlsplit(uri).path or uri.removeprefix("file:")))
        _check_folder(folder, key, "the MLflow file store")
    elif uri.split(":", 1)[0].split("+", 1)[0] in DATABASES:
        _check_database(uri, key, "tracking.uri")
    elif not uri.startswith("databricks"):
        raise ConfigError(f"{key}: unsupported scheme; use sqlite:///path/mlflow.db or http://host:port")


def check_storage_url(url: str) -> None:
    """Fail within seconds, naming study.storage, when the Optuna storage cannot be reached or written."""
    key = named("study.storage", url, STORAGE_ENV)
    if "://" not in url:  # a journal file
        _check_file(Path(url), key, "the Optuna journal")
    elif url.startswith("sqlite:"):
        _check_sqlite(url, key)
    elif url.split(":", 1)[0].split("+", 1)[0] in DATABASES:
        _check_database(url, key, "study.storage")


def connect_timeout(url: str, seconds: int = 10) -> dict[str, Any]:
    """SQLAlchemy engine_kwargs bounding each connect of a PostgreSQL or MySQL URL (their drivers wait for
    TCP's own timeout otherwise); {} for other URLs."""
    backend = url.split(":", 1)[0].split("+", 1)[0]
    return {"connect_args": {"connect_timeout": seconds}} if backend in TIMEOUT_ARG_BACKENDS else {}


def _check_http(uri: str, key: str) -> None:
    problem = http_error(health_url(uri), timeout=TIMEOUT_S)
    if problem is not None:
        raise ConfigError(
            f"{key}: no MLflow server answers ({problem}); start one "
            "(`python -m g2core.stack up` or `docker compose up -d`) or fix tracking.uri"
        )


def _check_sqlite(url: str, key: str) -> None:
    path = url.split("?", 1)[0].removeprefix("sqlite:").removeprefix("///")
    if path and path != ":memory:" and not url.startswith("sqlite://?"):
        _check_file(Path(path), key, "the SQLite database")


def _check_file(path: Path, key: str, what: str) -> None:
    """The file's folder can be created and written, and the file itself (if there) opened for writing."""
    _check_folder(path.parent, key, f"the folder of {what}")
    if path.exists():
        try:
            with open(path, "r+b"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"{key}: {what} {path} cannot be written ({_reason(exc)}); {_fix(key)}"
            ) from None


def _check_folder(folder: Path, key: str, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".g2-write-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{key}: {what} {folder} cannot be written ({_reason(exc)}); {_fix(key)}") from None


def _fix(key: str) -> str:
    name = key.split("=", 1)[0]
    return f"choose a writable path in {name} (or paths.root)"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _check_database(url: str, key: str, name: str) -> None:
    """The driver is installed, the server accepts a TCP connection, and a login succeeds, each in seconds."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"{key}: not a database URL ({_reason(exc)}); fix {name}") from None
    driver = parsed.get_driver_name()
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError) as exc:
        hint = DRIVER_HINTS.get(driver, f"install the driver for {parsed.drivername}")
        raise ConfigError(
            f"{key}: the database driver {driver!r} is not installed ({_reason(exc)}); {hint}"
        ) from None
    backend = parsed.get_backend_name()
    if parsed.host and not parsed.host.startswith("/"):
        _check_port(parsed.host, parsed.port or DEFAULT_PORTS.get(backend, 0), key, name)
    _check_login(parsed, key, name)


def _check_port(host: str, port: int, key: str, name: str) -> None:
    where = f"{host}:{port}"
    try:
        socket.create_connection((host, port), timeout=TIMEOUT_S).close()
    except TimeoutError:
        problem = f"no answer from {where} within {TIMEOUT_S:.0f} s"
    except socket.gaierror as exc:
        problem = f"unknown host {host!r} ({exc.strerror})"
    except OSError as exc:
        problem = f"nothing accepts connections on {where} ({_reason(exc)})"
    else:
        return
    raise ConfigError(f"{key}: the database server cannot be reached ({problem}); {_db_fix(name)}")


def _db_fix(name: str) -> str:
    return (
        f"check {name} and that the database server is running "
        "(`python -m g2core.stack up` or `docker compose up -d`)"
    )


def _check_login(parsed: Any, key: str, name: str) -> None:
    """Connect once with a short timeout, in a thread so that no driver can hold us longer."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    kwargs = connect_timeout(parsed.drivername, int(TIMEOUT_S))
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            engine = create_engine(parsed, poolclass=NullPool, **kwargs)
            with engine.connect():
                pass
            engine.dispose()
        except BaseException as exc:  # noqa: BLE001 (reported below, in the caller's thread)
            failure.append(exc)

    worker = threading.Thread(target=connect, name="g2-store-probe", daemon=True)
    worker.start()
    worker.join(TIMEOUT_S + 2)
    if worker.is_alive():
        problem = f"no login within {TIMEOUT_S + 2:.0f} s"
    elif failure:
        exc = failure[0]
        problem = _reason(getattr(exc, "orig", None) or exc)
    else:
        return
    where = f" at {parsed.host}:{parsed.port or ''}".rstrip(":") if parsed.host else ""
    raise ConfigError(
        f"{key}: cannot log in to the database{where} ({redact('url', problem)}); {_db_fix(name)}"
    )
