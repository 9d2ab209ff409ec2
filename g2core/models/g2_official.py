"""G2-MonoDepth's UNet as the published code builds it (DESIGN, "Model facts").

Module nesting and attribute names (`block`, `left`, `right`, `alpha`) follow the published code
so that its checkpoints load by name: `shared/reference/g2_official_params.json` lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice

import torch
from torch import nn

from ._common import check_in_channels, check_input, model_label
from ._registry import register_model, register_size_rule

# Channels from the outermost level (full resolution) to the innermost (1/64 resolution).
OFFICIAL_WIDTHS = (64, 128, 256, 512, 512, 512, 512)
NEGATIVE_SLOPE = 0.2


class Bottleneck(nn.Module):
    """Pre-activation ReZero bottleneck: c -> c/4 (1x1) -> c/4 (3x3) -> out (1x1).

    The published code opens `left` with LeakyReLU(inplace=True), which also rewrites the block's
    input before the shortcut reads it: the block computes alpha * F(lrelu(x)) + shortcut(lrelu(x)).
    We reproduce that out of place (in-place on an input autograd may still need is fragile).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = in_channels // 4
        self.alpha = nn.Parameter(torch.zeros(()))  # ReZero: every block starts as the shortcut
        self.left = nn.Sequential(
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.Conv2d(in_channels, mid, 1),
            nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True),  # in place is safe on a fresh conv output
            nn.Conv2d(mid, mid, 3, padding=1),
            nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True),
            nn.Conv2d(mid, out_channels, 1),
        )
        # None (not Identity) keeps `right.*` out of the state dict exactly as in the published model.
        self.right = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.left[0](x)
        branch = x
        for layer in islice(self.left, 1, None):
            branch = layer(branch)
        shortcut = x if self.right is None else self.right(x)
        return self.alpha * branch + shortcut


class StackedBottleneck(nn.Module):
    """Three bottlenecks; only the first changes the width."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Bottleneck(in_channels, out_channels),
            Bottleneck(out_channels, out_channels),
            Bottleneck(out_channels, out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Level(nn.Module):
    """One UNet level: stride-2 conv -> stack -> [inner level -> stack] -> nearest upsample x2.

    The level returns cat(input, output), so it doubles its input's channels; the decoder stack
    therefore maps the inner level's 2*mid channels back to this level's input width.
    """

    def __init__(self, in_channels: int, mid_channels: int, inner: Level | None) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, mid_channels, 3, stride=2, padding=1),
            StackedBottleneck(mid_channels, mid_channels),
        ]
        if inner is not None:
            layers += [inner, StackedBottleneck(2 * mid_channels, in_channels)]
        layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.block(x)), dim=1)


class G2Official(nn.Module):
    """The published G2-MonoDepth network: 18,161,672 parameters at 5 input channels."""

    model_name = "g2_official"

    def __init__(self, in_channels: int = 5) -> None:
        super().__init__()
        self.size_multiple = size_multiple(in_channels)
        self.in_channels = in_channels
        widths = OFFICIAL_WIDTHS
        # Build from the innermost level outwards; each level wraps the previous one.
        level: Level | None = None
        for outer, inner in reversed(list(zip(widths[:-1], widths[1:], strict=True))):
            level = Level(outer, inner, level)
        stem = widths[0]
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, padding=1),
            StackedBottleneck(stem, stem),
            level,
            StackedBottleneck(2 * stem, stem),
            nn.Conv2d(stem, 1, 3, padding=1),  # no activation: the published head is linear
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=NEGATIVE_SLOPE)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x)
        return self.block(x)


# Wrappers that training scripts put around a model and that prefix every parameter name.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_CHECKPOINT_KEYS = ("state_dict", "model")


def _unwrap_state_dict(state_dict: Mapping[str, object]) -> dict[str, torch.Tensor]:
    for key in _CHECKPOINT_KEYS:
        inner = state_dict.get(key)
        if isinstance(inner, Mapping):
            state_dict = inner
            break
    cleaned: dict[str, torch.Tensor] = {}
    for name, value in state_dict.items():
        for prefix in _WRAPPER_PREFIXES:
            while name.startswith(prefix):  # DataParallel inside torch.compile nests both
                name = name[len(prefix) :]
        cleaned[name] = value  # type: ignore[assignment]
    return cleaned


def _preview(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def load_official_state_dict(model: nn.Module, state_dict: Mapping[str, object]) -> None:
    """Load a published G2-MonoDepth checkpoint (or its state dict) into `model`, strictly.

    Accepts a raw state dict or a checkpoint dict holding it under 'state_dict' or 'model', and
    strips DataParallel's 'module.' prefix. Any missing, unexpected or mis-shaped tensor raises a
    ValueError that names them, before anything is copied.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"expected a state dict (a mapping), got {type(state_dict).__name__}")
    incoming = _unwrap_state_dict(state_dict)
    expected = model.state_dict()
    missing = [n for n in expected if n not in incoming]
    unexpected = [n for n in incoming if n not in expected]
    mismatched = [
        f"{n} (checkpoint {list(getattr(incoming[n], 'shape', []))} vs model {list(t.shape)})"
        for n, t in expected.items()
        if n in incoming and tuple(getattr(incoming[n], "shape", ())) != tuple(t.shape)
    ]
    found = {"missing": missing, "unexpected": unexpected, "with another shape": mismatched}
    problems = [f"{len(names)} {what}: {_preview(names)}" for what, names in found.items() if names]
    if problems:
        raise ValueError(
            f"state dict does not match {model_label(model)}: "
            + "; ".join(problems)
            + ". Is it a checkpoint of another architecture (e.g. a two-branch variant)?"
        )
    model.load_state_dict(incoming, strict=True)


@register_size_rule("g2_official")
def size_multiple(in_channels: int = 5) -> int:
    """Checks the arguments; one stride-2 conv per level below the stem: 64."""
    check_in_channels(in_channels, G2Official.model_name)
    return 2 ** (len(OFFICIAL_WIDTHS) - 1)


@register_model
def g2_official(in_channels: int = 5) -> G2Official:
    return G2Official(in_channels=in_channels)
