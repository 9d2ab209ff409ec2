"""The arithmetic side of `flop_bound`: how many FLOPs a step, a run and a study need, and how fast this machine
does dense arithmetic (a square matmul and a 64-channel 3x3 conv, GFLOP/s from the median of timed calls).

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` (matmul and conv FLOPs; elementwise ops,
norms and the optimiser are not counted), with the backward of grouped convs corrected: the model on the meta device (shapes only, so even the paper model
costs no arithmetic to count), the composite loss on real tensors of the prediction's shape.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from g2core.config import compose
from g2core.losses import create_loss
from g2core.models import build_model

MATMUL_N = 2048
CONV_SHAPE = (8, 64, 64, 64)  # N, C, H, W of the 64-channel 3x3 conv


def _conv_backward_flop(
    grad_out_shape,
    x_shape,
    w_shape,
    _bias,
    _stride,
    _padding,
    _dilation,
    transposed,
    _pad,
    _groups,
    mask,
    **_,
) -> int:
    """A conv's backward: grad_input and grad_weight each cost the forward's FLOPs.

    torch's own formula (2.13) counts grad_weight of a grouped conv as if it were dense, `groups` times too
    much (256x for the model's depthwise 3x3 convs): a step's count came out 3.2x too high at the default
    scale (4.54 GFLOP instead of 1.42) and 3.5x for the paper model.
    """
    forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
    return forward * (bool(mask[0]) + bool(mask[1]))


def counter() -> FlopCounterMode:
    """FlopCounterMode with the grouped-conv backward counted right."""
    return FlopCounterMode(
        display=False, custom_mapping={torch.ops.aten.convolution_backward: _conv_backward_flop}
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _rate(fn: Callable[[], object], flops: int, device: torch.device, reps: int) -> float:
    """GFLOP/s of `fn` from the median of `reps` timed calls, after one untimed call."""
    fn()
    sync(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return flops / statistics.median(times) / 1e9


def matmul_rate(device: torch.device, dtype: torch.dtype, reps: int) -> float:
    a, b = (torch.randn(MATMUL_N, MATMUL_N, device=device, dtype=dtype) for _ in range(2))
    return _rate(lambda: a @ b, 2 * MATMUL_N**3, device, reps)


def conv_rate(device: torch.device, dtype: torch.dtype, reps: int) -> float:
    n, c, h, w = CONV_SHAPE
    x = torch.randn(CONV_SHAPE, device=device, dtype=dtype)
    weight = torch.randn(c, c, 3, 3, device=device, dtype=dtype)
    return _rate(lambda: F.conv2d(x, weight, padding=1), 2 * n * c * h * w * c * 9, device, reps)


def model_from(cfg: DictConfig) -> torch.nn.Module:
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if k != "name"}
    return build_model(cfg.model.name, **kwargs)


def targets(cfg: DictConfig, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    b, h, w = cfg.data.batch_size, cfg.data.height, cfg.data.width
    gt = 0.5 + 9 * torch.rand(b, 1, h, w, device=device)
    return gt, torch.ones_like(gt, dtype=torch.bool)


@functools.cache
def _model_flops(model: tuple[tuple[str, object], ...], shape: tuple[int, ...], backward: bool) -> int:
    """The model's FLOPs on the meta device: shapes only, no arithmetic (cached: variants share the model)."""
    kwargs = dict(model)
    with torch.device("meta"):
        net = build_model(kwargs.pop("name"), **kwargs).train(backward)
    x = torch.empty(shape, device="meta")
    with counter() as flops, torch.set_grad_enabled(backward):
        out = net(x)
        if backward:
            out.backward(torch.ones_like(out))
    return int(flops.get_total_flops())


def count_flops(cfg: DictConfig, backward: bool) -> int:
    """FLOPs of one batch of `cfg`: model (meta device) + composite loss (real tensors, its own recipe)."""
    model = tuple(sorted(OmegaConf.to_container(cfg.model).items()))
    shape = (cfg.data.batch_size, cfg.model.in_channels, cfg.data.height, cfg.data.width)
    gt, mask = targets(cfg)
    pred = (0.5 + torch.rand_like(gt)).requires_grad_(backward)
    loss_fn = create_loss(cfg.loss)
    with counter() as flops, torch.set_grad_enabled(backward):
        total, _ = loss_fn(pred, gt, mask, mask)
        if backward:
            total.backward()
    return _model_flops(model, shape, backward) + int(flops.get_total_flops())


def run_flops(cfg: DictConfig) -> tuple[int, int]:
    """(training, evaluation) FLOPs of one whole run of `cfg` (synthetic data: its n_train/n_val/n_test)."""
    if cfg.data.name != "synthetic":
        raise ValueError(f"data={cfg.data.name}: the FLOP limit counts synthetic scenes (set data=synthetic)")
    data, trainer = cfg.data, cfg.trainer
    epochs = trainer.max_epochs
    steps = max(1, data.n_train // data.batch_size) * epochs
    validations = sum(1 for e in range(1, epochs + 1) if e % trainer.val_interval == 0 or e == epochs)
    images = validations * (data.n_val + min(trainer.num_samples, data.n_val)) + data.n_test
    return count_flops(cfg, True) * steps, count_flops(cfg, False) * images // data.batch_size


def study_flops(variants: tuple[str, ...], seeds: tuple[int, ...], overrides: list[str]) -> tuple[int, int]:
    """(training, evaluation) FLOPs of a whole study: every variant x seed (the seed changes no FLOP)."""
    per_variant = [run_flops(compose([f"experiment={v}", *overrides])) for v in variants]
    return (
        len(seeds) * sum(t for t, _ in per_variant),
        len(seeds) * sum(e for _, e in per_variant),
    )
