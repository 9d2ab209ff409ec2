"""The speed levers change the arithmetic's order only: the same loss curve as eager fp32 over 50 steps.

`trainer.channels_last` and `trainer.compile` are what benchmarks/speed_levers.py times; here they are held to
the numerics a researcher relies on when switching them on. Each side builds the model, the composite loss
and Adam from the real config the way the trainer does (g2core.train.setup.compiled for compile).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from g2core.config import compose
from g2core.losses import create_loss
from g2core.models import build_model
from g2core.train.setup import compiled

STEPS = 50
RTOL = 1e-4
TINY = ("model.features=8", "model.levels=3", "data.height=32", "data.width=32")


def _loss_curve(overrides: tuple[str, ...], channels_last: bool, compile_: bool) -> list[float]:
    cfg = compose(list(overrides))
    torch.manual_seed(0)
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if k != "name"}
    model = build_model(cfg.model.name, **kwargs)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = compiled(model, torch.device("cpu")) if compile_ else model
    loss_fn = create_loss(cfg.loss)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr)
    gen = torch.Generator().manual_seed(1)
    shape = (4, 1, cfg.data.height, cfg.data.width)
    depth = 0.5 + 4 * torch.rand(shape, generator=gen)
    mask = torch.rand(shape, generator=gen) > 0.1
    x = torch.cat([torch.rand((4, 3, *shape[2:]), generator=gen), depth * mask, mask.float()], dim=1)
    x = x[:, : cfg.model.in_channels]  # RGB (+ sparse depth and its mask for a 5-channel model)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    curve = []
    for _ in range(STEPS):
        total, _ = loss_fn(net(x), depth, mask, mask)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        curve.append(total.item())
    return curve


def _assert_same_curve(eager: list[float], other: list[float]) -> None:
    worst = max(abs(a - b) / abs(a) for a, b in zip(eager, other, strict=True))
    assert worst <= RTOL, f"loss curves differ by {worst:.2e} relative (allowed {RTOL:.0e})"


def test_channels_last_keeps_the_loss_curve() -> None:
    eager = _loss_curve(TINY, channels_last=False, compile_=False)
    assert eager[-1] < eager[0]  # the curve compared is a learning one
    _assert_same_curve(eager, _loss_curve(TINY, channels_last=True, compile_=False))


@pytest.mark.slow
def test_compile_keeps_the_loss_curve() -> None:
    # Two levels: every block type of the model (inductor's compile time grows with the graph, not the steps)
    two_levels = (*TINY, "model.levels=2")
    eager = _loss_curve(two_levels, channels_last=False, compile_=False)
    _assert_same_curve(eager, _loss_curve(two_levels, channels_last=False, compile_=True))


def test_compile_without_a_compiler_runs_eager_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no g++, c++ or clang++
    monkeypatch.delenv("CXX", raising=False)
    model = torch.nn.Conv2d(3, 3, 1)
    with caplog.at_level(logging.WARNING):
        net = compiled(model, torch.device("cpu"))
    assert net is model
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "trainer.compile=true" in warnings[0] and "running eager" in warnings[0]
