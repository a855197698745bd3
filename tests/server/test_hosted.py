"""The hosted-registry switches and the shared client against them: blob redirects to a second
loopback listener, rate limits with Retry-After, extension discovery and OAuth2 refresh grants."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import requests

from reference_server.launcher import start_server
from registry_harness.builders import random_bytes
from registry_harness.client import RegistryClient
from registry_harness.target import parse_target

TIMEOUT = 10


def test_redirected_blob_reads_come_from_the_second_listener() -> None:
    with start_server(["--storage", "memory", "--redirect-blobs"]) as server:
        client = RegistryClient(parse_target(server.url))
        data = random_bytes(5000)
        digest = client.push_blob("hosted/redirect", data)
        first = client.get_blob("hosted/redirect", digest, allow_redirects=False)
        assert first.status_code == 307
        location = first.headers["Location"]
        assert urlsplit(location).hostname == "127.0.0.2", location
        assert client.pull_verified("hosted/redirect", digest) == data
        ranged = client.get_blob("hosted/redirect", digest, headers={"Range": "bytes=10-19"})
        assert ranged.status_code == 206 and ranged.content == data[10:20]
        assert client.head_blob("hosted/redirect", digest).headers["Content-Length"] == str(len(data))
        tampered = location.replace("signature=", "signature=0")
        assert requests.get(tampered, timeout=TIMEOUT).status_code == 403
        other_repo = location.replace("repo=hosted%2Fredirect", "repo=hosted%2Fother")
        assert requests.get(other_repo, timeout=TIMEOUT).status_code == 403  # signed for one repository
        missing = client.get_blob("hosted/redirect", "sha256:" + "0" * 64, allow_redirects=False)
        assert missing.status_code == 404  # only blobs the repository holds are redirected


def test_rate_limit_answers_429_and_the_client_waits_it_out() -> None:
    with start_server(["--storage", "memory", "--rate-limit", "5"]) as server:
        raw = requests.Session()
        statuses = [raw.get(f"{server.url}/v2/", timeout=TIMEOUT) for _ in range(8)]
        limited = [r for r in statuses if r.status_code == 429]
        assert limited, [r.status_code for r in statuses]
        assert limited[0].headers["Retry-After"] == "1"
        assert limited[0].json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        client = RegistryClient(parse_target(server.url))
        started = time.monotonic()
        answers = [client.ping().status_code for _ in range(8)]
        assert answers == [200] * 8
        assert client.rate_limited >= 1
        assert time.monotonic() - started < 3 * client.rate_limited + 2  # each wait is the Retry-After, 1 s


def test_client_returns_a_429_it_may_not_wait_out() -> None:
    with start_server(["--storage", "memory", "--rate-limit", "1"]) as server:
        client = RegistryClient(parse_target(server.url))
        client.max_retry_wait = 0.5  # Retry-After: 1 is longer than this client may wait
        answers = [client.ping().status_code for _ in range(3)]
        assert 429 in answers and client.rate_limited == 0


def test_extension_discovery() -> None:
    with start_server(["--storage", "memory"]) as server:
        response = requests.get(f"{server.url}/v2/_oci/ext/discover", timeout=TIMEOUT)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
        names = [extension["name"] for extension in response.json()["extensions"]]
        assert names == ["_oci"]


def test_retry_after_grammar() -> None:
    from registry_harness.spec import retry_after_seconds

    now = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Tue, 14 Nov 2023 22:13:50 GMT", now=now) == 30.0
    assert retry_after_seconds("Tue, 14 Nov 2023 22:00:00 GMT", now=now) == 0.0  # a past date: no wait
    for bad in (None, "", "soon", "-1", "1.5", "Tue, 14 Nov 2023 22:13:50 +0100"):
        assert retry_after_seconds(bad) is None, bad
