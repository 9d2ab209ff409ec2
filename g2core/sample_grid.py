"""The one drawing of a sample grid: one row per validation image, one column per panel (the image, the
ground truth, predictions, errors), shared by the trainer's `samples/epoch_XXX.png` and the report's
`qualitative.png`.

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
from matplotlib.image import AxesImage


@dataclass(frozen=True)
class Column:
    """One panel per row: RGB images [3,H,W] (uint8 or floats in [0,1]) when ``cmap`` is None, else [H,W] values drawn
    with ``cmap`` over [vmin, vmax] (NaN, e.g. no ground truth, in white)."""

    title: str
    images: Sequence[np.ndarray]
    cmap: str | None = None
    vmin: float | None = None
    vmax: float | None = None


def depth_scale(depth: np.ndarray, low: float = 0.0, high: float = 99.0) -> tuple[float, float]:
    """(vmin, vmax) for every depth panel: percentiles of the valid (> 0) ground truth, robust to a few far
    pixels; (0, 1) when nothing is valid."""
    valid = depth[depth > 0]
    if not valid.size:
        return 0.0, 1.0
    vmin, vmax = (float(v) for v in np.percentile(valid, [low, high]))
    return vmin, vmax if vmax > vmin else vmin + 1.0


def as_nan_where_invalid(depth: np.ndarray) -> np.ndarray:
    """Ground truth with its holes (0) as NaN, so that they draw white instead of as the nearest depth."""
    return np.where(depth > 0, depth, np.nan)


def new_figure(width: float, height: float, **kwargs: object) -> Figure:
    """A Figure on its own Agg canvas (no pyplot)."""
    fig = Figure(figsize=(width, height), **kwargs)
    FigureCanvasAgg(fig)
    return fig


def draw_sample_grid(
    fig: Figure, columns: Sequence[Column], row_labels: Sequence[str] | None = None
) -> AxesImage | None:
    """Draw the grid on ``fig``; returns the last colour-mapped panel (for a colorbar), if any."""
    rows = len(columns[0].images)
    axes = fig.subplots(rows, len(columns), squeeze=False)
    mapped = None
    for col, column in enumerate(columns):
        cmap = None if column.cmap is None else matplotlib.colormaps[column.cmap].with_extremes(bad="white")
        for row in range(rows):
            ax = axes[row, col]
            data = column.images[row]
            if cmap is None:
                ax.imshow(np.transpose(data, (1, 2, 0)))
            else:
                mapped = ax.imshow(data, cmap=cmap, vmin=column.vmin, vmax=column.vmax)
            # no ticks, frame or grid, but keep the axes so that a row label still shows
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(False)
            if row == 0:
                ax.set_title(column.title, fontsize=9)
    if row_labels is not None:
        for row, label in enumerate(row_labels):
            axes[row, 0].set_ylabel(label)
    return mapped


def save_figure(fig: Figure, path: Path, dpi: int) -> Path:
    """PNG without Software/date chunks, so the bytes depend on the pixels alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    return path
