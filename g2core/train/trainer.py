"""One training run, readable top to bottom: config -> data, model, loss -> steps -> validation -> checkpoints.

`train` runs four named steps over one `RunState` (g2core.train.checkpoint): `set_up` (model, optimiser,
schedule; resume), then per epoch `train_epoch` and `validate_and_checkpoint`, then `finish`.
Launch with `python experiments/train.py` or `torchrun --nproc_per_node N experiments/train.py`. Only the
master process talks to MLflow and writes files. The same command after a crash resumes the same run.
"""

from __future__ import annotations

import logging
import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from g2core.config import resolved_container
from g2core.data import model_input
from g2core.losses import create_loss
from g2core.metrics import DepthMetrics
from g2core.models import build_model
from g2core.names import (
    ALL_METRIC_KEYS,
    BEST,
    BEST_EPOCH_KEY,
    CHECKPOINTS_DIR,
    LOSS,
    SAMPLES_DIR,
    TRAIN,
    VAL,
    metric_key,
)
from g2core.tracking import TrackingUnavailable, check_tracking_uri, resolve_tracking_uri
from g2core.train import checkpoint
from g2core.train.checkpoint import RunState
from g2core.train.evaluate import evaluate, evaluate_test_split, mean_depth_reference, save_samples
from g2core.train.grad_share import grad_norms
from g2core.train.interrupt import sigint_ignored
from g2core.train.progress import EpochProgress
from g2core.train.run import (
    OpenRun,
    Phase,
    RunContext,
    StopTraining,
    TrainHooks,
    build_loaders,
    default_run_dir,
    open_run,
)
from g2core.train.setup import (
    autocast_dtype,
    build_optimizer,
    build_scheduler,
    compiled,
    from_master,
    init_distributed,
)
from g2core.train.train_log import LossWindow, NonFiniteLoss
from g2core.validate import validate_train_config

__all__ = ["NonFiniteLoss", "TrainResult", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_id: str | None
    run_dir: Path
    best: dict[str, float] = field(default_factory=dict)
    best_epoch: int = -1
    last: dict[str, float] = field(default_factory=dict)
    already_finished: bool = False


def _improved(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value < best if mode == "min" else value > best)


def train(cfg: DictConfig, hooks: TrainHooks | None = None, *, validated: bool = False) -> TrainResult:
    hooks = hooks or TrainHooks()
    if not validated:  # a study's worker passes True: its preflight validated every variant's config
        validate_train_config(cfg)
    ranks, device = init_distributed(str(cfg.trainer.device))
    if cfg.trainer.threads:
        torch.set_num_threads(int(cfg.trainer.threads))
    run_dir = from_master(default_run_dir(cfg), ranks)  # a fresh run's folder name holds the time
    saved = checkpoint.load_latest(run_dir) if cfg.trainer.resume else None

    if ranks.master:  # the store answers before any work (generating data can take a while)
        check_tracking_uri(resolve_tracking_uri(cfg.tracking.uri, cfg.paths.root))
    with hooks.timed(Phase.DATA):  # bad data fails here, before a run is created in the store
        loaders = build_loaders(cfg, ranks, device)
    with hooks.timed(Phase.RUN_SETUP):
        run = open_run(cfg, run_dir, saved, loaders) if ranks.master else None
    if from_master(run is not None and run.finished, ranks):  # every rank stops, not the master alone
        if run is None:
            return TrainResult(None, run_dir, already_finished=True)
        log.info(
            "run %s already finished; nothing to do (trainer.resume=false trains a fresh run)", run.run_id
        )
        return TrainResult(run.run_id, run_dir, best=run.best, already_finished=True)
    if run is not None and hooks.on_run_started:
        hooks.on_run_started(run.run_id)

    ctx = RunContext(cfg, hooks, ranks, device, run_dir, run, loaders)
    try:
        state = set_up(ctx, saved)
        # One line per epoch; inside a study (no step bar there: several would garble) it is the progress.
        progress = EpochProgress(cfg, state.epoch + 1)
        show = run is not None and (cfg.trainer.progress or bool(cfg.tracking.parent_run_id))
        for epoch in range(state.epoch + 1, cfg.trainer.max_epochs):
            state.epoch = epoch
            train_epoch(ctx, state)
            validate_and_checkpoint(ctx, state)
            if show:
                progress.report(epoch, state.last)
        return finish(ctx, state)
    except TrackingUnavailable:
        raise  # the server is down: the run stays open, its checkpoint keeps what was not sent
    except StopTraining as exc:
        _close(run, exc.status, str(exc))
        raise
    except KeyboardInterrupt:
        with sigint_ignored():  # a second Ctrl-C must not leave the run RUNNING
            _close(run, "KILLED", "interrupted (Ctrl-C); run the same command again to resume")
        raise
    except BaseException as exc:
        _close(run, "FAILED", f"{type(exc).__name__}: {exc}")
        raise


def _close(run: OpenRun | None, status: str, reason: str) -> None:
    """Mark a run that stops early; a tracking outage must not hide the reason it stopped."""
    if run is None:
        return
    try:
        run.tracker.finish(status, reason)
    except TrackingUnavailable as exc:
        log.warning("%s", exc)


def set_up(ctx: RunContext, saved: dict[str, Any] | None) -> RunState:
    """Seed, build the model, loss, optimiser and schedule; resume from `saved` or log the reference."""
    cfg, device = ctx.cfg, ctx.device
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    model_kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if k != "name"}
    model = build_model(cfg.model.name, **model_kwargs).to(device)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = create_loss(cfg.loss)
    optimizer = build_optimizer(model, cfg.optim, device)
    steps_per_epoch = len(ctx.loaders.train)
    scheduler = build_scheduler(
        optimizer, cfg.optim, steps_per_epoch, steps_per_epoch * cfg.trainer.max_epochs
    )
    amp_dtype = autocast_dtype(cfg.trainer.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.trainer.precision == "fp16")
    metrics = DepthMetrics(cfg.data.min_depth, cfg.data.max_depth, eigen_crop=bool(cfg.data.eigen_crop))
    metrics = metrics.to(device)
    state = RunState(model, model, optimizer, scheduler, scaler, loss_fn, metrics, amp_dtype)
    if saved is not None:
        state.restore(saved)
        if ctx.ranks.master:
            log.info("resuming %s from epoch %d (step %d)", ctx.run_dir, state.epoch + 1, state.step)
    if ctx.ranks.enabled:
        state.net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if cfg.trainer.compile:
        state.net = compiled(state.net, device)

    if saved is None:  # once per run, so every report can say what learning nothing scores
        with ctx.hooks.timed(Phase.REFERENCE):
            # on the split the report reads: the test split when there is one
            reference = mean_depth_reference(
                ctx.loaders.test or ctx.loaders.val, metrics, device=device, align_mode=cfg.trainer.align
            )
        if ctx.run is not None:  # params (ref.<metric>): kept out of the run's metric charts
            ctx.run.tracker.log_params(reference)
    return state


def train_epoch(ctx: RunContext, state: RunState) -> None:
    """One pass over the training loader; the loss window is logged every trainer.log_every_n_steps."""
    cfg, device, loaders = ctx.cfg, ctx.device, ctx.loaders
    loaders.train_sampler.set_epoch(state.epoch)
    loaders.train_set.set_epoch(state.epoch)
    state.net.train()
    terms, every = state.loss_fn.active_terms, cfg.trainer.log_every_n_steps
    window = LossWindow(terms, device)
    bar = tqdm(
        loaders.train,
        desc=f"epoch {state.epoch + 1}/{cfg.trainer.max_epochs}",
        disable=not (ctx.ranks.master and cfg.trainer.progress),
        leave=False,
        dynamic_ncols=True,
    )
    with ctx.hooks.timed(Phase.STEP_LOOP):
        for batch in bar:
            if ctx.hooks.on_batch:
                ctx.hooks.on_batch(state.step)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            x = model_input(batch, cfg.model.in_channels)
            if cfg.trainer.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, state.amp_dtype) if state.amp_dtype else nullcontext():
                pred = state.net(x)
            pred = pred.float()
            total, values = state.loss_fn(pred, batch["depth"], batch["mask"], batch["sparse_mask"])
            if (state.step + 1) % every == 0:  # logging steps only: the loop pays nothing otherwise
                window.norms = grad_norms(pred, values, state.loss_fn.weights, terms)
            state.optimizer.zero_grad(set_to_none=True)
            state.scaler.scale(total).backward()
            if cfg.optim.grad_clip > 0:
                state.scaler.unscale_(state.optimizer)
                torch.nn.utils.clip_grad_norm_(state.model.parameters(), cfg.optim.grad_clip)
            state.scaler.step(state.optimizer)
            state.scaler.update()
            state.scheduler.step()
            state.step += 1
            window.add(total, values)
            if state.step % every == 0:
                state.last = window.log(ctx, state)
                bar.set_postfix(loss=f"{state.last[metric_key(TRAIN, LOSS)]:.4f}")
    if window.steps:  # the end of an epoch is checked too, so no NaN weights reach a checkpoint
        state.last = window.log(ctx, state)


def validate_and_checkpoint(ctx: RunContext, state: RunState) -> None:
    """Validate (every trainer.val_interval epochs and after the last), draw the samples, keep the best,
    write last.pt (every trainer.save_interval epochs and after the last)."""
    cfg, ranks, run, epoch = ctx.cfg, ctx.ranks, ctx.run, state.epoch
    final = epoch + 1 == cfg.trainer.max_epochs
    if (epoch + 1) % cfg.trainer.val_interval == 0 or final:
        with ctx.hooks.timed(Phase.VALIDATION):
            val = evaluate(ctx, state)
        state.last.update(val)
        value = val[cfg.trainer.best_metric]
        is_best = _improved(value, state.best_value, cfg.trainer.best_mode)
        if is_best:
            state.best_value, state.best_epoch = value, epoch
            state.best = {k: val[metric_key(VAL, k)] for k in ALL_METRIC_KEYS if metric_key(VAL, k) in val}
        if run is not None:
            run.tracker.log_metrics({**val, metric_key(VAL, "epoch"): epoch + 1}, state.step)
            save_samples(ctx, state, is_best)
        if is_best and ranks.master:
            with ctx.hooks.timed(Phase.CHECKPOINTS):
                checkpoint.save_atomic(
                    state.best_checkpoint(resolved_container(cfg)), ctx.run_dir / checkpoint.BEST
                )
        if ctx.hooks.on_validation:
            ctx.hooks.on_validation(epoch, val)

    if run is not None and ((epoch + 1) % cfg.trainer.save_interval == 0 or final):
        run.tracker.flush(wait=True)  # every metric up to this step is stored before the checkpoint says so
        contents = state.last_checkpoint(resolved_container(cfg), run.run_id, run.tracker.unsent_state())
        with ctx.hooks.timed(Phase.CHECKPOINTS):
            checkpoint.save_last(contents, ctx.run_dir)
    if ranks.enabled:
        dist.barrier()


def finish(ctx: RunContext, state: RunState) -> TrainResult:
    """The test split's evaluation; best/* metrics, the checkpoints and the best predictions as artifacts;
    the run is FINISHED."""
    run = ctx.run
    if run is not None and ctx.loaders.test is not None:
        evaluate_test_split(ctx, state)
    if run is not None:
        run.tracker.log_metrics({metric_key(BEST, k): v for k, v in state.best.items()}, state.step)
        run.tracker.log_metrics({BEST_EPOCH_KEY: state.best_epoch + 1}, state.step)
        for path in checkpoint.checkpoints_to_log(ctx.cfg.tracking.log_checkpoints, ctx.run_dir):
            run.tracker.log_artifact(path, CHECKPOINTS_DIR, deferrable=True)
        if ctx.best_npz.exists():
            run.tracker.log_artifact(ctx.best_npz, SAMPLES_DIR, deferrable=True)
        run.tracker.finish("FINISHED")
    return TrainResult(run.run_id if run else None, ctx.run_dir, state.best, state.best_epoch, state.last)
