"""What the paired tests see: every counted run's per-image test table, or one value per run on `val`.

The trainer evaluates each run's selected checkpoint once on the test split and logs one row per image
(`eval/test_per_image.csv`: IMAGE_COLUMN, then ALL_METRIC_KEYS). The same test images for every run is what
lets variants pair on seed and image. A `val` report has no such tables: each run's value is one observation.
"""

from __future__ import annotations

import math
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
    VAL,
    eval_per_image_artifact,
    per_image_artifact,
)

from .collect import ChildRun
from .samples import quiet_downloads

KEYS = [TAG_VARIANT, TAG_SEED, IMAGE_COLUMN]


def observations(
    client: MlflowClient, values: pd.DataFrame, metrics: list[str], split: str, notes: list[str]
) -> pd.DataFrame:
    """The long table significance.compare reads: variant, seed, image, one column per metric.

    Runs without a seed tag cannot pair and are left out; a test run without its per-image table is left
    out of the tests with a note (its `test/*` values still count in the seed-level table)."""
    if values.empty:
        return pd.DataFrame(columns=KEYS + metrics)
    runs = values[values[TAG_SEED].notna()]
    if split == VAL:
        frame = runs[[TAG_VARIANT, TAG_SEED, *metrics]].copy()
        frame.insert(2, IMAGE_COLUMN, 0)
        return frame.astype({TAG_SEED: int})
    keys = [(r["run_id"], r["run_name"], r[TAG_VARIANT], int(r[TAG_SEED])) for _, r in runs.iterrows()]
    counted = f"the paired tests (their `{TEST}/*` values still count in the Results table)"
    frames = _long_tables(client, keys, per_image_artifact(TEST), metrics, notes, counted)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEYS + metrics)


def _long_tables(
    client: MlflowClient,
    runs: list[tuple[str, str, str, int]],
    artifact: str,
    metrics: list[str],
    notes: list[str],
    left_out_of: str,
) -> list[pd.DataFrame]:
    """Each run's (run id, name, variant, seed) per-image table `artifact` as rows of the long table (variant,
    seed, image, metrics); a note names the runs without one, left out of `left_out_of`."""
    frames, lacking = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run_id, name, variant, seed in runs:
            table = per_image_table(client, run_id, Path(tmp), artifact)
            if table is None:
                lacking.append(name)
                continue
            table = table.reindex(columns=[IMAGE_COLUMN, *metrics])
            table.insert(0, TAG_SEED, seed)
            table.insert(0, TAG_VARIANT, variant)
            frames.append(table)
    if lacking:
        notes.append(f"Runs without {artifact}, left out of {left_out_of}: {', '.join(lacking)}.")
    return frames


def per_image_table(client: MlflowClient, run_id: str, tmp: Path, artifact: str) -> pd.DataFrame | None:
    """A run's per-image table `artifact` (the test split's under an alignment, a test set's), or None when it
    has none (or it has no image column)."""
    target = tmp / run_id / artifact.replace("/", "_")
    target.mkdir(parents=True)
    try:
        with quiet_downloads():
            path = client.download_artifacts(run_id, artifact, str(target))
    except Exception:  # MLflow raises its own, store-specific errors for a missing artifact
        return None
    table = pd.read_csv(path)
    if IMAGE_COLUMN not in table.columns:
        return None
    return table.astype(float).assign(**{IMAGE_COLUMN: table[IMAGE_COLUMN].astype(int)})


def align_observations(
    client: MlflowClient, values: pd.DataFrame, metric: str, aligns: tuple[str, ...] = ROBUSTNESS_ALIGNS
) -> dict[str, pd.DataFrame]:
    """align -> the long table (variant, seed, image, metric) of every counted run evaluated under it; {}
    when the runs are not aligned by a relative protocol (a metric-depth study) or a run lacks a table (a
    run of an older version: no second table, no robustness claim). g2core.report.robustness decides."""
    runs = values[values[TAG_SEED].notna()] if not values.empty else values
    if runs.empty or not set(runs[ALIGN_PARAM]) <= set(ROBUSTNESS_ALIGNS) or len(aligns) < 2:
        return {}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for align in aligns:
            frames = []
            for _, run in runs.iterrows():
                own = run[ALIGN_PARAM] == align
                artifact = per_image_artifact(TEST) if own else per_image_artifact(TEST, align)
                table = per_image_table(client, str(run["run_id"]), Path(tmp) / align, artifact)
                if table is None:
                    return {}
                frame = table[[IMAGE_COLUMN, metric]].copy()
                frame.insert(0, TAG_SEED, int(run[TAG_SEED]))
                frame.insert(0, TAG_VARIANT, run[TAG_VARIANT])
                frames.append(frame)
            out[align] = pd.concat(frames, ignore_index=True)
    return out


def test_set_observations(
    client: MlflowClient, runs: list[ChildRun], name: str, metrics: list[str], notes: list[str]
) -> pd.DataFrame:
    """variant, seed, image and one column per metric: every counted run's per-image table of test set
    `name` (study.test_sets; g2core.report.cross_dataset decides)."""
    keys = [(r.run_id, r.name, r.variant, int(r.seed)) for r in runs if r.seed is not None]
    frames = _long_tables(
        client, keys, eval_per_image_artifact(name), metrics, notes, f"the tests on test set {name}"
    )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def clamped_text(values: pd.DataFrame, column: str) -> str:
    """The clamped fraction over runs: its mean and range in percent; '' when no run logged it."""
    if values.empty or column not in values:
        return ""
    data = values[column].dropna().to_numpy(dtype=float)
    if not len(data):
        return ""
    low, high, mean = (100 * float(f(data)) for f in (min, max, lambda d: sum(d) / len(d)))
    if math.isclose(low, high):
        return f"{mean:.2f}% of the evaluated pixels"
    return f"{mean:.2f}% of the evaluated pixels on average (runs: {low:.2f}% to {high:.2f}%)"
