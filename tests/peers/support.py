"""Helpers of the peer tests: the REQUIRE_PEERS rule, running client commands, naming repositories.

A peer (skopeo, podman, Distribution, oras-py, python-dxf) that is not installed makes its tests
skip with a one-line reason; with ``REQUIRE_PEERS=1`` (as in CI) the same absence fails the run,
so a broken CI image can never pass by skipping everything.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import uuid
from types import ModuleType

import pytest

from registry_harness.client import RegistryClient
from registry_harness.clients import run_command
from registry_harness.target import parse_target

REQUIRE_ENV = "REQUIRE_PEERS"
COMMAND_TIMEOUT = 120


def peers_required() -> bool:
    """True when ``REQUIRE_PEERS`` is set to a true value: a missing peer then fails instead of skipping."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def missing_peer(reason: str) -> None:
    """Skip the test with ``reason``, or fail it when peers are required."""
    if peers_required():
        pytest.fail(f"required peer missing ({REQUIRE_ENV}=1): {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, package: str | None = None) -> str:
    """Path of the executable ``name``; skip (or fail under REQUIRE_PEERS) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        missing_peer(f"{name} is not installed (apt-get install {package or name})")
    return path  # type: ignore[return-value]


def require_module(name: str, distribution: str) -> ModuleType:
    """Import ``name``; skip (or fail under REQUIRE_PEERS) when its PyPI ``distribution`` is missing."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing_peer(f"Python module {name} is not installed (pip install {distribution})")
        raise  # unreachable: missing_peer always raises


def run(cmd: list[str], timeout: float = COMMAND_TIMEOUT, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """Run a client command (bounded in time); on failure the assertion shows the command and its output."""
    return run_command(cmd, timeout=timeout, env=env, check=check)


def peers_env(request: pytest.FixtureRequest, peers: tuple[str, ...]) -> dict[str, str]:
    """Require each named peer (``docker`` = the private engine, ``oras``, or a command such as ``skopeo``);
    returns the environment entries that point clients at them (DOCKER_HOST)."""
    env: dict[str, str] = {}
    for peer in peers:
        if peer == "docker":
            env.update(request.getfixturevalue("docker_engine").env)
        elif peer == "oras":
            require_module("oras.client", "oras")
        else:
            require_tool(peer)
    return env


def unique_repo(prefix: str) -> str:
    """A repository name no other test uses (tests share one registry per worker)."""
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def client_for(url: str) -> RegistryClient:
    """A RegistryClient for a registry base URL such as ``http://127.0.0.1:PORT``."""
    return RegistryClient(parse_target(url))


def netloc(url: str) -> str:
    """``host:port`` of a base URL, the form container clients put in image references."""
    return url.split("://", 1)[1].rstrip("/")


