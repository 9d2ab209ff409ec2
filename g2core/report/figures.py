"""Comparison figures: metric bars, training and validation curves, the qualitative grid.

Figures are drawn on `matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so a report
changes no global backend or state of the process that calls it; the canvas, the PNG writer and the
qualitative grid are g2core.sample_grid's, shared with the trainer's samples/epoch_XXX.png.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from g2core.names import metric_spec
from g2core.sample_grid import (
    Column,
    as_nan_where_invalid,
    depth_scale,
    draw_sample_grid,
    new_figure,
    save_figure,
)

from .curves import band
from .fmt import sig
from .samples import Samples
from .summary import Summary

STYLE = {
    "svg.hashsalt": "g2-report",  # fixed ids where a backend would draw random ones
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
DPI = 110
PALETTE = matplotlib.colormaps["tab10"].colors


@contextmanager
def figure(width: float, height: float) -> Iterator[Figure]:
    """A report figure: the report's style, constrained layout, on its own Agg canvas."""
    with matplotlib.rc_context(STYLE):
        yield new_figure(width, height, layout="constrained")


def save(fig: Figure, path: Path) -> Path:
    return save_figure(fig, path, DPI)


def colours(groups: list[str]) -> dict[str, tuple[float, ...]]:
    """One colour per group, the same in every figure of a report."""
    return {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}


def axis_label(metric: str, lower_is_better: bool) -> str:
    """The metric with its unit; `val/rmse` is looked up as `rmse`."""
    unit = metric_spec(metric.split("/")[-1], lower_is_better).unit
    return f"{metric} [{unit}]" if unit else metric


def _title(metric: str, lower_is_better: bool) -> str:
    spec = metric_spec(metric, lower_is_better)
    return f"{metric} {spec.arrow} ({'lower' if spec.lower_is_better else 'higher'} is better)"


def metrics_figure(
    summary: Summary, metrics: list[str], lower_is_better: bool, baseline: str, path: Path
) -> Path:
    """Mean ± std over seeds per group, one subplot per metric, the baseline hatched."""
    groups = [g for g in summary.groups if summary.runs(g) > 0]
    palette = colours(summary.groups)
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    width = max(4.0, 0.55 * len(groups) + 1.5)
    with figure(width * ncols, 3.4 * nrows) as fig:
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, metric in zip(axes, metrics, strict=False):
            spec = metric_spec(metric, lower_is_better)
            means = summary.mean.loc[groups, metric].to_numpy(dtype=float)
            stds = np.nan_to_num(summary.std.loc[groups, metric].to_numpy(dtype=float))
            x = np.arange(len(groups))
            bars = ax.bar(
                x, means, yerr=stds, capsize=4, color=[palette[g] for g in groups], edgecolor="black"
            )
            for bar, group in zip(bars, groups, strict=True):
                if group == baseline:
                    bar.set_hatch("//")
            for xi, m, s in zip(x, means, stds, strict=True):
                if not math.isnan(m):
                    ax.annotate(
                        sig(m, 3),
                        (xi, m + s),
                        ha="center",
                        va="bottom",
                        fontsize=8,
                        xytext=(0, 2),
                        textcoords="offset points",
                    )
            _zoom(ax, means, stds)
            ax.set_xticks(
                x, groups, rotation=30 if len(groups) > 3 else 0, ha="right" if len(groups) > 3 else "center"
            )
            ax.set_title(_title(metric, spec.lower_is_better))
            ax.set_ylabel(axis_label(metric, spec.lower_is_better))
            ax.grid(axis="x", visible=False)
        for ax in axes[len(metrics) :]:
            ax.set_visible(False)
        n_text = (
            f"bars: mean over seeds, whiskers: ± std; hatched: baseline {baseline}"
            if baseline
            else ("bars: mean over seeds, whiskers: ± std")
        )
        fig.suptitle(f"Metrics at the best checkpoint ({n_text})", fontsize=11)
        return save(fig, path)


def _zoom(ax, means: np.ndarray, stds: np.ndarray) -> None:
    """Start the axis above 0 when the bars differ by a few percent: otherwise the differences vanish."""
    finite = ~np.isnan(means)
    if not finite.any():
        return
    low = float(np.min(means[finite] - stds[finite]))
    high = float(np.max(means[finite] + stds[finite]))
    if low > 0 and (high - low) < 0.3 * high:
        pad = 0.15 * (high - low) or 0.05 * high
        ax.set_ylim(low - pad, high + 2 * pad)


def curves_figure(
    curves: pd.DataFrame,
    groups: list[str],
    keys: list[str],
    titles: list[str],
    ylabels: list[str],
    xlabel: str,
    suptitle: str,
    path: Path,
    log_y: bool = False,
) -> Path:
    """One subplot per key: each group's mean over runs as a line, min-max over runs as a band."""
    palette = colours(groups)
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    with figure(4.6 * ncols + 1.6, 3.3 * nrows) as fig:
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, key, title, ylabel in zip(axes, keys, titles, ylabels, strict=False):
            for group in groups:
                stats = band(curves, group, key)
                if stats.empty:
                    continue
                x = stats["x"].to_numpy(dtype=float)
                ax.plot(
                    x,
                    stats["mean"],
                    color=palette[group],
                    label=group,
                    lw=1.6,
                    marker="." if len(x) < 30 else None,
                )
                ax.fill_between(x, stats["min"], stats["max"], color=palette[group], alpha=0.2, lw=0)
            values = curves.loc[curves["key"] == key, "value"].to_numpy(dtype=float)
            if log_y and len(values) and np.nanmin(values) > 0 and np.nanmax(values) > 10 * np.nanmin(values):
                ax.set_yscale("log")
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps and epochs are whole numbers
        for ax in axes[len(keys) :]:
            ax.set_visible(False)
        # Every group once, in row order: a group may be absent from the first subplot (a term it lacks).
        found = {}
        for ax in axes[: len(keys)]:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                found.setdefault(label, handle)
        labels = [g for g in groups if g in found]
        handles = [found[g] for g in labels]
        if handles:
            fig.legend(handles, labels, loc="outside right upper", title="line: mean, band: min-max")
        fig.suptitle(suptitle, fontsize=11)
        return save(fig, path)


def qualitative_figure(samples: list[Samples], max_images: int, path: Path) -> Path:
    """Rows = validation images; columns = image | ground truth | each group's prediction, one depth scale.

    The grid is g2core.sample_grid's, the one the trainer's samples/epoch_XXX.png are drawn with.
    """
    k = min(max_images, *(len(s.depth) for s in samples))
    reference = samples[0]
    vmin, vmax = depth_scale(reference.depth[:k], 1, 99)  # one scale for every depth panel
    columns = [
        Column("image", reference.rgb[:k]),
        Column("ground truth", [as_nan_where_invalid(d) for d in reference.depth[:k]], "viridis", vmin, vmax),
        *(Column(s.label, s.pred[:k], "viridis", vmin, vmax) for s in samples),
    ]
    with figure(2.3 * len(columns) + 0.8, 2.0 * k + 0.6) as fig:
        image = draw_sample_grid(fig, columns, [f"val #{row}" for row in range(k)])
        fig.colorbar(image, ax=fig.axes, shrink=0.8, label="depth [m] (white: no ground truth)")
        fig.suptitle(
            "Predictions at the best checkpoint, same validation images for every variant", fontsize=11
        )
        return save(fig, path)
