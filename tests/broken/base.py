"""Broken base endpoint: ``GET /v2/`` without ``Docker-Distribution-API-Version``.

The reference app adds that header in its response-prepare hook, after every middleware has
run, so the variant answers ``/v2/`` with a response that takes the header off again just
before its head is written (what a reverse proxy that does not pass the header on looks like).
"""

from __future__ import annotations

from aiohttp import web

from registry_harness.spec import API_VERSION_HEADER
from tests.broken import Variant


class HeaderDroppingResponse(web.Response):
    """A response whose head is written without ``API_VERSION_HEADER``, whatever hooks added it."""

    async def _write_headers(self) -> None:
        self.headers.popall(API_VERSION_HEADER, None)
        await super()._write_headers()


@web.middleware
async def version_header_dropped(request: web.Request, handler):
    """Answer ``GET /v2/`` as the registry does, minus the API version header."""
    response = await handler(request)
    if request.path in ("/v2", "/v2/") and isinstance(response, web.Response):
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return HeaderDroppingResponse(status=response.status, body=response.body, headers=headers)
    return response


VARIANTS: list[Variant] = [
    Variant(
        name="api-version-header-missing",
        description="GET /v2/ answers 200 without Docker-Distribution-API-Version (a proxy that drops it)",
        select="test_base and test_api_version_header",
        must_fail=("test_api_version_header",),
        middleware=version_header_dropped,
        strict=True,
    ),
]
