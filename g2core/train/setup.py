"""What a run needs before its first step: the process group, the device, the optimiser and the schedule."""

from __future__ import annotations

import logging
import math
import os
import shutil
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from omegaconf import DictConfig

from g2core.train.param_groups import parameter_groups

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def master(self) -> bool:
        """Only the master process logs, writes checkpoints and draws progress bars."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls) -> Dist:
        """This process's ranks as torchrun sets them (a process started otherwise: rank 0 of 1)."""
        env = os.environ
        return cls(
            int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", "0")), int(env.get("WORLD_SIZE", "1"))
        )


def resolve_device(device_pref: str, local_rank: int | None = None) -> torch.device:
    """The device of a validated trainer.device (auto: a GPU when there is one); under torchrun, the
    process's own GPU (`local_rank`) whatever index was asked for."""
    if not (device_pref.startswith("cuda") or (device_pref == "auto" and torch.cuda.is_available())):
        return torch.device("cpu")
    if local_rank is None:
        local_rank = int(device_pref.split(":")[1]) if ":" in device_pref else 0
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)
    return device


def init_distributed(device_pref: str) -> tuple[Dist, torch.device]:
    """Join the process group when launched by torchrun (nccl on GPU, gloo on CPU).

    `device_pref` is a validated trainer.device (g2core.validate.check_device refused cuda without a GPU).
    """
    ranks = Dist.from_env()
    device = resolve_device(device_pref, ranks.local_rank if ranks.enabled else None)
    if ranks.enabled and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ranks, device


def close_distributed() -> None:
    """Leave the process group together once the work is done: every rank waits for the others, then tears
    it down. A rank that exited while another still used the group was aborted by gloo ('terminate called
    without an active exception', seen when a finished run was started again under torchrun)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def from_master(value: Any, ranks: Dist) -> Any:
    """The master's `value` on every rank (a picklable object): what only the master decides, such as
    "the run already finished", must be the same decision everywhere, or the other ranks wait forever."""
    if not ranks.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def build_optimizer(model: torch.nn.Module, optim: DictConfig, device: torch.device) -> torch.optim.Optimizer:
    # Decay / no-decay groups, and a pretrained encoder's lr apart from the head's (optim.head_lr_mult).
    groups = parameter_groups(model, optim)
    cls = torch.optim.AdamW if optim.name == "adamw" else torch.optim.Adam
    kwargs = {"fused": True} if device.type == "cuda" else {}
    return cls(groups, lr=optim.lr, betas=tuple(optim.betas), **kwargs)


def lr_factor(step: int, optim: DictConfig, steps_per_epoch: int, total_steps: int) -> float:
    """Multiplier of the base learning rate after `step` optimiser steps (one schedule, stepped per step)."""
    sched = optim.scheduler
    warmup = int(sched.warmup_steps)
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    if sched.name == "step":
        return float(sched.gamma) ** ((step // max(1, steps_per_epoch)) // int(sched.step_size))
    if sched.name == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if sched.name == "poly":
        return (1.0 - progress) ** float(sched.power)
    return 1.0


def build_scheduler(
    optimizer: torch.optim.Optimizer, optim: DictConfig, steps_per_epoch: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, optim, steps_per_epoch, total_steps)
    )


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a validated trainer.precision (fp16 was refused without a GPU)."""
    if precision == "fp32":
        return None
    return torch.bfloat16 if precision == "bf16" else torch.float16


def compiled(net: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """torch.compile(net), or `net` unchanged with one warning line when the CPU has no C++ compiler.

    On a CPU inductor writes C++ and builds it with the compiler in $CXX (else g++/c++/clang++); without one
    the first step would fail deep inside inductor, so the run goes on eager instead.
    """
    if device.type == "cpu":
        candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "c++", "clang++"]
        if not any(shutil.which(c) for c in candidates):
            log.warning(
                "trainer.compile=true: no C++ compiler (%s) on PATH for torch.compile on the CPU; "
                "running eager (install g++ or set CXX)",
                "/".join(candidates),
            )
            return net
    return torch.compile(net)
