"""MLflow -> plain records: the study's parent run settings and its child runs.

The report reads MLflow only, so that it can be rebuilt on any machine that reaches the store; nothing
here knows about training or Optuna storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Run

from g2core.config import redact
from g2core.design import Design
from g2core.names import (
    REF,
    REF_PARAM_PREFIX,
    ROLE_CHILD,
    ROLE_PARENT,
    TAG_FAILURE,
    TAG_PARENT_RUN_ID,
    TAG_ROLE,
    TAG_SEED,
    TAG_STUDY,
    TAG_TRIAL,
    TAG_VARIANT,
    StudyTags,
    metric_key,
    strip_split,
    study_experiment,
    study_tag,
)

PAGE = 1000


class ReportError(ValueError):
    """A report cannot be written: unknown study, empty study, unreadable store."""


@dataclass
class StudyInfo:
    """A study's settings, as its parent run's `study.*` tags hold them."""

    name: str
    experiment_name: str
    experiment_id: str
    kind: str  # "ablation" | "search"
    metric: str  # deciding metric key, e.g. "val/abs_rel"
    direction: str  # "minimize" | "maximize"
    baseline: str
    variants: list[str]
    seeds: list[int]
    status: str
    parent_run_id: str | None
    notes: list[str] = field(default_factory=list)
    design: Design = field(default_factory=Design)  # how the primary comparisons are decided
    objectives: list[str] = field(default_factory=list)  # a Pareto search's metrics (study.objectives)

    @property
    def metric_name(self) -> str:
        """The deciding metric without its `val/` prefix: the key suffix of `best/*` and of the tables."""
        return strip_split(self.metric)

    @property
    def lower_is_better(self) -> bool:
        return self.direction != "maximize"

    @property
    def is_search(self) -> bool:
        return self.kind == "search"


@dataclass
class ChildRun:
    """One trial's MLflow run; metrics are MLflow's latest values (the last logged step), and the mean-depth
    reference as `ref/<metric>` (read from the run's `ref.<metric>` params)."""

    run_id: str
    name: str
    status: str
    variant: str
    seed: int | None
    trial: int | None
    failure: str
    start_time: int
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str] = field(default_factory=dict)
    artifact_uri: str = ""
    end_time: int = 0  # ms; 0 while the run is open (a search's compute per stage: search_compute.py)


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return None


def _search_all(client: MlflowClient, experiment_id: str, filter_string: str) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=filter_string, max_results=PAGE, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _tag_filter(tag: str, value: str) -> str:
    """MLflow search filter on one tag; backquoted because g2 tags hold dots."""
    return f"tags.`{tag}` = '{value}'"


def _known_studies(client: MlflowClient) -> list[str]:
    pattern = study_experiment("%")
    experiments = client.search_experiments(filter_string=f"name LIKE '{pattern}'", max_results=PAGE)
    return sorted(e.name for e in experiments)


def _not_found(client: MlflowClient, uri: str, what: str) -> ReportError:
    studies = _known_studies(client)
    held = ", ".join(studies) if studies else f"none (no experiment named {study_experiment('*')})"
    return ReportError(f"{what} in the MLflow store {redact('uri', uri)}. Studies it holds: {held}.")


def _child(run: Run) -> ChildRun:
    tags = run.data.tags
    return ChildRun(
        run_id=run.info.run_id,
        name=run.info.run_name or "",
        status=run.info.status,
        variant=tags.get(TAG_VARIANT, ""),
        seed=_int_or_none(tags.get(TAG_SEED)),
        trial=_int_or_none(tags.get(TAG_TRIAL)),
        failure=tags.get(TAG_FAILURE, ""),
        start_time=int(run.info.start_time or 0),
        params=dict(run.data.params),
        metrics={**dict(run.data.metrics), **_reference(run.data.params)},
        tags=dict(tags),
        artifact_uri=run.info.artifact_uri or "",
        end_time=int(run.info.end_time or 0),
    )


def _reference(params: dict[str, str]) -> dict[str, float]:
    """The mean-depth reference, stored as the run's `ref.<metric>` params (out of its metric charts), under
    the `ref/<metric>` keys the report reads it by; runs logged before then hold those keys as metrics."""
    values = {}
    for key, text in params.items():
        if key.startswith(REF_PARAM_PREFIX):
            try:
                values[metric_key(REF, key.removeprefix(REF_PARAM_PREFIX))] = float(text)
            except ValueError:
                continue
    return values


def load_study(
    client: MlflowClient, uri: str, study: str, experiment_name: str
) -> tuple[StudyInfo, list[ChildRun]]:
    """The study's settings and child runs; ReportError naming the store when there is nothing to show."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None or experiment.lifecycle_stage != "active":
        raise _not_found(client, uri, f"No study {study!r}: no experiment {experiment_name!r}")
    exp_id = experiment.experiment_id
    parents = [
        r
        for r in _search_all(client, exp_id, _tag_filter(TAG_ROLE, ROLE_PARENT))
        if r.data.tags.get(TAG_STUDY, study) == study
    ]
    # A study restarted without its parent may have made a second one: read the children of all of them,
    # take the settings of the newest (it carries the latest overrides).
    parents.sort(key=lambda r: (r.info.start_time or 0, r.info.run_id))
    notes: list[str] = []
    if parents:
        children_runs = [
            run
            for parent in parents
            for run in _search_all(client, exp_id, _tag_filter(TAG_PARENT_RUN_ID, parent.info.run_id))
        ]
        if len(parents) > 1:
            ids = ", ".join(p.info.run_id for p in parents)
            notes.append(f"{len(parents)} parent runs found ({ids}); children of all are reported.")
    else:
        notes.append("No parent run found: study settings inferred from the child runs.")
        children_runs = [
            r
            for r in _search_all(client, exp_id, _tag_filter(TAG_ROLE, ROLE_CHILD))
            if r.data.tags.get(TAG_STUDY) == study
        ]
    children = sorted((_child(r) for r in children_runs), key=lambda c: (c.start_time, c.run_id))
    if not children:
        raise _not_found(client, uri, f"Study {study!r} (experiment {experiment_name!r}) has no trial runs")
    info = _study_info(study, experiment_name, exp_id, parents[-1] if parents else None, children)
    info.notes[:0] = notes
    return info, children


def _study_info(
    study: str, experiment_name: str, exp_id: str, parent: Run | None, children: list[ChildRun]
) -> StudyInfo:
    tags = parent.data.tags if parent is not None else {}
    notes: list[str] = []
    settings = StudyTags.decode(tags)
    seen_variants = sorted({c.variant for c in children if c.variant})
    variants = list(settings.variants) or seen_variants
    extra = [v for v in seen_variants if v not in variants]
    if extra and settings.kind != "search":
        notes.append(
            f"Child runs of variants not in {study_tag('variants')}: {', '.join(extra)} (shown last)."
        )
        variants = variants + extra
    seeds = list(settings.seeds) or sorted({c.seed for c in children if c.seed is not None})
    direction = settings.direction
    if direction not in ("minimize", "maximize"):
        notes.append(f"Unknown {study_tag('direction')} {direction!r}: taken as minimize.")
        direction = "minimize"
    return StudyInfo(
        name=study,
        experiment_name=experiment_name,
        experiment_id=exp_id,
        kind=settings.kind,
        metric=settings.metric,
        direction=direction,
        baseline=settings.baseline,
        variants=variants,
        seeds=seeds,
        status=settings.status,
        parent_run_id=parent.info.run_id if parent is not None else None,
        notes=notes,
        design=Design.from_json(settings.design),
        objectives=list(settings.objectives),
    )


def metric_history(client: MlflowClient, run_id: str, key: str) -> pd.Series:
    """A metric's values by step (float index -> value), the last write winning when a step repeats."""
    points = client.get_metric_history(run_id, key)
    if not points:
        return pd.Series(dtype=float)
    frame = pd.DataFrame(
        [(m.step, m.timestamp, m.value) for m in points], columns=["step", "timestamp", "value"]
    ).sort_values(["step", "timestamp"], kind="stable")
    last = frame.drop_duplicates("step", keep="last")
    return pd.Series(last["value"].to_numpy(dtype=float), index=last["step"].to_numpy(dtype=int))
