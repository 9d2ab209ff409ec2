"""Depth networks: `build_model(name, **kwargs)` is the one way in.

Every model maps [B, in_channels, H, W] to a depth map [B, 1, H, W] and has `size_multiple`
(H and W must be multiples of it); `check_input_size` checks a size without running the model.
  _registry.py   name -> constructor, and each model's size rule as a pure function of its arguments
                 (input_multiple, model_params): g2core.validate checks a config without building a model
  _common.py     input checks and parameter counts;  g2_unet.py, g2_official.py  the architectures
Imports torch only: no config, MLflow or g2core module.
"""

from ._common import check_input_size, param_count
from ._registry import (
    build_model,
    input_multiple,
    list_models,
    model_params,
    register_model,
    register_size_rule,
)

# Importing the architecture modules registers their constructors (depth_anything_v2 imports transformers
# only when one is built).
from .depth_anything_v2 import DepthAnythingV2
from .g2_official import G2Official, load_official_state_dict
from .g2_unet import G2UNet

__all__ = [
    "DepthAnythingV2",
    "G2Official",
    "G2UNet",
    "build_model",
    "check_input_size",
    "input_multiple",
    "list_models",
    "load_official_state_dict",
    "model_params",
    "param_count",
    "register_model",
    "register_size_rule",
]
