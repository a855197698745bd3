"""Hosted-registry behaviours no anchor suite checks: blob reads redirected to another host (object
storage, a CDN) and rate limits (429 TOOMANYREQUESTS with ``Retry-After``).

A registry that serves blobs itself, or never limits the short burst these checks send, gives a
valid "unsupported" answer; what it does answer is judged strictly.
"""

from __future__ import annotations

import time
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from conformance.rules import rule, should, unchecked, unsupported
from conformance.steps import error_codes, is_json
from registry_harness import spec
from registry_harness.builders import random_bytes
from registry_harness.client import RegistryClient
from registry_harness.digests import digest_of
from registry_harness.target import Target

REDIRECTS = (301, 302, 303, 307, 308)
BLOB_SIZE = 2048
BURST = 150  # requests sent as fast as one client can to meet a rate limit…
BURST_SECONDS = 5.0  # …for at most this long
MAX_HONOURED_WAIT = 10.0  # a longer Retry-After is not waited out by the check


@pytest.fixture
def redirected_blob(client: RegistryClient, repo: str, cleanup) -> tuple[str, bytes, requests.Response]:
    """A pushed blob and the registry's own answer to its GET, unfollowed; skip when it is not a redirect."""
    data = random_bytes(BLOB_SIZE)
    digest = client.push_blob(repo, data)
    cleanup.blob(repo, digest)
    first = client.get_blob(repo, digest, allow_redirects=False)
    if first.status_code == 200:
        unsupported("the registry serves blobs itself (200, no redirect)")
    assert first.status_code in REDIRECTS, client.explain(first, (200, 307), "GET blob, redirects not followed")
    assert first.headers.get("Location"), client.explain(first, (), "blob redirect") + "\n  no Location header"
    return digest, data, first


def _other_host(target: Target, response: requests.Response) -> str | None:
    """The redirect target's host:port when it is another host than the registry's, else None."""
    location = urljoin(response.url, response.headers["Location"])
    netloc = urlsplit(location).netloc
    return netloc if netloc != target.netloc else None


@rule("hosted-1", "MAY", "hosted",
      "a blob GET answered with a redirect leads to exactly the blob's bytes, and no Authorization goes to "
      "another host")
def test_blob_redirect_get(client: RegistryClient, target: Target, repo: str,
                           redirected_blob: tuple[str, bytes, requests.Response]) -> None:
    digest, data, first = redirected_blob
    other = _other_host(target, first)
    response = client.get_blob(repo, digest)
    hops = " -> ".join(str(r.status_code) for r in [*response.history, response])
    assert response.status_code == 200, client.explain(response, (200,), f"GET blob after the redirect ({hops})")
    assert digest_of(response.content, digest.split(":")[0]) == digest, (
        f"the redirect target {other or 'on the registry host'} served {len(response.content)} bytes that do "
        f"not hash to {digest}")
    if other is not None:
        sent = response.request.headers.get("Authorization")
        assert sent is None, f"the client sent Authorization to the redirect target {other}"


@rule("hosted-1", "MAY", "hosted",
      "a blob HEAD answered with a redirect leads to 200 with the blob's Content-Length")
def test_blob_redirect_head(client: RegistryClient, target: Target, repo: str,
                            redirected_blob: tuple[str, bytes, requests.Response]) -> None:
    digest, data, _ = redirected_blob
    first = client.head_blob(repo, digest, allow_redirects=False)
    if first.status_code == 200:
        unsupported("the registry answers blob HEAD itself (only GET is redirected)")
    assert first.status_code in REDIRECTS, client.explain(first, (200, 307), "HEAD blob, redirects not followed")
    response = client.head_blob(repo, digest)
    assert response.status_code == 200, client.explain(response, (200,), "HEAD blob after the redirect")
    assert (response.headers.get("Content-Length") or "").strip() == str(len(data)), (
        f"HEAD at the redirect target gives Content-Length {response.headers.get('Content-Length')!r}, "
        f"the blob has {len(data)} bytes")
    if _other_host(target, first) is not None:
        assert response.request.headers.get("Authorization") is None, \
            "the client sent Authorization to the redirect target of a HEAD"


# -- rate limits -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rate_limited(client: RegistryClient) -> tuple[RegistryClient, requests.Response, int]:
    """(client that never waits out a 429, the first 429 of one burst of GET /v2/, requests it took),
    shared by the rate-limit checks; skip when the burst meets no limit."""
    raw = client.sibling()
    raw.rate_limit_retries = 0
    deadline = time.monotonic() + BURST_SECONDS
    number = 0
    while number < BURST and time.monotonic() < deadline:
        number += 1
        response = raw.ping()
        if response.status_code == 429:
            return raw, response, number
    unsupported(f"no rate limit met: {number} GET /v2/ requests sent as fast as one client can were all answered")
    raise AssertionError("unreachable")


@rule("hosted-2", "MUST", "hosted",
      "a 429 answer carries the TOOMANYREQUESTS code and, when it gives Retry-After, delta-seconds or an HTTP-date")
def test_rate_limit_answer(rate_limited: tuple[RegistryClient, requests.Response, int]) -> None:
    raw, response, number = rate_limited
    if is_json(response) or response.content:
        codes = error_codes(response)
        assert "TOOMANYREQUESTS" in codes, raw.explain(response, (429,), f"request {number} of a burst") + \
            f"\n  error codes {codes}, expected TOOMANYREQUESTS"
    value = response.headers.get("Retry-After")
    if value is not None:
        assert spec.retry_after_seconds(value) is not None, \
            f"Retry-After {value!r} is neither delta-seconds nor an HTTP-date (RFC 9110 §10.2.3)"


@rule("hosted-2", "SHOULD", "hosted",
      "a 429 gives Retry-After, and a request sent after that wait is answered, not limited again")
def test_rate_limit_lifts(rate_limited: tuple[RegistryClient, requests.Response, int]) -> None:
    raw, response, _ = rate_limited
    wait = spec.retry_after_seconds(response.headers.get("Retry-After"))
    if not should(wait is not None, "429 without a usable Retry-After: clients must guess how long to back off"):
        return
    if wait > MAX_HONOURED_WAIT:
        unchecked(f"Retry-After is {wait:g} s, longer than this check waits ({MAX_HONOURED_WAIT:g} s)")
    time.sleep(wait)
    again = raw.ping()
    should(again.status_code != 429,
           f"after waiting the {wait:g} s Retry-After asked for, GET /v2/ is still answered 429")
