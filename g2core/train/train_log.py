"""The training loss window: running sums on the device between two logging steps, then one host sync.

Every trainer.log_every_n_steps the window's means (train/loss, train/loss_<term>), the learning rate and the
terms' gradient shares (train/grad_share_<term>, g2core.train.grad_share) are logged in one batch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from g2core.names import LOSS, LR_KEY, TRAIN, grad_share_key, metric_key, term_key
from g2core.train.checkpoint import RunState
from g2core.train.grad_share import shares
from g2core.train.run import RunContext


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or Inf: training stops, the last good checkpoint stays."""


class LossWindow:
    def __init__(self, terms: tuple[str, ...], device: torch.device) -> None:
        self.terms = terms
        self.sums = torch.zeros(len(terms) + 1, device=device)  # total, each term
        self.steps = 0
        self.norms: Tensor | None = None  # gradient norms per term, measured on the logging step

    def add(self, total: Tensor, values: dict[str, Tensor]) -> None:
        self.sums += torch.stack([total.detach(), *(values[t].detach() for t in self.terms)])
        self.steps += 1

    def log(self, ctx: RunContext, state: RunState) -> dict[str, float]:
        """Average over steps and ranks, log, and start a new window; the one host-device sync of the loop."""
        n = len(self.terms)
        parts = [self.sums / self.steps] + ([shares(self.norms)] if self.norms is not None else [])
        packed = torch.cat(parts)
        if ctx.ranks.enabled:
            dist.all_reduce(packed)
            packed /= ctx.ranks.world_size
        values = packed.tolist()
        self.sums.zero_()
        self.steps, self.norms = 0, None
        losses = values[: n + 1]
        if not all(np.isfinite(losses)):
            raise NonFiniteLoss(
                f"non-finite loss at step {state.step} (total={losses[0]}, "
                + ", ".join(f"{t}={v}" for t, v in zip(self.terms, losses[1:], strict=True))
                + "); lower optim.lr, set optim.grad_clip, or check the data. The last good checkpoint is kept."
            )
        logged = {
            metric_key(TRAIN, LOSS): losses[0],
            **{term_key(TRAIN, t): v for t, v in zip(self.terms, losses[1:], strict=True)},
        }
        logged.update({grad_share_key(t): v for t, v in zip(self.terms, values[n + 1 :], strict=False)})
        logged[LR_KEY] = state.scheduler.get_last_lr()[0]
        if ctx.run is not None:
            ctx.run.tracker.log_metrics(logged, state.step)
        return logged
