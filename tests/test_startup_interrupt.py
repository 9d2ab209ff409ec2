"""Ctrl-C while an entry point is still importing (seconds; ~40 s on a loaded machine): one line on stderr
and status 130 from the first second, never a traceback out of some import (issue 24, point 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from g2core.startup import INTERRUPTED, INTERRUPTED_STATUS, STARTUP_INTERRUPTED
from tests.conftest import REPO

ONE_LINE = {f"g2-ablate: {STARTUP_INTERRUPTED}", f"g2-ablate: {INTERRUPTED}"}

ENTRY_POINTS = {
    "ablate": ["+study=loss_terms"],
    "train": [],
    "report": ["+study=loss_terms"],
    "evaluate": ["ckpt=missing.pt"],
}


def _as_a_terminal_starts_it() -> None:
    # A shell without job control starts background jobs with SIGINT ignored and children inherit it;
    # a program started from a terminal gets the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("after", [0.5, 1.0, 2.0])
def test_ctrl_c_while_starting_is_one_line(tmp_path: Path, after: float) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(REPO / "experiments" / f"{name}.py"), *args, f"paths.root={tmp_path}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
            start_new_session=True,  # its own process group, which the Ctrl-C below goes to
            preexec_fn=_as_a_terminal_starts_it,
        )
        for name, args in ENTRY_POINTS.items()
    }
    # 0.5 s: importing hydra/mlflow; later: Hydra composing, main's own imports (torch, optuna, scipy,
    # torchmetrics: a KeyboardInterrupt there left numpy half-imported or aborted in pybind11 code).
    time.sleep(after)
    # A fast machine may have finished one (evaluate's missing checkpoint) by 2 s: that one is not asked.
    asked = {name: proc for name, proc in procs.items() if after < 1 or proc.poll() is None}
    assert asked, "every entry point finished before the Ctrl-C"
    for proc in asked.values():
        os.killpg(proc.pid, signal.SIGINT)
    outputs = {name: proc.communicate(timeout=60) for name, proc in procs.items()}
    for name, proc in asked.items():
        out, err = outputs[name]
        lines = [line for line in err.splitlines() if line.strip()]
        assert proc.returncode == INTERRUPTED_STATUS, (name, proc.returncode, err[-3000:])
        # While starting: "nothing was started"; once a work section ran (the store probe): the usual line.
        assert len(lines) == 1 and lines[0] in ONE_LINE, (name, err[-3000:])
        assert "Traceback" not in out + err


def test_a_sigint_the_process_was_started_ignoring_stays_ignored() -> None:
    # A background job of a shell without job control must not start reacting to the shell's Ctrl-C.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "from g2core.startup import quiet_start; quiet_start()\n"
        "assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN\n"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0


def test_transformers_stays_out_of_start_up() -> None:
    # torchmetrics imports transformers (the `hf` extra) for text metrics the project never uses: 0.8-1.3 s
    # in every driver and worker. Depth Anything V2 imports it itself, when a model is built.
    pytest.importorskip("transformers")
    code = (
        "import sys, g2core.train, g2core.evaluation, g2core.study\n"
        "assert 'transformers' not in sys.modules, 'transformers imported at start-up'\n"
        "from g2core.metrics import DepthMetrics; DepthMetrics()\n"
        "import transformers  # still importable afterwards\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
