"""`study.test_sets`: extra datasets every trial's selected checkpoint is evaluated on after it trains.

    study.test_sets={real: {root: /data/real, height: 64, width: 64}, nyu: {name: h5, root: /data/nyu/val}}

Each entry is a data config: `name` picks the preset it starts from (conf/data/<name>.yaml, default h5), the
other keys go on top (the trial's own data settings do not carry over: a test set says what it is). Every
frame of it is evaluated (g2core.evaluation.dataset, split `all`) with the trial's alignment, and the trial's
own MLflow child run gets `eval/<set>/<metric>` and `eval/<set>/per_image.csv`, so the report reads MLflow
only. A trial whose run already has a set's metrics is not evaluated on it again (a resumed study).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from g2core.checks import validate_name
from g2core.config import ConfigError, compose, presets
from g2core.names import BEST_CHECKPOINT, eval_dataset_of
from g2core.validate import check_data

KEY = "study.test_sets"
DEFAULT_PRESET = "h5"
log = logging.getLogger(__name__)


def data_config_of(name: str, entry: Mapping[str, Any], root: str) -> dict[str, Any]:
    """One test set's resolved data config: conf/data/<entry.name>.yaml with the entry's keys on top."""
    prefix = f"{KEY}.{name}."
    overrides = dict(entry)
    preset = str(overrides.pop("name", DEFAULT_PRESET))
    if preset not in (available := presets("data")):
        raise ConfigError(
            f"{prefix}name={preset!r}: no data preset of that name; available: {', '.join(available)}"
        )
    preset_node = compose([f"data={preset}", f"paths.root={root}"]).data
    # Untyped, so that a value of the wrong type reaches the validator, which names its key in one line.
    node = OmegaConf.merge(OmegaConf.to_container(preset_node, resolve=True), overrides)
    check_data(node, prefix)
    return OmegaConf.to_container(node, resolve=True)


def parse_test_sets(raw: Any, root: str) -> dict[str, dict[str, Any]]:
    """study.test_sets checked before anything trains (names, keys, and that every set's frames open):
    name -> resolved data config."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{KEY}={raw!r}: expected a mapping name -> data config, e.g. {{real: {{root: DIR}}}}"
        )
    from g2core.data import DataError
    from g2core.evaluation import evaluation_dataset

    sets: dict[str, dict[str, Any]] = {}
    for name, entry in raw.items():
        validate_name(str(name), KEY)
        if entry is not None and not isinstance(entry, Mapping):
            raise ConfigError(f"{KEY}.{name}={entry!r}: expected a data config mapping, e.g. {{root: DIR}}")
        data = data_config_of(str(name), entry or {}, root)
        try:  # a bad folder fails here, before anything trains
            evaluation_dataset(data, "all", sparse_input=False)
        except DataError as exc:
            raise ConfigError(f"{KEY}.{name}: {exc}") from None
        sets[str(name)] = data
    return sets


def evaluate_test_sets(
    cfg: DictConfig, test_sets: Mapping[str, Mapping[str, Any]], run_id: str | None, run_dir: Path
) -> list[str]:
    """Evaluate the trial's best.pt on every test set its run has no metrics of yet; the sets evaluated."""
    if not test_sets or not run_id:
        return []
    from mlflow import MlflowClient

    from g2core.evaluation import Checkpoint, build_checkpoint_model, log_scores, score
    from g2core.evaluation.source import scratch_dir
    from g2core.tracking import RunTracker, resolve_tracking_uri
    from g2core.train.checkpoint import load
    from g2core.train.setup import resolve_device

    client = MlflowClient(resolve_tracking_uri(cfg.tracking.uri, cfg.paths.root))
    logged = {eval_dataset_of(key) for key in client.get_run(run_id).data.metrics}
    todo = [name for name in test_sets if name not in logged]
    best = Path(run_dir) / BEST_CHECKPOINT
    if not todo or not best.is_file():
        return []
    checkpoint = Checkpoint(str(best), best, load(best), run_id)
    run = RunTracker(client, run_id, asynchronous=False)  # the trial's own run: eval/<set>/* beside test/*
    device = resolve_device(str(cfg.trainer.device))
    model = build_checkpoint_model(checkpoint, device)
    with scratch_dir() as tmp:
        for name in todo:
            started = time.time()
            scores = score(
                model,
                test_sets[name],
                "all",
                name,
                in_channels=int(cfg.model.in_channels),
                align=str(cfg.trainer.align),
                device=device,
                precision=str(cfg.trainer.precision),
            )
            log_scores(run, scores, Path(tmp))
            print(
                f"[{time.strftime('%H:%M:%S')}] {cfg.tracking.run_name or run_id} on test set {name}: "
                f"abs_rel={scores.values['abs_rel']:.4f} delta1={scores.values['delta1']:.3f} "
                f"({scores.images} images, {time.time() - started:.0f}s)",
                flush=True,
            )
    return todo
