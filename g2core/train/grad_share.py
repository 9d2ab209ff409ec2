"""Loss-term balance: each active term's share of the gradient the prediction receives.

share_i = ||d(w_i * term_i) / d pred|| / sum_j ||d(w_j * term_j) / d pred||, logged as train/grad_share_<term>.
A term's value says little about its pull on the model (rgrad weighted 0.2 is about 4.2 while ssi and silog
are about 0.4 in the default study); the gradient on the prediction is what the network is trained with.

The gradients are taken with respect to the prediction only (torch.autograd.grad on the output, through the
loss terms' small graphs, never through the network), on logging steps only, with the graph retained for the
step's own backward; the norms stay on the device until the logging step's one host sync.
"""

from __future__ import annotations

import torch
from torch import Tensor


def grad_norms(
    pred: Tensor, values: dict[str, Tensor], weights: dict[str, float], terms: tuple[str, ...]
) -> Tensor:
    """[len(terms)] norms of d(w_i * term_i)/d pred (on pred's device; no host sync).

    One autograd call for all terms: the weighted terms as a vector, differentiated against the rows of an
    identity (is_grads_batched, a vmap over the loss terms' backward)."""
    weighted = torch.stack([values[t] * float(weights[t]) for t in terms])
    eye = torch.eye(len(terms), device=weighted.device, dtype=weighted.dtype)
    try:
        (grads,) = torch.autograd.grad(weighted, pred, eye, retain_graph=True, is_grads_batched=True)
        return grads.flatten(1).norm(dim=1).detach().float()
    except RuntimeError:  # an operation without a batching rule: one call per term
        return per_term_norms(pred, weighted)


def per_term_norms(pred: Tensor, weighted: Tensor) -> Tensor:
    norms = []
    for value in weighted:
        (grad,) = torch.autograd.grad(value, pred, retain_graph=True, allow_unused=True)
        norms.append(grad.norm() if grad is not None else pred.new_zeros(()))
    return torch.stack(norms).detach().float()


def shares(norms: Tensor) -> Tensor:
    """Norms -> shares summing to 1 (all zero when no term has a gradient)."""
    total = norms.sum()
    return torch.where(
        total > 0, norms / total.clamp_min(torch.finfo(norms.dtype).tiny), torch.zeros_like(norms)
    )
