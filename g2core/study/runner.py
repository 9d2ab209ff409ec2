"""Run a whole study: check every trial's config, open the Optuna study and the MLflow parent run,
queue the work, run the workers, retry work lost with a dead worker, and write the report.

Running the same command again resumes: finished trials are not trained again, an interrupted trial
resumes from its checkpoint in its own MLflow child run. A command with other shared settings is refused
(g2core.study.identity) before anything is trained or written.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
from mlflow import MlflowClient
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from g2core.config import ConfigError, redact
from g2core.data import build_datasets
from g2core.names import (
    ATTR_IDLE,
    ATTR_KEY,
    ATTR_PARENT_RUN_ID,
    REPORTS_DIR,
    ROLE_PARENT,
    STATUS_FINISHED,
    STATUS_INTERRUPTED,
    STATUS_RUNNING,
    STUDY_PARAM_PREFIX,
    TAG_ROLE,
    TAG_STUDY,
    TAG_STUDY_STATUS,
    StudyTags,
    parent_run_name,
)
from g2core.store_probe import check_storage_url
from g2core.study.confirm import Stage, confirmation, describe
from g2core.study.identity import (
    check_same_settings,
    record_settings,
    refuse_trial_overrides,
    shared_settings,
)
from g2core.study.launch.workers import run_workers
from g2core.study.plan import TrialPlan, trial_config
from g2core.study.progress import study_bar
from g2core.study.spec import StudySpec, load_spec
from g2core.study.storage import enqueue_missing, failed_pairs, open_storage, reclaim_stale, too_many_failures
from g2core.study.worker import say
from g2core.tracking import (
    RunTracker,
    check_tracking_uri,
    get_or_create_experiment,
    open_run,
    resolve_tracking_uri,
)
from g2core.tracking.params import portable_path
from g2core.train.interrupt import sigint_ignored
from g2core.train.progress import QUEUE_NOTE_ENV
from g2core.validate import validate_train_config

MAX_ROUNDS = 3  # rounds of re-queuing work lost with a dead worker, per invocation


@dataclass
class StudyResult:
    name: str
    parent_run_id: str
    complete: int
    expected: int
    failed: dict[str, str]
    report_dir: Path | None
    tracking_uri: str
    report: object | None = None  # g2core.report.ReportResult, for the terminal summary
    metric: str = ""  # the deciding metric, its direction and the baseline: how to read the report
    lower_is_better: bool = True
    baseline: str = ""


def _preflight(plan: TrialPlan) -> None:
    """Every variant's config composes and validates, and the data opens, before anything trains."""
    spec = plan.spec
    for variant in spec.variants:
        trial_cfg = trial_config(plan, variant, spec.seeds[0], "preflight", None)
        validate_train_config(trial_cfg)
    data = OmegaConf.to_container(trial_cfg.data, resolve=True)  # a synthetic cache is written once, here
    build_datasets(data, seed=spec.seeds[0], sparse_input=trial_cfg.model.in_channels == 5)


def _parent_run(client: MlflowClient, spec: StudySpec, study: optuna.Study, cfg: DictConfig) -> str:
    settings = StudyTags(
        spec.kind,
        spec.metric,
        spec.direction,
        spec.baseline,
        tuple(spec.variants),
        tuple(spec.seeds),
        STATUS_RUNNING,
        # relative to paths.root, like the params (a shared server shows no local path); redacted with every tag
        portable_path(spec.storage_url(cfg.paths.root), str(cfg.paths.root)),
        spec.design.to_json(),
        objectives=tuple(spec.objectives),
    )
    parent = open_run(
        client,
        get_or_create_experiment(client, spec.experiment, cfg.paths.root),
        {TAG_ROLE: ROLE_PARENT, TAG_STUDY: spec.name},
        parent_run_name(spec.name),
        known_id=study.user_attrs.get(ATTR_PARENT_RUN_ID),
        tags=settings.encode(),
        params=OmegaConf.to_container(cfg.study, resolve=True),  # written once: a resumed study keeps its own
        param_prefix=STUDY_PARAM_PREFIX,
        asynchronous=False,
    )
    if study.user_attrs.get(ATTR_PARENT_RUN_ID) != parent.run_id:
        study.set_user_attr(ATTR_PARENT_RUN_ID, parent.run_id)
    return parent.run_id


def run_study(cfg: DictConfig, cli_overrides: list[str]) -> StudyResult:
    """Run (or resume) the study cfg.study; `cli_overrides` are the command line's non-study overrides."""
    refuse_trial_overrides(cli_overrides)
    spec = load_spec(cfg)
    root = str(cfg.paths.root)
    uri = resolve_tracking_uri(cfg.tracking.uri, root)
    check_tracking_uri(uri)
    storage_url = spec.storage_url(root)
    check_storage_url(storage_url)  # within seconds, and without creating the journal
    cpus = os.cpu_count() or 1
    threads = max(1, cpus // spec.workers) if spec.workers > 1 else None
    plan = TrialPlan(spec, tuple(cli_overrides), "", storage_url, threads)
    # Before the storage is opened: bad input (a variant that does not validate, data not there) must leave
    # no empty optuna.journal (or new study tables) behind.
    _preflight(plan)
    storage = open_storage(storage_url)
    settings = shared_settings(spec, cli_overrides)
    check_same_settings(storage, spec, settings)  # before anything is trained or written

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=spec.name, storage=storage, directions=spec.directions, load_if_exists=True
    )
    stored = [d.name.lower() for d in study.directions]
    if stored != spec.directions:
        key = (
            f"study.objectives={list(spec.objectives)}"
            if spec.objectives
            else f"study.direction={spec.direction}"
        )
        raise ConfigError(
            f"{key}: the stored study {spec.name!r} was created to {', '.join(stored)}; use another "
            "study.name or the same objectives and direction"
        )
    record_settings(study, settings)
    _check_choices(study, spec)
    client = MlflowClient(uri)
    parent = _parent_run(client, spec, study, cfg)
    since = len(study.get_trials(deepcopy=False))
    plan = replace(plan, parent_run_id=parent, since_trial=since)
    planned = str(len(spec.pairs()) if spec.kind == "ablation" else spec.n_trials)
    if spec.seeds_auto and spec.kind == "ablation":  # seeds until decided: the first round, up to all
        planned = f"{len(spec.variants) * spec.first_seeds} to {planned}"
    say(
        f"study {spec.name}: {spec.kind}, {planned} trials, {spec.workers} worker(s); "
        f"MLflow parent run {parent}; Optuna storage {redact('url', storage_url)}"
    )

    try:
        try:
            stages = [Stage(plan, study)]
            expected = _run_looks(stages[0], storage, uri, Path(root))
            stage = None if too_many_failures(study, spec, since) else confirmation(plan, study, storage)
            if stage is not None:  # a search's confirmation: its top weights over seeds (study.confirm)
                say(describe(stage, spec))
                stages.append(stage)
                expected += _run_looks(stage, storage, uri, Path(root))
        except Exception as exc:  # e.g. a launcher that cannot start: the parent must not stay RUNNING
            _close_failed_parent(client, parent, exc)
            raise
        return _finish(cfg, stages, client, uri, expected)
    except KeyboardInterrupt:
        with sigint_ignored():  # a second Ctrl-C must not leave the parent RUNNING
            try:
                parent_run = RunTracker(client, parent, asynchronous=False)
                parent_run.write(tags={TAG_STUDY_STATUS: STATUS_INTERRUPTED})
                parent_run.finish("KILLED")
            except Exception as exc:  # the store is down: the next command sets the parent RUNNING again
                say(f"could not mark the parent run {parent} KILLED: {type(exc).__name__}: {exc}")
        raise


def done_keys(trials) -> set[str]:
    """The keys of the work done: completed trials, and search trials the pruner stopped (counting COMPLETE
    alone left a pruned search's parent FAILED); not idle trials, which found nothing to train."""
    return {
        str(t.user_attrs[ATTR_KEY])
        for t in trials
        if ATTR_KEY in t.user_attrs
        and not t.user_attrs.get(ATTR_IDLE)
        and t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    }


def _check_choices(study: optuna.Study, spec: StudySpec) -> None:
    """A stored study's trials suggested their variant and seed from the lists they were run with, and Optuna
    refuses other choices for the same parameter: say so before a worker fails on it."""
    if spec.kind != "ablation":
        return
    # every trial of a study shares the choices: the first one with params tells
    trial = next((t for t in study.get_trials(deepcopy=False) if t.distributions), None)
    for key, now in (("variant", spec.variants), ("seed", spec.seeds)):
        dist = trial.distributions.get(key) if trial else None
        if dist is not None and tuple(dist.choices) != tuple(now):
            raise ConfigError(
                f"study.{key}s: the stored study {spec.name!r} was run with {key}s {list(dist.choices)} "
                f"(now {list(now)}); keep them, or start another study with study.name=<new name>"
            )


def _close_failed_parent(client: MlflowClient, parent: str, exc: BaseException) -> None:
    """The study stopped on an error before its report: the parent is FAILED with the error's first line as
    its g2.failure (the same command reopens it, and clears that tag once the study finishes)."""
    text = str(exc).strip()
    reason = f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no message'}"
    try:
        RunTracker(client, parent, asynchronous=False).finish("FAILED", reason=reason)
    except Exception as closing:  # the store is down too: the next command sets the parent RUNNING again
        say(f"could not mark the parent run {parent} FAILED: {type(closing).__name__}: {closing}")


def _run_looks(stage: Stage, storage, uri: str, root: Path) -> int:
    """Train the stage's pairs; with study.seeds=auto, round after round of seeds until every variant's
    primary comparison is decided or max_seeds is reached (g2core/design.py). Returns the trials expected.

    Each look replays the report's statistics over the finished runs in MLflow, so a resumed study (same
    command) reaches the same looks and trains nothing twice."""
    plan, study, spec = stage.plan, stage.study, stage.plan.spec
    if not spec.seeds_auto or spec.kind != "ablation":
        expected = len(spec.pairs()) if spec.kind == "ablation" else spec.n_trials
        _run_rounds(plan, study, storage, expected, root)
        return expected
    from g2core.report.looks import primary_verdicts, undecided

    active, trained = list(spec.variants), set()
    for n in spec.design.looks():
        round_spec = replace(spec, round_pairs=tuple((v, s) for v in active for s in spec.seeds[:n]))
        trained |= set(round_spec.pairs())
        _run_rounds(replace(plan, spec=round_spec), study, storage, len(trained), root)
        if too_many_failures(study, spec, plan.since_trial):
            break
        table = primary_verdicts(uri, spec.name, spec.experiment, spec.design)
        left = [v for v in undecided(table) if v in active]
        decided = ", ".join(f"{r.variant} {r.verdict}" for r in table.itertuples() if r.variant not in left)
        say(f"look at {n} seeds: {decided or 'nothing decided'}; undecided: {', '.join(left) or 'none'}")
        if not left or n == spec.max_seeds:
            break
        active = [spec.baseline, *(v for v in spec.variants if v in left)]
    return len(trained)


def _run_rounds(plan: TrialPlan, study: optuna.Study, storage, expected: int, root: Path) -> None:
    """Queue the plan's work and run the workers, then again for work lost with a dead worker; the study bar
    runs meanwhile."""
    spec = plan.spec
    reclaim_stale(study, storage, spec)
    enqueue_missing(study, spec, retry_failed=True)
    note = root / "studies" / spec.name / "progress.json"  # this machine's
    note.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    bar = threading.Thread(target=study_bar, args=(plan, expected, note, stop), daemon=True)
    previous = os.environ.get(QUEUE_NOTE_ENV)
    os.environ[QUEUE_NOTE_ENV] = str(note)  # read by each trial's epoch line, here and in spawned workers
    bar.start()
    try:
        for _ in range(MAX_ROUNDS):
            run_workers(plan)
            if too_many_failures(study, spec, plan.since_trial):
                break
            reclaim_stale(study, storage, spec)
            if not enqueue_missing(study, spec, retry_failed=False):
                break
    finally:
        stop.set()
        bar.join(timeout=10)
        note.unlink(missing_ok=True)
        if previous is None:
            os.environ.pop(QUEUE_NOTE_ENV, None)
        else:
            os.environ[QUEUE_NOTE_ENV] = previous


def _finish(
    cfg: DictConfig, stages: list[Stage], client: MlflowClient, uri: str, expected: int
) -> StudyResult:
    """The parent's status, the report, and the study's outcome over its stages (a search's confirmation
    after the search)."""
    spec, parent = stages[0].plan.spec, stages[0].plan.parent_run_id
    trials = [t for s in stages for t in s.study.get_trials(deepcopy=False)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    done = done_keys(trials)
    failed = {k: v for s in stages for k, v in failed_pairs(s.study).items()}
    running = [t for t in trials if t.state == TrialState.RUNNING]
    finished = len(done) >= expected and not running
    # The parent's summary (verdict, per-variant means with CIs) is the report's: write_report logs it.
    parent_run = RunTracker(client, parent, asynchronous=False)
    parent_run.write(tags={TAG_STUDY_STATUS: STATUS_FINISHED if finished else STATUS_RUNNING})
    report_dir, report = None, None
    if complete:
        from g2core.report import write_report

        report_dir = Path(cfg.paths.root) / REPORTS_DIR / spec.name
        report = write_report(uri, spec.name, report_dir, experiment_name=spec.experiment, log_to_parent=True)
    parent_run.finish("FINISHED" if finished else "RUNNING" if running else "FAILED")
    if any(too_many_failures(s.study, spec, s.plan.since_trial) for s in stages):
        reasons = "; ".join(f"{k}: {v}" for k, v in sorted(failed.items()))
        raise ConfigError(f"study.max_failures={spec.max_failures}: {len(failed)} trials failed ({reasons})")
    lower = spec.direction == "minimize"
    baseline = stages[-1].plan.spec.baseline  # a confirmation's: the base preset
    return StudyResult(
        spec.name, parent, len(done), expected, failed, report_dir, uri, report, spec.metric, lower, baseline
    )
