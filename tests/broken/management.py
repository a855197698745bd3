"""Broken deletion: deletes that answer 202 and do nothing, unknown content "deleted" with 202,
and a tags list that keeps showing tags after their manifest is gone (also behind a _catalog entry).
"""

from __future__ import annotations

import json
import re

from aiohttp import web

from reference_server.context import CONTEXT_KEY
from reference_server.errors import RegistryError
from tests.broken import Variant, on_error

MANIFEST_PATH = re.compile(r"^/v2/.+/manifests/[^/]+$")
BLOB_PATH = re.compile(r"^/v2/.+/blobs/[a-z0-9]+:[^/]+$")


def deletes_nothing(path: re.Pattern[str]):
    """DELETE answers 202 Accepted without deleting anything."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.method == "DELETE" and path.match(request.path):
            return web.Response(status=202)
        return await handler(request)

    return middleware


def unknown_deleted_with_202(code: str):
    """DELETE of content that does not exist answers 202 instead of 404 ``code``."""

    @on_error
    def change(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
        return web.Response(status=202) if request.method == "DELETE" and exc.code == code else None

    return change


MANIFEST_REF = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")


def stale_tags_list():
    """The tags list keeps every tag ever pushed, even after the manifest behind it is deleted."""
    pushed: dict[str, set[str]] = {}

    @web.middleware
    async def middleware(request: web.Request, handler):
        response = await handler(request)
        match = MANIFEST_REF.match(request.path)
        if request.method == "PUT" and match and ":" not in match["ref"] and response.status == 201:
            pushed.setdefault(match["name"], set()).add(match["ref"])
        if request.method == "GET" and request.path.endswith("/tags/list") and response.status == 200:
            body = json.loads(response.body)
            body["tags"] = sorted(set(body["tags"]) | pushed.get(body["name"], set()))
            response.body = json.dumps(body).encode()
        return response

    return middleware


def tag_outlives_its_manifest():
    """After DELETE by digest, GET by a tag that named it keeps serving it (a stale tag index)."""
    ghosts: dict[tuple[str, str], object] = {}

    @web.middleware
    async def middleware(request: web.Request, handler):
        match = MANIFEST_REF.match(request.path)
        if match and request.method == "DELETE" and ":" in match["ref"]:
            storage = request.app[CONTEXT_KEY].storage
            record = storage.manifest_get(match["name"], match["ref"])
            for tag in storage.tags(match["name"]) if record else ():
                if storage.tag_get(match["name"], tag) == match["ref"]:
                    ghosts[(match["name"], tag)] = record
        if match and request.method in ("GET", "HEAD") and (match["name"], match["ref"]) in ghosts:
            record = ghosts[(match["name"], match["ref"])]
            return web.Response(body=record.body, content_type=record.media_type,  # type: ignore[attr-defined]
                                headers={"Docker-Content-Digest": record.digest})  # type: ignore[attr-defined]
        return await handler(request)

    return middleware


VARIANTS: list[Variant] = [
    Variant(
        name="delete-manifest-does-nothing",
        description="DELETE of a manifest (by tag or digest) answers 202 but nothing is deleted",
        select="test_delete_tag or test_delete_manifest_by_digest",
        must_fail=("test_delete_tag", "test_delete_manifest_by_digest"),
        middleware=deletes_nothing(MANIFEST_PATH),
    ),
    Variant(
        name="delete-blob-does-nothing",
        description="DELETE of a blob answers 202 but the blob stays",
        select="test_delete_blob",
        must_fail=("test_delete_blob",),
        middleware=deletes_nothing(BLOB_PATH),
    ),
    Variant(
        name="delete-unknown-manifest-202",
        description="DELETE of a manifest that never existed answers 202 instead of 404 MANIFEST_UNKNOWN",
        select="test_delete_unknown_manifest_is_manifest_unknown",
        must_fail=("test_delete_unknown_manifest_is_manifest_unknown",),
        middleware=unknown_deleted_with_202("MANIFEST_UNKNOWN"),
    ),
    Variant(
        name="delete-unknown-blob-202",
        description="DELETE of a blob that never existed answers 202 instead of 404",
        select="test_delete_unknown_blob_is_404",
        must_fail=("test_delete_unknown_blob_is_404",),
        middleware=unknown_deleted_with_202("BLOB_UNKNOWN"),
    ),
    Variant(
        name="stale-tags-after-delete",
        description="the tags list still shows tags whose manifest was deleted",
        select="test_delete_manifest_by_digest or test_delete_tag",
        must_fail=("test_delete_manifest_by_digest", "test_delete_tag"),
        middleware=stale_tags_list(),
    ),
    Variant(
        name="tag-outlives-deleted-manifest",
        description="after DELETE by digest, GET by one of its tags still serves the manifest",
        select="test_delete_manifest_by_digest",
        must_fail=("test_delete_manifest_by_digest",),
        middleware=tag_outlives_its_manifest(),
    ),
    Variant(
        name="catalog-repository-keeps-deleted-tag",
        description="after its last manifest is deleted the repository stays in _catalog, its tags list still "
                    "showing the deleted tag",
        select="test_catalog_after_deleting_the_last_manifest",
        must_fail=("test_catalog_after_deleting_the_last_manifest",),
        middleware=stale_tags_list(),
    ),
]
