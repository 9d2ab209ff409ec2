"""Where a study's workers run: `study.launcher` = local (processes here), ray or slurm.

Every launcher starts the same worker loop (g2core.study.worker.work) against the same Optuna storage, the
single source of truth of which trials exist and which are done; so workers of any launcher, and ones
started by hand, can share a study, and the same command resumes it after its driver died.

  settings.py    the launcher's settings, checked by load_spec (this package imports nothing else, so the
                 study schema can import them)
  workers.py     run_workers: the workers started (local processes, or the launcher's), what they leave settled
  ray_tasks.py, slurm_jobs.py   the only modules that import Ray or submitit
"""

from g2core.study.launch.settings import check_launcher

__all__ = ["check_launcher"]
