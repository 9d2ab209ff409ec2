"""Section: the default study's wall time under seeds-until-decided against the fixed 2-seed design it replaced
(issue 22: at most 1.5x, on the same machine, in one run).

Both sides are the whole `+study=loss_terms` command (`make run`), each in a fresh root (scene generation, the
MLflow store, the report included), through the real entry point, one after the other: A with the old design
(`study.seeds=[0,1]`: one look, 8 trials), B with the shipped one (`seeds: auto`, looks at 2 and 3 seeds). B's
verdicts are kept too: a decided verdict is what the extra time buys.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Row, Section, Settings

REPO = Path(__file__).resolve().parents[1]


def _study(root: Path, *extra: str) -> tuple[float, str]:
    cmd = [sys.executable, str(REPO / "experiments" / "ablate.py"), "+study=loss_terms", f"paths.root={root}"]
    cmd += ["trainer.progress=false", *extra]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(
            f"{' '.join(extra) or 'default'} study failed ({out.returncode}): {out.stderr[-1500:]}"
        )
    verdict = next((line for line in out.stdout.splitlines() if line.startswith("verdict: ")), "")
    return time.perf_counter() - start, verdict


def run(settings: Settings) -> Section:
    section = Section(
        "study_design", "Default study: seeds until decided (auto, 2 to 3 seeds) vs 2 fixed seeds"
    )
    if settings.quick:
        section.skipped = "full mode only (each side is a whole default study, minutes)"
        return section
    with tempfile.TemporaryDirectory(prefix="g2-bench-design-") as tmp:
        fixed, _ = _study(Path(tmp) / "fixed", "study.seeds=[0,1]")
        auto, verdict = _study(Path(tmp) / "auto")
    section.rows.append(
        Row(
            "study wall time",
            "seeds [0,1]",
            "seeds auto",
            "s",
            [fixed],
            [auto],
            goal="<= 1.5",
            met=auto / fixed <= 1.5,
        )  # fmt: skip
    )
    section.extra["auto_verdict"] = verdict
    return section
