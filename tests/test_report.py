"""g2core.report against small studies logged into a fresh sqlite MLflow store, exactly per the contract
the trainer and the study engine follow (DESIGN: MLflow names; issue 5).

Expected numbers are recomputed here from what MLflow gives back, never from the generator's constants.
"""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from scipy import stats

from g2core.config import redact
from g2core.names import (
    ALIGN_CLAMPED,
    ALIGN_PARAM,
    ALL_METRIC_KEYS,
    BEST,
    EDGE_METRIC_KEYS,
    HEADLINE_STATS,
    IMAGE_COLUMN,
    LOSS,
    LOSS_TERMS,
    LR_KEY,
    ROLE_CHILD,
    ROLE_PARENT,
    RUNS_TABLE_QUERY,
    SUMMARY_TABLE,
    TAG_CHILD_VERDICT,
    TAG_CONFIG_HASH,
    TAG_FAILURE,
    TAG_GIT_COMMIT,
    TAG_MLFLOW_NOTE,
    TAG_PARENT_RUN_ID,
    TAG_ROLE,
    TAG_SEED,
    TAG_STUDY,
    TAG_TRIAL,
    TAG_VARIANT,
    TAG_VERDICT,
    TEST,
    TRAIN,
    VAL,
    VAL_EPOCH_KEY,
    best_trial_key,
    headline_key,
    metric_key,
    per_image_artifact,
    study_experiment,
    study_tag,
    term_key,
    verdict_tag,
    weight_param,
)
from g2core.report import ReportError, provenance, verdicts, write_report
from g2core.report.search_figures import importances

METRICS = list(ALL_METRIC_KEYS)  # the order the generator draws them in
TABLE_METRICS = [
    "abs_rel", "sq_rel", "rmse", "rmse_log", "silog", "delta1", "delta2", "delta3",
    "edge_rmse", "edge_abs_rel", "dbe_acc", "dbe_comp",
]  # fmt: skip
HIGHER = {"delta1", "delta2", "delta3"}
STEPS_PER_EPOCH, EPOCHS, K, SIZE = 5, 4, 3, 16
TABLES = ["README.md", "table.csv", "comparison.csv", "table.tex", "table.html"]
N_IMAGES = 24
ALIGN = "scale_shift_disparity"
# How hard each test image is: the same for every run (the test images are shared), so variants pair on it.
DIFFICULTY = np.random.default_rng(99).uniform(0.5, 1.5, size=64)

# Per variant: active loss terms and the level of abs_rel (grad_a clearly better than base, grad_b close to it).
ABLATION = {
    "base": (("ssi", "silog"), 0.20),
    "grad_a": (("ssi", "silog", "rgrad"), 0.15),
    "grad_b": (("ssi", "gm"), 0.198),
}


# ------------------------------------------------------------------ a study, logged per the contract


def _samples(rng: np.random.Generator, run_dir: Path, level: float) -> Path:
    """The first K validation images: the same rgb/depth for every run (seeded), predictions differ."""
    same = np.random.default_rng(123)
    rgb = same.integers(0, 256, size=(K, 3, SIZE, SIZE), dtype=np.uint8)
    depth = same.uniform(1.0, 5.0, size=(K, SIZE, SIZE)).astype(np.float32)
    depth[:, :3, :5] = 0.0  # invalid pixels
    pred = (depth * (1 + level * rng.normal(size=depth.shape))).astype(np.float32)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "best_predictions.npz"
    np.savez(path, rgb=rgb, depth=depth, pred=pred)
    return path


def _per_image(rng: np.random.Generator, level: float, n_images: int = N_IMAGES) -> pd.DataFrame:
    """One run's per-image test table (IMAGE_COLUMN, then ALL_METRIC_KEYS): image difficulty shared by every
    run, a run effect, per-image noise; image 0 has no ground-truth edge (NaN edge metrics)."""
    run_effect = 1 + 0.01 * rng.normal()
    table = {IMAGE_COLUMN: np.arange(n_images)}
    for m in METRICS:
        scale = level * (2 if m != "abs_rel" else 1)
        v = scale * DIFFICULTY[:n_images] * run_effect * (1 + 0.03 * rng.normal(size=n_images))
        v = np.minimum(0.999, 1 - v / 4) if m in HIGHER else v
        if m in EDGE_METRIC_KEYS:
            v[0] = np.nan
        table[m] = v
    return pd.DataFrame(table)


def _log_test(client: MlflowClient, run_id: str, table: pd.DataFrame, tmp: Path) -> list[Metric]:
    """The trainer's test evaluation: the per-image artifact and test/* (the per-image nanmean)."""
    artifact = Path(per_image_artifact(TEST))
    path = tmp / run_id / artifact.name
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    client.log_artifact(run_id, str(path), str(artifact.parent))
    metrics = [Metric(metric_key(TEST, m), float(np.nanmean(table[m])), 4000, 0) for m in METRICS]
    return metrics + [Metric(metric_key(TEST, ALIGN_CLAMPED), 0.012, 4000, 0)]


def _log_child(
    client: MlflowClient, exp_id: str, parent_id: str, study: str, variant: str, seed: int, trial: int,
    terms: tuple[str, ...], level: float, rng: np.random.Generator, tmp: Path, *,
    status: str = "FINISHED", epochs: int = EPOCHS, failure: str = "", name: str | None = None,
    weights: dict[str, float] | None = None, test: bool = True,
) -> str:  # fmt: skip
    tags = {TAG_PARENT_RUN_ID: parent_id, TAG_ROLE: ROLE_CHILD, TAG_STUDY: study, TAG_VARIANT: variant,
            TAG_SEED: str(seed), TAG_TRIAL: str(trial), TAG_CONFIG_HASH: "abc", TAG_GIT_COMMIT: "deadbeef"}  # fmt: skip
    if failure:
        tags[TAG_FAILURE] = failure
    run = client.create_run(exp_id, tags=tags, run_name=name or f"{variant}-s{seed}")
    run_id = run.info.run_id
    weights = weights or {t: (1.0 if t in terms else 0.0) for t in LOSS_TERMS}
    params = [Param(weight_param(t), str(w)) for t, w in weights.items()]
    params += [
        Param("trainer.max_epochs", str(EPOCHS)),
        Param("seed", str(seed)),
        Param("experiment", variant),
        Param(ALIGN_PARAM, ALIGN),
    ]
    metrics: list[Metric] = []
    for step in range(epochs * STEPS_PER_EPOCH):
        for term in terms:
            metrics.append(
                Metric(term_key(TRAIN, term), float(rng.uniform(0.5, 1.0) / (1 + step)), 1000 + step, step)
            )
        metrics.append(
            Metric(metric_key(TRAIN, LOSS), float(rng.uniform(1, 2) / (1 + step)), 1000 + step, step)
        )
        metrics.append(Metric(LR_KEY, 1e-3, 1000 + step, step))
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        step = epoch * STEPS_PER_EPOCH
        decay = 1 + 0.3 / epoch
        values = {
            m: float(level * (2 if m != "abs_rel" else 1) * decay * (1 + 0.06 * rng.normal()))
            for m in METRICS
        }
        for m in HIGHER:
            values[m] = float(min(0.999, 1 - values[m] / 4))
        history.append(values)
        metrics.append(Metric(VAL_EPOCH_KEY, float(epoch), 2000 + step, step))
        metrics.append(Metric(metric_key(VAL, LOSS), values["silog"], 2000 + step, step))
        metrics += [Metric(term_key(VAL, t), float(rng.uniform(0.1, 0.5)), 2000 + step, step) for t in terms]
        metrics += [Metric(metric_key(VAL, m), v, 2000 + step, step) for m, v in values.items()]
    if status == "FINISHED":
        best = min(history, key=lambda v: v["abs_rel"])
        metrics += [Metric(metric_key(BEST, m), v, 3000, epochs * STEPS_PER_EPOCH) for m, v in best.items()]
        if test:
            metrics += _log_test(client, run_id, _per_image(rng, level), tmp)
    for start in range(0, len(metrics), 900):  # log_batch takes at most 1000 metrics
        client.log_batch(run_id, metrics=metrics[start : start + 900], params=params if start == 0 else [])
    config = tmp / run_id / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"experiment: {variant}\nseed: {seed}\n")
    client.log_artifact(run_id, str(config))
    if status == "RUNNING":
        return run_id  # left open, as a live (or killed) worker leaves it
    if status == "FINISHED":
        for name_ in ("last.pt", "best.pt"):
            (tmp / run_id / name_).write_bytes(b"ckpt")
            client.log_artifact(run_id, str(tmp / run_id / name_), "checkpoints")
        client.log_artifact(run_id, str(_samples(rng, tmp / run_id / "samples", level)), "samples")
    client.set_terminated(run_id, status)
    return run_id


def _log_parent(client: MlflowClient, study: str, kind: str, variants: list[str], seeds: list[int],
                baseline: str, tmp: Path, status: str = "finished") -> tuple[str, str]:  # fmt: skip
    exp_id = client.create_experiment(
        study_experiment(study), artifact_location=(tmp / "artifacts" / study).as_uri()
    )
    tags = {TAG_ROLE: ROLE_PARENT, TAG_STUDY: study, study_tag("kind"): kind,
            study_tag("metric"): metric_key(VAL, "abs_rel"), study_tag("direction"): "minimize",
            study_tag("baseline"): baseline, study_tag("variants"): ",".join(variants),
            study_tag("seeds"): ",".join(map(str, seeds)), study_tag("status"): status}  # fmt: skip
    parent = client.create_run(exp_id, tags=tags, run_name=study)
    return exp_id, parent.info.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One sqlite store with three studies: `toy` (ablation), `solo` (one seed), `wsearch` (search)."""
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    rng = np.random.default_rng(7)
    files = tmp / "files"

    variants, seeds = list(ABLATION), [0, 1, 2]
    exp_id, parent = _log_parent(client, "toy", "ablation", variants, seeds, "base", tmp)
    trial = 0
    # A first attempt of (base, 0) that died before validating; its retry below finishes.
    _log_child(client, exp_id, parent, "toy", "base", 0, trial, ("ssi", "silog"), 0.2, rng, files,
               status="FAILED", epochs=0, failure="worker lost (heartbeat)\ntraceback ...")  # fmt: skip
    for variant, (terms, level) in ABLATION.items():
        for seed in seeds:
            trial += 1
            if (variant, seed) == ("grad_b", 1):
                continue  # the missing pair
            failed = (variant, seed) == ("grad_a", 2)
            _log_child(client, exp_id, parent, "toy", variant, seed, trial, terms, level, rng, files,
                       status="FAILED" if failed else "FINISHED", epochs=2 if failed else EPOCHS,
                       failure="NaN loss at step 12" if failed else "")  # fmt: skip

    # One seed, trained without a test split, and grad_b still running after two validations (no best/* yet).
    exp_solo, parent_solo = _log_parent(
        client, "solo", "ablation", list(ABLATION), [0], "base", tmp, "running"
    )
    for i, variant in enumerate(ABLATION):
        terms, level = ABLATION[variant]
        running = variant == "grad_b"
        _log_child(client, exp_solo, parent_solo, "solo", variant, 0, i, terms, level, rng, files,
                   status="RUNNING" if running else "FINISHED", epochs=2 if running else EPOCHS,
                   test=False)  # fmt: skip

    # Just started: one running trial that has not validated yet.
    exp_early, parent_early = _log_parent(
        client, "early", "ablation", ["base"], [0, 1], "base", tmp, "running"
    )
    _log_child(client, exp_early, parent_early, "early", "base", 0, 0, ("ssi",), 0.2, rng, files,
               status="RUNNING", epochs=0)  # fmt: skip

    exp_search, parent_search = _log_parent(client, "wsearch", "search", ["ssi_silog_grad"], [0], "", tmp)
    for trial in range(5):
        weights = {
            "ssi": float(rng.uniform(0.1, 1)),
            "silog": float(rng.uniform(0.1, 1)),
            "rgrad": float(rng.uniform(0, 1)),
        }
        _log_child(client, exp_search, parent_search, "wsearch", "ssi_silog_grad", 0, trial, ("ssi", "silog", "rgrad"),
                   0.1 + 0.1 * weights["rgrad"], rng, files, name=f"trial-{trial}", weights=weights)  # fmt: skip
    # A pruned-or-crashed trial: listed as failed, not in the tables.
    _log_child(client, exp_search, parent_search, "wsearch", "ssi_silog_grad", 0, 5, ("ssi",), 0.3, rng, files,
               status="FAILED", epochs=1, failure="boom", name="trial-5")  # fmt: skip
    return {"uri": uri, "client": client, "tmp": tmp, "parent": parent, "exp_id": exp_id}


@pytest.fixture(scope="module")
def toy(store: dict, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report") / "toy"
    return write_report(store["uri"], "toy", out), out


@pytest.fixture(scope="module")
def toy_val(store: dict, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report") / "toy_val"
    return write_report(store["uri"], "toy", out, log_to_parent=False, figures=False, split=VAL), out


# A study made to be decided: `better` has a planted 20% effect, `same` is drawn like the baseline; 6 seeds x
# 24 test images, so the corrected test finds the one and not the other.
PAIRED = {"base": 0.20, "better": 0.16, "same": 0.20}
PAIRED_SEEDS = [0, 1, 2, 3, 4, 5]


def _log_tested(client: MlflowClient, exp_id: str, parent: str, study: str, variant: str, seed: int,
                level: float, rng: np.random.Generator, tmp: Path, *, config_hash: str = "abc",
                commit: str = "deadbeef") -> str:  # fmt: skip
    """A finished run as the trainer leaves it, with just what the report reads: tags, params, best/*,
    train loss terms, test/* and the per-image test table, and the selected checkpoint."""
    tags = {TAG_PARENT_RUN_ID: parent, TAG_ROLE: ROLE_CHILD, TAG_STUDY: study, TAG_VARIANT: variant,
            TAG_SEED: str(seed), TAG_TRIAL: str(seed), TAG_CONFIG_HASH: config_hash, TAG_GIT_COMMIT: commit}  # fmt: skip
    run_id = client.create_run(exp_id, tags=tags, run_name=f"{variant}-s{seed}").info.run_id
    table = _per_image(rng, level)
    metrics = _log_test(client, run_id, table, tmp)
    metrics += [Metric(metric_key(BEST, m), float(np.nanmean(table[m])) * 0.97, 3000, 0) for m in METRICS]
    metrics.append(Metric(term_key(TRAIN, "ssi"), 0.3 if variant == "base" else 0.1, 1000, 0))
    params = [Param(ALIGN_PARAM, ALIGN)] + [Param(weight_param(t), "1.0") for t in ("ssi", "silog")]
    client.log_batch(run_id, metrics=metrics, params=params)
    (tmp / run_id / "best.pt").write_bytes(b"ckpt")
    client.log_artifact(run_id, str(tmp / run_id / "best.pt"), "checkpoints")
    client.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.fixture(scope="module")
def paired_store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Its own store: `paired` (decidable) and `mixed` (a config changed mid-study, two git commits)."""
    tmp = tmp_path_factory.mktemp("paired")
    uri = f"sqlite:///{tmp}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    rng = np.random.default_rng(11)
    exp_id, parent = _log_parent(client, "paired", "ablation", list(PAIRED), PAIRED_SEEDS, "base", tmp)
    for variant, level in PAIRED.items():
        for seed in PAIRED_SEEDS:
            _log_tested(client, exp_id, parent, "paired", variant, seed, level, rng, tmp / "files")
    exp_mixed, parent_mixed = _log_parent(client, "mixed", "ablation", ["base", "other"], [0, 1], "base", tmp)
    _log_tested(
        client, exp_mixed, parent_mixed, "mixed", "base", 0, 0.2, rng, tmp / "files", config_hash="old"
    )
    for variant, seed in (("base", 0), ("base", 1), ("other", 0), ("other", 1)):
        commit = "cafef00d" if (variant, seed) == ("other", 1) else "deadbeef"
        _log_tested(client, exp_mixed, parent_mixed, "mixed", variant, seed, 0.2, rng, tmp / "files",
                    commit=commit)  # fmt: skip
    return {"uri": uri, "client": client, "exp_id": exp_id, "parent": parent, "tmp": tmp}


@pytest.fixture(scope="module")
def paired(paired_store: dict, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report") / "paired"
    return write_report(paired_store["uri"], "paired", out, figures=False), out


# ------------------------------------------------------------------ expectations, from MLflow


def _history(client: MlflowClient, run_id: str, key: str) -> dict[int, float]:
    return {m.step: m.value for m in client.get_metric_history(run_id, key)}


def _expected_values(
    client: MlflowClient, exp_id: str, parent: str, split: str = TEST
) -> dict[str, dict[str, list[float]]]:
    """Per variant and metric, the values the table must aggregate. test: test/* of the runs that have them.
    val: best/* of finished runs; for the run without best/* (failed after validating) its val history at
    the step where val/abs_rel was best."""
    runs = client.search_runs([exp_id], filter_string=f"tags.`{TAG_PARENT_RUN_ID}` = '{parent}'")
    out: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        variant, metrics = run.data.tags[TAG_VARIANT], run.data.metrics
        if split == TEST:
            if metric_key(TEST, "abs_rel") not in metrics:
                continue
            values = {m: metrics[metric_key(TEST, m)] for m in TABLE_METRICS}
        elif metric_key(BEST, "abs_rel") in metrics:
            values = {m: metrics[metric_key(BEST, m)] for m in TABLE_METRICS}
        else:
            history = _history(client, run.info.run_id, metric_key(VAL, "abs_rel"))
            if not history:
                continue  # died before validating: not counted
            step = min(history, key=lambda s: (history[s], s))
            values = {}
            for m in TABLE_METRICS:
                values[m] = _history(client, run.info.run_id, metric_key(VAL, m))[step]
        for m, v in values.items():
            out.setdefault(variant, {}).setdefault(m, []).append(v)
    return out


def _per_image_tables(client: MlflowClient, exp_id: str, tmp: Path) -> dict[tuple[str, int], pd.DataFrame]:
    """Every run's per-image test table as MLflow gives it back, by (variant, seed)."""
    out = {}
    for run in client.search_runs([exp_id]):
        if metric_key(TEST, "abs_rel") not in run.data.metrics:
            continue
        path = client.download_artifacts(
            run.info.run_id, per_image_artifact(TEST), str(tmp / run.info.run_id)
        )
        out[(run.data.tags[TAG_VARIANT], int(run.data.tags[TAG_SEED]))] = pd.read_csv(path)
    return out


def _comparison(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["variant"], r["metric"]): r for r in csv.DictReader(io.StringIO(path.read_text()))}


def _section(readme: str, heading: str) -> str:
    return readme.split(heading, 1)[1].split("\n## ", 1)[0]


def _shown(text: str, value: float, digits: int) -> bool:
    """`text` is `value` rounded to `digits` significant digits (within half a unit of its last digit)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    significant = len(text.replace("-", "").replace(".", "").lstrip("0"))
    return significant >= digits and abs(float(text) - value) <= 0.5 * 10**-decimals * (1 + 1e-9)


def _csv_rows(path: Path) -> dict[str, dict[str, str]]:
    rows = csv.DictReader(io.StringIO(path.read_text()))
    return {row.get("variant") or row.get("trial"): row for row in rows}


def _md_table(readme: str, heading: str) -> list[list[str]]:
    """The first Markdown table after a heading, as rows of cell strings (header first, rule dropped)."""
    lines = readme.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return [block[0]] + block[2:]


# ------------------------------------------------------------------ tests


def test_all_files_written(toy) -> None:
    result, out = toy
    names = {p.name for p in result.files}
    expected = {
        *TABLES,
        "report.html",
        "metrics.png",
        "train_curves.png",
        "val_curves.png",
        "qualitative.png",
    }
    assert expected <= names
    assert all((out / n).stat().st_size > 0 for n in names)
    assert not any(n.startswith("search_") for n in names)
    assert result.markdown == (out / "README.md").read_text()
    # best: the variant the corrected tests single out on the deciding metric, never the best mean alone.
    better = [
        v for (v, m), r in _comparison(out / "comparison.csv").items() if m == "abs_rel" and r["mark"] == "▲"
    ]
    assert result.best == (better[0] if len(better) == 1 else None)


def test_header_says_split_and_alignment(toy, toy_val) -> None:
    assert toy[0].markdown.split("\n\n")[1] == "## Verdict"  # the answer first, right under the title
    head = toy[0].markdown.split("## Study", 1)[1].split("## Results", 1)[0]
    assert (
        "(test split)" in toy[0].markdown.split("\n", 1)[0]
        and "**test** split" in head
        and per_image_artifact(TEST) in head
    )
    assert f"`{ALIGN_PARAM}` = {ALIGN}" in head and "1.20% of the evaluated pixels" in head
    head_val = toy_val[0].markdown.split("## Study", 1)[1].split("## Results", 1)[0]
    assert (
        "(val split)" in toy_val[0].markdown.split("\n", 1)[0]
        and "**validation** split" in head_val
        and "one observation" in head_val
    )
    assert "report.split=val" in toy_val[0].markdown.split("## Against the baseline", 1)[1]


@pytest.mark.parametrize("split", [TEST, VAL])
def test_table_cells_match_child_runs(toy, toy_val, store, split) -> None:
    result, out = toy if split == TEST else toy_val
    expected = _expected_values(store["client"], store["exp_id"], store["parent"], split)
    rows = _csv_rows(out / "table.csv")
    md = _md_table(result.markdown, "## Results")
    header = md[0]
    md_rows = {r[0]: dict(zip(header, r, strict=True)) for r in md[1:]}
    for variant, per_metric in expected.items():
        assert int(rows[variant]["n"]) == len(per_metric["abs_rel"])
        for m in TABLE_METRICS:
            values = np.array(per_metric[m])
            assert float(rows[variant][f"{m}_mean"]) == pytest.approx(values.mean(), rel=1e-6)
            arrow = "↑" if m in HIGHER else "↓"
            cell = md_rows[variant][f"{m} {arrow}"].strip("*")
            if len(values) == 1:
                assert _shown(cell, values.mean(), digits=4)
                continue
            assert float(rows[variant][f"{m}_std"]) == pytest.approx(values.std(ddof=1), rel=1e-6)
            mean_text, std_text = cell.split(" ± ")
            assert _shown(mean_text, values.mean(), digits=4)
            assert _shown(std_text, values.std(ddof=1), digits=2)
    if split == VAL:
        assert rows["grad_a"]["n_partial"] == "1" and "3 (1 partial)" in md_rows["grad_a"]["n"]
    else:  # the failed run has no test evaluation: not counted, and listed as such
        assert rows["grad_a"]["n"] == "2" and rows["grad_a"]["n_partial"] == "0"
        assert "without a test evaluation yet" in result.markdown.split("## Missing / failed", 1)[1]
    # The missing pair leaves grad_b with two runs; loss terms a variant does not use stay blank.
    assert rows["grad_b"]["n"] == "2"
    assert md_rows["base"]["loss_rgrad ↓"] == "" and md_rows["grad_a"]["loss_rgrad ↓"] != ""


def _bold(markdown: str) -> dict[str, list[str]]:
    md = _md_table(markdown, "## Results")
    return {h: [r[0] for r in md[1:] if r[i].startswith("**")] for i, h in enumerate(md[0])}


@pytest.mark.parametrize("which", ["toy", "paired"])
def test_bold_only_where_significantly_best(toy, paired, which) -> None:
    """Bold: the only variant significantly better than the baseline after Holm; never the best mean alone;
    loss columns never."""
    result, out = toy if which == "toy" else paired
    marks = _comparison(out / "comparison.csv")
    bold = _bold(result.markdown)
    for m in TABLE_METRICS:
        better = [v for (v, metric), r in marks.items() if metric == m and r["mark"] == "▲"]
        assert bold[f"{m} {'↑' if m in HIGHER else '↓'}"] == (better if len(better) == 1 else []), m
    assert all(not rows for h, rows in bold.items() if h.startswith("loss_"))
    if which == "paired":
        assert all(bold[f"{m} {'↑' if m in HIGHER else '↓'}"] == ["better"] for m in TABLE_METRICS)
        assert "\\textbf{" in (out / "table.tex").read_text() and "<b>" in (out / "table.html").read_text()


def test_marks_by_family(toy, paired) -> None:
    """Primary (the deciding metric): Holm over the variants, the verdict's mark; secondary (every other
    metric): Holm over all of their cells, ▲/▼ at adjusted p < 0.05, never a verdict."""
    for result, out in (toy, paired):
        rows = _comparison(out / "comparison.csv")
        for family in ("primary", "secondary"):
            cells = {k: r for k, r in rows.items() if r["family"] == family}
            p = np.array([float(r["p"]) if r["p"] else np.nan for r in cells.values()])
            p_holm = np.array([float(r["p_holm"]) if r["p_holm"] else np.nan for r in cells.values()])
            tested = ~np.isnan(p)
            assert np.all(p_holm[tested] >= np.minimum(1, p[tested]) - 1e-12)
            assert np.min(p_holm[tested]) == pytest.approx(
                min(1.0, tested.sum() * np.min(p[tested])), rel=1e-6
            )
        for (variant, metric), r in rows.items():
            lower = metric not in HIGHER
            if r["family"] == "primary":
                assert metric == "abs_rel"
                assert r["mark"] == {"better": "▲", "worse": "▼", "equivalent": "≈"}.get(r["verdict"], "")
                continue
            marked = bool(r["p_holm"]) and float(r["p_holm"]) < 0.05
            assert (r["mark"] != "") == marked and r["verdict"] == "", (variant, metric)
            if marked:
                assert r["mark"] == ("▲" if (float(r["delta"]) < 0) == lower else "▼")
        table = _md_table(result.markdown, "## Against the baseline")
        for line in table[1:]:
            metric = line[0].split(" ")[0]
            for variant_header, cell in zip(table[0][2:], line[2:], strict=True):
                variant = variant_header.split(" ")[0]
                assert cell.endswith(rows[(variant, metric)]["mark"] or "]"), (variant, metric, cell)
    paired_rows = _comparison(paired[1] / "comparison.csv")
    assert all(paired_rows[("better", m)]["mark"] == "▲" for m in TABLE_METRICS)
    assert not any(paired_rows[("same", m)]["mark"] in ("▲", "▼") for m in TABLE_METRICS)


def test_verdict_sentence_from_the_numbers(toy, paired) -> None:
    verdict = _section(paired[0].markdown, "## Verdict")
    rows = _comparison(paired[1] / "comparison.csv")
    better, same = rows[("better", "abs_rel")], rows[("same", "abs_rel")]
    assert paired[0].verdict in verdict and paired[0].best == "better"
    assert "better is better than base" in verdict
    assert f"Δ {float(better['delta_pct']):+.1f}%" in verdict and "6 seeds × 24 images" in verdict
    assert same["verdict"] in ("equivalent", "undecided")
    assert (
        "same is equivalent to base within ±5%" if same["verdict"] == "equivalent" else "same: undecided"
    ) in verdict
    assert (
        f"Δ {float(same['delta_pct']):+.2f}%" in verdict or f"Δ {float(same['delta_pct']):+.1f}%" in verdict
    )
    assert "Best" not in verdict  # no winner by mean
    toy_verdict = _section(toy[0].markdown, "## Verdict")
    for variant in ("grad_a", "grad_b"):
        r = _comparison(toy[1] / "comparison.csv")[(variant, "abs_rel")]
        phrase = {
            "better": f"{variant} is better", "worse": f"{variant} is worse",
            "equivalent": f"{variant} is equivalent", "undecided": f"{variant}: undecided",
        }  # fmt: skip
        assert phrase[r["verdict"]] in toy_verdict


def test_power_line(toy, paired) -> None:
    """The power line states the design and the verdict's own test's minimum detectable effect; an undecided
    variant says how many seeds would decide it."""
    verdict = _section(paired[0].markdown, "## Verdict")
    rows = _comparison(paired[1] / "comparison.csv")
    assert "Design: fixed design" in verdict and "80% of the time" in verdict
    mde = float(rows[("same", "abs_rel")]["mde"]) / float(rows[("same", "abs_rel")]["baseline_mean"]) * 100
    assert f"same: {mde:.1f}% of the baseline at 6 seeds" in verdict
    toy_rows = _comparison(toy[1] / "comparison.csv")
    toy_verdict = _section(toy[0].markdown, "## Verdict")
    for variant in ("grad_a", "grad_b"):
        r = toy_rows[(variant, "abs_rel")]
        if r["verdict"] == "undecided":
            assert f"{variant}: undecided at" in toy_verdict and "would decide" in toy_verdict
    assert verdicts.seeds_text(math.inf).startswith("more seeds alone would not")
    assert verdicts.seeds_text(7.0) == "about 7 seeds"


def test_delta_and_tests_match_per_image_tables(toy, store, tmp_path: Path) -> None:
    """Δ, Welch over seeds and Wilcoxon over pooled images recomputed from the per-image tables MLflow holds."""
    result, out = toy
    tables = _per_image_tables(store["client"], store["exp_id"], tmp_path)
    rows = _csv_rows(out / "table.csv")
    details = _comparison(out / "comparison.csv")
    for variant in ("grad_a", "grad_b"):
        seeds = sorted(s for v, s in tables if v == variant and ("base", s) in tables)
        for m in ("abs_rel", "delta1", "edge_rmse"):
            v = np.stack([tables[(variant, s)][m].to_numpy() for s in seeds])
            b = np.stack([tables[("base", s)][m].to_numpy() for s in seeds])
            keep = np.isfinite(v).all(0) & np.isfinite(b).all(0)
            v, b = v[:, keep], b[:, keep]
            delta = (v.mean() - b.mean()) / abs(b.mean()) * 100
            welch = stats.ttest_ind(v.mean(1), b.mean(1), equal_var=False).pvalue
            wilcoxon = stats.wilcoxon((v - b).ravel(), zero_method="pratt").pvalue
            assert float(rows[variant][f"{m}_delta_pct"]) == pytest.approx(delta, rel=1e-6)
            assert float(rows[variant][f"{m}_p_welch"]) == pytest.approx(welch, rel=1e-6)
            assert float(details[(variant, m)]["p_wilcoxon"]) == pytest.approx(wilcoxon, rel=1e-6)
            assert int(details[(variant, m)]["n_images"]) == keep.sum()
    detail_text = _section(result.markdown, "## Details of the tests")
    assert "these trained models" in detail_text and "p Welch (seeds)" in detail_text
    assert "Holm" in _section(result.markdown, "## Against the baseline")


def test_links_to_runs_and_checkpoints(paired, paired_store) -> None:
    result, _ = paired
    client = paired_store["client"]
    md = _md_table(result.markdown, "## Results")
    column = md[0].index("runs (selected checkpoint)")
    cells = {r[0]: r[column] for r in md[1:]}
    for run in client.search_runs([paired_store["exp_id"]], f"tags.`{TAG_ROLE}` = '{ROLE_CHILD}'"):
        variant, seed, run_id = run.data.tags[TAG_VARIANT], run.data.tags[TAG_SEED], run.info.run_id
        assert f"[s{seed}](runs:/{run_id})" in cells[variant]
        assert f"[best.pt]({run.info.artifact_uri}/checkpoints/best.pt)" in cells[variant]
    assert (
        provenance.run_url("http://u:pw@host:5000/", "3", "abc")
        == "http://u:***@host:5000/#/experiments/3/runs/abc"
    )
    assert provenance.checkpoint_url("https://h", "3", "abc", "s3://b/x").endswith(
        "runs/abc/artifacts/checkpoints/best.pt"
    )


def test_mixed_config_hash_and_commits_flagged(paired, paired_store, tmp_path: Path) -> None:
    result = write_report(
        paired_store["uri"], "mixed", tmp_path / "mixed", log_to_parent=False, figures=False
    )
    text = _section(result.markdown, "## Provenance")
    assert f"⚠ Mixed `{TAG_CONFIG_HASH}` for base, seed 0" in text and "old: base-s0" in text
    assert f"⚠ Mixed `{TAG_GIT_COMMIT}`" in text and "cafef00d, deadbeef" in text
    clean = _section(paired[0].markdown, "## Provenance")
    assert "⚠" not in clean and "deadbeef" in clean and "abc" in clean


def test_parent_summary_is_the_reports_statistics(paired, paired_store) -> None:
    """Issue 24: the parent holds a few headlines (Δ % and its CI on the deciding metric, step 0) and the Δ /
    CI / p / verdict table as one table artifact, not one metric per cell; no `variant` tag of its own."""
    result, out = paired
    client = paired_store["client"]
    run = client.get_run(paired_store["parent"])
    tags, metrics = run.data.tags, run.data.metrics
    assert tags[TAG_VERDICT] == result.verdict and result.verdict in _section(result.markdown, "## Verdict")
    assert tags[verdict_tag("better")] == "better"
    assert tags[verdict_tag("same")] == _comparison(out / "comparison.csv")[("same", "abs_rel")]["verdict"]
    assert TAG_VARIANT not in tags  # a group-by shows the variants only
    details = _comparison(out / "comparison.csv")
    for variant in PAIRED:
        if variant == "base":
            continue
        r = details[(variant, "abs_rel")]
        base = abs(float(r["baseline_mean"]))
        expected = {"delta_pct": float(r["delta_pct"]), "ci_low_pct": float(r["ci_low"]) / base * 100,
                    "ci_high_pct": float(r["ci_high"]) / base * 100}  # fmt: skip
        for stat, value in expected.items():
            assert metrics[headline_key(variant, stat)] == pytest.approx(value, rel=1e-6)
            assert [
                m.step for m in client.get_metric_history(run.info.run_id, headline_key(variant, stat))
            ] == [0]
    assert set(metrics) == {headline_key(v, s) for v in PAIRED if v != "base" for s in HEADLINE_STATS}
    # The whole comparison: one table artifact the UI shows as a table.
    table = pd.read_json(io.StringIO(Path(client.download_artifacts(run.info.run_id, SUMMARY_TABLE, str(out.parent))).read_text()), orient="split")  # fmt: skip
    assert {"variant", "metric", "delta_pct", "ci_low_pct", "ci_high_pct", "p_holm", "verdict"} <= set(
        table.columns
    )
    assert len(table) == len(details)
    got = table.set_index(["variant", "metric"]).loc[("better", "abs_rel")]
    assert got["verdict"] == "better" and got["p_holm"] == pytest.approx(
        float(details[("better", "abs_rel")]["p_holm"]),
        abs=1e-9,  # the JSON keeps 10 decimals
    )
    assert {k: v for k, v in tags.items() if k in result.summary_tags} == result.summary_tags


def test_answer_first_in_mlflow(paired, paired_store) -> None:
    """Issue 24: the parent's description opens with the verdict and its intervals (no markdown title); each
    child carries its variant's verdict; the experiment says which study, how it decides and where the parent is."""
    result, out = paired
    client, exp_id, parent_id = paired_store["client"], paired_store["exp_id"], paired_store["parent"]
    note = client.get_run(parent_id).data.tags[TAG_MLFLOW_NOTE]
    first = note.split("\n", 1)[0]
    assert not first.startswith(("#", "*")) and first.startswith("Against base on test abs_rel")
    assert "better better (Δ" in first and "95% CI" in first
    assert result.verdict in note and "| variant |" in note
    details = _comparison(out / "comparison.csv")
    for child in client.search_runs([exp_id], f"tags.`{TAG_ROLE}` = '{ROLE_CHILD}'"):
        variant = child.data.tags[TAG_VARIANT]
        expected = "baseline" if variant == "base" else details[(variant, "abs_rel")]["verdict"]
        assert child.data.tags[TAG_CHILD_VERDICT] == expected
    grouped = client.search_runs([exp_id], f"tags.`{TAG_CHILD_VERDICT}` = 'better'")
    assert grouped and {r.data.tags[TAG_VARIANT] for r in grouped} == {"better"}
    experiment_note = client.get_experiment(exp_id).tags[TAG_MLFLOW_NOTE]
    assert experiment_note.startswith("Study paired (ablation)") and "baseline base" in experiment_note
    assert "Design: " in experiment_note and f"#/experiments/{exp_id}/runs/{parent_id}" in experiment_note


def test_the_copies_in_mlflow_link_where_they_are_read(toy, store, tmp_path: Path) -> None:
    """Issue 24: the README logged to the parent shows its figures and opens its files through the artifact
    route of the same server, its runs as UI routes; report.html (a sandboxed viewer: no link can work there)
    names what to open as text; no `runs:/` link and no `file://` path in either. The disk copy is unchanged."""
    result, out = toy
    client, parent, exp_id = store["client"], store["parent"], store["exp_id"]
    folder = Path(client.download_artifacts(parent, "report", str(tmp_path)))
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "](runs:/" not in readme and "file://" not in readme
    route = f"&run_uuid={parent})"
    # MLflow's markdown view draws no image from a relative address: each figure links to its preview
    preview = f"/#/experiments/{exp_id}/runs/{parent}/artifacts/report/metrics.png{RUNS_TABLE_QUERY}"
    assert f"**Figure:** [metrics.png]({preview})" in readme
    assert "![" not in readme
    assert f"[table.csv](get-artifact?path=report%2Ftable.csv{route}" in readme
    for kid in client.search_runs(
        [exp_id], f"tags.`{TAG_ROLE}` = '{ROLE_CHILD}' and attributes.status = 'FINISHED'"
    ):
        assert f"](#/experiments/{exp_id}/runs/{kid.info.run_id}{RUNS_TABLE_QUERY})" in readme
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert not re.findall(r'href="(?!#)', page) and "file://" not in page
    assert (
        "<code>artifact report/table.csv of this run</code>" in page and 'src="data:image/png;base64,' in page
    )
    assert "](runs:/" in (out / "README.md").read_text(encoding="utf-8")  # the disk copy keeps its links
    # The parent's description: its main table's runs as UI routes, checkpoints through the artifact route.
    note = client.get_run(parent).data.tags[TAG_MLFLOW_NOTE]
    assert "runs:/" not in note and "file://" not in note
    for kid in client.search_runs(
        [exp_id], f"tags.`{TAG_ROLE}` = '{ROLE_CHILD}' and attributes.status = 'FINISHED'"
    ):
        assert f"(#/experiments/{exp_id}/runs/{kid.info.run_id}{RUNS_TABLE_QUERY})" in note
        assert f"(get-artifact?path=checkpoints%2Fbest.pt&run_uuid={kid.info.run_id})" in note


def test_missing_and_failed_listed(toy) -> None:
    text = toy[0].markdown.split("## Missing / failed", 1)[1]
    assert "grad_a-s2" in text and "NaN loss at step 12" in text
    assert "worker lost (heartbeat)" in text and "retried" in text
    assert "grad_b, seed 1: no run" in text
    assert "grad_a, seed 2: failed" in text
    assert "traceback" not in text  # one line of the reason only


def test_rebuild_is_byte_identical(toy, store) -> None:
    """The report folder deleted and written again: the same tables, byte for byte, and the same figures."""
    result, out = toy
    first = {n: (out / n).read_bytes() for n in TABLES}
    shutil.rmtree(out)
    rebuilt = write_report(store["uri"], "toy", out, log_to_parent=False)
    assert {n: (out / n).read_bytes() for n in TABLES} == first
    assert [p.name for p in rebuilt.files] == [p.name for p in result.files]


def test_report_logged_to_parent(toy, store) -> None:
    result, _ = toy
    logged = {Path(a.path).name for a in store["client"].list_artifacts(store["parent"], "report")}
    assert logged == {p.name for p in result.files}
    assert result.parent_run_id == store["parent"]


def test_one_seed_says_no_test_and_running_is_partial(store, tmp_path: Path) -> None:
    """`solo` was trained without a test split: report.split=val reads it, one value per run."""
    result = write_report(
        store["uri"], "solo", tmp_path / "solo", log_to_parent=False, figures=False, split=VAL
    )
    assert "n=1, no test" in result.markdown.split("## Verdict", 1)[1].split("##", 1)[0]
    assert "n=1, no test" in _md_table(result.markdown, "## Against the baseline")[1][2]
    results = {row[0]: row for row in _md_table(result.markdown, "## Results")[1:]}
    assert "±" not in results["base"][2]  # one run: no spread shown
    # The running run counts with its best validation so far, and the report says so.
    assert results["grad_b"][1] == "1 (1 partial)"
    client = store["client"]
    run = next(r for r in client.search_runs([client.get_experiment_by_name(study_experiment("solo")).experiment_id])
               if r.data.tags.get(TAG_VARIANT) == "grad_b")  # fmt: skip
    history = _history(client, run.info.run_id, metric_key(VAL, "abs_rel"))
    best_step = min(history, key=lambda s: (history[s], s))
    assert _shown(results["grad_b"][2].strip("*"), history[best_step], digits=4)
    missing = result.markdown.split("## Missing / failed", 1)[1]
    assert "provisional" in missing and "grad_b-s0" in missing and "grad_b, seed 0: running" in missing


def test_val_split_on_runs_without_test_metrics(store, tmp_path: Path) -> None:
    """The default test split finds nothing in `solo` and says so; report.split=val reports it."""
    on_test = write_report(store["uri"], "solo", tmp_path / "t", log_to_parent=False, figures=False)
    assert "No run has a test value of `abs_rel` yet: nothing to compare." in on_test.markdown
    assert "without a test evaluation yet" in on_test.markdown
    on_val = write_report(store["uri"], "solo", tmp_path / "v", log_to_parent=False, figures=False, split=VAL)
    assert on_val.split == VAL and "(val split)" in on_val.markdown and not on_val.comparison.empty
    with pytest.raises(ReportError, match="report.split='train'"):
        write_report(store["uri"], "solo", tmp_path / "x", split=TRAIN)


def test_study_without_validation_yet(store, tmp_path: Path) -> None:
    result = write_report(store["uri"], "early", tmp_path / "early", log_to_parent=False)
    assert "nothing to compare" in result.markdown
    assert "base-s0" in result.markdown.split("## Missing / failed", 1)[1]
    assert "base, seed 1: no run" in result.markdown
    assert {p.name for p in result.files} == {*TABLES, "report.html"} and result.best is None


def test_search_report(store, tmp_path: Path) -> None:
    result = write_report(store["uri"], "wsearch", tmp_path / "wsearch", log_to_parent=False)
    names = {p.name for p in result.files}
    assert {"search_history.png", "search_importance.png", "search_parallel.png"} <= names
    md = _md_table(result.markdown, "## Results")
    assert md[0][:4] == ["trial", "w_rgrad", "w_ssi", "w_silog"]
    # Trials in order of the validation objective (the test split selects nothing), labelled one trial.
    objective = [float(r[md[0].index(f"objective ({metric_key(VAL, 'abs_rel')})")]) for r in md[1:]]
    assert len(md) - 1 == 5 and objective == sorted(objective)
    assert "trial-5" in result.markdown.split("## Missing / failed", 1)[1]
    assert "one trial, not a tested difference" in result.verdict
    best = md[1][0]
    assert result.best == best and result.summary_tags[study_tag("best_trial")].startswith(
        f"{best} (best single"
    )
    assert _shown(md[1][1], float(result.summary_tags[study_tag(f"best_trial.{weight_param('rgrad')}")]), 3)
    assert result.summary_metrics[best_trial_key("abs_rel")] == pytest.approx(
        float(_csv_rows(tmp_path / "wsearch" / "table.csv")[best]["abs_rel_mean"])
    )


def test_importances_need_two_trials() -> None:
    one = pd.DataFrame({"trial": [0], "objective": [0.2], "ssi": [0.5], "rgrad": [0.1]})
    assert importances(one, ["ssi", "rgrad"], lower_is_better=True) == {}
    two = pd.DataFrame({"trial": [0, 1], "objective": [0.2, 0.1], "ssi": [0.5, 0.5], "rgrad": [0.1, 0.9]})
    assert set(importances(two, ["ssi", "rgrad"], lower_is_better=True)) == {"rgrad"}  # ssi did not vary


def test_unknown_study_names_store_and_studies(store) -> None:
    with pytest.raises(ReportError) as error:
        write_report(store["uri"], "nope", Path("/nonexistent"))
    message = str(error.value)
    assert "'nope'" in message and store["uri"] in message
    assert "Studies it holds: g2/early, g2/solo, g2/toy, g2/wsearch" in message


def test_empty_study_is_an_error(store) -> None:
    """A parent run without children; its experiment is not named g2/* so the listing above stays put."""
    client = store["client"]
    exp_id = client.create_experiment("lab/empty", artifact_location=(store["tmp"] / "a-empty").as_uri())
    client.create_run(exp_id, tags={TAG_ROLE: ROLE_PARENT, TAG_STUDY: "empty"})
    with pytest.raises(ReportError, match="no trial runs") as error:
        write_report(store["uri"], "empty", Path("/nonexistent"), experiment_name="lab/empty")
    assert "'lab/empty'" in str(error.value) and "Studies it holds: g2/early" in str(error.value)


def test_redact_uri() -> None:
    """The store URI as the report's README and errors print it (config's one redactor)."""

    def redact_uri(uri: str) -> str:
        return redact("uri", uri)

    assert (
        redact_uri("postgresql+psycopg://g2:s3cret@db:5432/mlflow")
        == "postgresql+psycopg://g2:***@db:5432/mlflow"
    )
    assert redact_uri("http://u:p@host:5000/?token=tok&x=1") == "http://u:***@host:5000/?token=***&x=1"
    assert redact_uri("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
