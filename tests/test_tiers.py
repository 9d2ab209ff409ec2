"""The tier report of tests/conftest.py: which tiers ran, which were skipped and why, and the last line."""

from __future__ import annotations

import pytest

from tests.conftest import TIERS, TierRecorder, skip_reason, summarize, tiers_of, tiers_of_path


def _report(nodeid: str, when: str, outcome: str, reason: str | None = None, **extra) -> pytest.TestReport:
    longrepr = (nodeid.split("::")[0], 1, f"Skipped: {reason}") if outcome == "skipped" else None
    report = pytest.TestReport(nodeid, (nodeid, 1, "t"), {}, outcome, longrepr, when)
    for key, value in extra.items():
        setattr(report, key, value)
    return report


def _counts(**tiers: tuple[int, int, list[str]]) -> dict:
    return {t: {"ran": r, "skipped": s, "reasons": reasons} for t, (r, s, reasons) in tiers.items()}


def test_a_test_is_in_the_tiers_its_markers_name_else_unit() -> None:
    assert tiers_of([]) == ["unit"]
    assert tiers_of(["timeout", "parametrize"]) == ["unit"]
    assert tiers_of(["slow"]) == ["slow"]
    assert tiers_of(["faults", "slow", "timeout"]) == ["slow", "faults"]


def test_a_module_skipped_at_import_is_in_its_folders_tier() -> None:
    assert tiers_of_path("tests/browser/test_mlflow_ui.py") == ["browser"]
    assert tiers_of_path("tests/integration/test_stack.py::test_x") == ["integration"]
    assert tiers_of_path("tests/test_data.py") == ["unit"]


def test_skip_reason_drops_pytests_prefix() -> None:
    assert skip_reason(("tests/x.py", 3, "Skipped: no chromium")) == "no chromium"
    assert skip_reason("plain text") == "plain text"


def test_every_tier_ran() -> None:
    summary = summarize({t: {"ran": 2, "skipped": 1, "reasons": ["one case"]} for t in TIERS})
    assert summary["ran"] == list(TIERS) and summary["skipped"] == {} and summary["not_selected"] == []
    assert summary["line"] == "tiers ran: unit, slow, integration, browser, faults; skipped: none"


def test_a_tier_whose_tests_all_skipped_is_named_with_its_reason() -> None:
    summary = summarize(
        _counts(
            unit=(10, 0, []),
            slow=(3, 0, []),
            integration=(0, 4, ["no PostgreSQL", "no PostgreSQL", "other"]),
            browser=(0, 2, ["no chromium"]),
        )
    )
    assert summary["ran"] == ["unit", "slow"]
    assert summary["skipped"] == {"integration": "no PostgreSQL", "browser": "no chromium"}
    assert summary["not_selected"] == ["faults"]
    assert summary["line"] == (
        "tiers ran: unit, slow; skipped: integration (no PostgreSQL), browser (no chromium); not selected: faults"
    )
    assert summary["counts"]["integration"] == {"ran": 0, "skipped": 4}


def test_a_long_reason_is_cut_to_one_short_line() -> None:
    summary = summarize(_counts(unit=(1, 0, []), browser=(0, 1, ["apt-get failed:\n" + "x" * 500])))
    line = summary["line"]
    assert "\n" not in line and len(line) < 250 and "browser (apt-get failed: xxx" in line


def test_recorder_counts_outcomes_from_pytests_reports() -> None:
    rec = TierRecorder()
    rec.tiers_by_id = {"tests/test_a.py::t1": ["unit"], "tests/integration/test_s.py::t2": ["integration"]}
    rec.pytest_runtest_logreport(_report("tests/test_a.py::t1", "setup", "passed"))
    rec.pytest_runtest_logreport(_report("tests/test_a.py::t1", "call", "failed"))
    rec.pytest_runtest_logreport(_report("tests/test_a.py::t1", "teardown", "passed"))
    rec.pytest_runtest_logreport(
        _report("tests/integration/test_s.py::t2", "setup", "skipped", "no PostgreSQL")
    )
    # an expected failure ran; a module skipped at import counts for its folder's tier
    rec.pytest_runtest_logreport(_report("tests/test_a.py::t3", "call", "skipped", "x", wasxfail=""))
    skipped_module = pytest.CollectReport(
        "tests/browser/test_ui.py", "skipped", ("tests/browser/test_ui.py", 5, "Skipped: no playwright"), []
    )
    rec.pytest_collectreport(skipped_module)
    summary = rec.summary()
    assert summary["counts"]["unit"] == {"ran": 2, "skipped": 0}
    assert summary["skipped"] == {"integration": "no PostgreSQL", "browser": "no playwright"}
    assert summary["not_selected"] == ["slow", "faults"]
