"""Section 5: samples/s the g2core h5 loader delivers against samples/s a training step consumes.

Consumption: forward + loss + backward + Adam of the default model (g2_unet features 16, 4 levels) on one
batch of 8 at the default 32x32, with the baseline loss, in samples/s. Supply: `g2core.data.build_datasets` train sets
read through a DataLoader (batch 8, shuffled, `num_workers=0` as the default config has it), from the
synthetic h5 cache and from the real frames in ../shared/data/real (or the few vendored in tests/data/real;
480x640 and KITTI frames, scaled and cropped to the training size); at paper size also with 2 loader worker
processes (scale=paper's setting on a machine with more cores). Interleaved per round; the ratio is the loader's headroom (> 1: the
loader is not what limits training).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from benchmarks._common import Row, Section, Settings, data_node, interleave
from g2core.config import PACKAGE_ROOT
from g2core.data import build_datasets
from g2core.losses import create_loss
from g2core.models import build_model

# All of ../shared's real frames when the checkout has them beside it, else the few vendored for the tests.
_SHARED_REAL = PACKAGE_ROOT.parent / "shared" / "data" / "real"
REAL = _SHARED_REAL if _SHARED_REAL.is_dir() else PACKAGE_ROOT / "tests" / "data" / "real"
BATCH = 8
WORKERS = "paper size, 2 loader workers"
SIZE = 32  # conf/data/synthetic.yaml: the default training size


def _synthetic(root: Path, settings: Settings) -> DictConfig:
    return data_node(
        "synthetic", root=f"'{root / 'synthetic'}'", n_train=settings.pick(64, 512), n_val=8, height=SIZE
    )


def _real(height: int, width: int) -> DictConfig:
    return data_node("h5", root=f"'{REAL}'", height=height, width=width)


def loader_side(dataset: Dataset, batches: int, workers: int = 0) -> Callable[[], float]:
    def side() -> float:
        # Workers start inside the timing, once (persistent_workers, as scale=paper sets it), as a run pays.
        loader = DataLoader(
            dataset, batch_size=BATCH, shuffle=True, num_workers=workers, persistent_workers=workers > 0
        )
        start = time.perf_counter()
        read = 0
        # Epoch after epoch, every batch read again (itertools.cycle would replay the first epoch's batches
        # from memory, and a few real frames would time the cache, not the loader).
        epochs = (batch for _ in itertools.count() for batch in loader)
        for batch in itertools.islice(epochs, batches):
            read += batch["rgb"].shape[0]
        return read / (time.perf_counter() - start)

    return side


def consumer_side(steps: int) -> Callable[[], float]:
    torch.manual_seed(0)
    model = build_model("g2_unet", features=16, levels=4, in_channels=3)
    loss_fn = create_loss(weights={"ssi": 0.5, "silog": 0.5})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(BATCH, 3, SIZE, SIZE)
    gt = 0.5 + 9 * torch.rand(BATCH, 1, SIZE, SIZE)
    mask = torch.rand(BATCH, 1, SIZE, SIZE) > 0.1

    def side() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            total, _ = loss_fn(model(x), gt, mask)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
        return steps * BATCH / (time.perf_counter() - start)

    return side


def run(settings: Settings) -> Section:
    section = Section("data", "Data: h5 loader samples/s vs samples/s the default training step consumes")
    batches = settings.pick(4, 40)
    with tempfile.TemporaryDirectory(prefix="g2-bench-data-") as tmp:
        synthetic = _synthetic(Path(tmp), settings)
        sources: dict[str, tuple[DictConfig, bool]] = {
            "synthetic h5 cache, 32x32": (synthetic, False),
            "synthetic h5 cache, 32x32 + G2 sparse-input simulation": (synthetic, True),
        }
        if REAL.is_dir():
            sources["real frames (NYU/Kinect/KITTI h5), scaled+cropped to 32x32"] = (_real(SIZE, SIZE), False)
            sources["real frames at paper size 448x640 + sparse simulation"] = (_real(448, 640), True)
        else:
            section.extra["real"] = f"skipped: {REAL} not found"
        sides = {"consume": consumer_side(settings.pick(2, 10))}
        for name, (cfg, sparse) in sources.items():
            train, *_ = build_datasets(cfg, seed=0, sparse_input=sparse)
            sides[name] = loader_side(train, batches)
            section.extra[f"frames: {name}"] = len(train)
        paper = "real frames at paper size 448x640 + sparse simulation"
        if paper in sources:  # scale=paper's loader setting: what worker processes add over the main one
            train, *_ = build_datasets(sources[paper][0], seed=0, sparse_input=True)
            sides[WORKERS] = loader_side(train, batches * 2, workers=2)
        for side in sides.values():
            side()  # warm-up: cache generation is outside, file handles open, first-call dispatch
        rates = interleave(sides, settings.pick(1, 3))
    for name in sources:
        section.rows.append(
            Row(
                f"{name}: samples/s",
                "train step consumes (default scale)",
                "loader supplies",
                "samples/s",
                rates["consume"],
                rates[name],
                ratio_label="supply / demand",
            )
        )
    if WORKERS in rates:
        section.rows.append(
            Row(
                "real frames at paper size 448x640 + sparse simulation: samples/s by loader processes",
                "num_workers=0 (main process)",
                "num_workers=2",
                "samples/s",
                rates["real frames at paper size 448x640 + sparse simulation"],
                rates[WORKERS],
                ratio_label="workers / main process",
            )
        )
    return section
