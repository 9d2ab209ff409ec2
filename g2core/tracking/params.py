"""Params as a shared server should show them (issue 24): the same on every machine, so that "show diff only"
compares settings, not home folders.

- a path under `paths.root` is written relative to it (`data.root = data/synthetic`), `paths.root` itself as
  `.`; any other absolute path in the user's home folder starts with `~`. URIs (`sqlite:////abs/x.db`) keep
  their scheme;
- unset settings (None) are left out: an absent param says "not set" without a `None` that reads as a value;
- keys renamed where the config's name says too little (names.PARAM_NAMES).

The config, its hash and config.yaml keep the real values: this is only what MLflow shows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from g2core.config import project_root
from g2core.names import PARAM_NAMES, ROOT_PARAM

_URI_SCHEMES = ("sqlite:///", "file://")


def params_root(flat: Mapping[str, Any]) -> str:
    """The root paths are written relative to: the run's `paths.root` when its params hold it, else what the
    config would resolve it to (G2_ROOT, else the project root), e.g. for a study parent's `study.*`."""
    root = flat.get(ROOT_PARAM)
    return str(root) if root else os.environ.get("G2_ROOT") or str(project_root())


def portable_path(text: str, root: str) -> str:
    """`text` with an absolute local path made relative to `root` (or to `~`); anything else unchanged."""
    for scheme in _URI_SCHEMES:
        if text.startswith(scheme) and text[len(scheme) :].startswith("/"):
            return scheme + portable_path(text[len(scheme) :], root)
    if not text.startswith("/"):
        return text
    path, base = PurePosixPath(os.path.normpath(text)), PurePosixPath(os.path.normpath(root))
    if path == base:
        return "."
    if path.is_relative_to(base):
        return path.relative_to(base).as_posix()
    home = PurePosixPath(str(Path.home()))
    if home != PurePosixPath("/") and path.is_relative_to(home):
        return (PurePosixPath("~") / path.relative_to(home)).as_posix()
    return text


def portable_params(flat: Mapping[str, Any], root: str | None = None) -> dict[str, Any]:
    """Flattened params as MLflow gets them: renamed, unset ones left out, local paths relative (above)."""
    base = root or params_root(flat)
    return {
        PARAM_NAMES.get(key, key): portable_path(value, base) if isinstance(value, str) else value
        for key, value in flat.items()
        if value is not None
    }
