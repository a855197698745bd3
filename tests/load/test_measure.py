"""The Locust-free parts: endpoint names, sub-millisecond histograms, merging, gates, streamed bodies."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator

import pytest
from aiohttp import web

from load.histogram import LatencyHistogram
from load.images import LayerFactory, parse_size, seeded_image
from load.measure import Measure, MeasuredSession, endpoint_name
from load.recorder import Recorder
from load.slo import evaluate
from load.workloads import pull_image
from reference_server.launcher import serve_in_thread
from registry_harness.client import RegistryClient
from registry_harness.target import parse_target


@pytest.mark.parametrize(("method", "url", "name"), [
    ("GET", "http://r/v2/", "GET /v2/"),
    ("GET", "http://r/v2/_catalog?n=10&last=a", "GET /v2/_catalog"),
    ("GET", "http://r/v2/a/b/blobs/sha256:" + "0" * 64, "GET /v2/[name]/blobs/[digest]"),
    ("HEAD", "http://r/v2/lib/redis/manifests/7.0.5-bullseye", "HEAD /v2/[name]/manifests/[reference]"),
    ("POST", "http://r/v2/a/blobs/uploads/", "POST /v2/[name]/blobs/uploads/"),
    ("POST", "http://r/v2/a/blobs/uploads/?mount=sha256:00&from=b", "POST /v2/[name]/blobs/uploads/?mount"),
    ("PATCH", "http://r/v2/a/blobs/uploads/0f3c?_state=xyz", "PATCH /v2/[name]/blobs/uploads/[uuid]"),
    ("GET", "http://r/v2/a/tags/list?n=5", "GET /v2/[name]/tags/list"),
    ("GET", "http://r/v2/a/referrers/sha256:00", "GET /v2/[name]/referrers/[digest]"),
])
def test_requests_are_grouped_by_endpoint_template(method, url, name):
    assert endpoint_name(method, url) == name


def test_histogram_resolves_sub_millisecond_latencies():
    hist = LatencyHistogram()
    for value in [0.250] * 90 + [0.400] * 9 + [3.0]:
        hist.add(value)
    summary = hist.summary()
    assert summary["p50_ms"] == pytest.approx(0.250, rel=0.01)
    assert summary["p95_ms"] == pytest.approx(0.400, rel=0.01)
    assert summary["p99_ms"] == pytest.approx(0.400, rel=0.01)
    assert summary["max_ms"] == 3.0


def test_worker_reports_merge_into_the_master_recorder():
    master, worker_a, worker_b = Recorder(), Recorder(), Recorder()
    worker_a.record("GET", "GET /v2/", 0.3, received=10, end=100.0)
    worker_b.record("GET", "GET /v2/", 0.5, received=20, error="HTTP 500", end=101.0)
    for worker in (worker_a, worker_b):
        master.merge_dict(worker.drain())
    entry = master.entries[("GET", "GET /v2/")]
    assert (entry.latency.count, entry.failures, entry.bytes_received) == (2, 1, 30)
    assert master.window_s == pytest.approx(101.0 - (100.0 - 0.0003), rel=1e-6)
    assert not worker_a.entries  # drained


def test_gates_compare_actual_with_threshold():
    results = {r.gate: r for r in evaluate({"requests": 10, "failure_ratio": 0.1, "p95_ms": 2.5, "rps": 50.0},
                                           {"max_failure_ratio": 0.0, "max_p95_ms": 5.0, "min_rps": 100.0})}
    assert not results["max_failure_ratio"].passed
    assert results["max_p95_ms"].passed
    assert results["min_rps"].line() == "gate --min-rps FAILED: actual 50 req/s < threshold 100 req/s"
    assert not any(r.passed for r in evaluate({"requests": 0}, {"max_p99_ms": 1.0}))


def test_streamed_layer_bodies_match_their_digest():
    factory = LayerFactory(parse_size("3MiB") + 5, seed=3)
    body, digest = factory.layer("one")
    other, other_digest = factory.layer("two")
    data = b"".join(bytes(piece) for piece in body)
    assert len(data) == len(body) == 3 * 1024 * 1024 + 5
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest != other_digest
    third = len(body) // 3
    pieces = [body[0:third], body[third:2 * third], body[2 * third:len(body)]]
    assert b"".join(bytes(p) for part in pieces for p in part) == data


def test_measured_session_times_requests_and_blames_the_failing_one(registry_url):
    events = []
    session = MeasuredSession(lambda *args, **kw: events.append((args, kw)))
    client = RegistryClient(parse_target(registry_url), session)
    measure = Measure(session, lambda *args, **kw: events.append((args, kw)))
    image = seeded_image("measuretest", "1MiB", "loadtest")
    RegistryClient(parse_target(registry_url)).push_image(image.repo, image.image, reference=image.tag)

    pull_image(client, measure, image)
    names = [args[1] for args, _ in events]
    assert names[0] == "HEAD /v2/[name]/manifests/[reference]"
    assert {"GET /v2/[name]/manifests/[reference]", "TTFB manifest", "TTFB config", "TTFB layer"} <= set(names)
    assert names[-1] == "pull image 1MiB"
    assert all(kw.get("error") is None for _, kw in events)
    layer = [(args, kw) for args, kw in events if args[1] == "GET /v2/[name]/blobs/[digest]"][-1]
    assert layer[1]["received"] == 1024 * 1024 and layer[0][2] > 0

    events.clear()
    with measure.op("PULL", "missing manifest"):
        response = client.get_manifest(image.repo, "no-such-tag")
        assert response.status_code == 200, "manifest unknown"
    failed = {args[1]: kw["error"] for args, kw in events}
    assert "manifest unknown" in failed["GET /v2/[name]/manifests/[reference]"]
    assert "manifest unknown" in failed["missing manifest"]


@pytest.fixture
def slow_body_server() -> Iterator[str]:
    """A server that sends headers at once and the body 200 ms later."""

    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "4"})
        await response.prepare(request)
        await asyncio.sleep(0.2)
        await response.write(b"body")
        return response

    app = web.Application()
    app.router.add_get("/v2/slow/blobs/{digest}", slow)
    with serve_in_thread(app) as url:
        yield url


def test_request_time_includes_the_body_download_and_ttfb_does_not(slow_body_server):
    events = []
    session = MeasuredSession(lambda *args, **kw: events.append((args, kw)))
    response = session.get(slow_body_server + "/v2/slow/blobs/sha256:00")
    assert response.content == b"body"
    session.settle()
    (args, kw), = events
    assert args[1] == "GET /v2/[name]/blobs/[digest]" and kw["received"] == 4
    assert args[2] >= 190 and session.last.ttfb_ms < 150
