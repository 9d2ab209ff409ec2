"""One progress line per epoch: the training loss, the deciding metric, the epoch's time and the ETAs.

A run's ETA comes from its own measured epochs. A study adds its own: the study runner writes a small note
(QUEUE_NOTE_ENV names the file) saying how many trials wait behind this one, how many workers share them and
how long a trial takes on average; the line adds the study's ETA from it. Without a note (a run of
`experiments/train.py`), the line has the run's ETA only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig
from tqdm.auto import tqdm

from g2core.names import LOSS, TRAIN, metric_key

QUEUE_NOTE_ENV = "G2_QUEUE_NOTE"


def duration(seconds: float | None) -> str:
    """55s, 6m25s, 2h03m; '?' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class QueueNote:
    """What a study runner says of the work queued behind a run."""

    waiting: int  # trials not started yet
    workers: int
    mean_trial_s: float | None  # measured on finished trials; None before the first one ends

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__))
        os.replace(tmp, path)  # a reader never sees half a note


def read_queue_note() -> QueueNote | None:
    path = os.environ.get(QUEUE_NOTE_ENV)
    if not path:
        return None
    try:
        return QueueNote(**json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError):
        return None  # not written yet, or being replaced: the study ETA waits for the next epoch


class EpochProgress:
    """Times the epochs a run trains in this process and writes one line after each."""

    def __init__(self, cfg: DictConfig, first_epoch: int) -> None:
        self.max_epochs = int(cfg.trainer.max_epochs)
        self.metric = str(cfg.trainer.best_metric)
        # Inside a study several trials print at once: each line says whose it is.
        self.prefix = (
            f"{cfg.tracking.run_name} " if cfg.tracking.parent_run_id and cfg.tracking.run_name else ""
        )
        self.first_epoch = first_epoch
        self.started = time.monotonic()

    def line(self, epoch: int, last: dict[str, float], now: float | None = None) -> str:
        elapsed = (now if now is not None else time.monotonic()) - self.started
        per_epoch = elapsed / (epoch - self.first_epoch + 1)
        trial_eta = per_epoch * (self.max_epochs - epoch - 1)
        parts = [f"{self.prefix}epoch {epoch + 1}/{self.max_epochs}:"]
        loss = last.get(metric_key(TRAIN, LOSS))
        if loss is not None:
            parts.append(f"loss {loss:.4f},")
        if self.metric in last:
            parts.append(f"{self.metric} {last[self.metric]:.4f},")
        eta = f"ETA {duration(trial_eta)}"
        note = read_queue_note()
        if note is not None:
            # Trials queued behind this one take the measured mean, or this trial's own length before any ends.
            per_trial = note.mean_trial_s or (elapsed + trial_eta)
            study_eta = trial_eta + note.waiting * per_trial / max(1, note.workers)
            eta = f"trial ETA {duration(trial_eta)}, study ETA {duration(study_eta)}"
        parts.append(f"{duration(per_epoch)}/epoch; {eta}")
        return " ".join(parts)

    def report(self, epoch: int, last: dict[str, float]) -> None:
        # tqdm.write keeps a study bar in this process intact (it redraws below the line).
        tqdm.write(f"[{time.strftime('%H:%M:%S')}] {self.line(epoch, last)}", file=sys.stdout)
        sys.stdout.flush()
