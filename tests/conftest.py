"""Shared fixtures: a private project root per test (data cache, MLflow store, studies, reports) and the
small scale that keeps CPU tests fast. Also the tier report: which tiers (unit, slow, integration, browser,
faults) ran, printed as the session's last line and written to test-artifacts/tiers.json (.ci/run reads it)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
# Everything the tests read is vendored in tests/data (its README says where each file comes from).
DATA = REPO / "tests" / "data"
REFERENCE = DATA / "reference"
REAL_FRAMES = DATA / "real"
# Optional extra source: a shared/ folder beside the checkout adds its larger real-frame sample.
SHARED = REPO.parent / "shared"
SHARED_REAL_FRAMES = SHARED / "data" / "real"
# The tests' studies train tiny trials of a few seconds: one worker, since a second worker's start (a fresh
# interpreter importing torch and MLflow, ~8 s on 2 cores) costs more than its share of them. Tests about
# several workers say study.workers=N; test_launch_settings checks study.workers=auto itself.
os.environ.setdefault("G2_STUDY_WORKERS", "1")


def tiny(root: Path | str, *extra: str) -> list[str]:
    """Overrides for a run that takes seconds on a 2-core CPU: 32x32 scenes, a 3-level UNet, 2 epochs."""
    return [
        f"paths.root={root}",
        "data.n_train=32",
        "data.n_val=8",
        "data.n_test=8",
        "data.height=32",
        "data.width=32",
        "data.batch_size=8",
        "model.features=8",
        "model.levels=3",
        "trainer.max_epochs=2",
        "trainer.log_every_n_steps=2",
        "trainer.num_samples=2",
        "trainer.progress=false",
        *extra,
    ]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _no_env_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # A user's environment must never redirect a test's files or runs.
    for name in ("G2_ROOT", "G2_CONF_PATH", "G2_STUDY_STORAGE", "MLFLOW_TRACKING_URI", "G2_QUEUE_NOTE"):
        monkeypatch.delenv(name, raising=False)


# --- tiers: a skipped tier is never silent ----------------------------------------------------------

TIERS = ("unit", "slow", "integration", "browser", "faults")
TIER_FOLDERS = ("integration", "browser", "faults")  # every test under tests/<folder>/ is in that tier
TIERS_JSON = Path(os.environ.get("G2_TEST_ARTIFACTS", REPO / "test-artifacts")) / "tiers.json"


def tiers_of(markers: Iterable[str]) -> list[str]:
    """The tiers of a test: the tier markers it carries, else unit."""
    names = set(markers)
    return [t for t in TIERS[1:] if t in names] or ["unit"]


def tiers_of_path(nodeid: str) -> list[str]:
    """The tiers of a module skipped at import (pytest.importorskip at its top): it has no items to
    carry markers, so its folder names the tier."""
    parts = nodeid.split("::")[0].split("/")
    return [t for t in TIER_FOLDERS if t in parts] or ["unit"]


def skip_reason(longrepr: Any) -> str:
    """The reason of a skip report (pytest gives (path, line, 'Skipped: reason'))."""
    message = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return message.removeprefix("Skipped: ").strip()


def summarize(counts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """counts[tier] = {"ran": passed or failed tests, "skipped": skipped tests, "reasons": [skip reasons]}.
    A tier ran when one of its tests passed or failed; it was skipped when it had tests and all of them
    were skipped (named with its most common reason); with no tests at all it was not selected."""
    ran, skipped, not_selected = [], {}, []
    for tier in TIERS:
        c = counts.get(tier, {})
        if c.get("ran", 0):
            ran.append(tier)
        elif c.get("skipped", 0):
            skipped[tier] = Counter(c.get("reasons") or ["no reason given"]).most_common(1)[0][0]
        else:
            not_selected.append(tier)
    tally = {
        t: {"ran": counts.get(t, {}).get("ran", 0), "skipped": counts.get(t, {}).get("skipped", 0)}
        for t in TIERS
    }
    summary = {"ran": ran, "skipped": skipped, "not_selected": not_selected, "counts": tally}
    return {**summary, "line": summary_line(summary)}


def summary_line(summary: dict[str, Any], width: int = 120) -> str:
    """`tiers ran: unit, slow, integration, browser, faults; skipped: none` (+ `; not selected: ...`)."""

    def short(reason: str) -> str:
        reason = " ".join(reason.split())
        return reason if len(reason) <= width else reason[: width - 3] + "..."

    skipped = ", ".join(f"{t} ({short(r)})" for t, r in summary["skipped"].items()) or "none"
    line = f"tiers ran: {', '.join(summary['ran']) or 'none'}; skipped: {skipped}"
    if summary["not_selected"]:
        line += f"; not selected: {', '.join(summary['not_selected'])}"
    return line


class TierRecorder:
    """Counts each tier's outcomes during the session; reports them at its end."""

    def __init__(self) -> None:
        self.tiers_by_id: dict[str, list[str]] = {}
        self.counts: dict[str, dict[str, Any]] = {t: {"ran": 0, "skipped": 0, "reasons": []} for t in TIERS}
        self.seen = False

    def add(self, tiers: list[str], outcome: str, reason: str | None = None) -> None:
        self.seen = True
        for tier in tiers:
            self.counts[tier][outcome] += 1
            if reason:
                self.counts[tier]["reasons"].append(reason)

    @pytest.hookimpl(trylast=True)  # after the folders' conftests have added their tier markers
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.tiers_by_id[item.nodeid] = tiers_of(m.name for m in item.iter_markers())

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            self.add(tiers_of_path(report.nodeid), "skipped", skip_reason(report.longrepr))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tiers = self.tiers_by_id.get(report.nodeid) or tiers_of(report.keywords)
        if report.skipped and not hasattr(report, "wasxfail"):
            self.add(tiers, "skipped", skip_reason(report.longrepr))
        elif report.when == "call" or (report.when == "setup" and report.failed):
            self.add(tiers, "ran")

    def summary(self) -> dict[str, Any]:
        return summarize(self.counts)

    def pytest_sessionfinish(self) -> None:
        if self.seen:
            TIERS_JSON.parent.mkdir(parents=True, exist_ok=True)
            TIERS_JSON.write_text(json.dumps(self.summary(), indent=1) + "\n")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.seen:
            return
        summary = self.summary()
        terminalreporter.write_sep("=", "tiers")
        for tier, c in summary["counts"].items():
            terminalreporter.write_line(f"{tier:12} {c['ran']:4} ran  {c['skipped']:4} skipped")
        for tier, reason in summary["skipped"].items():
            terminalreporter.write_sep(
                "!", f"TIER SKIPPED: {tier} (none of its tests ran)", red=True, bold=True
            )
            terminalreporter.write_line(f"{tier}: {reason}", red=True)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # The very last line, after pytest's own "N passed" line.
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if self.seen and reporter is not None:
            summary = self.summary()
            reporter.write_line(summary["line"], bold=True, red=bool(summary["skipped"]))


def pytest_configure(config: pytest.Config) -> None:
    # --collect-only runs nothing: no tier report (it would call every tier skipped or not selected)
    if not config.option.collectonly and not config.pluginmanager.has_plugin("g2-tiers"):
        config.pluginmanager.register(TierRecorder(), "g2-tiers")
