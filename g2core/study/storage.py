"""Optuna storage: a journal file by default, PostgreSQL for many machines; and the study's bookkeeping
of which (variant, seed) pairs are done, running, lost with a dead worker, or still to queue."""

from __future__ import annotations

import os
import socket
import time
from collections import defaultdict
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from g2core.config import ConfigError, redact
from g2core.study.spec import StudySpec

DIED = "worker died"
# A worker names itself on its trial right after taking it; a trial nobody named for this long lost its
# worker between the two (a crash, or the storage failing in between).
CLAIM_S = 10.0


def open_storage(url: str) -> optuna.storages.BaseStorage:
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(url))
    try:
        # pool_pre_ping: a restarted PostgreSQL costs a reconnect, not a failed trial.
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"study.storage={redact('url', url)}: cannot open the Optuna storage ({first}); "
            "check the URL and that the database server is running (e.g. `python -m g2core.stack up`)"
        ) from None


def pair_of(trial: FrozenTrial) -> tuple[str, int] | None:
    params = trial.params or trial.system_attrs.get("fixed_params") or {}
    if "variant" in params and "seed" in params:
        return str(params["variant"]), int(params["seed"])
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _young_unclaimed(study: optuna.Study) -> list[FrozenTrial]:
    """RUNNING trials taken less than CLAIM_S ago whose worker has not named itself yet."""
    now = time.time()
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not t.user_attrs.get("g2.worker") and now - t.datetime_start.timestamp() <= CLAIM_S
    ]


def reclaim_stale(study: optuna.Study, spec: StudySpec) -> list[FrozenTrial]:
    """Mark RUNNING trials whose worker is gone as FAIL (`worker died`) so their work is queued again.

    A worker on this machine is gone when its process is; one elsewhere when its heartbeat is older
    than study.grace_s; a trial that no worker named within CLAIM_S of being taken lost its worker.
    """
    deadline = time.time() + CLAIM_S
    while _young_unclaimed(study) and time.time() < deadline:  # young: its worker may be naming it now
        time.sleep(0.5)
    host, now, reclaimed = socket.gethostname(), time.time(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("g2.worker") or {}
        beat = trial.user_attrs.get("g2.heartbeat") or trial.datetime_start.timestamp()
        local_dead = worker.get("host") == host and not _pid_alive(int(worker.get("pid", -1)))
        unclaimed = not worker and now - trial.datetime_start.timestamp() > CLAIM_S
        if local_dead or unclaimed or now - beat > spec.grace_s:
            release(study, trial)
            reclaimed.append(trial)
    return reclaimed


def release(study: optuna.Study, trial: FrozenTrial) -> None:
    """Fail a trial whose worker is gone, so that its (variant, seed) or weights are queued again."""
    study._storage.set_trial_user_attr(trial._trial_id, "g2.failure", f"{DIED}; retried")
    study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def enqueue_missing(study: optuna.Study, spec: StudySpec, *, retry_failed: bool) -> int:
    """Queue every (variant, seed) with no trial done, running or waiting; returns how many were queued.

    retry_failed=False still re-queues work lost with a dead worker, but not trials that raised.
    """
    trials = study.get_trials(deepcopy=False)
    if spec.kind == "search":
        return _requeue_search(study, trials)
    states: dict[tuple[str, int], list[FrozenTrial]] = defaultdict(list)
    for trial in trials:
        pair = pair_of(trial)
        if pair is not None:
            states[pair].append(trial)
    queued = 0
    for pair in spec.pairs():
        history = states.get(pair, [])
        if any(t.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING) for t in history):
            continue
        last = max(history, key=lambda t: t.number) if history else None
        died = last is not None and str(last.user_attrs.get("g2.failure", "")).startswith(DIED)
        if last is None or retry_failed or died:
            study.enqueue_trial({"variant": pair[0], "seed": pair[1]})
            queued += 1
    return queued


def _requeue_search(study: optuna.Study, trials: list[FrozenTrial]) -> int:
    """A search re-runs a trial lost with its worker, with the same weights (and so the same run)."""
    retried = {t.user_attrs.get("g2.retry_of") for t in trials}
    queued = 0
    for trial in trials:
        died = str(trial.user_attrs.get("g2.failure", "")).startswith(DIED)
        if trial.state == TrialState.FAIL and died and trial.number not in retried and trial.params:
            study.enqueue_trial(trial.params, user_attrs={"g2.retry_of": trial.number})
            queued += 1
    return queued


def failed_pairs(study: optuna.Study, since: int = 0) -> dict[str, str]:
    """Work that raised (in trials numbered `since` or later) and has not succeeded since: key -> reason."""
    done = {
        t.user_attrs.get("g2.key") for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    }
    failed = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        key, reason = trial.user_attrs.get("g2.key"), str(trial.user_attrs.get("g2.failure", "unknown"))
        if trial.number >= since and key and key not in done and not reason.startswith(DIED):
            failed[key] = reason
    return failed


def too_many_failures(study: optuna.Study, spec: StudySpec, since: int = 0) -> bool:
    return len(failed_pairs(study, since)) > spec.max_failures
