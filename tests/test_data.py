"""g2core.data: synthetic scenes and their cache, the h5 loader on real frames, the G2 sparse-input
simulation, per-sample determinism, and the errors a bad data folder gives."""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from g2core.data import (
    MODES,
    DataError,
    H5DepthDataset,
    build_datasets,
    ensure_synthetic_cache,
    find_h5_files,
    model_input,
    scenes,
    simulate_sparse,
    synthetic,
    transforms,
)
from g2core.data import h5 as h5_module
from tests.conftest import REAL_FRAMES, SHARED_REAL_FRAMES

# Real frames: the vendored sample always; the larger shared sample too when ../shared is there.
REAL_ROOTS = [REAL_FRAMES] + ([SHARED_REAL_FRAMES] if SHARED_REAL_FRAMES.is_dir() else [])
KEYS = {"rgb": (3, torch.float32), "depth": (1, torch.float32), "mask": (1, torch.bool),
        "sparse": (1, torch.float32), "sparse_mask": (1, torch.bool)}  # fmt: skip
AUGMENT = {"hflip": True, "color_jitter": 0.1, "noise": 0.01}


def synthetic_cfg(root: Path, **over) -> dict:
    cfg = {"name": "synthetic", "root": str(root), "n_train": 24, "n_val": 6, "n_test": 4, "height": 32, "width": 32,
           "scene_seed": 0, "min_depth": 1e-3, "max_depth": 10.0, "eigen_crop": False, "augment": AUGMENT}  # fmt: skip
    return {**cfg, **over}


@pytest.fixture(scope="module")
def default_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], float]:
    """The default synthetic sets (512 + 64 scenes at 64x64), generated once for the module, timed."""
    start = time.perf_counter()
    paths = ensure_synthetic_cache(tmp_path_factory.mktemp("synthetic"), 512, 64, 64, 64, 0)
    return paths, time.perf_counter() - start


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(path, "r") as f:
        return f["rgb"][()], f["depth"][()]


# --- synthetic scenes and their cache ------------------------------------------------------------


def test_default_generation_takes_seconds(default_cache) -> None:
    paths, seconds = default_cache
    print(f"default synthetic sets (512 + 64 at 64x64): {seconds:.2f} s")
    assert seconds < 30, f"generating the default sets took {seconds:.1f} s"
    rgb, depth = load(paths["train"])
    assert rgb.shape == (512, 3, 64, 64) and rgb.dtype == np.uint8
    assert depth.shape == (512, 64, 64) and depth.dtype == np.float32
    with h5py.File(paths["val"], "r") as f:
        assert f["rgb"].shape == (64, 3, 64, 64) and f["rgb"].chunks == (1, 3, 64, 64)
        assert f["depth"].chunks == (1, 64, 64)


def test_synthetic_is_deterministic_by_seed(tmp_path: Path) -> None:
    a = ensure_synthetic_cache(tmp_path / "a", 16, 4, 32, 48, seed=3)
    b = ensure_synthetic_cache(tmp_path / "b", 16, 4, 32, 48, seed=3)
    c = ensure_synthetic_cache(tmp_path / "c", 16, 4, 32, 48, seed=4)
    for split in ("train", "val"):
        assert a[split].read_bytes() == b[split].read_bytes(), "same seed must give the same bytes"
        assert not np.array_equal(load(a[split])[1], load(c[split])[1]), "another seed must give other scenes"
    # Train and validation scenes come from separate streams.
    assert not np.array_equal(load(a["train"])[1][:4], load(a["val"])[1])


def test_ray_cast_depth_is_exact_z_depth() -> None:
    """A hand-placed scene: a sphere straight ahead, a box to the right, walls at known distances."""
    scene = scenes.draw_scene(np.random.default_rng(0), 33, 33)
    scene.update(rot=np.eye(3), blobs=np.zeros((0, 4)), sensor_range=100.0)
    scene.update(lo=np.array([-2.0, -1.5, -1.0]), hi=np.array([2.0, 1.5, 6.0]))
    other = {"half": np.ones(3), "radius": 1.0, "yaw": 0.0, "y0": 0.0, "y1": 1.0}
    scene["objects"] = [
        {**other, "kind": 1, "center": np.array([0.0, 0.0, 3.0]), "radius": 1.0},
        {**other, "kind": 0, "center": np.array([1.5, 0.0, 2.0]), "half": np.array([0.2, 0.2, 0.5])},
    ]
    scene["materials"] = {key: value[:8] for key, value in scene["materials"].items()}
    scene["materials"]["glossy"][:] = False
    depth = scenes.render_batch([scene], 33, 33)[1][0]
    slope = 16 / scene["focal"]  # x/z (or y/z) of the rays through the outermost pixel centres
    assert depth[16, 16] == pytest.approx(2.0, rel=1e-6)  # sphere front
    assert depth[16, 0] == pytest.approx(2.0 / slope, rel=1e-6)  # left wall x = -2
    assert depth[0, 16] == pytest.approx(1.5 / slope, rel=1e-6)  # ceiling y = -1.5
    assert depth[16, 32] == pytest.approx(1.3 / slope, rel=1e-6)  # the box's face x = 1.3


def test_synthetic_depth_is_metric_with_sensor_holes(default_cache) -> None:
    _, depth = load(default_cache[0]["train"])
    assert np.isfinite(depth).all() and (depth >= 0).all()
    valid = depth > 0
    assert 0.3 < depth[valid].min() and depth[valid].max() < 15.0, "indoor depth in metres"
    hole_share = 1 - valid.mean()
    assert 0.001 < hole_share < 0.2, f"{hole_share:.3%} invalid pixels"
    assert (~valid).any(axis=(1, 2)).mean() > 0.5, "most frames have some holes"


def test_rgb_edges_follow_depth_edges(default_cache) -> None:
    rgb, depth = load(default_cache[0]["val"])
    grey = rgb.astype(np.float32).mean(axis=1)
    both_valid = (depth[:, :, 1:] > 0) & (depth[:, :, :-1] > 0)
    jump = np.abs(np.diff(depth, axis=2)) > 0.1 * np.maximum(depth[:, :, 1:], depth[:, :, :-1])
    colour_step = np.abs(np.diff(grey, axis=2))
    at_edges, elsewhere = colour_step[jump & both_valid].mean(), colour_step[~jump & both_valid].mean()
    assert at_edges > 2.5 * elsewhere, f"colour step at depth edges {at_edges:.1f} vs {elsewhere:.1f}"


def test_cache_is_written_once(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = ensure_synthetic_cache(tmp_path, 8, 2, 32, 32, 0)
    assert capsys.readouterr() == ("", ""), "a small cache is generated silently"
    stamps = {k: p.stat().st_mtime_ns for k, p in paths.items()}
    again = ensure_synthetic_cache(tmp_path, 8, 2, 32, 32, 0)
    assert again == paths and {k: p.stat().st_mtime_ns for k, p in again.items()} == stamps
    assert ensure_synthetic_cache(tmp_path, 8, 2, 32, 40, 0)["train"].parent != paths["train"].parent
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")], "no temporary files left"
    monkeypatch.setattr(synthetic, "_PROGRESS_ABOVE", 4 * 32 * 32)  # as if it were more than 2000 scenes
    ensure_synthetic_cache(tmp_path, 8, 2, 32, 32, 1)
    assert "synthetic train scenes" in capsys.readouterr().err, "a large cache shows a progress bar"


def test_cache_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure mid-write (like a kill) leaves neither a torn train.h5 nor a temporary file."""

    def dies_after_one_batch(*args, **kwargs):
        generated = original(*args, **kwargs)
        yield next(generated)
        raise KeyboardInterrupt

    original = synthetic.generate_split
    monkeypatch.setattr(synthetic, "generate_split", dies_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic_cache(tmp_path, 300, 2, 32, 32, 0)  # 256 scenes a batch at 32x32: dies midway
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
    monkeypatch.setattr(synthetic, "generate_split", original)
    paths = ensure_synthetic_cache(tmp_path, 300, 2, 32, 32, 0)
    assert load(paths["train"])[0].shape[0] == 300


# --- the h5 loader on real frames ----------------------------------------------------------------


def test_vendored_real_frames_are_listed_with_their_origin() -> None:
    """Every frame in tests/data/real has its origin and licence note in frames.json (and nothing else is listed)."""
    listed = json.loads((REAL_FRAMES / "frames.json").read_text())
    files = [p.relative_to(REAL_FRAMES).as_posix() for p in find_h5_files(REAL_FRAMES)]
    assert sorted(files) == sorted(entry["file"] for entry in listed)
    assert all(entry["repo"] and entry["commit"] and entry["license"] for entry in listed)


@pytest.mark.parametrize("real", REAL_ROOTS, ids=lambda p: "vendored" if p == REAL_FRAMES else "shared")
@pytest.mark.parametrize("size", [(64, 64), (128, 160)])
def test_every_real_frame_reads(size: tuple[int, int], real: Path) -> None:
    files = find_h5_files(real)
    # the vendored sample: all three frames; the shared sample: its 20+ frames
    assert len(files) >= (3 if real == REAL_FRAMES else 20)
    val = H5DepthDataset(files, height=size[0], width=size[1], sparse_input=True)
    train = H5DepthDataset(
        files, height=size[0], width=size[1], train=True, sparse_input=True, augment=AUGMENT
    )
    for i in range(len(val)):
        fixed = val[i]
        for sample in (fixed, train[i]):
            for key, (channels, dtype) in KEYS.items():
                assert sample[key].shape == (channels, *size) and sample[key].dtype == dtype, key
            # numpy checks: small torch ops stall on a busy 2-core machine (see transforms)
            arrays = {key: value.numpy() for key, value in sample.items()}
            assert all(np.isfinite(arrays[key]).all() for key in ("rgb", "depth", "sparse"))
            assert 0 <= arrays["rgb"].min() and arrays["rgb"].max() <= 1
            assert np.array_equal(arrays["mask"], arrays["depth"] > 0)
        # Validation takes the centre crop with nearest depth: every depth is one of the frame's own
        # values (nothing blended across an edge or into a hole) and the holes stay holes.
        _, raw_depth = val.read_frame(i)
        top, left, h, w = transforms.crop_box(*raw_depth.shape, *size, None)
        region = raw_depth[top : top + h, left : left + w]
        assert np.isin(fixed["depth"].numpy(), np.append(region, 0)).all()
        if (region <= 0).mean() > 0.05:
            assert not fixed["mask"].all(), f"{val.frames[i].path}: holes lost"
        assert abs(fixed["mask"].float().mean() - (region > 0).mean()) < 0.15


@pytest.mark.parametrize("real", REAL_ROOTS, ids=lambda p: "vendored" if p == REAL_FRAMES else "shared")
def test_h5_config_splits_a_real_folder(real: Path) -> None:
    cfg = {
        "name": "h5",
        "root": str(real),
        "val_fraction": 0.2,
        "height": 64,
        "width": 64,
        "augment": AUGMENT,
    }
    train, val, test = build_datasets(cfg, seed=0, sparse_input=False)
    train_frames, val_frames, test_frames = set(train.frames), set(val.frames), set(test.frames)
    assert len(val_frames) >= 1 and len(test_frames) >= 1
    assert not train_frames & val_frames and not train_frames & test_frames and not val_frames & test_frames
    assert len(train_frames | val_frames | test_frames) == len(find_h5_files(real))
    _, again_val, again_test = build_datasets(cfg, seed=5, sparse_input=False)
    assert set(again_val.frames) == val_frames, "the split does not depend on the run's seed"
    assert set(again_test.frames) == test_frames, "the split does not depend on the run's seed"


def test_synthetic_test_split_is_its_own(tmp_path: Path) -> None:
    """The test scenes are fixed (same for every seed) and repeat no training or validation scene."""
    train, val, test = build_datasets(synthetic_cfg(tmp_path), seed=0, sparse_input=False)
    assert len(test) == 4
    train_rgb = {train.read_frame(i)[0].tobytes() for i in range(len(train))}
    val_rgb = {val.read_frame(i)[0].tobytes() for i in range(len(val))}
    test_rgb = [test.read_frame(i)[0].tobytes() for i in range(len(test))]
    assert not set(test_rgb) & (train_rgb | val_rgb)
    other_seed = build_datasets(synthetic_cfg(tmp_path), seed=7, sparse_input=False)[2]
    assert [other_seed.read_frame(i)[0].tobytes() for i in range(4)] == test_rgb
    assert torch.equal(test[0]["depth"], other_seed[0]["depth"]), "test inputs do not depend on the seed"
    assert build_datasets(synthetic_cfg(tmp_path, n_test=0), seed=0, sparse_input=False)[2] is None


def test_one_chunked_file_as_root(tmp_path: Path) -> None:
    paths = ensure_synthetic_cache(tmp_path, 10, 2, 40, 48, 0)
    cfg = {"name": "h5", "root": str(paths["train"]), "val_fraction": 0.2, "height": 32, "width": 32}
    train, val, test = build_datasets(cfg, seed=0, sparse_input=True)
    assert (len(train), len(val), len(test)) == (6, 2, 2)
    no_test = build_datasets(cfg | {"test_fraction": 0.0}, seed=0, sparse_input=True)
    assert (len(no_test[0]), len(no_test[1]), no_test[2]) == (8, 2, None)
    assert train[0]["rgb"].shape == (3, 32, 32)


# --- sparse-input simulation ---------------------------------------------------------------------


def test_sparse_modes_have_their_densities() -> None:
    depth = np.linspace(1.0, 5.0, 64 * 64, dtype=np.float32).reshape(64, 64)
    mask = np.ones_like(depth, dtype=bool)
    rng = np.random.default_rng(0)
    share = {mode: [] for mode in MODES}
    for mode in MODES:
        for _ in range(40):
            sparse, sparse_mask, got = simulate_sparse(depth, mask, rng, mode)
            assert got == mode and sparse.dtype == np.float32 and sparse.shape == depth.shape
            assert np.array_equal(sparse_mask, sparse > 0)
            share[mode].append(sparse_mask.mean())
    share = {mode: np.array(v) for mode, v in share.items()}
    assert share["dense"].min() > 0.65 and share["dense"].mean() > 0.8
    assert 0.25 < share["semi"].mean() < 0.75 and share["semi"].max() > 0.6
    assert share["very_sparse"].max() <= 0.105 and share["very_sparse"].mean() < 0.06
    assert share["none"].max() == 0


def test_sparse_mode_frequencies_and_determinism() -> None:
    depth, mask = torch.rand(1, 32, 32) + 0.5, torch.rand(1, 32, 32) > 0.2
    rng = np.random.default_rng(1)
    modes = [simulate_sparse(depth, mask, rng)[2] for _ in range(1000)]
    freq = {m: modes.count(m) / len(modes) for m in MODES}
    assert abs(freq["none"] - 0.4) < 0.06 and all(abs(freq[m] - 0.2) < 0.05 for m in MODES[:3])
    a = simulate_sparse(depth, mask, np.random.default_rng(7), "semi")
    b = simulate_sparse(depth, mask, np.random.default_rng(7), "semi")
    assert isinstance(a[0], torch.Tensor) and a[0].shape == (1, 32, 32)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    # Noise is relative and small: kept points stay near some ground-truth depth.
    assert (a[0][a[1]] > 0.4).all() and (a[0][a[1]] < 1.7).all()


def test_no_sparse_input_without_ground_truth() -> None:
    sparse, sparse_mask, _ = simulate_sparse(
        np.ones((16, 16)), np.zeros((16, 16), bool), np.random.default_rng(0), "dense"
    )
    assert not sparse_mask.any() and not sparse.any()


# --- samples: contract, determinism, workers -----------------------------------------------------


def test_samples_follow_the_contract(tmp_path: Path) -> None:
    train, val, _ = build_datasets(synthetic_cfg(tmp_path), seed=0, sparse_input=True)
    assert (len(train), len(val)) == (24, 6)
    for sample in (train[0], val[0]):
        assert {k: (v.shape[0], v.dtype) for k, v in sample.items()} == KEYS
        assert torch.equal(sample["mask"], sample["depth"] > 0)
        assert torch.equal(sample["sparse_mask"], sample["sparse"] > 0)
    batch = next(iter(DataLoader(train, batch_size=4)))
    assert model_input(batch, 3).shape == (4, 3, 32, 32)
    x = model_input(batch, 5)
    assert x.shape == (4, 5, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x[:, 4:], batch["sparse_mask"].float()) and torch.equal(x[:, 3:4], batch["sparse"])
    with pytest.raises(DataError, match="in_channels=4"):
        model_input(batch, 4)
    monocular, *_ = build_datasets(synthetic_cfg(tmp_path), seed=0, sparse_input=False)
    assert not monocular[0]["sparse_mask"].any()


def test_sample_randomness_depends_on_seed_epoch_index_only(tmp_path: Path) -> None:
    def same(a: dict, b: dict) -> bool:
        return all(torch.equal(a[k], b[k]) for k in a)

    train, val, _ = build_datasets(synthetic_cfg(tmp_path), seed=3, sparse_input=True)
    first = [train[i] for i in range(len(train))]
    other, *_ = build_datasets(synthetic_cfg(tmp_path), seed=3, sparse_input=True)
    assert all(same(other[i], first[i]) for i in reversed(range(len(train)))), "order matters"
    assert same(train[5], first[5])
    train.set_epoch(1)
    assert sum(same(train[i], first[i]) for i in range(len(train))) < 3, "a new epoch, new draws"
    train.set_epoch(0)
    assert same(train[5], first[5])
    seed_4, val_4, _ = build_datasets(synthetic_cfg(tmp_path), seed=4, sparse_input=True)
    assert not same(seed_4[5], first[5])
    val.set_epoch(7)
    assert all(same(val[i], val_4[i]) for i in range(len(val))), "validation inputs are fixed"
    assert torch.equal(val[0]["depth"][0], torch.from_numpy(load(Path(val.frames[0].path))[1][0]))


def test_dataloader_workers_give_the_same_batches(tmp_path: Path) -> None:
    train, *_ = build_datasets(synthetic_cfg(tmp_path), seed=0, sparse_input=True)
    train[0]  # opens the file in this process: the workers must not reuse that handle
    restored = pickle.loads(pickle.dumps(train))
    assert restored._handles == {} and torch.equal(restored[1]["rgb"], train[1]["rgb"])
    single = list(DataLoader(train, batch_size=6, num_workers=0))
    multi = list(DataLoader(train, batch_size=6, num_workers=2))
    assert len(single) == len(multi) == 4
    for a, b in zip(single, multi, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


# --- errors that name the file and the fix -------------------------------------------------------


def write(path: Path, **datasets: np.ndarray) -> Path:
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
    return path


def good_rgb() -> np.ndarray:
    return np.zeros((3, 8, 8), np.uint8)


def good_depth() -> np.ndarray:
    return np.ones((8, 8), np.float32)


BAD_FILES = {
    "missing_key": lambda: {"rgb": good_rgb(), "image": good_depth()},
    "rgb_float": lambda: {"rgb": good_rgb().astype(np.float32), "depth": good_depth()},
    "depth_uint16": lambda: {"rgb": good_rgb(), "depth": good_depth().astype(np.uint16)},
    "channels_last": lambda: {"rgb": np.zeros((8, 8, 3), np.uint8), "depth": good_depth()},
    "depth_size": lambda: {"rgb": good_rgb(), "depth": np.ones((8, 9), np.float32)},
    "nan_depth": lambda: {"rgb": good_rgb(), "depth": np.where(np.eye(8) > 0, np.nan, 1).astype(np.float32)},
    "negative_depth": lambda: {"rgb": good_rgb(), "depth": -good_depth()},
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_named(tmp_path: Path, case: str) -> None:
    write(tmp_path / "fine.h5", rgb=good_rgb(), depth=good_depth())
    write(tmp_path / f"{case}.h5", **BAD_FILES[case]())
    with pytest.raises(DataError, match=f"{case}.h5"):
        H5DepthDataset(find_h5_files(tmp_path), height=8, width=8)


@pytest.mark.parametrize("case", ["nan_depth", "negative_depth"])
def test_bad_depth_values_found_when_read(tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h5_module, "_VALUE_CHECK_BUDGET", 0)  # as for a folder too big to check at once
    dataset = H5DepthDataset([write(tmp_path / f"{case}.h5", **BAD_FILES[case]())], height=8, width=8)
    with pytest.raises(DataError, match=f"{case}.h5"):
        dataset[0]


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    good = write(tmp_path / "good.h5", rgb=good_rgb(), depth=good_depth())
    (tmp_path / "truncated.h5").write_bytes(good.read_bytes()[:1000])
    with pytest.raises(DataError, match="truncated.h5"):
        H5DepthDataset([tmp_path / "truncated.h5"], height=8, width=8)
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(DataError, match="text.h5"):
        H5DepthDataset([good, tmp_path / "text.h5"], height=8, width=8)


def test_bad_folders_are_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no h5 here")
    with pytest.raises(DataError, match="empty.*no .h5 files"):
        find_h5_files(tmp_path / "empty")
    with pytest.raises(DataError, match="missing.*does not exist"):
        find_h5_files(tmp_path / "missing")
    with pytest.raises(DataError, match="missing"):
        build_datasets(
            {"name": "h5", "root": str(tmp_path / "missing"), "height": 8, "width": 8},
            seed=0,
            sparse_input=False,
        )


def test_bad_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data.root"):
        build_datasets({"name": "h5", "root": "???", "height": 8, "width": 8}, seed=0, sparse_input=False)
    with pytest.raises(DataError, match="data.name"):
        build_datasets({"name": "nyu", "height": 8, "width": 8}, seed=0, sparse_input=False)
    with pytest.raises(DataError, match="data.n_train"):
        build_datasets(synthetic_cfg(tmp_path, n_train=0), seed=0, sparse_input=False)
    with pytest.raises(DataError, match="data.resize"):
        build_datasets(synthetic_cfg(tmp_path, resize="squash"), seed=0, sparse_input=False)
    assert not os.listdir(tmp_path) or all(p.suffix != ".tmp" for p in tmp_path.rglob("*"))
