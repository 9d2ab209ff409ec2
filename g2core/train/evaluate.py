"""Validation: losses and depth metrics over the validation set, the mean-depth reference, and the sample
images of an epoch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from g2core.data import model_input
from g2core.metrics import DepthMetrics
from g2core.metrics.align import align_prediction
from g2core.metrics.per_image import per_image_rows, summarize
from g2core.names import (
    ALIGN_CLAMPED,
    ALL_METRIC_KEYS,
    BEST_CHECKPOINT,
    EVAL_DIR,
    IMAGE_COLUMN,
    LOSS,
    ROBUSTNESS_ALIGNS,
    SAMPLES_DIR,
    SAMPLES_IMAGE_KEY,
    TEST,
    VAL,
    metric_key,
    per_image_artifact,
    ref_param,
    term_key,
)
from g2core.sample_grid import Evaluation, build_grid, draw_grid, new_figure, save_figure
from g2core.train.checkpoint import RunState
from g2core.train.checkpoint import load as load_checkpoint
from g2core.train.run import Phase, RunContext

SAMPLE_DPI = 80


def align(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, metrics: DepthMetrics, mode: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(aligned prediction, clamped pixels, valid pixels) of a batch, fitted over exactly the pixels
    ``metrics`` counts (see g2core.metrics.align)."""
    valid = metrics.valid_pixels(gt, mask)
    aligned, clamped = align_prediction(pred, gt, valid, mode, metrics.min_depth, metrics.max_depth)
    return aligned, clamped.sum(), valid.sum()


@torch.no_grad()
def mean_depth_reference(
    loader: torch.utils.data.DataLoader, metrics: DepthMetrics, *, device: torch.device, align_mode: str
) -> dict[str, float]:
    """What a model that learned nothing scores, keyed `ref.<metric>` (params of the run, so that the 14
    values stay out of its metric list and charts): the evaluated split's mean depth
    everywhere, aligned exactly as `trainer.align` aligns predictions (per image, median alignment makes the
    constant the image's median depth, scale_shift its mean depth, scale_shift_disparity its mean in
    disparity). Labels only, no model.
    """
    mean_depth = _mean_valid_depth(loader, metrics, device) if align_mode == "none" else None
    metrics.reset()
    for batch in loader:
        depth, mask = batch["depth"].to(device), batch["mask"].to(device)
        const = torch.ones_like(depth) if mean_depth is None else torch.ones_like(depth) * mean_depth
        aligned, _, _ = align(const, depth, mask, metrics, align_mode)
        metrics.update(aligned, depth, mask)
    return {ref_param(k): float(v) for k, v in metrics.compute().items()}


def _mean_valid_depth(
    loader: torch.utils.data.DataLoader, metrics: DepthMetrics, device: torch.device
) -> torch.Tensor:
    total = torch.zeros(2, device=device)  # sum of the depths the metrics count, their count
    for batch in loader:
        depth, mask = batch["depth"].to(device), batch["mask"].to(device)
        valid = metrics.valid_pixels(depth, mask)
        total += torch.stack([depth[valid].sum(), valid.sum().to(depth.dtype)])
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(total)
    return total[0] / total[1].clamp_min(1)


def _predictions(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    metrics: DepthMetrics,
    device: torch.device,
    in_channels: int,
    align_mode: str,
    amp_dtype: torch.dtype | None,
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The evaluation loop, in eval mode (the trainer's next epoch sets train mode again): per batch, the batch
    on the device, the float prediction, the prediction aligned as `align_mode` says, [clamped, valid] pixels."""
    model.eval()
    for batch in loader:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device.type, amp_dtype) if amp_dtype else nullcontext():
            pred = model(model_input(batch, in_channels)).float()
        aligned, clamped, valid = align(pred, batch["depth"], batch["mask"], metrics, align_mode)
        yield batch, pred, aligned, torch.stack([clamped, valid])


@torch.no_grad()
def evaluate(ctx: RunContext, state: RunState) -> dict[str, float]:
    """Mean losses and the depth metrics over the validation set (all ranks), as plain floats keyed `val/...`;
    with `scale_shift_disparity` also `val/align_clamped`, the share of evaluated pixels the alignment clamped."""
    device, align_mode, loss_fn, metrics = ctx.device, ctx.cfg.trainer.align, state.loss_fn, state.metrics
    metrics.reset()
    terms = loss_fn.active_terms
    sums = torch.zeros(len(terms) + 2, device=device)  # total, each term, image count
    pixels = torch.zeros(2, dtype=torch.int64, device=device)  # clamped by the alignment, evaluated
    batches = _predictions(
        state.net, ctx.loaders.val, metrics, device, ctx.cfg.model.in_channels, align_mode, state.amp_dtype
    )
    for batch, pred, aligned, counts in batches:
        total, values = loss_fn(pred, batch["depth"], batch["mask"], batch["sparse_mask"])
        n = pred.shape[0]
        sums += torch.stack(
            [total * n, *(values[t] * n for t in terms), torch.tensor(float(n), device=device)]
        )
        pixels += counts
        metrics.update(aligned, batch["depth"], batch["mask"])
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(sums)
        dist.all_reduce(pixels)
    loss_values = (sums[:-1] / sums[-1].clamp_min(1)).tolist()
    out = {metric_key(VAL, LOSS): loss_values[0]}
    out.update({term_key(VAL, t): v for t, v in zip(terms, loss_values[1:], strict=True)})
    out.update({metric_key(VAL, k): float(v) for k, v in metrics.compute().items()})
    if align_mode == "scale_shift_disparity":
        clamped, valid = pixels.tolist()
        out[metric_key(VAL, ALIGN_CLAMPED)] = clamped / max(valid, 1)
    return out


@torch.no_grad()
def evaluate_per_image(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    metrics: DepthMetrics,
    *,
    device: torch.device,
    in_channels: int,
    align_mode: str,
    amp_dtype: torch.dtype | None,
) -> tuple[np.ndarray, float]:
    """Every metric of every image of the loader (rows in `ALL_METRIC_KEYS` order, see
    g2core.metrics.per_image), aligned as `trainer.align` aligns, and the share of evaluated pixels the
    alignment clamped. One process: the test split is small, and pairing needs each image exactly once."""
    rows, pixels = [], torch.zeros(2, dtype=torch.int64, device=device)
    batches = _predictions(model, loader, metrics, device, in_channels, align_mode, amp_dtype)
    for batch, _, aligned, counts in batches:
        pixels += counts
        rows.append(
            per_image_rows(
                aligned,
                batch["depth"],
                batch["mask"],
                min_depth=metrics.min_depth,
                max_depth=metrics.max_depth,
                eigen_crop=metrics.eigen_crop,
            )
        )
    clamped, valid = pixels.tolist()
    return np.concatenate(rows), clamped / max(valid, 1)


@torch.no_grad()
def predict_samples(
    model: torch.nn.Module,
    dataset: torch.utils.data.Dataset,
    indices: Sequence[int],
    *,
    device: torch.device,
    in_channels: int,
) -> dict[str, np.ndarray]:
    """Predictions on fixed validation images: the same images for every run of a study."""
    model.eval()
    samples = [dataset[i] for i in indices]
    batch = {k: torch.stack([s[k] for s in samples]).to(device) for k in samples[0]}
    pred = model(model_input(batch, in_channels)).float()
    return {
        "rgb": (batch["rgb"].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy(),
        "depth": (batch["depth"] * batch["mask"]).squeeze(1).cpu().numpy(),
        "pred": pred.squeeze(1).cpu().numpy(),
    }


def draw_samples(samples: dict[str, np.ndarray], evaluation: Evaluation, path: Path, title: str) -> Path:
    """Per image a depth row (image | ground truth | prediction) and an error row (|pred - gt| / gt), the
    prediction aligned and clamped as the metrics see it (g2core.sample_grid, the report's grid too)."""
    grid = build_grid(
        samples["rgb"], samples["depth"], [("prediction", samples["pred"], evaluation)], len(samples["rgb"])
    )
    fig = new_figure(7.5, 3.6 * len(grid.depth) + 1.8)
    draw_grid(fig, grid)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, SAMPLE_DPI)


def save_samples(ctx: RunContext, state: RunState, is_best: bool) -> None:
    """samples/epoch_XXX.png, and the best epoch's raw predictions for the report (master only): the report
    aligns them the same way from the run's params."""
    cfg, val_set = ctx.cfg, ctx.loaders.val_set
    sample_ids = list(range(min(cfg.trainer.num_samples, len(val_set))))
    if not sample_ids:
        return
    with ctx.hooks.timed(Phase.SAMPLES):
        samples = predict_samples(
            state.model, val_set, sample_ids, device=ctx.device, in_channels=cfg.model.in_channels
        )
    epoch = state.epoch + 1
    metrics = state.metrics
    evaluation = Evaluation(cfg.trainer.align, metrics.min_depth, metrics.max_depth, bool(metrics.eigen_crop))
    with ctx.hooks.timed(Phase.SAMPLE_PNG):
        png = draw_samples(
            samples,
            evaluation,
            ctx.run_dir / SAMPLES_DIR / f"epoch_{epoch:03d}.png",
            f"{cfg.variant} seed {cfg.seed}, epoch {epoch}",
        )
    ctx.run.tracker.log_artifact(png, SAMPLES_DIR, deferrable=True)
    # The same grid as an image, its step the epoch index: MLflow's image grid compares runs epoch by epoch,
    # and it opens at step 0 (3.17: an image at a training step only is never shown by default).
    ctx.run.tracker.log_image(png, SAMPLES_IMAGE_KEY, state.epoch)
    if is_best:
        np.savez_compressed(ctx.best_npz, **samples)


def per_image_summary(
    rows: np.ndarray, clamped: float, align_mode: str
) -> tuple[dict[str, float], pd.DataFrame]:
    """What `evaluate_per_image` returned as the dataset's values (ALIGN_CLAMPED under scale_shift_disparity)
    and the per-image table (IMAGE_COLUMN, then ALL_METRIC_KEYS) a report pairs variants on."""
    values = summarize(rows)
    if align_mode == "scale_shift_disparity":
        values[ALIGN_CLAMPED] = clamped
    table = pd.DataFrame(rows, columns=list(ALL_METRIC_KEYS))
    table.insert(0, IMAGE_COLUMN, np.arange(len(table)))
    return values, table


def evaluate_test_split(ctx: RunContext, state: RunState) -> None:
    """The selected checkpoint (best.pt), once, on the held-out test split: `test/<metric>` and the
    per-image table `eval/test_per_image.csv` that lets a report pair variants image by image."""
    cfg, run = ctx.cfg, ctx.run
    best_pt = ctx.run_dir / BEST_CHECKPOINT
    if best_pt.exists():  # after the last epoch the model holds the last weights, not the selected ones
        state.model.load_state_dict(load_checkpoint(best_pt)["model"])
    # The same checkpoint also under the other relative alignment: the report says whether a verdict depends
    # on the protocol (names.ROBUSTNESS_ALIGNS). One more pass over the test split.
    own = cfg.trainer.align
    aligns = [own, *(a for a in ROBUSTNESS_ALIGNS if a != own)] if own in ROBUSTNESS_ALIGNS else [own]
    with ctx.hooks.timed(Phase.TEST):
        passes = {
            mode: evaluate_per_image(
                state.model,
                ctx.loaders.test,
                state.metrics,
                device=ctx.device,
                in_channels=cfg.model.in_channels,
                align_mode=mode,
                amp_dtype=state.amp_dtype,
            )
            for mode in aligns
        }
    values, table = per_image_summary(*passes.pop(own), own)
    run.tracker.log_metrics({metric_key(TEST, k): v for k, v in values.items()}, state.step)
    written = {per_image_artifact(TEST): table}
    written |= {per_image_artifact(TEST, a): per_image_summary(*p, a)[1] for a, p in passes.items()}
    for name, frame in written.items():
        path = ctx.run_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        run.tracker.log_artifact(path, EVAL_DIR, deferrable=True)
