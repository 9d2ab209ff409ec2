"""Datasets of a run from its `data` config node, and the model input of a batch.

A data source of the user's own module: `data._target_: package.module.builder` (g2core.data.plugin).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from g2core.data.errors import DataError
from g2core.data.h5 import H5DepthDataset, find_h5_files, index_files
from g2core.data.plugin import build_plugin_datasets
from g2core.data.synthetic import ensure_synthetic_cache
from g2core.plugins import has_target
from g2core.schema import SOURCES, DataConfig

# Validation inputs (crop, sparse input) do not depend on the run's seed: every run of a study is
# scored on exactly the same inputs, so differences between runs come from training alone.
VAL_SEED = 0
_SPLIT_SEED = 0  # the train/val/test split of a folder is fixed too, whatever the run's seed


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


def _split(n: int, val_fraction: float, test_fraction: float, root: Any) -> dict[str, list[int]]:
    """A deterministic train/val/test split of n frames (test first, then val, from one fixed permutation);
    at least one frame in each part that is asked for. val_fraction 0: validation comes from data.val_root."""
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"data.test_fraction={test_fraction} must be in [0, 1), or set data.test_root")
    parts = 1 + (val_fraction > 0) + (test_fraction > 0)
    if n < parts:
        raise DataError(
            f"data.root={root} holds {n} frame{'s' if n != 1 else ''}: splitting needs at least {parts} "
            "(train, val and test), or set data.val_root / data.test_root"
        )
    n_test = min(n - parts + 1, max(1, round(n * test_fraction))) if test_fraction > 0 else 0
    n_val = min(n - n_test - 1, max(1, round(n * val_fraction))) if val_fraction > 0 else 0
    order = np.random.default_rng(_SPLIT_SEED).permutation(n).tolist()
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return {"train": sorted(train), "val": sorted(val), "test": sorted(test)}


def build_datasets(
    data_cfg: Mapping, *, seed: int, sparse_input: bool
) -> tuple[Dataset, Dataset, Dataset | None]:
    """(train, val, test) datasets from a validated `data` config node (keys and defaults: g2core.schema).

    The test split is what a study reports; nothing is selected on it. None when the config asks for none
    (data.n_test=0 for synthetic scenes; no data.test_root and data.test_fraction=0 for h5 frames). Test
    inputs, like validation inputs, do not depend on the run's seed.
    A key the node leaves out (one built by hand: a script, a test) takes the schema's default, as compose
    would have put it there (g2core.schema.SOURCES).
    With `data._target_`, the user's builder makes them (g2core.data.plugin).
    """
    if has_target(data_cfg):
        return build_plugin_datasets(data_cfg, seed=seed, sparse_input=sparse_input)
    name = _get(data_cfg, "name")
    defaults = {f.name: f.default for f in fields(SOURCES.get(name, DataConfig)) if f.default is not MISSING}

    def setting(key: str) -> Any:
        return data_cfg[key] if key in data_cfg else defaults[key]

    height, width = int(_get(data_cfg, "height")), int(_get(data_cfg, "width"))
    common = {"height": height, "width": width, "sparse_input": sparse_input}
    common |= {k: setting(k) for k in ("resize", "min_depth", "max_depth", "eigen_crop", "mask_depth_range")}
    augment = dict(data_cfg.get("augment") or {})

    def evaluated(files: list, **kw: Any) -> H5DepthDataset:
        return H5DepthDataset(files, train=False, seed=VAL_SEED, **kw, **common)

    if name == "synthetic":
        paths = ensure_synthetic_cache(
            _get(data_cfg, "root"),
            int(_get(data_cfg, "n_train")),
            int(_get(data_cfg, "n_val")),
            int(data_cfg.get("gen_height") or height),
            int(data_cfg.get("gen_width") or width),
            int(setting("scene_seed")),
            n_test=int(setting("n_test")),
        )
        train = H5DepthDataset([paths["train"]], train=True, seed=seed, augment=augment, **common)
        test = evaluated([paths["test"]]) if "test" in paths else None
        return train, evaluated([paths["val"]]), test
    if name == "h5":
        root = _get(data_cfg, "root")
        files = find_h5_files(root, "data.root")
        val_root, test_root = data_cfg.get("val_root"), data_cfg.get("test_root")
        test_fraction = 0.0 if test_root else float(setting("test_fraction"))
        val_fraction = 0.0 if val_root else float(setting("val_fraction"))
        if not val_root and not 0.0 < val_fraction < 1.0:
            raise DataError(f"data.val_fraction={val_fraction} must be in (0, 1), or set data.val_root")
        index = index_files(files)
        split = _split(len(index), val_fraction, test_fraction, root)
        train = H5DepthDataset(
            files, train=True, seed=seed, augment=augment, index=index, select=split["train"], **common
        )
        val = (
            evaluated(find_h5_files(val_root, "data.val_root"))
            if val_root
            else evaluated(files, index=index, select=split["val"])
        )
        if test_root:
            test = evaluated(find_h5_files(test_root, "data.test_root"))
        else:
            test = evaluated(files, index=index, select=split["test"]) if split["test"] else None
        return train, val, test
    raise DataError(f"data.name={name!r} is not a data source: use 'synthetic' (the default) or 'h5'")
