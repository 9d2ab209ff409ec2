"""Ctrl-C in an entry point: one line and status 130, from the first second.

Importing hydra, torch, mlflow and optuna takes seconds on an idle 2-core machine and about 40 s on a
loaded one. A KeyboardInterrupt raised inside those imports printed a ~70-line traceback, and it is not
even safe: a library that swallows it carries on half-imported (numpy then fails with a RecursionError),
and one raised inside pybind11 code aborts the process (status -6). So outside the work itself Ctrl-C
leaves at once, from the signal handler: nothing has been created there, so nothing needs closing.
Inside the work (`g2core.cli.run_cli`, via `interruptible`) Ctrl-C raises KeyboardInterrupt as usual,
so that the MLflow runs are closed as KILLED and the checkpoints kept.

Standard library only, and g2core/__init__.py imports nothing: this module is the first thing each script in
experiments/ imports, before the heavy imports:

    from g2core.startup import quiet_start
    quiet_start()
    import hydra  ...
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

INTERRUPTED = "interrupted; run the same command again to resume"
STARTUP_INTERRUPTED = "interrupted while starting; nothing was started"
INTERRUPTED_STATUS = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C

_state: dict[str, Any] = {"previous": None, "worked": False}


def _leave(signum: int, frame: Any) -> None:
    # os._exit, not sys.exit: a SystemExit raised inside an import can be caught by the library importing
    # it (a bare `except:`); nothing is open outside the work, so there is nothing to flush or close.
    line = INTERRUPTED if _state["worked"] else STARTUP_INTERRUPTED
    os.write(2, f"\ng2-ablate: {line}\n".encode())
    os._exit(INTERRUPTED_STATUS)


def quiet_start() -> None:
    """From now on, outside `interruptible` sections, Ctrl-C exits at once with one line and status 130.

    A SIGINT the process was started ignoring (a background job of a shell without job control) stays
    ignored, as Python itself leaves it.
    """
    current = signal.getsignal(signal.SIGINT)
    if current is signal.SIG_IGN or current is _leave:
        return
    _state["previous"] = current
    signal.signal(signal.SIGINT, _leave)


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt inside (the work closes its runs); after it, the quiet exit again.

    A no-op in a process that never called `quiet_start` (tests, library use).
    """
    if signal.getsignal(signal.SIGINT) is not _leave:
        yield
        return
    signal.signal(signal.SIGINT, _state["previous"])
    _state["worked"] = True
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, _leave)
