"""g2core.report against small studies logged into a fresh sqlite MLflow store, exactly per the contract
the trainer and the study engine follow (DESIGN: MLflow names; issue 5).

Expected numbers are recomputed here from what MLflow gives back, never from the generator's constants.
"""

from __future__ import annotations

import csv
import io
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
    ALL_METRIC_KEYS,
    BEST,
    LOSS,
    LOSS_TERMS,
    LR_KEY,
    ROLE_CHILD,
    ROLE_PARENT,
    TAG_CONFIG_HASH,
    TAG_FAILURE,
    TAG_GIT_COMMIT,
    TAG_PARENT_RUN_ID,
    TAG_ROLE,
    TAG_SEED,
    TAG_STUDY,
    TAG_TRIAL,
    TAG_VARIANT,
    TRAIN,
    VAL,
    VAL_EPOCH_KEY,
    metric_key,
    study_experiment,
    study_tag,
    term_key,
    weight_param,
)
from g2core.report import ReportError, write_report
from g2core.report.search_figures import importances

METRICS = list(ALL_METRIC_KEYS)  # the order the generator draws them in
TABLE_METRICS = [
    "abs_rel", "sq_rel", "rmse", "rmse_log", "silog", "delta1", "delta2", "delta3",
    "edge_rmse", "edge_abs_rel", "dbe_acc", "dbe_comp",
]  # fmt: skip
HIGHER = {"delta1", "delta2", "delta3"}
STEPS_PER_EPOCH, EPOCHS, K, SIZE = 5, 4, 3, 16
TABLES = ["README.md", "table.csv", "table.tex", "table.html"]

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


def _log_child(
    client: MlflowClient, exp_id: str, parent_id: str, study: str, variant: str, seed: int, trial: int,
    terms: tuple[str, ...], level: float, rng: np.random.Generator, tmp: Path, *,
    status: str = "FINISHED", epochs: int = EPOCHS, failure: str = "", name: str | None = None,
    weights: dict[str, float] | None = None,
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

    # One seed, and grad_b still running after two validations (no best/* yet).
    exp_solo, parent_solo = _log_parent(
        client, "solo", "ablation", list(ABLATION), [0], "base", tmp, "running"
    )
    for i, variant in enumerate(ABLATION):
        terms, level = ABLATION[variant]
        running = variant == "grad_b"
        _log_child(client, exp_solo, parent_solo, "solo", variant, 0, i, terms, level, rng, files,
                   status="RUNNING" if running else "FINISHED", epochs=2 if running else EPOCHS)  # fmt: skip

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


# ------------------------------------------------------------------ expectations, from MLflow


def _history(client: MlflowClient, run_id: str, key: str) -> dict[int, float]:
    return {m.step: m.value for m in client.get_metric_history(run_id, key)}


def _expected_values(client: MlflowClient, exp_id: str, parent: str) -> dict[str, dict[str, list[float]]]:
    """Per variant and metric, the values the table must aggregate: best/* of finished runs; for the run
    without best/* (failed after validating) its val history at the step where val/abs_rel was best."""
    runs = client.search_runs([exp_id], filter_string=f"tags.`{TAG_PARENT_RUN_ID}` = '{parent}'")
    out: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        variant, metrics = run.data.tags[TAG_VARIANT], run.data.metrics
        if metric_key(BEST, "abs_rel") in metrics:
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
    expected = {*TABLES, "metrics.png", "train_curves.png", "val_curves.png", "qualitative.png"}
    assert expected <= names
    assert all((out / n).stat().st_size > 0 for n in names)
    assert not any(n.startswith("search_") for n in names)
    assert result.markdown == (out / "README.md").read_text()
    assert result.best == "grad_a"


def test_table_cells_match_child_runs(toy, store) -> None:
    result, out = toy
    expected = _expected_values(store["client"], store["exp_id"], store["parent"])
    rows = _csv_rows(out / "table.csv")
    md = _md_table(result.markdown, "## Results")
    header = md[0]
    md_rows = {r[0]: dict(zip(header, r, strict=True)) for r in md[1:]}
    for variant, per_metric in expected.items():
        assert int(rows[variant]["n"]) == len(per_metric["abs_rel"])
        for m in TABLE_METRICS:
            values = np.array(per_metric[m])
            assert float(rows[variant][f"{m}_mean"]) == pytest.approx(values.mean(), rel=1e-6)
            assert float(rows[variant][f"{m}_std"]) == pytest.approx(values.std(ddof=1), rel=1e-6)
            arrow = "↑" if m in HIGHER else "↓"
            cell = md_rows[variant][f"{m} {arrow}"].strip("*")
            mean_text, std_text = cell.split(" ± ")
            assert _shown(mean_text, values.mean(), digits=4)
            assert _shown(std_text, values.std(ddof=1), digits=2)
    assert rows["grad_a"]["n_partial"] == "1" and "3 (1 partial)" in md_rows["grad_a"]["n"]
    # The missing pair leaves grad_b with two runs; loss terms a variant does not use stay blank.
    assert rows["grad_b"]["n"] == "2"
    assert md_rows["base"]["loss_rgrad ↓"] == "" and md_rows["grad_a"]["loss_rgrad ↓"] != ""


def test_bold_is_best_per_direction(toy, store) -> None:
    result, _ = toy
    expected = _expected_values(store["client"], store["exp_id"], store["parent"])
    md = _md_table(result.markdown, "## Results")
    header = md[0]
    for m in TABLE_METRICS:
        col = header.index(f"{m} {'↑' if m in HIGHER else '↓'}")
        means = {v: np.mean(x[m]) for v, x in expected.items()}
        best = max(means, key=means.get) if m in HIGHER else min(means, key=means.get)
        bold = [r[0] for r in md[1:] if r[col].startswith("**")]
        assert bold == [best], m
    assert "\\textbf{" in (toy[1] / "table.tex").read_text()
    assert "<b>" in (toy[1] / "table.html").read_text()


def test_delta_and_welch_match_scipy(toy, store) -> None:
    result, out = toy
    expected = _expected_values(store["client"], store["exp_id"], store["parent"])
    rows = _csv_rows(out / "table.csv")
    base = expected["base"]
    for variant in ("grad_a", "grad_b"):
        for m in ("abs_rel", "delta1", "edge_rmse"):
            a, b = np.array(expected[variant][m]), np.array(base[m])
            delta = (a.mean() - b.mean()) / abs(b.mean()) * 100
            p = stats.ttest_ind(a, b, equal_var=False).pvalue
            assert float(rows[variant][f"{m}_delta_pct"]) == pytest.approx(delta, rel=1e-6)
            assert float(rows[variant][f"{m}_p_welch"]) == pytest.approx(p, rel=1e-6)
    # The verdict names the best variant, the test and the n; the baseline table carries the markers.
    a, b = np.array(expected["grad_a"]["abs_rel"]), np.array(base["abs_rel"])
    p = stats.ttest_ind(a, b, equal_var=False).pvalue
    verdict = result.markdown.split("## Verdict", 1)[1].split("##", 1)[0]
    assert "**grad_a**" in verdict and "Welch" in verdict and "over 3 vs 3 seeds" in verdict
    abs_rel_part = verdict.split("abs_rel: ", 1)[1].split(";", 1)[0]
    assert f"Δ {(a.mean() - b.mean()) / b.mean() * 100:+.1f}%" in abs_rel_part
    assert ("not significant" in abs_rel_part) == (p >= 0.05)
    table = _md_table(result.markdown, "## Against the baseline")
    row = next(r for r in table[1:] if r[0] == "abs_rel ↓")
    cell = row[table[0].index("grad_a (n=3)")]
    marker = "**" if p < 0.01 else "*" if p < 0.05 else ""
    assert cell.endswith(f") {marker}" if marker else ")")
    assert re.match(r"^-\d+\.\d%", cell), cell  # grad_a lowers abs_rel


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
    result = write_report(store["uri"], "solo", tmp_path / "solo", log_to_parent=False, figures=False)
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


def test_study_without_validation_yet(store, tmp_path: Path) -> None:
    result = write_report(store["uri"], "early", tmp_path / "early", log_to_parent=False)
    assert "nothing to compare" in result.markdown
    assert "base-s0" in result.markdown.split("## Missing / failed", 1)[1]
    assert "base, seed 1: no run" in result.markdown
    assert {p.name for p in result.files} == set(TABLES) and result.best is None


def test_search_report(store, tmp_path: Path) -> None:
    result = write_report(store["uri"], "wsearch", tmp_path / "wsearch", log_to_parent=False)
    names = {p.name for p in result.files}
    assert {"search_history.png", "search_importance.png", "search_parallel.png"} <= names
    md = _md_table(result.markdown, "## Results")
    assert md[0][:4] == ["trial", "w_rgrad", "w_ssi", "w_silog"]
    objective = [float(r[md[0].index("abs_rel ↓")].strip("*")) for r in md[1:]]
    assert len(md) - 1 == 5 and objective == sorted(objective)  # finished trials, best first
    assert "trial-5" in result.markdown.split("## Missing / failed", 1)[1]


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
