"""Trial planning, shared by the worker (worker.py), a torchrun trial's ranks (ddp_trial.py) and the launchers:
what every trial of a study shares (`TrialPlan`), one trial's config, the study as a worker opens it (its
sampler and pruner), and the hooks that tie a training run to its Optuna trial.

Each trial's config is composed exactly as `python experiments/train.py experiment=<v> seed=<s> ...` would be.
"""

from __future__ import annotations

import os
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from omegaconf import DictConfig, open_dict

from g2core.config import compose
from g2core.names import (
    ATTR_RUN_ID,
    ROLE_CHILD,
    STAGE_CONFIRM,
    STAGE_SEARCH,
    TAG_ROLE,
    TAG_STAGE,
    TAG_STUDY,
    TAG_TRIAL,
    weight_param,
)
from g2core.study.spec import StudySpec
from g2core.study.storage import open_storage
from g2core.train import StopTraining, TrainHooks
from g2core.train.setup import Dist, from_master

ONE_PROCESS = Dist()  # a trial trained in the worker's own process


@dataclass(frozen=True)
class TrialPlan:
    """What every trial of a study shares (picklable: it crosses into spawned workers)."""

    spec: StudySpec
    cli_overrides: tuple[str, ...]
    parent_run_id: str
    storage_url: str
    threads: int | None = None
    since_trial: int = 0  # failures counted against study.max_failures start here (this invocation)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialPlan:
        """The plan that `dataclasses.asdict` wrote as JSON: its lists back to the tuples the dataclasses hold."""
        spec = dict(data["spec"])
        spec.update({k: tuple(spec[k]) for k in ("variants", "seeds", "overrides")})
        spec["round_pairs"] = tuple((str(v), int(s)) for v, s in spec.get("round_pairs", ()))
        return cls(**{**data, "spec": StudySpec(**spec), "cli_overrides": tuple(data["cli_overrides"])})


def trial_config(
    plan: TrialPlan,
    variant: str,
    seed: int,
    key: str,
    trial: int | None,
    weights: dict[str, float] | None = None,
) -> DictConfig:
    spec = plan.spec
    # A confirmation candidate is a pseudo-variant named by its key: base_variant with its own weights.
    preset = spec.base_variant if spec.stage == STAGE_CONFIRM else variant
    overrides = [f"experiment={preset}", f"seed={seed}", *spec.overrides, *plan.cli_overrides]
    overrides += [f"{weight_param(term)}={w}" for term, w in (weights or {}).items()]
    overrides += [f"variant={variant}"] if preset != variant else []
    cfg = compose(overrides)
    with open_dict(cfg):  # where the trial is filed, not what it trains
        cfg.tracking.experiment = spec.experiment
        cfg.tracking.parent_run_id = plan.parent_run_id
        cfg.tracking.run_name = key
        cfg.tracking.tags = {
            TAG_STUDY: spec.name,
            TAG_TRIAL: trial if trial is not None else -1,
            TAG_ROLE: ROLE_CHILD,
        }
        if spec.kind == "search" or spec.stage:
            cfg.tracking.tags[TAG_STAGE] = spec.stage or STAGE_SEARCH
        cfg.trainer.run_dir = str(spec.run_dir(cfg.paths.root, key))
        cfg.trainer.progress = False
        if plan.threads:
            cfg.trainer.threads = plan.threads
    return cfg


def search_sampler(n_trials: int, seed: int) -> optuna.samplers.TPESampler:
    """TPE after a third of the budget (1 to 5 trials) of random start-up proposals."""
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, max(1, n_trials // 3)))


def median_pruner(warmup_epochs: int) -> optuna.pruners.MedianPruner:
    """Median pruning once two trials have finished, never before `warmup_epochs` epochs."""
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup_epochs)


def load_study(plan: TrialPlan) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    """The study as a worker sees it (its sampler and pruner), and the storage it was opened on."""
    spec = plan.spec
    seed = spec.seeds[0]
    if spec.workers > 1:  # workers seeded alike proposed the same first weights, each trained twice
        seed = zlib.crc32(f"{seed}:{socket.gethostname()}:{os.getpid()}".encode())
    sampler = search_sampler(spec.n_trials, seed)
    # Optuna cannot prune a multi-objective trial (no intermediate values): a Pareto search trains every trial
    pruned = spec.kind == "search" and not spec.objectives
    pruner = median_pruner(spec.pruner_warmup_epochs) if pruned else optuna.pruners.NopPruner()
    storage = open_storage(plan.storage_url)
    study = optuna.load_study(study_name=spec.optuna_name, storage=storage, sampler=sampler, pruner=pruner)
    return study, storage


def trial_hooks(spec: StudySpec, trial: optuna.Trial | None, ranks: Dist = ONE_PROCESS) -> TrainHooks:
    """The training run's hooks for its trial: the run id is named on the trial, and in a search each
    validation goes to the pruner. Under torchrun only the master rank holds the trial (`trial` None on
    the others): its decision is broadcast, so that every rank stops together."""

    def on_validation(epoch: int, metrics: dict[str, float]) -> None:
        if spec.kind != "search" or spec.objectives:
            return
        pruned = False
        if trial is not None:
            trial.report(metrics[spec.metric], epoch)
            pruned = trial.should_prune()
        if from_master(pruned, ranks):
            raise StopTraining(f"pruned by Optuna's median pruner at epoch {epoch + 1}")

    started = (lambda run_id: trial.set_user_attr(ATTR_RUN_ID, run_id)) if trial is not None else None
    return TrainHooks(on_run_started=started, on_validation=on_validation)
