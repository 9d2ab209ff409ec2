"""The one drawing of a sample grid, shared by the trainer's `samples/epoch_XXX.png` and the report's
`qualitative.png`: per validation image a depth row (image | ground truth | each prediction) and an error row
beneath it (|pred - gt| / gt of each prediction).

Predictions are shown as the metrics see them: aligned by `trainer.align` through g2core.metrics.align over
exactly the pixels the metrics count, then clamped to [min_depth, max_depth] as the metrics clamp them, so the
mean of an error panel over its coloured pixels is that image's abs_rel. One depth colour scale for every
depth panel, one error colour scale for every error panel, each with its colourbar.

Drawn on `matplotlib.figure.Figure` with the Agg canvas, never through pyplot: drawing changes no global
backend or pyplot state of the process (a notebook that trains keeps its own backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from g2core.schema import DataConfig

DEPTH_CMAP, ERROR_CMAP = "viridis", "magma"
ERROR_PERCENTILE = 98  # the error scale's top: a few far-off pixels must not wash out every panel
MIN_ERROR_SCALE = 0.05  # a near-perfect prediction still gets a readable scale (5% relative error)


@dataclass(frozen=True)
class Evaluation:
    """How the metrics of a run see a prediction: `trainer.align` and the data's depth range and crop."""

    align: str = "none"
    min_depth: float = DataConfig.min_depth
    max_depth: float = DataConfig.max_depth
    eigen_crop: bool = False


@dataclass(frozen=True)
class SampleGrid:
    """What a grid shows, as arrays (tests check these, not pixels): K images, V predictions.

    depth: ground truth [K,H,W], NaN where it has none; aligned[v] [K,H,W]: prediction v as the metrics see
    it; error[v] [K,H,W]: |aligned - gt| / gt on the evaluated pixels, NaN elsewhere; depth_range and
    error_max: the one colour scale of the depth panels and of the error panels.
    """

    rgb: np.ndarray
    depth: np.ndarray
    labels: list[str]
    aligned: list[np.ndarray]
    error: list[np.ndarray]
    depth_range: tuple[float, float]
    error_max: float
    aligns: list[str]


def as_evaluated(
    depth: np.ndarray, pred: np.ndarray, evaluation: Evaluation
) -> tuple[np.ndarray, np.ndarray]:
    """(prediction aligned and clamped as the metrics do [K,H,W], evaluated pixels [K,H,W] bool).

    depth: ground truth [K,H,W] with 0 where invalid (the trainer saves depth * mask), pred: raw [K,H,W].
    """
    # torch only here: the report imports this module and needs torch for nothing else of it.
    import torch

    from g2core.metrics.align import align_prediction
    from g2core.metrics.standard import valid_pixels

    gt = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))[:, None]
    raw = torch.from_numpy(np.ascontiguousarray(pred, dtype=np.float32))[:, None]
    e = evaluation
    valid = valid_pixels(gt, gt > 0, e.min_depth, e.max_depth, e.eigen_crop)
    aligned, _ = align_prediction(raw, gt, valid, e.align, e.min_depth, e.max_depth)
    aligned = aligned.clamp(e.min_depth, e.max_depth)  # DepthMetrics clamps before every metric
    return aligned[:, 0].numpy(), valid[:, 0].numpy()


def relative_error(aligned: np.ndarray, depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """|aligned - gt| / gt on the evaluated pixels, NaN elsewhere (abs_rel per pixel)."""
    safe = np.where(valid, depth, 1.0)
    return np.where(valid, np.abs(aligned - safe) / safe, np.nan)


def depth_scale(depth: np.ndarray, low: float = 0.0, high: float = 99.0) -> tuple[float, float]:
    """(vmin, vmax) for every depth panel: percentiles of the valid (> 0) ground truth, robust to a few far
    pixels; (0, 1) when nothing is valid."""
    valid = depth[depth > 0]
    if not valid.size:
        return 0.0, 1.0
    vmin, vmax = (float(v) for v in np.percentile(valid, [low, high]))
    return vmin, vmax if vmax > vmin else vmin + 1.0


def build_grid(
    rgb: np.ndarray, depth: np.ndarray, predictions: Sequence[tuple[str, np.ndarray, Evaluation]], k: int
) -> SampleGrid:
    """The first k images of one set of validation images and each (label, raw prediction, evaluation)."""
    depth = np.asarray(depth[:k], dtype=np.float32)
    aligned, error = [], []
    for _, pred, evaluation in predictions:
        a, valid = as_evaluated(depth, np.asarray(pred[:k]), evaluation)
        aligned.append(a)
        error.append(relative_error(a, depth, valid))
    finite = np.concatenate([e[np.isfinite(e)] for e in error]) if error else np.array([])
    top = float(np.percentile(finite, ERROR_PERCENTILE)) if finite.size else 0.0
    return SampleGrid(
        rgb=np.asarray(rgb[:k]),
        depth=np.where(depth > 0, depth, np.nan),
        labels=[label for label, _, _ in predictions],
        aligned=aligned,
        error=error,
        depth_range=depth_scale(depth, 1, 99),
        error_max=max(top, MIN_ERROR_SCALE),
        aligns=[evaluation.align for _, _, evaluation in predictions],
    )


def new_figure(width: float, height: float, **kwargs: object) -> Figure:
    """A Figure on its own Agg canvas (no pyplot)."""
    fig = Figure(figsize=(width, height), **kwargs)
    FigureCanvasAgg(fig)
    return fig


def _bare(ax) -> None:
    """No ticks, frame or grid, but keep the axes so that a row label still shows."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


# The grid's margins in inches: row labels on the left, the depth colour bar on the right, the title and the
# column titles on top, the error colour bar below; and the gap under each row (an error row's abs_rel label).
# Fixed positions, not a layout engine: a constrained layout of 2K rows and two colour bars cost about a second
# a drawing (on 2 cores, most of a default run's sample time), and the trainer draws one every validation.
_LEFT, _RIGHT, _TOP, _BOTTOM, _ROW_GAP = 0.5, 1.3, 0.9, 0.95, 0.3


def draw_grid(fig: Figure, grid: SampleGrid, row_label: str = "val") -> None:
    """Draw ``grid`` on ``fig`` at fixed positions (its layout engine is switched off): 2 rows per image,
    2 + V columns, the depth colour bar on the right, the error colour bar below."""
    k, v = len(grid.depth), len(grid.labels)
    fig.set_layout_engine("none")
    width, height = fig.get_size_inches()
    grid_w, grid_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    rows = 2 * k
    row_h = (grid_h - (rows - 1) * _ROW_GAP) / rows
    axes = fig.add_gridspec(
        rows,
        2 + v,
        left=_LEFT / width,
        right=1 - _RIGHT / width,
        top=1 - _TOP / height,
        bottom=_BOTTOM / height,
        wspace=0.05,
        hspace=_ROW_GAP / row_h,
    ).subplots(squeeze=False)
    depth_cmap = matplotlib.colormaps[DEPTH_CMAP].with_extremes(bad="white")
    error_cmap = matplotlib.colormaps[ERROR_CMAP].with_extremes(bad="white")
    vmin, vmax = grid.depth_range
    depth_image = error_image = None
    for i in range(k):
        top, bottom = axes[2 * i], axes[2 * i + 1]
        top[0].imshow(np.transpose(grid.rgb[i], (1, 2, 0)))
        top[1].imshow(grid.depth[i], cmap=depth_cmap, vmin=vmin, vmax=vmax)
        for j in range(v):
            depth_image = top[2 + j].imshow(grid.aligned[j][i], cmap=depth_cmap, vmin=vmin, vmax=vmax)
            error_image = bottom[2 + j].imshow(
                grid.error[j][i], cmap=error_cmap, vmin=0.0, vmax=grid.error_max
            )
            mean = np.nanmean(grid.error[j][i]) if np.isfinite(grid.error[j][i]).any() else np.nan
            bottom[2 + j].set_xlabel(f"abs_rel {mean:.3f}", fontsize=8, labelpad=2)
        for ax in (*top, *bottom):
            _bare(ax)
        bottom[0].set_visible(False)
        bottom[1].set_visible(False)
        top[0].set_ylabel(f"{row_label} #{i}")
    titles = [
        "image",
        "ground truth",
        *(f"{label}\n({align})" for label, align in zip(grid.labels, grid.aligns, strict=True)),
    ]
    for ax, title in zip(axes[0], titles, strict=True):
        ax.set_title(title, fontsize=9)
    # Depth scale on the right, error scale below: two bars on one side would overlap (the rows interleave).
    if depth_image is not None:
        bar = [
            1 - (_RIGHT - 0.2) / width,
            (_BOTTOM + 0.2 * grid_h) / height,
            0.15 / width,
            0.6 * grid_h / height,
        ]
        fig.colorbar(depth_image, cax=fig.add_axes(bar), label="depth [m] (white: no ground truth)")
    if error_image is not None:
        bar = [(_LEFT + 0.2 * grid_w) / width, 0.5 / height, 0.6 * grid_w / width, 0.12 / height]
        fig.colorbar(
            error_image,
            cax=fig.add_axes(bar),
            orientation="horizontal",
            extend="max",
            label="|pred − gt| / gt on the evaluated pixels (white: not evaluated)",
        )


def save_figure(fig: Figure, path: Path, dpi: int, svg: bool = False) -> Path:
    """PNG without Software/date chunks, so the bytes depend on the pixels alone; with ``svg`` also the same
    figure as SVG beside it (vector text and axes for papers; no date, so rebuilding gives the same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    if svg:
        fig.savefig(path.with_suffix(".svg"), format="svg", metadata={"Date": None})
    return path
