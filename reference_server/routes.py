"""Routing by path shape. Repository names contain slashes, so each route is recognised by its
trailing part (``/blobs/<digest>``, ``/manifests/<ref>``, ``/tags/list``, ``/referrers/<digest>``,
``/blobs/uploads/[<uuid>]``) and the name is everything before it; the split is
``registry_harness.paths.parse``, the same one authorization and the client use.

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
| extensions | GET              | /v2/_oci/ext/discover                     | discover |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from reference_server import blobs, catalog, errors, manifests, referrers, tags, uploads
from reference_server.context import CONTEXT_KEY, WRITE_METHODS, RegistryContext, require_name
from registry_harness import paths
from registry_harness.paths import Endpoint, RegistryPath

Handler = Callable[..., Awaitable[web.StreamResponse]]


async def check(request: web.Request, ctx: RegistryContext) -> web.StreamResponse:
    """GET /v2/ : 200 ``{}`` — this is a registry speaking API v2."""
    return web.json_response({})


OCI_EXTENSION = {
    "name": "_oci",
    "description": "extension discovery (the base namespace of OCI extensions)",
    "url": "https://github.com/opencontainers/distribution-spec/blob/main/extensions/_oci.md",
    "endpoints": ["_oci/ext/discover"],
}


async def discover(request: web.Request, ctx: RegistryContext) -> web.StreamResponse:
    """GET /v2/_oci/ext/discover : 200 with the extensions this registry serves (only discovery)."""
    return web.json_response({"extensions": [OCI_EXTENSION]})


ROUTE_KEY = web.RequestKey("registry_route", tuple)  # (method, path, parsed, handler) from shape_middleware

# The handler of each method, per endpoint; the path grammar itself is registry_harness.paths.
ROUTES: dict[Endpoint, dict[str, Handler]] = {
    Endpoint.MANIFEST: {
        "GET": manifests.get_manifest,
        "HEAD": manifests.get_manifest,
        "PUT": manifests.put_manifest,
        "DELETE": manifests.delete_manifest,
    },
    Endpoint.BASE: {"GET": check, "HEAD": check},
    Endpoint.CATALOG: {"GET": catalog.list_repositories},
    Endpoint.DISCOVER: {"GET": discover},
    Endpoint.UPLOAD_START: {"POST": uploads.start_upload},
    Endpoint.UPLOAD: {
        "GET": uploads.upload_status,
        "PATCH": uploads.patch_upload,
        "PUT": uploads.put_upload,
        "DELETE": uploads.cancel_upload,
    },
    Endpoint.BLOB: {
        "GET": blobs.get_blob,
        "HEAD": blobs.get_blob,
        "DELETE": blobs.delete_blob,
    },
    Endpoint.TAGS: {"GET": tags.list_tags},
    Endpoint.REFERRERS: {"GET": referrers.list_referrers},
}


def route(method: str, path: str) -> tuple[RegistryPath, Handler]:
    """The parsed path and the handler for a request; 404 or 405 UNSUPPORTED when none fits."""
    parsed = paths.parse(path)
    if parsed is None:
        raise errors.unsupported({"path": path[:200], "reason": "no such endpoint"}, status=404)
    methods = ROUTES[parsed.endpoint]
    handler = methods.get(method)
    if handler is None:
        allowed = ", ".join(sorted(methods))
        raise errors.unsupported({"method": method, "allowed": allowed}, headers={"Allow": allowed})
    return parsed, handler


def resolve(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """The handler and path parameters for a request (see ``route``)."""
    parsed, handler = route(method, path)
    return handler, parsed.params()


def routed_path(request: web.Request) -> RegistryPath | None:
    """The path ``shape_middleware`` parsed for this request (None outside ``/v2`` or when the
    request was changed since), so later layers judge the very split the router uses."""
    resolved = request.get(ROUTE_KEY)
    if resolved is not None and resolved[0] == request.method and resolved[1] == request.path:
        return resolved[2]
    return None


@web.middleware
async def shape_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Answer unknown endpoints, wrong methods and malformed repository names (404/405/400)
    before any later middleware — authentication included — looks at the request; the route it
    found is kept on the request for ``dispatch``."""
    path = request.path
    if path == "/v2" or path.startswith("/v2/"):
        parsed, handler_for = route(request.method, path)
        if parsed.name:
            require_name(parsed.name)
        request[ROUTE_KEY] = (request.method, path, parsed, handler_for)
    return await handler(request)


async def dispatch(request: web.Request) -> web.StreamResponse:
    """The one aiohttp handler: resolve the route (once), apply the write switches, validate the name."""
    ctx = request.app[CONTEXT_KEY]
    resolved = request.get(ROUTE_KEY)
    if resolved is not None and resolved[0] == request.method and resolved[1] == request.path:
        parsed, handler = resolved[2], resolved[3]
    else:  # no shape_middleware in front, or a middleware passed on a changed request
        parsed, handler = route(request.method, request.path)
        if parsed.name:
            require_name(parsed.name)
    params = parsed.params()
    if ctx.config.read_only and request.method in WRITE_METHODS:
        raise errors.unsupported({"reason": "this registry is read-only"})
    return await handler(request, ctx, **params)
