"""`python -m g2core.stack ui` (what `make ui` runs) on a directory holding a study in the default local store:
the URLs it prints answer, and the study link opens the runs table with the study's runs."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from g2core.stack.ui import SWITCH_HINT
from tests.browser.conftest import (
    EXPERIMENT,
    PARENT_RUN,
    REPO,
    close_assistant,
    run_study,
    show_child_runs,
)
from tests.net_helpers import free_port, listening_addresses

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is missing: pip install -e '.[test]'"
)
expect = sync_api.expect

pytestmark = pytest.mark.browser

# One variant, one epoch: the smallest real study (a parent run with one child) in sqlite:///<root>/mlflow.db.
LOCAL_STUDY = (
    "study.variants=[ssi_only]",
    "study.baseline=ssi_only",
    "study.seeds=[0]",
    "trainer.max_epochs=1",
)
LOCAL_CHILD = "ssi_only-s0"


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """The process's stdout up to the first line starting with `marker` (or its end, or the timeout)."""
    lines: list[str] = []
    seen = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith(marker):
                seen.set()
                return
        seen.set()

    threading.Thread(target=pump, daemon=True).start()
    seen.wait(timeout)
    return "".join(lines)


def test_ui_command_prints_working_urls_for_a_local_study(page, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    run_study(root, *LOCAL_STUDY)
    assert (root / "mlflow.db").exists(), "the study did not log to the default local store"
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "g2core.stack", "ui", "--root", str(root), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = read_until(ui, "Ctrl-C stops the server.", timeout=180)
        assert "Ctrl-C stops the server." in output, output
        base = re.search(r"^MLflow UI: (\S+)", output, re.MULTILINE)
        study = re.search(rf"^  {re.escape(EXPERIMENT)}: (\S+)$", output, re.MULTILINE)
        assert base and study, output
        assert base[1] == f"http://127.0.0.1:{port}", output
        # said before the ~20 s start, and how to leave MLflow's GenAI pages for good, in one line
        assert output.startswith(f"starting the MLflow UI on 127.0.0.1:{port}"), output
        assert f"  {SWITCH_HINT}\n" in output, output
        assert study[1].startswith(f"{base[1]}/#/experiments/") and study[1].endswith(
            "?workflowType=machine_learning"
        ), output
        with urllib.request.urlopen(f"{base[1]}/health", timeout=10) as health:
            assert health.status == 200 and health.read().strip() == b"OK"
        page.goto(study[1])
        parent = page.get_by_role("link", name=PARENT_RUN, exact=True)
        expect(parent).to_be_visible()
        close_assistant(page)
        child = show_child_runs(page, parent, (LOCAL_CHILD,))[LOCAL_CHILD]
        expect(child).to_be_visible()
    finally:
        ui.send_signal(signal.SIGTERM)
        try:
            code = ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            ui.kill()
            raise
    assert code == 0, f"`ui` exited {code} on SIGTERM"
    deadline = time.monotonic() + 10
    while listening_addresses(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listening_addresses(port) == [], "the mlflow server outlived `python -m g2core.stack ui`"
