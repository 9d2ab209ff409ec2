"""How a study decides: the error rate, the equivalence margin and the looks (seeds until decided).

A study compares every variant with the baseline on its deciding metric (the *primary* family: one
comparison per variant, Holm over the variants). With `study.seeds: auto` it looks at the data after each
round of seeds: a variant whose comparison is decided (better, worse, or equivalent within the margin)
stops; the undecided ones and the baseline get the next seed, paired by seed, up to `study.max_seeds`.

Error control across the looks: Lan-DeMets alpha spending over the planned looks, information fraction
t = seeds / max_seeds. Look k tests at α_k = α(t_k) - α(t_{k-1}), Holm over the variants still undecided,
and P(any false claim) <= Σ α_k = α by the union bound (conservative: it ignores the correlation between
looks, which exact group-sequential boundaries would use). The same α_k serves the two one-sided tests of
equivalence, so a false "equivalent" at the margin is <= α over the looks too. tests/test_decide.py checks
both by simulation.

Spending functions: `obrien_fleming` (α(t) = 2 - 2Φ(z_{α/2}/√t): little α early, most kept for the last look;
the default) and `pocock` (α(t) = α ln(1 + (e - 1) t): even). Why O'Brien-Fleming: at 2 seeds the interval's
seed part has one degree of freedom (t(1) = 12.7 at 95%), so a first look at 2 seeds decides only very large
differences whatever α it gets; α spent there is lost to the later looks. Simulated on components fitted to
the default study (60 studies per design, first look 2 seeds, last 3, 1024 images): O'Brien-Fleming decided
the +19% variant in 100% of studies and the +3.8% one in 93%, Pocock in 80% and 27%.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

from scipy import stats

SPENDING = ("pocock", "obrien_fleming")


@dataclass(frozen=True)
class Design:
    """The decision rule of one study. A fixed seed list is one look at all its seeds with the whole α."""

    alpha: float = 0.05
    # Equivalence margin as a share of the baseline mean (study.equivalence_margin; README: why 5%).
    margin: float = 0.05
    first_seeds: int = 2  # seeds of the first look
    max_seeds: int = 2  # seeds of the last look (== first_seeds: a fixed design)
    spending: str = "obrien_fleming"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Design:
        """The parent run's `study.design` tag; '' (a parent of an older version) is the default design."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known}) if text else cls()

    @property
    def sequential(self) -> bool:
        return self.max_seeds > self.first_seeds

    def looks(self) -> list[int]:
        """Seed counts at which the study looks: one more seed a round."""
        return list(range(self.first_seeds, self.max_seeds + 1))

    def spent(self, t: float) -> float:
        """α spent up to information fraction t (0 < t <= 1)."""
        if t >= 1:
            return self.alpha
        if self.spending == "pocock":
            return self.alpha * math.log(1 + (math.e - 1) * t)
        return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - self.alpha / 2) / math.sqrt(t)))

    def alpha_at(self, look: int) -> float:
        """α tested at look `look` (0-based): the spending function's increment."""
        seeds = self.looks()
        if not self.sequential:
            return self.alpha
        t = seeds[look] / self.max_seeds
        before = seeds[look - 1] / self.max_seeds if look else 0.0
        return self.spent(t) - (self.spent(before) if look else 0.0)

    def look_of(self, n_seeds: int) -> int | None:
        """The look at which a variant with n_seeds paired seeds was last tested (None: before the first)."""
        if not self.sequential:
            return 0 if n_seeds >= 2 else None
        reached = [k for k, n in enumerate(self.looks()) if n <= n_seeds]
        return reached[-1] if reached else None

    def describe(self) -> str:
        """One sentence for the report: the design, the looks and the α each spends."""
        m = f"equivalence within ±{self.margin * 100:g}% of the baseline mean (two one-sided tests)"
        if not self.sequential:
            return (
                f"fixed design: one look at the seeds run, α={self.alpha:g} two-sided, Holm over the variants; "
                f"{m}"
            )
        spent = ", ".join(f"{n} seeds α={self.alpha_at(k):.4f}" for k, n in enumerate(self.looks()))
        return (
            f"seeds until decided: looks at {spent} ({self.spending.replace('_', '-')} alpha spending, "
            f"Lan-DeMets, total α={self.alpha:g}; union bound over the looks), Holm over the variants still "
            f"undecided at each look; {m}; a decided variant stops, the undecided ones and the baseline get "
            f"the next seed"
        )
