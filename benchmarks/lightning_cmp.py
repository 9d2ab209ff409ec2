"""Section 2: the g2core trainer against PyTorch Lightning + MLFlowLogger, same model, loss, data and schedule.

Lightning is in the dev extra only (it is not a dependency of g2core): without it the section
is skipped. The Lightning side is what its users write: a LightningModule whose training_step runs the
same model and composite loss and `self.log`s the total and each term (the same keys the trainer logs),
Adam with the trainer's own per-step LambdaLR, `Trainer(max_epochs=1, log_every_n_steps=10)` with
`MLFlowLogger` on a sqlite store, progress bar and checkpointing on, no validation loader.

Measured on both sides the same way: the mean interval between the starts of consecutive training steps
(n - 1 intervals of an n-step epoch; Lightning's `on_train_batch_start`, the trainer's `TrainHooks.on_batch`), so
each interval holds one data fetch, one step and that side's per-step logging and progress bar.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from benchmarks._common import Row, Section, Settings, alternate
from benchmarks._instrument import interval_quantile
from benchmarks.trainer_overhead import _model, config, train_loader, trainer_run
from g2core.data import model_input
from g2core.losses import create_loss
from g2core.names import LOSS, TRAIN, metric_key, term_key
from g2core.train.setup import build_scheduler


def _start_to_start(stamps: list[float]) -> float:
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def _median_interval(stamps: list[float]) -> float:
    return interval_quantile(stamps, 0.5)


def lightning_run(cfg: DictConfig, root: Path) -> tuple[list[float], int]:
    """One Lightning epoch; returns its step-start stamps and the number of steps."""
    import lightning as L
    from lightning.pytorch.loggers import MLFlowLogger

    class DepthModule(L.LightningModule):
        def __init__(self, steps_per_epoch: int) -> None:
            super().__init__()
            self.net = _model(cfg)
            self.loss_fn = create_loss(cfg.loss)
            self.steps_per_epoch = steps_per_epoch

        def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
            pred = self.net(model_input(batch, cfg.model.in_channels))
            total, values = self.loss_fn(pred, batch["depth"], batch["mask"], batch["sparse_mask"])
            self.log(metric_key(TRAIN, LOSS), total, prog_bar=True)
            for term, value in values.items():
                self.log(term_key(TRAIN, term), value)
            return total

        def configure_optimizers(self) -> dict[str, Any]:
            optimizer = torch.optim.Adam(
                self.parameters(),
                lr=cfg.optim.lr,
                betas=tuple(cfg.optim.betas),
                weight_decay=cfg.optim.weight_decay,
            )
            scheduler = build_scheduler(optimizer, cfg.optim, self.steps_per_epoch, self.steps_per_epoch)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    class StepStamps(L.Callback):
        def __init__(self) -> None:
            self.stamps: list[float] = []

        def on_train_batch_start(self, *args: Any) -> None:
            self.stamps.append(time.perf_counter())

    loader = train_loader(cfg)
    stamps = StepStamps()
    logger = MLFlowLogger(
        experiment_name="bench/lightning", tracking_uri=f"sqlite:///{root / 'lightning.db'}"
    )
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=1,
        logger=logger,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        callbacks=[stamps],
        default_root_dir=str(root / "lightning"),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        trainer.fit(DepthModule(len(loader)), train_dataloaders=loader)
    finally:  # MLFlowLogger exports its URI to the process environment; g2core configs read that variable
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return stamps.stamps, len(stamps.stamps)


def run(settings: Settings) -> Section:
    section = Section("lightning", "PyTorch Lightning + MLFlowLogger vs the g2core trainer (time per step)")
    try:
        import lightning  # noqa: F401
    except ImportError:
        section.skipped = "lightning is not installed (pip install lightning; it is optional)"
        return section
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    with tempfile.TemporaryDirectory(prefix="g2-bench-lightning-") as tmp:
        root = Path(tmp)
        counter = iter(range(1000))
        steps: list[int] = []
        medians: dict[str, list[float]] = {"lightning": [], "g2core": []}
        fast: dict[str, list[float]] = {"lightning": [], "g2core": []}

        def g2_side() -> float:
            clock, _ = trainer_run(config(root, f"r{next(counter)}", settings))
            steps.append(clock.steps)
            medians["g2core"].append(1000 * _median_interval(clock.stamps[:-1]))
            fast["g2core"].append(1000 * interval_quantile(clock.stamps[:-1], 0.1))
            return 1000 * _start_to_start(clock.stamps[:-1])

        def lightning_side() -> float:
            stamps, n = lightning_run(config(root, "lightning", settings), root)
            steps.append(n)
            medians["lightning"].append(1000 * _median_interval(stamps))
            fast["lightning"].append(1000 * interval_quantile(stamps, 0.1))
            return 1000 * _start_to_start(stamps)

        if not settings.quick:
            lightning_side()  # warm-up: Lightning's imports and first fit, the store's tables
            steps.clear()
            medians["lightning"].clear()
            fast["lightning"].clear()
        lit, ours = alternate(lightning_side, g2_side, settings.pick(1, 3))
    row = Row(
        f"time per training step ({min(steps)} steps, start-to-start)",
        "Lightning + MLFlowLogger",
        "g2core trainer",
        "ms",
        lit,
        ours,
        ratio_label="g2core / Lightning",
        goal="<= 1.00",
    )
    row.met = row.summary()["ratio_median"] <= 1.0
    section.rows.append(row)
    section.rows.append(
        Row(
            "median step interval (robust to load bursts)",
            "Lightning + MLFlowLogger",
            "g2core trainer",
            "ms",
            medians["lightning"],
            medians["g2core"],
            ratio_label="g2core / Lightning",
        )
    )
    section.rows.append(
        Row(
            "10th-percentile step interval (the uncontended step)",
            "Lightning + MLFlowLogger",
            "g2core trainer",
            "ms",
            fast["lightning"],
            fast["g2core"],
            ratio_label="g2core / Lightning",
        )
    )
    import lightning

    section.extra["lightning_version"] = lightning.__version__
    return section
