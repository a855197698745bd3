"""Routing by path shape. Repository names contain slashes, so each route is recognised by its
trailing part (``/blobs/<digest>``, ``/manifests/<ref>``, ``/tags/list``, ``/referrers/<digest>``,
``/blobs/uploads/[<uuid>]``) and the name is everything before it.

| endpoint  | method            | path                                      | handler |
|-----------|-------------------|-------------------------------------------|---------|
| end-1     | GET, HEAD         | /v2/                                      | base.check |
| end-2/10  | GET, HEAD, DELETE | /v2/<name>/blobs/<digest>                 | blobs.get_blob / delete_blob |
| end-3/7/9 | GET, HEAD, PUT, DELETE | /v2/<name>/manifests/<ref>           | manifests.* |
| end-4/11  | POST              | /v2/<name>/blobs/uploads/                 | uploads.start_upload |
| end-5/6/13/14 | PATCH, PUT, GET, DELETE | /v2/<name>/blobs/uploads/<uuid> | uploads.* |
| end-8     | GET               | /v2/<name>/tags/list                      | tags.list_tags |
| end-12    | GET               | /v2/<name>/referrers/<digest>             | referrers.list_referrers |
| catalog   | GET               | /v2/_catalog                              | catalog.list_repositories |
| ext       | GET               | /v2/_oci/ext/discover                     | discover (OCI extensions, MAY) |
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from reference_server import blobs, catalog, errors, manifests, referrers, tags, uploads
from reference_server.context import CONTEXT_KEY, WRITE_METHODS, RegistryContext, require_name

Handler = Callable[..., Awaitable[web.StreamResponse]]


async def check(request: web.Request, ctx: RegistryContext) -> web.StreamResponse:
    """GET /v2/ : 200 ``{}`` — this is a registry speaking API v2."""
    return web.json_response({})


@dataclass(frozen=True)
class Route:
    """One path shape and the handler of each method it accepts; ``marker`` is a substring every
    matching path contains, checked before the regular expression because it is far cheaper."""

    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    marker: str = "/v2"


OCI_EXTENSION = {
    "name": "_oci",
    "description": "extension discovery (the base namespace of OCI extensions)",
    "url": "https://github.com/opencontainers/distribution-spec/blob/main/extensions/_oci.md",
    "endpoints": ["_oci/ext/discover"],
}


async def discover(request: web.Request, ctx: RegistryContext) -> web.StreamResponse:
    """GET /v2/_oci/ext/discover : 200 with the extensions this registry serves (only discovery)."""
    return web.json_response({"extensions": [OCI_EXTENSION]})


ROUTE_KEY = web.RequestKey("registry_route", tuple)  # (method, path, (handler, params)) from shape_middleware

ROUTES: tuple[Route, ...] = (
    # Most frequent first: manifests and blobs are what pulls are made of.
    Route(re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$"), {
        "GET": manifests.get_manifest,
        "HEAD": manifests.get_manifest,
        "PUT": manifests.put_manifest,
        "DELETE": manifests.delete_manifest,
    }, "/manifests/"),
    Route(re.compile(r"^/v2/?$"), {"GET": check, "HEAD": check}),
    Route(re.compile(r"^/v2/_catalog$"), {"GET": catalog.list_repositories}, "/_catalog"),
    Route(re.compile(r"^/v2/_oci/ext/discover$"), {"GET": discover}, "/_oci/"),
    Route(re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/?$"), {"POST": uploads.start_upload}, "/blobs/uploads"),
    Route(re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<uuid>[^/]+)$"), {
        "GET": uploads.upload_status,
        "PATCH": uploads.patch_upload,
        "PUT": uploads.put_upload,
        "DELETE": uploads.cancel_upload,
    }, "/blobs/uploads/"),
    Route(re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$"), {
        "GET": blobs.get_blob,
        "HEAD": blobs.get_blob,
        "DELETE": blobs.delete_blob,
    }, "/blobs/"),
    Route(re.compile(r"^/v2/(?P<name>.+)/tags/list$"), {"GET": tags.list_tags}, "/tags/list"),
    Route(re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)$"), {"GET": referrers.list_referrers},
          "/referrers/"),
)


def resolve(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """The handler and path parameters for a request; 404 or 405 UNSUPPORTED when none fits."""
    for route in ROUTES:
        if route.marker not in path:
            continue
        match = route.pattern.match(path)
        if match is None:
            continue
        handler = route.methods.get(method)
        if handler is None:
            allowed = ", ".join(sorted(route.methods))
            raise errors.unsupported({"method": method, "allowed": allowed}, headers={"Allow": allowed})
        return handler, match.groupdict()
    raise errors.unsupported({"path": path[:200], "reason": "no such endpoint"}, status=404)


@web.middleware
async def shape_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Answer unknown endpoints, wrong methods and malformed repository names (404/405/400)
    before any later middleware — authentication included — looks at the request; the route it
    found is kept on the request for ``dispatch``."""
    path = request.path
    if path == "/v2" or path.startswith("/v2/"):
        route = resolve(request.method, path)
        if "name" in route[1]:
            require_name(route[1]["name"])
        request[ROUTE_KEY] = (request.method, path, route)
    return await handler(request)


async def dispatch(request: web.Request) -> web.StreamResponse:
    """The one aiohttp handler: resolve the route (once), apply the write switches, validate the name."""
    ctx = request.app[CONTEXT_KEY]
    resolved = request.get(ROUTE_KEY)
    if resolved is not None and resolved[0] == request.method and resolved[1] == request.path:
        handler, params = resolved[2]
    else:  # no shape_middleware in front, or a middleware passed on a changed request
        handler, params = resolve(request.method, request.path)
        if "name" in params:
            require_name(params["name"])
    if ctx.config.read_only and request.method in WRITE_METHODS:
        raise errors.unsupported({"reason": "this registry is read-only"})
    return await handler(request, ctx, **params)
