"""`study.launcher` (conf/study/launcher/*.yaml) checked before anything is trained; imports neither Ray
nor submitit, so a bad setting is one line even where the extra is not installed."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from g2core.config import ConfigError
from g2core.validate import check_keys

# Every key each launcher reads, with the value a config may leave out.
DEFAULTS: dict[str, dict[str, Any]] = {
    "local": {},
    "ray": {"address": None, "num_cpus": None, "resources": {"cpu": 1, "gpu": 0}},
    "slurm": {
        "cluster": None,
        "partition": None,
        "account": None,
        "time_min": 240,
        "gpus": 0,
        "cpus": 4,
        "mem_gb": None,
        "max_requeue": 3,
        "folder": None,
        "setup": [],
    },
}
SLURM_CLUSTERS = (None, "slurm", "local", "debug")
# launcher -> (the package it needs, the extra that installs it)
PACKAGES = {"ray": ("ray", "ray"), "slurm": ("submitit", "slurm")}
_RAY_ADDRESS = re.compile(r"^(ray://)?[A-Za-z0-9_.\[\]:-]+:\d+$")


def _count(key: str, value: Any, minimum: int, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"study.launcher.{key}={value!r}: expected an integer >= {minimum}")


def require(name: str) -> None:
    """One line naming the extra when the launcher's package is not installed (found, not imported)."""
    if name not in PACKAGES:
        return
    package, extra = PACKAGES[name]
    if importlib.util.find_spec(package) is None:
        raise ConfigError(
            f"study.launcher={name}: needs the {package!r} package; pip install -e '.[{extra}]'"
        )


def check_launcher(launcher: dict[str, Any] | None, root: str | Path, study: str) -> dict[str, Any]:
    """The launcher settings with their defaults filled in; every error names the key to fix."""
    given = dict(launcher or {"name": "local"})
    name = given.get("name", "local")
    if name not in DEFAULTS:
        raise ConfigError(
            f"study.launcher.name={name!r}: expected one of {', '.join(DEFAULTS)}; "
            "select one with study/launcher=<name> (e.g. study/launcher=ray)"
        )
    check_keys(given, ["name", *DEFAULTS[name]], "study.launcher.")
    require(name)
    s = {"name": name, **DEFAULTS[name], **given}
    if name == "ray":
        address = s["address"]
        if address is not None and not (address == "auto" or _RAY_ADDRESS.match(str(address))):
            raise ConfigError(
                f"study.launcher.address={address!r}: expected null (a local cluster), auto, "
                "ray://host:port (Ray Client) or host:port (the head's GCS)"
            )
        _count("num_cpus", s["num_cpus"], 1, optional=True)
        resources = {**DEFAULTS["ray"]["resources"], **dict(s["resources"] or {})}
        check_keys(resources, ["cpu", "gpu"], "study.launcher.resources.")
        _count("resources.cpu", resources["cpu"], 1)
        _count("resources.gpu", resources["gpu"], 0)
        s["resources"] = resources
    elif name == "slurm":
        if s["cluster"] not in SLURM_CLUSTERS:
            raise ConfigError(
                f"study.launcher.cluster={s['cluster']!r}: expected null (SLURM), local or debug"
            )
        for key, minimum in (("time_min", 1), ("gpus", 0), ("cpus", 1), ("max_requeue", 0)):
            _count(key, s[key], minimum)
        _count("mem_gb", s["mem_gb"], 1, optional=True)
        if not isinstance(s["setup"], list | tuple) or not all(isinstance(x, str) for x in s["setup"]):
            raise ConfigError(f"study.launcher.setup={s['setup']!r}: expected a list of shell lines")
        s["setup"] = list(s["setup"])
        s["folder"] = str(s["folder"] or Path(root) / "studies" / study / "slurm")
    return s
