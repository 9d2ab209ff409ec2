"""Section: a default-study trial's fixed costs, each as a share of the trial (issue 13, per-trial costs).

One trial of the default study (conf/study/loss_terms.yaml: its baseline variant with the study's overrides,
the default scale, 6 epochs) as `train()` runs it in a study worker, its phases clocked through
`TrainHooks.phase` (g2core.train.Phase): data (cache load, loaders), run setup (the MLflow run: found or created,
tags, params, inputs), the mean-depth reference, the training steps, validation, samples, checkpoints and the
test split. Beside it, what a worker process pays once before its first trial: Python start and the imports of
the trainer and the study worker (a fresh interpreter, `python -c "import ..."`). Each row is the phase's
seconds against the whole trial's wall time; the ratio is its share.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Row, Section, Settings
from benchmarks._instrument import PhaseClock, StepClock
from g2core.config import compose
from g2core.study.spec import load_spec
from g2core.train import Phase, TrainHooks, train

STUDY = "loss_terms"
IMPORTS = "import g2core.train, g2core.study.worker, mlflow, optuna"


def _imports_s() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS], check=True)
    return time.perf_counter() - start


def _trial(root: Path, settings: Settings, clock: PhaseClock) -> float:
    spec = load_spec(compose([f"+study={STUDY}"], config_name="ablate"))
    overrides = [
        f"experiment={spec.baseline}",
        *spec.overrides,
        f"paths.root={root}",
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        "trainer.progress=false",
        "trainer.resume=false",
        f"trainer.run_dir={root / 'runs' / str(time.time_ns())}",
    ]
    if settings.quick:
        overrides += ["trainer.max_epochs=1", "data.n_train=32", "data.n_val=8", "data.n_test=8"]
        overrides += ["model.features=8", "model.levels=3"]
    start = time.perf_counter()
    train(compose(overrides), TrainHooks(phase=clock.phase))
    return time.perf_counter() - start


def run(settings: Settings) -> Section:
    section = Section("trial_costs", f"A default-study trial ({STUDY}): each phase's share of its wall time")
    rounds = settings.pick(1, 2)
    labels = {p.value: p.value for p in Phase}
    walls: list[float] = []
    phases: dict[str, list[float]] = {p.value: [] for p in Phase}
    with tempfile.TemporaryDirectory(prefix="g2-bench-trial-") as tmp:
        root = Path(tmp)
        if not settings.quick:  # the data cache and the MLflow store made before the clock runs
            _trial(root, settings, PhaseClock({}, StepClock(), Phase.STEP_LOOP))
        for _ in range(rounds):
            clock = PhaseClock(labels, StepClock(), Phase.STEP_LOOP)
            walls.append(_trial(root, settings, clock))
            for name in phases:
                phases[name].append(clock.seconds.get(name, 0.0))
    imports = [_imports_s() for _ in range(rounds + 1)][1:] if not settings.quick else [_imports_s()]
    clocked = [sum(p[i] for p in phases.values()) for i in range(rounds)]
    rows = {**phases, "not in a phase (model build, compile, run end, MLflow drain)": [
        w - c for w, c in zip(walls, clocked, strict=True)
    ]}  # fmt: skip
    rows["worker start: python + imports (once per worker, not per trial)"] = imports
    for name, seconds in rows.items():
        section.rows.append(
            Row(name, "trial wall time", "phase", "s", walls, seconds, ratio_label="share of the trial")
        )
    section.extra["trial_wall_s"] = round(statistics.median(walls), 2)
    return section
