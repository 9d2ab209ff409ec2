"""Clocks attached to a running g2core trainer from the outside (the library itself is not changed).

`StepClock` stamps the start of every training step: the trainer iterates its loader through tqdm, so a
tqdm subclass that stamps each yielded batch sees exactly what the step loop does, progress bar included.
`PhaseClock` wraps named functions of the trainer module (validation, checkpoints, run setup) for the
duration of one run and adds up the seconds spent in each.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from tqdm.auto import tqdm


class StepClock:
    """Timestamps at the start of each step and one after the last step ends."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def wrap(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.stamps.append(time.perf_counter())
            yield item
        self.stamps.append(time.perf_counter())

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

    def tqdm_class(self) -> type[tqdm]:
        clock = self

        class TimedTqdm(tqdm):  # type: ignore[misc, valid-type]
            def __iter__(self) -> Iterator[Any]:
                return clock.wrap(super().__iter__())

        return TimedTqdm


def interval_quantile(stamps: list[float], q: float) -> float:
    intervals = sorted(b - a for a, b in itertools.pairwise(stamps))
    if q == 0.5:
        return statistics.median(intervals)
    return intervals[min(len(intervals) - 1, int(q * len(intervals)))]


class PhaseClock:
    """Seconds spent inside named module attributes (functions), summed per name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def _timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return wrapper

    @contextmanager
    def patch(self, targets: dict[str, tuple[object, str]]) -> Iterator[PhaseClock]:
        """targets: phase name -> (module or object, attribute); restored on exit."""
        with ExitStack() as stack:
            for name, (owner, attr) in targets.items():
                stack.enter_context(mock.patch.object(owner, attr, self._timed(name, getattr(owner, attr))))
            yield self
