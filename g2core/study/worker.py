"""A study worker: takes trials from the Optuna study and trains each one as an MLflow child run.

Runs in the main process (study.workers=1) or in spawned processes, on this or another machine. What a trial
is made of (its plan, config, study and hooks) is g2core.study.plan's.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import optuna

from g2core.config import redact
from g2core.names import (
    ATTR_FAILURE,
    ATTR_HEARTBEAT,
    ATTR_IDLE,
    ATTR_KEY,
    ATTR_WORKER,
    strip_split,
    trial_key,
)
from g2core.study.ddp_trial import train_trial
from g2core.study.plan import TrialPlan, load_study, trial_config, trial_hooks
from g2core.study.spec import search_key
from g2core.study.storage import release, too_many_failures
from g2core.study.test_sets import evaluate_test_sets
from g2core.train import StopTraining


@contextmanager
def heartbeat(trial: optuna.Trial, interval: float) -> Iterator[None]:
    """Stamps the trial every few seconds inside the block, so another process can tell a dead worker from a
    slow one. A trial user attribute rather than Optuna's heartbeat, which the journal storage does not have.
    """
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                trial.set_user_attr(ATTR_HEARTBEAT, time.time())
            except Exception:  # a storage outage must not kill the training; the trial retries later
                pass

    trial.set_user_attr(ATTR_HEARTBEAT, time.time())
    threading.Thread(target=beat, daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def objective(trial: optuna.Trial, plan: TrialPlan) -> float | tuple[float, ...]:
    spec = plan.spec
    if spec.kind == "ablation":
        if ATTR_KEY not in trial.user_attrs:  # queued pairs carry their key; ask() made this one afresh
            # Another worker took the last queued pair between our check and our ask(): nothing to do.
            trial.set_user_attr(ATTR_IDLE, True)
            raise optuna.TrialPruned("no queued (variant, seed) left")
        variant = trial.suggest_categorical("variant", list(spec.variants))
        seed = trial.suggest_categorical("seed", list(spec.seeds))
        weights, key = spec.candidates.get(variant), trial_key(variant, seed)  # candidates: confirmation
    else:
        if over_budget(trial, spec):  # several workers raced for the last trials: this one is past n_trials
            trial.set_user_attr(ATTR_IDLE, True)
            raise optuna.TrialPruned(f"study.n_trials={spec.n_trials} are taken")
        weights = {t: trial.suggest_float(f"w_{t}", lo, hi) for t, (lo, hi) in spec.search_space.items()}
        variant, seed = spec.variants[0], spec.seeds[0]
        key = search_key(weights)
    trial.set_user_attr(ATTR_KEY, key)
    trial.set_user_attr(ATTR_WORKER, {"host": socket.gethostname(), "pid": os.getpid()})
    # a stage (the confirmation) is its own Optuna study with its own trial numbers: say which
    name = f"{spec.stage} trial {trial.number}" if spec.stage else f"trial {trial.number}"
    say(f"{name} start: {key}")
    started = time.time()
    try:
        # Composed inside the try: a config that fails to compose is a failed trial with its reason, counted
        # against study.max_failures. Raised before it, the trial failed with no reason, which reads as lost
        # work (a dead worker): a search then drew new weights and failed again, silently, without end.
        cfg = trial_config(plan, variant, seed, key, trial.number, weights)
        hooks = trial_hooks(spec, trial)
        with heartbeat(trial, spec.heartbeat_s):
            result = train_trial(cfg, hooks, plan, trial)  # here, or torchrun (study.procs_per_trial)
            evaluate_test_sets(cfg, spec.test_sets, result.run_id, result.run_dir)  # study.test_sets
    except StopTraining as exc:
        say(f"{name} pruned: {key} ({exc})")
        raise optuna.TrialPruned(str(exc)) from None
    except Exception as exc:
        trial.set_user_attr(ATTR_FAILURE, f"{type(exc).__name__}: {exc}"[:2000])
        say(f"{name} FAILED: {key}: {type(exc).__name__}: {exc}")
        raise
    value = result.best[strip_split(spec.metric)]
    values = tuple(result.best[strip_split(m)] for m in spec.objectives)  # a Pareto search: every objective
    note = " (already trained)" if result.already_finished else f" in {time.time() - started:.0f}s"
    say(
        f"{name} done: {key}: {spec.metric}={value:.4f} delta1={result.best.get('delta1', float('nan')):.3f}{note}"
    )
    return values if values else value


def counted(trial: optuna.trial.FrozenTrial) -> bool:
    """A search trial that uses the budget: done, pruned, running or queued; not failed (its weights are
    tried again or replaced) nor idle (a worker that found the budget taken)."""
    return trial.state != optuna.trial.TrialState.FAIL and not trial.user_attrs.get(ATTR_IDLE)


def over_budget(trial: optuna.Trial, spec) -> bool:
    """Trial numbers are handed out one at a time by the storage, so the trials numbered before this one
    say exactly whether it is within study.n_trials, however many workers ask at once."""
    ahead = trial.study.get_trials(deepcopy=False)
    return sum(counted(t) for t in ahead if t.number < trial.number) >= spec.n_trials


def work(plan: TrialPlan) -> None:
    """Take trials until the queue (ablation) or the trial budget (search) is used up."""
    # Our own one-line messages say which trial failed and why; Optuna's would repeat it with a traceback.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if plan.threads:
        import torch

        torch.set_num_threads(plan.threads)
    study, storage = load_study(plan)
    spec = plan.spec
    guard = StorageGuard(study, storage, plan)
    waiting = (optuna.trial.TrialState.WAITING,)
    if spec.kind == "ablation":
        while guard.answer(
            lambda: (
                study.get_trials(deepcopy=False, states=waiting)
                and not too_many_failures(study, spec, plan.since_trial)
            )
        ):
            guard.optimize(
                lambda: study.optimize(lambda t: objective(t, plan), n_trials=1, catch=(Exception,))
            )
        return

    def more_to_do() -> bool:
        # Running trials count: a worker that started a trial after another's last one overshot the budget
        # (Optuna's MaxTrialsCallback counts finished trials only: "7/6 trials" with two workers). Queued
        # retries do not: this worker takes them first.
        taken = sum(counted(t) and t.state not in waiting for t in study.get_trials(deepcopy=False))
        return taken < spec.n_trials and not too_many_failures(study, spec, plan.since_trial)

    def stop_when_done(study: optuna.Study, _trial) -> None:
        if not more_to_do():
            study.stop()

    callbacks = [stop_when_done]
    while guard.answer(more_to_do):
        if guard.optimize(
            lambda: study.optimize(lambda t: objective(t, plan), catch=(Exception,), callbacks=callbacks)
        ):
            return


class StorageGuard:
    """Carries a worker through a storage outage (a database restart, dropped connections).

    Calls are retried for up to study.grace_s seconds. When the storage fails outside the objective
    (Optuna's ask or tell; the objective's own errors are caught by optimize), the worker waits for it,
    then fails its own unfinished trials as `worker died`, so the study queues their work again.
    """

    MAX_STRIKES = 5  # failures of optimize in a row: past this it is not an outage

    def __init__(self, study: optuna.Study, storage: optuna.storages.BaseStorage, plan: TrialPlan) -> None:
        self.study, self.storage, self.plan, self.strikes = study, storage, plan, 0

    def _describe(self, exc: Exception) -> str:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        return f"the Optuna storage {redact('url', self.plan.storage_url)} failed ({type(exc).__name__}: {first})"

    def answer(self, call):
        deadline = time.time() + self.plan.spec.grace_s
        while True:
            try:
                return call()
            except Exception as exc:
                if time.time() > deadline:
                    raise RuntimeError(f"{self._describe(exc)} for {self.plan.spec.grace_s:.0f}s") from None
                time.sleep(2.0)

    def optimize(self, call) -> bool:
        """True when optimize returned normally; False after an outage was waited out."""
        try:
            call()
            self.strikes = 0
            return True
        except Exception as exc:
            self.strikes += 1
            if self.strikes > self.MAX_STRIKES:
                raise
            say(f"{self._describe(exc)}; waiting for it, then this worker's trial is queued again")
        me = {"host": socket.gethostname(), "pid": os.getpid()}
        running = (optuna.trial.TrialState.RUNNING,)
        for trial in self.answer(lambda: self.study.get_trials(deepcopy=False, states=running)):
            if trial.user_attrs.get(ATTR_WORKER) == me:
                self.answer(lambda n=trial.number: release(self.study, self.storage, n))
        return False
