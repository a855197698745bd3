"""Broken seed flows: the registry gets the seed document's story wrong.

A schema1 conversion whose reported digest can be deleted (202) or is not the JWS payload's, a
delete that answers 202 but keeps the manifest, a catalog that forgets the repository, a tags
list in another shape, and a manifest PUT that reports a digest other than the pushed bytes'.
"""

from __future__ import annotations

import hashlib
import json
import re

from aiohttp import web

from registry_harness import spec
from tests.broken import Variant, rewrite

MANIFEST = re.compile(r"^/v2/.+/manifests/[^/]+$")
MANIFEST_BY_DIGEST = re.compile(r"^/v2/.+/manifests/sha256:[0-9a-f]{64}$")
SCHEMA1 = ("--schema1-compat",)


def is_manifest(method: str, pattern: re.Pattern[str] = MANIFEST):
    return lambda request: request.method == method and bool(pattern.match(request.path))


@web.middleware
async def delete_anything(request: web.Request, handler):
    """DELETE by any digest answers 202, held or not (the seed's reported schema1 digest included)."""
    try:
        return await handler(request)
    except Exception as exc:  # the reference server raises its spec errors
        if is_manifest("DELETE", MANIFEST_BY_DIGEST)(request) and getattr(exc, "status", None) == 404:
            return web.Response(status=202)
        raise


@web.middleware
async def delete_keeps_manifest(request: web.Request, handler):
    """DELETE by digest answers 202 and deletes nothing."""
    if is_manifest("DELETE", MANIFEST_BY_DIGEST)(request):
        return web.Response(status=202)
    return await handler(request)


def schema1_digest_of_whole_document(request, response):
    """A schema1 answer reports the hash of the whole signed document, not of its JWS payload."""
    if response.status == 200 and response.headers.get("Content-Type", "").startswith(spec.DOCKER_MANIFEST_V1_SIGNED):
        if isinstance(response, web.Response) and response.body:
            response.headers["Docker-Content-Digest"] = "sha256:" + hashlib.sha256(bytes(response.body)).hexdigest()


def catalog_forgets(request, response):
    if response.status == 200 and isinstance(response, web.Response):
        response.body = json.dumps({"repositories": []}).encode()


def tags_list_renamed(request, response):
    """Tags list as {"repository": ..., "tags": [...]}: the seed's "name" member is missing."""
    if response.status == 200 and isinstance(response, web.Response) and response.body:
        body = json.loads(bytes(response.body))
        response.body = json.dumps({"repository": body.get("name"), "tags": body.get("tags")}).encode()


def put_reports_other_digest(request, response):
    if response.status == 201:
        response.headers["Docker-Content-Digest"] = "sha256:" + "1" * 64


VARIANTS: list[Variant] = [
    Variant(
        "schema1-reported-digest-deletable", "with schema1 conversion on, DELETE by the digest the converted "
        "answer reported (never stored) answers 202 instead of 404 MANIFEST_UNKNOWN",
        select="test_seed_delete_by_reported_digest_is_404",
        must_fail=("test_seed_delete_by_reported_digest_is_404",),
        middleware=delete_anything,
        server_args=SCHEMA1,
    ),
    Variant(
        "unheld-digest-deletable", "DELETE by a digest the registry never stored answers 202",
        select="test_seed_delete_by_reported_digest_is_404",
        must_fail=("test_seed_delete_by_reported_digest_is_404",),
        middleware=delete_anything,
    ),
    Variant(
        "schema1-digest-of-whole-document", "the converted schema1 answer reports the hash of the signed "
        "document instead of its JWS payload's",
        select="test_seed_manifest_get_like_httpie",
        must_fail=("test_seed_manifest_get_like_httpie",),
        middleware=rewrite(is_manifest("GET"), schema1_digest_of_whole_document),
        server_args=SCHEMA1,
    ),
    Variant(
        "delete-keeps-manifest", "DELETE by the stored digest answers 202 but the manifest stays",
        select="test_seed_delete_by_stored_digest_is_202",
        must_fail=("test_seed_delete_by_stored_digest_is_202",),
        middleware=delete_keeps_manifest,
    ),
    Variant(
        "catalog-forgets-repository", "_catalog answers 200 without the pushed repository",
        select="test_seed_catalog_lists_repository",
        must_fail=("test_seed_catalog_lists_repository",),
        middleware=rewrite(lambda r: r.path == "/v2/_catalog", catalog_forgets),
    ),
    Variant(
        "tags-list-without-name", "the tags list lacks the seed's \"name\" member",
        select="test_seed_tags_list_shows_tag",
        must_fail=("test_seed_tags_list_shows_tag",),
        middleware=rewrite(lambda r: r.path.endswith("/tags/list"), tags_list_renamed),
    ),
    Variant(
        "manifest-put-wrong-digest", "the manifest PUT answers 201 with a Docker-Content-Digest of other content",
        select="test_seed_docker_push",
        must_fail=("test_seed_docker_push",),
        middleware=rewrite(is_manifest("PUT"), put_reports_other_digest),
    ),
]
