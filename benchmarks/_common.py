"""What every comparison shares: A/B alternation, one result row per measured pair, the suite's settings."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from omegaconf import DictConfig

from g2core.config import compose


@dataclass(frozen=True)
class Settings:
    """Scale of a suite run: `quick` is a smoke run of a few steps each (the test), full is the real run."""

    quick: bool = False

    def pick(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full


def data_node(source: str, **keys: Any) -> DictConfig:
    """A data node as a run gets it (conf/data/<source>.yaml over the schema's defaults, these keys on top):
    g2core.data.build_datasets reads every key the schema defaults."""
    return compose([f"data={source}", *(f"data.{k}={v}" for k, v in keys.items())]).data


@dataclass
class Row:
    """One A-versus-B measurement: per-round values of both sides and their per-round ratio B / A."""

    measure: str
    a_label: str
    b_label: str
    unit: str
    a: list[float]
    b: list[float]
    ratio_label: str = "B / A"
    goal: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratios(self) -> list[float]:
        return [b / a if a else math.inf for a, b in zip(self.a, self.b, strict=True)]

    def summary(self) -> dict[str, Any]:
        ratios = self.ratios
        out = asdict(self)
        out.update(
            rounds=len(ratios),
            a_median=statistics.median(self.a),
            b_median=statistics.median(self.b),
            ratio_median=statistics.median(ratios),
            ratio_min=min(ratios),
            ratio_max=max(ratios),
        )
        return out


@dataclass
class Section:
    """One comparison of the suite: its rows, free-form numbers worth keeping, or the reason it was skipped."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    skipped: str = ""
    error: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "status": "error" if self.error else "skipped" if self.skipped else "ok",
            "reason": self.error or self.skipped,
            "seconds": round(self.seconds, 2),
            "rows": [r.summary() for r in self.rows],
            "extra": self.extra,
        }


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(
    side_a: Callable[[], float], side_b: Callable[[], float], rounds: int
) -> tuple[list[float], list[float]]:
    """Run A, B, A, B, ... `rounds` times each; every call returns its own measured value.

    Both sides share the process, the thread pool and whatever else the machine is doing at that moment,
    so the per-round ratio cancels most of the drift that separate runs would measure as a difference.
    """
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        a.append(side_a())
        b.append(side_b())
    return a, b


def fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01 or magnitude == 0:
        return f"{value:.3g}" if magnitude < 1 else f"{value:.2f}"
    return f"{value:.2e}"


def interleave(sides: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """`alternate` for more than two sides: every round measures each side once, in a fixed order."""
    out: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, side in sides.items():
            out[name].append(side())
    return out


def per_call(fn: Callable[[], Any], repeats: int) -> Callable[[], float]:
    """A side that runs `fn` `repeats` times and returns the mean seconds per call."""

    def side() -> float:
        return timed(lambda: [fn() for _ in range(repeats)]) / repeats

    return side
