"""A study definition (`conf/study/<name>.yaml`) checked before anything is trained."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from g2core.checks import validate_experiment_name, validate_name
from g2core.config import ConfigError, presets
from g2core.design import SPENDING, Design
from g2core.names import LOSS_TERMS, METRICS, VAL, metric_key, metric_spec, strip_split, study_experiment
from g2core.schema import StudyConfig
from g2core.study.launch.settings import check_launcher
from g2core.study.test_sets import parse_test_sets
from g2core.validate import check_node


def available(group: str) -> list[str]:
    return list(presets(group))


@dataclass(kw_only=True)
class StudySpec(StudyConfig):
    """A checked study: the keys of its YAML (g2core.schema.StudyConfig, with their defaults), and what the
    engine sets while it runs. The lists are tuples here."""

    seeds_auto: bool = False  # study.seeds was auto: seeds 0..max_seeds-1, added until decided
    # seeds auto: the (variant, seed) pairs of this round. The trials still suggest from the whole variants
    # and seeds lists: Optuna refuses a categorical parameter whose choices change within a study.
    round_pairs: tuple[tuple[str, int], ...] = ()
    # set by g2core.study.confirm on the confirmation stage's spec: the stage (its own Optuna study) and
    # its candidates, run key -> the weights that replace base_variant's
    stage: str = ""
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)

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
    """cfg.study, typed and defaulted by g2core.schema.StudyConfig, checked by the one validator (keys, types,
    ranges), then by the rules across keys and against conf/; every error names the key to fix."""
    # conf/ablate.yaml holds the study schema: without +study=<name> its name is still ??? (not `in`)
    if not isinstance(cfg.get("study"), DictConfig) or "name" not in cfg.study:
        raise ConfigError(
            f"no study selected: pass +study=<name>; available: {', '.join(available('study'))}"
        )
    check_node(cfg.study, StudyConfig, "study.")
    s = OmegaConf.to_container(cfg.study, resolve=True)
    name = validate_name(str(s.get("name", "")), "study.name")
    kind = s["kind"]
    if kind not in ("ablation", "search"):
        raise ConfigError(f"study.kind={kind!r}: expected ablation or search")
    experiments = available("experiment")
    variants = tuple(str(v) for v in (s["variants"] or ()))
    if kind == "ablation" and not variants:
        raise ConfigError(
            "study.variants: a study needs at least one variant (experiment preset); "
            f"available: {', '.join(experiments)}"
        )
    for v in variants:
        validate_name(v, "study.variants")
        if v not in experiments:
            raise ConfigError(
                f"study.variants: unknown experiment preset {v!r}; available: {', '.join(experiments)}"
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
    space: dict[str, tuple[float, float]] = {}
    if kind == "search":
        if s["base_variant"] not in experiments:
            raise ConfigError(
                f"study.base_variant={s['base_variant']!r}: unknown preset; available: {', '.join(experiments)}"
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
        s["objectives"] = _objectives(s["objectives"])
        if s["objectives"]:
            s["metric"] = s["objectives"][0]
            s["direction"] = (
                "minimize" if metric_spec(strip_split(s["metric"]), True).lower_is_better else "maximize"
            )
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
        test_sets=parse_test_sets(s["test_sets"], str(cfg.paths.root)),
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
