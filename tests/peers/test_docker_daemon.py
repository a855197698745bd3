"""The seed's own flow through a Docker daemon: docker pull, docker tag, docker push (docker-py).

Runs only where a local daemon answers; there is none on daemonless CI machines, so this test
skips there (even under REQUIRE_PEERS: a daemon is not a package the CI can install). docker-py
reports push and pull failures inside a JSON stream that arrives with HTTP 200, so every stream
is scanned for ``error``/``errorDetail``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import pytest

from registry_harness.builders import build_image
from tests.peers.support import client_for, netloc, unique_repo

TAG = "7.0.5-bullseye"


def stream_errors(events: Iterable[dict]) -> list[str]:
    """Every error a docker-py progress stream carried (it never raises for these)."""
    errors = []
    for event in events:
        if "errorDetail" in event or "error" in event:
            errors.append(str(event.get("errorDetail") or event.get("error")))
    return errors


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    """docker-py's client for the local daemon; session-scoped so its skip comes before any server starts."""
    try:
        import docker
    except ImportError:
        pytest.skip("docker-py is not installed (pip install docker); it is only useful with a Docker daemon")
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        pytest.skip(f"the Docker daemon at DOCKER_HOST={host} cannot reach this machine's loopback registry")
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # docker-py raises several unrelated types when no daemon is there
        where = host or "unix:///var/run/docker.sock"
        pytest.skip(f"no Docker daemon reachable at {where} ({type(exc).__name__}); docker push/pull not exercised")
    try:
        yield client
    finally:
        client.close()


def test_docker_pull_tag_push_like_the_seed(docker_client, reference_registry: str) -> None:
    host = netloc(reference_registry)
    client = client_for(reference_registry)
    image = build_image((4096, 8192), "docker", real_layers=True)
    source = unique_repo("docker/source")
    client.push_image(source, image, TAG)
    api = docker_client.api  # type: ignore[attr-defined]

    errors = stream_errors(api.pull(f"{host}/{source}", tag=TAG, stream=True, decode=True))
    assert errors == [], f"docker pull reported: {errors}"
    pulled = docker_client.images.get(f"{host}/{source}:{TAG}")  # type: ignore[attr-defined]
    assert pulled.id == image.config.digest

    target = f"{host}/redis"  # `docker tag redis:7.0.5-bullseye localhost:5000/redis:7.0.5-bullseye`
    try:
        assert pulled.tag(target, TAG)
        errors = stream_errors(api.push(target, tag=TAG, stream=True, decode=True))
        assert errors == [], f"docker push reported: {errors}"
        assert "redis" in client.catalog(expect=200).json()["repositories"]
        assert client.tags_list("redis", expect=200).json() == {"name": "redis", "tags": [TAG]}
        served = client.get_manifest("redis", TAG, expect=200).json()
        assert served["config"]["digest"] == image.config.digest
    finally:
        for ref in (f"{target}:{TAG}", f"{host}/{source}:{TAG}"):
            docker_client.images.remove(ref, force=True)  # type: ignore[attr-defined]
