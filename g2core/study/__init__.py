"""Studies: a fixed ablation (variants x seeds) or a weight search, as one Optuna study whose trials are
MLflow child runs of one parent run.

  spec.py      StudySpec: the study schema (conf/study/*.yaml), checked by load_spec
  identity.py  one study = one set of settings (a fingerprint kept on the Optuna study)
  storage.py   the Optuna storage (journal file or PostgreSQL) and its bookkeeping (dead workers, failures)
  runner.py    run_study: preflight (every trial's config validated once, data opened), parent run, workers,
               the report at the end
  plan.py      trial planning: TrialPlan, a trial's config, the study with its sampler and pruner, the
               hooks that report to the trial (worker.py, ddp_trial.py and launch/ import it)
  worker.py    a worker: takes trials and trains each with g2core.train.train(..., validated=True)
  ddp_trial.py a trial as a torchrun job (study.procs_per_trial)
  confirm.py   a search's confirmation stage: its top weights over seeds against the base preset (study.confirm)
  launch/      where the workers run (study.launcher): ray tasks, SLURM jobs through submitit
Only Optuna's public API; trains only through train() and TrainHooks; tags and attributes from g2core.names.
"""

from g2core.study.runner import StudyResult, run_study
from g2core.study.spec import StudySpec, load_spec

__all__ = ["StudyResult", "StudySpec", "load_spec", "run_study"]
