"""The weighted sum of loss terms that a run trains with, built from ``loss.weights``.

The built-in terms (g2core.names.LOSS_TERMS) and the user's own (``loss.custom_terms``: g2core.losses.custom)
are computed, weighted and reported the same way; ``create_loss(cfg.loss)`` builds it from a config.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from g2core.names import ADEPTH_MASKS, LOSS_TERMS
from g2core.validate import check_loss

from .custom import TermFn, build_custom_terms
from .g2 import adepth, rdepth, rgrad
from .midas import gm, ssi
from .silog import silog

TERMS = LOSS_TERMS
__all__ = ["ADEPTH_MASKS", "TERMS", "CompositeLoss", "create_loss", "term_functions"]


def term_functions(variant: str = "seed") -> dict[str, TermFn]:
    """The built-in terms by name (LOSS_TERMS order), G2 terms in `variant`."""
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

    def __init__(
        self,
        weights: Mapping[str, float],
        variant: str = "seed",
        adepth_mask: str = "gt",
        custom_terms: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        # The same check as a run's config gets (g2core.validate), for callers that build a loss directly.
        self.weights = check_loss(weights, variant, adepth_mask, custom_terms)
        self.variant = variant
        self.adepth_mask = adepth_mask
        # Built-ins in TERMS order, then the user's in declaration order: every run lists terms the same way.
        declared = [str(t) for t in (custom_terms or {})]
        self.active_terms: tuple[str, ...] = tuple(
            t for t in (*TERMS, *declared) if self.weights.get(t, 0.0) > 0
        )
        active_custom = {t: node for t, node in (custom_terms or {}).items() if t in self.active_terms}
        functions = {**term_functions(variant), **build_custom_terms(active_custom)}
        self._functions = {term: functions[term] for term in self.active_terms}
        # A term that is an nn.Module moves with the loss (.to(device)) and shows in its repr.
        self.custom_modules = nn.ModuleDict(
            {t: f for t, f in self._functions.items() if isinstance(f, nn.Module)}
        )

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


def create_loss(loss: Mapping[str, Any] | None = None, /, **keys: Any) -> CompositeLoss:
    """The composite loss of a config's ``loss`` node (a DictConfig or a plain mapping: ``weights``,
    ``variant``, ``adepth_mask``, ``custom_terms``) with ``keys`` on top: ``create_loss(cfg.loss)``,
    ``create_loss(weights={"ssi": 1.0}, variant="official")``. The one way a loss is built."""
    from omegaconf import DictConfig, OmegaConf

    node = OmegaConf.to_container(loss, resolve=True) if isinstance(loss, DictConfig) else dict(loss or {})
    node.update(keys)
    return CompositeLoss(
        node["weights"],
        node.get("variant", "seed"),
        node.get("adepth_mask", "gt"),
        custom_terms=node.get("custom_terms") or None,
    )
