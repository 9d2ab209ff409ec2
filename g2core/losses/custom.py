"""The user's own loss terms, declared in `loss.custom_terms` and weighted in `loss.weights` like built-ins.

    loss:
      custom_terms:
        edge: {_target_: mypkg.losses.edge_loss}   # extra keys are the function's keyword arguments
      weights:
        edge: 0.5

A term is a function `term(pred, gt, mask) -> scalar Tensor` with the built-ins' contract (pred, gt
float [B,1,H,W], mask bool [B,1,H,W]); `_target_` may also name a class whose instances are such
callables (an nn.Module), built once with the extra keys. The composite then computes, logs
(`train/loss_<term>`, `train/grad_share_<term>`) and ablates it exactly as it does the built-in terms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from torch import Tensor

from g2core.plugins import TARGET, import_target

TermFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def build_custom_term(term: str, node: Mapping[str, Any]) -> TermFn:
    """The callable a `loss.custom_terms.<term>` node declares (import errors: one line naming the key)."""
    target = import_target(node.get(TARGET), f"loss.custom_terms.{term}.{TARGET}")
    kwargs = {k: v for k, v in node.items() if k != TARGET}
    if isinstance(target, type):  # a class (e.g. an nn.Module): its instance is the term
        return target(**kwargs)
    return partial(target, **kwargs) if kwargs else target


def build_custom_terms(custom_terms: Mapping[str, Mapping[str, Any]] | None) -> dict[str, TermFn]:
    """Every declared term, by name, in declaration order."""
    return {str(term): build_custom_term(str(term), node) for term, node in (custom_terms or {}).items()}
