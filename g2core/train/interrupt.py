"""Ctrl-C: the cleanup after a first interrupt must not be cut short by a second one.

A terminal sends SIGINT to every process of the command (the study's main process and its workers). Each
closes what it holds (the MLflow run as KILLED; a study's parent run); a second Ctrl-C in the middle of that
would leave the run RUNNING and print a traceback, so SIGINT is ignored while the cleanup runs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT inside the block (main thread only: elsewhere signals are not ours to set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
