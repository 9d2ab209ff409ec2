"""Where the project and its local stack directory are."""

from __future__ import annotations

from pathlib import Path

from g2core.config import project_root

__all__ = ["default_stack_dir", "project_root"]  # project_root: the one definition is g2core.config's


def default_stack_dir() -> Path:
    """`.stack/` in the project: git-ignored, holds the local cluster, logs and the generated password."""
    return project_root() / ".stack"
