"""Section: the speed levers of issue 13, each against plain eager fp32 in the same rounds.

Levers: `trainer.channels_last` (NHWC for the oneDNN convolutions; the model's LayerNorm2d then permutes
without a copy), `trainer.compile` (torch.compile, inductor generating C++ on a CPU) and both. Each round runs
one epoch of the real trainer per setting (`g2core.train.train`, step starts stamped through
`TrainHooks.on_batch`, median interval), alternating, so a burst of other work hits every side alike. The
compiled settings also report their one-off cost: the first epoch's wall time minus its steps at the steady
rate, i.e. what compiling costs a run (inductor caches its kernels on disk, so later runs of a study pay less:
`compile_first_s` is the very first compile in this process, `compile_again_s` a later run's).

The FLOPs per step are those of `flop_bound` (benchmarks/_flops.py), so each setting's step is also stated as
a share of the matmul rate measured in the same rounds.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks._common import Row, Section, Settings
from benchmarks._flops import count_flops, matmul_rate
from benchmarks._instrument import PhaseClock, StepClock
from benchmarks.flop_bound import QUICK_DATA, QUICK_MODEL, _prepare_data, _run_overrides
from g2core.config import compose
from g2core.train import Phase, TrainHooks, train

LEVERS = {
    "channels_last": ("trainer.channels_last=true",),
    "compile": ("trainer.compile=true",),
    "compile + channels_last": ("trainer.compile=true", "trainer.channels_last=true"),
}


def _epoch(cfg) -> tuple[float, float, int]:
    """(median step seconds, wall seconds of the step loop, steps) of one unmodified one-epoch run."""
    clock = StepClock()
    phases = PhaseClock({}, end_of_steps=clock, step_phase=Phase.STEP_LOOP)
    train(cfg, TrainHooks(phase=phases.phase, on_batch=clock.stamp))
    return clock.median_interval, clock.stamps[-1] - clock.stamps[0], clock.steps


def _one_off(median: float, wall: float, steps: int) -> float:
    """Seconds a run spends beyond its steps at the steady rate (compiling, for a compiled run)."""
    return max(0.0, wall - median * steps)


def run(settings: Settings) -> Section:
    section = Section("levers", "Speed levers: channels_last and torch.compile against eager, trainer step")
    if torch.cuda.is_available():
        device = ("trainer.precision=bf16",)
    else:
        device = ("trainer.precision=fp32",)
    rounds = settings.pick(1, 3)
    # --quick is the suite's smoke test: compiling costs a minute per setting on 2 cores, so it only runs
    # channels_last (tests/test_speed_levers.py checks the compiled numerics).
    levers = {k: v for k, v in LEVERS.items() if not (settings.quick and "trainer.compile=true" in v)}
    scale = (*QUICK_DATA, *QUICK_MODEL) if settings.quick else ("data.n_test=0",)
    one_epoch = ("trainer.max_epochs=1", "trainer.num_samples=0", *scale)
    flops = count_flops(compose([*scale, *device]), backward=True)
    with tempfile.TemporaryDirectory(prefix="g2-bench-levers-") as tmp:
        root = Path(tmp)

        def config(*overrides: str):
            return compose([*one_epoch, *overrides, *_run_overrides(root, device)])

        _prepare_data(config())
        train(config())  # warm-up: MLflow store, first-call dispatch
        compile_cost: dict[str, list[float]] = {}
        for name, overrides in levers.items():  # first compile of each, outside the timed rounds
            if "trainer.compile=true" in overrides:
                start = time.perf_counter()
                median, wall, steps = _epoch(config(*overrides))
                compile_cost[name] = [_one_off(median, wall, steps)]
                compile_cost[name].append(time.perf_counter() - start)
        eager: list[float] = []
        lever: dict[str, list[float]] = {name: [] for name in levers}
        matmul: list[float] = []
        for _ in range(rounds):
            matmul.append(matmul_rate(torch.device("cpu"), torch.float32, settings.pick(2, 5)))
            eager.append(_epoch(config())[0])
            for name, overrides in levers.items():
                median, wall, steps = _epoch(config(*overrides))
                lever[name].append(median)
                if name in compile_cost and len(compile_cost[name]) == 2:
                    compile_cost[name].append(_one_off(median, wall, steps))
    for name, seconds in lever.items():
        section.rows.append(
            Row(
                f"trainer step, {name} vs eager ({flops / 1e9:.2f} GFLOP per step)",
                "eager",
                name,
                "ms",
                [1000 * s for s in eager],
                [1000 * s for s in seconds],
                ratio_label="lever / eager",
            )
        )
    rate = statistics.median(matmul)
    section.extra.update(
        gflop_per_step=flops / 1e9,
        matmul_gflops=rate,
        share_of_matmul={
            "eager": flops / statistics.median(eager) / 1e9 / rate,
            **{name: flops / statistics.median(s) / 1e9 / rate for name, s in lever.items()},
        },
        compile_cost_s={
            name: {"compile_first_s": c[0], "first_run_wall_s": c[1], "compile_again_s": c[2]}
            for name, c in compile_cost.items()
        },
    )
    return section
