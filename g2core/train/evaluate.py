"""Validation: losses and depth metrics over the validation set, and the sample images of an epoch."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from g2core.data import model_input
from g2core.losses import CompositeLoss
from g2core.metrics import DepthMetrics


def align(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Align a relative prediction to the ground truth per image before metrics (MiDaS-style evaluation)."""
    if mode == "none":
        return pred
    out = []
    for p, g, m in zip(pred, gt, mask, strict=True):  # per image: B is small, pixels stay vectorised
        if m.sum() < 2:
            out.append(p)
            continue
        pv, gv = p[m], g[m]
        if mode == "median":
            out.append(p * (gv.median() / pv.median().clamp_min(1e-6)))
        else:
            a = torch.stack([pv, torch.ones_like(pv)], dim=1)
            scale, shift = torch.linalg.lstsq(a, gv.unsqueeze(1)).solution.squeeze(1)
            out.append(p * scale + shift)
    return torch.stack(out)


@torch.no_grad()
def mean_depth_reference(
    loader: torch.utils.data.DataLoader, metrics: DepthMetrics, *, device: torch.device, align_mode: str
) -> dict[str, float]:
    """What a model that learned nothing scores, keyed `ref/<metric>`: the validation set's mean depth
    everywhere, aligned the way `trainer.align` aligns predictions (per image, median alignment makes it
    the image's median depth and scale-and-shift alignment the image's mean depth). Labels only, no model.
    """
    mean_depth = _mean_valid_depth(loader, device) if align_mode == "none" else None
    metrics.reset()
    for batch in loader:
        depth, mask = batch["depth"].to(device), batch["mask"].to(device)
        if mean_depth is not None:
            const = torch.ones_like(depth) * mean_depth
        else:  # a constant aligned per image is that image's median (mean) depth
            per_image = [
                d[m].median() if align_mode == "median" else d[m].mean()
                for d, m in zip(depth, mask, strict=True)
            ]
            const = torch.ones_like(depth) * torch.stack(per_image).nan_to_num(0.0).view(-1, 1, 1, 1)
        metrics.update(const, depth, mask)
    return {f"ref/{k}": float(v) for k, v in metrics.compute().items()}


def _mean_valid_depth(loader: torch.utils.data.DataLoader, device: torch.device) -> torch.Tensor:
    total = torch.zeros(2, device=device)  # sum of valid depths, their count
    for batch in loader:
        depth, mask = batch["depth"].to(device), batch["mask"].to(device)
        total += torch.stack([depth[mask].sum(), mask.sum().to(depth.dtype)])
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(total)
    return total[0] / total[1].clamp_min(1)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    loss_fn: CompositeLoss,
    metrics: DepthMetrics,
    *,
    device: torch.device,
    in_channels: int,
    align_mode: str,
    amp_dtype: torch.dtype | None,
) -> dict[str, float]:
    """Mean losses and the depth metrics over the loader (all ranks), as plain floats keyed `val/...`."""
    model.eval()
    metrics.reset()
    terms = loss_fn.active_terms
    sums = torch.zeros(len(terms) + 2, device=device)  # total, each term, image count
    for batch in loader:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        autocast = torch.autocast(device.type, amp_dtype) if amp_dtype else nullcontext()
        with autocast:
            pred = model(model_input(batch, in_channels))
        pred = pred.float()
        total, values = loss_fn(pred, batch["depth"], batch["mask"], batch["sparse_mask"])
        n = pred.shape[0]
        sums += torch.stack(
            [total * n, *(values[t] * n for t in terms), torch.tensor(float(n), device=device)]
        )
        metrics.update(align(pred, batch["depth"], batch["mask"], align_mode), batch["depth"], batch["mask"])
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(sums)
    model.train()
    loss_values = (sums[:-1] / sums[-1].clamp_min(1)).tolist()
    out = {"val/loss": loss_values[0]}
    out.update({f"val/loss_{t}": v for t, v in zip(terms, loss_values[1:], strict=True)})
    out.update({f"val/{k}": float(v) for k, v in metrics.compute().items()})
    return out


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
    model.train()
    return {
        "rgb": (batch["rgb"].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy(),
        "depth": (batch["depth"] * batch["mask"]).squeeze(1).cpu().numpy(),
        "pred": pred.squeeze(1).cpu().numpy(),
    }


def draw_samples(samples: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """image | ground truth | prediction | absolute error, one row per image, one depth colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(samples["rgb"])
    valid = samples["depth"] > 0
    vmax = float(np.percentile(samples["depth"][valid], 99)) if valid.any() else 1.0
    fig, axes = plt.subplots(rows, 4, figsize=(10, 2.4 * rows + 0.4), squeeze=False)
    for r in range(rows):
        gt = np.where(valid[r], samples["depth"][r], np.nan)
        error = np.abs(samples["pred"][r] - gt)
        panels = [
            (samples["rgb"][r].transpose(1, 2, 0), None, "image"),
            (gt, "viridis", "ground truth (m)"),
            (samples["pred"][r], "viridis", "prediction (m)"),
            (error, "magma", "|error| (m)"),
        ]
        for c, (img, cmap, name) in enumerate(panels):
            ax = axes[r, c]
            kwargs = {} if cmap is None else {"cmap": cmap, "vmin": 0, "vmax": vmax if c < 3 else vmax / 4}
            ax.imshow(img, **kwargs)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
    return path
