"""The frames a checkpoint is evaluated on, from a `data` config node, and the name its metrics carry.

`split`:
  all   the dataset as a whole: every frame of data.test_root, else of data.root (h5). An external test set is
        a folder you did not train on; synthetic scenes (and a plug-in data source) have one held-out part,
        their test split, and that is what `all` reads there.
  test  the data config's own test split, exactly as training made it (data.test_fraction of data.root, ...)
  val   its validation split
Inputs do not depend on any seed (the trainer's VAL_SEED): every checkpoint sees exactly the same frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from g2core.checks import validate_name
from g2core.config import ConfigError
from g2core.data import DataError, build_datasets
from g2core.data.build import VAL_SEED
from g2core.data.h5 import H5DepthDataset, find_h5_files
from g2core.schema import EVAL_SPLITS

_FRAME_KEYS = ("resize", "min_depth", "max_depth", "eigen_crop")


def evaluation_dataset(data: Mapping[str, Any], split: str, *, sparse_input: bool) -> Dataset:
    """The frames of `data` (a resolved data config node) to evaluate on; DataError for a bad folder."""
    if split not in EVAL_SPLITS:
        raise ConfigError(f"eval.split={split!r}: expected one of {', '.join(EVAL_SPLITS)}")
    if split == "all" and data.get("name") == "h5" and "_target_" not in data:
        key = "data.test_root" if data.get("test_root") else "data.root"
        root = data.get("test_root") or data.get("root")
        if root in (None, "???"):
            raise DataError("data.root is required for data=h5: pass data.root=/path/to/h5/folder")
        frames = {k: data[k] for k in _FRAME_KEYS if k in data}
        return H5DepthDataset(
            find_h5_files(root, key),
            train=False,
            seed=VAL_SEED,
            height=int(data["height"]),
            width=int(data["width"]),
            sparse_input=sparse_input,
            **frames,
        )
    _, val, test = build_datasets(data, seed=VAL_SEED, sparse_input=sparse_input)
    if split == "val":
        return val
    if test is None:
        raise DataError(
            f"data={data.get('name')}: this data config has no test split (data.n_test=0 or "
            "data.test_fraction=0); set one, or evaluate on eval.split=val"
        )
    return test


def dataset_name(data: Mapping[str, Any], given: str | None, preset: str | None = None) -> str:
    """The name in `eval/<dataset>/<metric>`: `given` (eval.dataset); else the data preset the command chose
    when it names a dataset (data=nyu: nyu; not the generic h5); else the folder's name (data.test_root, else
    data.root; a file's stem); else the data source (synthetic)."""
    if given:
        return validate_name(str(given), "eval.dataset")
    if preset and preset != "h5":
        return validate_name(str(preset), "data")
    root = data.get("test_root") or data.get("root")
    if data.get("name") != "h5" or not root or root == "???":
        return validate_name(str(data.get("name")), "data.name")
    path = Path(str(root)).expanduser()
    name = path.stem if path.suffix == ".h5" else path.resolve().name
    try:
        return validate_name(name, "eval.dataset")
    except ConfigError:
        raise ConfigError(
            f"eval.dataset: the folder name {name!r} cannot name a dataset; pass eval.dataset=<name> "
            "(letters, digits, '_', '-', '.')"
        ) from None
