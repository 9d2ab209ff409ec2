"""G2-MonoDepth's UNet as the project's original design documents describe it.

Levels 0..L-1 with widths min(features * 2**i, features * 8). Level 0 is the stem (conv3x3 +
LayerNorm + GELU) at full resolution, every deeper level a stride-2 conv3x3; each level then runs
3 ReZero bottlenecks. The decoder mirrors it: per level a 1x1 conv to the skip's width, nearest
upsampling, an additive skip and 3 ReZero bottlenecks. Head: conv3x3 + ReLU (depth is >= 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_in_channels, check_input
from ._registry import register_model, register_size_rule


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor.

    Permuting to NHWC and calling the fused kernel is the fast form on CPU: a hand-written
    mean/var version is 2.4x slower and takes 1.7x the memory, and GroupNorm(1) normalises over
    C, H and W together, which is another operation (DESIGN, "Model facts").
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ReZeroBottleneck(nn.Module):
    """x + alpha * F(x), F = 1x1 expand x2 -> depthwise 3x3 -> 1x1 project, LayerNorm after each."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = 2 * channels
        self.branch = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            LayerNorm2d(hidden),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden),
            LayerNorm2d(hidden),
            nn.GELU(),
            nn.Conv2d(hidden, channels, 1),
            LayerNorm2d(channels),
        )
        # ReZero: alpha = 0 makes every block the identity at init, so depth costs no stability.
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.alpha * self.branch(x)


def _stack(channels: int, depth: int = 3) -> nn.Sequential:
    return nn.Sequential(*(ReZeroBottleneck(channels) for _ in range(depth)))


class DecoderLevel(nn.Module):
    """Bring the deeper features to the skip's width and resolution, add the skip, refine."""

    def __init__(self, deep_channels: int, skip_channels: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(deep_channels, skip_channels, 1)
        self.blocks = _stack(skip_channels)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # A 1x1 conv commutes with nearest upsampling, so projecting first gives the same result
        # as "upsample, then 1x1 conv" at a quarter of the cost.
        up = F.interpolate(self.project(deep), scale_factor=2.0, mode="nearest")
        return self.blocks(up + skip)


class G2UNet(nn.Module):
    model_name = "g2_unet"

    def __init__(self, levels: int = 7, features: int = 64, in_channels: int = 5) -> None:
        super().__init__()
        self.size_multiple = size_multiple(levels, features, in_channels)
        self.in_channels = in_channels
        self.levels = levels
        self.features = features
        widths = [min(features * 2**i, features * 8) for i in range(levels)]
        self.widths = widths

        stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1), LayerNorm2d(widths[0]), nn.GELU()
        )
        self.encoder = nn.ModuleList([nn.Sequential(stem, _stack(widths[0]))])
        for prev, cur in zip(widths[:-1], widths[1:], strict=True):
            down = nn.Conv2d(prev, cur, 3, stride=2, padding=1)
            self.encoder.append(nn.Sequential(down, _stack(cur)))
        # Ordered from the deepest level up, the order forward visits them.
        self.decoder = nn.ModuleList(DecoderLevel(widths[i], widths[i - 1]) for i in range(levels - 1, 0, -1))
        self.head = nn.Sequential(nn.Conv2d(widths[0], 1, 3, padding=1), nn.ReLU())
        self._init_weights()

    def _init_weights(self) -> None:
        # With every alpha at 0 the network is linear at init from the stem's GELU to the head:
        # std 1/sqrt(fan_in) keeps the activation scale along that path instead of letting it
        # grow per level (the branch convs are each followed by LayerNorm, so scale is moot there).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
                nn.init.zeros_(m.bias)
        # Depth targets are positive metres and a ReLU gives zero gradient where it is off. A head
        # bias of 1 with a 10x smaller head weight starts every pixel at about 1 m, in the ReLU's
        # linear regime; with bias 0, or the full-size weight, 10-50% of the pixels start dead.
        head = self.head[0]
        nn.init.constant_(head.bias, 1.0)
        with torch.no_grad():
            head.weight.mul_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x)
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        x = skips.pop()
        for level, skip in zip(self.decoder, reversed(skips), strict=True):
            x = level(x, skip)
        return self.head(x)


def _validate(levels: int, features: int) -> None:
    # bool is an int subclass; `levels=True` is a config mistake, not 1 level.
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise ValueError(f"g2_unet: model.levels must be an integer >= 2, got {levels!r}")
    if isinstance(features, bool) or not isinstance(features, int) or features < 1:
        raise ValueError(f"g2_unet: model.features must be an integer >= 1, got {features!r}")


@register_size_rule("g2_unet")
def size_multiple(levels: int = 7, features: int = 64, in_channels: int = 5) -> int:
    """Checks the arguments; one stride-2 conv per level below the first."""
    _validate(levels, features)
    check_in_channels(in_channels, G2UNet.model_name)
    return 2 ** (levels - 1)


@register_model
def g2_unet(levels: int = 7, features: int = 64, in_channels: int = 5) -> G2UNet:
    return G2UNet(levels=levels, features=features, in_channels=in_channels)
