"""Section 6: study throughput, trials per hour with `study.workers=1` against `2` on this machine.

Each side is one real invocation, `python experiments/ablate.py +study=loss_terms` with 2 variants x 2 seeds
and 1 epoch a trial at the default scale, in its own fresh `paths.root` (its own MLflow store and Optuna
journal) sharing one pre-generated synthetic data cache. Wall time covers everything a user waits for:
process start, preflight, the trials, and the report. Full mode only (minutes, not seconds).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Row, Section, Settings, alternate, data_node
from g2core.config import PACKAGE_ROOT
from g2core.data import build_datasets

VARIANTS = ("ssi_only", "ssi_silog")  # the study's baseline must be one of them
SEEDS = (0, 1)
ISOLATE = ("G2_ROOT", "MLFLOW_TRACKING_URI", "G2_STUDY_STORAGE", "G2_CONF_PATH")
TRIAL_DONE = re.compile(r"trial \d+ done: .* in (\d+)s")


def _command(root: Path, data_root: Path, workers: int) -> list[str]:
    return [
        sys.executable,
        str(PACKAGE_ROOT / "experiments" / "ablate.py"),
        "+study=loss_terms",
        f"study.variants=[{','.join(VARIANTS)}]",
        f"study.seeds=[{','.join(map(str, SEEDS))}]",
        f"study.workers={workers}",
        "trainer.max_epochs=1",
        f"paths.root={root}",
        f"data.root={data_root}",
    ]


def study_side(base: Path, workers: int, trial_seconds: dict[int, list[float]]) -> float:
    """Trials per hour of one fresh study invocation."""
    root = base / f"w{workers}-{time.time_ns()}"
    # Nothing from the caller's environment may redirect the study to another store or storage.
    env = {k: v for k, v in os.environ.items() if k not in ISOLATE}
    start = time.perf_counter()
    done = subprocess.run(
        _command(root, base / "data", workers),
        cwd=PACKAGE_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"ablate.py (workers={workers}) exited {done.returncode}:\n{done.stderr[-3000:]}")
    trials = len(VARIANTS) * len(SEEDS)
    if f"{trials}/{trials} trials complete" not in done.stdout:
        raise RuntimeError(
            f"ablate.py (workers={workers}) did not complete its {trials} trials:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    trained = [float(s) for s in TRIAL_DONE.findall(done.stdout)]
    if len(trained) != trials:  # e.g. "(already trained)": a store that was not fresh
        raise RuntimeError(f"ablate.py (workers={workers}) trained {len(trained)} of {trials} trials itself")
    trial_seconds[workers] += trained
    return trials * 3600 / wall


def run(settings: Settings) -> Section:
    section = Section(
        "study", "Study throughput: trials/hour, study.workers=1 vs 2 (2 variants x 2 seeds, 1 epoch)"
    )
    if settings.quick:
        section.skipped = "full mode only (each side is a whole study invocation, minutes)"
        return section
    trial_seconds: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="g2-bench-study-") as tmp:
        base = Path(tmp)
        data = data_node("synthetic", root=f"'{base / 'data'}'", n_train=512, n_val=64, height=64, width=64)
        build_datasets(data, seed=0, sparse_input=False)  # the default cache, once, outside the clock
        one, two = alternate(
            lambda: study_side(base, 1, trial_seconds), lambda: study_side(base, 2, trial_seconds), 1
        )
    section.rows.append(
        Row(
            "trials per hour (wall clock of the whole invocation)",
            "study.workers=1",
            "study.workers=2",
            "trials/h",
            one,
            two,
            ratio_label="speed-up",
        )
    )
    section.extra["trial_seconds"] = {f"workers={k}": v for k, v in trial_seconds.items()}
    section.extra["cpus"] = os.cpu_count()
    section.extra["note"] = (
        "workers=2 runs each trial with torch threads = cpus // workers (g2core.study.runner)"
    )
    return section
