"""Datasets of the user's own module: `data._target_: package.module.builder`.

    data:
      _target_: mypkg.data.my_frames     # called as my_frames(**keys it takes)
      name: my_frames                    # a label (the run's data.name)
      root: /data/frames                 # the builder's own keys ...
      height: 32                         # ... and the keys every source has (conf/data/synthetic.yaml)
      width: 32
      batch_size: 8
      num_workers: 0
      min_depth: 1.0e-3
      max_depth: 10.0

The builder gets, by name, the data node's keys its signature takes (all of them with **kwargs), plus
`seed` (the run's seed: seed training augmentation with it, never validation or test) and `sparse_input`
(True when model.in_channels=5). It returns `(train, val)` or `(train, val, test)`, test None for none.

Each is a torch Dataset whose items are dicts of tensors (the batch contract of g2core.data.build):
  rgb          float [3, H, W] in [0, 1]
  depth        float [1, H, W] in metres, 0 where unknown
  mask         bool  [1, H, W], optional: depth > 0 when absent
  sparse       float [1, H, W] and sparse_mask bool [1, H, W]: required when sparse_input, zeros otherwise
A `set_epoch(epoch)` method, when the training set has one, is called at each epoch's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import Dataset

from g2core.data.errors import DataError
from g2core.plugins import TARGET, import_target, kwargs_for

SPLITS = ("train", "val", "test")


class PluginDataset(Dataset):
    """A user's dataset held to the batch contract: optional keys filled, the first item checked."""

    def __init__(self, inner: Dataset, split: str, height: int, width: int, sparse_input: bool) -> None:
        self.inner, self.split, self.sparse_input = inner, split, sparse_input
        self.shape = (1, height, width)
        if len(inner) == 0:  # type: ignore[arg-type]
            raise DataError(f"data.{TARGET}: the {split} dataset is empty")
        self[0]  # a wrong item fails here, in one line, not inside a DataLoader worker

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.inner[index]
        where = f"data.{TARGET}: {self.split} item {index}"
        if not isinstance(item, Mapping) or "rgb" not in item or "depth" not in item:
            raise DataError(f"{where}: expected a dict with at least 'rgb' and 'depth' tensors")
        sample = dict(item)
        depth = sample["depth"]
        _check(where, "rgb", sample["rgb"], (3, *self.shape[1:]))
        _check(where, "depth", depth, self.shape)
        sample.setdefault("mask", depth > 0)
        if self.sparse_input and ("sparse" not in sample or "sparse_mask" not in sample):
            raise DataError(f"{where}: model.in_channels=5 needs 'sparse' and 'sparse_mask' in every item")
        sample.setdefault("sparse", torch.zeros_like(depth))
        sample.setdefault("sparse_mask", torch.zeros_like(depth, dtype=torch.bool))
        for key in ("mask", "sparse", "sparse_mask"):
            _check(where, key, sample[key], self.shape)
        sample["mask"], sample["sparse_mask"] = sample["mask"].bool(), sample["sparse_mask"].bool()
        return sample


def _check(where: str, key: str, value: Any, shape: tuple[int, ...]) -> None:
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise DataError(
            f"{where}: '{key}' must be a tensor of shape {list(shape)} (data.height={shape[-2]}, "
            f"data.width={shape[-1]}); got {got}"
        )


def build_plugin_datasets(
    data_cfg: Mapping[str, Any], *, seed: int, sparse_input: bool
) -> tuple[Dataset, Dataset, Dataset | None]:
    """(train, val, test) from the builder `data._target_` names, each held to the batch contract."""
    builder = import_target(data_cfg[TARGET], f"data.{TARGET}")
    available = {k: v for k, v in data_cfg.items() if k != TARGET}
    available.update(seed=seed, sparse_input=sparse_input)
    built = builder(**kwargs_for(builder, available))
    if not isinstance(built, tuple | list) or len(built) not in (2, 3):
        raise DataError(f"data.{TARGET}={data_cfg[TARGET]}: return (train, val) or (train, val, test)")
    height, width = int(data_cfg["height"]), int(data_cfg["width"])
    wrapped = [
        None if ds is None else PluginDataset(ds, split, height, width, sparse_input)
        for split, ds in zip(SPLITS, built, strict=False)
    ]
    if wrapped[0] is None or wrapped[1] is None:
        raise DataError(f"data.{TARGET}={data_cfg[TARGET]}: train and val must be datasets, not None")
    return wrapped[0], wrapped[1], wrapped[2] if len(wrapped) == 3 else None
