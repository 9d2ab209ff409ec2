"""Checkpoints that survive a kill at any moment.

A checkpoint is written to a temporary file and renamed over `last.pt` (atomic on POSIX), and the
previous `last.pt` is kept as `last.prev.pt`, so a torn or corrupt file never costs more than one
interval: loading falls back to the previous good one with a warning.

`RunState` is what a run carries from step to step; `last.pt` holds every part of it that the config
cannot rebuild (weights, optimiser, schedule, grad scaler, RNG, counters, best so far), so resume is exact.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from g2core.disk_full import disk_full, full_write
from g2core.losses import CompositeLoss
from g2core.metrics import DepthMetrics
from g2core.names import BEST_CHECKPOINT, CHECKPOINT_RUN_ID, LAST_CHECKPOINT

log = logging.getLogger(__name__)

LAST = LAST_CHECKPOINT
PREVIOUS = "last.prev.pt"
BEST = BEST_CHECKPOINT


@dataclass
class RunState:
    """One run's moving parts and counters. `model` is the bare module (its state_dict is what checkpoints
    hold); `net` is what steps run through (the model, or its DDP / torch.compile wrapper)."""

    model: torch.nn.Module
    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    loss_fn: CompositeLoss
    metrics: DepthMetrics
    amp_dtype: torch.dtype | None
    epoch: int = -1  # the epoch running, or the last one finished (-1: none yet)
    step: int = 0  # optimiser steps taken
    best_value: float | None = None  # trainer.best_metric at the best validation
    best_epoch: int = -1
    best: dict[str, float] = field(default_factory=dict)  # the metrics of the best validation
    last: dict[str, float] = field(default_factory=dict)  # the last values logged

    def restore(self, saved: dict[str, Any]) -> None:
        """Continue from a `last.pt`: the next epoch is saved["epoch"] + 1."""
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["torch_rng"])
        self.epoch, self.step = saved["epoch"], saved["step"]
        self.best_value, self.best_epoch, self.best = saved["best_value"], saved["best_epoch"], saved["best"]

    def last_checkpoint(self, config: dict[str, Any], run_id: str, unsent: Any) -> dict[str, Any]:
        """Contents of `last.pt` at the end of `epoch`."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "epoch": self.epoch,
            "step": self.step,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "best": self.best,
            "config": config,
            CHECKPOINT_RUN_ID: run_id,
            "unsent": unsent,  # what a tracking outage kept from the server
        }

    def best_checkpoint(self, config: dict[str, Any]) -> dict[str, Any]:
        """Contents of `best.pt`: the weights of the best validation, for inference."""
        return {"model": self.model.state_dict(), "epoch": self.epoch, "config": config}


# tracking.log_checkpoints: which of a run folder's checkpoints are uploaded as run artifacts (under
# checkpoints/). best.pt by default: `evaluate.py ckpt=runs:/<id>/checkpoints/best.pt` and the report's links
# read it; last.pt (optimiser state included, twice the size) only when asked, it is for resuming here.
LOGGED_CHECKPOINTS = {"best": (BEST,), "all": (LAST, BEST), "none": ()}


def checkpoints_to_log(mode: str, run_dir: Path) -> list[Path]:
    """The checkpoint files that tracking.log_checkpoints=`mode` uploads, those that exist."""
    return [run_dir / name for name in LOGGED_CHECKPOINTS[mode] if (run_dir / name).exists()]


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """Write `path` whole or not at all; a failed write (a full disk: DiskFull) leaves no temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(_write_tmp(state, path), path)


def _write_tmp(state: dict[str, Any], path: Path) -> Path:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    for stale in path.parent.glob(path.name + ".tmp*"):  # torn by a process killed while writing
        if stale != tmp:
            stale.unlink(missing_ok=True)
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as exc:
        tmp.unlink(missing_ok=True)  # on a full disk, a torn file would only take more of it
        if full_write(exc) is not None:
            raise disk_full(path, exc) from exc
        raise
    return tmp


def save_last(state: dict[str, Any], run_dir: Path) -> None:
    """The new `last.pt`, the one it replaces kept as `last.prev.pt`; the rotation happens only once the new
    file is written whole, so a failed write (a full disk) leaves both earlier checkpoints as they were."""
    last = run_dir / LAST
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = _write_tmp(state, last)
    if last.exists():
        os.replace(last, run_dir / PREVIOUS)
    os.replace(tmp, last)


def load(path: Path) -> dict[str, Any]:
    # weights_only: a checkpoint holds tensors and plain data only, never pickled code.
    return torch.load(path, map_location="cpu", weights_only=True)


def load_latest(run_dir: Path) -> dict[str, Any] | None:
    """The newest readable checkpoint of a run folder, or None when it has none."""
    for name in (LAST, PREVIOUS):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            state = load(path)
            if not isinstance(state, dict) or "model" not in state or "step" not in state:
                raise ValueError("not a g2-ablate checkpoint (no 'model'/'step')")
            return state
        except Exception as exc:  # torn, truncated, or not ours: fall back, say so
            log.warning("checkpoint %s is unreadable (%s); falling back to the previous one", path, exc)
    return None
