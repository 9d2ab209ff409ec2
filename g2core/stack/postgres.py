"""A PostgreSQL cluster run from the distribution's binaries: the team stack's database without Docker.

Layout under the stack directory DIR:
  DIR/pgpass        libpq password file (mode 0600): the generated password, never in the repository
  DIR/pg/data       the cluster (owned by the `postgres` OS user when we run as root)
  DIR/pg/postgres.log
"""

from __future__ import annotations

import glob
import ipaddress
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "apt-get install -y postgresql"
SUPERUSER = "postgres"
APP_USER = "g2"  # owns the application databases; MLflow and Optuna never need superuser rights
DATABASES = ("mlflow", "optuna")  # separate: both keep their own alembic_version table


class PostgresError(RuntimeError):
    pass


def find_pg_bin() -> Path:
    """Directory with initdb/pg_ctl/postgres of one version (Debian keeps them off PATH)."""

    def version(path: str) -> tuple[int, ...]:
        digits = Path(path).parent.name.split(".")
        return tuple(int(d) for d in digits if d.isdigit())

    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if (Path(bindir) / "initdb").exists() and (Path(bindir) / "pg_ctl").exists():
            return Path(bindir)
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).resolve().parent / "pg_ctl").exists():
        return Path(initdb).resolve().parent
    raise PostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or PATH: "
        f"install them with `{INSTALL_HINT}` (as root)"
    )


def _owner_kwargs() -> dict[str, str]:
    """PostgreSQL refuses to run as root, so as root every server command runs as `postgres`."""
    if os.geteuid() != 0:
        return {}
    try:
        import pwd

        pwd.getpwnam(SUPERUSER)
    except KeyError as exc:
        raise PostgresError(
            f"running as root needs the `postgres` OS user: `{INSTALL_HINT}` creates it"
        ) from exc
    return {"user": SUPERUSER, "group": SUPERUSER}


def _chown_to_owner(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, SUPERUSER, SUPERUSER)


def load_or_create_password(stack_dir: Path, host: str = "127.0.0.1") -> str:
    """Read the cluster password from DIR/pgpass, or generate one and write it there with mode 0600."""
    pgpass = stack_dir / "pgpass"
    if pgpass.exists():
        return pgpass.read_text().splitlines()[0].rsplit(":", 1)[1]
    password = secrets.token_urlsafe(24)  # URL-safe: it may appear in SQLAlchemy URLs unescaped
    # libpq's format (host:port:db:user:password) lets users point PGPASSFILE here instead of
    # pasting the password into configs.
    lines = [
        f"{h}:*:*:{u}:{password}" for h in {host, "127.0.0.1", "localhost"} for u in (APP_USER, SUPERUSER)
    ]
    fd = os.open(pgpass, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return password


@dataclass
class PostgresHandle:
    """A cluster started by `start_postgres` (or found again by `python -m g2core.stack`); `stop()` shuts it down."""

    bindir: Path
    data_dir: Path
    host: str
    port: int
    password: str
    ephemeral: bool = False
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.data_dir.parent / "postgres.log"

    def url_for(self, dbname: str, *, password: bool = True, user: str = APP_USER) -> str:
        """SQLAlchemy URL of one database; without password, libpq takes it from PGPASSFILE/PGPASSWORD."""
        secret = f":{self.password}" if password else ""
        return f"postgresql+psycopg://{user}{secret}@{self._client_host()}:{self.port}/{dbname}"

    def _client_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "*", "") else self.host

    def _options(self) -> str:
        # unix sockets off: the default socket dir may not exist or belong to another cluster.
        opts = f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories=''"
        if self.ephemeral:  # test clusters: durability buys nothing, start-up and DDL get faster
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        return opts

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args]
        result = subprocess.run(
            cmd, capture_output=True, text=True, cwd=self.data_dir.parent, **_owner_kwargs()
        )
        if check and result.returncode != 0:
            log = self.log_path.read_text()[-2000:] if self.log_path.exists() else ""
            raise PostgresError(f"`pg_ctl {args[-1]}` failed:\n{result.stdout}{result.stderr}\n{log}")
        return result

    def start(self, timeout: float = 30) -> None:
        self._pg_ctl("-l", str(self.log_path), "-w", "-t", str(int(timeout)), "-o", self._options(), "start")

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._pg_ctl("-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        return self._pg_ctl("status", check=False).returncode == 0


def _check_reachable(pgroot: Path) -> None:
    owner = _owner_kwargs()
    if owner and subprocess.run(["test", "-w", str(pgroot)], **owner).returncode != 0:
        raise PostgresError(
            f"the `postgres` OS user cannot reach {pgroot}: pick a directory whose parents it may "
            "traverse (e.g. under /tmp), or `chmod o+x` the parents"
        )


def _initdb(bindir: Path, data_dir: Path, password: str, fast: bool) -> None:
    pwfile = data_dir.parent / ".initdb-pw"  # initdb runs as postgres and must read it
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    _chown_to_owner(pwfile)
    cmd = [str(bindir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "-E", "UTF8", "--locale=C"]
    cmd += ["--auth=scram-sha-256", f"--pwfile={pwfile}"] + (["--no-sync"] if fast else [])
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=data_dir.parent, **_owner_kwargs())
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise PostgresError(f"initdb failed:\n{result.stdout}{result.stderr}")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, or "*" (every interface)
        return host == "localhost"


def _admit_remote_clients(data_dir: Path, host: str) -> None:
    """initdb admits loopback clients only; a non-loopback --host means other machines connect."""
    if _is_loopback(host):
        return
    hba = data_dir / "pg_hba.conf"
    rule = "host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n"
    if rule not in hba.read_text():
        with open(hba, "a") as f:
            f.write(rule)


def ensure_databases(handle: PostgresHandle, databases: tuple[str, ...] = DATABASES) -> None:
    """Create the application role and databases once; later starts find them and do nothing."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError as exc:
        raise PostgresError("the PostgreSQL client is missing: pip install 'psycopg[binary]'") from exc
    conninfo = handle.url_for("postgres", user=SUPERUSER).replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_USER,)).fetchone():
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(APP_USER), sql.Literal(handle.password)
                )
            )
        for db in databases:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(db), sql.Identifier(APP_USER)
                    )
                )


def start_postgres(
    stack_dir: str | os.PathLike[str],
    port: int,
    *,
    host: str = "127.0.0.1",
    ephemeral: bool = False,
    databases: tuple[str, ...] = DATABASES,
    timeout: float = 30,
) -> PostgresHandle:
    """Initialise (first time) and start a cluster under stack_dir on host:port; create the databases.

    `ephemeral=True` trades crash safety for speed (tests): no fsync at initdb or at run time.
    """
    bindir = find_pg_bin()
    stack_dir = Path(stack_dir).resolve()
    stack_dir.mkdir(parents=True, exist_ok=True)
    pgroot = stack_dir / "pg"
    pgroot.mkdir(mode=0o700, exist_ok=True)
    _chown_to_owner(pgroot)
    _check_reachable(pgroot)
    password = load_or_create_password(stack_dir, host)
    data_dir = pgroot / "data"
    if not (data_dir / "PG_VERSION").exists():
        _initdb(bindir, data_dir, password, fast=ephemeral)
    _admit_remote_clients(data_dir, host)
    handle = PostgresHandle(bindir, data_dir, host, port, password, ephemeral)
    handle.start(timeout)
    ensure_databases(handle, databases)
    return handle
