"""Starting a study's workers where it says (local processes, Ray tasks or SLURM jobs), and settling what they
leave."""

from __future__ import annotations

import importlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import time

from optuna.trial import TrialState

from g2core.study.launch.settings import require
from g2core.study.plan import TrialPlan, load_study
from g2core.study.storage import reclaim_stale
from g2core.study.worker import say, work
from g2core.train.interrupt import sigint_ignored

# launcher -> the module whose run(plan) starts its workers; the only modules that import Ray or submitit
LAUNCHERS = {"ray": "g2core.study.launch.ray_tasks", "slurm": "g2core.study.launch.slurm_jobs"}
STOP_GRACE_S, STOP_TIMEOUT_S = 10.0, 30.0  # after Ctrl-C: ask a local worker with SIGINT, then terminate it


def settle_running(plan: TrialPlan, poll_s: float = 2.0) -> None:
    """After this launcher's workers ended, wait until no trial is RUNNING or every one left was reclaimed.

    A worker that died on another node leaves its trial RUNNING until its heartbeat is older than
    study.grace_s; without this wait the runner would find nothing to queue again and end the study
    unfinished. A trial of a live worker elsewhere (one started by hand) finishes or is waited out.
    """
    study, storage = load_study(plan)
    deadline = time.time() + plan.spec.grace_s + plan.spec.heartbeat_s
    while time.time() < deadline:
        reclaim_stale(study, storage, plan.spec)  # dead here at once, elsewhere once its heartbeat is stale
        if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            return
        time.sleep(poll_s)


def _worker_main(plan: TrialPlan, index: int) -> None:
    """A spawned worker: with several GPUs, worker i takes GPU i (modulo their count). Ctrl-C ends it quietly
    once its trial's run is closed (the trainer closes it)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # started with SIGINT ignored: see run_workers
    try:
        import torch

        gpus = torch.cuda.device_count()  # NVML only: CUDA itself is not initialised yet
        if gpus > 1:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", ",".join(map(str, range(gpus)))).split(",")
            os.environ["CUDA_VISIBLE_DEVICES"] = visible[index % len(visible)]
        logging.basicConfig(level=logging.WARNING)
        work(plan)
    except KeyboardInterrupt:
        sys.exit(130)


def run_workers(plan: TrialPlan) -> None:
    """Run the study's study.workers workers until they end: processes here (study/launcher=local; one runs in
    this process), or on the launcher the study names; a worker lost on the way is reported, and its trial is
    reclaimed and queued again by the runner's next round."""
    name, workers = plan.spec.launcher["name"], plan.spec.workers
    if name != "local":
        require(name)  # load_spec checked it already; a plan built by hand may not have been
        importlib.import_module(LAUNCHERS[name]).run(plan)
        settle_running(plan)
        return
    if workers == 1:
        work(plan)
        return
    ctx = mp.get_context("spawn")  # fork after torch/MLflow threads start is unsafe
    procs = [ctx.Process(target=_worker_main, args=(plan, i), name=f"g2-worker-{i}") for i in range(workers)]
    # A worker starts with SIGINT ignored (inherited through exec) until its own handler is set: a Ctrl-C
    # while it imports would otherwise print a traceback from inside multiprocessing.
    with sigint_ignored():
        for proc in procs:
            proc.start()
    try:
        for proc in procs:
            proc.join()
            if proc.exitcode:
                say(f"worker {proc.name} exited with status {proc.exitcode}; its trial is queued again")
    except KeyboardInterrupt:
        with sigint_ignored():
            _stop_workers(procs)
        raise


def _stop_workers(procs: list) -> None:
    """After Ctrl-C: the workers got it too (a terminal signals the whole process group) and are closing
    their runs; one that was not signalled is asked with SIGINT, one that does not stop is terminated."""
    start, asked = time.monotonic(), False
    while any(p.is_alive() for p in procs) and time.monotonic() < start + STOP_TIMEOUT_S:
        if not asked and time.monotonic() > start + STOP_GRACE_S:
            for proc in procs:
                if proc.is_alive():
                    os.kill(proc.pid, signal.SIGINT)
            asked = True
        time.sleep(0.2)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()  # its trial stays RUNNING: the next command finds its worker gone and retries it
        proc.join()
