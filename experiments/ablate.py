"""Run a study: `python experiments/ablate.py +study=loss_terms [key=value ...]`.

`python experiments/ablate.py --list` prints the studies, presets, models and loss terms to pick from;
G2_CONF_PATH=<folder> adds the user's own (<folder>/study/*.yaml, <folder>/experiment/*.yaml, ...).

Trains every (variant, seed) of the study (or every trial of a weight search) as MLflow child runs of one
parent run, then writes the comparison report and prints its summary. The same command after a crash
or Ctrl-C (exit status 130; the runs are closed as KILLED) finishes the study; a
command with other shared settings (trainer.max_epochs=10 ...) is refused, and so are seed=, experiment=
and variant=, which a study sets per trial from study.seeds and study.variants.
"""

from g2core.startup import quiet_start

quiet_start()  # Ctrl-C while importing (up to ~40 s on a loaded machine): one line, status 130

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from g2core.cli import run_cli  # noqa: E402
from g2core.store_probe import check_entry_stores  # noqa: E402

# Overrides that select or change the study itself; every other one applies to each trial.
STUDY_KEYS = ("study=", "+study=", "study.", "+study.", "++study", "study/", "+study/")


@hydra.main(config_path="../conf", config_name="ablate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_cli(lambda: check_entry_stores(cfg))  # in seconds, before the heavy imports
    from g2core.cli import print_study_summary
    from g2core.study import run_study

    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith(STUDY_KEYS)]
    result = run_cli(lambda: run_study(cfg, overrides))
    print_study_summary(result, str(cfg.paths.root))


if __name__ == "__main__":
    import sys

    from g2core.catalog import entry_argv

    sys.argv = entry_argv(sys.argv)  # --list, and G2_CONF_PATH's folders on Hydra's search path
    main()
