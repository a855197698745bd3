"""The Dockerfile and docker-compose.yml agree with the CLIs they start (no Docker engine needed to check)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from reference_server.__main__ import build_parser
from tests.peers.support import require_module

ROOT = Path(__file__).resolve().parents[2]
SERVER_CMD = ["python", "-m", "reference_server", "--listen", "0.0.0.0:5000", "--root", "/var/lib/registry"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


@pytest.fixture(scope="module")
def compose() -> dict:
    yaml = require_module("yaml", "pyyaml")
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_dockerfile_installs_the_project_on_python_311_and_serves_on_5000() -> None:
    instructions = dockerfile_instructions()
    assert instructions[:2] == [("ARG", "BASE_IMAGE=python:3.11-slim"), ("FROM", "${BASE_IMAGE}")]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11", "the base image's Python no longer matches requires-python"
    assert any(word == "RUN" and "python3 -m venv /opt/registry-harness" in rest
               and "pip install --no-cache-dir '.[load]'" in rest for word, rest in instructions)
    cmd = [rest for word, rest in instructions if word == "CMD"]
    assert len(cmd) == 1 and json.loads(cmd[0]) == SERVER_CMD
    assert ("EXPOSE", "5000") in instructions


def test_server_command_is_valid_for_the_cli() -> None:
    args = build_parser().parse_args(SERVER_CMD[3:])
    assert args.listen == ("0.0.0.0", 5000)
    assert str(args.root) == "/var/lib/registry"


def test_dockerignore_keeps_local_state_out_but_not_the_sources() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "results", "data"} <= ignored
    needed = {"pyproject.toml", "README.md", "registry_harness", "reference_server", "conformance", "load"}
    assert not needed & ignored
    assert (ROOT / "README.md").exists(), "pyproject's readme must be in the build context"


def test_compose_runs_the_reference_server_on_5000_and_distribution_on_5001(compose: dict) -> None:
    services = compose["services"]
    reference, distribution = services["reference"], services["distribution"]
    assert reference["build"]["context"] == "."
    assert reference["build"]["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-python:3.11-slim}"
    assert reference["command"] == SERVER_CMD
    assert reference["ports"] == ["127.0.0.1:5000:5000"]
    assert any(v.endswith(":/var/lib/registry") for v in reference["volumes"])

    assert distribution["image"] == "registry:2"
    assert distribution["ports"] == ["127.0.0.1:5001:5000"]
    assert distribution["environment"]["REGISTRY_STORAGE_DELETE_ENABLED"] == "true"


def test_compose_suite_service_targets_both_registries_by_service_name(compose: dict) -> None:
    suite = compose["services"]["conformance"]
    assert suite["entrypoint"] == ["python", "-m", "conformance"]
    assert suite["image"] == compose["services"]["reference"]["image"]
    command = suite["command"]
    target = command[command.index("--target") + 1]
    assert target.split(":")[0] in compose["services"]
    assert command[command.index("--tls") + 1] == "disabled", "service names are not loopback: say plain http"


def test_host_network_compose_file_publishes_nothing_and_stays_on_loopback() -> None:
    yaml = require_module("yaml", "pyyaml")
    services = yaml.safe_load((ROOT / "docker-compose.host.yml").read_text())["services"]
    assert set(services) == {"reference", "conformance"}
    for service in services.values():
        assert service["network_mode"] == "host" and "ports" not in service and "build" not in service
    listen = services["reference"]["command"][services["reference"]["command"].index("--listen") + 1]
    assert listen == "127.0.0.1:${REFERENCE_PORT:-5000}"
    command = services["conformance"]["command"]
    assert command[command.index("--target") + 1] == listen
