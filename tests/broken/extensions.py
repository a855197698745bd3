"""Broken extension discovery: an ``extensions`` object instead of a list, entries without a url."""

from __future__ import annotations

import json

from aiohttp import web

from tests.broken import Variant, rewrite


def is_discover(request: web.Request) -> bool:
    return request.path == "/v2/_oci/ext/discover"


def extensions_as_object(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.Response) and response.status == 200:
        listed = json.loads(response.body)["extensions"]
        response.body = json.dumps({"extensions": {e["name"]: e for e in listed}}).encode()


def entries_without_url(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.Response) and response.status == 200:
        listed = json.loads(response.body)["extensions"]
        response.body = json.dumps({"extensions": [{k: v for k, v in e.items() if k != "url"}
                                                   for e in listed]}).encode()


VARIANTS: list[Variant] = [
    Variant(
        name="extensions-not-a-list",
        description='extension discovery answers {"extensions": {"_oci": {...}}}, an object, not a list',
        select="test_extensions",
        must_fail=("test_extension_discovery",),
        middleware=rewrite(is_discover, extensions_as_object),
        server_args=("--storage", "memory"),
    ),
    Variant(
        name="extension-without-url",
        description="extension discovery lists an extension without its url",
        select="test_extensions",
        must_fail=("test_extension_discovery",),
        middleware=rewrite(is_discover, entries_without_url),
        server_args=("--storage", "memory"),
    ),
]
