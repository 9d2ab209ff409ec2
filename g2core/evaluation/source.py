"""The checkpoint to evaluate: a file, or an MLflow artifact URI `runs:/<run_id>/checkpoints/best.pt`.

A checkpoint holds the resolved config of the run that wrote it (g2core.train.checkpoint), so the model is
rebuilt from it; it is read with torch.load(weights_only=True): a checkpoint from elsewhere may not run code.
The run that made it is the eval run's parent: the run id of a runs:/ URI, or for a file the run its folder
belongs to (the trainer tags each run with its folder's name, `g2.run_key`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from g2core.config import ConfigError, redact
from g2core.names import (
    BEST_CHECKPOINT_ARTIFACT,
    CHECKPOINT_RUN_ID,
    LAST_CHECKPOINT,
    RUNS_URI_SCHEME,
    TAG_PARENT_RUN_ID,
    TAG_RUN_KEY,
)
from g2core.tracking import find_runs
from g2core.train.checkpoint import load

USAGE = f"pass a checkpoint file (.../best.pt) or {RUNS_URI_SCHEME}<run_id>/{BEST_CHECKPOINT_ARTIFACT}"


@dataclass
class Checkpoint:
    source: str  # what the user gave: a path or a runs:/ URI
    path: Path  # the local file that was read
    state: dict[str, Any]  # weights ("model"), "epoch", "config" (the training run's resolved config)
    run_id: str | None = None  # the run that wrote it, when the store knows it
    experiment_id: str | None = None

    @property
    def config(self) -> dict[str, Any]:
        return self.state["config"]


def open_checkpoint(source: str, client: MlflowClient | None, workdir: Path) -> Checkpoint:
    """Read `source` (a downloaded copy of a runs:/ URI lands in `workdir`) and find the run that made it.

    `client` is the tracking store (None: none given); a runs:/ URI needs one."""
    if source.startswith(RUNS_URI_SCHEME):
        if client is None:
            raise ConfigError(f"ckpt={source}: a {RUNS_URI_SCHEME} URI needs the store: set tracking.uri=...")
        run_id = source[len(RUNS_URI_SCHEME) :].split("/", 1)[0]
        experiment_id = _run_experiment(client, run_id, source)
        path = _download(client, source, workdir)
        return Checkpoint(source, path, _read(path, source), run_id, experiment_id)
    path = Path(source).expanduser()
    if not path.is_file():
        raise ConfigError(f"ckpt={source}: no such file; {USAGE}")
    checkpoint = Checkpoint(source, path, _read(path, source))
    if client is not None:
        checkpoint.run_id, checkpoint.experiment_id = _run_of_file(client, checkpoint)
    return checkpoint


def _run_experiment(client: MlflowClient, run_id: str, source: str) -> str:
    try:
        return client.get_run(run_id).info.experiment_id
    except MlflowException:
        raise ConfigError(
            f"ckpt={source}: the store {redact('uri', client.tracking_uri)} has no run {run_id!r}; "
            "set tracking.uri to the store that holds it"
        ) from None


def _download(client: MlflowClient, source: str, workdir: Path) -> Path:
    from mlflow.artifacts import download_artifacts

    try:
        local = download_artifacts(
            artifact_uri=source, dst_path=str(workdir), tracking_uri=client.tracking_uri
        )
    except Exception as exc:  # MLflow raises store-specific errors for a missing artifact
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(
            f"ckpt={source}: cannot download it ({first}); runs upload {BEST_CHECKPOINT_ARTIFACT} unless "
            "trained with tracking.log_checkpoints=none: then pass the file's path"
        ) from None
    path = Path(local)
    if not path.is_file():
        raise ConfigError(f"ckpt={source}: is a folder of artifacts, not one checkpoint file; {USAGE}")
    return path


def _read(path: Path, source: str) -> dict[str, Any]:
    try:
        state = load(path)  # weights_only=True
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(f"ckpt={source}: not a readable checkpoint ({first}); {USAGE}") from None
    if not isinstance(state, dict) or "model" not in state or not isinstance(state.get("config"), dict):
        raise ConfigError(f"ckpt={source}: not a g2-ablate checkpoint (no 'model' and 'config'); {USAGE}")
    return state


def _run_of_file(client: MlflowClient, checkpoint: Checkpoint) -> tuple[str | None, str | None]:
    """The run whose folder holds the file: by its g2.run_key tag in the run's experiment, else the id its
    folder's last.pt names; (None, None) when this store does not know it."""
    tracking = checkpoint.config.get("tracking") or {}
    experiment = client.get_experiment_by_name(str(tracking.get("experiment") or ""))
    if experiment is not None:
        tags = {TAG_RUN_KEY: checkpoint.path.parent.name}
        if tracking.get("parent_run_id"):
            tags[TAG_PARENT_RUN_ID] = str(tracking["parent_run_id"])
        runs = [
            r for r in find_runs(client, experiment.experiment_id, tags) if r.info.lifecycle_stage == "active"
        ]
        if runs:
            return runs[-1].info.run_id, experiment.experiment_id
    last = checkpoint.path.parent / LAST_CHECKPOINT
    try:
        run_id = load(last).get(CHECKPOINT_RUN_ID) if last.is_file() else None
        if run_id:
            return run_id, client.get_run(run_id).info.experiment_id
    except Exception:  # unreadable, or a run of another store: the evaluation stands on its own
        pass
    return None, None


def build_checkpoint_model(checkpoint: Checkpoint, device: torch.device) -> torch.nn.Module:
    """The model of the checkpoint's config with its weights, in eval mode on `device`."""
    from g2core.models import build_model

    model_cfg = dict(checkpoint.config.get("model") or {})
    name = model_cfg.pop("name", None)
    try:
        model = build_model(str(name), **model_cfg)
        model.load_state_dict(checkpoint.state["model"])
    except (TypeError, ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConfigError(
            f"ckpt={checkpoint.source}: its model.* config does not build its weights ({first})"
        ) from None
    return model.to(device).eval()


def scratch_dir() -> tempfile.TemporaryDirectory:
    """Where a downloaded checkpoint and the per-image table wait until they are read and logged."""
    return tempfile.TemporaryDirectory(prefix="g2-eval-")
