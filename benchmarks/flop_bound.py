"""Section: distance to the limit, the trainer and the default study against what their arithmetic needs.

Each round first measures this machine's dense rate: a 2048x2048 matmul (fp32 with torch's threads as
configured; bf16 on a GPU) and a 64-channel 3x3 conv. Then the FLOPs of one training step (forward + backward
of the model and the composite loss, counted by `torch.utils.flop_counter.FlopCounterMode`: matmul and conv
FLOPs; elementwise ops, norms and Adam are not counted) at three scales composed from the real config: the
default (conf/train.yaml), the same at 64x64, and the paper model (features 64, 7 levels) at 128x128 batch 2 on
a CPU (its real 448x640 batch 8 on a GPU). Step times: the default and 64x64 scales are one-epoch runs of the
real trainer (`g2core.train.train`, step starts stamped through `TrainHooks.on_batch`, median interval); the
paper model is a bare loop (model + composite loss + Adam) of a few steps on one batch, since a trainer epoch
at that size takes many minutes on a CPU. Every "share of matmul" is taken against the same round's rate.
The counting and the dense rates are benchmarks/_flops.py.

The FLOP limit of the default study (conf/study/loss_terms.yaml): every trial's training steps x FLOPs per
step, plus evaluation (forward FLOPs per image x (validation + sample images) x validations + test images),
at the measured matmul rate, in seconds. One default-study trial (the baseline variant, a whole run) is timed
against its own FLOP limit: a lower bound of the study's ratio (a study adds process start, preflight and the
report). Given the `study` section's result of the same invocation (`run(settings, earlier={name: Section})`),
also that study's wall time against its FLOP limit.
Goals (issue 13): default study wall time <= 2.5x its FLOP limit; trainer step >= 50% of the matmul rate at
the default scale.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from benchmarks import study_throughput
from benchmarks._common import Row, Section, Settings
from benchmarks._flops import (
    CONV_SHAPE,
    MATMUL_N,
    conv_rate,
    count_flops,
    matmul_rate,
    model_from,
    run_flops,
    study_flops,
    sync,
    targets,
)
from benchmarks._instrument import PhaseClock, StepClock
from benchmarks.gpu import bf16_peak_tflops
from g2core.config import compose
from g2core.data import build_datasets
from g2core.losses import create_loss
from g2core.study.spec import StudySpec, load_spec
from g2core.train import Phase, TrainHooks, train

GOAL_STUDY = 2.5  # study wall time / its FLOP limit
GOAL_STEP = 0.5  # default-scale trainer step, share of the matmul rate
DEFAULT_STUDY = "loss_terms"  # `make run`'s study
QUICK_MODEL = ("model.features=8", "model.levels=3")
QUICK_DATA = ("data.n_train=16", "data.n_val=8", "data.n_test=0")
QUICK_PAPER = ("data.height=32", "data.width=32", "data.batch_size=2")


@dataclass(frozen=True)
class Scale:
    name: str
    overrides: tuple[str, ...]
    bare_steps: int = 0  # 0: a one-epoch run of the real trainer; n: a bare loop of n timed steps

    @property
    def how(self) -> str:
        return f"bare loop, {self.bare_steps} steps" if self.bare_steps else "trainer, 1 epoch"


def scales(settings: Settings, gpu: bool) -> list[Scale]:
    if settings.quick:
        return [
            Scale("default (quick: features 8, 3 levels)", (*QUICK_DATA, *QUICK_MODEL)),
            Scale("64x64 (quick)", (*QUICK_DATA, *QUICK_MODEL, "data.height=64", "data.width=64")),
            Scale("paper (quick: 8, 3 levels, 32x32 b2)", ("scale=paper", *QUICK_MODEL, *QUICK_PAPER), 2),
        ]
    paper = ("scale=paper", "data.height=128", "data.width=128", "data.batch_size=2")
    return [
        Scale("default (32x32, batch 16)", ("data.n_test=0",)),
        Scale("64x64 (batch 16)", ("data.height=64", "data.width=64", "data.n_train=256", "data.n_test=0")),
        Scale("paper (448x640, batch 8)", ("scale=paper",), 10)
        if gpu
        else Scale("paper model at 128x128, batch 2", paper, 2),
    ]


def _run_overrides(root: Path, device_overrides: tuple[str, ...]) -> list[str]:
    # tracking.uri spelled out: MLFLOW_TRACKING_URI in the environment would otherwise redirect the runs.
    return [
        f"paths.root={root}",
        f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        "trainer.progress=false",
        "trainer.resume=false",
        f"trainer.run_dir={root / 'runs' / str(time.time_ns())}",
        *device_overrides,
    ]


def _prepare_data(cfg: DictConfig) -> None:
    """The synthetic cache, generated once before any clock runs."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    build_datasets(data, seed=cfg.seed, sparse_input=cfg.model.in_channels == 5)


def trainer_step(cfg: DictConfig) -> float:
    """Median start-to-start step interval (s) of one unmodified `train(cfg)`."""
    clock = StepClock()
    phases = PhaseClock({}, end_of_steps=clock, step_phase=Phase.STEP_LOOP)
    train(cfg, TrainHooks(phase=phases.phase, on_batch=clock.stamp))
    return clock.median_interval


def bare_step(cfg: DictConfig, device: torch.device, steps: int) -> float:
    """Median seconds per step of model + composite loss + Adam on one batch, after one warm-up step."""
    torch.manual_seed(cfg.seed)
    model = model_from(cfg).to(device).train()
    loss_fn = create_loss(cfg.loss)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas), weight_decay=cfg.optim.weight_decay
    )
    gt, mask = targets(cfg, device)
    x = torch.rand(gt.shape[0], cfg.model.in_channels, *gt.shape[2:], device=device)
    bf16 = cfg.trainer.precision == "bf16"

    def step() -> None:
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            pred = model(x)
        total, _ = loss_fn(pred.float(), gt, mask, mask)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        sync(device)

    step()  # first-call dispatch, allocator (and cuDNN autotuning on a GPU) outside the clock
    clock = StepClock()
    for _ in clock.wrap(range(steps)):
        step()
    return clock.median_interval


def _study_row(earlier: Mapping[str, Section], spec: StudySpec, extra: tuple[str, ...], rate: float) -> Row:
    """The `study` section's own study (workers=1): its measured wall time against its FLOP limit."""
    trials = len(study_throughput.VARIANTS) * len(study_throughput.SEEDS)
    walls = [trials * 3600 / per_hour for per_hour in earlier["study"].rows[0].a]
    overrides = [*spec.overrides, "trainer.max_epochs=1", *extra]
    limit = sum(study_flops(study_throughput.VARIANTS, study_throughput.SEEDS, overrides)) / (rate * 1e9)
    return Row(
        f"`study` section's study ({trials} trials, 1 epoch, workers=1): FLOP limit vs wall time",
        "FLOP limit at the matmul rate",
        "measured wall time",
        "s",
        [limit] * len(walls),
        walls,
        ratio_label="wall / limit",
        goal=f"<= {GOAL_STUDY:.2f}",
        met=max(walls) / limit <= GOAL_STUDY,
    )


def _table(rows: list[dict], gpu: bool) -> str:
    mfu = " MFU (bf16 peak) |" if gpu else ""
    lines = [
        f"| scale | GFLOP per step | step (ms) | achieved GFLOP/s | % of matmul rate |{mfu} measured by |",
        "|---|---|---|---|---|" + ("---|" if gpu else "") + "---|",
    ]
    for r in rows:
        cell = f" {r['mfu']:.1%} |" if gpu and r["mfu"] is not None else " n/a |" if gpu else ""
        lines.append(
            f"| {r['scale']} | {r['gflop_per_step']:.2f} | {r['step_ms']:.0f} | {r['gflops']:.1f} | "
            f"{r['share_of_matmul']:.0%} |{cell} {r['how']} |"
        )
    return "\n".join(lines)


def run(settings: Settings, earlier: Mapping[str, Section] | None = None) -> Section:
    gpu = torch.cuda.is_available()
    device = torch.device("cuda" if gpu else "cpu")
    dtype = torch.bfloat16 if gpu else torch.float32
    device_overrides = ("trainer.precision=bf16",) if gpu else ("trainer.precision=fp32",)
    kind = f"{torch.cuda.get_device_name()}, bf16" if gpu else f"CPU fp32, {torch.get_num_threads()} threads"
    section = Section("flop_bound", f"Distance to the limit: FLOPs, achieved rate, share of matmul ({kind})")
    reps, rounds = settings.pick(2, 5), settings.pick(1, 2)
    spec = load_spec(compose([f"+study={DEFAULT_STUDY}"], config_name="ablate"))
    quick_run = (*QUICK_MODEL, "data.n_train=16", "data.n_val=8", "data.n_test=8") if settings.quick else ()
    study_extra = (*quick_run, "trainer.max_epochs=1") if settings.quick else ()
    todo = scales(settings, gpu)
    with tempfile.TemporaryDirectory(prefix="g2-bench-flops-") as tmp:
        root = Path(tmp)

        def config(*overrides: str) -> DictConfig:
            return compose([*overrides, *_run_overrides(root, device_overrides)])

        base = {s.name: compose([*s.overrides, *device_overrides]) for s in todo}
        flops = {name: count_flops(cfg, backward=True) for name, cfg in base.items()}
        trial = [f"experiment={spec.baseline or spec.variants[0]}", f"seed={spec.seeds[0]}", *spec.overrides]
        trial_cfg = config(*trial, *study_extra)
        run_train, run_eval = run_flops(trial_cfg)
        for s in todo:
            if not s.bare_steps:
                _prepare_data(config(*s.overrides))
        _prepare_data(trial_cfg)
        # Step-timing runs: one epoch, no sample grid (drawn outside the step loop; it only costs time here).
        one_epoch = ("trainer.max_epochs=1", "trainer.num_samples=0")
        if not settings.quick:  # warm-up: the MLflow store and first-call dispatch, outside any clock
            trainer_step(config(*todo[0].overrides, *one_epoch))

        matmul, conv, walls = [], [], []
        seconds: dict[str, list[float]] = {s.name: [] for s in todo}
        for i in range(rounds):
            matmul.append(matmul_rate(device, dtype, reps))
            conv.append(conv_rate(device, dtype, reps))
            for s in todo:
                cfg = config(*s.overrides, *one_epoch)
                step = bare_step(cfg, device, s.bare_steps) if s.bare_steps else trainer_step(cfg)
                seconds[s.name].append(step)
            if i == 0:  # one whole trial (about a minute on a CPU), against this round's matmul rate
                start = time.perf_counter()
                train(config(*trial, *study_extra))
                walls.append(time.perf_counter() - start)

    section.rows.append(
        Row(
            f"dense rate: {MATMUL_N}x{MATMUL_N} matmul vs 64-channel 3x3 conv {CONV_SHAPE}",
            "matmul",
            "conv",
            "GFLOP/s",
            matmul,
            conv,
            ratio_label="conv / matmul",
        )
    )
    peak = bf16_peak_tflops(torch.cuda.get_device_name()) if gpu else None
    table = []
    for i, s in enumerate(todo):
        achieved = [flops[s.name] / t / 1e9 for t in seconds[s.name]]
        row = Row(
            f"train step, {s.name}: {flops[s.name] / 1e9:.2f} GFLOP per step ({s.how})",
            "matmul rate",
            "achieved",
            "GFLOP/s",
            matmul,
            achieved,
            ratio_label="share of matmul",
        )
        if i == 0 and not settings.quick:
            row.goal, row.met = f">= {GOAL_STEP:.2f}", row.summary()["ratio_median"] >= GOAL_STEP
        section.rows.append(row)
        gflops = statistics.median(achieved)
        table.append(
            {
                "scale": s.name,
                "gflop_per_step": flops[s.name] / 1e9,
                "step_ms": 1000 * statistics.median(seconds[s.name]),
                "gflops": gflops,
                "share_of_matmul": row.summary()["ratio_median"],
                "mfu": gflops / (peak * 1e3) if peak else None,
                "how": s.how,
            }
        )
    run_limit = [(run_train + run_eval) / (matmul[0] * 1e9)]
    run_row = Row(
        "one default-study trial, whole run: FLOP limit vs wall time (a study's ratio is at least this)",
        "FLOP limit at the matmul rate",
        "measured wall time",
        "s",
        run_limit,
        walls,
        ratio_label="wall / limit",
        goal="" if settings.quick else f"<= {GOAL_STUDY:.2f}",
    )
    if not settings.quick:
        run_row.met = run_row.summary()["ratio_median"] <= GOAL_STUDY
    section.rows.append(run_row)
    rate = statistics.median(matmul)
    study_train, study_eval = study_flops(spec.variants, spec.seeds, [*spec.overrides, *study_extra])
    if earlier and "study" in earlier and earlier["study"].rows:
        section.rows.append(_study_row(earlier, spec, quick_run, rate))
    section.extra.update(
        device=kind,
        flop_counting="torch.utils.flop_counter.FlopCounterMode: matmul/conv FLOPs, forward + backward",
        flops_per_step={s.name: flops[s.name] for s in todo},
        table=table,
        table_markdown=_table(table, gpu),
        bf16_peak_tflops=peak,
        default_study={
            "study": f"{spec.name}: {len(spec.variants)} variants x {len(spec.seeds)} seeds"
            + (" (quick: tiny model, 1 epoch)" if settings.quick else ""),
            "training_gflop": study_train / 1e9,
            "evaluation_gflop": study_eval / 1e9,
            "flop_limit_s": (study_train + study_eval) / (rate * 1e9),
            "matmul_gflops": rate,
        },
        trial_run={"training_gflop": run_train / 1e9, "evaluation_gflop": run_eval / 1e9},
    )
    print(section.extra["table_markdown"], flush=True)
    return section
