"""study.launcher=slurm: study.workers SLURM jobs through submitit, each running the worker loop.

A job that SLURM preempts or times out gets submitit's signal: it names its process (the worker recorded
on its trial) in the checkpoint and is requeued; the requeued job first releases the trial its previous
run left RUNNING and queues it again, then takes trials as before, so that trial resumes from its run
folder's last.pt. Nothing touches the storage inside the signal handler: the handler may interrupt a
storage write of the same process.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket

import optuna
import submitit

from g2core.names import ATTR_WORKER
from g2core.study.plan import TrialPlan, load_study
from g2core.study.storage import enqueue_missing, release
from g2core.study.worker import say, work


class StudyJob(submitit.helpers.Checkpointable):
    """One job: release what this job's previous run left (after a requeue), then the worker loop."""

    def __call__(self, plan: TrialPlan, previous: dict | None = None) -> None:
        logging.basicConfig(level=logging.WARNING)
        if previous:
            release_previous(plan, previous)
        work(plan)

    def checkpoint(self, plan: TrialPlan, previous: dict | None = None) -> submitit.helpers.DelayedSubmission:
        me = {"host": socket.gethostname(), "pid": os.getpid()}  # as worker.objective names itself
        return submitit.helpers.DelayedSubmission(StudyJob(), plan, me)


def release_previous(plan: TrialPlan, previous: dict) -> None:
    """Queue again the trials the requeued job's previous run (`previous`: its host and pid) was training."""
    study, storage = load_study(plan)
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    mine = [t for t in running if t.user_attrs.get(ATTR_WORKER) == previous]
    for trial in mine:
        release(study, storage, trial.number)
    if mine:
        enqueue_missing(study, plan.spec, retry_failed=False)
        say(f"requeued job: trial(s) {', '.join(str(t.number) for t in mine)} queued again to resume")


def _executor(plan: TrialPlan) -> submitit.AutoExecutor:
    s = plan.spec.launcher
    executor = submitit.AutoExecutor(
        folder=s["folder"],
        cluster=s["cluster"],
        slurm_max_num_timeout=s["max_requeue"],
        local_max_num_timeout=s["max_requeue"],
    )
    params: dict = {
        "name": f"g2-{plan.spec.name}",
        "timeout_min": s["time_min"],
        "cpus_per_task": s["cpus"],
        "gpus_per_node": s["gpus"],
        "tasks_per_node": 1,
        "slurm_setup": s["setup"],
    }
    optional = {"mem_gb": s["mem_gb"], "slurm_partition": s["partition"], "slurm_account": s["account"]}
    params.update({key: value for key, value in optional.items() if value})  # unset: the cluster's default
    executor.update_parameters(**params)
    return executor


def run(plan: TrialPlan) -> None:
    plan = dataclasses.replace(plan, threads=plan.spec.launcher["cpus"])
    executor = _executor(plan)
    jobs = [executor.submit(StudyJob(), plan) for _ in range(plan.spec.workers)]
    say(f"submitit: jobs {', '.join(j.job_id for j in jobs)}; logs in {plan.spec.launcher['folder']}")
    try:
        for job in jobs:
            try:
                job.result()
            except Exception as exc:  # the job's own log has the traceback
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                say(f"job {job.job_id} ended: {type(exc).__name__}: {first}; its trial is queued again")
    except KeyboardInterrupt:
        for job in jobs:  # their trials stay RUNNING: the next command finds their workers gone
            job.cancel(check=False)
        raise
