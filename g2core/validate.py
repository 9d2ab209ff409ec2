"""The one validator: a composed config checked against g2core.schema, first bad key named in one line.

`validate_train_config` runs once per config before any data is generated or a run is created: in `train()`,
or for every trial of a study in its preflight (the worker then calls `train(..., validated=True)`).
`check_loss` is also what CompositeLoss runs on weights given directly; the checks of one key are g2core.checks.
Messages are the contract tests/test_bad_input.py pins:
each names the key and how to fix it. Builds nothing: the model's size rule comes from the registry, and torch
is imported only to ask whether CUDA is there.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from g2core.checks import check_keys, check_value, validate_experiment_name, validate_name
from g2core.names import ADEPTH_MASKS, LOSS_TERMS, LOSS_VARIANTS, VAL, is_term_name, metric_key, weight_param
from g2core.plugins import TARGET, accepted_params, has_target, import_target
from g2core.schema import (
    SOURCES,
    ConfigError,
    DataConfig,
    EvaluateConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    PathsConfig,
    PluginData,
    TrackingConfig,
    TrainConfig,
    TrainerConfig,
)


def check_node(node: Any, schema: type, prefix: str = "", extra: Sequence[str] = ()) -> None:
    """Keys, types and ranges of one config node against its dataclass (nested dataclasses recursively)."""
    if not isinstance(node, DictConfig):
        raise ConfigError(
            f"{prefix.rstrip('.')}: missing config group; check the defaults list in conf/train.yaml"
        )
    fields = {f.name: f for f in dataclasses.fields(schema)}
    check_keys(node, [*fields, *extra], prefix)
    hints = typing.get_type_hints(schema)
    for name, spec in fields.items():
        key = f"{prefix}{name}"
        if name not in node.keys():  # (`in` is False for a '???' value too)
            if spec.default is not dataclasses.MISSING or spec.default_factory is not dataclasses.MISSING:
                continue  # a key a preset may leave out
            if dataclasses.is_dataclass(hints[name]):
                raise ConfigError(f"{key}: missing config group; check the defaults list in conf/train.yaml")
            raise ConfigError(f"{key}: missing; set it in its conf/ file or on the command line ({key}=...)")
        if OmegaConf.is_missing(node, name):
            raise ConfigError(f"{key}: {spec.metadata.get('missing', 'required')}")
        if dataclasses.is_dataclass(hints[name]):
            check_node(node[name], hints[name], f"{key}.")
        else:
            check_value(key, node[name], hints[name], spec.metadata)


def check_loss(
    weights: Any, variant: str = "seed", adepth_mask: str = "gt", custom_terms: Any = None
) -> dict[str, float]:
    """loss.weights, loss.variant, loss.adepth_mask and loss.custom_terms; gives the weights as floats
    (CompositeLoss uses it). A declared term without a weight has weight 0."""
    terms = (*LOSS_TERMS, *check_custom_terms(custom_terms))
    known = ", ".join(terms)
    if not isinstance(weights, Mapping):
        raise ConfigError(f"loss.weights: expected a mapping term -> weight over {known}")
    checked: dict[str, float] = {}
    for term, weight in weights.items():
        if term not in terms:
            raise ConfigError(
                f"{weight_param(term)}: unknown loss term {term!r}; known terms: {known} "
                f"(declare your own as loss.custom_terms.{term}._target_=package.module.function)"
            )
        check_value(weight_param(term), weight, float, {"ge": 0})
        checked[term] = float(weight)
    if not any(value > 0 for value in checked.values()):
        raise ConfigError(
            f"loss.weights: every weight is zero (or none given): {dict(weights)!r}; "
            f"give at least one of {known} a positive weight"
        )
    check_value("loss.variant", variant, str, {"choices": LOSS_VARIANTS})
    check_value("loss.adepth_mask", adepth_mask, str, {"choices": ADEPTH_MASKS})
    return checked


def check_model(model: DictConfig, height: int, width: int) -> None:
    """model.name and the architecture's own arguments, and the input size rule, without building it."""
    from g2core.models import check_input_size, input_multiple, list_models, model_params

    if has_target(model):
        check_plugin_model(model, height, width)
        return
    if model.get("name") not in list_models():
        raise ConfigError(
            f"model.name={model.get('name')!r}: unknown model; available: {', '.join(list_models())}"
        )
    check_node(model, ModelConfig, "model.", extra=model_params(model.name))
    kwargs = {k: v for k, v in OmegaConf.to_container(model).items() if k != "name"}
    try:
        multiple = input_multiple(model.name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    try:  # the message check_input_size gives a built model, from a stand-in that only knows the rule
        check_input_size(types.SimpleNamespace(size_multiple=multiple, model_name=model.name), height, width)
    except ValueError as exc:
        raise ConfigError(f"model / data.height, data.width: {exc}") from None


# --- the user's own parts: `_target_` nodes (g2core.plugins), each target imported here, before training ---


def check_custom_terms(custom_terms: Any) -> list[str]:
    """loss.custom_terms: names fit for an MLflow key, not a built-in's, each `_target_` importable."""
    if custom_terms is None:
        return []
    if not isinstance(custom_terms, Mapping):
        raise ConfigError("loss.custom_terms: expected a mapping term -> {_target_: package.module.function}")
    for term, node in custom_terms.items():
        key = f"loss.custom_terms.{term}"
        if term in LOSS_TERMS:
            raise ConfigError(f"{key}: {term!r} is a built-in term; give your own term another name")
        if not is_term_name(str(term)):
            raise ConfigError(f"{key}: use lower-case letters, digits and '_' (it becomes train/loss_<term>)")
        if not isinstance(node, Mapping) or TARGET not in node:
            raise ConfigError(
                f"{key}.{TARGET}: missing; name the term's function, e.g. {key}.{TARGET}=mypkg.edge"
            )
        import_target(node[TARGET], f"{key}.{TARGET}")
    return [str(term) for term in custom_terms]


def check_plugin_model(model: DictConfig, height: int, width: int) -> None:
    """A `model._target_` constructor: importable, takes in_channels and the node's other keys."""
    target = import_target(model[TARGET], f"model.{TARGET}")
    validate_name(str(model.get("name", "")), "model.name")
    check_value("model.in_channels", model.get("in_channels"), int, {"choices": (3, 5)})
    named, takes_any = accepted_params(target)
    if not takes_any:
        check_keys(model, ["name", TARGET, *named], "model.")
        if "in_channels" not in named:
            raise ConfigError(
                f"model.{TARGET}={model[TARGET]}: the constructor must take in_channels (3 or 5)"
            )
    multiple = getattr(target, "size_multiple", 1)  # a class may state its size rule; else checked when built
    if isinstance(multiple, int) and multiple > 1 and (height % multiple or width % multiple):
        raise ConfigError(
            f"model / data.height, data.width: input {height}x{width}: H and W must be multiples of "
            f"{multiple} for {model.name}; set data.height/data.width accordingly"
        )


def check_plugin_data(data: DictConfig, prefix: str = "data.") -> None:
    """A `data._target_` builder: importable; the keys every source has, plus the builder's own."""
    target = import_target(data[TARGET], f"{prefix}{TARGET}")
    validate_name(str(data.get("name", "")), f"{prefix}name")
    named, takes_any = accepted_params(target)
    extra = [TARGET, *named] if not takes_any else [TARGET, *map(str, data.keys())]
    check_node(data, PluginData, prefix, extra=extra)


def check_data(data: Any, prefix: str = "data.") -> None:
    """A data node (a run's, an evaluation's, a study's test set at study.test_sets.<name>.): its source's keys,
    types and ranges, or a `_target_` builder's, and the depth range."""
    if has_target(data):
        check_plugin_data(data, prefix)
    else:
        check_node(data, SOURCES.get(data.get("name"), DataConfig), prefix)
    if data.max_depth <= data.min_depth:
        raise ConfigError(
            f"{prefix}max_depth={data.max_depth!r}: must be a number > {prefix}min_depth ({data.min_depth})"
        )


def check_device(device: str, precision: str) -> None:
    import torch

    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise ConfigError(f"trainer.device={device!r}: expected auto, cpu, cuda or cuda:N")
    cuda = torch.cuda.is_available()
    if device.startswith("cuda") and not cuda:
        raise ConfigError(
            f"trainer.device={device}: CUDA is not available on this machine; use trainer.device=cpu"
        )
    if precision == "fp16" and not (cuda and device != "cpu"):
        raise ConfigError("trainer.precision=fp16 needs a GPU; use trainer.precision=bf16 or fp32 on CPU")


def validate_train_config(cfg: DictConfig) -> None:
    """Check everything a training run needs before any data is generated or a run is created.

    Raises ConfigError naming the first bad key and how to fix it. Builds nothing: the model's size rule
    comes from the registry, so a study can check every variant in milliseconds.
    """
    # study: conf/ablate.yaml, checked by g2core.study.load_spec
    check_keys(cfg, [*(f.name for f in dataclasses.fields(TrainConfig)), "study", "hydra"], "")
    for name in ("model", "loss", "data", "optim", "trainer", "tracking", "paths"):
        if not isinstance(cfg.get(name), DictConfig):
            raise ConfigError(f"{name}: missing config group; check the defaults list in conf/train.yaml")
    validate_name(str(cfg.variant), "variant")
    check_value("seed", cfg.get("seed"), int, {"ge": 0})
    check_node(cfg.loss, LossConfig, "loss.")
    check_loss(cfg.loss.weights, cfg.loss.variant, cfg.loss.adepth_mask, cfg.loss.get("custom_terms"))
    check_data(cfg.data)
    check_node(cfg.optim, OptimConfig, "optim.")
    check_node(cfg.trainer, TrainerConfig, "trainer.")
    check_device(str(cfg.trainer.device), str(cfg.trainer.precision))
    if not cfg.trainer.best_metric.startswith(metric_key(VAL, "")):
        raise ConfigError(
            f"trainer.best_metric={cfg.trainer.best_metric!r}: expected a validation metric such as val/abs_rel"
        )
    check_model(cfg.model, cfg.data.height, cfg.data.width)
    check_node(cfg.tracking, TrackingConfig, "tracking.")
    validate_experiment_name(str(cfg.tracking.experiment))
    check_node(cfg.paths, PathsConfig, "paths.")


def validate_evaluate_config(cfg: DictConfig) -> None:
    """experiments/evaluate.py's config (conf/evaluate.yaml) against EvaluateConfig, its data node as a run's."""
    check_node(cfg, EvaluateConfig, extra=("hydra",))
    check_data(cfg.data)
    check_device(str(cfg.trainer.device), str(cfg.trainer.precision))
