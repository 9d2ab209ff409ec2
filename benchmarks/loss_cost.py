"""Section 4: forward + backward time of each loss term as a share of the model's forward + backward.

The model side is `build_model` + `pred.mean().backward()` on a fixed batch; a term side is the term on a
detached copy of a prediction (a leaf that requires grad) + its backward. So a term's share is exactly
what it adds to a training step. Each recipe also as a logging step, with the gradient shares the trainer
logs every `trainer.log_every_n_steps` steps. Interleaved per round: model, then every term, then the next
round.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor

from benchmarks._common import Row, Section, Settings, interleave, per_call
from g2core.losses import adepth, create_loss, gm, rdepth, rgrad, silog, ssi
from g2core.models import build_model
from g2core.train.grad_share import grad_norms

GOAL_SHARE = 0.05  # all active terms of a recipe together, at paper scale


@dataclass(frozen=True)
class Scale:
    name: str
    features: int
    levels: int
    in_channels: int
    batch: int
    height: int
    width: int


# The recipes whose terms a study actually trains with (conf/experiment): name -> loss.weights / variant.
RECIPES: dict[str, tuple[dict[str, float], str]] = {
    "baseline (ssi+silog)": ({"ssi": 0.5, "silog": 0.5}, "seed"),
    "g2_full (adepth+rdepth+rgrad, seed)": ({"adepth": 1.0, "rdepth": 1.0, "rgrad": 0.5}, "seed"),
    "g2_full_official": ({"adepth": 1.0, "rdepth": 1.0, "rgrad": 0.5}, "official"),
    "midas (ssi+gm)": ({"ssi": 1.0, "gm": 0.5}, "seed"),
    "all six terms": ({t: 1.0 for t in ("adepth", "rdepth", "rgrad", "ssi", "gm", "silog")}, "seed"),
}

TERMS: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "adepth": adepth,
    "rdepth": rdepth,
    "rgrad (seed)": partial(rgrad, variant="seed"),
    "rgrad (official)": partial(rgrad, variant="official"),
    "ssi": ssi,
    "gm": gm,
    "silog": silog,
}


def scales(settings: Settings) -> list[Scale]:
    # Paper scale is 448x640 on a GPU; on this CPU 128x128 (64x64 quick) keeps the model side to seconds.
    # Both sides scale with the pixel count, so the share is what carries over.
    paper = settings.pick(64, 128)
    return [
        Scale("default", 16, 4, 3, 8, 32, 32),  # conf defaults: 32x32 procedural scenes
        Scale("paper", 64, 7, 5, 8, paper, paper),
    ]


def _batch(scale: Scale) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(0)
    shape = (scale.batch, 1, scale.height, scale.width)
    gt = 0.5 + 9.5 * torch.rand(shape, generator=gen)
    mask = torch.rand(shape, generator=gen) > 0.1
    pred = gt * torch.exp(0.1 * torch.randn(shape, generator=gen))
    x = torch.randn((scale.batch, scale.in_channels, scale.height, scale.width), generator=gen)
    return x, pred, gt, mask


def _model_side(scale: Scale, x: Tensor) -> Callable[[], None]:
    torch.manual_seed(0)
    model = build_model(
        "g2_unet", features=scale.features, levels=scale.levels, in_channels=scale.in_channels
    )

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(x).mean().backward()

    return step


def _loss_side(fn: Callable[..., Tensor], pred: Tensor, gt: Tensor, mask: Tensor) -> Callable[[], None]:
    def step() -> None:
        leaf = pred.detach().requires_grad_(True)
        out = fn(leaf, gt, mask)
        (out[0] if isinstance(out, tuple) else out).backward()

    return step


def _grad_share_side(loss, pred: Tensor, gt: Tensor, mask: Tensor) -> Callable[[], None]:
    """A logging step's loss: the recipe's forward + backward and the gradient shares the trainer logs
    (one extra autograd call on the prediction, g2core.train.grad_share)."""

    def step() -> None:
        leaf = pred.detach().requires_grad_(True)
        total, values = loss(leaf, gt, mask)
        grad_norms(leaf, values, loss.weights, loss.active_terms)
        total.backward()

    return step


def _measure_scale(scale: Scale, settings: Settings, section: Section) -> None:
    x, pred, gt, mask = _batch(scale)
    model_step = _model_side(scale, x)
    model_step()  # warm-up: allocator, thread pool, first-call dispatch
    model_reps = settings.pick(1, 3 if scale.name == "default" else 1)
    term_reps = settings.pick(3, 30 if scale.name == "default" else 10)
    sides = {"model": per_call(model_step, model_reps)}
    for name, fn in TERMS.items():
        sides[name] = per_call(_loss_side(fn, pred, gt, mask), term_reps)
    for name, (weights, variant) in RECIPES.items():
        recipe = {"weights": weights, "variant": variant}
        sides[name] = per_call(_loss_side(create_loss(recipe), pred, gt, mask), term_reps)
        shared = _grad_share_side(create_loss(recipe), pred, gt, mask)
        sides[f"{name} + grad shares (logging step)"] = per_call(shared, term_reps)
    for side in sides.values():
        side()  # warm-up round, not recorded
    times = interleave(sides, settings.pick(1, 5 if scale.name == "default" else 3))
    size = f"f{scale.features} L{scale.levels} in{scale.in_channels}, B{scale.batch} {scale.height}x{scale.width}"
    model_ms = [1000 * t for t in times["model"]]
    section.extra[f"{scale.name}_model_fwd_bwd_ms"] = statistics.median(model_ms)
    for name in [*TERMS, *RECIPES, *(f"{r} + grad shares (logging step)" for r in RECIPES)]:
        recipe = name not in TERMS
        goal = f"<= {GOAL_SHARE:.0%}" if name in RECIPES and scale.name == "paper" else ""
        row = Row(
            measure=f"{scale.name}: {'recipe ' if recipe else 'term '}{name}",
            a_label=f"model fwd+bwd ({size})",
            b_label="loss fwd+bwd",
            unit="ms",
            a=model_ms,
            b=[1000 * t for t in times[name]],
            ratio_label="share of model",
            goal=goal,
        )
        if goal:
            row.met = row.summary()["ratio_median"] <= GOAL_SHARE
        section.rows.append(row)


def run(settings: Settings) -> Section:
    section = Section("loss_cost", "Loss cost: each term's forward+backward as a share of the model's")
    for scale in scales(settings):
        _measure_scale(scale, settings, section)
    section.extra["paper_scale_note"] = (
        f"paper scale measured at {scales(settings)[1].height}x{scales(settings)[1].width} on CPU "
        "(448x640 on GPU); both sides grow with the pixel count, the share is what carries over"
    )
    return section
