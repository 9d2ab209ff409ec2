"""A Pareto search's front (study.objectives): the trials no other trial beats on every objective at once.

Read from MLflow alone like the rest of the report: each finished search trial's validation values of the
objectives (`best/<metric>`, what the sampler was told), its non-dominated set, a table of the front's weights
with every objective, and Optuna's own figure (`plot_pareto_front`) drawn from an in-memory study rebuilt
from those values. The confirmation stage takes its candidates from this front (g2core.study.confirm).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna

from g2core.names import BEST, metric_key, metric_spec, strip_split

from .collect import ChildRun, StudyInfo
from .confirmation import run_weights
from .figures import Drawn
from .fmt import sig
from .search_figures import draw
from .tables import Cell, Table, to_markdown

FIGURE = "search_pareto.png"
SECTION = "## Pareto front\n"


@dataclass
class Front:
    """Every finished trial's objectives and which of them are on the front."""

    objectives: list[str]  # validation metric keys, e.g. val/abs_rel
    lower: list[bool]  # lower is better, per objective
    runs: list[ChildRun]  # finished trials with every objective
    values: np.ndarray  # [trials, objectives]
    on_front: np.ndarray  # bool [trials]


def non_dominated(values: np.ndarray, lower: list[bool]) -> np.ndarray:
    """bool mask of the rows no other row dominates (at least as good on every column, better on one)."""
    costs = np.where(np.asarray(lower), 1.0, -1.0) * np.asarray(values, dtype=float)  # all minimised
    keep = np.ones(len(costs), dtype=bool)
    for i, row in enumerate(costs):
        others = np.delete(costs, i, axis=0)
        keep[i] = not np.any(np.all(others <= row, axis=1) & np.any(others < row, axis=1))
    return keep


def front(info: StudyInfo, children: list[ChildRun]) -> Front | None:
    """The front of a Pareto search's finished trials; None for any other study."""
    if not info.is_search or len(info.objectives) < 2:
        return None
    keys = [metric_key(BEST, strip_split(m)) for m in info.objectives]
    runs = [c for c in children if c.status == "FINISHED" and all(k in c.metrics for k in keys)]
    lower = [metric_spec(strip_split(m), info.lower_is_better).lower_is_better for m in info.objectives]
    values = np.array([[c.metrics[k] for k in keys] for c in runs], dtype=float).reshape(len(runs), len(keys))
    return Front(list(info.objectives), lower, runs, values, non_dominated(values, lower))


def draw_front(result: Front | None, out_dir: Path) -> list[Drawn]:
    """Optuna's Pareto-front figure, on an in-memory study of the trials' objective values."""
    if result is None or not result.runs:
        return []
    study = optuna.create_study(directions=["minimize" if low else "maximize" for low in result.lower])
    for row in result.values:
        study.add_trial(optuna.trial.create_trial(values=[float(v) for v in row]))
    names = list(result.objectives)
    plot = lambda: optuna.visualization.matplotlib.plot_pareto_front(study, target_names=names)  # noqa: E731
    return [draw(plot, out_dir / FIGURE, (6.0, 4.6))]


def section(result: Front | None) -> str:
    """The README's section of the front's table, sorted by the first objective ('' for no front)."""
    if result is None:
        return ""
    arrows = ["↓" if low else "↑" for low in result.lower]
    header = ["trial", "weights", *(f"{m} {a}" for m, a in zip(result.objectives, arrows, strict=True))]
    first = np.where(result.lower[0], 1.0, -1.0) * result.values[:, 0] if len(result.runs) else np.array([])
    order = [i for i in np.argsort(first, kind="stable") if result.on_front[i]]
    rows = []
    for i in order:
        run = result.runs[i]
        label = f"trial {run.trial} ({run.name})" if run.trial is not None else run.name
        cells = [label, run_weights(run), *(sig(v) for v in result.values[i])]
        rows.append([Cell(c) for c in cells])
    table = Table("pareto front", header, ["l", "l", *("r" for _ in result.objectives)], rows)
    note = (
        f"{len(order)} of {len(result.runs)} finished trials are on the front: no other trial is at least as good "
        f"on every objective and better on one (validation values, one run each). The confirmation takes its "
        f"candidates from the front, in the order of the first objective `{result.objectives[0]}`, and decides "
        f"them on it. Figure: [{FIGURE}]({FIGURE}).\n"
    )
    return f"{SECTION}\n{to_markdown(table)}\n{note}"
