"""Referrers API (end-12a/b): an OCI image index of the manifests whose ``subject`` is a digest."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from aiohttp import web

from reference_server import errors
from reference_server.context import RegistryContext, require_digest
from reference_server.paging import page_size
from registry_harness.spec import OCI_INDEX


async def list_referrers(request: web.Request, ctx: RegistryContext, name: str, digest: str
                         ) -> web.StreamResponse:
    """GET /v2/<name>/referrers/<digest>[?artifactType=&n=&last=] : 200 with an index (empty when
    nothing refers to the digest); a filter answers ``OCI-Filters-Applied: artifactType``."""
    if not ctx.config.referrers_enabled:
        raise errors.unsupported({"reason": "the referrers API is disabled on this registry"}, status=404)
    digest = require_digest(digest)
    descriptors = ctx.storage.referrers(name, digest)
    headers: dict[str, str] = {}
    artifact_type = request.query.get("artifactType")
    if artifact_type:
        descriptors = [d for d in descriptors if d.get("artifactType") == artifact_type]
        headers["OCI-Filters-Applied"] = "artifactType"
    size = page_size(request)
    limit = ctx.config.referrers_page_size if size is None else min(size, ctx.config.referrers_page_size)
    last = request.query.get("last")
    if last:
        descriptors = [d for d in descriptors if d["digest"] > last]
    page = descriptors[:limit]
    if limit > 0 and len(descriptors) > limit:
        query = {"n": str(limit), "last": page[-1]["digest"]}
        if artifact_type:
            query["artifactType"] = artifact_type
        headers["Link"] = f'</v2/{name}/referrers/{digest}?{urlencode(query)}>; rel="next"'
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": page}
    return web.Response(body=json.dumps(index).encode(), content_type=None,
                        headers={**headers, "Content-Type": OCI_INDEX})
