"""Clocks attached to a running g2core trainer through its public hooks (`g2core.train.TrainHooks`).

`StepClock` stamps the start of every training step: `TrainHooks.on_batch` is called as each batch arrives,
and the end of the step loop (`Phase.STEP_LOOP`) stamps once more, so the clock sees exactly what the step
loop does, progress bar included. A hand-written loop stamps its batches with `StepClock.wrap`.
`PhaseClock` is a `TrainHooks.phase`: it adds up the seconds the run spends in each named phase
(validation, checkpoints, run setup, ...) under the label the benchmark reports it as.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


class StepClock:
    """Timestamps at the start of each step and one after the last step ends."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def stamp(self, *_: Any) -> None:
        """A step starts now (usable as `TrainHooks.on_batch`)."""
        self.stamps.append(time.perf_counter())

    def wrap(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.stamp()
            yield item
        self.stamp()

    @property
    def steps(self) -> int:
        return max(0, len(self.stamps) - 1)

    @property
    def seconds_per_step(self) -> float:
        """Mean time from one step's start to the next's: data fetch, step, logging, progress bar."""
        return (self.stamps[-1] - self.stamps[0]) / self.steps

    @property
    def median_interval(self) -> float:
        """Median start-to-start interval: insensitive to a few steps slowed by other processes' bursts."""
        return interval_quantile(self.stamps, 0.5)

    @property
    def fast_interval(self) -> float:
        """10th percentile of the intervals: what a step costs when nothing else takes the CPU."""
        return interval_quantile(self.stamps, 0.1)


def interval_quantile(stamps: list[float], q: float) -> float:
    intervals = sorted(b - a for a, b in itertools.pairwise(stamps))
    if q == 0.5:
        return statistics.median(intervals)
    return intervals[min(len(intervals) - 1, int(q * len(intervals)))]


class PhaseClock:
    """Seconds spent in named phases, summed per label; a `TrainHooks.phase`.

    labels: phase name -> the label it is reported as (phases without a label are not clocked);
    end_of_steps: a StepClock stamped when `step_phase` ends (the end of the last step of an epoch).
    """

    def __init__(self, labels: dict[str, str], end_of_steps: StepClock, step_phase: str) -> None:
        self.labels = labels
        self.end_of_steps = end_of_steps
        self.step_phase = step_phase
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if name == self.step_phase:
                self.end_of_steps.stamp()
            if name in self.labels:
                self.seconds[self.labels[name]] += time.perf_counter() - start
