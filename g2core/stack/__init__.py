"""Serving the tracking stack: the local MLflow UI, the team stack from local processes, compose checks.

CLI: `python -m g2core.stack up|down|status|env|ui|check-compose` (see `__main__`).
  mlflow_server.py, postgres.py   one process each;  local.py  the team stack from local processes
  ui.py        the MLflow UI on the default local store;  compose.py  docker-compose.yml checked offline
Trains nothing and reads no run: it serves the stores that g2core.tracking and g2core.study connect to.
"""

from g2core.stack.compose import ComposeError, validate_compose
from g2core.stack.mlflow_server import ServerError, ServerHandle, start_mlflow_server
from g2core.stack.postgres import PostgresError, PostgresHandle, start_postgres

__all__ = [
    "ComposeError",
    "PostgresError",
    "PostgresHandle",
    "ServerError",
    "ServerHandle",
    "start_mlflow_server",
    "start_postgres",
    "validate_compose",
]
