"""Process and network probes shared by the library (tracking, study, report) and stack/: is a pid alive,
is a port taken, does a URL answer 200, wait until something is ready."""

from __future__ import annotations

import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie (a zombie answers kill(0) but is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def port_in_use(host: str, port: int) -> bool:
    """True when something already accepts connections on host:port."""
    probe = "127.0.0.1" if host in ("0.0.0.0", "") else host
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((probe, port)) == 0


def http_error(url: str, timeout: float = 2.0) -> str | None:
    """None when GET url answers 200, else why not (the connection's error, or the status it got)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        return str(getattr(exc, "reason", exc))


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET url answers 200 (used on MLflow's unauthenticated /health)."""
    return http_error(url, timeout) is None


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
) -> None:
    """Poll `check` every 0.1 s; fail fast when `alive` says the process behind it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not alive():
            raise RuntimeError(f"{what}: the process exited before it became ready")
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
