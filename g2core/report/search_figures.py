"""Figures of a weight search: optimisation history, parameter importances, parallel coordinates.

Importances come from Optuna itself, on an in-memory study rebuilt from the MLflow child runs, so the
report needs no access to the study's Optuna storage.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import optuna
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator

from g2core.names import weight_param

from .collect import StudyInfo
from .columns import Columns, weight_column
from .figures import axis_label, figure, save
from .fmt import sig
from .summary import Summary
from .values import OBJECTIVE


def draw_search_figures(
    info: StudyInfo, summary: Summary, columns: Columns, out_dir: Path, notes: list[str]
) -> list[Path]:
    """History, importances and parallel coordinates of a search; a note for each one it cannot draw."""
    lower = info.lower_is_better
    trials = trial_frame(summary, OBJECTIVE, columns.weights)
    if trials.empty:
        notes.append("No finished trial with a trial number: search figures skipped.")
        return []
    drawn = [history_figure(trials, info.metric, lower, out_dir / "search_history.png")]
    if len(trials) < 2:
        notes.append("Fewer than 2 finished trials: search_importance.png skipped.")
    else:
        try:
            found = importances(trials, columns.weights, lower)
        except (RuntimeError, ValueError) as error:  # fANOVA on degenerate data: a note, not a crash
            found = {}
            notes.append(f"Parameter importances failed ({error}).")
        if found:
            drawn.append(importance_figure(found, info.metric, out_dir / "search_importance.png"))
        else:
            notes.append("No loss weight varies across finished trials: search_importance.png skipped.")
    if columns.weights:
        drawn.append(
            parallel_figure(trials, columns.weights, info.metric, lower, out_dir / "search_parallel.png")
        )
    return drawn


def trial_frame(summary: Summary, metric: str, weights: list[str]) -> pd.DataFrame:
    """One row per finished trial: trial number, objective (deciding metric, mean over its runs), weights."""
    values = summary.values
    if values.empty:
        return pd.DataFrame(columns=["trial", "objective", *weights])
    firsts = values.drop_duplicates("group", keep="first").set_index("group")
    rows = []
    for group in summary.groups:
        objective = summary.mean.loc[group, metric]
        trial = firsts.loc[group, "trial"]
        if math.isnan(objective) or pd.isna(trial):
            continue
        rows.append(
            {
                "trial": int(trial),
                "objective": float(objective),
                **{w: firsts.loc[group, weight_column(w)] for w in weights},
            }
        )
    return pd.DataFrame(rows, columns=["trial", "objective", *weights]).sort_values(
        "trial", ignore_index=True
    )


def history_figure(trials: pd.DataFrame, metric: str, lower_is_better: bool, path: Path) -> Path:
    """Objective of each trial by trial number and the best so far."""
    objective = trials["objective"].to_numpy(dtype=float)
    best = np.minimum.accumulate(objective) if lower_is_better else np.maximum.accumulate(objective)
    with figure(7.5, 4.2) as fig:
        ax = fig.subplots()
        ax.scatter(trials["trial"], objective, color="tab:blue", label="trial", zorder=3)
        ax.step(trials["trial"], best, where="post", color="tab:red", lw=2, label="best so far")
        ax.set_xlabel("trial number")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(axis_label(metric, lower_is_better))
        ax.set_title(f"Optimisation history: {metric} {'↓' if lower_is_better else '↑'}")
        ax.legend()
        return save(fig, path)


def importances(trials: pd.DataFrame, weights: list[str], lower_is_better: bool) -> dict[str, float]:
    """Optuna's fANOVA importances of the weights that vary; {} when they cannot be computed."""
    varying = [w for w in weights if trials[w].nunique(dropna=True) > 1]
    trials = trials.dropna(subset=varying)  # a trial that did not log a weight cannot be placed
    if len(trials) < 2 or not varying:
        return {}
    # Quiet the in-memory study's "created" line, then give the caller (maybe a study engine) its level back.
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="minimize" if lower_is_better else "maximize")
    finally:
        optuna.logging.set_verbosity(level)
    # Search bounds are not in MLflow; the observed range stands in for them (fANOVA only needs the order).
    distributions = {
        w: optuna.distributions.FloatDistribution(float(trials[w].min()), float(trials[w].max()))
        for w in varying
    }
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={w: float(row[w]) for w in varying},
                distributions=distributions,
                value=float(row["objective"]),
            )
            for _, row in trials.iterrows()
        ]
    )
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # seeded: same store, same figure
    return optuna.importance.get_param_importances(study, evaluator=evaluator)


def importance_figure(values: dict[str, float], metric: str, path: Path) -> Path:
    names = sorted(values, key=lambda k: (values[k], k))
    with figure(6.5, 0.5 * len(names) + 1.8) as fig:
        ax = fig.subplots()
        bars = ax.barh([weight_param(n) for n in names], [values[n] for n in names], color="tab:blue")
        for bar, name in zip(bars, names, strict=True):
            ax.annotate(
                sig(values[name], 2),
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
        ax.set_xlim(0, max(1.0, max(values.values()) * 1.15))
        ax.set_xlabel("importance (fANOVA, share of the objective's variance)")
        ax.set_title(f"Parameter importances for {metric}")
        ax.grid(axis="y", visible=False)
        return save(fig, path)


def parallel_figure(
    trials: pd.DataFrame, weights: list[str], metric: str, lower_is_better: bool, path: Path
) -> Path:
    """One line per trial across the weight axes and the objective, coloured by the objective."""
    axes_names = [weight_column(w) for w in weights] + [metric]
    data = trials[weights + ["objective"]].to_numpy(dtype=float)
    low, high = np.nanmin(data, axis=0), np.nanmax(data, axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (data - low) / span
    # Reversed colour map for a minimised objective: the best trials are always the bright ones.
    cmap = matplotlib.colormaps["viridis_r" if lower_is_better else "viridis"]
    norm = Normalize(
        vmin=float(low[-1]), vmax=float(high[-1]) if high[-1] > low[-1] else float(low[-1]) + 1e-12
    )
    x = np.arange(len(axes_names))
    with figure(1.8 * len(axes_names) + 3.0, 4.6) as fig:
        ax = fig.subplots()
        order = np.argsort(-data[:, -1] if lower_is_better else data[:, -1], kind="stable")  # best drawn last
        for i in order:
            ax.plot(x, scaled[i], color=cmap(norm(data[i, -1])), lw=1.8, alpha=0.85)
        for xi in x:
            ax.axvline(xi, color="black", lw=0.8)
            ax.annotate(sig(low[xi], 3), (xi, 0), xytext=(3, -12), textcoords="offset points", fontsize=8)
            ax.annotate(sig(high[xi], 3), (xi, 1), xytext=(3, 4), textcoords="offset points", fontsize=8)
        ax.set_xticks(x, axes_names)
        ax.set_yticks([])
        ax.set_ylim(-0.12, 1.12)
        ax.grid(False)
        ax.spines[["left", "bottom"]].set_visible(False)
        fig.colorbar(
            matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap),
            ax=ax,
            label=axis_label(metric, lower_is_better),
        )
        ax.set_title(f"Loss weights of each trial, coloured by {metric} (axes scaled to the observed range)")
        return save(fig, path)
