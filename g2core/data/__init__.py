"""Data for g2core: the embedded synthetic scenes, NYU-layout h5 frames and the G2 sparse input.

`build_datasets(cfg.data, seed=..., sparse_input=...)` gives (train, val, test) datasets whose samples are
dicts of tensors: rgb float32 [3,H,W] in [0,1]; depth float32 [1,H,W] metres, 0 where invalid; mask
bool [1,H,W] (valid ground truth); sparse float32 [1,H,W] (0 where no input); sparse_mask bool [1,H,W].
`model_input(batch, in_channels)` turns a (batched) sample into what a 3- or 5-channel model takes.
  build.py  the one way in (defaults from g2core.schema's data classes);  h5.py, synthetic.py  the sources
  scenes.py, raycast.py  the procedural scenes;  transforms.py  crop/resize/augment;  sparse.py  sparse input
Imports torch, h5py and g2core.schema only: nothing of models, losses, MLflow or studies.
"""

from __future__ import annotations

from g2core.data.build import VAL_SEED, build_datasets, model_input
from g2core.data.errors import DataError
from g2core.data.h5 import FrameRef, H5DepthDataset, find_h5_files, index_files
from g2core.data.sparse import MODES, simulate_sparse
from g2core.data.synthetic import ensure_synthetic_cache

__all__ = [
    "MODES",
    "VAL_SEED",
    "DataError",
    "FrameRef",
    "H5DepthDataset",
    "build_datasets",
    "ensure_synthetic_cache",
    "find_h5_files",
    "index_files",
    "model_input",
    "simulate_sparse",
]
