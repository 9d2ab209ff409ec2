"""Comparison figures: each seed's metric with the tables' confidence intervals, training and validation
curves, the qualitative grid.

Figures are drawn on `matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so a report
changes no global backend or state of the process that calls it; the canvas, the PNG writer and the
qualitative grid are g2core.sample_grid's, shared with the trainer's samples/epoch_XXX.png. Every figure is
written twice: `<name>.png` (the README and report.html show it) and `<name>.svg` beside it (for papers).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from g2core.names import metric_spec
from g2core.sample_grid import build_grid, draw_grid, new_figure, save_figure

from . import verdicts
from .curves import band
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


@dataclass(frozen=True)
class Drawn:
    """A figure of the report: its PNG (the README and report.html show it), the SVG beside it, its caption."""

    path: Path
    caption: str = ""

    @property
    def svg(self) -> Path:
        return self.path.with_suffix(".svg")  # where save_figure writes it


def save(fig: Figure, path: Path, caption: str = "") -> Drawn:
    """`path` (PNG) and the same figure as SVG beside it."""
    return Drawn(save_figure(fig, path, DPI, svg=True), caption)


METRICS_CAPTION = (
    "Each seed's value (dots) and the mean over seeds (line); for each variant the 95% CI of its Δ against the "
    "baseline from the tables above (paired bootstrap), drawn from the baseline's mean (dashed): a CI that "
    "misses the dashed line is a difference before correction, ▲/▼ after Holm."
)
QUALITATIVE_CAPTION = (
    "The same validation images for every variant (first seed), aligned as the metrics align them "
    "(`trainer.align`) and clamped to the depth range, one depth colour scale; below each, |pred − gt| / gt on "
    "the evaluated pixels, one error colour scale for all."
)


def colours(groups: list[str]) -> dict[str, tuple[float, ...]]:
    """One colour per group, the same in every figure of a report."""
    return {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}


def axis_label(metric: str) -> str:
    """The metric with its unit; `val/rmse` is looked up as `rmse`."""
    unit = metric_spec(metric.split("/")[-1]).unit
    return f"{metric} [{unit}]" if unit else metric


def _title(metric: str, lower_is_better: bool) -> str:
    spec = metric_spec(metric, lower_is_better)
    return f"{metric} {spec.arrow} ({'lower' if spec.lower_is_better else 'higher'} is better)"


@dataclass(frozen=True)
class Points:
    """One group on one metric as metrics.png draws it: each seed's value, their mean, and the 95% CI of the
    paired Δ against the baseline (significance.py's, the one the tables print) placed at the baseline's
    mean + Δ, with its ▲/▼ mark (Holm-adjusted); no interval for the baseline, a search or one seed."""

    group: str
    values: np.ndarray
    mean: float
    ci: tuple[float, float] | None = None
    centre: float = math.nan
    mark: str = ""


def metric_points(
    summary: Summary, comparison: pd.DataFrame, metric: str, groups: list[str], baseline: str
) -> tuple[list[Points], float]:
    """Each group's points on a metric, and the baseline's mean over seeds (NaN without a baseline).

    The interval is the table's [ci_low, ci_high] of Δ = variant - baseline (paired on seed and image) added
    to the baseline's mean: it misses the dashed baseline line exactly when the CI of Δ excludes 0."""
    base = summary.mean.loc[baseline, metric] if baseline in summary.mean.index else math.nan
    out = []
    for group in groups:
        values = summary.samples(group, metric)
        mean = float(np.mean(np.sort(values))) if values.size else math.nan
        row = verdicts.row(comparison, group, metric) if group != baseline else None
        if row is None or math.isnan(base) or math.isnan(row["ci_low"]):
            out.append(Points(group, values, mean, mark="" if row is None else str(row["mark"] or "")))
            continue
        ci = (float(base + row["ci_low"]), float(base + row["ci_high"]))
        out.append(Points(group, values, mean, ci, float(base + row["delta"]), str(row["mark"] or "")))
    return out, float(base)


def metrics_figure(
    summary: Summary,
    metrics: list[str],
    lower_is_better: bool,
    baseline: str,
    path: Path,
    comparison: pd.DataFrame,
) -> Drawn:
    """One subplot per metric: each seed a dot, the mean a line, and each variant's 95% CI of Δ against the
    baseline from the tables (no bars: a bar's length from a truncated axis misleads)."""
    groups = summary.counted()
    palette = colours(summary.groups)
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    width = max(4.0, 0.7 * len(groups) + 1.5)
    with figure(width * ncols, 3.6 * nrows + 0.4) as fig:
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, metric in zip(axes, metrics, strict=False):
            spec = metric_spec(metric, lower_is_better)
            points, base = metric_points(summary, comparison, metric, groups, baseline)
            if not math.isnan(base):
                ax.axhline(base, color="0.4", ls="--", lw=1, zorder=1)
            for x, p in enumerate(points):
                _draw_points(ax, x, p, palette[p.group])
            ax.set_xticks(
                range(len(groups)),
                [f"{g}\n(baseline)" if g == baseline else g for g in groups],
                rotation=30 if len(groups) > 3 else 0,
                ha="right" if len(groups) > 3 else "center",
            )
            ax.set_xlim(-0.6, len(groups) - 0.4)
            ax.set_title(_title(metric, spec.lower_is_better))
            ax.set_ylabel(axis_label(metric))
            ax.grid(axis="x", visible=False)
        for ax in axes[len(metrics) :]:
            ax.set_visible(False)
        text = "dots: each seed, line: mean over seeds"
        if not comparison.empty:
            text += (
                f";\nbar: 95% CI of Δ against {baseline} (paired bootstrap, as in the tables) drawn from the "
                "baseline's mean (dashed); ▲/▼: significant after Holm"
            )
        fig.suptitle(f"Metrics at the selected checkpoint ({text})", fontsize=10)
        return save(fig, path, METRICS_CAPTION)


def _draw_points(ax, x: int, p: Points, colour: tuple[float, ...]) -> None:
    """Seeds spread a little left of x (same order every build), the CI right of x."""
    n = len(p.values)
    offsets = np.linspace(-0.1, 0.1, n) if n > 1 else np.zeros(n)
    ax.scatter(x - 0.12 + offsets, p.values, s=22, color=colour, edgecolor="black", lw=0.5, zorder=3)
    if not math.isnan(p.mean):
        ax.hlines(p.mean, x - 0.3, x + 0.06, color="black", lw=1.6, zorder=4)
    if p.ci is not None:
        low, high = p.ci
        ax.errorbar(
            x + 0.2, p.centre, yerr=[[p.centre - low], [high - p.centre]],
            fmt="D", ms=4, color=colour, ecolor=colour, elinewidth=2, capsize=4, zorder=3,
        )  # fmt: skip
        if p.mark:
            ax.annotate(p.mark, (x + 0.2, high), xytext=(0, 3), textcoords="offset points", ha="center",
                        va="bottom", fontsize=10, color="black")  # fmt: skip


def curves_figure(
    curves: pd.DataFrame,
    groups: list[str],
    keys: list[str],
    ylabels: list[str],
    xlabel: str,
    suptitle: str,
    path: Path,
    caption: str,
    log_y: bool = False,
) -> Drawn:
    """One subplot per key (its title): each group's mean over runs as a line, min-max over runs as a band."""
    palette = colours(groups)
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    with figure(4.6 * ncols + 1.6, 3.3 * nrows) as fig:
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, key, ylabel in zip(axes, keys, ylabels, strict=False):
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
            ax.set_title(key)
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
        return save(fig, path, caption)


def qualitative_figure(samples: list[Samples], max_images: int, path: Path) -> Drawn:
    """Per validation image a depth row (image | ground truth | each group's prediction) and an error row,
    each prediction aligned as its run's metrics align it; one depth scale, one error scale.

    The grid is g2core.sample_grid's, the one the trainer's samples/epoch_XXX.png are drawn with.
    """
    k = min(max_images, *(len(s.depth) for s in samples))
    reference = samples[0]  # every run of a study saves the same validation images
    grid = build_grid(reference.rgb, reference.depth, [(s.label, s.pred, s.evaluation) for s in samples], k)
    with figure(2.0 * (2 + len(samples)) + 2.4, 3.6 * k + 2.0) as fig:
        draw_grid(fig, grid)
        fig.suptitle(
            "Predictions at the best checkpoint, aligned as the metrics align them, on the same validation "
            "images for every variant; below each, its relative error",
            fontsize=11,
        )
        return save(fig, path, QUALITATIVE_CAPTION)
