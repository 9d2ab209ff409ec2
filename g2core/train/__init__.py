"""The trainer: one run of one model with one loss recipe (knows nothing of studies)."""

from g2core.train.run import Phase, StopTraining, TrainHooks, default_run_dir
from g2core.train.trainer import NonFiniteLoss, TrainResult, train

__all__ = ["NonFiniteLoss", "Phase", "StopTraining", "TrainHooks", "TrainResult", "default_run_dir", "train"]
