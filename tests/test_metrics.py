"""DepthMetrics against the reference vectors, and the behaviour of its masks, edges and state."""

from __future__ import annotations

import importlib.util
import json
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage import feature

from g2core.metrics import (
    EDGE_METRIC_KEYS,
    LOWER_IS_BETTER,
    METRIC_KEYS,
    DepthMetrics,
    eigen_crop_mask,
)
from g2core.metrics.edges import boundary_errors, depth_boundary_errors, ground_truth_edges, prediction_edges
from tests.conftest import REFERENCE


def _load_cases():
    spec = importlib.util.spec_from_file_location("reference_cases", REFERENCE / "cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


CASES = _load_cases()
VECTORS = json.loads((REFERENCE / "loss_vectors.json").read_text())["cases"]
NO_RANGE = {"min_depth": 0.0, "max_depth": math.inf, "clamp": False, "edges": False}


def _compute(*batches, **kwargs) -> dict[str, float]:
    metric = DepthMetrics(**kwargs)
    for batch in batches:
        metric.update(*batch)
    return {key: value.item() for key, value in metric.compute().items()}


def _scene(batch: int = 2, height: int = 48, width: int = 64, seed: int = 0):
    """A wall at 4 m with a box at 2 m (sharp depth edges): (gt with a few holes, mask, noise, scene)."""
    generator = torch.Generator().manual_seed(seed)
    scene = torch.full((batch, 1, height, width), 4.0)
    scene[:, :, height // 4 : 3 * height // 4, width // 4 : width // 2] = 2.0
    scene = scene + 0.1 * torch.linspace(0, 1, width)  # a gentle slope: no edge of its own
    holes = torch.rand(batch, 1, height, width, generator=generator) < 0.02
    gt = torch.where(holes, 0.0, scene)
    noise = torch.exp(0.05 * torch.randn(batch, 1, height, width, generator=generator))
    return gt, gt > 0, noise, scene


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_metrics(case, dtype):
    pred, gt, mask = CASES[case]()
    values = _compute((pred.to(dtype), gt.to(dtype), mask), **NO_RANGE)
    assert set(values) == set(METRIC_KEYS)
    for key, expected in VECTORS[case]["metrics"].items():
        # the reference's deltas were counted in float32; float64 agrees to ~1e-8
        assert values[key] == pytest.approx(expected, rel=1e-6), key


def test_perfect_prediction():
    gt, mask, _, scene = _scene()
    values = _compute((scene, gt, mask))  # the dense scene: what a perfect network predicts
    assert set(values) == set(METRIC_KEYS + EDGE_METRIC_KEYS)
    for key, value in values.items():
        if not key.startswith("dbe"):  # DBE with holes: test_dbe_judges_the_whole_prediction
            assert value == (1.0 if key.startswith("delta") else 0.0), key
    for key, value in _compute((scene.clone(), scene, None)).items():
        assert value == (1.0 if key.startswith("delta") else 0.0), key


def test_per_image_averaging():
    pred_a, gt_a, mask_a = CASES["A"]()
    pred_b, gt_b, mask_b = CASES["B"]()
    batched = _compute((torch.cat([pred_a, pred_b]), torch.cat([gt_a, gt_b]), torch.cat([mask_a, mask_b])))
    separate = _compute((pred_a, gt_a, mask_a), (pred_b, gt_b, mask_b))
    singles = [_compute((pred_a[i : i + 1], gt_a[i : i + 1], mask_a[i : i + 1])) for i in range(2)]
    singles += [_compute((pred_b[i : i + 1], gt_b[i : i + 1], mask_b[i : i + 1])) for i in range(2)]
    for key in METRIC_KEYS + EDGE_METRIC_KEYS:
        assert batched[key] == pytest.approx(separate[key], rel=1e-6), key
    for key in METRIC_KEYS:  # every image has valid pixels, so every image counts once
        assert batched[key] == pytest.approx(sum(s[key] for s in singles) / 4, rel=1e-6), key


def test_images_without_valid_pixels_are_skipped():
    pred, gt, mask = CASES["B"]()
    alone = _compute((pred[:1], gt[:1], mask[:1]), edges=False)
    with_empty = _compute((pred, gt, torch.cat([mask[:1], torch.zeros_like(mask[:1])])), edges=False)
    assert with_empty == pytest.approx(alone, rel=1e-9)


def test_depth_range_filter():
    pred, gt, mask = CASES["A"]()
    far = gt > 8.0
    wild = torch.where(far, torch.full_like(pred, 1e3), pred)  # errors only on out-of-range gt
    filtered = _compute((wild, gt, mask), min_depth=1e-3, max_depth=8.0, clamp=False, edges=False)
    masked = _compute((pred, gt, mask & ~far), **NO_RANGE)
    assert filtered == pytest.approx(masked, rel=1e-9)
    near = gt < 1.0
    filtered = _compute((pred, gt, mask), min_depth=1.0, max_depth=math.inf, clamp=False, edges=False)
    assert filtered == pytest.approx(_compute((pred, gt, mask & ~near), **NO_RANGE), rel=1e-9)


def test_prediction_clamped_to_range():
    _, gt, mask = CASES["B"]()
    pred = gt.clone()
    pred[:, :, :8] = 50.0  # beyond max_depth: clamped to 10
    pred[:, :, -8:] = -1.0  # negative: clamped to min_depth
    clamped = _compute((pred, gt, mask), edges=False)
    by_hand = _compute((pred.clamp(1e-3, 10.0), gt, mask), **NO_RANGE)
    assert clamped == pytest.approx(by_hand, rel=1e-9)
    assert math.isfinite(clamped["rmse_log"])
    unclamped = _compute((pred, gt, mask), clamp=False, edges=False)
    assert unclamped["rmse"] > clamped["rmse"]


def test_eigen_crop_keeps_only_that_window():
    crop = eigen_crop_mask(480, 640)
    rows, cols = crop.any(1).nonzero().flatten(), crop.any(0).nonzero().flatten()
    assert (rows.min().item(), rows.max().item() + 1) == (45, 471)
    assert (cols.min().item(), cols.max().item() + 1) == (41, 601)
    assert crop.sum().item() == (471 - 45) * (601 - 41)
    # scaled proportionally to another frame size
    small = eigen_crop_mask(240, 320)
    assert small.sum().item() == (236 - 22) * (300 - 20)

    _, gt, mask = CASES["B"]()
    gt = F.interpolate(gt, size=(96, 128))
    mask = gt > 0.2
    pred = gt * 1.1
    pred[~eigen_crop_mask(96, 128).expand_as(pred)] = 100.0  # errors only outside the crop
    cropped = _compute((pred, gt, mask), eigen_crop=True, edges=False)
    by_hand = _compute((pred, gt, mask & eigen_crop_mask(96, 128)), edges=False)
    assert cropped == pytest.approx(by_hand, rel=1e-9)
    assert cropped["abs_rel"] == pytest.approx(0.1, rel=1e-5)


def test_edge_metrics_see_a_blurred_edge():
    gt, mask, noise, scene = _scene()
    sharp = scene * noise
    blurred = F.avg_pool2d(scene, 7, stride=1, padding=3, count_include_pad=False) * noise
    sharp_values = _compute((sharp, gt, mask))
    blurred_values = _compute((blurred, gt, mask))
    assert blurred_values["edge_rmse"] > 2 * sharp_values["edge_rmse"]
    assert blurred_values["edge_abs_rel"] > 2 * sharp_values["edge_abs_rel"]
    # the band concentrates the error: it grows more there than over the whole image
    edge_gain = blurred_values["edge_rmse"] / sharp_values["edge_rmse"]
    assert edge_gain > blurred_values["rmse"] / sharp_values["rmse"]


def test_dbe_sees_a_displaced_edge():
    gt, mask, _, scene = _scene(batch=1)
    shifted = torch.roll(scene, shifts=4, dims=-1)  # the box 4 px to the right
    values = _compute((shifted, gt, mask))
    # the box's vertical sides lie 4 px off; its horizontal sides mostly still overlap
    assert 1.0 < values["dbe_acc"] < 4.0
    assert 1.0 < values["dbe_comp"] < 4.0
    assert values["dbe_acc"] > _compute((scene, gt, mask))["dbe_acc"] + 1.0
    flat = torch.full_like(gt, 3.0)  # no predicted edge at all: iBims-1 assigns the 10 px cap
    flat_values = _compute((flat, gt, mask))
    assert flat_values["dbe_acc"] == flat_values["dbe_comp"] == 10.0


def test_dbe_judges_the_whole_prediction():
    gt, mask, noise, scene = _scene(seed=5)
    hole_free = _compute((scene.clone(), scene, None))
    assert hole_free["dbe_acc"] == hole_free["dbe_comp"] == 0.0
    # Ground-truth edges come from the hole-filled ground truth: Canny's one-pixel choice
    # on a step moves with the filled values, a fraction of a pixel on average.
    dense = _compute((scene, gt, mask))
    assert 0.0 < dense["dbe_acc"] < 0.5 and 0.0 < dense["dbe_comp"] < 0.5
    # As in iBims-1's script, Canny reads the whole prediction: values made up in the
    # holes make edges of their own.
    made_up = _compute((torch.where(mask, gt, 7.0 * noise), gt, mask))
    assert made_up["dbe_acc"] > dense["dbe_acc"] + 0.5
    assert made_up["dbe_comp"] > dense["dbe_comp"] + 0.5


def test_edge_metrics_skip_images_without_edges():
    flat = torch.full((2, 1, 32, 32), 3.0)
    values = _compute((flat * 1.1, flat, None))
    assert values["abs_rel"] == pytest.approx(0.1, rel=1e-6)
    for key in EDGE_METRIC_KEYS:
        assert math.isnan(values[key]), key  # no image had an edge: undefined, not perfect


def test_ddp_style_merge_equals_one_metric():
    pred_a, gt_a, mask_a = CASES["A"]()
    gt_b, mask_b, noise, scene = _scene(seed=2)
    pred_b = scene * noise
    single = DepthMetrics()
    single.update(pred_a, gt_a, mask_a)
    single.update(pred_b, gt_b, mask_b)
    rank0, rank1 = DepthMetrics(), DepthMetrics()
    rank0.update(pred_a, gt_a, mask_a)
    rank1.update(pred_b, gt_b, mask_b)
    # what a DDP sync does with dist_reduce_fx="sum": add the ranks' states
    summed = DepthMetrics()
    for name in summed._defaults:
        setattr(summed, name, getattr(rank0, name) + getattr(rank1, name))
    rank0.merge_state(rank1)
    expected = single.compute()
    with warnings.catch_warnings():
        # `summed` got its state by hand, never through update(), which torchmetrics warns about
        warnings.simplefilter("ignore", UserWarning)
        summed_values = summed.compute()
    for merged in (rank0.compute(), summed_values):
        for key, value in expected.items():
            assert merged[key].item() == pytest.approx(value.item(), rel=1e-12), key


def test_metric_directions_cover_every_key():
    assert set(LOWER_IS_BETTER) == set(METRIC_KEYS + EDGE_METRIC_KEYS)
    assert len(METRIC_KEYS) == 10 and len(EDGE_METRIC_KEYS) == 4
    assert [k for k, lower in LOWER_IS_BETTER.items() if not lower] == ["delta1", "delta2", "delta3"]


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"\[B,1,H,W\]"):
        DepthMetrics().update(torch.ones(2, 32, 32), torch.ones(2, 32, 32))


# --- iBims-1's published depth-boundary errors ---------------------------------------------
# compute_depth_boundary_error from Tobias Koch's iBims-1 evaluation script, vendored
# verbatim in xuefeng-cvr/BS-Net, evaluate_ibims_error_metrics.py, commit
# 019e1785c50144372be9659ad9d92401bcac4570 (its imports: `from skimage import feature`,
# `from scipy import ndimage`). Unchanged apart from formatting.


def _ibims_compute_depth_boundary_error(edges_gt, pred):
    # skip dbe if there is no ground truth distinct edge
    if np.sum(edges_gt) == 0:
        dbe_acc = np.nan
        dbe_com = np.nan
        edges_est = np.empty(pred.shape).astype(int)
    else:
        # normalize est depth map from 0 to 1
        pred_normalized = pred.copy().astype("f")
        pred_normalized[pred_normalized == 0] = np.nan
        pred_normalized = pred_normalized - np.nanmin(pred_normalized)
        pred_normalized = pred_normalized / np.nanmax(pred_normalized)

        # apply canny filter
        edges_est = feature.canny(pred_normalized, sigma=np.sqrt(2), low_threshold=0.15, high_threshold=0.3)

        # compute distance transform for chamfer metric
        D_gt = ndimage.distance_transform_edt(1 - edges_gt)
        D_est = ndimage.distance_transform_edt(1 - edges_est)

        max_dist_thr = 10.0  # Threshold for local neighborhood

        mask_D_gt = D_gt < max_dist_thr  # truncate distance transform map

        E_fin_est_filt = edges_est * mask_D_gt  # compute shortest distance for all predicted edges

        if np.sum(E_fin_est_filt) == 0:  # assign MAX value if no edges could be detected in prediction
            dbe_acc = max_dist_thr
            dbe_com = max_dist_thr
        else:
            # accuracy: directed chamfer distance of predicted edges towards gt edges
            dbe_acc = np.nansum(D_gt * E_fin_est_filt) / np.nansum(E_fin_est_filt)

            # completeness: sum of undirected chamfer distances of predicted and gt edges
            ch1 = D_gt * edges_est  # dist(predicted,gt)
            ch1[ch1 > max_dist_thr] = max_dist_thr  # truncate distances
            ch2 = D_est * edges_gt  # dist(gt, predicted)
            ch2[ch2 > max_dist_thr] = max_dist_thr  # truncate distances
            res = ch1 + ch2  # summed distances
            dbe_com = np.nansum(res) / (np.nansum(edges_est) + np.nansum(edges_gt))  # normalized

    return dbe_acc, dbe_com, edges_est


def _step_predictions(height: int, width: int, seed: int = 3):
    """The step-edge scene (box on a wall, 2% holes) and two noisy predictions: sharp and blurred."""
    gt, mask, noise, scene = _scene(batch=1, height=height, width=width, seed=seed)
    size = 2 * (width // 64) + 1  # 3 px at 48x64, 21 px at 480x640: a few px of smear either way
    blurred = F.avg_pool2d(scene, size, stride=1, padding=size // 2, count_include_pad=False)
    return gt, mask, {"sharp": scene * noise, "blurred": blurred * noise}


@pytest.mark.parametrize("kind", ["sharp", "blurred"])
@pytest.mark.parametrize("size", [(480, 640), (48, 64)])
def test_dbe_equals_the_published_script(size, kind):
    gt, mask, preds = _step_predictions(*size)
    pred, gt, valid = preds[kind][0, 0].numpy(), gt[0, 0].numpy(), mask[0, 0].numpy()
    edges_gt = ground_truth_edges(gt, valid)
    acc, comp, edges_est = _ibims_compute_depth_boundary_error(edges_gt, pred)
    assert 0.0 < acc < 10.0 and 0.0 < comp < 10.0  # edges found and matched: not the 10 px cap
    assert np.array_equal(prediction_edges(pred), edges_est)
    assert boundary_errors(edges_gt, pred) == pytest.approx((acc, comp), abs=1e-6)
    assert depth_boundary_errors(pred, gt, valid) == pytest.approx((acc, comp), abs=1e-6)
    # and through DepthMetrics (its depth range keeps every pixel of this scene)
    values = _compute((preds[kind], torch.from_numpy(gt)[None, None], torch.from_numpy(valid)[None, None]))
    assert (values["dbe_acc"], values["dbe_comp"]) == pytest.approx((acc, comp), abs=1e-6)


def test_dbe_follows_the_script_on_missing_and_degenerate_predictions():
    gt, mask, preds = _step_predictions(48, 64)
    gt, valid = gt[0, 0].numpy(), mask[0, 0].numpy()
    edges_gt = ground_truth_edges(gt, valid)
    pred = preds["blurred"][0, 0].double().numpy()  # float64 in: the script works in float32
    holes = np.random.default_rng(0).random(pred.shape) < 0.05
    with_zeros = np.where(holes, 0.0, pred)  # 0 is missing: NaN in the script, no edge there
    for candidate in (pred, with_zeros):
        expected = _ibims_compute_depth_boundary_error(edges_gt, candidate)[:2]
        assert boundary_errors(edges_gt, candidate) == pytest.approx(expected, abs=1e-6)
    for flat in (np.full_like(pred, 3.0), np.zeros_like(pred)):  # no edge: the 10 px cap
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the script's 0/0 and all-NaN min
            expected = _ibims_compute_depth_boundary_error(edges_gt, flat)[:2]
        assert boundary_errors(edges_gt, flat) == expected == (10.0, 10.0)
    assert boundary_errors(np.zeros_like(valid), pred) is None  # the script's NaN: not counted


def test_ground_truth_edges_skip_holes():
    gt, mask, _, scene = _scene(batch=1, seed=1)
    gt, valid, scene = gt[0, 0].numpy(), mask[0, 0].numpy(), scene[0, 0].numpy()
    # without holes they are the prediction's own edges, so the truth scores 0
    assert np.array_equal(ground_truth_edges(scene, np.ones_like(valid)), prediction_edges(scene))
    edges = ground_truth_edges(gt, valid)
    assert edges.any() and not (edges & ~valid).any()
    # an invalid patch in a sloping wall is no edge, whatever it holds (as it is, it would be)
    wall_valid = np.ones_like(valid)
    wall_valid[10:30, 20:40] = False
    wall = np.where(wall_valid, 4.0 + 0.5 * np.linspace(0.0, 1.0, 64), 9.0)
    assert prediction_edges(wall).any()
    assert not ground_truth_edges(wall, wall_valid).any()
