"""The config contract: the training config tree as typed dataclasses (the one validator is g2core.validate).

The YAML files under conf/ choose values; these classes say which keys exist, their types and ranges. A field
without a default must come from a YAML file; a field with one may be left out by a preset (the default is the
value the code assumes). The classes are registered in Hydra's ConfigStore (`g2_schema/train`), but compose
does not merge them: Hydra's own errors for struct configs are several lines and name no fix, so
`g2core.validate.validate_train_config` checks the composed tree against them and says in one line which key
is wrong. Plain dataclasses: importing this module imports neither torch nor the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from g2core.names import ADEPTH_MASKS, ALIGN_MODES, LOSS_VARIANTS


class ConfigError(ValueError):
    """A configuration value a user can fix; the message names the key."""


def rule(*, ge: float | None = None, gt: float | None = None, choices: Sequence = (), **kw: Any) -> Any:
    """A dataclass field with a range or a set of choices, checked by g2core.validate.check_node."""
    return field(metadata={"ge": ge, "gt": gt, "choices": tuple(choices)}, **kw)


# --- the tree --------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ModelConfig:
    # The architecture's own keyword arguments (features, levels, ...) are the registered constructor's
    # parameters (g2core.models): checked against its signature and its size rule, not listed here.
    name: str
    in_channels: int = rule(choices=(3, 5))


@dataclass(kw_only=True)
class LossConfig:
    weights: dict[str, float]  # checked by validate.check_loss: known terms, >= 0, at least one > 0
    variant: str = rule(choices=LOSS_VARIANTS)
    adepth_mask: str = rule(choices=ADEPTH_MASKS)
    # The user's own terms: name -> {_target_: package.module.function, ...} (g2core.losses.custom)
    custom_terms: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class DataConfig:
    """Keys every data source has; `name` picks the source's own keys (SOURCES)."""

    name: str = rule(choices=("synthetic", "h5"))
    height: int = rule(ge=1)
    width: int = rule(ge=1)
    batch_size: int = rule(ge=1)
    num_workers: int = rule(ge=0)
    persistent_workers: bool = False  # keep the loader processes across epochs (with num_workers > 0)
    min_depth: float = rule(ge=0)
    max_depth: float  # > min_depth: validate.validate_train_config
    resize: str = "crop"
    eigen_crop: bool = False
    # The training mask also drops ground truth outside [min_depth, max_depth] (Depth Anything V2's
    # max-depth mask); false: every gt > 0 is trained on (the metrics always use the range).
    mask_depth_range: bool = False
    augment: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class SyntheticData(DataConfig):
    root: str
    n_train: int  # ranges: checked where the cache is made (g2core.data.synthetic), with their own message
    n_val: int
    n_test: int = 256  # reported, never selected on; 0 = no test split
    scene_seed: int = 0
    gen_height: int | None = None  # null = height
    gen_width: int | None = None


@dataclass(kw_only=True)
class H5Data(DataConfig):
    root: str = field(metadata={"missing": "required for data=h5; pass data.root=/path/to/h5/folder"})
    val_root: str | None = None
    val_fraction: float = 0.2
    test_root: str | None = None
    test_fraction: float = 0.2  # of root, when no test_root; 0 = no test split


SOURCES: dict[str, type[DataConfig]] = {"synthetic": SyntheticData, "h5": H5Data}


@dataclass(kw_only=True)
class PluginData(DataConfig):
    """`data._target_: package.module.builder` (g2core.data.build): `name` is a label, the builder's own
    arguments are further keys (checked against its signature by validate.check_plugin_data)."""

    name: str


@dataclass(kw_only=True)
class SchedulerConfig:
    name: str = rule(choices=("step", "cosine", "poly", "none"))
    step_size: int = rule(ge=1)
    gamma: float = rule(gt=0)
    power: float = rule(ge=0)
    warmup_steps: int = rule(ge=0)


@dataclass(kw_only=True)
class OptimConfig:
    name: str = rule(choices=("adam", "adamw"))
    lr: float = rule(gt=0)
    betas: list[float]
    weight_decay: float = rule(ge=0)
    grad_clip: float = rule(ge=0)  # 0 disables clipping
    scheduler: SchedulerConfig
    no_decay_norm_and_bias: bool = True  # adamw: no decay for norms, biases and ReZero alphas
    # lr of everything but a pretrained encoder (model.encoder_prefixes), as a multiple of lr: 10 in Depth
    # Anything V2's fine-tuning (g2core.train.param_groups)
    head_lr_mult: float = rule(gt=0, default=1.0)


@dataclass(kw_only=True)
class TrainerConfig:
    max_epochs: int = rule(ge=1)
    val_interval: int = rule(ge=1)
    save_interval: int = rule(ge=1)
    log_every_n_steps: int = rule(ge=1)
    best_metric: str
    best_mode: str = rule(choices=("min", "max"))
    precision: str = rule(choices=("fp32", "bf16", "fp16"))
    device: str
    compile: bool
    channels_last: bool
    threads: int | None = rule(ge=1)
    progress: bool
    num_samples: int = rule(ge=0)
    align: str = rule(choices=ALIGN_MODES)
    run_dir: str | None
    resume: bool


@dataclass(kw_only=True)
class TrackingConfig:
    uri: str | None
    experiment: str
    run_name: str | None
    async_logging: bool
    system_metrics: bool
    log_checkpoints: str = rule(choices=("best", "all", "none"))
    parent_run_id: str | None
    tags: dict[str, Any]  # free: any tag a user or the study engine sets


@dataclass(kw_only=True)
class PathsConfig:
    root: str


@dataclass(kw_only=True)
class TrainConfig:
    model: ModelConfig
    loss: LossConfig
    data: DataConfig
    optim: OptimConfig
    trainer: TrainerConfig
    tracking: TrackingConfig
    paths: PathsConfig
    seed: int = rule(ge=0)
    variant: str
    study: dict[str, Any] | None = None  # conf/ablate.yaml: checked by g2core.study.load_spec
    hydra: dict[str, Any] | None = None


def register_schema() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="g2_schema", name="train", node=TrainConfig)
