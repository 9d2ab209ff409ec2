"""RGB-D frames in the NYU Depth V2 'fastdepth' h5 layout, as a map-style torch Dataset.

A file holds either one frame (`rgb` uint8 [3,H,W], `depth` float [H,W] metres, 0 = invalid) or a
chunked stack of frames (`rgb` [N,3,H,W], `depth` [N,H,W]); frames in one folder may differ in size.
The index is built once from shapes and dtypes only, which also validates every file up front, so a
bad folder fails before training. Files are opened lazily in whichever process reads them (HDF5 is not
fork-safe and h5py objects do not pickle), and a sample's randomness comes only from (seed, epoch,
index), so batches do not depend on the worker count, the loading order or the DDP rank.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from g2core.data import transforms
from g2core.data.errors import DataError
from g2core.data.sparse import simulate_sparse
from g2core.schema import DataConfig

_LAYOUT = "rgb uint8 [3,H,W] and depth float32 [H,W] in metres (or chunked [N,3,H,W] / [N,H,W])"
_MAX_OPEN_FILES = 64  # a folder of one-frame files would otherwise exhaust file descriptors
_VALUE_CHECK_BUDGET = 64 * 2**20  # bytes of depth read at index time to catch NaN/negative early


class FrameRef(NamedTuple):
    path: str
    index: int | None  # None: a one-frame file; else the frame's position in a chunked file
    height: int
    width: int


def find_h5_files(root: str | Path, key: str = "data.root") -> list[Path]:
    """`root` is a folder searched recursively for *.h5, or a single (chunked) .h5 file."""
    root = Path(root).expanduser()
    if not root.exists():
        from g2core.data.prepare import prepare_hint  # only here: it is the download tool

        hint = prepare_hint(root)
        fix = f"get it once with {hint}, or point {key} at" if hint else f"point {key} at"
        raise DataError(
            f"{key}: {root} does not exist; {fix} a folder of .h5 files ({_LAYOUT}) or one .h5 file"
        )
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("*.h5") if p.is_file())
    if not files:
        raise DataError(f"{key}: the folder {root} holds no .h5 files; it needs files with {_LAYOUT}")
    return files


def _open(path: str | Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as err:  # truncated, not HDF5, unreadable
        raise DataError(
            f"{path} cannot be read as HDF5 ({err}); it may be truncated or not an h5 file: re-create or remove it"
        ) from err


def _check_depth_values(depth: np.ndarray, where: str) -> None:
    if np.isnan(depth).any():
        raise DataError(
            f"{where}: depth holds NaN; store invalid pixels as 0, e.g. depth[np.isnan(depth)] = 0"
        )
    if (depth < 0).any():
        raise DataError(
            f"{where}: depth holds negative values (min {np.nanmin(depth):.3g}); depth is metres >= 0, 0 = invalid"
        )


def index_file(path: str | Path, value_budget: int = 0) -> tuple[list[FrameRef], int]:
    """The frames of one file, validated from keys, dtypes and shapes.

    Depth values (NaN, negative) are checked too when the file's depth takes at most `value_budget`
    bytes; returns the frames and the bytes so checked.
    """
    with _open(path) as f:
        missing = [k for k in ("rgb", "depth") if not isinstance(f.get(k), h5py.Dataset)]
        if missing:
            raise DataError(
                f"{path} has no dataset {' / '.join(missing)} (it has keys {sorted(f.keys())}); expected {_LAYOUT}"
            )
        rgb, depth = f["rgb"], f["depth"]
        if rgb.dtype != np.uint8:
            raise DataError(
                f"{path}: rgb is {rgb.dtype}, expected uint8 0..255; convert with (rgb * 255).round().astype('uint8') if it is [0,1]"
            )
        if not np.issubdtype(depth.dtype, np.floating):
            raise DataError(
                f"{path}: depth is {depth.dtype}, expected float32 metres; e.g. a uint16 millimetre map: depth / 1000"
            )
        if rgb.ndim not in (3, 4) or rgb.shape[-3] != 3:
            raise DataError(
                f"{path}: rgb has shape {rgb.shape}, expected [3,H,W] or [N,3,H,W] (channels first)"
            )
        expected = rgb.shape[:-3] + rgb.shape[-2:]  # [N,H,W] or [H,W]
        if depth.shape != expected:
            raise DataError(
                f"{path}: depth has shape {depth.shape} but rgb {rgb.shape}: depth must be [{','.join(map(str, expected))}]"
            )
        if 0 in rgb.shape:
            raise DataError(f"{path}: empty frame(s), rgb shape {rgb.shape}; remove the file")
        nbytes = depth.size * depth.dtype.itemsize
        checked = nbytes if nbytes <= value_budget else 0
        if checked:
            _check_depth_values(depth[()], str(path))
        h, w = rgb.shape[-2:]
        if rgb.ndim == 4:  # chunked
            return [FrameRef(str(path), i, h, w) for i in range(rgb.shape[0])], checked
        return [FrameRef(str(path), None, h, w)], checked


def index_files(files: Sequence[str | Path]) -> list[FrameRef]:
    """Every frame of every file; depth values are checked at once while that stays cheap."""
    frames, budget = [], _VALUE_CHECK_BUDGET
    for path in files:
        file_frames, checked = index_file(path, value_budget=budget)
        frames += file_frames
        budget -= checked
    return frames


class H5DepthDataset(Dataset):
    """Samples {rgb [3,H,W], depth [1,H,W], mask, sparse, sparse_mask} from NYU-layout h5 files.

    train: random crop + augmentation + random sparse input, a new draw each epoch (`set_epoch`);
    otherwise centre crop and a sparse input fixed per index. `select` keeps some frames of the index
    (a train/val split); `index` reuses an index built by `index_files` so shapes are read only once.
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        *,
        height: int,
        width: int,
        train: bool = False,
        seed: int = 0,
        sparse_input: bool = False,
        augment: Mapping | None = None,
        resize: str = "crop",
        select: Sequence[int] | None = None,
        index: Sequence[FrameRef] | None = None,
        min_depth: float = DataConfig.min_depth,
        max_depth: float = DataConfig.max_depth,
        eigen_crop: bool = False,
        mask_depth_range: bool = False,
    ) -> None:
        if resize not in transforms.RESIZE_MODES:
            raise DataError(f"data.resize={resize!r} is not supported; use one of {transforms.RESIZE_MODES}")
        if height < 1 or width < 1:
            raise DataError(f"data.height / data.width must be positive, got {height} x {width}")
        frames = list(index) if index is not None else index_files(files)
        self.frames = [frames[i] for i in select] if select is not None else frames
        if not self.frames:
            raise DataError(f"no frames selected from {[str(f) for f in files]}")
        self.height, self.width, self.train, self.seed = int(height), int(width), bool(train), int(seed)
        self.sparse_input, self.augment, self.resize = bool(sparse_input), dict(augment or {}), resize
        # Carried for the trainer's metrics; the range also masks training when mask_depth_range is set.
        self.min_depth, self.max_depth, self.eigen_crop = float(min_depth), float(max_depth), bool(eigen_crop)
        # Depth Anything V2's training mask: gt in [min_depth, max_depth] only (data.mask_depth_range).
        self.mask_depth_range = bool(mask_depth_range)
        self.epoch = 0
        self._handles: OrderedDict[str, tuple[h5py.File, h5py.Dataset, h5py.Dataset]] = OrderedDict()
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        files = len({f.path for f in self.frames})
        return f"H5DepthDataset({len(self)} frames from {files} file(s), {self.height}x{self.width}, train={self.train})"

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"] = OrderedDict()  # h5py objects cannot be pickled (spawn workers, DDP)
        return state

    def _datasets(self, path: str) -> tuple[h5py.Dataset, h5py.Dataset]:
        """(rgb, depth) of an open file; looking datasets up by name costs more than reading a small frame."""
        if self._pid != os.getpid():  # a forked worker: the parent's HDF5 handles are not safe to share
            self._handles, self._pid = OrderedDict(), os.getpid()
        entry = self._handles.get(path)
        if entry is None:
            f = _open(path)
            entry = self._handles[path] = (f, f["rgb"], f["depth"])
            if len(self._handles) > _MAX_OPEN_FILES:
                self._handles.popitem(last=False)[1][0].close()
        else:
            self._handles.move_to_end(path)
        return entry[1], entry[2]

    def rng(self, index: int) -> np.random.Generator:
        """The one source of randomness of sample `index`; validation ignores the epoch."""
        epoch = self.epoch if self.train else 0
        return np.random.default_rng([self.seed % 2**63, epoch, int(index), int(self.train)])

    def read_frame(
        self, index: int, box: tuple[int, int, int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw rgb uint8 [3,h,w] and depth [h,w] of a frame, or of the region `box` (top, left, h, w)."""
        ref = self.frames[index]
        where = ref.path if ref.index is None else f"{ref.path} (frame {ref.index})"
        top, left, h, w = box if box is not None else (0, 0, ref.height, ref.width)
        rgb_ds, depth_ds = self._datasets(ref.path)
        lead = () if ref.index is None else (ref.index,)
        try:
            rgb = rgb_ds[(*lead, slice(None), slice(top, top + h), slice(left, left + w))]
            # The whole depth frame is read so that a NaN is found whatever region is cropped.
            depth = depth_ds[lead]
        except (OSError, KeyError) as err:
            raise DataError(
                f"{where} could not be read ({err}); the file may be damaged: re-create or remove it"
            ) from err
        _check_depth_values(depth, where)
        return rgb, depth[top : top + h, left : left + w]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        ref, rng = self.frames[index], self.rng(index)
        box = transforms.crop_box(ref.height, ref.width, self.height, self.width, rng if self.train else None)
        rgb_raw, depth_raw = self.read_frame(index, box)
        # numpy until the end: see transforms for why not torch.
        rgb = transforms.resize_rgb(rgb_raw, self.height, self.width)
        depth = transforms.resize_depth(depth_raw, self.height, self.width)
        if self.train:
            rgb, depth = transforms.augment(rgb, depth, self.augment, rng)
        mask = depth > 0
        if self.mask_depth_range:
            mask &= (depth >= self.min_depth) & (depth <= self.max_depth)
        if self.sparse_input:
            sparse, sparse_mask, _ = simulate_sparse(depth, mask, rng)
        else:
            sparse, sparse_mask = np.zeros_like(depth), np.zeros_like(mask)
        sample = {"rgb": rgb, "depth": depth, "mask": mask, "sparse": sparse, "sparse_mask": sparse_mask}
        return {key: torch.from_numpy(value) for key, value in sample.items()}
