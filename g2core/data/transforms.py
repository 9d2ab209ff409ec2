"""Geometry (crop + resize to what the model takes) and photometric augmentation of one RGB-D frame.

Everything here is numpy (and Pillow for the antialiased RGB resize), not torch: torch parallelises
any op over more than ~32k elements with OpenMP, and on a busy 2-core machine those small parallel
ops stall for milliseconds each (a 480x640 frame took 76 ms instead of 8). Randomness always comes
from the numpy Generator passed in, never from global state, so a sample is a function of its
(seed, epoch, index) only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image

RESIZE_MODES = ("crop",)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32).reshape(3, 1, 1)


def crop_box(
    src_h: int, src_w: int, out_h: int, out_w: int, rng: np.random.Generator | None
) -> tuple[int, int, int, int]:
    """The source region (top, left, height, width) that becomes the out_h x out_w sample.

    'crop' mode: scale so that the frame covers out_h x out_w (the short side fits), then crop: the
    region is chosen in source pixels so that only it needs reading and resizing. A random position
    when `rng` is given (training), the centre otherwise (validation).
    """
    scale = max(out_h / src_h, out_w / src_w)
    h, w = min(src_h, max(1, round(out_h / scale))), min(src_w, max(1, round(out_w / scale)))
    if rng is None:
        return (src_h - h) // 2, (src_w - w) // 2, h, w
    return int(rng.integers(0, src_h - h + 1)), int(rng.integers(0, src_w - w + 1)), h, w


def resize_rgb(rgb: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """uint8 [3,h,w] -> float32 [3,out_h,out_w] in [0,1]; bilinear, antialiased when shrinking (Pillow's
    BILINEAR widens its filter by the shrink factor, as torch's antialias=True does)."""
    if rgb.shape[-2:] != (out_h, out_w):
        image = Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 2, 0)))
        rgb = np.asarray(image.resize((out_w, out_h), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    return rgb.astype(np.float32) * np.float32(1 / 255)


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    # Source pixel whose centre is nearest to each output pixel centre (torch's 'nearest-exact').
    return np.minimum(((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int64), n_in - 1)


def resize_depth(depth: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """float [h,w] metres -> float32 [1,out_h,out_w]; nearest, so holes stay holes and no depth is
    invented between a foreground and a background surface; non-finite values become 0 (invalid)."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != (out_h, out_w):
        depth = depth[np.ix_(_nearest_index(depth.shape[0], out_h), _nearest_index(depth.shape[1], out_w))]
    return np.where(np.isfinite(depth), depth, np.float32(0.0))[None]


def color_jitter(rgb: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation each scaled by U(1 - strength, 1 + strength)."""
    brightness, contrast, saturation = rng.uniform(1.0 - strength, 1.0 + strength, size=3).astype(np.float32)
    # The three steps folded into one affine map per pixel (the luma weights sum to 1), so a 448x640
    # frame is read twice instead of six times:
    #   bright = b·rgb;  contrasted = c·bright + (1 - c)·m, m = mean luma of bright;
    #   out = s·contrasted + (1 - s)·luma(contrasted) = b·c·s·rgb + b·c·(1 - s)·luma(rgb) + (1 - c)·m.
    luma = np.tensordot(_LUMA.reshape(3), rgb, axes=1)  # [H, W]
    mean = brightness * luma.mean(dtype=np.float32)
    offset = (brightness * contrast * (1 - saturation)) * luma + (1 - contrast) * mean
    out = rgb * (brightness * contrast * saturation)
    out += offset[None]
    return np.clip(out, 0.0, 1.0, out=out)


def augment(
    rgb: np.ndarray, depth: np.ndarray, cfg: Mapping, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Training augmentation from the `data.augment` node: hflip (bool), color_jitter and noise (floats).

    The same numbers are drawn whether or not an augmentation is enabled, so switching one off does
    not change the draws of the others, nor the sparse input drawn after them.
    """
    flip = rng.random() < 0.5
    jitter_rng, noise_rng = (np.random.default_rng(s) for s in rng.integers(2**63, size=2))
    if cfg.get("hflip", False) and flip:
        rgb, depth = rgb[..., ::-1], depth[..., ::-1]
    strength = float(cfg.get("color_jitter", 0.0) or 0.0)
    if strength > 0:
        rgb = color_jitter(rgb, strength, jitter_rng)
    sigma = float(cfg.get("noise", 0.0) or 0.0)
    if sigma > 0:
        rgb = np.clip(
            rgb + np.float32(sigma) * noise_rng.standard_normal(rgb.shape, dtype=np.float32), 0.0, 1.0
        )
    return np.ascontiguousarray(rgb, dtype=np.float32), np.ascontiguousarray(depth)
