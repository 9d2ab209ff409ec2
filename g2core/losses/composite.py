"""The weighted sum of loss terms that a run trains with, built from ``loss.weights``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import torch
from torch import Tensor, nn

from g2core.names import ADEPTH_MASKS, LOSS_TERMS
from g2core.validate import check_loss

from .g2 import adepth, rdepth, rgrad
from .midas import gm, ssi
from .silog import silog

TERMS = LOSS_TERMS
__all__ = ["ADEPTH_MASKS", "TERMS", "CompositeLoss", "build_loss"]

TermFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def _term_functions(variant: str) -> dict[str, TermFn]:
    return {
        "adepth": partial(adepth, variant=variant),
        "rdepth": partial(rdepth, variant=variant),
        "rgrad": partial(rgrad, variant=variant),
        "ssi": ssi,
        "gm": gm,
        "silog": silog,
    }


class CompositeLoss(nn.Module):
    """total = sum_i w_i * term_i over the terms with a non-zero weight.

    Calling it returns ``(total, values)``, where ``values`` maps every computed term to
    its unweighted value (still attached to the graph; detach before logging). Terms with
    weight 0 are neither computed nor reported, so an ablation pays only for what it uses.
    """

    def __init__(self, weights: Mapping[str, float], variant: str = "seed", adepth_mask: str = "gt") -> None:
        super().__init__()
        # The same check as a run's config gets (g2core.validate), for callers that build a loss directly.
        self.weights = check_loss(weights, variant, adepth_mask)
        self.variant = variant
        self.adepth_mask = adepth_mask
        # Kept in TERMS order so that logs and reports list terms the same way for every run.
        self.active_terms: tuple[str, ...] = tuple(t for t in TERMS if self.weights.get(t, 0.0) > 0)
        functions = _term_functions(variant)
        self._functions = {term: functions[term] for term in self.active_terms}

    def forward(
        self, pred: Tensor, gt: Tensor, mask: Tensor, sparse_mask: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        # The G2 standardization divides by a MAD + 1e-6 and MiDaS solves a 2x2 system of
        # large sums: both lose too much in 16-bit floats, so AMP outputs are promoted.
        if pred.dtype in (torch.float16, torch.bfloat16):
            pred = pred.float()
        gt = gt.to(pred.dtype)
        mask = _as_bool(mask)
        values: dict[str, Tensor] = {}
        for term in self.active_terms:
            term_mask = mask
            if term == "adepth" and self.adepth_mask == "sparse":
                if sparse_mask is None:
                    raise ValueError(
                        "loss.adepth_mask: 'sparse' masks the absolute term by the sparse input's "
                        "validity, so the loss needs sparse_mask; pass it or set loss.adepth_mask=gt"
                    )
                term_mask = _as_bool(sparse_mask)
            values[term] = self._functions[term](pred, gt, term_mask)
        total = sum((self.weights[t] * values[t] for t in self.active_terms), pred.new_zeros(()))
        return total, values

    def extra_repr(self) -> str:
        weights = ", ".join(f"{t}={self.weights[t]:g}" for t in self.active_terms)
        return f"{weights}, variant={self.variant!r}, adepth_mask={self.adepth_mask!r}"


def _as_bool(mask: Tensor) -> Tensor:
    # A validity channel often arrives as 0/1 floats (the 5-channel input's last channel).
    return mask if mask.dtype == torch.bool else mask > 0


def build_loss(weights: Mapping[str, float], variant: str = "seed", adepth_mask: str = "gt") -> CompositeLoss:
    """The composite loss of a config's ``loss`` section (``loss.weights``, ``loss.variant``, ``loss.adepth_mask``)."""
    return CompositeLoss(weights, variant=variant, adepth_mask=adepth_mask)
