"""The report's and the trainer's figures: the sample grid shows predictions as the metrics see them, with a
shared error scale; metrics.png draws each seed and the tables' CIs; every figure has its SVG; a search gets
Optuna's own figures from a study rebuilt out of MLflow alone.

Studies are logged into a fresh sqlite MLflow store under tmp_path, per the contract the trainer follows.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from g2core.metrics import DepthMetrics
from g2core.metrics.align import align_prediction
from g2core.metrics.per_image import per_image_rows
from g2core.names import (
    ALIGN_MODES,
    ALIGN_PARAM,
    ALL_METRIC_KEYS,
    BEST,
    EIGEN_CROP_PARAM,
    IMAGE_COLUMN,
    MAX_DEPTH_PARAM,
    MIN_DEPTH_PARAM,
    ROLE_CHILD,
    ROLE_PARENT,
    SAMPLES_DIR,
    TAG_PARENT_RUN_ID,
    TAG_ROLE,
    TAG_SEED,
    TAG_STUDY,
    TAG_TRIAL,
    TAG_VARIANT,
    TEST,
    VAL,
    metric_key,
    per_image_artifact,
    study_experiment,
    study_tag,
    weight_param,
)
from g2core.report import write_report
from g2core.report.collect import load_study
from g2core.report.columns import choose_columns, value_columns
from g2core.report.figures import metric_points
from g2core.report.samples import load_samples
from g2core.report.search_figures import rebuild_study, trial_frame
from g2core.report.summary import report_summary  # a search ranks its trials
from g2core.report.values import OBJECTIVE, run_values, select_runs
from g2core.sample_grid import ERROR_CMAP, Evaluation, build_grid, draw_grid, new_figure
from g2core.train.evaluate import draw_samples

K, SIZE, N_IMAGES = 2, 16, 12
ABS_REL = list(ALL_METRIC_KEYS).index("abs_rel")


def _frames() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rgb, ground truth with holes (0), and an ssi-like prediction: right up to scale and shift in
    disparity, wrong in depth by a lot (what a relative-depth network outputs)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (K, 3, SIZE, SIZE), dtype=np.uint8)
    depth = rng.uniform(1.0, 6.0, (K, SIZE, SIZE)).astype(np.float32)
    depth[:, :2, :3] = 0.0
    disparity = 1 / np.where(depth > 0, depth, 1.0)
    pred = (1 / (3.0 * disparity + 0.4) * (1 + 0.05 * rng.normal(size=depth.shape))).astype(np.float32)
    return rgb, depth, pred


@pytest.mark.parametrize("mode", ALIGN_MODES)
def test_grid_shows_the_prediction_the_metrics_score(mode: str) -> None:
    rgb, depth, pred = _frames()
    evaluation = Evaluation(mode, 1e-3, 10.0, eigen_crop=True)
    grid = build_grid(rgb, depth, [("v", pred, evaluation)], K)
    gt, raw = torch.from_numpy(depth)[:, None], torch.from_numpy(pred)[:, None]
    aligned, _ = align_prediction(raw, gt, _metric_valid(gt, True), mode, 1e-3, 10.0)
    rows = per_image_rows(aligned, gt, gt > 0, min_depth=1e-3, max_depth=10.0, eigen_crop=True)
    np.testing.assert_array_equal(grid.aligned[0], aligned[:, 0].clamp(1e-3, 10.0).numpy())
    # Each error panel's mean over its coloured pixels is that image's abs_rel as the metrics compute it.
    np.testing.assert_allclose(np.nanmean(grid.error[0], axis=(1, 2)), rows[:, ABS_REL], rtol=1e-5)
    assert np.isnan(grid.error[0][:, :2, :3]).all()  # no ground truth: not coloured
    if mode == "scale_shift_disparity":  # the fit undoes the wrong scale: far closer than the raw prediction
        assert np.nanmean(grid.error[0]) < 0.5 * np.nanmean(
            np.abs(pred - depth) / np.where(depth > 0, depth, np.nan)
        )


def _metric_valid(gt: torch.Tensor, eigen_crop: bool) -> torch.Tensor:
    """The pixels DepthMetrics counts (mask = gt > 0, as the trainer saves depth * mask)."""
    return DepthMetrics(1e-3, 10.0, eigen_crop=eigen_crop, edges=False).valid_pixels(gt, gt > 0)


def test_error_row_has_one_scale_and_a_colourbar(tmp_path: Path) -> None:
    rgb, depth, pred = _frames()
    predictions = [("good", depth + 0.05, Evaluation()), ("bad", pred, Evaluation())]
    grid = build_grid(rgb, depth, predictions, K)
    fig = new_figure(8, 8, layout="constrained")
    draw_grid(fig, grid)
    error_images = [
        im for ax in fig.axes for im in ax.get_images() if im.get_cmap().name.startswith(ERROR_CMAP)
    ]
    assert len(error_images) == K * len(predictions)
    assert {im.get_clim() for im in error_images} == {(0.0, grid.error_max)}
    # One colourbar per scale: the depth one and the error one (the axes without images).
    labels = [ax.get_xlabel() + ax.get_ylabel() for ax in fig.axes if not ax.get_images()]
    assert sum("|pred − gt| / gt" in label for label in labels) == 1
    assert sum("depth [m]" in label for label in labels) == 1
    # The trainer's per-run grid is the same drawing.
    png = draw_samples(
        {"rgb": rgb, "depth": depth, "pred": pred}, Evaluation("median"), tmp_path / "e.png", "t"
    )
    assert png.stat().st_size > 0


# ------------------------------------------------------------------ reports from a real MLflow store


def _parent(client: MlflowClient, tmp: Path, study: str, kind: str, variants: list[str]) -> tuple[str, str]:
    exp = client.create_experiment(study_experiment(study), artifact_location=(tmp / study).as_uri())
    tags = {TAG_ROLE: ROLE_PARENT, TAG_STUDY: study, study_tag("kind"): kind,
            study_tag("metric"): metric_key(VAL, "abs_rel"), study_tag("direction"): "minimize",
            study_tag("baseline"): variants[0] if kind == "ablation" else "",
            study_tag("variants"): ",".join(variants), study_tag("seeds"): "0,1,2"}  # fmt: skip
    return exp, client.create_run(exp, tags=tags, run_name=study).info.run_id


def _child(client: MlflowClient, exp: str, parent: str, study: str, variant: str, seed: int, trial: int,
           level: float, tmp: Path, weights: dict[str, float]) -> str:  # fmt: skip
    """A finished run with what the report reads: params, best/*, test/* with its per-image table, samples."""
    tags = {TAG_PARENT_RUN_ID: parent, TAG_ROLE: ROLE_CHILD, TAG_STUDY: study, TAG_VARIANT: variant,
            TAG_SEED: str(seed), TAG_TRIAL: str(trial)}  # fmt: skip
    run_id = client.create_run(exp, tags=tags, run_name=f"{variant}-s{seed}-t{trial}").info.run_id
    rng = np.random.default_rng(seed * 100 + trial)
    table = pd.DataFrame({IMAGE_COLUMN: np.arange(N_IMAGES)})
    for m in ALL_METRIC_KEYS:
        table[m] = level * np.linspace(0.8, 1.2, N_IMAGES) * (1 + 0.02 * rng.normal(size=N_IMAGES))
    folder = tmp / run_id
    folder.mkdir(parents=True)
    table.to_csv(folder / Path(per_image_artifact(TEST)).name, index=False)
    client.log_artifact(
        run_id, str(folder / Path(per_image_artifact(TEST)).name), str(Path(per_image_artifact(TEST)).parent)
    )
    rgb, depth, pred = _frames()
    np.savez(folder / "best_predictions.npz", rgb=rgb, depth=depth, pred=pred * (1 + level))
    client.log_artifact(run_id, str(folder / "best_predictions.npz"), SAMPLES_DIR)
    metrics = [Metric(metric_key(TEST, m), float(table[m].mean()), 0, 1) for m in ALL_METRIC_KEYS]
    metrics += [Metric(metric_key(BEST, m), float(table[m].mean()), 0, 1) for m in ALL_METRIC_KEYS]
    metrics.append(Metric(metric_key(VAL, "abs_rel"), float(table["abs_rel"].mean()), 0, 1))
    params = [Param(ALIGN_PARAM, "scale_shift_disparity"), Param(MIN_DEPTH_PARAM, "0.001"),
              Param(MAX_DEPTH_PARAM, "10.0"), Param(EIGEN_CROP_PARAM, "True")]  # fmt: skip
    params += [Param(weight_param(t), str(w)) for t, w in weights.items()]
    client.log_batch(run_id, metrics=metrics, params=params)
    client.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.fixture(scope="module")
def ablation(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("figures")
    uri = f"sqlite:///{tmp}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    exp, parent = _parent(client, tmp, "figs", "ablation", ["base", "better"])
    for variant, level in (("base", 0.2), ("better", 0.15)):
        for seed in (0, 1, 2):
            _child(client, exp, parent, "figs", variant, seed, seed, level, tmp / "files", {"ssi": 1.0})
    result = write_report(uri, "figs", tmp / "report", log_to_parent=False)
    return result, tmp / "report", client, uri


def test_every_figure_has_its_svg(ablation) -> None:
    result, out, _, _ = ablation
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"metrics.png", "qualitative.png"} <= set(pngs)
    for png in pngs:
        svg = out / png.replace(".png", ".svg")
        assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()[:2000]
        assert f"[SVG]({svg.name})" in result.markdown and f"]({png})" in result.markdown
    assert {p.name for p in result.files} >= {*pngs, *(p.replace(".png", ".svg") for p in pngs)}


def _report_inputs(client: MlflowClient, uri: str, study: str):
    """The per-run values, columns and summary the report drew its figures from."""
    info, children = load_study(client, uri, study, study_experiment(study))
    values, _ = run_values(client, info, select_runs(info, children), TEST)
    columns = choose_columns(info, values, value_columns(info))
    return columns, report_summary(info, values, columns)


def test_metric_figure_draws_seeds_and_the_tables_ci(ablation) -> None:
    result, _, client, uri = ablation
    _, summary = _report_inputs(client, uri, "figs")
    points, base = metric_points(summary, result.comparison, "abs_rel", ["base", "better"], "base")
    assert [len(p.values) for p in points] == [3, 3] and points[0].ci is None
    assert base == pytest.approx(summary.mean.loc["base", "abs_rel"])
    table = result.comparison
    row = table[(table["variant"] == "better") & (table["metric"] == "abs_rel")].iloc[0]
    assert points[1].ci == pytest.approx((base + row["ci_low"], base + row["ci_high"]))
    assert points[1].mark == row["mark"] == "▲"


def test_report_grid_aligns_each_run_by_its_params(ablation) -> None:
    _, _, client, _ = ablation
    runs = client.search_runs([client.get_experiment_by_name(study_experiment("figs")).experiment_id])
    frame = pd.DataFrame(
        [{"run_id": r.info.run_id, "group": r.data.tags[TAG_VARIANT], "seed": int(r.data.tags[TAG_SEED])}
         for r in runs if r.data.tags.get(TAG_ROLE) == ROLE_CHILD]
    )  # fmt: skip
    samples, notes = load_samples(client, frame, ["base", "better"], [0, 1, 2])
    assert not notes and [s.label for s in samples] == ["base s0", "better s0"]
    assert samples[0].evaluation == Evaluation("scale_shift_disparity", 1e-3, 10.0, True)
    grid = build_grid(samples[0].rgb, samples[0].depth, [(s.label, s.pred, s.evaluation) for s in samples], K)
    gt = torch.from_numpy(samples[1].depth)[:, None]
    expected, _ = align_prediction(
        torch.from_numpy(samples[1].pred)[:, None],
        gt,
        _metric_valid(gt, True),
        "scale_shift_disparity",
        1e-3,
        10.0,
    )
    np.testing.assert_array_equal(grid.aligned[1], expected[:, 0].clamp(1e-3, 10.0).numpy())


def test_search_gets_optunas_figures(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    exp, parent = _parent(client, tmp_path, "wfig", "search", ["g"])
    rng = np.random.default_rng(3)
    for trial in (0, 1, 3, 4):  # trial 2 was pruned: no finished run
        weights = {"ssi": float(rng.uniform(0.1, 1)), "rgrad": float(rng.uniform(0, 1))}
        _child(
            client, exp, parent, "wfig", "g", 0, trial, 0.1 + 0.1 * weights["rgrad"], tmp_path / "f", weights
        )
    before = dict(matplotlib.rcParams)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = write_report(uri, "wfig", tmp_path / "report", log_to_parent=False)
    assert not [w for w in caught if issubclass(w.category, optuna.exceptions.ExperimentalWarning)]
    assert dict(matplotlib.rcParams) == before  # Optuna's plt.style.use("ggplot") does not leak
    names = {p.name for p in result.files}
    for stem in ("search_history", "search_importance", "search_parallel", "search_slice"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names, stem
    # The rebuilt study keeps the search's own trial numbers; the pruned one is a FAIL placeholder.
    columns, summary = _report_inputs(client, uri, "wfig")
    trials = trial_frame(summary, OBJECTIVE, columns.weights)
    study = rebuild_study(trials, columns.weights, lower_is_better=True)
    states = {t.number: t.state for t in study.trials}
    assert states[2] == optuna.trial.TrialState.FAIL and len(states) == 5
    assert study.best_trial.number == int(trials.loc[trials["objective"].idxmin(), "trial"])
    assert set(study.best_trial.params) == {weight_param("ssi"), weight_param("rgrad")}
