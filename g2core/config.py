"""Configuration: composing the Hydra tree, hashing, flattening and redacting it (the contract it is
checked against before any work is g2core.schema, by g2core.validate).

Every entry point goes through `compose()` or `@hydra.main` on the same `conf/` tree, so a study trial
is exactly what `python experiments/train.py experiment=<variant> seed=<s> ...` would run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

# The contract is g2core.schema, its checks g2core.validate; every entry point imports them from here.
from g2core.schema import ConfigError, register_schema
from g2core.validate import validate_experiment_name, validate_name, validate_train_config

__all__ = [
    "ConfigError",
    "compose",
    "config_hash",
    "flatten",
    "project_root",
    "redact",
    "redact_url",
    "resolved_container",
    "validate_experiment_name",
    "validate_name",
    "validate_train_config",
]

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = PACKAGE_ROOT / "conf"
# Folders of the user's own presets (experiment/my_recipe.yaml, study/my_study.yaml, model/, loss/, data/),
# searched after conf/ by compose() and by the experiments/*.py entry points; several: os.pathsep-separated.
EXTRA_CONF_ENV = "G2_CONF_PATH"


def conf_dirs() -> list[Path]:
    """conf/, then every folder of G2_CONF_PATH (absolute, so a study's spawned workers find the same)."""
    extra = [
        Path(p).expanduser().resolve() for p in os.environ.get(EXTRA_CONF_ENV, "").split(os.pathsep) if p
    ]
    return [CONF_DIR, *extra]


def searchpath_override() -> list[str]:
    """The Hydra override that adds G2_CONF_PATH's folders to the config search path ([] without any)."""
    extra = conf_dirs()[1:]
    return [f"hydra.searchpath=[{','.join(f'file://{d}' for d in extra)}]"] if extra else []


# Keys that change where things are written or how they are shown, never what is trained:
# they stay out of the config hash so moving paths.root or the tracking server keeps a run's identity.
_HASH_EXCLUDED = ("paths", "tracking", "study", "hydra")
_HASH_EXCLUDED_TRAINER = ("progress", "run_dir", "resume", "threads", "save_interval", "num_samples")
_SECRET_KEY = re.compile(r"password|passwd|token|secret|api_key|apikey", re.IGNORECASE)
_PASSWORD_IN_URL = re.compile(r"(://[^/@:]*):[^/@]*@")
_SECRET_IN_QUERY = re.compile(r"([?&][^=&#]*(?:pass|secret|token|key)[^=&#]*=)[^&#]*", re.IGNORECASE)


def project_root() -> Path:
    """The checkout that holds conf/ and this package, else the working directory (an installed package).

    Every default path (data cache, the MLflow store `sqlite:///<root>/mlflow.db`, `.stack/`) is anchored
    there, so the UI and the stack find the same root wherever they are started from.
    """
    return PACKAGE_ROOT if CONF_DIR.is_dir() and (PACKAGE_ROOT / "pyproject.toml").is_file() else Path.cwd()


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("g2.project_root"):
        OmegaConf.register_new_resolver("g2.project_root", lambda: str(project_root()))


register_resolvers()
register_schema()


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """Compose `conf/<config_name>.yaml` with command-line style overrides (Hydra's compose API)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    # A study composes many trial configs inside a running @hydra.main; compose needs its own context.
    saved = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose(
                config_name=config_name,
                overrides=[*searchpath_override(), *overrides],
                return_hydra_config=False,
            )
    finally:
        GlobalHydra.instance().clear()
        if saved is not None:
            GlobalHydra.instance().initialize(saved)
    return cfg


def config_hash(cfg: DictConfig) -> str:
    """A short stable hash of what determines a run's results (not where it is written)."""
    data = OmegaConf.to_container(cfg, resolve=True)
    for key in _HASH_EXCLUDED:
        data.pop(key, None)
    for key in _HASH_EXCLUDED_TRAINER:
        data.get("trainer", {}).pop(key, None)
    data.get("data", {}).pop("root", None)  # the synthetic cache folder moves with paths.root
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def redact_url(text: str) -> str:
    """A URL (or any text holding one) with its password and secret query values replaced by ***.

    Textual on purpose: urlunsplit would turn `sqlite:////abs/path` into `sqlite://abs/path`.
    """
    return _SECRET_IN_QUERY.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1:***@", text))


def redact(key: str, value: Any) -> Any:
    """Hide credentials: values of secret-looking keys, and passwords inside URLs."""
    if _SECRET_KEY.search(key):
        return "***"
    return redact_url(value) if isinstance(value, str) else value


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'loss': {'weights': {'ssi': 0.5}}} -> {'loss.weights.ssi': 0.5}, secrets redacted."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{full}."))
        else:
            out[full] = redact(full, value)
    return out


def resolved_container(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python data (what is saved in checkpoints and config.yaml)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
