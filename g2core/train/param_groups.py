"""The optimiser's parameter groups: weight decay or not, and the pretrained encoder's lr against the head's.

Fine-tuning a pretrained encoder follows Depth Anything V2's metric recipe (metric_depth/train.py): the
encoder at the base lr, everything else (the neck and head, trained from scratch) at `optim.head_lr_mult`
times it (10 there). A model says which parameters are its encoder with an `encoder_prefixes` attribute
(names as `named_parameters` gives them); a model without one is all "head" and takes only mult 1. The
schedule (g2core.train.setup.lr_factor) scales every group's lr by the same factor, so the ratio holds.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig

from g2core.schema import ConfigError


def _split_decay(params: list[tuple[str, torch.nn.Parameter]]) -> tuple[list, list]:
    decay, no_decay = [], []
    for _, param in params:
        # Norm weights, biases and ReZero alphas are 0/1-dim: decaying them only fights the architecture.
        (no_decay if param.ndim < 2 else decay).append(param)
    return decay, no_decay


def parameter_groups(model: torch.nn.Module, optim: DictConfig) -> list[dict[str, Any]]:
    """Groups with their own `lr` and `weight_decay`; empty groups are left out."""
    mult = float(optim.head_lr_mult)
    prefixes = tuple(getattr(model, "encoder_prefixes", ()))
    if mult != 1.0 and not prefixes:
        raise ConfigError(
            f"optim.head_lr_mult={mult:g}: model {getattr(model, 'model_name', type(model).__name__)} does not "
            "say which parameters are its pretrained encoder (no encoder_prefixes); set optim.head_lr_mult=1"
        )
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    parts = {
        "encoder": [(n, p) for n, p in named if n.startswith(prefixes)] if prefixes else [],
        "head": [(n, p) for n, p in named if not (prefixes and n.startswith(prefixes))],
    }
    split = optim.name == "adamw" and optim.no_decay_norm_and_bias
    groups = []
    for part, params in parts.items():
        lr = float(optim.lr) * (mult if part == "head" else 1.0)
        decay, no_decay = _split_decay(params)
        wd = float(optim.weight_decay)
        if split:
            pairs = [(part, decay, wd), (f"{part}_no_decay", no_decay, 0.0)]
        else:  # (this order keeps the optimiser state of checkpoints written before these groups)
            pairs = [(part, decay + no_decay, wd)]
        groups += [{"params": ps, "lr": lr, "weight_decay": w, "name": n} for n, ps, w in pairs if ps]
    return groups
