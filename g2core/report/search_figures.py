"""Figures of a weight search, drawn by Optuna itself (`optuna.visualization.matplotlib`): optimisation
history, parameter importances, parallel coordinates, slice.

The report reads MLflow only (it must not need the study's Optuna storage), so the figures are drawn from an
in-memory study rebuilt from the MLflow child runs: one COMPLETE trial per finished trial with its loss
weights as params and the deciding metric's validation value (mean over its runs) as its value, and a FAIL
placeholder for each trial number without a finished run, so that Optuna's trial numbers are the study's.
Search bounds are not in MLflow: each weight's observed range stands in for its distribution (the figures
and fANOVA only need the values and their order).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from g2core.names import weight_param

from .collect import StudyInfo
from .columns import Columns, weight_column
from .figures import STYLE, Drawn, save
from .summary import Summary
from .values import OBJECTIVE

FIGURE_SIZE = {"search_history": (7.5, 4.4), "search_importance": (7.0, 3.6)}
PANEL_SIZE = (3.6, 3.6)  # slice and parallel coordinates grow with the number of weights
CAPTIONS = {
    "search_history.png": "Optuna's optimisation history: objective of each trial and the best so far.",
    "search_importance.png": "Optuna's parameter importances (fANOVA), on a study rebuilt from the MLflow runs.",
    "search_parallel.png": "Optuna's parallel coordinates: loss weights of each trial and its objective.",
    "search_slice.png": "Optuna's slice plot: the objective against each loss weight.",
}


def draw_search_figures(
    info: StudyInfo, summary: Summary, columns: Columns, out_dir: Path, notes: list[str]
) -> list[Drawn]:
    """Optuna's history, importances, parallel coordinates and slice; a note for each one it cannot draw."""
    trials = trial_frame(summary, OBJECTIVE, columns.weights)
    if trials.empty:
        notes.append("No finished trial with a trial number: search figures skipped.")
        return []
    varying = varying_weights(trials, columns.weights)
    study = rebuild_study(trials, varying, info.lower_is_better)
    target = f"{info.metric} (validation)"
    viz = optuna.visualization.matplotlib
    drawn = [
        draw(lambda: viz.plot_optimization_history(study, target_name=target), out_dir / "search_history.png")
    ]
    if len(trials) < 2:
        notes.append("Fewer than 2 finished trials: search_importance.png skipped.")
    elif not varying:
        notes.append("No loss weight varies across finished trials: search_importance.png skipped.")
    else:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # seeded: same store, same figure
        try:
            drawn.append(
                draw(
                    lambda: viz.plot_param_importances(study, evaluator=evaluator, target_name=target),
                    out_dir / "search_importance.png",
                )
            )
        except (RuntimeError, ValueError) as error:  # fANOVA on degenerate data: a note, not a crash
            notes.append(f"Parameter importances failed ({error}).")
    if varying:
        width = PANEL_SIZE[0] * max(2, len(varying))
        drawn.append(
            draw(
                lambda: viz.plot_parallel_coordinate(study, target_name=target),
                out_dir / "search_parallel.png",
                (width, 4.6),
            )
        )
        drawn.append(
            draw(
                lambda: viz.plot_slice(study, target_name=target), out_dir / "search_slice.png", (width, 4.0)
            )
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


def varying_weights(trials: pd.DataFrame, weights: list[str]) -> list[str]:
    return [w for w in weights if trials[w].nunique(dropna=True) > 1]


def rebuild_study(trials: pd.DataFrame, weights: list[str], lower_is_better: bool) -> optuna.Study:
    """An in-memory study holding the search's finished trials under their own numbers (module docstring).

    Params are named by the config key a user sets (`loss.weights.<term>`); a trial that did not log one of
    ``weights`` keeps only the others."""
    # Quiet the in-memory study's "created" line, then give the caller (maybe a study engine) its level back.
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="minimize" if lower_is_better else "maximize")
    finally:
        optuna.logging.set_verbosity(level)
    distributions = {
        w: optuna.distributions.FloatDistribution(float(trials[w].min()), float(trials[w].max()))
        for w in weights
    }
    by_number = {int(row["trial"]): row for _, row in trials.iterrows()}
    rebuilt = []
    for number in range(max(by_number) + 1 if by_number else 0):
        row = by_number.get(number)
        if row is None:  # pruned, failed or still running: in MLflow, but not a finished trial
            rebuilt.append(optuna.trial.create_trial(state=TrialState.FAIL))
            continue
        params = {weight_param(w): float(row[w]) for w in weights if not pd.isna(row[w])}
        rebuilt.append(
            optuna.trial.create_trial(
                params=params,
                distributions={
                    weight_param(w): distributions[w] for w in weights if weight_param(w) in params
                },
                value=float(row["objective"]),
            )
        )
    study.add_trials(rebuilt)
    return study


def importances(trials: pd.DataFrame, weights: list[str], lower_is_better: bool) -> dict[str, float]:
    """Optuna's fANOVA importances of the weights that vary (keyed by term); {} when they cannot be computed."""
    varying = varying_weights(trials, weights)
    trials = trials.dropna(subset=varying)  # a trial that did not log a weight cannot be placed
    if len(trials) < 2 or not varying:
        return {}
    study = rebuild_study(trials, varying, lower_is_better)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {w: found[weight_param(w)] for w in varying if weight_param(w) in found}


@contextmanager
def optuna_pyplot() -> Iterator[None]:
    """Where Optuna's matplotlib figures are drawn: they go through pyplot and `plt.style.use("ggplot")`, so
    the process's rcParams are restored afterwards (rc_context), and only Optuna's ExperimentalWarning for
    these functions is silenced (`optuna.visualization.matplotlib` is experimental since 2.2)."""
    with warnings.catch_warnings(), matplotlib.rc_context({"svg.hashsalt": STYLE["svg.hashsalt"]}):
        warnings.filterwarnings(
            "ignore", message=r".*\.plot_\w+ is experimental", category=optuna.exceptions.ExperimentalWarning
        )
        yield


def draw(plot: Callable[[], object], path: Path, size: tuple[float, float] | None = None) -> Drawn:
    """Draw one Optuna figure, save it as PNG and SVG, and close it (pyplot keeps no figure of the report)."""
    import matplotlib.pyplot as plt  # only here: Optuna draws through pyplot, the rest of the report does not

    with optuna_pyplot():
        axes = plot()
        first = np.asarray(axes, dtype=object).ravel()[0]
        fig = first.figure
        try:
            if first.get_legend() is not None:  # Optuna puts it outside the axes, where the PNG cuts it off
                first.legend(loc="best")
            fig.set_size_inches(*(size or FIGURE_SIZE.get(path.stem, (7.5, 4.4))))
            if not any(ax.get_label() == "<colorbar>" for ax in fig.axes):  # tight_layout cannot place one
                fig.tight_layout()
            return save(fig, path, CAPTIONS.get(path.name, ""))
        finally:
            plt.close(fig)
