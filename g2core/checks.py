"""The checks of one key against a rule, shared by compose (g2core.config) and the validator (g2core.validate):
a key nothing reads, a value of the wrong type or out of range, a name that becomes a folder. Each raises one
ConfigError line naming the key and how to fix it (tests/test_bad_input.py pins them)."""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, ListConfig

from g2core.schema import ConfigError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_keys(node: Mapping, allowed: Sequence[str], prefix: str) -> None:
    """A key nothing reads (`+trainer.max_epoch=3`) would be silently ignored: name it instead."""
    for key in map(str, node.keys()):
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = (
                f"did you mean {prefix}{close[0]}?"
                if close
                else f"known here: {', '.join(sorted(set(allowed)))}"
            )
            raise ConfigError(f"{prefix}{key}: unknown key (no file in conf/ defines it); {hint}")


def check_value(key: str, value: Any, kind: Any, meta: Mapping[str, Any]) -> None:
    """One leaf against its annotation and its rule; the messages are the ones users and tests know."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if value is None:
            return
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if meta.get("choices"):
        if value not in meta["choices"]:
            raise ConfigError(f"{key}={value!r}: expected one of {', '.join(map(str, meta['choices']))}")
        return
    ge, gt = meta.get("ge"), meta.get("gt")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r}: expected an integer")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{key}={value!r}: expected a number")
    elif kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r}: expected true or false")
    elif kind is str and not isinstance(value, str):
        raise ConfigError(f"{key}={value!r}: expected a string")
    elif typing.get_origin(kind) is list:
        if not isinstance(value, ListConfig | list):
            raise ConfigError(f"{key}={value!r}: expected a list")
        for i, item in enumerate(value):
            check_value(f"{key}[{i}]", item, typing.get_args(kind)[0], {})
    elif typing.get_origin(kind) is dict and not isinstance(value, DictConfig | dict):
        raise ConfigError(f"{key}={value!r}: expected a mapping")
    if gt is not None and value <= gt:
        raise ConfigError(f"{key}={value}: must be > {gt}")
    if ge is not None and value < ge:
        raise ConfigError(f"{key}={value}: must be >= {ge}")


def validate_name(value: str, key: str) -> str:
    """Names that become folder names or run names: no separators, no `..`, nothing hidden."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise ConfigError(
            f"{key}={value!r}: use letters, digits, '_', '-' and '.' only (no '/', no '..'), "
            "starting with a letter or digit, at most 100 characters"
        )
    return value


def validate_experiment_name(name: str, key: str = "tracking.experiment") -> str:
    """MLflow experiment names may hold '/', e.g. g2/train; each part becomes part of an artifact folder."""
    parts = name.split("/")
    if not name or len(name) > 200 or any(not _SAFE_NAME.match(p) or ".." in p for p in parts):
        raise ConfigError(
            f"{key}={name!r}: use '/'-separated parts of letters, digits, '_', '-' and '.' (no '..', no empty "
            "part), e.g. g2/my_study"
        )
    return name
