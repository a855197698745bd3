"""Broken sha512 support beyond one upload: single POSTs that store nothing, sha512 blobs unreadable
by their digest, deletes and mounts that pretend, sha512 digests accepted unchecked, and sha512
manifests stored but never found by their digest.
"""

from __future__ import annotations

from aiohttp import web

from reference_server import errors
from tests.broken import Variant
from tests.broken.push_pull import (
    BLOB,
    MANIFEST,
    accept_wrong_digest,
    fake_single_post,
    mount_always_201,
    on,
    sha512_blobs_unreadable,
)


@web.middleware
async def sha512_delete_is_noop(request: web.Request, handler):
    """DELETE of a sha512 blob answers 202 and keeps it."""
    match = BLOB.match(request.path)
    if request.method == "DELETE" and match and match["digest"].startswith("sha512:"):
        return web.Response(status=202, headers={"Content-Length": "0"})
    return await handler(request)


@web.middleware
async def sha512_manifests_unfindable(request: web.Request, handler):
    """Manifests PUT by a sha512 digest are accepted (201) but GET/HEAD by that digest answer 404."""
    ref = request.path.rpartition("/")[2]
    if on(("GET", "HEAD"), MANIFEST)(request) and ref.startswith("sha512:"):
        raise errors.manifest_unknown(ref)
    return await handler(request)


def only_sha512(middleware):
    """``middleware`` applied to requests naming a sha512 digest in their query only."""

    @web.middleware
    async def wrapped(request: web.Request, handler):
        if any(value.startswith("sha512:") for value in request.query.values()):
            return await middleware(request, handler)
        return await handler(request)

    return wrapped


VARIANTS: list[Variant] = [
    Variant(
        "sha512-single-post-stores-nothing", "POST ?digest=sha512:… with the blob answers 201 and stores nothing",
        select="test_sha512_blob_upload",
        must_fail=("test_sha512_blob_upload[single]",),
        middleware=only_sha512(fake_single_post),
    ),
    Variant(
        "sha512-blobs-unreadable", "sha512 blobs are accepted but never served by their sha512 digest",
        select="test_sha512_blob_upload or test_sha512_blob_head_and_range or test_sha512_blob_mount",
        must_fail=("test_sha512_blob_upload[monolithic]", "test_sha512_blob_upload[streamed]",
                   "test_sha512_blob_upload[chunked]", "test_sha512_blob_head_and_range", "test_sha512_blob_mount"),
        middleware=sha512_blobs_unreadable,
    ),
    Variant(
        "sha512-mount-pretends", "a mount of a sha512 blob answers 201 without linking it",
        select="test_sha512_blob_mount",
        must_fail=("test_sha512_blob_mount",),
        middleware=only_sha512(mount_always_201),
    ),
    Variant(
        "sha512-delete-is-noop", "DELETE of a sha512 blob answers 202 but keeps it",
        select="test_sha512_blob_delete",
        must_fail=("test_sha512_blob_delete",),
        middleware=sha512_delete_is_noop,
    ),
    Variant(
        "sha512-digest-unchecked", "a closing sha512 digest the content does not match is accepted (201)",
        select="test_sha512_bad_digest or test_sha512_closes_plain_session",
        must_fail=("test_sha512_bad_digest", "test_sha512_closes_plain_session"),
        middleware=only_sha512(accept_wrong_digest),
    ),
    Variant(
        "sha512-manifests-unfindable", "manifests PUT by a sha512 digest are never found by it",
        select="test_sha512_manifest",
        must_fail=("test_sha512_manifest[image]", "test_sha512_manifest[index]"),
        middleware=sha512_manifests_unfindable,
    ),
]
