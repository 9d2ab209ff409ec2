"""Section 1: the g2core trainer against a bare PyTorch loop, same model, loss, data and number of steps.

What is compared: the time per training step, measured identically on both sides as the mean interval
between the starts of consecutive steps over one epoch (data fetch + forward + loss + backward + Adam,
plus, on the trainer side only, its per-step bookkeeping: loss window, LR scheduler, every 10th step a
host sync + MLflow log_metrics, and the tqdm progress bar). The trainer runs unmodified with the default
config at the default scale (`trainer.max_epochs=1`); its step starts are stamped through its public hooks
(`TrainHooks.on_batch`, the end of `Phase.STEP_LOOP`). Validation, checkpoints and MLflow setup happen
outside the step loop and are reported separately as the run's fixed costs (timed by `TrainHooks.phase`),
with the validation metrics split into standard and edge/DBE.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from benchmarks._common import Row, Section, Settings, alternate, per_call
from benchmarks._instrument import PhaseClock, StepClock
from g2core.config import compose
from g2core.data import build_datasets, model_input
from g2core.losses import create_loss
from g2core.metrics import DepthMetrics
from g2core.models import build_model
from g2core.train import Phase, TrainHooks, train

GOAL_OVERHEAD = 1.03


def config(root: Path, run: str, settings: Settings) -> DictConfig:
    # tracking.uri spelled out: it is the default, but MLFLOW_TRACKING_URI in the environment would override
    # it (and Lightning's MLFlowLogger sets that variable in-process).
    overrides = [
        f"paths.root={root}",
        "trainer.max_epochs=1",
        f"trainer.run_dir={root / 'runs' / run}",
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
    ]
    if settings.quick:
        overrides += ["data.n_train=48", "data.n_val=8"]
    return compose(overrides)


def _datasets(cfg: DictConfig):
    data = OmegaConf.to_container(cfg.data, resolve=True)
    return build_datasets(data, seed=cfg.seed, sparse_input=cfg.model.in_channels == 5)


def _model(cfg: DictConfig) -> torch.nn.Module:
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if k != "name"}
    return build_model(cfg.model.name, **kwargs)


def train_loader(cfg: DictConfig) -> DataLoader:
    """The training loader both hand-written sides use, seeded like the trainer."""
    torch.manual_seed(cfg.seed)
    train_ds, *_ = _datasets(cfg)
    return DataLoader(
        train_ds,
        batch_size=cfg.data.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=cfg.data.num_workers,
    )


def bare_loop(cfg: DictConfig) -> StepClock:
    """What a researcher writes by hand: the same pieces, nothing else (no validation, logging or bar)."""
    loader = train_loader(cfg)
    model = _model(cfg)
    loss_fn = create_loss(cfg.loss)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas), weight_decay=cfg.optim.weight_decay
    )
    clock = StepClock()
    model.train()
    for batch in clock.wrap(loader):
        pred = model(model_input(batch, cfg.model.in_channels))
        total, _ = loss_fn(pred, batch["depth"], batch["mask"], batch["sparse_mask"])
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        optimizer.step()
    return clock


# The trainer's phases, under the labels this section reports them as (the mean-depth reference, once per
# run, stays in "other").
PHASE_LABELS = {
    Phase.RUN_SETUP: "mlflow run setup",
    Phase.DATA: "data + loaders",
    Phase.VALIDATION: "validation (loss + metrics)",
    Phase.SAMPLES: "sample predictions",
    Phase.SAMPLE_PNG: "sample png",
    Phase.CHECKPOINTS: "checkpoint writes (last.pt + best.pt)",
}


def trainer_run(cfg: DictConfig) -> tuple[StepClock, dict[str, float]]:
    """One unmodified `g2core.train.train(cfg)`, its step starts and phases clocked through its hooks."""
    clock = StepClock()
    phases = PhaseClock(PHASE_LABELS, end_of_steps=clock, step_phase=Phase.STEP_LOOP)
    start = time.perf_counter()
    train(cfg, TrainHooks(phase=phases.phase, on_batch=clock.stamp))
    phases.seconds["total train()"] = time.perf_counter() - start
    return clock, dict(phases.seconds)


def _metrics_rows(cfg: DictConfig, settings: Settings) -> list[Row]:
    """Validation cost split: standard metrics vs the edge band + iBims-1 DBE (Canny on the host), per batch."""
    _, val_ds, _ = _datasets(cfg)
    batch = next(iter(DataLoader(val_ds, batch_size=cfg.data.batch_size)))
    model = _model(cfg).eval()
    x = model_input(batch, cfg.model.in_channels)
    with torch.no_grad():
        pred = model(x)
    standard = DepthMetrics(cfg.data.min_depth, cfg.data.max_depth, edges=False)
    edges = DepthMetrics(cfg.data.min_depth, cfg.data.max_depth, edges=True)
    reps = settings.pick(2, 10)

    def forward() -> None:
        with torch.no_grad():
            model(x)

    sides = {
        "forward": per_call(forward, reps),
        "standard": per_call(lambda: standard.update(pred, batch["depth"], batch["mask"]), reps),
        "edges": per_call(lambda: edges.update(pred, batch["depth"], batch["mask"]), reps),
    }
    for side in sides.values():
        side()
    rounds = settings.pick(2, 5)
    times = {name: [] for name in sides}
    for _ in range(rounds):
        for name, side in sides.items():
            times[name].append(1000 * side())
    label = f"validation batch of {cfg.data.batch_size}"
    return [
        Row(
            f"{label}: standard metrics vs + edge/DBE metrics",
            "standard metrics update",
            "with edges (DBE)",
            "ms",
            times["standard"],
            times["edges"],
            ratio_label="edges / standard",
        ),
        Row(
            f"{label}: model forward vs metrics with edges",
            "model forward (no grad)",
            "metrics update with edges",
            "ms",
            times["forward"],
            times["edges"],
            ratio_label="metrics / forward",
        ),
    ]


def _threads_row(settings: Settings) -> Row:
    """The default step with torch's thread count (2 here) against 1 thread, interleaved.

    On a CPU shared with other processes, OpenMP threads that wait for a descheduled sibling make a
    2-thread step many times slower, so the spread of this row says how busy the machine was.
    """
    torch.manual_seed(0)
    model = build_model("g2_unet", features=16, levels=4, in_channels=3)
    loss_fn = create_loss(weights={"ssi": 0.5, "silog": 0.5})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, gt = torch.rand(8, 3, 64, 64), 0.5 + 9 * torch.rand(8, 1, 64, 64)
    mask = torch.ones_like(gt, dtype=torch.bool)
    default_threads = torch.get_num_threads()

    def step() -> None:
        total, _ = loss_fn(model(x), gt, mask)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    def with_threads(n: int) -> float:
        torch.set_num_threads(n)
        try:
            return 1000 * per_call(step, settings.pick(2, 10))()
        finally:
            torch.set_num_threads(default_threads)

    with_threads(1)
    one, default = alternate(
        lambda: with_threads(1), lambda: with_threads(default_threads), settings.pick(1, 5)
    )
    return Row(
        f"train step, default scale: 1 torch thread vs {default_threads} (torch's default)",
        "1 thread",
        f"{default_threads} threads",
        "ms",
        one,
        default,
        ratio_label="default / 1 thread",
    )


def run(settings: Settings) -> Section:
    section = Section(
        "trainer", "Trainer overhead: g2core.train.train vs a bare PyTorch loop (time per step)"
    )
    with tempfile.TemporaryDirectory(prefix="g2-bench-trainer-") as tmp:
        root = Path(tmp)
        base = config(root, "warmup", settings)
        _datasets(base)  # the synthetic cache is generated once, before any clock runs
        bare_loop(base)  # warm-up: first-call dispatch and allocator, outside the measurement
        phases: list[dict[str, float]] = []
        steps: list[int] = []
        medians: dict[str, list[float]] = {"bare": [], "trainer": []}
        fast: dict[str, list[float]] = {"bare": [], "trainer": []}
        bare_totals: list[float] = []
        counter = iter(range(1000))

        def trainer_side() -> float:
            clock, seconds = trainer_run(config(root, f"r{next(counter)}", settings))
            phases.append(seconds)
            steps.append(clock.steps)
            medians["trainer"].append(1000 * clock.median_interval)
            fast["trainer"].append(1000 * clock.fast_interval)
            return 1000 * clock.seconds_per_step

        def bare_side() -> float:
            start = time.perf_counter()
            clock = bare_loop(base)
            bare_totals.append(time.perf_counter() - start)
            steps.append(clock.steps)
            medians["bare"].append(1000 * clock.median_interval)
            fast["bare"].append(1000 * clock.fast_interval)
            return 1000 * clock.seconds_per_step

        bare, trained = alternate(bare_side, trainer_side, settings.pick(1, 4))
        if len(set(steps)) != 1:
            raise RuntimeError(f"the two sides ran different numbers of steps: {sorted(set(steps))}")
        row = Row(
            f"time per training step, {steps[0]} steps (1 epoch, default scale)",
            "bare PyTorch loop",
            "g2core trainer",
            "ms",
            bare,
            trained,
            ratio_label="trainer / bare",
            goal=f"<= {GOAL_OVERHEAD:.2f}",
        )
        row.met = row.summary()["ratio_median"] <= GOAL_OVERHEAD
        section.rows.append(row)
        section.rows.append(
            Row(
                "median step interval (robust to load bursts; leaves out the every-10th-step logging)",
                "bare PyTorch loop",
                "g2core trainer",
                "ms",
                medians["bare"],
                medians["trainer"],
                ratio_label="trainer / bare",
            )
        )
        section.rows.append(
            Row(
                "10th-percentile step interval (the uncontended step: what a step costs when the CPU is free)",
                "bare PyTorch loop",
                "g2core trainer",
                "ms",
                fast["bare"],
                fast["trainer"],
                ratio_label="trainer / bare",
            )
        )
        section.rows.append(
            Row(
                "whole 1-epoch run, wall time (not like for like: the trainer also validates, draws samples, "
                "checkpoints and tracks in MLflow)",
                "bare loop incl. data + model setup",
                "g2core train()",
                "s",
                bare_totals,
                [p["total train()"] for p in phases],
                ratio_label="trainer / bare",
            )
        )
        section.rows += _metrics_rows(base, settings)
        section.rows.append(_threads_row(settings))
    names = phases[0].keys()
    median = {name: statistics.median(p.get(name, 0.0) for p in phases) for name in names}
    loop = statistics.median(trained) * steps[0] / 1000
    median["step loop (measured)"] = loop
    median["other (process-local setup, final logging, artifacts)"] = (
        median["total train()"]
        - loop
        - sum(v for k, v in median.items() if k not in ("total train()", "step loop (measured)"))
    )
    section.extra["trainer_run_seconds_median"] = {k: round(v, 3) for k, v in median.items()}
    section.extra["steps_per_epoch"] = steps[0]
    section.extra["config"] = "conf/train.yaml defaults (scale=default) + trainer.max_epochs=1"
    return section
