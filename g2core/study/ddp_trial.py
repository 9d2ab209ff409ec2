"""One study trial on several processes: `study.procs_per_trial: N` (N > 1) trains each trial as
`torchrun --standalone --nproc_per_node=N -m g2core.study.ddp_trial <handoff>` instead of in the worker's
own process, so that a Ray task or a SLURM job holding N GPUs gives all of them to one trial (DDP, one GPU
per process; gloo on a CPU).

The worker hands the child the trial's composed config itself (as JSON, with the study plan and the Optuna
trial id), not command-line overrides: the child run is then filed exactly as an in-process trial's is
(the same parent, run name, study/trial/role tags, run folder and config hash). The master process opens
the Optuna study to name the MLflow run on the trial and, in a search, to report each validation to the
pruner; its decision is broadcast, so every rank stops together. It writes the outcome (the best metrics,
pruned, or the error) as JSON beside the handoff for the worker to read.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf

from g2core.study.plan import TrialPlan, load_study, trial_hooks
from g2core.train import StopTraining, TrainHooks, close_distributed, train
from g2core.train.setup import Dist
from g2core.train.trainer import TrainResult

HANDOFF = "ddp_trial.handoff.json"  # in the trial's run folder: written by the worker, read by every rank
OUTCOME = "ddp_trial.json"  # written by the master rank, read by the worker


def train_trial(cfg: DictConfig, hooks: TrainHooks, plan: TrialPlan, trial: optuna.Trial) -> TrainResult:
    """Train one trial: in this process, or as a torchrun job of study.procs_per_trial processes."""
    procs = plan.spec.procs_per_trial
    if procs <= 1:
        return train(cfg, hooks, validated=True)  # the runner's preflight validated it
    run_dir = Path(cfg.trainer.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    handoff, outcome = run_dir / HANDOFF, run_dir / OUTCOME
    outcome.unlink(missing_ok=True)
    # JSON, not pickle: nothing read back from disk may execute code (tests/test_bad_input.py scans for it)
    job = {
        "cfg": OmegaConf.to_container(cfg, resolve=True),
        "plan": asdict(plan),
        "trial_number": trial.number,
    }
    handoff.write_text(json.dumps(job))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
    proc = subprocess.Popen([*torchrun, "-m", "g2core.study.ddp_trial", str(handoff)])
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached torchrun too: let the ranks close the run as KILLED
        proc.wait(timeout=120)
        raise
    finally:
        handoff.unlink(missing_ok=True)
    return _result(outcome, code, procs)


def _result(outcome: Path, code: int, procs: int) -> TrainResult:
    if not outcome.exists():
        raise RuntimeError(
            f"torchrun --nproc_per_node={procs} exited with status {code} before the trial ended "
            "(study.procs_per_trial); its output is above"
        )
    out = json.loads(outcome.read_text())
    outcome.unlink()
    if out.get("pruned"):
        raise StopTraining(out["pruned"])
    if out.get("error"):
        raise RuntimeError(out["error"])
    return TrainResult(**{**out, "run_dir": Path(out["run_dir"])})


def _open_trial(plan: TrialPlan, trial_number: int) -> optuna.Trial:
    """The worker's running trial, reopened in the master rank through the storage's public lookups."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study, storage = load_study(plan)
    study_id = storage.get_study_id_from_name(study.study_name)
    return optuna.trial.Trial(study, storage.get_trial_id_from_study_id_trial_number(study_id, trial_number))


def main(handoff: Path) -> int:
    """One rank of the torchrun job: train the handed-off trial; the master writes the outcome."""
    logging.basicConfig(level=logging.WARNING)
    job: dict[str, Any] = json.loads(handoff.read_text())  # written by this trial's worker a moment ago
    cfg, plan = OmegaConf.create(job["cfg"]), TrialPlan.from_json(job["plan"])
    ranks = Dist.from_env()
    outcome: dict[str, Any] = {}
    try:
        trial = _open_trial(plan, job["trial_number"]) if ranks.master else None
        result = train(cfg, trial_hooks(plan.spec, trial, ranks), validated=True)
        outcome = {**asdict(result), "run_dir": str(result.run_dir)}
        close_distributed()  # every rank got here: leave the group together
    except StopTraining as exc:
        outcome = {"pruned": str(exc)}
    except Exception as exc:
        outcome = {"error": f"{type(exc).__name__}: {exc}"}
    if ranks.master:
        (handoff.parent / OUTCOME).write_text(json.dumps(outcome))
    return 1 if "error" in outcome else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
