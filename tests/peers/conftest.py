"""Fixtures of the peer tests: real registries on loopback and the ``require_tool`` rule as a fixture."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.peers.support import missing_peer
from tests.peers.support import require_tool as _require_tool


@pytest.fixture
def require_tool() -> Callable[..., str]:
    """``require_tool(name, package=None)``: the tool's path, else skip (or fail under REQUIRE_PEERS)."""
    return _require_tool


@pytest.fixture
def engine(docker_engine) -> Iterator[object]:
    """docker-py driving the private Docker engine (registry_harness.clients.DockerEngine)."""
    from registry_harness.clients import DockerEngine
    from tests.peers.support import require_module

    require_module("docker", "docker")
    engine = DockerEngine.connect(docker_engine.host)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="session")
def reference_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The reference server (filesystem storage, defaults) on a loopback port; yields its base URL."""
    try:
        from reference_server.launcher import start_server
    except ImportError as exc:  # the server is part of this repository: its absence is a defect, never a skip
        pytest.fail(f"reference_server.launcher is not importable: {exc}", pytrace=False)
    root = tmp_path_factory.mktemp("reference-registry")
    with start_server(["--listen", "127.0.0.1:0", "--root", str(root)]) as server:
        yield server.url.rstrip("/")


def _distribution(tmp_path_factory: pytest.TempPathFactory, name: str, schema1: bool) -> Iterator[str]:
    from registry_harness.peers import distribution_binary, start_distribution

    if distribution_binary() is None:
        missing_peer("Distribution is not installed (apt-get install docker-registry)")
    with start_distribution(tmp_path_factory.mktemp(name), schema1=schema1) as url:
        yield url


@pytest.fixture(scope="session")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's Distribution 2.8 (filesystem storage, delete enabled) on a loopback port."""
    yield from _distribution(tmp_path_factory, "distribution", schema1=False)


@pytest.fixture(scope="session")
def distribution_schema1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Distribution 2.8 with ``compatibility.schema1.enabled``: converts schema2 to signed schema1 on GET."""
    yield from _distribution(tmp_path_factory, "distribution-schema1", schema1=True)


@pytest.fixture(params=["reference", "distribution"])
def registry(request: pytest.FixtureRequest) -> str:
    """Base URL of each registry a client test runs against: the reference server, then Distribution 2.8.

    Distribution is the control: a client flow that passes there but fails on the reference server
    points at the server, not at the test.
    """
    fixture = "reference_registry" if request.param == "reference" else "distribution"
    return request.getfixturevalue(fixture)
