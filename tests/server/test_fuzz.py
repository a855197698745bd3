"""A bounded fuzz run against a real server on loopback, once per storage: hostile paths, digests,
query parameters, headers and bodies (derandomized, so every run sends the same requests).
Whatever arrives, the answer is never a 5xx, the log never holds a traceback, and nothing is
written outside ``--root``."""

from __future__ import annotations

import http.client
import json
import os
import string
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference_server.launcher import ServerProcess, start_server
from registry_harness.digests import digest_of
from registry_harness.spec import DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, OCI_INDEX, OCI_MANIFEST
from tests.server.helpers import Client, image

EXAMPLES = 400  # per storage: about 10 s on a quiet machine (generation dominates), a minute when busy
REPO = "fuzz/app"
SEED = image("fuzz-seed")
TIMEOUT = 10

# Pieces a hostile client would try --------------------------------------------------------------

HOSTILE_COMPONENTS = ["..", ".", "%2e%2e", "..%2F..%2Fescaped", "%2F", "%00", "a%00b", "A", "-a", "a-",
                      "blobs", "manifests", "tags", "referrers", "uploads", "_catalog", "a" * 300, "é", "%C3%A9",
                      "~", "a__b", "a..b", "escaped"]
KINDS = ["blobs", "manifests", "tags", "referrers", "blobs/uploads"]
name_component = st.one_of(st.text("abcz019._-", min_size=1, max_size=12), st.sampled_from(HOSTILE_COMPONENTS))
names = st.one_of(st.just(REPO), st.lists(name_component, min_size=1, max_size=4).map("/".join))

hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
digests = st.one_of(
    st.just(SEED.digest), st.just(SEED.blobs[0].digest), hex64.map("sha256:".__add__),
    st.binary(min_size=64, max_size=64).map(lambda raw: "sha512:" + raw.hex()),
    st.tuples(hex64, st.integers(-4, 2), st.booleans()).map(
        lambda t: "sha256:" + (t[0].upper() if t[2] else t[0]) + "a" * max(t[1], 0) if t[1] >= 0 else t[0][:t[1]]),
    st.sampled_from(["sha256:", "sha1:" + "a" * 40, ":", "sha256:..%2F..%2Fescaped", "md5:abc",
                     "sha256+b64:" + "A" * 43, "sha256:" + "٣" * 64, "sha256:" + "²" * 64]),
)
tags = st.one_of(st.text("aZ09_.-", min_size=1, max_size=20),
                 st.sampled_from([".hidden", "-dash", "a" * 129, "%2e%2e", "latest", "list", "a%00b"]))
references = st.one_of(digests, tags, st.uuids().map(str), st.just("list"), st.text(max_size=12))
numbers = st.one_of(st.integers(-5, 10**12).map(str), st.sampled_from(["²", "٣", "１", "", " 1", "1e3", "0x10", "NaN"]))
query_values = st.one_of(numbers, digests, names, tags, st.text(max_size=30))
queries = st.dictionaries(
    st.sampled_from(["n", "last", "digest", "mount", "from", "tag", "artifactType", "digest-algorithm", "x"]),
    query_values, max_size=4)

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
MEDIA_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST, "application/json",
               "application/vnd.docker.distribution.manifest.v1+prettyjws", "text/plain", ""]
headers = st.fixed_dictionaries({}, optional={
    "Content-Type": st.one_of(st.sampled_from(MEDIA_TYPES), header_text),
    "Content-Range": st.one_of(st.builds("{}-{}".format, numbers, numbers), header_text),
    "Range": st.one_of(st.builds("bytes={}-{}".format, numbers, numbers), header_text),
    "Accept": st.one_of(st.sampled_from(MEDIA_TYPES + ["*/*", "application/*;q=0", f"{OCI_MANIFEST};q=x"]),
                        header_text),
    "If-None-Match": st.one_of(digests.map('"{}"'.format), header_text),
    "Content-Encoding": st.sampled_from(["gzip", "identity", "br", "x"]),
    "Authorization": st.sampled_from(["Bearer x", "Basic !!!", "Basic " + "QQ==" * 3]),
})

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=3), max_leaves=12)
AMD64 = {"os": "linux", "architecture": "amd64"}
descriptor = st.fixed_dictionaries({"mediaType": st.sampled_from(MEDIA_TYPES) | json_values,
                                    "digest": digests | json_values, "size": st.integers(-1, 10**6) | json_values},
                                   optional={"platform": json_values | st.just(AMD64), "urls": json_values,
                                             "annotations": json_values})
manifest_like = st.fixed_dictionaries(
    {"schemaVersion": st.sampled_from([1, 2, 3, "2"]) | json_values},
    optional={"mediaType": st.sampled_from(MEDIA_TYPES) | json_values, "config": descriptor | json_values,
              "layers": st.lists(descriptor, max_size=3) | json_values,
              "manifests": st.lists(descriptor, max_size=3) | json_values, "subject": descriptor | json_values,
              "fsLayers": json_values, "history": json_values, "signatures": json_values,
              "artifactType": json_values, "annotations": json_values})
bodies = st.one_of(
    st.just(b""), st.binary(max_size=300), manifest_like.map(lambda d: json.dumps(d).encode()),
    st.just(SEED.manifest), st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.sampled_from([b"{", b"\xff\xfe", b'{"schemaVersion": 2, "manifests": 7}', b"null", b"[]"]),
)
METHODS = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"]


@st.composite
def requests_(draw: st.DrawFn, session: str) -> tuple[str, str, dict[str, str], bytes]:
    """(method, path with query, headers, body) of one hostile request."""
    shape = draw(st.sampled_from(["repo", "repo", "repo", "upload", "base", "catalog", "raw"]))
    if shape == "base":
        path = draw(st.sampled_from(["/v2/", "/v2", "/v2//", "/", "/v1/", "/v2/../etc/passwd"]))
    elif shape == "catalog":
        path = "/v2/_catalog"
    elif shape == "upload":
        path = f"/v2/{draw(names)}/blobs/uploads/{draw(st.sampled_from([session, '', str(uuid.uuid4())]))}"
    elif shape == "raw":
        path = "/v2/" + quote(draw(st.text(max_size=80)), safe="/%:@")
    else:
        path = f"/v2/{draw(names)}/{draw(st.sampled_from(KINDS))}/{quote(draw(references), safe='%:+')}"
    query = draw(queries)
    if query:
        path += "?" + urlencode(query)
    method = draw(st.sampled_from(METHODS))
    body = draw(bodies) if method in ("PUT", "POST", "PATCH") or draw(st.booleans()) else b""
    return method, path, draw(headers), body


class Connection:
    """One keep-alive connection to the server, reopened whenever the server closes it."""

    def __init__(self, host_port: str) -> None:
        host, port = host_port.rsplit(":", 1)
        self._address = (host, int(port))
        self._connection: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        # Non-ASCII in the path goes out percent-encoded, header values as their UTF-8 bytes
        # (http.client itself sends only ASCII paths and Latin-1 values).
        path = quote(path, safe=string.punctuation)
        headers = {key: value.encode().decode("latin-1") for key, value in headers.items()}
        for attempt in range(2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(*self._address, timeout=TIMEOUT)
            try:
                self._connection.request(method, path, body=body or None, headers=headers)
                response = self._connection.getresponse()
                payload = response.read()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, payload
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@pytest.fixture(params=["memory", "filesystem"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ServerProcess, Path, str]]:
    """A fresh server of each storage, with one image, a tag and an open upload session."""
    outer = tmp_path / "outer"
    outer.mkdir()
    with start_server(["--root", str(outer / "root"), "--storage", request.param, "--schema1-compat"]) as process:
        client = Client(process.url)
        client.push_image(REPO, SEED, "seed")
        session = client.post(f"/v2/{REPO}/blobs/uploads/", 202).headers["Location"].rsplit("/", 1)[1]
        yield process, outer, session


def test_fuzzed_requests_never_get_a_5xx_a_traceback_or_a_file_outside_the_root(target) -> None:
    process, outer, session = target
    connection = Connection(process.host_port)
    answered: list[int] = []

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(requests_(session))
    def one_request(request: tuple[str, str, dict[str, str], bytes]) -> None:
        method, path, headers, body = request
        status, payload = connection.send(method, path, headers, body)
        answered.append(status)
        assert status < 500, f"{method} {path} {headers} {body[:200]!r} -> {status} {payload[:300]!r}"

    try:
        one_request()
    finally:
        connection.close()
    assert len(answered) >= EXAMPLES // 2
    assert len(set(answered)) > 5, f"too little variety to mean much: {sorted(set(answered))}"
    log = process.stderr_text()
    assert "Traceback" not in log and " ERROR " not in log, log[-4000:]
    assert sorted(os.listdir(outer)) == ["root"] or not (outer / "root").exists(), os.listdir(outer)
    for directory, _dirs, files in os.walk(outer):
        assert "escaped" not in directory and not any("escaped" in name for name in files), directory
    Client(process.url).get(f"/v2/{REPO}/blobs/{digest_of(SEED.blobs[0].data)}")  # still serving
