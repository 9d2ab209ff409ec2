"""`study.launcher` (conf/study/launcher/*.yaml, typed by g2core.schema) checked before anything is trained;
imports neither Ray nor submitit, so a bad setting is one line even where the extra is not installed."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from g2core.config import ConfigError
from g2core.schema import LAUNCHERS
from g2core.validate import check_node

SLURM_CLUSTERS = (None, "slurm", "local", "debug")
# launcher -> (the package it needs, the extra that installs it)
PACKAGES = {"ray": ("ray", "ray"), "slurm": ("submitit", "slurm")}
_RAY_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9_.\[\]:-]+:\d+$")


def require(name: str) -> None:
    """One line naming the extra when the launcher's package is not installed (found, not imported)."""
    if name not in PACKAGES:
        return
    package, extra = PACKAGES[name]
    if importlib.util.find_spec(package) is None:
        raise ConfigError(
            f"study.launcher={name}: needs the {package!r} package; pip install -e '.[{extra}]'"
        )


def check_launcher(launcher: Mapping[str, Any] | None, root: str | Path, study: str) -> dict[str, Any]:
    """The launcher settings, checked against their schema (g2core.schema.LAUNCHERS: keys, types, ranges and
    the defaults of the keys left out) and here for what no type says; every error names the key to fix."""
    given = OmegaConf.create(dict(launcher or {"name": "local"}))
    name = given.get("name", "local")
    if name not in LAUNCHERS:
        raise ConfigError(
            f"study.launcher.name={name!r}: expected one of {', '.join(LAUNCHERS)}; "
            "select one with study/launcher=<name> (e.g. study/launcher=ray)"
        )
    check_node(given, LAUNCHERS[name], "study.launcher.")
    require(name)
    s = OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(LAUNCHERS[name]), given))
    if name == "ray":
        address = s["address"]
        if address is not None and not (address == "auto" or _RAY_ADDRESS.match(str(address))):
            raise ConfigError(
                f"study.launcher.address={address!r}: expected null (a local cluster), auto, "
                "ray://host:port (Ray Client) or host:port (the head's GCS)"
            )
    elif name == "slurm":
        if s["cluster"] not in SLURM_CLUSTERS:
            raise ConfigError(
                f"study.launcher.cluster={s['cluster']!r}: expected null (SLURM), local or debug"
            )
        s["folder"] = str(s["folder"] or Path(root) / "studies" / study / "slurm")
    return s
