"""Does a relative-depth verdict depend on the evaluation protocol? The primary comparison under each
alignment of `report.robustness_aligns`, from the same checkpoints.

This project's `ssi` term is invariant to scale and shift in depth, MiDaS / Depth Anything's losses in
disparity; aligning the prediction in one space favours the recipe trained for it. Every run aligned by a
relative protocol writes its test table under the other one too (names.ROBUSTNESS_ALIGNS,
`eval/test_per_image_<align>.csv`), so the report can decide each variant under both and say whether the
verdict holds under both or depends on the alignment.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from g2core.names import (
    ALIGN_PARAM,
    IMAGE_COLUMN,
    ROBUSTNESS_ALIGNS,
    TAG_SEED,
    TAG_VARIANT,
    TEST,
    per_image_artifact,
)

from . import verdicts
from .collect import StudyInfo
from .fmt import pct
from .observations import per_image_table
from .significance import UNDECIDED


def per_align(
    client: MlflowClient, info: StudyInfo, values: pd.DataFrame, aligns: tuple[str, ...] = ROBUSTNESS_ALIGNS
) -> dict[str, pd.DataFrame]:
    """align -> the primary rows of the comparison under that alignment; {} when the runs are not aligned by
    a relative protocol (a metric-depth study), for a search, or when a run lacks a table."""
    runs = values[values[TAG_SEED].notna()] if not values.empty else values
    if (
        info.is_search
        or runs.empty
        or not set(runs[ALIGN_PARAM]) <= set(ROBUSTNESS_ALIGNS)
        or len(aligns) < 2
    ):
        return {}
    metric = info.metric_name
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for align in aligns:
            frames = []
            for _, run in runs.iterrows():
                own = run[ALIGN_PARAM] == align
                artifact = per_image_artifact(TEST) if own else per_image_artifact(TEST, align)
                table = per_image_table(client, str(run["run_id"]), Path(tmp) / align, artifact)
                if table is None:
                    return {}  # runs of an older version: no second table, no robustness claim
                frame = table[[IMAGE_COLUMN, metric]].copy()
                frame.insert(0, TAG_SEED, int(run[TAG_SEED]))
                frame.insert(0, TAG_VARIANT, run[TAG_VARIANT])
                frames.append(frame)
            table = verdicts.comparisons(info, pd.concat(frames, ignore_index=True), [metric])
            out[align] = verdicts.primary_rows(table)
    return out


def holds(words: dict[str, str]) -> str:
    """Same verdict everywhere: it holds; decided verdicts that differ: it depends on the alignment; decided
    under some alignments and undecided under the others: say where it is decided."""
    decided = {a: w for a, w in words.items() if w != UNDECIDED}
    if len(set(words.values())) == 1:
        return "holds under both" if decided else "undecided under both"
    if len(set(decided.values())) > 1:
        return "depends on the alignment"
    return f"decided under {' and '.join(decided)} only"


def robustness_line(info: StudyInfo, tables: dict[str, pd.DataFrame]) -> str:
    """One clause per variant: its verdict and Δ under each alignment, and whether the verdict holds."""
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
