"""A checkpoint evaluated on any dataset: `python experiments/evaluate.py ckpt=... data=...`, and a study's
`study.test_sets` (g2core.study.test_sets).

  source.py   the checkpoint: a file or `runs:/<run_id>/checkpoints/best.pt`, loaded weights-only; the run
              that made it, when the store knows it; the model rebuilt from the config the checkpoint holds
  dataset.py  the frames to evaluate on, from a `data` config node, and the dataset's name
  score.py    per-image metrics with the trainer's own code (g2core.train.evaluate.evaluate_per_image), and
              logging them to a run as `eval/<dataset>/<metric>` plus `eval/<dataset>/per_image.csv`
  command.py  what experiments/evaluate.py runs: the table it prints, the MLflow run nested under the
              checkpoint's run

Uses models, metrics, data, tracking, train (its evaluation and checkpoint loading); knows nothing of studies.
"""

from g2core.evaluation.dataset import dataset_name, evaluation_dataset
from g2core.evaluation.score import Scores, log_scores, score
from g2core.evaluation.source import Checkpoint, build_checkpoint_model, open_checkpoint

__all__ = [
    "Checkpoint",
    "Scores",
    "build_checkpoint_model",
    "dataset_name",
    "evaluation_dataset",
    "log_scores",
    "open_checkpoint",
    "score",
]
