"""A study definition (`conf/study/<name>.yaml`) checked before anything is trained."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from g2core.config import ConfigError, conf_dirs, validate_experiment_name, validate_name
from g2core.design import SPENDING, Design
from g2core.names import LOSS_TERMS, METRICS, VAL, metric_key, metric_spec, strip_split, study_experiment
from g2core.study.launch.settings import check_launcher
from g2core.study.test_sets import parse_test_sets
from g2core.validate import check_keys


def available(group: str) -> list[str]:
    return sorted({p.stem for d in conf_dirs() for p in (d / group).glob("*.yaml")})


@dataclass(frozen=True)
class StudySpec:
    """The study schema: every key a `conf/study/*.yaml` may hold, with the default a study leaves out."""

    name: str
    kind: str = "ablation"  # ablation | search
    variants: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()  # the YAML may say auto: seeds 0..max_seeds-1, added until decided
    seeds_auto: bool = False
    first_seeds: int = 2  # seeds auto: the first round's seeds (the first look)
    max_seeds: int = 3  # seeds auto: the last look
    alpha: float = 0.05  # family-wise error of the primary verdicts
    equivalence_margin: float = 0.05  # share of the baseline mean (README: why 5%)
    alpha_spending: str = "obrien_fleming"  # seeds auto: obrien_fleming | pocock (g2core.design)
    # seeds auto: the (variant, seed) pairs of this round. The trials still suggest from the whole variants
    # and seeds lists: Optuna refuses a categorical parameter whose choices change within a study.
    round_pairs: tuple[tuple[str, int], ...] = ()
    baseline: str = ""  # "" = the first variant
    metric: str = metric_key(VAL, "abs_rel")
    direction: str = "minimize"  # minimize | maximize
    overrides: tuple[str, ...] = ()
    workers: int = 1  # the YAML may say auto: resolved by auto_workers
    procs_per_trial: int = 1  # > 1: each trial is a torchrun DDP job of that many processes (ddp_trial)
    storage: str | None = None
    max_failures: int = 3
    experiment: str = ""  # "" = g2/<name>
    base_variant: str = "baseline"  # search: the preset whose other settings every trial keeps
    n_trials: int = 0
    search_space: dict[str, tuple[float, float]] = field(default_factory=dict)
    # search: after the search, train its top confirm_top_k weight sets and base_variant over seeds until
    # decided (first_seeds..max_seeds) and compare them on the test split (g2core.study.confirm)
    confirm: bool = True
    confirm_top_k: int = 3
    # search: two or more validation metrics searched together (Optuna's multi-objective TPE, no pruning), each
    # in its own direction (g2core.names.metric_spec); the first is the deciding metric (checkpoint selection,
    # the confirmation's verdict), the candidates come from the Pareto front (g2core.study.confirm)
    objectives: tuple[str, ...] = ()
    # set by g2core.study.confirm on the confirmation stage's spec: the stage (its own Optuna study) and
    # its candidates, run key -> the weights that replace base_variant's
    stage: str = ""
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)
    # study.test_sets: name -> data config, every trial's best.pt evaluated on it (g2core.study.test_sets)
    test_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    pruner_warmup_epochs: int = 1
    heartbeat_s: float = 20.0
    grace_s: float = 120.0
    # where the workers run (conf/study/launcher/*.yaml, g2core.study.launch): local | ray | slurm
    launcher: dict[str, Any] = field(default_factory=lambda: {"name": "local"})

    @property
    def design(self) -> Design:
        """How the primary comparisons are decided: looks over seeds (auto) or one look at the seed list."""
        # a search is decided by its confirmation stage: seeds until decided, as study.seeds=auto
        confirming = self.kind == "search" and self.confirm
        first, last = (
            (self.first_seeds, self.max_seeds) if self.seeds_auto or confirming else (len(self.seeds),) * 2
        )
        return Design(self.alpha, self.equivalence_margin, first, last, self.alpha_spending)

    @property
    def directions(self) -> list[str]:
        """Optuna's direction of each objective (the study's direction alone when there is one)."""
        if not self.objectives:
            return [self.direction]
        lower = (
            metric_spec(strip_split(m), self.direction == "minimize").lower_is_better for m in self.objectives
        )
        return ["minimize" if low else "maximize" for low in lower]

    @property
    def optuna_name(self) -> str:
        """The Optuna study of this stage: a search's confirmation has its own (its trials are (candidate,
        seed) pairs, not the sampler's proposals), beside the search's in the same storage."""
        return f"{self.name}.{self.stage}" if self.stage else self.name

    def pairs(self) -> list[tuple[str, int]]:
        if self.round_pairs:
            return list(self.round_pairs)
        return [(v, s) for v in self.variants for s in self.seeds]

    def storage_url(self, root: str | Path) -> str:
        if self.storage:
            return self.storage
        return str(Path(root) / "studies" / self.name / "optuna.journal")

    def run_dir(self, root: str | Path, key: str) -> Path:
        return Path(root) / "studies" / self.name / "runs" / key


def search_key(params: dict[str, Any]) -> str:
    """Folder / run key of a search trial: the same weights resume the same run after a crash."""
    blob = json.dumps({k: round(float(v), 10) for k, v in sorted(params.items())})
    return "w-" + hashlib.sha256(blob.encode()).hexdigest()[:10]


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check_rounds(s: dict[str, Any], why: str) -> None:
    """study.first_seeds / study.max_seeds, which seeds-until-decided rounds need (`why` names the setting)."""
    for key in ("first_seeds", "max_seeds"):
        if not _is_int(s[key], 2):
            raise ConfigError(f"study.{key}={s[key]!r}: expected an integer >= 2 with {why}")
    if s["max_seeds"] < s["first_seeds"]:
        raise ConfigError(
            f"study.max_seeds={s['max_seeds']}: must be >= study.first_seeds={s['first_seeds']}"
        )


def load_spec(cfg: DictConfig) -> StudySpec:
    """Read and check cfg.study against StudySpec; every error names the key to fix."""
    # conf/ablate.yaml selects study/launcher by default: a study without +study=<name> has only that
    if "study" not in cfg or not isinstance(cfg.study, DictConfig) or set(cfg.study) <= {"launcher"}:
        raise ConfigError(
            f"no study selected: pass +study=<name>; available: {', '.join(available('study'))}"
        )
    schema = {f.name: f for f in fields(StudySpec)}
    check_keys(cfg.study, [k for k in schema if k not in RUNTIME_KEYS], "study.")
    s = {**{k: f.default for k, f in schema.items() if f.default is not MISSING}, "search_space": {}}
    s.update(OmegaConf.to_container(cfg.study, resolve=True))
    name = validate_name(str(s.get("name", "")), "study.name")
    kind = s["kind"]
    if kind not in ("ablation", "search"):
        raise ConfigError(f"study.kind={kind!r}: expected ablation or search")
    presets = available("experiment")
    variants = tuple(str(v) for v in (s["variants"] or ()))
    if kind == "ablation" and not variants:
        raise ConfigError(
            "study.variants: a study needs at least one variant (experiment preset); "
            f"available: {', '.join(presets)}"
        )
    for v in variants:
        validate_name(v, "study.variants")
        if v not in presets:
            raise ConfigError(
                f"study.variants: unknown experiment preset {v!r}; available: {', '.join(presets)}"
            )
    if len(set(variants)) != len(variants):
        raise ConfigError(f"study.variants: {list(variants)} lists a variant twice")
    s["seeds_auto"] = s["seeds"] == AUTO
    if s["seeds_auto"]:
        _check_rounds(s, "study.seeds=auto")
        s["seeds"] = tuple(range(s["max_seeds"]))
    seeds = tuple(s["seeds"] or ())
    if not seeds or not all(_is_int(x, 0) for x in seeds):
        raise ConfigError(
            f"study.seeds={list(seeds)}: expected auto or a non-empty list of integers >= 0, e.g. [0,1]"
        )
    for key in ("alpha", "equivalence_margin"):
        if isinstance(s[key], bool) or not isinstance(s[key], int | float) or not 0 < s[key] < 1:
            raise ConfigError(f"study.{key}={s[key]!r}: expected a number between 0 and 1, e.g. 0.05")
    if s["alpha_spending"] not in SPENDING:
        raise ConfigError(
            f"study.alpha_spending={s['alpha_spending']!r}: expected one of {', '.join(SPENDING)}"
        )
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"study.seeds={list(seeds)}: a seed is listed twice")
    baseline = str(s["baseline"] or (variants[0] if variants else ""))
    if kind == "ablation" and baseline not in variants:
        raise ConfigError(f"study.baseline={baseline!r}: must be one of study.variants {list(variants)}")
    if not str(s["metric"]).startswith(metric_key(VAL, "")):
        raise ConfigError(f"study.metric={s['metric']!r}: expected a validation metric such as val/abs_rel")
    if s["direction"] not in ("minimize", "maximize"):
        raise ConfigError(f"study.direction={s['direction']!r}: expected minimize or maximize")
    if s["workers"] != AUTO and not _is_int(s["workers"], 1):
        raise ConfigError(f"study.workers={s['workers']!r}: expected an integer >= 1 or auto")
    if not _is_int(s["procs_per_trial"], 1):
        raise ConfigError(
            f"study.procs_per_trial={s['procs_per_trial']!r}: expected an integer >= 1 (processes, one GPU each)"
        )
    if not _is_int(s["max_failures"], 0):
        raise ConfigError(f"study.max_failures={s['max_failures']!r}: expected an integer >= 0")
    for key in ("pruner_warmup_epochs", "heartbeat_s", "grace_s"):
        if isinstance(s[key], bool) or not isinstance(s[key], int | float) or s[key] < 0:
            raise ConfigError(f"study.{key}={s[key]!r}: expected a number >= 0")
    space: dict[str, tuple[float, float]] = {}
    if kind == "search":
        if s["base_variant"] not in presets:
            raise ConfigError(
                f"study.base_variant={s['base_variant']!r}: unknown preset; available: {', '.join(presets)}"
            )
        variants, baseline = (str(s["base_variant"]),), ""
        if not _is_int(s["n_trials"], 1):
            raise ConfigError(f"study.n_trials={s['n_trials']!r}: a search needs an integer >= 1")
        if not s["search_space"]:
            raise ConfigError(
                "study.search_space: a search needs ranges, e.g. {ssi: [0.05, 1.0], silog: [0.05, 1.0]}"
            )
        for term, bounds in s["search_space"].items():
            if term not in LOSS_TERMS:
                raise ConfigError(
                    f"study.search_space.{term}: unknown loss term {term!r}; known terms: {', '.join(LOSS_TERMS)}"
                )
            if not (isinstance(bounds, list) and len(bounds) == 2 and 0 <= bounds[0] < bounds[1]):
                raise ConfigError(
                    f"study.search_space.{term}={bounds!r}: expected [low, high] with 0 <= low < high"
                )
            space[str(term)] = (float(bounds[0]), float(bounds[1]))
        s["objectives"] = _objectives(s.get("objectives"))
        if s["objectives"]:
            s["metric"] = s["objectives"][0]
            s["direction"] = (
                "minimize" if metric_spec(strip_split(s["metric"]), True).lower_is_better else "maximize"
            )
        if not isinstance(s["confirm"], bool):
            raise ConfigError(f"study.confirm={s['confirm']!r}: expected true or false")
        if not _is_int(s["confirm_top_k"], 1):
            raise ConfigError(f"study.confirm_top_k={s['confirm_top_k']!r}: expected an integer >= 1")
        if s["confirm"] and not s["seeds_auto"]:
            _check_rounds(s, "study.confirm")
    s.update(
        name=name,
        variants=variants,
        seeds=seeds,
        baseline=baseline,
        overrides=tuple(str(o) for o in (s["overrides"] or ())),
        storage=str(s["storage"]) if s["storage"] else None,
        experiment=validate_experiment_name(
            str(s["experiment"] or study_experiment(name)), "study.experiment"
        ),
        n_trials=s["n_trials"] if kind == "search" else 0,
        search_space=space,
        test_sets=parse_test_sets(s.get("test_sets"), str(cfg.paths.root)),
        alpha=float(s["alpha"]),
        equivalence_margin=float(s["equivalence_margin"]),
        heartbeat_s=float(s["heartbeat_s"]),
        grace_s=float(s["grace_s"]),
        launcher=check_launcher(s["launcher"], cfg.paths.root, name),
    )
    if s["workers"] == AUTO:
        first = s["first_seeds"] if s["seeds_auto"] else len(seeds)
        trials = s["n_trials"] if kind == "search" else len(variants) * first
        s["workers"] = auto_workers(trials, s["procs_per_trial"], s["launcher"]["name"])
    return StudySpec(**s)


AUTO = "auto"


def _objectives(value: Any) -> tuple[str, ...]:
    """study.objectives: none, or two or more distinct validation metrics such as [val/abs_rel, val/dbe_acc]."""
    if not value:
        return ()
    metrics = tuple(str(m) for m in value) if isinstance(value, list | tuple) else ()
    known = [metric_key(VAL, m) for m in METRICS]
    if len(metrics) < 2 or len(set(metrics)) != len(metrics) or not set(metrics) <= set(known):
        raise ConfigError(
            f"study.objectives={value!r}: expected two or more distinct validation metrics, e.g. "
            f"[val/abs_rel, val/dbe_acc]; known: {', '.join(known)}"
        )
    return metrics


RUNTIME_KEYS = ("stage", "candidates")  # set by g2core.study.confirm, never by a study's YAML


def auto_workers(trials: int, procs_per_trial: int, launcher: str) -> int:
    """study.workers=auto on this machine: one worker per GPU (per procs_per_trial GPUs), else one per CPU
    core with one torch thread each (benchmarks/RESULTS.md: on 2 cores, 2 one-thread workers train 1.23x the
    trials/h of one two-thread worker: a small model leaves cores idle, and process start, validation and
    checkpointing overlap), never more workers than trials."""
    if launcher != "local":
        raise ConfigError(
            f"study.workers=auto: with study/launcher={launcher}, say how many "
            f"{'Ray tasks' if launcher == 'ray' else 'SLURM jobs'} to start, e.g. study.workers=4"
        )
    import torch  # after the checks above: a bad study key fails without importing torch

    gpus = torch.cuda.device_count()
    slots = gpus // procs_per_trial if gpus else (os.cpu_count() or 1) // procs_per_trial
    return max(1, min(slots, trials))
