"""A search's bookkeeping: the compute each stage spent, and how well validation ranked its trials for test.

From the runs the report read (g2core.report.collect), nothing else. Per stage (the search's trials; its confirmation's runs):
trial-epochs, the epochs each run trained up to its last validation (`val/epoch`'s latest value: a pruned trial
counts the epochs it trained before the pruner stopped it), and wall time from each run's MLflow start and
end (the sum over runs: what the stage cost in trial-time; and first start to last end: what a researcher
waited, shorter than the sum with several workers). Then Spearman's rank correlation between each search
trial's selected-checkpoint validation value of the deciding metric (what the search ranked by) and its
test value: how far a search on the validation split can be trusted to rank for test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import spearmanr

from g2core.names import BEST, TEST, VAL_EPOCH_KEY, metric_key
from g2core.train.progress import duration

from .collect import ChildRun, StudyInfo
from .fmt import sig
from .tables import Cell, Table, to_markdown

SECTION = "## Compute and ranking\n"
PROVENANCE = "## Provenance\n"


@dataclass
class StageCompute:
    stage: str
    runs: int
    pruned: int  # search trials the pruner stopped (status KILLED with fewer epochs)
    epochs: int  # trial-epochs: epochs trained, summed over runs
    run_s: float  # the runs' wall times, summed (trial-time)
    span_s: float  # first start to last end (the stage's elapsed time)


@dataclass
class SearchCompute:
    stages: list[StageCompute]
    rho: float  # Spearman between the trials' validation objective and their test value; nan when < 3
    n_ranked: int  # search trials with both values
    metric: str  # the deciding metric's name (abs_rel)

    def line(self) -> str:
        """One line for the terminal: each stage's trial-epochs and wall, the ratio, and Spearman."""
        parts = [f"{s.stage} {s.epochs} trial-epochs, {duration(s.run_s)}" for s in self.stages]
        text = "compute: " + "; ".join(parts)
        if len(self.stages) == 2 and self.stages[0].epochs and self.stages[0].run_s:
            search, confirm = self.stages
            text += (
                f" (confirmation {confirm.epochs / search.epochs:.2f}x the search's trial-epochs, "
                f"{confirm.run_s / search.run_s:.2f}x its run time)"
            )
        if self.n_ranked >= 3:
            text += f"; val-test Spearman {self.rho:+.2f} over {self.n_ranked} trials"
        return text


def epochs_trained(run: ChildRun) -> int:
    """Epochs up to the run's last validation (every epoch at the default val_interval, and always when the
    pruner stops a trial: it decides at a validation)."""
    value = run.metrics.get(VAL_EPOCH_KEY, 0.0)
    return int(value) if value == value else 0


def stage_compute(stage: str, runs: list[ChildRun]) -> StageCompute:
    timed = [(r.start_time, r.end_time) for r in runs if r.start_time and r.end_time]  # open runs: no wall
    run_s = sum(max(0, end - start) for start, end in timed) / 1000.0
    span_s = (max(e for _, e in timed) - min(s for s, _ in timed)) / 1000.0 if timed else 0.0
    pruned = sum(1 for r in runs if r.status == "KILLED" and "prun" in r.failure.lower())
    return StageCompute(stage, len(runs), pruned, sum(map(epochs_trained, runs)), run_s, span_s)


def val_test_rank(info: StudyInfo, search: list[ChildRun]) -> tuple[float, int]:
    """Spearman's rho between the search trials' `best/<metric>` (the selected checkpoint's validation value,
    the search's objective) and their `test/<metric>`; nan below 3 trials or when either side is constant."""
    val_key, test_key = metric_key(BEST, info.metric_name), metric_key(TEST, info.metric_name)
    pairs = [
        (r.metrics[val_key], r.metrics[test_key])
        for r in search
        if r.status == "FINISHED" and val_key in r.metrics and test_key in r.metrics
    ]
    if len(pairs) < 3 or len({v for v, _ in pairs}) < 2 or len({t for _, t in pairs}) < 2:
        return math.nan, len(pairs)  # scipy warns and says nan on a constant side
    rho = spearmanr([v for v, _ in pairs], [t for _, t in pairs]).statistic
    return float(rho), len(pairs)


def search_compute(info: StudyInfo, search: list[ChildRun], confirm: list[ChildRun]) -> SearchCompute | None:
    """A search's compute per stage and its validation-test rank correlation; None for an ablation."""
    if not info.is_search:
        return None
    stages = [stage_compute("search", search)]
    if confirm:
        stages.append(stage_compute("confirmation", confirm))
    rho, n = val_test_rank(info, search)
    return SearchCompute(stages, rho, n, info.metric_name)


def section(result: SearchCompute, info: StudyInfo) -> str:
    header = ["stage", "runs", "trial-epochs", "run time (sum)", "elapsed (first start to last end)"]
    rows = []
    for s in result.stages:
        runs = f"{s.runs} ({s.pruned} pruned)" if s.pruned else str(s.runs)
        rows.append([s.stage, runs, str(s.epochs), duration(s.run_s), duration(s.span_s)])
    if len(result.stages) > 1:
        total = [sum(getattr(s, k) for s in result.stages) for k in ("runs", "epochs", "run_s")]
        rows.append(["total", str(total[0]), str(total[1]), duration(total[2]), ""])
    table = Table("compute", header, ["l", "r", "r", "r", "r"], [[Cell(c) for c in r] for r in rows])
    lines = [
        f"Trial-epochs: the epochs each run trained, up to its last validation (`{VAL_EPOCH_KEY}`; a pruned "
        "trial counts what it trained). Run time: each MLflow run's end minus its start, summed (a run "
        "resumed after a kill counts the time in between); elapsed: the stage's first start to its last end."
    ]
    if len(result.stages) == 2 and result.stages[0].epochs and result.stages[0].run_s:
        search, confirm = result.stages
        lines.append(
            f"The confirmation cost {confirm.epochs / search.epochs:.2f}x the search's trial-epochs and "
            f"{confirm.run_s / search.run_s:.2f}x its run time."
        )
    metric = result.metric
    if result.n_ranked >= 3 and result.rho == result.rho:
        lines.append(
            f"Validation against test over the search's trials: Spearman ρ = {sig(result.rho, 2)} between "
            f"each trial's `{metric_key(BEST, metric)}` (its selected checkpoint on the validation split, "
            f"what the search ranked by) and its `{metric_key(TEST, metric)}`, over {result.n_ranked} "
            "finished trials (1: validation ranks the trials exactly as test would)."
        )
    else:
        lines.append(
            f"Validation against test: {result.n_ranked} finished search trial(s) with both "
            f"`{metric_key(BEST, metric)}` and `{metric_key(TEST, metric)}` (or no spread in either): "
            "too few for a rank correlation."
        )
    return f"{SECTION}\n{to_markdown(table)}\n" + " ".join(lines) + "\n\n"


def with_section(readme: str, result: SearchCompute | None, info: StudyInfo) -> str:
    """The README with the compute and ranking section before its provenance (or at its end)."""
    if result is None:
        return readme
    text = section(result, info)
    at = readme.find(PROVENANCE)
    return readme[:at] + text + readme[at:] if at >= 0 else readme + "\n" + text
