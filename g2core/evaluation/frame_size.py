"""The size a checkpoint is evaluated at: each frame whole by default, and a line that says what was scored.

Training crops frames to data.height x data.width (64x64 for data=h5). Evaluating a folder of 480x640
frames at that size scored the centre 480x480 region shrunk to 64x64, without a word: a researcher expects
the whole frame. So `eval.size=frame` (the default) scores each frame at its own size, or the largest size
within it that the model takes (H and W multiples of its `size_multiple`: a centre crop of fewer than that
many pixels); `eval.size=data` keeps data.height x data.width, which experiments/evaluate.py picks when
the command line sets either of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from g2core.data.h5 import find_h5_files, index_file
from g2core.schema import EVAL_SIZES

FRAME, DATA = EVAL_SIZES  # eval.size, checked by g2core.validate.validate_evaluate_config


def _accepted(n: int, multiple: int) -> int:
    """The largest size <= n the model takes (at least one multiple: a smaller frame is scaled up)."""
    return max(multiple, n // multiple * multiple)


def _first_frame(data: Mapping[str, Any]) -> tuple[int, int]:
    root = data.get("test_root") or data.get("root")
    key = "data.test_root" if data.get("test_root") else "data.root"
    frames, _ = index_file(find_h5_files(root, key)[0])
    return frames[0].height, frames[0].width


def scored_frames(
    data: Mapping[str, Any], split: str, model: nn.Module, size: str
) -> tuple[dict[str, Any], str]:
    """(the data config to evaluate with, a line saying what each frame's score covers).

    Only a whole h5 folder (eval.split=all) has frames of their own size; synthetic scenes and the test / val
    splits are made at data.height x data.width, as training made them.
    """
    data = dict(data)
    height, width = int(data["height"]), int(data["width"])
    own_size = split == "all" and data.get("name") == "h5" and "_target_" not in data
    if not own_size:
        return data, f"{height}x{width} frames, as the data config makes them (data.height x data.width)"
    frame_h, frame_w = _first_frame(data)
    if size == FRAME:
        multiple = int(getattr(model, "size_multiple", 1))
        height, width = _accepted(frame_h, multiple), _accepted(frame_w, multiple)
        data.update(height=height, width=width)
        if (height, width) == (frame_h, frame_w):
            return data, f"each {frame_h}x{frame_w} frame whole (eval.size=frame)"
        return data, (
            f"a centre {height}x{width} crop of each {frame_h}x{frame_w} frame, the largest the model takes "
            f"(multiples of {multiple}; eval.size=frame)"
        )
    scale = max(height / frame_h, width / frame_w)  # as transforms.crop_box: the frame covers the size
    region_h, region_w = min(frame_h, round(height / scale)), min(frame_w, round(width / scale))
    if (region_h, region_w) == (frame_h, frame_w) and (height, width) == (frame_h, frame_w):
        return data, f"each {frame_h}x{frame_w} frame whole (data.height x data.width)"
    return data, (
        f"the centre {region_h}x{region_w} region of each {frame_h}x{frame_w} frame, resized to {height}x{width} "
        "(data.height x data.width; eval.size=frame scores the whole frame)"
    )
