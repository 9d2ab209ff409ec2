"""A report is written whole or not at all: into a hidden folder beside its own, then moved in.

Each file is renamed over its namesake (atomic on POSIX, and a rename needs no space), only once every file
was written; a write that fails (a full disk, an error) leaves the previous report as it was. Files of
out_dir that are not part of the report are left alone, as before.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from g2core.net import pid_alive

SUFFIX = ".partial-"
_CLEANUPS: dict[Path, Callable[[], None]] = {}


def staging_folder(out_dir: Path) -> Path:
    """An empty folder beside `out_dir` (same file system) to write the report into, removed at exit unless
    published; those left by processes that died writing are removed now."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.parent.glob(f".{out_dir.name}{SUFFIX}*"):
        pid = stale.name.rsplit(SUFFIX, 1)[1]
        if not pid.isdigit() or int(pid) == os.getpid() or not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    stage = out_dir.parent / f".{out_dir.name}{SUFFIX}{os.getpid()}"
    stage.mkdir()
    _CLEANUPS[stage] = functools.partial(shutil.rmtree, stage, True)
    atexit.register(_CLEANUPS[stage])
    return stage


def publish(stage: Path, out_dir: Path, files: list[Path]) -> list[Path]:
    """Move every file written into `stage` over its namesake in `out_dir`; returns `files` as moved."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        target = out_dir / path.relative_to(stage)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    shutil.rmtree(stage, ignore_errors=True)
    cleanup = _CLEANUPS.pop(stage, None)
    if cleanup is not None:
        atexit.unregister(cleanup)
    return [out_dir / Path(p).relative_to(stage) for p in files]
