"""Hostile names, tags, digests and upload ids: each is a 4xx with a spec body, and nothing is
ever written outside the storage root."""

from __future__ import annotations

import http.client
import json
import os

import pytest

from registry_harness.digests import digest_of

GOOD = digest_of(b"good")

CASES = [
    ("POST", "/v2/a/..%2F..%2Fescaped/blobs/uploads/", {400}, "NAME_INVALID"),
    ("POST", "/v2/%2Fabsolute/blobs/uploads/", {400}, "NAME_INVALID"),
    ("POST", "/v2/a%00b/blobs/uploads/", {400}, "NAME_INVALID"),
    ("POST", "/v2/Upper/blobs/uploads/", {400}, "NAME_INVALID"),
    ("POST", "/v2/" + "a" * 300 + "/blobs/uploads/", {400}, "NAME_INVALID"),
    ("POST", "/v2/a//b/blobs/uploads/", {400}, "NAME_INVALID"),
    ("POST", "/v2/a-/blobs/uploads/", {400}, "NAME_INVALID"),
    ("POST", "/v2/../../escaped/blobs/uploads/", {400, 404}, None),
    ("PUT", "/v2/r/manifests/%2e%2e", {400}, "TAG_INVALID"),
    ("PUT", "/v2/r/manifests/.hidden", {400}, "TAG_INVALID"),
    ("PUT", "/v2/r/manifests/a%00b", {400}, "TAG_INVALID"),
    ("PUT", "/v2/r/manifests/sha256:..%2F..%2Fescaped", {400, 404}, None),
    ("GET", "/v2/r/blobs/sha256:" + "A" * 64, {400}, "DIGEST_INVALID"),
    ("GET", "/v2/r/blobs/sha256:" + "a" * 63, {400}, "DIGEST_INVALID"),
    ("GET", "/v2/r/blobs/sha1:" + "a" * 40, {400}, "DIGEST_INVALID"),
    ("GET", "/v2/r/blobs/..", {400}, "DIGEST_INVALID"),
    ("DELETE", "/v2/r/blobs/sha256:%2e%2e", {400}, "DIGEST_INVALID"),
    ("POST", "/v2/r/blobs/uploads/?digest=sha256:..%2F..%2Fescaped", {400}, "DIGEST_INVALID"),
    ("POST", "/v2/r/blobs/uploads/?mount=" + GOOD + "&from=..%2Fescaped", {400}, "NAME_INVALID"),
    ("POST", "/v2/r/blobs/uploads/?mount=sha256:nothex&from=r", {400}, "DIGEST_INVALID"),
    ("PATCH", "/v2/r/blobs/uploads/%2e%2e", {404}, "BLOB_UPLOAD_UNKNOWN"),
    ("PATCH", "/v2/r/blobs/uploads/..%2F..%2Fescaped", {400, 404}, None),
    ("PUT", "/v2/r/blobs/uploads/%2e%2e?digest=" + GOOD, {404}, "BLOB_UPLOAD_UNKNOWN"),
    ("GET", "/v2/r/tags/list?n=-5", {400}, "PAGINATION_NUMBER_INVALID"),
    ("GET", "/v2/r/referrers/notadigest", {400}, "DIGEST_INVALID"),
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    from reference_server.launcher import start_server
    outer = tmp_path_factory.mktemp("hostile")
    with start_server(["--root", str(outer / "root")]) as process:
        yield process, outer


@pytest.mark.parametrize("method,path,statuses,code", CASES, ids=[f"{m} {p[:60]}" for m, p, *_ in CASES])
def test_hostile_input_is_rejected_with_a_spec_body(hostile, method, path, statuses, code) -> None:
    process, outer = hostile
    host, port = process.host_port.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    body = b"good" if method in ("POST", "PUT", "PATCH") else None
    connection.request(method, path, body=body, headers={"Content-Type": "application/octet-stream"})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    assert response.status in statuses, f"{method} {path} -> {response.status} {payload[:300]!r}"
    assert response.getheader("Docker-Distribution-API-Version") == "registry/2.0"
    errors = json.loads(payload)["errors"]
    assert errors and {"code", "message", "detail"} <= set(errors[0])
    if code is not None:
        assert errors[0]["code"] == code, payload
    assert sorted(os.listdir(outer)) == ["root"], "something was written beside the storage root"
    assert sorted(os.listdir(outer / "root")) == ["blobs", "repositories", "uploads"]
    for directory, _dirs, files in os.walk(outer / "root"):
        assert "escaped" not in directory and not any("escaped" in name for name in files)
