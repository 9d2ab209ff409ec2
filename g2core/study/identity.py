"""One study = one set of settings.

The settings every trial of a study shares (conf/train.yaml with the study's overrides and the command
line's, resolved) are recorded on the Optuna study when it is created. The same command again resumes the
study; a command with other settings is refused before anything is trained or written, because finished
trials would otherwise be reported under settings they were not trained with.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.storages import BaseStorage

from g2core.config import ConfigError, compose, flatten, resolved_container
from g2core.names import ATTR_FINGERPRINT, ATTR_SETTINGS
from g2core.study.spec import StudySpec
from g2core.study.storage import study_attrs

# Overrides that a study sets for each trial itself: on the command line they would make every trial the
# same recipe (or seed) under names that say otherwise.
TRIAL_KEYS = {
    "seed": "a study gives each trial its seed from study.seeds; pass study.seeds=[{v}] instead",
    "experiment": "a study gives each trial its preset from study.variants; pass study.variants=[{v}] instead",
    "variant": "a study names each trial after its preset in study.variants; pass study.variants=[...] instead",
}
# Keys that say where a trial is written or logged, what it runs on, or which (variant, seed) it is:
# changing them does not change what a trial learns or how it is measured.
NOT_SHARED = (
    "seed",
    "variant",
    "paths",
    "tracking",
    "hydra",
    "data.num_workers",
    "data.persistent_workers",
    "trainer.run_dir",
    "trainer.progress",
    "trainer.threads",
    "trainer.resume",
    "trainer.device",
    "trainer.compile",
    "trainer.channels_last",
    "trainer.save_interval",
    "trainer.num_samples",
    "trainer.log_every_n_steps",
)
SHOWN = 6  # differing keys named in the refusal; the rest are counted


def refuse_trial_overrides(overrides: Sequence[str]) -> None:
    """`seed=3`, `experiment=midas` or `variant=x` on a study's command line: one line naming the study key."""
    for item in overrides:
        key, _, value = item.lstrip("+~").partition("=")
        if key.strip() in TRIAL_KEYS:
            raise ConfigError(f"{item}: {TRIAL_KEYS[key.strip()].format(v=value or '...')}")


def _not_shared(key: str) -> bool:
    return any(key == k or key.startswith(f"{k}.") for k in NOT_SHARED)


def shared_settings(spec: StudySpec, cli_overrides: Sequence[str]) -> dict[str, Any]:
    """The resolved settings every trial of the study shares, flattened (`trainer.max_epochs` -> 5).

    An ablation's variants each bring their own preset, so none is composed here; a search's trials all
    start from its base preset, so that one is.
    """
    preset = [f"experiment={spec.variants[0]}"] if spec.kind == "search" else []
    flat = flatten(resolved_container(compose([*preset, *spec.overrides, *cli_overrides])))
    if flat.get("data.name") == "synthetic":
        flat.pop("data.root", None)  # the generated scenes' cache folder, not a dataset
    # Through JSON, as the storage keeps it, so that a stored copy compares equal to a fresh one.
    return json.loads(json.dumps({k: v for k, v in sorted(flat.items()) if not _not_shared(k)}, default=str))


def fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def check_same_settings(storage: BaseStorage, spec: StudySpec, settings: dict[str, Any]) -> None:
    """Refuse to add to a stored study whose trials share other settings (reads the storage only)."""
    attrs = study_attrs(storage, spec.name)
    if not attrs or attrs.get(ATTR_FINGERPRINT) in (None, fingerprint(settings)):
        return  # a new study, one recorded before studies kept their settings, or the same settings
    old = attrs.get(ATTR_SETTINGS) or {}
    # Keys on one side only come from a config tree that grew or shrank since (a new key keeps the old
    # behaviour by default); a key the two share with another value is a different study.
    keys = sorted(k for k in old.keys() & settings.keys() if old[k] != settings[k])
    if not keys:
        return
    shown = [f"{k} ({old[k]!r} then, {settings[k]!r} now)" for k in keys[:SHOWN]]
    more = f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    raise ConfigError(
        f"study.name={spec.name}: this study's trials were trained with other settings: "
        f"{', '.join(shown)}{more}; run it with the same settings to resume it, "
        f"or start a separate study with study.name={_free_name(storage, spec.name, keys, settings)}"
    )


def record_settings(study: optuna.Study, settings: dict[str, Any]) -> None:
    """Keep the shared settings on a study that has none yet (a new one, or one from before)."""
    if ATTR_FINGERPRINT not in study.user_attrs:
        study.set_user_attr(ATTR_SETTINGS, settings)
        study.set_user_attr(ATTR_FINGERPRINT, fingerprint(settings))


def _free_name(storage: BaseStorage, name: str, keys: list[str], settings: dict[str, Any]) -> str:
    """A study name not taken yet; after the one changed setting when that is short (loss_terms_max_epochs10)."""
    taken = set(optuna.get_all_study_names(storage))
    candidates = [f"{name}_{n}" for n in range(2, 100)]
    if len(keys) == 1 and isinstance(settings.get(keys[0]), int | float | str):
        leaf = re.sub(r"[^A-Za-z0-9_.-]", "", f"{keys[0].rsplit('.', 1)[-1]}{settings[keys[0]]}")
        candidates.insert(0, f"{name}_{leaf}"[:100])
    return next((c for c in candidates if c not in taken), f"{name}_new")
