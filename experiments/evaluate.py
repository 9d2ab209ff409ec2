"""Evaluate one checkpoint on one dataset:
`python experiments/evaluate.py ckpt=<path | runs:/<run_id>/checkpoints/best.pt> data=h5 data.root=DIR`.

Prints the metrics as a table; with a tracking store (tracking.uri=..., or the local default store) also
logs them as an MLflow run nested under the checkpoint's run: `eval/<dataset>/<metric>` and the per-image
table `eval/<dataset>/per_image.csv`. trainer.align=... changes the alignment (default: the checkpoint's run's),
eval.dataset=NAME the dataset's name (default: its folder's name), eval.split=test|val the frames.
Each frame is scored whole (eval.size=frame), at data.height x data.width when the command line sets them;
the printed `scored:` line says which.
"""

from g2core.startup import quiet_start

quiet_start()  # Ctrl-C while importing (up to ~40 s on a loaded machine): one line, status 130

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from g2core.cli import run_cli  # noqa: E402


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from g2core.evaluation.command import evaluate_checkpoint, summary_lines

    preset = HydraConfig.get().runtime.choices.get("data")  # data=nyu names the dataset nyu
    given = [o.lstrip("+") for o in HydraConfig.get().overrides.task]
    if any(o.startswith(("data.height=", "data.width=")) for o in given) and not any(
        o.startswith("eval.size=") for o in given
    ):
        cfg.eval.size = "data"  # a size on the command line is the size to score at
    result = run_cli(lambda: evaluate_checkpoint(cfg, preset))
    print("\n".join(summary_lines(result)))


if __name__ == "__main__":
    main()
