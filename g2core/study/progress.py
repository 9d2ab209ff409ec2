"""The study bar: trials done out of the study's total, with an ETA from measured trial times.

tqdm's own ETA divides the elapsed time by the bar's updates: fed by polling the storage, that is the poll
interval, not the time of a trial (it showed 2 s/trial after a first 55-second trial). Here the ETA is the mean
duration of the trials that trained, times the trials left, divided by the workers, less what the running
trials have already done. The same numbers go into the queue note each trial's epoch line reads
(g2core.train.progress), so that line can say the study's ETA too.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState
from tqdm.auto import tqdm

from g2core.names import ATTR_IDLE
from g2core.study.plan import TrialPlan
from g2core.study.storage import open_storage
from g2core.train.progress import QueueNote, duration

POLL_S = 2.0


@dataclass
class StudyEta:
    done: int
    mean_trial_s: float | None  # None before any trial that trained has ended
    eta_s: float | None
    waiting: int  # not started


def _trained(trial: FrozenTrial) -> bool:
    """A trial that did work: not an idle trial (nothing left to take) nor one that found its run done."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and not trial.user_attrs.get(ATTR_IDLE)


def study_eta(trials: list[FrozenTrial], total: int, workers: int, now: float) -> StudyEta:
    done = sum(_trained(t) for t in trials)
    times = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in trials
        if _trained(t) and t.datetime_start and t.datetime_complete
    ]
    # A trial that found its run already trained ends in a second: it says nothing of a trial's length.
    times = [s for s in times if s >= 1.0] or times
    mean = sum(times) / len(times) if times else None
    running = [t for t in trials if t.state == TrialState.RUNNING and t.datetime_start]
    left = max(0, total - done)
    waiting = max(0, left - len(running))
    if mean is None:
        return StudyEta(done, None, None, waiting)
    spent = sum(min(now - t.datetime_start.timestamp(), mean) for t in running)
    eta = max(0.0, mean * left - spent) / max(1, min(workers, left)) if left else 0.0
    return StudyEta(done, mean, eta, waiting)


def study_bar(plan: TrialPlan, total: int, note: Path, stop: threading.Event) -> None:
    """Poll the storage until `stop`: the bar (works the same for in-process and spawned workers) and the note."""
    study_name, workers = plan.spec.optuna_name, plan.spec.workers
    storage = open_storage(plan.storage_url)
    fmt = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} trials [{elapsed}{postfix}]"
    tty = sys.stderr.isatty()
    with tqdm(total=total, desc=f"study {study_name}", bar_format=fmt, dynamic_ncols=True) as bar:
        stopping = False
        while True:
            try:
                study = optuna.load_study(study_name=study_name, storage=storage)
                eta = study_eta(study.get_trials(deepcopy=False), total, workers, time.time())
                QueueNote(eta.waiting, workers, eta.mean_trial_s).write(note)
                per_trial = (
                    f"{duration(eta.mean_trial_s)}/trial" if eta.mean_trial_s else "first trial running"
                )
                # On a terminal the ETA ticks every poll; in a log file a line only when a trial ends.
                bar.set_postfix_str(f"ETA {duration(eta.eta_s)}, {per_trial}", refresh=tty)
                bar.update(min(eta.done, total) - bar.n)
            except Exception:  # a storage outage: the workers wait it out, the bar just skips a beat
                pass
            if stopping:  # one last poll after the workers stopped: the bar ends on the final count
                return
            stopping = stop.wait(POLL_S)
