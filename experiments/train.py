"""Train one model with one loss recipe: `python experiments/train.py [experiment=<preset>] [key=value ...]`.

`--list` prints the presets, models and loss terms to pick from; G2_CONF_PATH=<folder> adds the user's own.

Under DDP: `torchrun --nproc_per_node N experiments/train.py ...`. Running the same command after a
crash or Ctrl-C (exit status 130; the run is closed as KILLED) resumes the same MLflow run from its last
checkpoint.
"""

from g2core.startup import quiet_start

quiet_start()  # Ctrl-C while importing (up to ~40 s on a loaded machine): one line, status 130

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from g2core.cli import run_cli  # noqa: E402
from g2core.store_probe import check_entry_stores  # noqa: E402


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_cli(lambda: check_entry_stores(cfg))  # in seconds, before the heavy imports
    from g2core.train import close_distributed, train

    result = run_cli(lambda: train(cfg))
    close_distributed()  # under torchrun: no rank leaves while another still uses the group
    if result is not None and result.run_id:
        from g2core.cli import print_run_summary

        print_run_summary(cfg, result)


if __name__ == "__main__":
    import sys

    from g2core.catalog import entry_argv

    sys.argv = entry_argv(sys.argv)  # --list, and G2_CONF_PATH's folders on Hydra's search path
    main()
