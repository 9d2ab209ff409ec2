"""Does a relative-depth verdict depend on the evaluation protocol? The primary comparison under each
alignment of `report.robustness_aligns`, from the same checkpoints.

This project's `ssi` term is invariant to scale and shift in depth, MiDaS / Depth Anything's losses in
disparity; aligning the prediction in one space favours the recipe trained for it. Every run aligned by a
relative protocol writes its test table under the other one too (names.ROBUSTNESS_ALIGNS,
`eval/test_per_image_<align>.csv`), so the report can decide each variant under both and say whether the
verdict holds under both or depends on the alignment.
"""

from __future__ import annotations

import pandas as pd

from g2core.names import ALIGN_PARAM

from . import verdicts
from .collect import StudyInfo
from .fmt import pct
from .significance import UNDECIDED


def holds(words: dict[str, str]) -> str:
    """Same verdict everywhere: it holds; decided verdicts that differ: it depends on the alignment; decided
    under some alignments and undecided under the others: say where it is decided."""
    decided = {a: w for a, w in words.items() if w != UNDECIDED}
    if len(set(words.values())) == 1:
        return "holds under both" if decided else "undecided under both"
    if len(set(decided.values())) > 1:
        return "depends on the alignment"
    return f"decided under {' and '.join(decided)} only"


def robustness_line(info: StudyInfo, observed: dict[str, pd.DataFrame]) -> str:
    """One clause per variant: its verdict and Δ under each alignment, and whether the verdict holds. observed:
    align -> the per-image table under it (observations.align_observations; none for a search or a val report),
    compared on the deciding metric alone: the primary family."""
    tables = {
        align: verdicts.comparisons(info, frame, [info.metric_name]) for align, frame in observed.items()
    }
    if not tables:
        return ""
    clauses = []
    variants = list(dict.fromkeys(v for t in tables.values() for v in t["variant"]))
    for variant in variants:
        rows = {a: verdicts.row(t, variant, info.metric_name) for a, t in tables.items()}
        if any(r is None or r["n_seeds"] < 2 for r in rows.values()):
            continue
        words = {a: verdicts.word(r) for a, r in rows.items()}
        figures = ", ".join(
            f"{words[a]} under {a} (Δ {pct(r['delta_pct'])} {verdicts.ci_pct(r)})" for a, r in rows.items()
        )
        clauses.append(f"{variant}: {figures}: {holds(words)}")
    if not clauses:
        return ""
    return (
        f"Under each alignment, from the same checkpoints (`{ALIGN_PARAM}`: {' and '.join(tables)}; "
        f"`ssi` is invariant in depth, MiDaS / Depth Anything in disparity): " + "; ".join(clauses) + ".\n"
    )
