"""The embedded default data: procedural indoor scenes, generated once into an h5 cache.

Scenes come from `scenes` (ray-cast depth, shaded textured RGB, sensor-like holes). Each split is
written once, in the NYU 'fastdepth' layout chunked one sample per chunk (`rgb` uint8 [N,3,H,W],
`depth` float32 [N,H,W]), to `root/<tag>/{train,val}.h5`, where the tag encodes every parameter, so a
different size or seed makes a different cache. The test split (`test-<n>.h5`, reported, never selected on) has
its own random stream, so its scenes never repeat a train or validation scene. The synthetic dataset then reads those files through
the same loader as real data (`H5DepthDataset`), so the default run exercises the real-data path.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from g2core.data.errors import DataError
from g2core.data.scenes import GENERATOR_VERSION, draw_scene, render_batch

# Separate random streams: validation and test scenes never repeat training scenes, nor each other.
_SPLITS = {"train": 0, "val": 1, "test": 2}
# A bar above 2000 scenes of 64x64 (or as many pixels): smaller caches take seconds and print nothing.
_PROGRESS_ABOVE = 2000 * 64 * 64
_PIXELS_PER_BATCH = 2**18  # scenes rendered together: 64 at 64x64, bounded memory at any size


def cache_tag(n_train: int, n_val: int, height: int, width: int, seed: int) -> str:
    return f"scenes-v{GENERATOR_VERSION}-seed{seed}-{height}x{width}-train{n_train}-val{n_val}"


def generate_split(
    n: int, height: int, width: int, seed: int, split: str
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Batches (start, rgb uint8 [B,3,H,W], depth float32 [B,H,W]) of the split's scenes in order.

    Scene i of a split depends only on (seed, split, i), so the bytes do not depend on batching.
    """
    batch = max(1, _PIXELS_PER_BATCH // (height * width))
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        scenes = [
            draw_scene(np.random.default_rng([seed, _SPLITS[split], i]), height, width)
            for i in range(start, stop)
        ]
        rgb, depth = render_batch(scenes, height, width)
        yield start, rgb, depth


def _write_split(path: Path, n: int, height: int, width: int, seed: int, split: str) -> None:
    """Write to a temporary file in the same folder, then os.replace: readers never see a torn file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            # track_times=False keeps the bytes a function of the seed alone (no timestamps).
            rgb = f.create_dataset(
                "rgb", (n, 3, height, width), np.uint8, chunks=(1, 3, height, width), track_times=False
            )
            depth = f.create_dataset(
                "depth", (n, height, width), np.float32, chunks=(1, height, width), track_times=False
            )
            f.attrs.update(
                {"generator": f"g2core.data.scenes v{GENERATOR_VERSION}", "seed": seed, "split": split}
            )
            f.attrs["depth_units"] = "metres, 0 = invalid"
            with tqdm(
                total=n,
                desc=f"synthetic {split} scenes",
                unit="scene",
                disable=n * height * width <= _PROGRESS_ABOVE,
            ) as bar:
                for start, rgb_batch, depth_batch in generate_split(n, height, width, seed, split):
                    rgb[start : start + len(rgb_batch)] = rgb_batch
                    depth[start : start + len(depth_batch)] = depth_batch
                    bar.update(len(rgb_batch))
        with open(tmp, "rb") as fh:  # on disk before it gets the final name
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_synthetic_cache(
    root: str | Path, n_train: int, n_val: int, height: int, width: int, seed: int, n_test: int = 0
) -> dict[str, Path]:
    """Paths {'train', 'val'[, 'test']} of the cached splits, generating a split only if its file is missing.

    Scene i of a split depends only on (seed, split, i), so `test-<n>.h5` can sit beside any train/val pair
    of the same size and seed without changing their folder (the cache of earlier runs stays valid).
    """
    for key, value, low in (
        ("n_train", n_train, 1),
        ("n_val", n_val, 1),
        ("n_test", n_test, 0),
        ("gen_height", height, 8),
        ("gen_width", width, 8),
    ):
        if int(value) < low:
            raise DataError(f"data.{key}={value} is too small for synthetic data; it must be at least {low}")
    folder = Path(root).expanduser() / cache_tag(n_train, n_val, height, width, seed)
    paths = {"train": folder / "train.h5", "val": folder / "val.h5"}
    counts = {"train": n_train, "val": n_val}
    if int(n_test) > 0:
        paths["test"], counts["test"] = folder / f"test-{int(n_test)}.h5", n_test
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for split, n in counts.items():
            if not paths[split].is_file():
                _write_split(paths[split], int(n), int(height), int(width), int(seed), split)
    except OSError as err:
        raise DataError(
            f"cannot write the synthetic data cache in {folder} ({err}); set data.root to a writable folder"
        ) from err
    return paths
