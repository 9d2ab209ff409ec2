"""Session fixtures for the browser tier: Debian's chromium driven by Playwright, and a real `mlflow server`
holding a small real study (logged over HTTP by `experiments/ablate.py`, as a team machine would).

Never downloads a browser: Playwright launches /usr/bin/chromium (installed from apt when missing).
Every test using `page` leaves a screenshot in test-artifacts/browser/<test name>.png, pass or fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from g2core.names import TAG_PARENT_RUN_ID, parent_run_name, study_experiment, trial_key
from g2core.stack.mlflow_server import ServerHandle, start_mlflow_server
from g2core.stack.ui import RUNS_TABLE_QUERY, experiment_url
from tests.conftest import REPO, tiny

# The integration tier's real PostgreSQL + mlflow server fixtures, re-exported for this folder (pytest
# scopes conftest fixtures by directory). `stack_timings` is what they record their start-up into.
from tests.integration.conftest import mlflow_server, postgres, stack_timings  # noqa: F401
from tests.net_helpers import free_port

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "apt-get update && apt-get install -y chromium"
# No sandbox: CI containers run as root. The rest keeps Chromium from reaching out to Google services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "test-artifacts" / "browser"
# The MLflow UI is a React app that fetches everything after load: it takes seconds to render.
UI_TIMEOUT_MS = 60_000

STUDY = "loss_terms"
EXPERIMENT = study_experiment(STUDY)
PARENT_RUN = parent_run_name(STUDY)
CHILD_RUNS = (trial_key("ssi_only", 0), trial_key("ssi_silog", 0))
# Two variants, one seed: a parent run with two children, each with its own loss terms.
STUDY_OVERRIDES = ("study.variants=[ssi_only,ssi_silog]", "study.baseline=ssi_silog", "study.seeds=[0]")

# MLflow-internal hooks, where the UI offers nothing a person reads: the '+' that nests a parent run's
# children in the runs table (an ag-grid cell), a node of a run's artifact tree, the assistant panel.
EXPAND_CHILDREN = '[col-id*="Run Name"] button, button[data-component-id*="runnamecellrenderer"]'
ARTIFACT_NODE = '[data-testid="artifact-tree-node"]'
CLOSE_ASSISTANT = 'button[data-component-id="mlflow.assistant.chat_panel.close"]'


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `-m "not browser"` must deselect everything in this folder, whatever a module marks itself.
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _install_chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} is missing"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{reason} (not root: cannot run `{INSTALL_HINT}` here)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # The package lists of a fresh machine may be missing or stale: update first.
    for step in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        result = subprocess.run(step, capture_output=True, text=True, env=env, timeout=900)
        if result.returncode != 0:
            pytest.skip(f"{reason}; `{' '.join(step)}` failed: {result.stderr[-500:]}")
    if not CHROMIUM.exists():
        pytest.skip(f"{reason} even after `{INSTALL_HINT}`")
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium binary, installed from apt when missing (root only), else the tier is skipped."""
    pytest.importorskip("playwright.sync_api", reason="playwright is missing: pip install -e '.[test]'")
    return _install_chromium_or_skip()


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser tab (1600x1200); its screenshot goes to test-artifacts/browser/<test>.png at the end."""
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    tab = context.new_page()
    tab.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield tab
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
        finally:
            context.close()


@pytest.fixture(scope="session")
def tracking_server(request: pytest.FixtureRequest) -> Iterator[ServerHandle]:
    """The integration tier's mlflow server on PostgreSQL; on a sqlite store when PostgreSQL cannot run."""
    try:
        server = request.getfixturevalue("mlflow_server")
    except pytest.skip.Exception as exc:
        print(f"browser tier: no PostgreSQL ({exc.msg}); serving MLflow from sqlite", file=sys.stderr)
        server = None
    if server is not None:
        yield server
        return
    root = Path(tempfile.mkdtemp(prefix="g2-browser-mlflow-"))
    handle = start_mlflow_server(root, free_port(), f"sqlite:///{root / 'mlflow.db'}")
    try:
        yield handle
    finally:
        handle.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class LoggedStudy:
    """Where the session's study lives on the tracking server."""

    uri: str
    experiment_id: str
    parent_run_id: str
    child_run_ids: dict[str, str]  # run name -> run id

    def experiment_url(self) -> str:
        return experiment_url(self.uri, self.experiment_id)

    def run_url(self, run_name: str, tab: str) -> str:
        """A run page's tab (model-metrics, artifacts, ...), in the classic (not GenAI) navigation."""
        run_id = self.parent_run_id if run_name == PARENT_RUN else self.child_run_ids[run_name]
        return f"{self.uri}/#/experiments/{self.experiment_id}/runs/{run_id}/{tab}{RUNS_TABLE_QUERY}"


def run_study(root: Path, *overrides: str, timeout: float = 600) -> float:
    """`experiments/ablate.py +study=loss_terms` at the tiny test scale (files under `root`); wall seconds."""
    cmd = [
        sys.executable,
        str(REPO / "experiments" / "ablate.py"),
        f"+study={STUDY}",
        *tiny(root),
        *overrides,
    ]
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return time.perf_counter() - started


@pytest.fixture(scope="session")
def logged_study(
    tracking_server: ServerHandle, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> LoggedStudy:
    """The two-variant loss_terms study, trained for real and logged to `tracking_server` over HTTP."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("study")
    seconds = run_study(root, *STUDY_OVERRIDES, f"tracking.uri={tracking_server.uri}")
    timings = request.getfixturevalue("stack_timings")  # what the integration fixtures took to start
    started = ", ".join(f"{name} {s:.1f}s" for name, s in timings.items())
    print(
        f"browser tier: study logged in {seconds:.1f}s (servers started: {started or 'none'})",
        file=sys.stderr,
    )
    client = MlflowClient(tracking_uri=tracking_server.uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None, f"the study logged no experiment {EXPERIMENT}"
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {PARENT_RUN, *CHILD_RUNS}, sorted(runs)
    parent_id = runs[PARENT_RUN].info.run_id
    for name in CHILD_RUNS:
        assert runs[name].data.tags.get(TAG_PARENT_RUN_ID) == parent_id, name
    return LoggedStudy(
        tracking_server.uri,
        experiment.experiment_id,
        parent_id,
        {name: runs[name].info.run_id for name in CHILD_RUNS},
    )


def show_child_runs(page, parent_link, child_names: tuple[str, ...]) -> dict[str, object]:
    """Expand the parent's row in the runs table unless its children show already; their links by name."""
    children = {name: page.get_by_role("link", name=name, exact=True) for name in child_names}
    if not all(link.is_visible() for link in children.values()):
        page.locator(".ag-row", has=parent_link).locator(EXPAND_CHILDREN).first.click()
    return children


def artifact(page, name: str):
    """A file or folder in a run's artifact tree, by its name (the tree labels each node with it)."""
    return page.get_by_label(name, exact=True)


def open_folder(page, name: str) -> None:
    """Click a folder of the artifact tree, then wait until it has slid open (an animation of MLflow's)."""
    from playwright.sync_api import expect

    node = artifact(page, name)
    node.click()
    folder = node.locator("xpath=ancestor::li[1]")
    expect(folder.locator(ARTIFACT_NODE).nth(1)).to_be_visible()
    # Until its box holds its last entry: before that, entries are clipped or overlap the next folder.
    page.wait_for_function(
        """li => {
            const nodes = li.querySelectorAll('[data-testid="artifact-tree-node"]');
            return li.getBoundingClientRect().bottom >= nodes[nodes.length - 1].getBoundingClientRect().bottom;
        }""",
        arg=folder.element_handle(),
        timeout=UI_TIMEOUT_MS,
    )


def close_assistant(page) -> None:
    """Close MLflow 3's assistant side panel when it is open: it takes a third of the width."""
    close = page.locator(CLOSE_ASSISTANT)
    if close.count() and close.first.is_visible():
        close.first.click()
