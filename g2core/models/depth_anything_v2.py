"""Depth Anything V2 with its metric head, through Hugging Face `transformers` (the optional extra `.[hf]`).

A DINOv2 ViT encoder and a DPT neck and head (`DepthAnythingForDepthEstimation`); the metric head ends in
a sigmoid scaled by `max_depth` (done here, in float), so depth is in (0, max_depth) metres. The input is RGB in [0, 1] as the
data pipeline gives it; the ImageNet normalisation the encoder was trained with happens here. H and W must
be multiples of the patch size, 14; the output has the input's size.

Weights (`pretrained`: a local folder or a Hugging Face id) load only from disk or the Hugging Face cache,
never from the network. As Depth Anything V2's metric fine-tuning does (metric_depth/train.py keeps the
`pretrained.*` keys only), `pretrained_scope: encoder` takes only the encoder's weights and starts the
neck and head from scratch; `all` takes the whole checkpoint (to go on from a metric model).
`transformers` is imported only when a model is built, so the package runs without it.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from g2core.schema import ConfigError

from ._common import check_input
from ._registry import register_model, register_size_rule

PATCH_SIZE = 14
# What save_pretrained / `hf download` leave: one weights file, or the index of its shards.
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


# Depth Anything V2's encoder sizes (its metric_depth/train.py `model_configs`), as transformers spells
# them; `out_indices` are its intermediate_layer_idx plus one (stage 0 is the patch embedding). `tiny` is
# no published model: a few-layer, 32-wide net for tests and smoke runs.
class Encoder(NamedTuple):
    hidden: int
    layers: int
    heads: int
    out_indices: tuple[int, ...]
    neck: tuple[int, ...]
    fusion: int


ENCODERS: dict[str, Encoder] = {
    "vits": Encoder(384, 12, 6, (3, 6, 9, 12), (48, 96, 192, 384), 64),
    "vitb": Encoder(768, 12, 12, (3, 6, 9, 12), (96, 192, 384, 768), 128),
    "vitl": Encoder(1024, 24, 16, (5, 12, 18, 24), (256, 512, 1024, 1024), 256),
    "tiny": Encoder(32, 4, 2, (1, 2, 3, 4), (8, 16, 32, 32), 16),
}
SCOPES = ("encoder", "all")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_NO_EXTRA = "model=depth_anything_v2 needs Hugging Face transformers: pip install -e '.[hf]'"


def _validate(encoder: str, max_depth: float, in_channels: int, pretrained_scope: str) -> None:
    if encoder not in ENCODERS:
        raise ValueError(f"depth_anything_v2: model.encoder={encoder!r}; use one of {', '.join(ENCODERS)}")
    if isinstance(max_depth, bool) or not isinstance(max_depth, int | float) or max_depth <= 0:
        raise ValueError(
            f"depth_anything_v2: model.max_depth must be a number > 0 (metres), got {max_depth!r}"
        )
    if in_channels != 3:
        raise ValueError(
            f"depth_anything_v2: in_channels={in_channels!r}; the model takes RGB only, set model.in_channels=3"
        )
    if pretrained_scope not in SCOPES:
        raise ValueError(
            f"depth_anything_v2: model.pretrained_scope={pretrained_scope!r}; use encoder or all"
        )
    if importlib.util.find_spec("transformers") is None:
        raise ValueError(_NO_EXTRA)


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ConfigError(_NO_EXTRA) from None
    return transformers


def _random_init(encoder: str):
    tf = _transformers()
    spec = ENCODERS[encoder]
    backbone = tf.Dinov2Config(
        hidden_size=spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        patch_size=PATCH_SIZE,
        image_size=518 if encoder != "tiny" else 4 * PATCH_SIZE,
        out_indices=list(spec.out_indices),
        reshape_hidden_states=False,
    )
    config = tf.DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=PATCH_SIZE,
        reassemble_hidden_size=spec.hidden,
        neck_hidden_sizes=list(spec.neck),
        fusion_hidden_size=spec.fusion,
        depth_estimation_type="metric",
        max_depth=1,  # the sigmoid alone: DepthAnythingV2 scales it (transformers 5 takes an int here)
    )
    return tf.DepthAnythingForDepthEstimation(config)


def _is_folder(pretrained: str) -> bool:
    """A local folder, not a Hugging Face id (`org/name`)."""
    path = Path(pretrained).expanduser()
    return path.exists() or pretrained.startswith(("/", ".", "~")) or pretrained.count("/") != 1


def _no_weights(pretrained: str) -> ConfigError:
    if _is_folder(pretrained):
        where = "that folder" if Path(pretrained).expanduser().exists() else "a folder that does not exist"
        return ConfigError(
            f"model.pretrained={pretrained!r}: no Depth Anything weights in {where}; give a folder written by "
            "save_pretrained / `hf download <id> --local-dir DIR`, or set model.pretrained=null"
        )
    return ConfigError(
        f"model.pretrained={pretrained!r}: not in the Hugging Face cache (nothing is downloaded at run time); "
        f"get it once with `hf download {pretrained}`, or set model.pretrained=null"
    )


def _check_weights(pretrained: str) -> None:
    """The weights are on this disk: checked with the config, before a run is created (building the model
    would find out only after, leaving a FAILED run behind). Reads file names only, loads nothing."""
    if _is_folder(pretrained):
        folder = Path(pretrained).expanduser()
        if (folder / "config.json").is_file() and any((folder / w).is_file() for w in WEIGHT_FILES):
            return
        raise _no_weights(pretrained)
    from huggingface_hub import try_to_load_from_cache  # a dependency of transformers, checked above

    def cached(name: str) -> bool:
        return isinstance(try_to_load_from_cache(pretrained, name), str)

    if not (cached("config.json") and any(cached(w) for w in WEIGHT_FILES)):
        raise _no_weights(pretrained)


def _load(pretrained: str, encoder: str, scope: str):
    """From a local folder or the Hugging Face cache only; the metric head whatever the checkpoint's head."""
    tf = _transformers()
    try:
        net = tf.DepthAnythingForDepthEstimation.from_pretrained(
            pretrained, local_files_only=True, depth_estimation_type="metric", max_depth=1
        )
    except OSError:
        raise _no_weights(pretrained) from None
    hidden = net.config.backbone_config.hidden_size
    if hidden != ENCODERS[encoder].hidden:
        raise ConfigError(
            f"model.pretrained={pretrained!r} has a {hidden}-wide encoder, not model.encoder={encoder}'s "
            f"{ENCODERS[encoder].hidden}; set model.encoder to the checkpoint's size"
        )
    if scope == "encoder":  # a fresh neck and head on the checkpoint's encoder, as the DA2 recipe starts
        fresh = tf.DepthAnythingForDepthEstimation(net.config)
        fresh.backbone.load_state_dict(net.backbone.state_dict())
        net = fresh
    return net


class DepthAnythingV2(nn.Module):
    """[B,3,H,W] RGB in [0,1] -> metric depth [B,1,H,W] in (0, max_depth)."""

    model_name = "depth_anything_v2"
    # Parameters under these prefixes are the pretrained encoder; the rest (neck, head) is the "head" that
    # optim.head_lr_mult speeds up (g2core.train.param_groups).
    encoder_prefixes = ("net.backbone.",)

    def __init__(self, net: nn.Module, max_depth: float) -> None:
        super().__init__()
        self.net = net
        self.in_channels = 3
        self.size_multiple = PATCH_SIZE
        self.max_depth = float(max_depth)
        # Not persistent: constants, kept out of checkpoints.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x)
        # The metric head's sigmoid, in (0, 1), times max_depth (the head's own max_depth is 1).
        unit = self.net(pixel_values=(x - self.mean) / self.std).predicted_depth
        return unit.unsqueeze(1) * self.max_depth


@register_model
def depth_anything_v2(
    encoder: str = "vits",
    max_depth: float = 10.0,
    pretrained: str | None = None,
    pretrained_scope: str = "encoder",
    in_channels: int = 3,
) -> DepthAnythingV2:
    _validate(encoder, max_depth, in_channels, pretrained_scope)
    net = _random_init(encoder) if pretrained is None else _load(str(pretrained), encoder, pretrained_scope)
    return DepthAnythingV2(net, max_depth)


@register_size_rule("depth_anything_v2")
def size_multiple(**kwargs: Any) -> int:
    """Checks the constructor's arguments (its signature and defaults, one place) and that the weights are on
    disk, building nothing; ViT patches are 14 pixels."""
    bound = inspect.signature(depth_anything_v2).bind(**kwargs)
    bound.apply_defaults()
    args = bound.arguments
    _validate(args["encoder"], args["max_depth"], args["in_channels"], args["pretrained_scope"])
    if args["pretrained"] is not None:
        _check_weights(str(args["pretrained"]))
    return PATCH_SIZE
