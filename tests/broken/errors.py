"""Broken error answers: plain-text bodies, wrong or invented codes, 500 for a client mistake,
a body on a HEAD 404.
"""

from __future__ import annotations

import json

from aiohttp import web

from reference_server.errors import RegistryError
from tests.broken import Variant

API_SITUATIONS = ("unknown-blob", "unknown-manifest-digest", "unknown-upload-status", "unknown-repository-tags")


def answering(render):
    """A middleware that renders every RegistryError with ``render(request, error) -> Response``."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        try:
            return await handler(request)
        except RegistryError as exc:
            return render(request, exc)

    return middleware


def plain_text(request, exc: RegistryError) -> web.Response:
    return web.Response(status=exc.status, text=f"{exc.message}\n")


def with_code(code: str):
    def render(request, exc: RegistryError) -> web.Response:
        body = {"errors": [{"code": code, "message": exc.message, "detail": exc.detail}]}
        return web.Response(status=exc.status, body=json.dumps(body).encode(), content_type="application/json")

    return render


def server_error_for_400(request, exc: RegistryError) -> web.Response:
    if exc.status == 400:
        body = {"errors": [{"code": "UNKNOWN", "message": "internal error", "detail": {}}]}
        return web.Response(status=500, body=json.dumps(body).encode(), content_type="application/json")
    raise exc


@web.middleware
async def body_on_head_404(request: web.Request, handler):
    """Answer a HEAD that would be 404 with a body, written straight to the connection."""
    try:
        return await handler(request)
    except RegistryError as exc:
        if request.method != "HEAD" or exc.status != 404 or request.transport is None:
            raise
        body = exc.body()
        head = (f"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        request.transport.write(head + body)
        request.transport.close()
        raise web.HTTPNotFound() from None


def situations(*ids: str) -> tuple[str, ...]:
    return tuple(f"test_error_answer_fits_the_situation[{i}]" for i in ids)


VARIANTS: list[Variant] = [
    Variant(
        name="error-body-not-json",
        description="4xx answers carry a plain-text body instead of the JSON error envelope",
        select="test_error_answer_fits_the_situation",
        must_fail=situations(*API_SITUATIONS),
        middleware=answering(plain_text),
    ),
    Variant(
        name="error-wrong-code",
        description="every error carries the code UNKNOWN, whatever the situation",
        select="test_error_answer_fits_the_situation",
        must_fail=situations(*API_SITUATIONS, "digest-mismatch-on-upload", "unknown-repository-manifest"),
        middleware=answering(with_code("UNKNOWN")),
    ),
    Variant(
        name="error-code-outside-spec",
        description="errors carry a code the spec does not define (NOT_FOUND)",
        select="test_error_answer_fits_the_situation",
        must_fail=situations(*API_SITUATIONS),
        middleware=answering(with_code("NOT_FOUND")),
    ),
    Variant(
        name="error-500-on-bad-input",
        description="client mistakes answered 400 by the reference server become 500 UNKNOWN",
        select="test_error_answer_fits_the_situation or test_digest_mismatch_is_digest_invalid",
        must_fail=(*situations("digest-mismatch-on-upload", "malformed-digest-on-upload"),
                   "test_digest_mismatch_is_digest_invalid"),
        middleware=answering(server_error_for_400),
    ),
    Variant(
        name="error-body-on-head-404",
        description="a HEAD answered 404 sends the JSON error body after the headers",
        select="test_head_error_has_no_body",
        must_fail=("test_head_error_has_no_body[blob]", "test_head_error_has_no_body[manifest]"),
        middleware=body_on_head_404,
    ),
]
