"""The trainer: one run of one model with one loss recipe. It knows nothing of studies.

  trainer.py     `train(cfg, hooks)`, readable top to bottom: set_up -> train_epoch -> validate_and_checkpoint
                 -> finish, over a RunState; `validated=True` when the caller already ran the validator
  run.py         the run's fixed context (folder, loaders, MLflow run found or created) and TrainHooks:
                 the public hooks (phase timing, on_batch, on_validation, StopTraining) studies and
                 benchmarks use instead of private names
  evaluate.py    validation, the test split, the mean-depth reference, sample grids
  checkpoint.py  kill-safe checkpoints;  setup.py  device, optimiser, schedule
Uses models, losses, metrics, data, tracking, g2core.config and g2core.names; a study drives it only
through `train()` and TrainHooks.
"""

from g2core.train.run import Phase, StopTraining, TrainHooks, default_run_dir
from g2core.train.setup import close_distributed
from g2core.train.trainer import NonFiniteLoss, TrainResult, train

__all__ = [
    "NonFiniteLoss",
    "Phase",
    "StopTraining",
    "TrainHooks",
    "TrainResult",
    "close_distributed",
    "default_run_dir",
    "train",
]
