"""One training run, readable top to bottom: config -> data, model, loss -> steps -> validation -> checkpoints.

Launch with `python experiments/train.py` or `torchrun --nproc_per_node N experiments/train.py`. Only the
master process talks to MLflow and writes files. The same command after a crash resumes the same run.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from g2core.config import config_hash, resolved_container, validate_train_config
from g2core.data import build_datasets, model_input
from g2core.losses import build_loss
from g2core.metrics import DepthMetrics
from g2core.models import build_model
from g2core.tracking import TrackingUnavailable, check_tracking_uri, resolve_tracking_uri
from g2core.train import checkpoint
from g2core.train.evaluate import draw_samples, evaluate, mean_depth_reference, predict_samples
from g2core.train.run import open_run
from g2core.train.setup import autocast_dtype, build_optimizer, build_scheduler, init_distributed

log = logging.getLogger(__name__)


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or Inf: training stops, the last good checkpoint stays."""


class StopTraining(Exception):
    """Raised by a hook (a study's pruner, say) to end the run early with the given MLflow status."""

    def __init__(self, reason: str, status: str = "KILLED") -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class TrainHooks:
    on_run_started: Callable[[str], None] | None = None
    on_validation: Callable[[int, dict[str, float]], None] | None = None


@dataclass
class TrainResult:
    run_id: str | None
    run_dir: Path
    best: dict[str, float] = field(default_factory=dict)
    best_epoch: int = -1
    last: dict[str, float] = field(default_factory=dict)
    already_finished: bool = False


def default_run_dir(cfg: DictConfig) -> Path:
    if cfg.trainer.run_dir:
        return Path(cfg.trainer.run_dir)
    name = f"{cfg.variant}-s{cfg.seed}-{config_hash(cfg)}"
    if not cfg.trainer.resume:  # a fresh run every time: a fresh folder every time
        name += time.strftime("-%Y%m%d-%H%M%S")
    return Path(cfg.paths.root) / "runs" / name


def _improved(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value < best if mode == "min" else value > best)


def _loaders(cfg: DictConfig, ranks, device: torch.device):
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True)
    train_ds, val_ds = build_datasets(data_cfg, seed=cfg.seed, sparse_input=cfg.model.in_channels == 5)
    if cfg.data.batch_size % ranks.world_size:
        raise ValueError(
            f"data.batch_size={cfg.data.batch_size} must be divisible by the {ranks.world_size} processes"
        )
    per_rank = cfg.data.batch_size // ranks.world_size
    # The same sampler with one process or many: a 2-process run sees the same global batches as 1 process.
    sampler = DistributedSampler(
        train_ds, num_replicas=ranks.world_size, rank=ranks.rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    common = {"num_workers": cfg.data.num_workers, "pin_memory": device.type == "cuda"}
    # Full batches only (equal global batches under DDP), unless the data are fewer than one batch.
    drop_last = len(sampler) >= per_rank
    train_loader = DataLoader(train_ds, batch_size=per_rank, sampler=sampler, drop_last=drop_last, **common)
    val_sampler = (
        DistributedSampler(val_ds, ranks.world_size, ranks.rank, shuffle=False) if ranks.enabled else None
    )
    val_loader = DataLoader(val_ds, batch_size=per_rank, sampler=val_sampler, shuffle=False, **common)
    if len(train_loader) == 0:
        raise ValueError(f"data: {len(train_ds)} training samples make no batch of {cfg.data.batch_size}")
    return train_ds, val_ds, sampler, train_loader, val_loader


def train(cfg: DictConfig, hooks: TrainHooks | None = None) -> TrainResult:
    hooks = hooks or TrainHooks()
    validate_train_config(cfg)
    ranks, device = init_distributed(str(cfg.trainer.device))
    if cfg.trainer.threads:
        torch.set_num_threads(int(cfg.trainer.threads))
    run_dir = default_run_dir(cfg)
    state = checkpoint.load_latest(run_dir) if cfg.trainer.resume else None

    if ranks.master:  # the store answers before any work (generating data can take a while)
        check_tracking_uri(resolve_tracking_uri(cfg.tracking.uri, cfg.paths.root))
    loaders = _loaders(cfg, ranks, device)  # bad data fails here, before a run is created in the store
    run = open_run(cfg, run_dir, state) if ranks.master else None
    if run is not None and run.finished:
        log.info(
            "run %s already finished; nothing to do (trainer.resume=false trains a fresh run)", run.run_id
        )
        return TrainResult(run.run_id, run_dir, best=run.best, already_finished=True)
    if run is not None and hooks.on_run_started:
        hooks.on_run_started(run.run_id)

    try:
        return _fit(cfg, hooks, ranks, device, run_dir, state, run, loaders)
    except TrackingUnavailable:
        raise  # the server is down: the run stays open, its checkpoint keeps what was not sent
    except StopTraining as exc:
        _close(run, exc.status, str(exc))
        raise
    except KeyboardInterrupt:
        _close(run, "KILLED", "interrupted (Ctrl-C); run the same command again to resume")
        raise
    except BaseException as exc:
        _close(run, "FAILED", f"{type(exc).__name__}: {exc}")
        raise


def _close(run, status: str, reason: str) -> None:
    """Mark a run that stops early; a tracking outage must not hide the reason it stopped."""
    if run is None:
        return
    try:
        run.tracker.finish(status, reason)
    except TrackingUnavailable as exc:
        log.warning("%s", exc)


def _fit(cfg, hooks, ranks, device, run_dir: Path, state: dict[str, Any] | None, run, loaders) -> TrainResult:
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    train_ds, val_ds, sampler, train_loader, val_loader = loaders

    model_kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if k != "name"}
    model = build_model(cfg.model.name, **model_kwargs).to(device)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = build_loss(OmegaConf.to_container(cfg.loss.weights), cfg.loss.variant, cfg.loss.adepth_mask)
    terms = loss_fn.active_terms
    optimizer = build_optimizer(model, cfg.optim, device)
    steps_per_epoch = len(train_loader)
    scheduler = build_scheduler(
        optimizer, cfg.optim, steps_per_epoch, steps_per_epoch * cfg.trainer.max_epochs
    )
    amp_dtype = autocast_dtype(cfg.trainer.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.trainer.precision == "fp16")
    metrics = DepthMetrics(cfg.data.min_depth, cfg.data.max_depth, eigen_crop=bool(cfg.data.eigen_crop)).to(
        device
    )

    start_epoch, step, best_value, best_epoch, best = 0, 0, None, -1, {}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, step = state["epoch"] + 1, state["step"]
        best_value, best_epoch, best = state["best_value"], state["best_epoch"], state["best"]
        if ranks.master:
            log.info("resuming %s from epoch %d (step %d)", run_dir, start_epoch, step)
    net = model
    if ranks.enabled:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.trainer.compile:
        net = torch.compile(net)

    if state is None:  # once per run, so every report can say what learning nothing scores
        reference = mean_depth_reference(val_loader, metrics, device=device, align_mode=cfg.trainer.align)
        if ranks.master:
            run.tracker.log_metrics(reference, 0)
    sample_ids = list(range(min(cfg.trainer.num_samples, len(val_ds))))
    best_npz = run_dir / "best_predictions.npz"
    last: dict[str, float] = {}
    for epoch in range(start_epoch, cfg.trainer.max_epochs):
        sampler.set_epoch(epoch)
        train_ds.set_epoch(epoch)
        net.train()
        window = torch.zeros(len(terms) + 1, device=device)  # running sums: total, each term
        window_steps = 0
        bar = tqdm(
            train_loader,
            desc=f"epoch {epoch + 1}/{cfg.trainer.max_epochs}",
            disable=not (ranks.master and cfg.trainer.progress),
            leave=False,
            dynamic_ncols=True,
        )
        for batch in bar:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            x = model_input(batch, cfg.model.in_channels)
            if cfg.trainer.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, amp_dtype) if amp_dtype else nullcontext():
                pred = net(x)
            total, values = loss_fn(pred.float(), batch["depth"], batch["mask"], batch["sparse_mask"])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            if cfg.optim.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            window += torch.stack([total.detach(), *(values[t].detach() for t in terms)])
            window_steps += 1
            if step % cfg.trainer.log_every_n_steps == 0:
                last = _log_train_window(window, window_steps, terms, step, scheduler, ranks, run)
                window.zero_()
                window_steps = 0
                bar.set_postfix(loss=f"{last['train/loss']:.4f}")
        if window_steps:  # the end of an epoch is checked too, so no NaN weights reach a checkpoint
            last = _log_train_window(window, window_steps, terms, step, scheduler, ranks, run)

        final = epoch + 1 == cfg.trainer.max_epochs
        if (epoch + 1) % cfg.trainer.val_interval == 0 or final:
            val = evaluate(
                net,
                val_loader,
                loss_fn,
                metrics,
                device=device,
                in_channels=cfg.model.in_channels,
                align_mode=cfg.trainer.align,
                amp_dtype=amp_dtype,
            )
            last.update(val)
            value = val[cfg.trainer.best_metric]
            is_best = _improved(value, best_value, cfg.trainer.best_mode)
            if is_best:
                best_value, best_epoch = value, epoch
                best = {k.removeprefix("val/"): v for k, v in val.items() if not k.startswith("val/loss")}
            if ranks.master:
                run.tracker.log_metrics({**val, "val/epoch": epoch + 1}, step)
                if sample_ids:
                    samples = predict_samples(
                        model, val_ds, sample_ids, device=device, in_channels=cfg.model.in_channels
                    )
                    png = draw_samples(
                        samples,
                        run_dir / "samples" / f"epoch_{epoch + 1:03d}.png",
                        f"{cfg.variant} seed {cfg.seed}, epoch {epoch + 1}",
                    )
                    run.tracker.log_artifact(png, "samples", deferrable=True)
                    if is_best:
                        np.savez_compressed(best_npz, **samples)
                if cfg.trainer.progress:
                    log.info(
                        "epoch %d: %s=%.4f delta1=%.3f",
                        epoch + 1,
                        cfg.trainer.best_metric,
                        value,
                        val["val/delta1"],
                    )
            if is_best and ranks.master:
                checkpoint.save_atomic(
                    {"model": model.state_dict(), "epoch": epoch, "config": resolved_container(cfg)},
                    run_dir / checkpoint.BEST,
                )
            if hooks.on_validation:
                hooks.on_validation(epoch, val)

        if ranks.master and ((epoch + 1) % cfg.trainer.save_interval == 0 or final):
            # every metric up to this step is stored before the checkpoint says so
            run.tracker.flush(wait=True)
            checkpoint.save_last(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "epoch": epoch,
                    "step": step,
                    "best_value": best_value,
                    "best_epoch": best_epoch,
                    "best": best,
                    "config": resolved_container(cfg),
                    "mlflow_run_id": run.run_id,
                    "unsent": run.tracker.unsent_state(),  # what a tracking outage kept from the server
                },
                run_dir,
            )
        if ranks.enabled:
            dist.barrier()

    if ranks.master:
        run.tracker.log_metrics({f"best/{k}": v for k, v in best.items()}, step)
        run.tracker.log_metrics({"best/epoch": best_epoch + 1}, step)
        for name in (checkpoint.LAST, checkpoint.BEST):
            if (run_dir / name).exists():
                run.tracker.log_artifact(run_dir / name, "checkpoints", deferrable=True)
        if best_npz.exists():
            run.tracker.log_artifact(best_npz, "samples", deferrable=True)
        run.tracker.finish("FINISHED")
    return TrainResult(run.run_id if run else None, run_dir, best, best_epoch, last)


def _log_train_window(window, window_steps, terms, step, scheduler, ranks, run) -> dict[str, float]:
    """Average the loss window over steps and ranks; the one host-device sync of the step loop."""
    means = window / window_steps
    if ranks.enabled:
        dist.all_reduce(means)
        means /= ranks.world_size
    values = means.tolist()
    if not all(np.isfinite(values)):
        raise NonFiniteLoss(
            f"non-finite loss at step {step} (total={values[0]}, "
            + ", ".join(f"{t}={v}" for t, v in zip(terms, values[1:], strict=True))
            + "); lower optim.lr, set optim.grad_clip, or check the data. The last good checkpoint is kept."
        )
    logged = {
        "train/loss": values[0],
        **{f"train/loss_{t}": v for t, v in zip(terms, values[1:], strict=True)},
    }
    logged["train/lr"] = scheduler.get_last_lr()[0]
    if ranks.master:
        run.tracker.log_metrics(logged, step)
    return logged
