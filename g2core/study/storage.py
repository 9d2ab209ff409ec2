"""Optuna storage: a journal file by default, PostgreSQL for many machines; and the study's bookkeeping
of which (variant, seed) pairs are done, running, lost with a dead worker, or still to queue.

Only Optuna's public API: a queued pair carries its run key as a user attribute (enqueue_trial), a trial
is failed with study.tell, and a user attribute of a trial another process took is written through the
storage's public methods. Optuna's own heartbeat is not used: JournalStorage (the default) has none in
Optuna 5, and RDBStorage's (whole seconds; stale trials failed only when some worker starts its next
trial; RetryHeartbeatStaleTrialCallback queueing a copy beside ours) cannot tell a dead local process
at once nor keep each (variant, seed) queued exactly once. Our heartbeat is a trial user attribute.
"""

from __future__ import annotations

import socket
import time
from collections import defaultdict

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from g2core.config import ConfigError
from g2core.names import ATTR_FAILURE, ATTR_HEARTBEAT, ATTR_KEY, ATTR_RETRY_OF, ATTR_WORKER, trial_key
from g2core.net import pid_alive
from g2core.store_probe import STORAGE_ENV, check_storage_url, connect_timeout, named
from g2core.study.spec import StudySpec

DIED = "worker died"
# A worker names itself on its trial right after taking it; a trial nobody named for this long lost its
# worker between the two (a crash, or the storage failing in between).
CLAIM_S = 10.0


def lost(trial: FrozenTrial) -> bool:
    """A FAIL trial whose work was lost rather than failed: its worker died, or it was interrupted.

    The worker names the reason of every exception its objective raises (ATTR_FAILURE); a trial failed with
    no reason was stopped by Ctrl-C (Optuna fails the trial on KeyboardInterrupt before re-raising it).
    Lost work is queued again (a search keeps its weights) and does not count against study.max_failures.
    """
    reason = trial.user_attrs.get(ATTR_FAILURE)
    return trial.state == TrialState.FAIL and (reason is None or str(reason).startswith(DIED))


def open_storage(url: str) -> BaseStorage:
    """The Optuna storage at `url`; one line naming study.storage (and G2_STUDY_STORAGE when the value came
    from there) within seconds when it cannot be reached or written (g2core.store_probe)."""
    check_storage_url(url)
    if "://" not in url:
        try:
            return JournalStorage(JournalFileBackend(url))
        except OSError as exc:
            raise ConfigError(
                f"{named('study.storage', url, STORAGE_ENV)}: cannot open the Optuna journal ({exc}); "
                "choose a writable path in study.storage (or paths.root)"
            ) from None
    try:
        # pool_pre_ping: a restarted PostgreSQL costs a reconnect, not a failed trial; connect_timeout: a
        # server that stops answering fails a connect in seconds (the worker's guard retries), not minutes.
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True, **connect_timeout(url)})
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{named('study.storage', url, STORAGE_ENV)}: cannot open the Optuna storage ({first}); "
            "check the URL and that the database server is running (e.g. `python -m g2core.stack up`)"
        ) from None


def study_attrs(storage: BaseStorage, name: str) -> dict | None:
    """The user attributes of study `name`, or None when the storage has no such study (reads only)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return storage.get_study_user_attrs(study_id)


def pair_of(trial: FrozenTrial, queued: dict[str, tuple[str, int]]) -> tuple[str, int] | None:
    """The (variant, seed) of a trial: its params once a worker suggested them, else its queued key."""
    params = trial.params
    if "variant" in params and "seed" in params:
        return str(params["variant"]), int(params["seed"])
    return queued.get(trial.user_attrs.get(ATTR_KEY))


def _young_unclaimed(study: optuna.Study) -> list[FrozenTrial]:
    """RUNNING trials taken less than CLAIM_S ago whose worker has not named itself yet."""
    now = time.time()
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not t.user_attrs.get(ATTR_WORKER) and now - t.datetime_start.timestamp() <= CLAIM_S
    ]


def reclaim_stale(study: optuna.Study, storage: BaseStorage, spec: StudySpec) -> None:
    """Mark RUNNING trials whose worker is gone as FAIL (`worker died`) so their work is queued again.

    A worker on this machine is gone when its process is; one elsewhere when its heartbeat is older
    than study.grace_s; a trial that no worker named within CLAIM_S of being taken lost its worker.
    """
    deadline = time.time() + CLAIM_S
    while _young_unclaimed(study) and time.time() < deadline:  # young: its worker may be naming it now
        time.sleep(0.5)
    host, now = socket.gethostname(), time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(ATTR_WORKER) or {}
        beat = trial.user_attrs.get(ATTR_HEARTBEAT) or trial.datetime_start.timestamp()
        local_dead = worker.get("host") == host and not pid_alive(int(worker.get("pid", -1)))
        unclaimed = not worker and now - trial.datetime_start.timestamp() > CLAIM_S
        if local_dead or unclaimed or now - beat > spec.grace_s:
            release(study, storage, trial.number)


def release(study: optuna.Study, storage: BaseStorage, number: int) -> None:
    """Fail trial `number`, whose worker is gone, so that its (variant, seed) or weights are queued again.

    `storage` is the one the study was opened on: the reason goes on the trial through the storage's
    public methods (a Trial object exists only in the process that asked for it), then study.tell fails it.
    """
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), number
    )
    try:
        storage.set_trial_user_attr(trial_id, ATTR_FAILURE, f"{DIED}; retried")
    except UpdateFinishedTrialError:
        return  # its worker finished it after all
    study.tell(number, state=TrialState.FAIL, skip_if_finished=True)


def enqueue_missing(study: optuna.Study, spec: StudySpec, *, retry_failed: bool) -> int:
    """Queue every (variant, seed) with no trial done, running or waiting; returns how many were queued.

    retry_failed=False still re-queues work lost with a dead worker, but not trials that raised.
    """
    trials = study.get_trials(deepcopy=False)
    if spec.kind == "search":
        return _requeue_search(study, trials)
    queued = {trial_key(v, s): (v, s) for v, s in spec.pairs()}
    states: dict[tuple[str, int], list[FrozenTrial]] = defaultdict(list)
    for trial in trials:
        pair = pair_of(trial, queued)
        if pair is not None:
            states[pair].append(trial)
    count = 0
    for pair in spec.pairs():
        history = states.get(pair, [])
        if any(t.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING) for t in history):
            continue
        last = max(history, key=lambda t: t.number) if history else None
        if last is None or retry_failed or lost(last):
            # The key marks the trial as queued work: the objective tells it from a fresh trial by it.
            study.enqueue_trial(
                {"variant": pair[0], "seed": pair[1]}, user_attrs={ATTR_KEY: trial_key(*pair)}
            )
            count += 1
    return count


def _requeue_search(study: optuna.Study, trials: list[FrozenTrial]) -> int:
    """A search re-runs a trial lost with its worker, with the same weights (and so the same run)."""
    retried = {t.user_attrs.get(ATTR_RETRY_OF) for t in trials}
    queued = 0
    for trial in trials:
        if trial.state == TrialState.FAIL and lost(trial) and trial.number not in retried and trial.params:
            study.enqueue_trial(trial.params, user_attrs={ATTR_RETRY_OF: trial.number})
            queued += 1
    return queued


def failed_pairs(study: optuna.Study, since: int = 0) -> dict[str, str]:
    """Work that raised (in trials numbered `since` or later) and has not succeeded since: key -> reason."""
    done = {
        t.user_attrs.get(ATTR_KEY) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    }
    failed = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        key, reason = trial.user_attrs.get(ATTR_KEY), str(trial.user_attrs.get(ATTR_FAILURE))
        if trial.number >= since and key and key not in done and not lost(trial):
            failed[key] = reason
    return failed


def too_many_failures(study: optuna.Study, spec: StudySpec, since: int = 0) -> bool:
    return len(failed_pairs(study, since)) > spec.max_failures
