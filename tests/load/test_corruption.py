"""A registry that corrupts blob bodies: every such pull counts as a failure, and the run fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp import web

from reference_server.app import create_app
from reference_server.config import ServerConfig
from reference_server.launcher import serve_in_thread
from tests.broken import rewrite


def _flip_a_byte(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.Response) and response.status == 200 and response.body:
        body = bytearray(response.body)
        body[len(body) // 2] ^= 0xFF
        response.body = bytes(body)


def _is_blob_get(request: web.Request) -> bool:
    return request.method == "GET" and "/blobs/" in request.path and "/blobs/uploads" not in request.path


@pytest.fixture
def corrupting_registry() -> Iterator[str]:
    """The reference app (memory storage) behind a middleware that flips one byte of every blob body."""
    app = create_app(ServerConfig(storage="memory"), middlewares=[rewrite(_is_blob_get, _flip_a_byte)])
    with serve_in_thread(app) as url:
        yield url


def test_corrupted_blobs_count_as_failures(corrupting_registry, run_load):
    run = run_load("pull", "--target", corrupting_registry, "--users", "2", "--run-time", "3s",
                   "--image-size", "1MiB")

    assert run.returncode == 1
    details = run.details
    blobs = run.entry("GET /v2/[name]/blobs/[digest]")
    pulls = run.entry("pull image 1MiB")
    # The first blob of each pull (the config) is corrupted, fails the request and ends the pull.
    assert blobs["requests"] > 0 and blobs["failures"] == blobs["requests"]
    assert pulls["failures"] == pulls["requests"] > 0
    # Manifests were served intact: their requests stay successes.
    assert run.entry("GET /v2/[name]/manifests/[reference]")["failures"] == 0
    assert details["totals"]["failures"] == blobs["failures"]
    assert any("does not hash to its digest" in error for error in details["errors"])
    assert "gate --max-failure-ratio FAILED" in run.stderr
