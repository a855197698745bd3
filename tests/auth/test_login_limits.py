"""Logins the server bounds: the token endpoint's form (size after decoding, encoding, malformed
forms), repeated failures from one address answered 429 with Retry-After (per address, in htpasswd
mode and at the token endpoint), and password checks that cost the same for unknown users."""

from __future__ import annotations

import asyncio
import base64
import gzip
import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from reference_server.auth.forms import FORM_LIMIT
from reference_server.auth.passwords import (
    FailureLimiter,
    PasswordChecker,
    TooManyAttempts,
    bcrypt_cost,
    client_key,
    hash_password,
)
from reference_server.launcher import ServerProcess, start_server
from tests.auth.conftest import Users

TIMEOUT = 10


@pytest.fixture(scope="module")
def plain_token_server(access_file: Path) -> Iterator[ServerProcess]:
    """Token mode over plain http, failure limit 3 per address and minute."""
    args = ["--storage", "memory", "--auth", f"token:{access_file}", "--auth-failure-limit", "3"]
    with start_server(args) as server:
        yield server


def grant(users: Users, **extra: str) -> dict[str, str]:
    return {"grant_type": "password", "username": "alice", "password": users.alice,
            "scope": "repository:team/app:pull", **extra}


def post(server: ServerProcess, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{server.url}/auth/token", data=body, headers=headers, timeout=TIMEOUT)


def spec_code(response: requests.Response) -> str:
    body = response.json()
    assert body["error"] and body["error_description"], body
    [error] = body["errors"]
    assert {"code", "message", "detail"} <= set(error), body
    return error["code"]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def get_from(address: str, server: ServerProcess, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    """GET from a chosen loopback source address: (status, headers, body)."""
    host, port = server.host_port.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT, source_address=(address, 0))
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# -- the token endpoint's form ------------------------------------------------------------------

def test_password_grant_works_urlencoded_and_multipart(plain_token_server, users):
    form = grant(users)
    assert requests.post(f"{plain_token_server.url}/auth/token", data=form, timeout=TIMEOUT).status_code == 200
    multipart = requests.post(f"{plain_token_server.url}/auth/token", files={k: (None, v) for k, v in form.items()},
                              timeout=TIMEOUT)
    assert multipart.status_code == 200, multipart.text
    assert multipart.json()["scope"] == "repository:team/app:pull"


def test_form_over_the_limit_is_413_with_content_length_or_chunked(plain_token_server, users):
    padding = "x" * (FORM_LIMIT + 1)
    body = json.dumps(grant(users, padding=padding)).encode()  # any bytes: the size decides first
    urlencoded = {"Content-Type": "application/x-www-form-urlencoded"}
    declared = post(plain_token_server, body, urlencoded)
    assert declared.status_code == 413 and spec_code(declared) == "SIZE_INVALID"

    def chunks():
        for start in range(0, len(body), 8192):
            yield body[start:start + 8192]

    chunked = requests.post(f"{plain_token_server.url}/auth/token", data=chunks(), headers=urlencoded,
                            timeout=TIMEOUT)
    assert chunked.status_code == 413 and spec_code(chunked) == "SIZE_INVALID"


def test_compressed_form_is_refused_never_inflated(plain_token_server, users):
    bomb = gzip.compress(b"grant_type=password&padding=" + b"0" * (16 << 20))  # 16 MiB inflated, ~16 KB sent
    response = post(plain_token_server, bomb, {"Content-Type": "application/x-www-form-urlencoded",
                                               "Content-Encoding": "gzip"})
    assert response.status_code == 415 and spec_code(response) == "UNSUPPORTED"
    assert requests.get(f"{plain_token_server.url}/v2/", timeout=TIMEOUT).status_code == 401  # still serving


@pytest.mark.parametrize("content_type, body", [
    ("multipart/form-data; boundary=xyz", b"--abc\r\nnot a form\r\n"),
    ("multipart/form-data; boundary=xyz", b'--xyz\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\npass'),
    ("multipart/form-data", b"--xyz--\r\n"),
    ("multipart/form-data; boundary=xyz",
     b'--xyz\r\nContent-Disposition: form-data; name="username"\r\n\r\n\xff\xfe\r\n--xyz--\r\n'),
    ("application/x-www-form-urlencoded", b"grant_type=password&username=%ff%fe&password=x"),
    ("application/x-www-form-urlencoded", "grant_type=password&username=älice".encode("latin-1")),
], ids=["wrong-boundary", "truncated", "no-boundary", "non-utf8-multipart", "non-utf8-escape", "raw-8-bit"])
def test_malformed_or_non_utf8_form_is_400_with_a_spec_body(plain_token_server, content_type, body):
    response = post(plain_token_server, body, {"Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert spec_code(response) == "UNSUPPORTED"
    assert response.json()["error"] == "invalid_request"


# -- failures from one address ------------------------------------------------------------------

def test_repeated_failures_at_the_token_endpoint_get_429_for_that_address_only(plain_token_server, users):
    wrong = basic("alice", "not-" + users.alice)
    path = "/auth/token?service=reference-registry&scope=repository:team/app:pull"
    for _ in range(3):
        assert get_from("127.0.0.3", plain_token_server, path, wrong)[0] == 401
    status, headers, body = get_from("127.0.0.3", plain_token_server, path, wrong)
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 60
    assert json.loads(body)["errors"][0]["code"] == "TOOMANYREQUESTS"
    # Locked out: even the right password waits (a success would tell the guess was right).
    assert get_from("127.0.0.3", plain_token_server, path, basic("alice", users.alice))[0] == 429
    form = "&".join(f"{k}={v}" for k, v in grant(users).items())
    host, port = plain_token_server.host_port.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT, source_address=("127.0.0.3", 0))
    connection.request("POST", "/auth/token", body=form,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    answer = connection.getresponse()
    assert answer.status == 429 and answer.getheader("Retry-After")
    assert json.loads(answer.read())["error"] == "invalid_request"
    connection.close()
    # Another address is not affected.
    assert get_from("127.0.0.4", plain_token_server, path, basic("alice", users.alice))[0] == 200


def test_repeated_failures_in_htpasswd_mode_get_429(htpasswd_file, users):
    args = ["--storage", "memory", "--auth", f"htpasswd:{htpasswd_file}", "--auth-failure-limit", "2"]
    with start_server(args) as server:
        wrong = basic("bob", "nope")
        assert [get_from("127.0.0.5", server, "/v2/", wrong)[0] for _ in range(2)] == [401, 401]
        status, headers, body = get_from("127.0.0.5", server, "/v2/", wrong)
        assert status == 429 and int(headers["Retry-After"]) >= 1
        assert json.loads(body)["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert get_from("127.0.0.6", server, "/v2/", basic("bob", users.bob))[0] == 200
        assert get_from("127.0.0.6", server, "/v2/", {})[0] == 401  # no credentials: not a failure, no 429


# -- the password module ------------------------------------------------------------------------

def test_an_unknown_user_is_checked_against_a_dummy_hash_of_the_users_cost():
    checker = PasswordChecker({"alice": hash_password("right", 5), "bob": hash_password("other", 5)})
    assert checker.hash_for("nobody") == checker.dummy_hash != checker.hash_for("alice")
    assert bcrypt_cost(checker.dummy_hash) == 5
    runs = checker.bcrypt_runs
    assert not checker.check_sync("alice", "wrong")
    assert checker.bcrypt_runs == runs + 1
    assert not checker.check_sync("nobody", "wrong")
    assert checker.bcrypt_runs == runs + 2, "an unknown user must cost a bcrypt run like a wrong password"
    assert checker.check_sync("alice", "right")
    assert checker.bcrypt_runs == runs + 3
    assert checker.check_sync("alice", "right") and checker.bcrypt_runs == runs + 3  # remembered


def test_password_checks_beyond_max_pending_are_refused_at_once():
    checker = PasswordChecker({"alice": hash_password("right", 8)}, threads=1, max_pending=2)

    async def flood() -> list[object]:
        return await asyncio.gather(*(checker.check("alice", f"wrong-{i}") for i in range(6)),
                                    return_exceptions=True)

    results = asyncio.run(flood())
    assert results.count(False) == 2
    assert all(isinstance(r, TooManyAttempts) and r.retry_after == 1 for r in results if r is not False)


def test_failure_limiter_windows_and_bounded_memory():
    now = [0.0]
    limiter = FailureLimiter(limit=2, window=10, max_clients=3, clock=lambda: now[0])
    limiter.failed("a")
    assert limiter.retry_after("a") is None
    limiter.failed("a")
    now[0] = 4.0
    assert limiter.retry_after("a") == 6
    now[0] = 10.0
    assert limiter.retry_after("a") is None  # the window is over
    for client in ("b", "c", "d", "e", "f"):
        limiter.failed(client)
    assert len(limiter) == 3
    limiter.failed("f")
    limiter.succeeded("f")
    assert limiter.retry_after("f") is None
    assert client_key("2001:db8::1") == client_key("2001:db8::2") == "2001:db8::/64"
    assert client_key("::ffff:127.0.0.1") == "127.0.0.1"
