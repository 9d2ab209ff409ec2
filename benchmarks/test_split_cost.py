"""Section: what the held-out test split costs a run (issue 12's budget: at most 10% of a default run).

Both sides are whole default runs (`conf/train.yaml`, scale=default) in this process, alternating: A without a
test split (`data.n_test=0`), B with the default one (256 scenes: the selected checkpoint evaluated once, image by
image, and the mean-depth reference taken on it). A study is these runs back to back, so the per-run ratio is
the study's. The phase clock also reports the test evaluation's own share of run B.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks._common import Row, Section, Settings, alternate
from benchmarks._instrument import PhaseClock, StepClock
from g2core.config import compose
from g2core.train import Phase, TrainHooks, train


def _run(root: Path, settings: Settings, n_test: int, clock: PhaseClock | None = None) -> float:
    overrides = [
        f"paths.root={root}",
        f"data.root={root / 'data'}",
        f"data.n_test={n_test}",
        f"trainer.max_epochs={settings.pick(1, 5)}",
        "trainer.progress=false",
        "trainer.resume=false",
        f"trainer.run_dir={root / 'runs' / str(time.time_ns())}",
    ]
    if settings.quick:
        overrides += ["data.n_train=32", "data.n_val=8", "model.features=8", "model.levels=3"]
    hooks = TrainHooks(phase=clock.phase) if clock else TrainHooks()
    start = time.perf_counter()
    train(compose(overrides), hooks)
    return time.perf_counter() - start


def run(settings: Settings) -> Section:
    section = Section("test_split", "Test split: a default run with the 256-scene test split vs without")
    with tempfile.TemporaryDirectory(prefix="g2-bench-test-") as tmp:
        root = Path(tmp)
        _run(root, Settings(quick=True), 256)  # data caches and the MLflow store exist before timing
        clock = PhaseClock({Phase.TEST: "test evaluation"}, StepClock(), Phase.STEP_LOOP)
        without, with_test = alternate(
            lambda: _run(root, settings, 0), lambda: _run(root, settings, 256, clock), settings.pick(1, 2)
        )
    ratios = [b / a for a, b in zip(without, with_test, strict=True)]
    section.rows.append(
        Row(
            "run wall time",
            "no test split",
            "test split (256)",
            "s",
            without,
            with_test,
            goal="<= 1.10",
            met=max(ratios) <= 1.10,
        )
    )
    section.extra["test_evaluation_share_of_run"] = round(
        clock.seconds["test evaluation"] / sum(with_test), 4
    )
    return section
