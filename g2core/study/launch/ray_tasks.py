"""study.launcher=ray: study.workers Ray tasks, each running the worker loop with its resources.

The tasks take trials from the Optuna storage like any worker; a task whose process dies leaves its trial
RUNNING under its (host, pid), which the runner's next round reclaims and queues again (Ray does not
retry the task: the storage, not Ray, says which work is left).
"""

from __future__ import annotations

import dataclasses
import logging
import os

import ray

from g2core.config import ConfigError
from g2core.study.plan import TrialPlan
from g2core.study.worker import say, work

# Passed to the tasks, so a cluster started elsewhere sees the settings this command was given.
ENV_PREFIXES = ("G2_", "MLFLOW_")
LOCAL_OBJECT_STORE = 256 * 1024**2  # bytes: a local cluster moves only the plan; Ray's default is 30% of RAM


def _task(plan: TrialPlan) -> None:
    """One Ray task: the worker loop, with Ray's CUDA_VISIBLE_DEVICES and the plan's torch threads."""
    logging.basicConfig(level=logging.WARNING)
    work(plan)


def start_failure(address: str | None, exc: BaseException) -> str:
    """One line for a Ray cluster that could not be started or reached: which, why, and what to try."""
    text = str(exc).strip()
    why = f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else 'no message'}"
    if address is None:
        return (
            f"study.launcher=ray: could not start a local Ray cluster ({why}); "
            "run the study with study/launcher=local instead"
        )
    return (
        f"study.launcher.address={address}: could not connect to the Ray cluster ({why}); "
        "check that it runs there (`ray status`), or leave study.launcher.address unset for a local cluster"
    )


def _connect(settings: dict) -> None:
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # the platform reports nothing anywhere
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # each worker's trial lines, not "repeated 3x"
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    kwargs: dict = {"include_dashboard": False, "runtime_env": {"env_vars": env}}
    if settings["address"] is None:
        kwargs.update(num_cpus=settings["num_cpus"], object_store_memory=LOCAL_OBJECT_STORE)
    else:
        kwargs["address"] = settings["address"]
    try:
        ray.init(**kwargs)
    except Exception as exc:  # Ray's own traceback is ~40 lines; the runner closes the parent run FAILED
        raise ConfigError(start_failure(settings["address"], exc)) from None
    where = settings["address"] or "a local cluster"
    say(f"Ray: {where}, {ray.cluster_resources().get('CPU', 0):.0f} CPUs")


def run(plan: TrialPlan) -> None:
    settings = plan.spec.launcher
    _connect(settings)
    resources = settings["resources"]
    plan = dataclasses.replace(plan, threads=resources["cpu"])
    task = ray.remote(_task).options(
        num_cpus=resources["cpu"], num_gpus=resources["gpu"], max_retries=0, name=f"g2-{plan.spec.name}"
    )
    refs = [task.remote(plan) for _ in range(plan.spec.workers)]
    try:
        for i, ref in enumerate(refs):
            try:
                ray.get(ref)
            except ray.exceptions.RayError as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                say(f"Ray worker {i} ended: {type(exc).__name__}: {first}; its trial is queued again")
    except KeyboardInterrupt:
        for ref in refs:  # their trials stay RUNNING: the next command finds their workers gone
            ray.cancel(ref, force=True)
        raise
