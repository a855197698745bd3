"""Fixtures shared by every folder of the harness's tests: a private Docker engine.

The engine starts once per test process (each xdist worker has its own, on its own socket) and
only when a test asks for it; it is stopped by its PID, its mounts cleaned, also after failures.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry_harness.engine import Engine, EngineError, start_engine, unavailable_reason
from tests.peers.support import missing_peer


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    """A private dockerd (host network, its own socket and storage); ``engine.env`` holds its DOCKER_HOST.

    Skipped with the reason when this machine cannot run one (not root, docker.io not installed);
    under REQUIRE_PEERS=1 that is a failure.
    """
    reason = unavailable_reason()
    if reason:
        missing_peer(reason)
    try:
        with start_engine() as engine:
            yield engine
    except EngineError as exc:
        pytest.fail(str(exc), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "early: a long test that starts first, so it runs beside the others "
                                       "(under pytest -n 2) instead of after them")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``early`` go first, in a stable order (every xdist worker collects the same list)."""
    items.sort(key=lambda item: item.get_closest_marker("early") is None)
