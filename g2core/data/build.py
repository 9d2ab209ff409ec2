"""Datasets of a run from its `data` config node, and the model input of a batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from g2core.data.errors import DataError
from g2core.data.h5 import H5DepthDataset, find_h5_files, index_files
from g2core.data.synthetic import ensure_synthetic_cache
from g2core.schema import H5Data, SyntheticData

# Validation inputs (crop, sparse input) do not depend on the run's seed: every run of a study is
# scored on exactly the same inputs, so differences between runs come from training alone.
VAL_SEED = 0
_SPLIT_SEED = 0  # the train/val split of a folder is fixed too, whatever the run's seed


def model_input(batch: Mapping[str, torch.Tensor], in_channels: int) -> torch.Tensor:
    """3 -> rgb; 5 -> rgb + sparse depth + its validity mask, along the channel axis ([B,C,H,W] or [C,H,W])."""
    if in_channels == 3:
        return batch["rgb"]
    if in_channels == 5:
        rgb = batch["rgb"]
        return torch.cat([rgb, batch["sparse"].to(rgb.dtype), batch["sparse_mask"].to(rgb.dtype)], dim=-3)
    raise DataError(
        f"model in_channels={in_channels}: the data gives 3 (rgb) or 5 (rgb, sparse depth, its mask)"
    )


def _get(cfg: Mapping, key: str) -> Any:
    """A required key of the data node ('???' is OmegaConf's mark for a value still to be given)."""
    value = cfg.get(key)
    if value is None or value == "???":
        name = cfg.get("name")
        raise DataError(
            f"data.{key} is required for data={name}: set it in conf/data/{name}.yaml or on the command line (data.{key}=...)"
        )
    return value


def _split(n: int, val_fraction: float, root: Any) -> tuple[list[int], list[int]]:
    """A deterministic train/val split of n frames, at least one frame on each side."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"data.val_fraction={val_fraction} must be in (0, 1), or set data.val_root")
    if n < 2:
        raise DataError(f"data.root={root} holds {n} frame: splitting needs at least 2, or set data.val_root")
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    order = np.random.default_rng(_SPLIT_SEED).permutation(n)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def build_datasets(data_cfg: Mapping, *, seed: int, sparse_input: bool) -> tuple[Dataset, Dataset]:
    """(train, val) datasets from a validated `data` config node (keys and defaults: g2core.schema).

    A key a caller leaves out takes H5DepthDataset's default; only what no default can stand for is checked.
    """
    name = _get(data_cfg, "name")
    height, width = int(_get(data_cfg, "height")), int(_get(data_cfg, "width"))
    common = {"height": height, "width": width, "sparse_input": sparse_input}
    common |= {k: data_cfg[k] for k in ("resize", "min_depth", "max_depth", "eigen_crop") if k in data_cfg}
    augment = dict(data_cfg.get("augment") or {})
    if name == "synthetic":
        paths = ensure_synthetic_cache(
            _get(data_cfg, "root"),
            int(_get(data_cfg, "n_train")),
            int(_get(data_cfg, "n_val")),
            int(data_cfg.get("gen_height") or height),
            int(data_cfg.get("gen_width") or width),
            int(data_cfg.get("scene_seed", SyntheticData.scene_seed)),
        )
        train = H5DepthDataset([paths["train"]], train=True, seed=seed, augment=augment, **common)
        val = H5DepthDataset([paths["val"]], train=False, seed=VAL_SEED, **common)
        return train, val
    if name == "h5":
        root = _get(data_cfg, "root")
        files = find_h5_files(root, "data.root")
        if data_cfg.get("val_root"):
            val_files = find_h5_files(data_cfg["val_root"], "data.val_root")
            train = H5DepthDataset(files, train=True, seed=seed, augment=augment, **common)
            return train, H5DepthDataset(val_files, train=False, seed=VAL_SEED, **common)
        index = index_files(files)
        train_idx, val_idx = _split(
            len(index), float(data_cfg.get("val_fraction", H5Data.val_fraction)), root
        )
        train = H5DepthDataset(
            files, train=True, seed=seed, augment=augment, index=index, select=train_idx, **common
        )
        val = H5DepthDataset(files, train=False, seed=VAL_SEED, index=index, select=val_idx, **common)
        return train, val
    raise DataError(f"data.name={name!r} is not a data source: use 'synthetic' (the default) or 'h5'")
