"""What a run stands on, fixed from its first step to its last (`RunContext`): its folder, its data loaders,
its MLflow run and the hooks its caller attached (`TrainHooks`, with the named phases they can time).

The MLflow run is created once, found again after a crash, never duplicated: it is identified by its
checkpoint folder (`g2.run_key` tag) and, inside a study, its parent run. The checkpoint names the run id;
a run killed before its first checkpoint is found again by its tags.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch
from mlflow import MlflowClient
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from g2core import tracking
from g2core.config import config_hash, redact, resolved_container
from g2core.data import build_datasets
from g2core.names import (
    BEST,
    BEST_PREDICTIONS,
    CHECKPOINT_RUN_ID,
    CONFIG_ARTIFACT,
    TAG_CONFIG_HASH,
    TAG_GIT_COMMIT,
    TAG_PARENT_RUN_ID,
    TAG_RUN_KEY,
    TAG_SEED,
    TAG_VARIANT,
    TEST,
    TRAIN,
    VAL,
    split_of,
    strip_split,
    trial_key,
)
from g2core.tracking import (
    RunTracker,
    check_tracking_uri,
    get_or_create_experiment,
    git_commit,
    resolve_tracking_uri,
)
from g2core.tracking.inputs import PROCEDURAL, log_datasets
from g2core.tracking.runs import start_system_metrics
from g2core.train.setup import Dist


class Phase(StrEnum):
    """The phases `TrainHooks.phase` is entered around, so that a caller (the benchmarks) can time each."""

    DATA = "data"  # datasets and loaders
    RUN_SETUP = "run setup"  # the MLflow run: found or created, tags, params, config.yaml
    REFERENCE = "reference"  # the mean-depth reference, once per run
    STEP_LOOP = "step loop"  # one epoch's training steps, from its first batch to the end of its last step
    VALIDATION = "validation"  # losses and metrics over the validation set
    SAMPLES = "samples"  # predictions on the sample images
    SAMPLE_PNG = "sample png"
    CHECKPOINTS = "checkpoints"  # last.pt and best.pt writes
    TEST = "test"  # the selected checkpoint on the test split, once per run


class StopTraining(Exception):
    """Raised by a hook (a study's pruner, say) to end the run early with the given MLflow status."""

    def __init__(self, reason: str, status: str = "KILLED") -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class TrainHooks:
    """What a caller can attach to a run without touching the trainer.

    `phase(name)` returns a context manager entered around each `Phase` (every time it runs);
    `on_batch(step)` is called as each training batch arrives, before its step (`step` steps done so far).
    """

    on_run_started: Callable[[str], None] | None = None
    on_validation: Callable[[int, dict[str, float]], None] | None = None
    phase: Callable[[str], AbstractContextManager[Any]] | None = None
    on_batch: Callable[[int], None] | None = None

    def timed(self, name: str) -> AbstractContextManager[Any]:
        return self.phase(name) if self.phase else nullcontext()


@dataclass
class OpenRun:
    run_id: str
    tracker: RunTracker
    finished: bool = False
    best: dict[str, float] = field(default_factory=dict)


@dataclass
class Loaders:
    """The datasets (the train set draws new augmentations each epoch) and their loaders."""

    train_set: Dataset
    val_set: Dataset
    train_sampler: DistributedSampler
    train: DataLoader
    val: DataLoader
    test: DataLoader | None = None  # the held-out split, evaluated once with the selected checkpoint


@dataclass
class RunContext:
    """What stays fixed for the whole run."""

    cfg: DictConfig
    hooks: TrainHooks
    ranks: Dist
    device: torch.device
    run_dir: Path
    run: OpenRun | None  # None on every rank but the master
    loaders: Loaders

    @property
    def best_npz(self) -> Path:
        """The best validation's sample predictions, for the report."""
        return self.run_dir / BEST_PREDICTIONS


def default_run_dir(cfg: DictConfig) -> Path:
    """trainer.run_dir, or runs/<variant>-s<seed>-<config hash>: the same command finds the same folder."""
    if cfg.trainer.run_dir:
        return Path(cfg.trainer.run_dir)
    name = f"{trial_key(cfg.variant, cfg.seed)}-{config_hash(cfg)}"
    if not cfg.trainer.resume:  # a fresh run every time: a fresh folder every time
        name += time.strftime("-%Y%m%d-%H%M%S")
    return Path(cfg.paths.root) / "runs" / name


def build_loaders(cfg: DictConfig, ranks: Dist, device: torch.device) -> Loaders:
    """Loaders with the same global batches for one process or many; bad data fails here, before the run."""
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True)
    train_ds, val_ds, test_ds = build_datasets(
        data_cfg, seed=cfg.seed, sparse_input=cfg.model.in_channels == 5
    )
    if cfg.data.batch_size % ranks.world_size:
        raise ValueError(
            f"data.batch_size={cfg.data.batch_size} must be divisible by the {ranks.world_size} processes"
        )
    per_rank = cfg.data.batch_size // ranks.world_size
    # The same sampler with one process or many: a 2-process run sees the same global batches as 1 process.
    sampler = DistributedSampler(
        train_ds, num_replicas=ranks.world_size, rank=ranks.rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    workers = cfg.data.num_workers
    common = {
        "num_workers": workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": workers > 0 and bool(cfg.data.get("persistent_workers", False)),
    }
    # Full batches only (equal global batches under DDP), unless the data are fewer than one batch.
    drop_last = len(sampler) >= per_rank
    train_loader = DataLoader(train_ds, batch_size=per_rank, sampler=sampler, drop_last=drop_last, **common)
    val_sampler = (
        DistributedSampler(val_ds, ranks.world_size, ranks.rank, shuffle=False) if ranks.enabled else None
    )
    val_loader = DataLoader(val_ds, batch_size=per_rank, sampler=val_sampler, shuffle=False, **common)
    if len(train_loader) == 0:
        raise ValueError(f"data: {len(train_ds)} training samples make no batch of {cfg.data.batch_size}")
    # The test split is evaluated once, by the master alone, image by image (no sampler: every image once).
    test_loader = DataLoader(test_ds, batch_size=per_rank, shuffle=False, **common) if test_ds else None
    return Loaders(train_ds, val_ds, sampler, train_loader, val_loader, test_loader)


def open_run(
    cfg: DictConfig, run_dir: Path, state: dict[str, Any] | None, loaders: Loaders | None = None
) -> OpenRun:
    root = cfg.paths.root
    uri = resolve_tracking_uri(cfg.tracking.uri, root)
    check_tracking_uri(uri)
    client = MlflowClient(uri)
    identity = {TAG_RUN_KEY: run_dir.name}
    if cfg.tracking.parent_run_id:
        identity[TAG_PARENT_RUN_ID] = str(cfg.tracking.parent_run_id)
    resolved = resolved_container(cfg)
    resolved.pop("hydra", None)
    tags = {
        TAG_VARIANT: cfg.variant,
        TAG_SEED: cfg.seed,
        TAG_CONFIG_HASH: config_hash(cfg),
        TAG_GIT_COMMIT: git_commit(),
        **OmegaConf.to_container(cfg.tracking.tags, resolve=True),
    }
    tracker = tracking.open_run(
        client,
        get_or_create_experiment(client, cfg.tracking.experiment, root),
        identity,
        str(cfg.tracking.run_name or trial_key(cfg.variant, cfg.seed)),
        known_id=(state or {}).get(CHECKPOINT_RUN_ID),  # the checkpoint names its run
        new=not cfg.trainer.resume,
        keep_finished=True,
        tags=tags,
        params=resolved,
        asynchronous=bool(cfg.tracking.async_logging),
        unsent=(state or {}).get("unsent"),
    )
    run_id = tracker.run_id
    if tracker.already_finished:
        metrics = client.get_run(run_id).data.metrics
        best = {strip_split(k): v for k, v in metrics.items() if split_of(k) == BEST}
        return OpenRun(run_id, tracker, finished=True, best=best)
    log_datasets(client, run_id, resolved["data"], split_profiles(resolved["data"], loaders))
    if cfg.tracking.system_metrics:
        tracker.system_monitor = start_system_metrics(uri, run_id, resume=state is not None)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_file = run_dir / CONFIG_ARTIFACT
    config_file.write_text(OmegaConf.to_yaml(OmegaConf.create(_redacted(resolved))))
    tracker.log_artifact(config_file)
    return OpenRun(run_id, tracker)


def split_profiles(data: dict[str, Any], loaders: Loaders | None) -> dict[str, dict[str, Any] | None]:
    """split -> what MLflow's dataset profile says of it: rows, size (what the model sees), and what fixes
    its frames (the synthetic scenes' seed, else a hash of the frame list). Train alone without loaders."""
    if loaders is None:
        return {TRAIN: None}
    test = loaders.test.dataset if loaders.test is not None else None
    sets = {TRAIN: loaders.train_set, VAL: loaders.val_set, TEST: test}
    return {split: _profile(data, ds) for split, ds in sets.items() if ds is not None}


def _profile(data: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
    profile: dict[str, Any] = {"rows": len(dataset)}  # type: ignore[arg-type]
    if hasattr(dataset, "height") and hasattr(dataset, "width"):
        profile["size"] = f"{dataset.height}x{dataset.width}"
    if data.get("name") == PROCEDURAL:
        profile["scene_seed"] = data.get("scene_seed")
    elif all(hasattr(f, "path") for f in getattr(dataset, "frames", [None])):
        # h5 frames: which files and frames, not where this machine keeps them
        refs = sorted(f"{Path(f.path).name}:{f.index}" for f in dataset.frames)
        profile["files_sha256"] = hashlib.sha256("\n".join(refs).encode()).hexdigest()[:12]
    return profile


def _redacted(data: Any, key: str = "") -> Any:
    if isinstance(data, dict):
        return {k: _redacted(v, f"{key}.{k}" if key else k) for k, v in data.items()}
    return redact(key, data)
