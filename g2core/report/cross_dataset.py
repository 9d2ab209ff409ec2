"""Across datasets: every variant on each of the study's test sets (`study.test_sets`), the zero-shot transfer
table depth papers print, with the statistics of the main table.

Each trial evaluates its selected checkpoint on every frame of each test set and logs `eval/<set>/<metric>`
and `eval/<set>/per_image.csv` into its own run (g2core.study.test_sets), so the variants pair on seed and
image as on the study's own test split: Δ against the baseline with the 95% CI of the hierarchical paired
bootstrap (significance.compare), ▲/▼ from Holm-adjusted p only. The family Holm corrects here is every
variant × deciding metric × test set of this table; the own test split's column repeats the Results table's
numbers and marks (corrected in that table's own family), so the two tables never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from g2core.names import (
    TEST,
    eval_dataset_of,
    eval_key,
    metric_spec,
)

from . import verdicts
from .collect import ChildRun, StudyInfo
from .delta_tables import delta_text
from .significance import holm, mark
from .summary import Summary, summarize
from .tables import Cell, Table, header_label, to_markdown

CSV = "cross_dataset.csv"
OWN = "own test split"  # the column of the study's own test split
HEADING = "## Across datasets\n"


@dataclass
class CrossDataset:
    comparison: pd.DataFrame  # significance.compare's rows with a `dataset` column; Holm over all of them
    table: Table


def deciding_metrics(info: StudyInfo) -> list[str]:
    """The study's deciding metric, then abs_rel and δ1 (what transfer tables lead with)."""
    return list(dict.fromkeys([info.metric_name, "abs_rel", "delta1"]))


def test_sets_of(runs: list[ChildRun]) -> list[str]:
    return sorted({name for run in runs for key in run.metrics if (name := eval_dataset_of(key))})


def counted_runs(info: StudyInfo, runs: list[ChildRun], name: str) -> list[ChildRun]:
    """The runs of an ablation's variants that logged test set `name`."""
    return [r for r in runs if r.variant and eval_key(name, info.metric_name) in r.metrics]


def cross_dataset(
    info: StudyInfo,
    runs: list[ChildRun],
    observed: dict[str, pd.DataFrame],
    summary: Summary,
    comparison: pd.DataFrame,
    split: str,
) -> CrossDataset | None:
    """The table, or None for a search or a study without test sets. `observed`: each test set's per-image
    long table (observations.test_set_observations); `summary` and `comparison` are the main table's (the
    own test split's column); `runs` the runs the report counts."""
    datasets = test_sets_of(runs)
    if info.is_search or not datasets:
        return None
    metrics = deciding_metrics(info)
    per_set, frames = {}, []
    for name in datasets:
        per_set[name] = _summary(info, counted_runs(info, runs, name), name, metrics)
        found = verdicts.comparisons(info, observed.get(name, pd.DataFrame()), metrics)
        if not found.empty:
            frames.append(found.assign(dataset=name)[["dataset", *found.columns]])
    cross = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not cross.empty:  # one family: every variant x metric x test set of this table
        cross["p_holm"] = holm(cross["p"].to_numpy(dtype=float))
        cross["mark"] = [
            mark(d, p, metric_spec(m, info.lower_is_better).lower_is_better, verdicts.ALPHA)
            for d, p, m in zip(cross["delta"], cross["p_holm"], cross["metric"], strict=True)
        ]
    own = (summary, comparison) if split == TEST else None
    return CrossDataset(cross, _table(info, datasets, metrics, per_set, cross, own))


def _summary(info: StudyInfo, runs: list[ChildRun], name: str, metrics: list[str]) -> Summary:
    rows = [
        {
            "group": r.variant,
            "partial": False,
            **{m: r.metrics.get(eval_key(name, m), math.nan) for m in metrics},
        }
        for r in runs
    ]
    return summarize(pd.DataFrame(rows), list(info.variants), metrics)


def _cell(summary: Summary, comparison: pd.DataFrame, info: StudyInfo, variant: str, metric: str) -> Cell:
    if variant not in summary.mean.index or not summary.n.loc[variant, metric]:
        return Cell("")
    text = summary.cell(variant, metric)
    if variant != info.baseline:
        text += f" ({delta_text(verdicts.row(comparison, variant, metric))})"
    return Cell(text, bold=verdicts.significantly_best(comparison, info.baseline, metric) == variant)


def _table(
    info: StudyInfo,
    datasets: list[str],
    metrics: list[str],
    per_set: dict[str, Summary],
    cross: pd.DataFrame,
    own: tuple[Summary, pd.DataFrame] | None,
) -> Table:
    columns: list[tuple[str, Summary, pd.DataFrame]] = [(OWN, *own)] if own else []
    for name in datasets:
        rows = cross[cross["dataset"] == name] if not cross.empty else cross
        columns.append((name, per_set[name], rows))
    header = ["variant"] + [
        f"{label}: {header_label(m, metric_spec(m, info.lower_is_better).lower_is_better)}"
        for label, _, _ in columns
        for m in metrics
    ]
    title = (
        f"{info.name}: each run's selected checkpoint on every dataset, mean ± std over seeds "
        f"(Δ against {info.baseline} [95% CI]; ▲ better / ▼ worse at Holm-adjusted p<{verdicts.ALPHA})"
    )
    table = Table(title, header, ["l"] + ["r"] * (len(header) - 1))
    order = [info.baseline] + [v for v in info.variants if v != info.baseline]
    for variant in order:
        cells = [Cell(f"{variant} (baseline)" if variant == info.baseline else variant)]
        cells += [
            _cell(summary, comparison, info, variant, m)
            for _, summary, comparison in columns
            for m in metrics
        ]
        table.rows.append(cells)
    return table


def note(info: StudyInfo) -> str:
    return (
        f"Zero-shot transfer: each run's selected checkpoint (best by `{info.metric}`) evaluated once on every "
        f"frame of each test set of `study.test_sets` (`{eval_key('<set>', '<metric>')}`), aligned as the "
        "trials align. Cells: mean ± std over seeds; in parentheses Δ of the mean against the baseline with "
        "its 95% CI (hierarchical paired bootstrap over seeds, then images, as in the Results table). ▲ / ▼ "
        "and bold from Holm-adjusted p only, over every variant × metric × test set of this table; the "
        f"`{OWN}` column repeats the Results table's numbers and marks. Unrounded: [{CSV}]({CSV}).\n"
    )


def section(info: StudyInfo, cross: CrossDataset | None) -> str:
    """The README's "Across datasets" section ('' without test sets)."""
    return "" if cross is None else HEADING + "\n" + to_markdown(cross.table) + "\n" + note(info)
