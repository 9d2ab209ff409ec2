"""Configuration: composing the Hydra tree, hashing, flattening and redacting it (the contract it is
typed by while composing and checked against before any work is g2core.schema, by g2core.checks and g2core.validate).

Every entry point goes through `compose()` or `@hydra.main` on the same `conf/` tree, so a study trial
is exactly what `python experiments/train.py experiment=<variant> seed=<s> ...` would run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from g2core.checks import check_keys, check_value
from g2core.schema import ConfigError, register_schema

__all__ = [
    "ConfigError",
    "compose",
    "config_hash",
    "flatten",
    "project_root",
    "redact",
    "redact_url",
    "resolved_container",
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


def presets(group: str) -> dict[str, Path]:
    """name -> file of every preset of a group; a G2_CONF_PATH file shadows conf/'s of the same name."""
    found: dict[str, Path] = {}
    for folder in conf_dirs():
        for path in sorted((folder / group).glob("*.yaml")):
            found[path.stem] = path
    return dict(sorted(found.items()))


def searchpath_override() -> list[str]:
    """The Hydra override that adds G2_CONF_PATH's folders to the config search path ([] without any)."""
    extra = conf_dirs()[1:]
    return [f"hydra.searchpath=[{','.join(f'file://{d}' for d in extra)}]"] if extra else []


# Keys that change where things are written or how they are shown, never what is trained:
# they stay out of the config hash so moving paths.root or the tracking server keeps a run's identity.
_HASH_EXCLUDED = ("paths", "tracking", "study", "hydra")
_HASH_EXCLUDED_TRAINER = ("progress", "run_dir", "resume", "threads", "save_interval", "num_samples")
# Keys that every composed config holds since Hydra merges the typed schema (issue 25); at their default they
# stay out of the hash, so that runs made before keep their identity (resume, the report's config_hash).
_HASH_SCHEMA_DEFAULTS = {
    ("data", "mask_depth_range"): False,
    ("optim", "head_lr_mult"): 1.0,
    ("optim", "no_decay_norm_and_bias"): True,
    ("loss", "custom_terms"): {},
}
_SECRET_KEY = re.compile(r"password|passwd|token|secret|api_key|apikey", re.IGNORECASE)
_PASSWORD_IN_URL = re.compile(r"(://[^/@:]*):[^/@]*@")
_SECRET_IN_QUERY = re.compile(r"([?&][^=&#]*(?:pass|secret|token|key)[^=&#]*=)[^&#]*", re.IGNORECASE)


def project_root() -> Path:
    """The checkout that holds conf/ and this package, else the working directory (an installed package).

    Every default path (data cache, the MLflow store `sqlite:///<root>/mlflow.db`, `.stack/`) is anchored
    there, so the UI and the stack find the same root wherever they are started from.
    """
    return PACKAGE_ROOT if CONF_DIR.is_dir() and (PACKAGE_ROOT / "pyproject.toml").is_file() else Path.cwd()


if not OmegaConf.has_resolver("g2.project_root"):
    OmegaConf.register_new_resolver("g2.project_root", lambda: str(project_root()))
register_schema()


def schema_overrides(overrides: Sequence[str]) -> list[str]:
    """`+key=value` as `++key=value` (add or override) for every key that is not a config group: a key with a
    schema default is always there, and Hydra refuses to add it again (`+optim.head_lr_mult=10` stays what
    it said before the schema was merged). A new key still reaches the validator, which names it."""
    groups = {p.relative_to(d).as_posix() for d in conf_dirs() for p in d.rglob("*") if p.is_dir()}
    out = []
    for item in overrides:
        key = item.split("=", 1)[0]
        plain_add = key.startswith("+") and not key.startswith("++") and "=" in item
        out.append(f"+{item}" if plain_add and key[1:].split("@")[0] not in groups else item)
    return out


def compose_error(exc: BaseException) -> ConfigError | None:
    """Hydra's refusal of a value of the wrong type, or of a preset's key the schema lacks, as the one line the
    validator gives (None: Hydra's own message says it, e.g. an unknown preset)."""
    cause = exc.__cause__ or exc.__context__
    if not isinstance(cause, OmegaConfBaseException) or not cause.full_key:
        return None
    schema, key = cause.object_type, cause.key
    fields = {f.name: f for f in dataclasses.fields(schema)} if dataclasses.is_dataclass(schema) else {}
    if isinstance(cause, ConfigKeyError) and fields and str(exc).startswith("In '"):
        prefix = cause.full_key[: -len(str(key))]
        check_keys({key: None}, list(fields), prefix)  # raises: unknown key, did you mean ...
    if not isinstance(cause, ValidationError):
        return None
    if key in fields:
        kind, meta = typing.get_type_hints(schema)[key], fields[key].metadata
    else:  # an item of a typed list or mapping (optim.betas[0], loss.weights.ssi)
        kind, meta = (typing.get_args(cause.ref_type) or (Any,))[-1], {}
    try:
        check_value(cause.full_key, cause.value, kind, meta)
    except ConfigError as error:
        return error
    return ConfigError(f"{cause.full_key}={cause.value!r}: {str(cause.msg).splitlines()[0]}")


def check_override_types(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """What compose lets through: OmegaConf turns any integer into a boolean (trainer.compile=3 -> true)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key, value = override.key_or_group, override.value()
        if override.is_delete() or isinstance(value, bool) or str(value).startswith("${"):
            continue
        if isinstance(OmegaConf.select(cfg, key, default=None, throw_on_missing=False), bool):
            check_value(key, value, bool, {})


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """Compose `conf/<config_name>.yaml` with command-line style overrides (Hydra's compose API), typed by
    g2core.schema: a value of the wrong type is a ConfigError naming the key."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    overrides = schema_overrides(overrides)

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
    except HydraException as exc:
        error = compose_error(exc)
        if error is None:
            raise
        raise error from None
    finally:
        GlobalHydra.instance().clear()
        if saved is not None:
            GlobalHydra.instance().initialize(saved)
    check_override_types(cfg, overrides)
    return cfg


def config_hash(cfg: DictConfig) -> str:
    """A short stable hash of what determines a run's results (not where it is written)."""
    data = OmegaConf.to_container(cfg, resolve=True)
    for key in _HASH_EXCLUDED:
        data.pop(key, None)
    for key in _HASH_EXCLUDED_TRAINER:
        data.get("trainer", {}).pop(key, None)
    data.get("data", {}).pop("root", None)  # the synthetic cache folder moves with paths.root
    for (group, key), default in _HASH_SCHEMA_DEFAULTS.items():
        if data.get(group, {}).get(key, default) == default:
            data.get(group, {}).pop(key, None)
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
