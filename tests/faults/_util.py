"""Helpers of the faults tier: watching a folder (inotify) to pick the moment of a fault, the processes
under test, and recording what happened."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mlflow import MlflowClient

from tests.conftest import REPO, tiny
from tests.faults.record import record

IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x8, 0x80, 0x100
_EVENT = struct.Struct("iIII")


def env(**extra: str) -> dict[str, str]:
    """CPU, one thread (so a resumed run computes what an uninterrupted one does), no full Hydra errors."""
    out = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "HYDRA_FULL_ERROR",
            "G2_ROOT",
            "G2_CONF_PATH",
            "G2_STUDY_STORAGE",
            "MLFLOW_TRACKING_URI",
            "G2_QUEUE_NOTE",
        )
    }
    out.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", **extra})
    return out


def small(root: Path, data_root: Path, *extra: str) -> list[str]:
    """`tiny` with the session's shared synthetic data cache."""
    return tiny(root, f"data.root={data_root}", *extra)


def train_cmd(root: Path, data_root: Path, *extra: str) -> list[str]:
    return [sys.executable, str(REPO / "experiments" / "train.py"), *small(root, data_root, *extra)]


def ablate_cmd(root: Path, data_root: Path, *extra: str, study: str = "loss_terms") -> list[str]:
    return [
        sys.executable,
        str(REPO / "experiments" / "ablate.py"),
        f"+study={study}",
        *small(root, data_root, *extra),
    ]


class DirWatch:
    """inotify on one folder: returns as soon as a matching file event happens (no sleeps, no polling)."""

    _libc = ctypes.CDLL(None, use_errno=True)

    def __init__(self, folder: Path, mask: int = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or self._libc.inotify_add_watch(self.fd, os.fsencode(folder), mask) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {folder}")
        self.folder = folder

    def wait(
        self, match: Callable[[int, str], bool], proc: subprocess.Popen | None = None, timeout: float = 180
    ) -> str:
        """The name of the first file event `match(mask, name)` accepts; fails when `proc` ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                data, offset = os.read(self.fd, 1 << 16), 0
                while offset < len(data):
                    _, mask, _, length = _EVENT.unpack_from(data, offset)
                    name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0").decode()
                    offset += _EVENT.size + length
                    if match(mask, name):
                        return name
            elif proc is not None and proc.poll() is not None:
                raise AssertionError(
                    f"the process ended (status {proc.returncode}) before the awaited event in {self.folder}"
                )
        raise AssertionError(f"no awaited event in {self.folder} within {timeout:.0f}s")

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> DirWatch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_files(pid: int) -> set[str]:
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
    except OSError:
        pass
    return out


def wait_until(
    condition: Callable[[], bool],
    proc: subprocess.Popen | None,
    what: str,
    timeout: float = 180,
    interval: float = 0.002,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended (status {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the direct children of a process, read from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append(
                    (int(entry), Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode())
                )
        except (OSError, ValueError, IndexError):
            continue
    return out


def kill9(proc: subprocess.Popen, group: bool = False) -> None:
    if group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out or "", err or ""


def sqlite_client(root: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{root / 'mlflow.db'}")


def duplicate_steps(client: MlflowClient, run_id: str) -> dict[str, list[int]]:
    """Metric keys of a run with a step logged more than once -> their steps."""
    out = {}
    for key in client.get_run(run_id).data.metrics:
        steps = [m.step for m in client.get_metric_history(run_id, key)]
        if len(steps) != len(set(steps)):
            out[key] = steps
    return out


def histories(client: MlflowClient, run_id: str) -> dict[str, list[tuple[int, float]]]:
    return {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        for key in client.get_run(run_id).data.metrics
    }


@dataclass
class Outcome:
    """What a fault test found: set data_lost before asserting; survived is set on the way out."""

    data_lost: int = 0
    details: dict = field(default_factory=dict)


@contextmanager
def injected(
    request, *faults: str, times: int = 1, kind: str = "fault", **details: object
) -> Iterator[Outcome]:
    """Record each fault (survived unless the block raised) in test-artifacts/faults.jsonl; `kind` is
    `fault`, `bad_input` or `security`, as in `record`."""
    outcome = Outcome(details=dict(details))
    survived = False
    try:
        yield outcome
        survived = True
    finally:
        for fault in faults:
            record(
                fault,
                test=request.node.nodeid,
                injected=times,
                survived=survived,
                data_lost=outcome.data_lost,
                kind=kind,
                **outcome.details,
            )
