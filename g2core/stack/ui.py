"""`python -m g2core.stack ui`: the MLflow UI on the project's default local store.

The trainer logs to `sqlite:///<root>/mlflow.db` with artifacts in `<root>/mlartifacts` unless told
otherwise; this serves exactly that store, on 127.0.0.1, and prints a direct link to each study's
runs table.

The GenAI pages (issue 24): MLflow 3.17's UI opens an experiment, a run or Compare in the view named by the
address's `?workflowType=` (genai | machine_learning), else by the browser's localStorage key
`mlflow.workflowType_v1`, which only the sidebar's "GenAI | Model training" switch writes (default: GenAI).
Its workflow-based navigation is hard-wired on, so it never reads the experiment's `mlflow.experimentKind`
tag (set anyway, g2core.tracking.store, for MLflow UIs that do), and no server option or environment
variable selects the view. So every address printed here carries RUNS_TABLE_QUERY, and SWITCH_HINT tells
the user the one click that makes every other way in (Home, the Experiments list, a bare link) classic too.
"""

from __future__ import annotations

import signal
from pathlib import Path

from g2core.config import redact
from g2core.names import REPORT_DIR, REPORT_HTML, ROLE_PARENT, RUNS_TABLE_QUERY, TAG_ROLE, study_experiment
from g2core.stack.mlflow_server import ServerHandle, start_mlflow_server
from g2core.tracking.store import default_artifacts_dir, default_tracking_uri

EXPERIMENT_PREFIX = study_experiment("")  # g2/: every experiment g2 writes
SWITCH_HINT = (
    'MLflow opens experiments on its GenAI pages: click "Model training" at the top of its sidebar once '
    "(this browser remembers it); the links below open the runs view either way."
)


def experiment_url(server_uri: str, experiment_id: str) -> str:
    return f"{server_uri}/#/experiments/{experiment_id}{RUNS_TABLE_QUERY}"


def study_lines(server_uri: str, prefix: str = EXPERIMENT_PREFIX, store: str | None = None) -> list[str]:
    """Per study experiment its runs table, then each study's parent run and report (issue 24: the answer
    is one click away), as addresses of the server at `server_uri`, in the classic runs view."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store or server_uri)
    experiments = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", max_results=1000)
    lines = []
    for experiment in sorted(experiments, key=lambda e: e.name):
        experiment_id = experiment.experiment_id
        lines.append(f"  {experiment.name}: {experiment_url(server_uri, experiment_id)}")
        parents = client.search_runs(
            [experiment_id], f"tags.`{TAG_ROLE}` = '{ROLE_PARENT}'", order_by=["attributes.start_time DESC"]
        )
        for run in parents[:1]:  # the study's parent (a study has one)
            page = f"{server_uri}/#/experiments/{experiment_id}/runs/{run.info.run_id}"
            lines.append(f"    parent run: {page}{RUNS_TABLE_QUERY}")
            lines.append(f"    report:     {page}/artifacts/{REPORT_DIR}/{REPORT_HTML}{RUNS_TABLE_QUERY}")
    return lines


def start_ui(
    root: Path,
    port: int = 5000,
    store: str | None = None,
    host: str = "127.0.0.1",
    timeout: float = 120,
) -> ServerHandle:
    """Start `mlflow server` on the local store of `root` (or `store`); logs go to <root>/.stack/."""
    root = root.resolve()
    log_dir = root / ".stack"
    log_dir.mkdir(parents=True, exist_ok=True)
    return start_mlflow_server(
        log_dir,
        port,
        store or default_tracking_uri(root),
        host=host,
        artifacts_dir=default_artifacts_dir(root),
        log_path=log_dir / "mlflow-ui.log",
        timeout=timeout,
    )


def describe(server: ServerHandle, store: str) -> list[str]:
    lines = [
        f"MLflow UI: {server.uri}  (store {redact('uri', store)}; log {server.log_path})",
        f"  {SWITCH_HINT}",
    ]
    found = study_lines(server.uri)
    if not found:
        lines.append(
            f"  no {EXPERIMENT_PREFIX}* experiment in this store yet: run "
            "`python experiments/ablate.py +study=loss_terms`, then reload the experiments page"
        )
    return lines + found


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_ui(root: Path, port: int = 5000, store: str | None = None, host: str = "127.0.0.1") -> int:
    """Serve until Ctrl-C (or SIGTERM), then stop the server's whole process group."""
    store = store or default_tracking_uri(root.resolve())
    # SIGTERM (e.g. from a test or a process manager) takes the same clean path as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    # `mlflow server` takes ~20 s to answer on a loaded machine: say what is happening meanwhile.
    print(f"starting the MLflow UI on {host}:{port} (store {redact('uri', store)}) ...", flush=True)
    try:
        server = start_ui(root, port, store, host)
    except KeyboardInterrupt:
        return 130
    try:
        print("\n".join(describe(server, store)), flush=True)
        print("Ctrl-C stops the server.", flush=True)
        assert server.process is not None
        server.process.wait()
        print(f"mlflow server exited (code {server.process.returncode}); see {server.log_path}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
