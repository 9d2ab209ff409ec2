"""`python experiments/evaluate.py ckpt=<path | runs:/<run_id>/checkpoints/best.pt> data=h5 data.root=DIR`.

The model comes from the checkpoint (its own config); what it is evaluated on and how (data.*, trainer.align,
eval.*) from the command line. trainer.align=null (the default) aligns as the checkpoint's run did, so its
numbers read like that run's test/* metrics. With a tracking store (tracking.uri, or the local default store
when it exists) the evaluation is an MLflow run of its own, nested under the checkpoint's run when the store
knows that run: `eval/<dataset>/<metric>` and the per-image table `eval/<dataset>/per_image.csv`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from omegaconf import DictConfig, OmegaConf

from g2core.config import redact
from g2core.names import (
    ALIGN_CLAMPED,
    ROLE_EVAL,
    TAG_EVAL_CHECKPOINT,
    TAG_EVAL_DATASET,
    TAG_PARENT_RUN_ID,
    TAG_ROLE,
    TAG_SEED,
    TAG_VARIANT,
    eval_key,
    eval_run_name,
    metric_spec,
)
from g2core.tracking import check_tracking_uri, default_tracking_uri, get_or_create_experiment, open_run
from g2core.validate import validate_evaluate_config

from .dataset import dataset_name
from .frame_size import scored_frames
from .score import Scores, log_scores, score
from .source import Checkpoint, build_checkpoint_model, open_checkpoint, scratch_dir


@dataclass
class Evaluation:
    checkpoint: Checkpoint
    scores: Scores
    align: str
    split: str
    run_id: str | None  # the eval run, when one was logged
    tracking_uri: str | None
    experiment_id: str | None = None
    scored: str = ""  # what each frame's score covers (frame_size.scored_frames)


def tracking_store(cfg: DictConfig) -> str | None:
    """tracking.uri when given (or MLFLOW_TRACKING_URI), else the local default store when it exists: None
    means nothing is logged (a bare checkpoint file, no store)."""
    if cfg.tracking.get("uri"):
        uri = str(cfg.tracking.uri)
    else:
        uri = default_tracking_uri(cfg.paths.root)
        if not (Path(cfg.paths.root) / "mlflow.db").is_file():
            return None
    check_tracking_uri(uri)
    return uri


def evaluate_checkpoint(cfg: DictConfig, data_preset: str | None = None) -> Evaluation:
    """Evaluate cfg.ckpt on cfg.data; log an MLflow run when there is a store (see tracking_store).

    `data_preset`: the data=<preset> the command chose (Hydra's choice), which names the dataset."""
    from g2core.train.setup import resolve_device

    validate_evaluate_config(cfg)
    source = str(cfg.ckpt)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    split = str(cfg.eval.split)
    name = dataset_name(data, cfg.eval.dataset, data_preset)
    device = resolve_device(str(cfg.trainer.device))
    uri = tracking_store(cfg)
    client = MlflowClient(uri) if uri else None
    with scratch_dir() as tmp:
        checkpoint = open_checkpoint(source, client, Path(tmp))
        trained = checkpoint.config.get("trainer") or {}
        align = str(cfg.trainer.align or trained.get("align") or "none")
        model = build_checkpoint_model(checkpoint, device)
        in_channels = int((checkpoint.config.get("model") or {}).get("in_channels", 3))
        data, scored = scored_frames(data, split, model, str(cfg.eval.size))
        scores = score(
            model,
            data,
            split,
            name,
            in_channels=in_channels,
            align=align,
            device=device,
            precision=str(cfg.trainer.precision),
        )
        result = Evaluation(checkpoint, scores, align, split, None, uri, scored=scored)
        if client is not None:
            result.run_id, result.experiment_id = _log_run(client, cfg, result, data, Path(tmp))
    return result


def _log_run(
    client: MlflowClient, cfg: DictConfig, result: Evaluation, data: dict[str, Any], workdir: Path
) -> tuple[str, str]:
    checkpoint, scores = result.checkpoint, result.scores
    experiment_id = checkpoint.experiment_id or get_or_create_experiment(
        client, str(cfg.tracking.experiment), cfg.paths.root
    )
    tags = {TAG_ROLE: ROLE_EVAL, TAG_EVAL_DATASET: scores.dataset, TAG_EVAL_CHECKPOINT: checkpoint.source}
    for tag, key in ((TAG_VARIANT, "variant"), (TAG_SEED, "seed")):
        if checkpoint.config.get(key) is not None:
            tags[tag] = str(checkpoint.config[key])
    if checkpoint.run_id:
        tags[TAG_PARENT_RUN_ID] = checkpoint.run_id  # MLflow's nesting: the UI shows it under that run
    settings = {
        "ckpt": checkpoint.source,
        "eval": {"dataset": scores.dataset, "split": result.split},
        "trainer": {"align": result.align},
        "data": data,
    }
    # Every evaluation is a run of its own: evaluating the same checkpoint twice makes two runs.
    run = open_run(client, experiment_id, tags, eval_run_name(scores.dataset), new=True, asynchronous=False)
    try:
        run.log_params(settings)
        log_scores(run, scores, workdir)
    except BaseException:
        run.finish("FAILED")
        raise
    run.finish("FINISHED")
    return run.run_id, experiment_id


def summary_lines(result: Evaluation) -> list[str]:
    """The printed table: one row per metric, then where the run was logged."""
    checkpoint, scores = result.checkpoint, result.scores
    made_by = f"run {checkpoint.run_id}" if checkpoint.run_id else "run not in the store"
    epoch = checkpoint.state.get("epoch")
    lines = [
        f"checkpoint: {checkpoint.source} ({made_by}"
        + (f", epoch {int(epoch) + 1}" if isinstance(epoch, int) else "")
        + ")",
        f"dataset: {scores.dataset} ({scores.images} images, eval.split={result.split}, "
        f"trainer.align={result.align})",
        f"scored: {result.scored}",
        "",
        "| metric | value |",
        "|---|---:|",
    ]
    for metric, value in scores.values.items():
        label = metric if metric == ALIGN_CLAMPED else f"{metric} {metric_spec(metric).arrow}"
        lines.append(f"| {label} | {value:.4f} |")
    lines.append("")
    if result.run_id:
        nested = f", nested under {checkpoint.run_id}" if checkpoint.run_id else ""
        lines.append(
            f"MLflow run {result.run_id}{nested}: {eval_key(scores.dataset, '<metric>')} "
            f"in {redact('uri', result.tracking_uri or '')}"
        )
    else:
        lines.append("not logged: no tracking store (tracking.uri=... logs the evaluation as an MLflow run)")
    return lines


__all__ = ["Evaluation", "evaluate_checkpoint", "summary_lines", "tracking_store"]
