"""Fixtures: reference registry servers on loopback ports (subprocesses, via the launcher)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reference_server.launcher import ServerProcess, start_server
from tests.server.helpers import Client


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One filesystem-backed registry with default switches, shared by the whole run."""
    root = tmp_path_factory.mktemp("registry-root")
    with start_server(["--root", str(root)]) as process:
        process.root = root  # type: ignore[attr-defined]
        yield process


@pytest.fixture
def client(server: ServerProcess) -> Client:
    """A client of the shared registry."""
    return Client(server.url)


@pytest.fixture
def repo() -> str:
    """A fresh repository name (nested, to exercise slashes in names)."""
    return f"test/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Client]]:
    """Start extra registries with given switches; each is stopped after the test."""
    started: list[ServerProcess] = []

    def make(*args: str, root: Path | None = None) -> Client:
        storage_root = root or tmp_path / f"root-{len(started)}"
        process = start_server(["--root", str(storage_root), *args])
        started.append(process)
        client = Client(process.url)
        client.process = process  # type: ignore[attr-defined]
        client.root = storage_root  # type: ignore[attr-defined]
        return client

    yield make
    for process in started:
        process.stop()
