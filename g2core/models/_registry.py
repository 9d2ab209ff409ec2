"""The model registry: one way in (`build_model`), timm style.

Architecture files end in tiny constructors decorated with `@register_model`; the
constructor's function name is the name configs use (`model.name`). A model of the user's own module
needs no registration: `model._target_: package.module.constructor` (then `model.name` is only its
label), and `build_model` calls that constructor with the node's other keys (g2core.plugins).

The forward contract, for registered and `_target_` models alike: the constructor takes `in_channels`
(3 = RGB, 5 = RGB + sparse depth + its validity mask) and returns an nn.Module whose forward maps a float
[B, in_channels, H, W] batch to a depth map [B, 1, H, W] in metres (positive where valid); an optional
int attribute `size_multiple` says what H and W must be multiples of (1 when absent).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

from torch import nn

from g2core.plugins import TARGET, import_target

ModelFn = TypeVar("ModelFn", bound=Callable[..., nn.Module])

# The only global state of the package: name -> constructor.
_MODEL_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
# name -> the model's input size rule: a pure function of the constructor's arguments (config checks use it).
_SIZE_RULES: dict[str, Callable[..., int]] = {}


def register_model(fn: ModelFn) -> ModelFn:
    """Register `fn` under its own name; a second model with the same name is a bug."""
    name = fn.__name__
    if name in _MODEL_REGISTRY and _MODEL_REGISTRY[name] is not fn:
        raise ValueError(f"model {name!r} is registered twice ({_MODEL_REGISTRY[name]} and {fn})")
    _MODEL_REGISTRY[name] = fn
    return fn


def list_models() -> list[str]:
    """Names accepted by `build_model`, sorted."""
    return sorted(_MODEL_REGISTRY)


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Build the registered model `name` with the constructor's keyword arguments, or, given
    `_target_=package.module.constructor`, that constructor (then `name` is only the model's label)."""
    if TARGET in kwargs:
        return _build_target(name, str(kwargs.pop(TARGET)), kwargs)
    if name not in _MODEL_REGISTRY:
        raise ValueError(
            f"unknown model {name!r}; registered models: {', '.join(list_models())} "
            "(set model.name to one of them)"
        )
    return _MODEL_REGISTRY[name](**kwargs)


def _build_target(name: str, target: str, kwargs: dict[str, object]) -> nn.Module:
    model = import_target(target, f"model.{TARGET}")(**kwargs)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model.{TARGET}={target} returned {type(model).__name__}, not a torch.nn.Module")
    if not hasattr(model, "model_name"):  # errors about the input name the config's label
        model.model_name = name
    return model


def register_size_rule(name: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Register what H and W of model `name` must be multiples of, computed from its arguments alone."""

    def register(rule: Callable[..., int]) -> Callable[..., int]:
        _SIZE_RULES[name] = rule
        return rule

    return register


def model_params(name: str) -> list[str]:
    """The keyword arguments `build_model(name, ...)` takes: the keys its `model` config may hold."""
    return list(inspect.signature(_MODEL_REGISTRY[name]).parameters)


def input_multiple(name: str, **kwargs: object) -> int:
    """H and W must be multiples of this for `build_model(name, **kwargs)`; checks the arguments, builds nothing."""
    return _SIZE_RULES[name](**kwargs)
