"""Loss-term balance: each term's share of the gradient on the prediction, per variant (or trial).

A term's value does not say how hard it pulls on the model: the trainer logs train/grad_share_<term> (the
norm of d(w * term)/d prediction over the sum of all terms' norms; g2core.train.grad_share). Each run's
shares are averaged over its logged steps, then over the group's runs. Runs trained before the shares were
logged have none: then there is no table.
"""

from __future__ import annotations

import numpy as np

from g2core.names import ordered_terms

from .collect import StudyInfo
from .tables import Cell, Table, to_markdown

NOTE = (
    "Share of the gradient the prediction receives from each loss term, ‖∂(w·term)/∂pred‖ over the sum for all "
    "terms (train/grad_share_<term>): averaged over each run's logged steps, then mean ± std over the runs. "
    "A term with a small share barely trains the model, whatever its weight or value.\n"
)


def grad_share_table(info: StudyInfo, shares: dict[str, dict[str, list[float]]]) -> Table | None:
    """One row per group of `shares` (curves.grad_shares: group -> term -> each run's mean share), one column
    per loss term any run logged a share of."""
    terms = ordered_terms(t for by_term in shares.values() for t in by_term)
    if not terms:
        return None
    title = f"{info.name}: share of the gradient on the prediction per loss term (mean over logged steps)"
    first = "trial" if info.is_search else "variant"
    rows = [
        [Cell(group), *(Cell(_mean_std(by_term.get(t, []))) for t in terms)]
        for group, by_term in shares.items()
    ]
    return Table(title, [first, *(f"grad share {t}" for t in terms)], ["l"] + ["r"] * len(terms), rows)


def _mean_std(values: list[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"


def section(table: Table | None) -> str:
    """The README's "Loss-term balance" section ('' without shares)."""
    return "" if table is None else "## Loss-term balance\n\n" + to_markdown(table) + "\n" + NOTE
