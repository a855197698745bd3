"""Broken hosted behaviours: blob redirects whose target serves other bytes or demands the
registry's own credentials, and 429 answers with a malformed Retry-After, another error code, or a
Retry-After shorter than the limit really holds.

Redirect variants run the reference server with ``--redirect-blobs`` (its blob host gets the same
fault-injecting middleware, so a variant may break either listener); rate-limit variants run it
with ``--rate-limit``.
"""

from __future__ import annotations

import json

from aiohttp import web

from reference_server import errors
from tests.broken import Variant, rewrite

REDIRECT_MODE = ("--redirect-blobs",)
TOKEN_REDIRECT_MODE = ("--auth", "token", "--redirect-blobs")
RATE_MODE = ("--rate-limit", "10")


def is_blob_host(request: web.Request) -> bool:
    return request.path.startswith("/blobs/")


def other_bytes(request: web.Request, response: web.StreamResponse) -> None:
    """The blob host serves the blob with its first byte changed (a stale or corrupted object copy)."""
    if isinstance(response, web.Response) and response.status == 200 and response.body:
        body = bytes(response.body)
        response.body = bytes([body[0] ^ 0xFF]) + body[1:]


@web.middleware
async def blob_host_wants_credentials(request: web.Request, handler):
    """The blob host refuses requests that do not carry the registry's Authorization header."""
    if is_blob_host(request) and not request.headers.get("Authorization"):
        raise errors.unauthorized({"reason": "blob storage expects the registry's credentials"})
    return await handler(request)


def retry_after(value: str):
    def change(request: web.Request, response: web.StreamResponse) -> None:
        if response.status == 429:
            response.headers["Retry-After"] = value

    return change


def code_unknown(request: web.Request, response: web.StreamResponse) -> None:
    if response.status == 429 and isinstance(response, web.Response):
        response.body = json.dumps({"errors": [{"code": "UNKNOWN", "message": "slow down", "detail": {}}]}).encode()


VARIANTS: list[Variant] = [
    Variant(
        name="redirect-target-serves-other-bytes",
        description="blob reads redirect to a second host that serves the blob with one byte changed",
        select="test_hosted and test_blob_redirect",
        must_fail=("test_blob_redirect_get",),
        middleware=rewrite(is_blob_host, other_bytes),
        server_args=REDIRECT_MODE,
    ),
    Variant(
        name="redirect-target-wants-registry-credentials",
        description="the blob host answers 401 unless the registry's Authorization is sent to it as well",
        select="test_hosted and test_blob_redirect",
        must_fail=("test_blob_redirect_get", "test_blob_redirect_head"),
        middleware=blob_host_wants_credentials,
        server_args=TOKEN_REDIRECT_MODE,
    ),
    Variant(
        name="retry-after-not-seconds",
        description='429 answers say Retry-After: "soon"',
        select="test_hosted and test_rate_limit",
        must_fail=("test_rate_limit_answer",),
        middleware=rewrite(lambda request: True, retry_after("soon")),
        server_args=RATE_MODE,
    ),
    Variant(
        name="rate-limit-code-unknown",
        description="429 answers carry the error code UNKNOWN instead of TOOMANYREQUESTS",
        select="test_hosted and test_rate_limit",
        must_fail=("test_rate_limit_answer",),
        middleware=rewrite(lambda request: True, code_unknown),
        server_args=RATE_MODE,
    ),
    Variant(
        name="retry-after-too-short",
        description="429 answers say Retry-After: 0 while the limit holds for a second more",
        select="test_hosted and test_rate_limit",
        must_fail=("test_rate_limit_lifts",),
        middleware=rewrite(lambda request: True, retry_after("0")),
        server_args=("--rate-limit", "2"),
        strict=True,
    ),
]
