"""Repository catalog (Docker's ``/v2/_catalog``), paginated like the tags list."""

from __future__ import annotations

from aiohttp import web

from reference_server import errors
from reference_server.context import RegistryContext
from reference_server.paging import paginate


async def list_repositories(request: web.Request, ctx: RegistryContext) -> web.StreamResponse:
    """GET /v2/_catalog[?n=&last=] : every repository holding something that the caller may pull,
    in lexical order (under token auth a name the caller cannot pull is not disclosed)."""
    if not ctx.config.catalog_enabled:
        raise errors.unsupported({"reason": "the catalog is disabled on this registry"}, status=404)
    page, headers = paginate(ctx.listable(request, ctx.storage.repositories()), request, "/v2/_catalog")
    return web.json_response({"repositories": page}, headers=headers)
