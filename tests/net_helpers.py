"""Helpers that only tests use: free ports, which addresses a port listens on, the compose file as resolved.

They were in g2core.stack; users never called them, so they live beside the tests.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from pathlib import Path

from g2core.stack.compose import ComposeError, run_compose

# Kernel TCP state 0x0A is LISTEN (include/net/tcp_states.h).
_TCP_LISTEN = "0A"


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just reported free on `host` (racy by nature, good enough for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _decode_proc_address(hex_addr: str) -> str:
    # /proc/net/tcp{,6} print addresses as host-order 32-bit words in hex (little-endian on x86/arm).
    words = [bytes.fromhex(hex_addr[i : i + 8])[::-1] for i in range(0, len(hex_addr), 8)]
    return str(ipaddress.ip_address(b"".join(words)))


def listening_addresses(port: int, proc_net: Path = Path("/proc/net")) -> list[str]:
    """Local addresses with a LISTEN socket on `port`, read from /proc (no ss/psutil needed)."""
    found: list[str] = []
    for name in ("tcp", "tcp6"):
        table = proc_net / name
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr_hex, port_hex = local.rsplit(":", 1)
            if state == _TCP_LISTEN and int(port_hex, 16) == port:
                found.append(_decode_proc_address(addr_hex))
    return found


def resolved_config(
    path: str | os.PathLike[str] = "docker-compose.yml", env_file: str | os.PathLike[str] | None = None
) -> dict:
    """The fully interpolated configuration, every profile included (what `docker compose up` would run)."""
    result = run_compose(path, "config", "--format", "json", env_file=env_file)
    if result.returncode != 0:
        raise ComposeError(f"{path} is not a valid compose file: {(result.stderr or result.stdout).strip()}")
    return json.loads(result.stdout)


def published_ports(config: dict) -> list[tuple[str, str, str]]:
    """(service, host_ip, published port) for every port the stack publishes on the host."""
    return [
        (name, port.get("host_ip", ""), str(port.get("published", "")))
        for name, service in config.get("services", {}).items()
        for port in service.get("ports", [])
    ]
