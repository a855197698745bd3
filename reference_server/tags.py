"""Tags list (end-8a/b): ``{"name", "tags"}`` in lexical order, paginated with ``n`` and ``last``."""

from __future__ import annotations

from aiohttp import web

from reference_server import errors
from reference_server.context import RegistryContext
from reference_server.paging import page_size, paginate


async def list_tags(request: web.Request, ctx: RegistryContext, name: str) -> web.StreamResponse:
    """GET /v2/<name>/tags/list[?n=&last=] : 200, or 404 NAME_UNKNOWN for an unknown repository."""
    page_size(request)  # a malformed n is a 400 whether or not the repository exists
    if not ctx.storage.repo_exists(name):
        raise errors.name_unknown(name)
    page, headers = paginate(ctx.storage.tags(name), request, f"/v2/{name}/tags/list")
    return web.json_response({"name": name, "tags": page}, headers=headers)
