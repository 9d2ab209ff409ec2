"""The config contract: the config trees as typed dataclasses (the one validator is g2core.validate).

The YAML files under conf/ choose values; these classes say which keys exist, their types, ranges and the
default of every key a preset may leave out. They are in the defaults lists (`g2_schema@_here_: train` in
conf/train.yaml, `/g2_schema/data/<source>@_here_` in conf/data/*.yaml, `/g2_schema/launcher/<name>@_here_`
in conf/study/launcher/*.yaml), so compose merges them: a key comes typed and defaulted, and a value of the
wrong type fails while composing (g2core.config turns Hydra's message into one line naming the key).
Open nodes stay mappings: `model` (its keys are the constructor's, checked against its signature), a
`data._target_` builder's node, `loss.custom_terms`, `tracking.tags`. Ranges, choices and the rules across
keys are g2core.validate's. Plain dataclasses: importing this module imports neither torch nor the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from g2core.names import ADEPTH_MASKS, ALIGN_MODES, LOSS_VARIANTS, VAL, metric_key


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
    # open: the built-in and the custom terms, each weight checked by validate.check_loss (>= 0, one > 0)
    weights: dict[str, Any]
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
    # The depth range in metres, the one place it is written: what the metrics count (and clamp to), and
    # with mask_depth_range what is trained on. NYU Depth V2's 10 m; > min_depth: validate.
    min_depth: float = rule(ge=0, default=1e-3)
    max_depth: float = 10.0
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
    val_root: str | None = None  # a separate validation folder; null: a fixed split of root by val_fraction
    val_fraction: float = 0.2
    test_root: str | None = None  # a separate test folder (what a study reports; nothing is selected on it)
    test_fraction: float = 0.2  # without test_root: a share of root, never in train or val; 0 = no test split


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
    model: dict[str, Any]  # open: ModelConfig and the constructor's parameters (validate.check_model)
    loss: LossConfig
    data: Any  # a SOURCES class (its conf/data file's defaults list), or a `_target_` builder's mapping
    optim: OptimConfig
    trainer: TrainerConfig
    tracking: TrackingConfig
    paths: PathsConfig
    seed: int = rule(ge=0)
    variant: str


# --- one checkpoint evaluated (conf/evaluate.yaml, experiments/evaluate.py): validate.validate_evaluate_config

EVAL_SPLITS = ("all", "test", "val")  # g2core.evaluation.dataset: all = a folder whole, test/val = its splits
EVAL_SIZES = ("frame", "data")  # g2core.evaluation.frame_size


@dataclass(kw_only=True)
class EvalConfig:
    dataset: str | None = None  # the name in eval/<dataset>/<metric>; null: the preset's, else the folder's
    # all: every frame (synthetic: its held-out test scenes); test / val: the data config's own split
    split: str = rule(choices=EVAL_SPLITS, default="all")
    # frame: each frame whole (or the largest centre crop the model takes); data: data.height x data.width
    size: str = rule(choices=EVAL_SIZES, default="frame")


@dataclass(kw_only=True)
class EvalTrainerConfig(TrainerConfig):
    align: str | None = rule(choices=ALIGN_MODES, default=None)  # null: as the checkpoint's run aligned


@dataclass(kw_only=True)
class EvaluateConfig:
    ckpt: str = field(
        metadata={
            "missing": "missing; pass ckpt=<run folder>/best.pt or ckpt=runs:/<run_id>/checkpoints/best.pt"
        }
    )
    data: Any  # as TrainConfig's
    trainer: EvalTrainerConfig
    tracking: TrackingConfig
    paths: PathsConfig
    eval: EvalConfig = field(default_factory=EvalConfig)


# --- a study (conf/ablate.yaml + conf/study/<name>.yaml): checked by g2core.study.load_spec ---------------


@dataclass(kw_only=True)
class LocalLauncher:
    name: str = "local"  # trials in study.workers processes on this machine


@dataclass(kw_only=True)
class RayResources:  # per Ray task (one trial at a time); cpu is also the trial's torch threads
    cpu: int = rule(ge=1, default=1)
    gpu: int = rule(ge=0, default=0)


@dataclass(kw_only=True)
class RayLauncher:
    name: str = "ray"
    address: str | None = None  # null: a local cluster for this study; auto; ray://host:10001; host:6379
    num_cpus: int | None = rule(ge=1, default=None)  # a local cluster's CPUs (null: all); not with an address
    resources: RayResources = field(default_factory=RayResources)


@dataclass(kw_only=True)
class SlurmLauncher:
    name: str = "slurm"
    # null: SLURM (sbatch); local: jobs as processes here (tests, a dry run); debug
    cluster: str | None = None
    partition: str | None = None  # null: the cluster's default partition
    account: str | None = None
    time_min: int = rule(ge=1, default=240)  # wall time per job; a job past it is checkpointed and requeued
    gpus: int = rule(ge=0, default=0)  # per job
    cpus: int = rule(ge=1, default=4)  # per job; also the trial's torch threads
    mem_gb: int | None = rule(ge=1, default=None)  # null: the partition's default
    max_requeue: int = rule(ge=0, default=3)  # preemptions / timeouts after which a job is not requeued
    folder: str | None = None  # submitit's job files and logs; null: <paths.root>/studies/<study.name>/slurm
    setup: list[str] = field(default_factory=list)  # shell lines run first in each job


LAUNCHERS: dict[str, type] = {"local": LocalLauncher, "ray": RayLauncher, "slurm": SlurmLauncher}


@dataclass(kw_only=True)
class StudyConfig:
    """Every key a `conf/study/*.yaml` may hold, with the default a study leaves out (README: Studies)."""

    name: str
    kind: str = "ablation"  # ablation | search
    # experiment presets; an ablation's first is its baseline
    variants: list[str] = field(default_factory=list)
    baseline: str = ""  # "" = the first variant
    # A list ([0, 1]): a fixed design, one look. auto: seeds until decided, first_seeds in the first round,
    # then one more a look for the undecided variants and the baseline, up to max_seeds (g2core.design)
    seeds: Any = field(default_factory=list)
    first_seeds: int = 2
    max_seeds: int = 3
    alpha: float = 0.05  # family-wise error of the primary verdicts
    equivalence_margin: float = 0.05  # 'equivalent' = within this share of the baseline mean (README: why 5%)
    alpha_spending: str = "obrien_fleming"  # seeds auto: obrien_fleming | pocock (g2core.design)
    # the metric that decides (best checkpoint, ranking, significance)
    metric: str = metric_key(VAL, "abs_rel")
    direction: str = "minimize"  # minimize | maximize
    overrides: list[str] = field(default_factory=list)  # applied to every trial, before the command line's
    workers: Any = 1  # or auto (conf/ablate.yaml: G2_STUDY_WORKERS, else auto)
    procs_per_trial: int = 1  # > 1: each trial is a torchrun DDP job of that many processes, one GPU each
    storage: str | None = None  # null: a journal under paths.root/studies/<name>/; postgresql+psycopg://...
    max_failures: int = 3  # stop the study when more trials than this have failed
    experiment: str = ""  # the MLflow experiment; "" = g2/<name>
    # search: Optuna proposes loss weights in search_space ({term: [low, high]}) on top of base_variant
    base_variant: str = "baseline"
    n_trials: int = 0
    search_space: dict[str, Any] = field(default_factory=dict)
    # search: two or more validation metrics searched together, each in its own direction; the first decides
    objectives: list[str] = field(default_factory=list)
    # search: its top confirm_top_k weight sets and base_variant trained again over seeds until decided
    confirm: bool = True
    confirm_top_k: int = 3
    # Extra datasets every trial's selected checkpoint is evaluated on after training (zero-shot transfer),
    # each a data config: {real: {root: DIR, height: 64, width: 64}}; the report adds a cross-dataset table.
    # Any and null: an override replaces the node whole (a typed {} refuses new keys and a list), and
    # g2core.study.test_sets names what is wrong in it.
    test_sets: Any = None
    pruner_warmup_epochs: int = rule(ge=0, default=1)  # search: no pruning before this many validations
    heartbeat_s: float = 20.0
    grace_s: float = 120.0
    launcher: Any = field(default_factory=lambda: {"name": "local"})  # a LAUNCHERS class: study/launcher=


@dataclass(kw_only=True)
class AblateConfig(TrainConfig):
    study: StudyConfig  # name ??? until +study=<name> selects one


def register_schema() -> None:
    """Put the schema in Hydra's ConfigStore, where the defaults lists of conf/ name it."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(group="g2_schema", name="train", node=TrainConfig)
    store.store(group="g2_schema", name="ablate", node=AblateConfig)
    store.store(group="g2_schema", name="evaluate", node=EvaluateConfig)
    for group, nodes in (("data", SOURCES), ("launcher", LAUNCHERS)):
        for name, node in nodes.items():
            store.store(group=f"g2_schema/{group}", name=name, node=node)
