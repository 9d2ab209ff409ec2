"""The benchmark suite runs end to end in --quick mode and writes every section with finite numbers.

No timing is asserted: this machine's numbers are in benchmarks/RESULTS.md, from a full run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTIONS = (
    "trainer",
    "lightning",
    "logging",
    "loss_cost",
    "data",
    "study",
    "study_design",
    "test_split",
    "trial_costs",
    "flop_bound",
    "levers",
    "gpu",
)
# Sections that may be skipped in --quick on a CPU machine, and why.
MAY_SKIP = {
    "study": "full mode only",
    "study_design": "full mode only",
    "gpu": "no CUDA",
    "lightning": "lightning not installed",
}


def _numbers(data: object) -> list[float | None]:
    if isinstance(data, bool):
        return []
    if isinstance(data, int | float) or data is None:
        return [data]
    if isinstance(data, dict):
        return [n for v in data.values() for n in _numbers(v)]
    if isinstance(data, list):
        return [n for v in data for n in _numbers(v)]
    return []


def test_quick_suite_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if k != "G2_ROOT"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "| section | measure |" in done.stdout
    result = json.loads(out.read_text())
    assert result["meta"]["mode"] == "quick"
    assert set(result["sections"]) == set(SECTIONS)
    assert result["meta"]["complete"]
    for name, section in result["sections"].items():
        assert section["status"] != "error", f"{name}: {section['reason']}"
        if section["status"] == "skipped":
            assert name in MAY_SKIP, f"{name} skipped: {section['reason']}"
            continue
        assert section["rows"], f"{name}: no rows"
        for row in section["rows"]:
            values = [row[k] for k in ("a_median", "b_median", "ratio_median", "ratio_min", "ratio_max")]
            values += row["a"] + row["b"]
            assert all(v is not None and math.isfinite(v) and v >= 0 for v in values), (name, row["measure"])
        numbers = [n for n in _numbers(section["extra"]) if not isinstance(n, int)]
        assert all(n is None or math.isfinite(n) for n in numbers), name
