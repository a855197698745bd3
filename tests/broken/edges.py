"""Broken edges of push, pull and manifests: a zero-byte blob's HEAD without Content-Length, Range
past the end refused or last < first served, a session lost after a 416, a closing PUT that ignores
Content-Range, a declined mount whose session is unusable, name and tag grammars narrower than the
spec's, a chunked manifest PUT refused (411), a malformed manifest digest answered 500, and an index
whose deletion is acknowledged but not done.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web

from reference_server import errors
from reference_server.context import CONTEXT_KEY
from registry_harness import spec
from registry_harness.digests import is_valid_digest
from tests.broken import Variant, rewrite
from tests.broken.push_pull import BLOB, MANIFEST, SESSION, UPLOADS, on, without_header

REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:blobs|manifests|tags)/")
MANIFEST_REF = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
CLOSED_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


def drop_empty_length(request, response):
    """aiohttp's own habit: a HEAD answer with an empty body goes out without Content-Length."""
    if response.headers.get("Content-Length") == "0":
        response.headers.popall("Content-Length", None)


@web.middleware
async def range_past_end_416(request: web.Request, handler):
    """A range whose last byte lies past the end is refused with 416 instead of being cut."""
    match = CLOSED_RANGE.match(request.headers.get("Range", ""))
    response = await handler(request)
    if match and request.method == "GET" and BLOB.match(request.path) and response.status == 206:
        size = int(response.headers.get("Content-Range", "/0").rpartition("/")[2] or 0)
        if int(match[2]) >= size:
            raise errors.range_invalid({"range": match[0]}, headers={"Content-Range": f"bytes */{size}"})
    return response


@web.middleware
async def range_reversed_served(request: web.Request, handler):
    """``bytes=b-a`` with b > a is read as ``bytes=a-b`` and answered 206."""
    match = CLOSED_RANGE.match(request.headers.get("Range", ""))
    if match and request.method == "GET" and BLOB.match(request.path) and int(match[2]) < int(match[1]):
        clone = without_header(request, "Range")
        headers = dict(clone.headers)
        headers["Range"] = f"bytes={match[2]}-{match[1]}"
        request = request.clone(headers=headers)
    return await handler(request)


def session_lost_after_416():
    """A session that answered 416 once is forgotten: everything after is 404 BLOB_UPLOAD_UNKNOWN."""
    lost: set[str] = set()

    @web.middleware
    async def middleware(request: web.Request, handler):
        if SESSION.match(request.path) and request.path in lost:
            await request.read()
            raise errors.blob_upload_unknown(request.path.rpartition("/")[2])
        try:
            return await handler(request)
        except errors.RegistryError as exc:
            if exc.status == 416 and SESSION.match(request.path):
                lost.add(request.path)
            raise

    return middleware


@web.middleware
async def closing_put_ignores_content_range(request: web.Request, handler):
    """The closing PUT appends its chunk wherever the session stands, ignoring Content-Range."""
    if on("PUT", SESSION)(request) and "Content-Range" in request.headers:
        request = without_header(request, "Content-Range")
    return await handler(request)


def declined_mount_session_unusable(request, response):
    """A declined mount (202) names an upload session that does not exist."""
    if response.status == 202 and "Location" in response.headers:
        location = urlsplit(response.headers["Location"])
        head = location.path.rpartition("/")[0]
        response.headers["Location"] = f"{head}/00000000-dead-beef-0000-000000000000"


def refuse_names(why: str, refused: Callable[[str], bool]):
    """Repository names for which ``refused(name)`` holds are answered 400 NAME_INVALID."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        match = REPO_PATH.match(request.path)
        if match and refused(match["name"]):
            await request.read()
            raise errors.name_invalid(match["name"], why)
        return await handler(request)

    return middleware


SINGLE_SEPARATORS = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")


def refuse_tags(why: str, refused: Callable[[str], bool]):
    """Tags for which ``refused(tag)`` holds are answered 400 TAG_INVALID."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        match = MANIFEST_REF.match(request.path)
        if match and not spec.looks_like_digest(match["ref"]) and refused(match["ref"]):
            await request.read()
            raise errors.tag_invalid(match["ref"], why)
        return await handler(request)

    return middleware


@web.middleware
async def chunked_put_411(request: web.Request, handler):
    """A manifest PUT without Content-Length is refused with 411 Length Required."""
    if on("PUT", MANIFEST)(request) and request.content_length is None:
        await request.read()
        return web.Response(status=411, text="Length Required")
    return await handler(request)


@web.middleware
async def malformed_digest_500(request: web.Request, handler):
    """A manifest reference that looks like a digest but is not one crashes the lookup: 500."""
    match = MANIFEST_REF.match(request.path)
    if match and ":" in match["ref"] and not is_valid_digest(match["ref"]):
        await request.read()
        raise errors.unknown_error()
    return await handler(request)


@web.middleware
async def index_delete_is_noop(request: web.Request, handler):
    """DELETE of an index answers 202 and keeps it (and its tags)."""
    match = MANIFEST_REF.match(request.path)
    if request.method == "DELETE" and match and spec.looks_like_digest(match["ref"]):
        record = request.app[CONTEXT_KEY].storage.manifest_get(match["name"], match["ref"])
        if record is not None and record.media_type in spec.INDEX_MEDIA_TYPES:
            return web.Response(status=202, headers={"Content-Length": "0"})
    return await handler(request)


VARIANTS: list[Variant] = [
    Variant(
        "zero-byte-head-without-length", "HEAD of a zero-byte blob has no Content-Length",
        select="test_zero_byte_blob",
        must_fail=("test_zero_byte_blob[sha256]", "test_zero_byte_blob[sha512]"),
        middleware=rewrite(on("HEAD", BLOB), drop_empty_length),
    ),
    Variant(
        "range-past-end-416", "a range ending past the blob is refused with 416 instead of cut at the last byte",
        select="test_blob_range",
        must_fail=("test_blob_range[past-end]",),
        middleware=range_past_end_416,
    ),
    Variant(
        "range-reversed-served", "a range whose last byte precedes its first is served 206 (swapped)",
        select="test_blob_range_unsatisfiable",
        must_fail=("test_blob_range_unsatisfiable[last-before-first]",),
        middleware=range_reversed_served,
    ),
    Variant(
        "session-lost-after-416", "after a 416 the upload session is gone (404 for everything that follows)",
        select="test_upload_usable_after_416 or test_out_of_order_final_chunk_in_closing_put",
        must_fail=("test_upload_usable_after_416", "test_out_of_order_final_chunk_in_closing_put"),
        middleware=session_lost_after_416(),
    ),
    Variant(
        "closing-put-ignores-content-range", "the closing PUT appends its chunk whatever its Content-Range says",
        select="test_out_of_order_final_chunk_in_closing_put",
        must_fail=("test_out_of_order_final_chunk_in_closing_put",),
        middleware=closing_put_ignores_content_range,
    ),
    Variant(
        "declined-mount-session-unusable", "a declined mount answers 202 with the Location of no session",
        select="test_mount_of_missing_blob",
        must_fail=("test_mount_of_missing_blob",),
        middleware=rewrite(on("POST", UPLOADS, "mount"), declined_mount_session_unusable),
    ),
    Variant(
        "names-single-separators", "the old name grammar: one separator between components ('__' and '--' refused)",
        select="test_repository_name_edges_are_accepted",
        must_fail=("test_repository_name_edges_are_accepted[double-underscore]",
                   "test_repository_name_edges_are_accepted[dashes]"),
        middleware=refuse_names("one separator at a time", lambda name: not SINGLE_SEPARATORS.match(name)),
    ),
    Variant(
        "names-without-dots", "repository names with '.' are refused",
        select="test_repository_name_edges_are_accepted",
        must_fail=("test_repository_name_edges_are_accepted[dot]",),
        middleware=refuse_names("no dots", lambda name: "." in name),
    ),
    Variant(
        "names-without-underscores", "repository names with '_' are refused",
        select="test_repository_name_edges_are_accepted",
        must_fail=("test_repository_name_edges_are_accepted[underscore]",
                   "test_repository_name_edges_are_accepted[double-underscore]"),
        middleware=refuse_names("no underscores", lambda name: "_" in name),
    ),
    Variant(
        "names-end-without-dash", "a component after the third may not contain '-'",
        select="test_repository_name_edges_are_accepted",
        must_fail=("test_repository_name_edges_are_accepted[dash]", "test_repository_name_edges_are_accepted[dashes]"),
        middleware=refuse_names("no dash in deep components", lambda name: "-" in "/".join(name.split("/")[3:])),
    ),
    Variant(
        "names-at-most-five-components", "names of more than five components are refused",
        select="test_repository_name_edges_are_accepted",
        must_fail=("test_repository_name_edges_are_accepted[components]",),
        middleware=refuse_names("at most five components", lambda name: name.count("/") >= 5),
    ),
    Variant(
        "tags-at-most-127", "tags of 128 characters are refused (an off-by-one in the length limit)",
        select="test_valid_tag_edges_are_accepted",
        must_fail=("test_valid_tag_edges_are_accepted[128-chars]",),
        middleware=refuse_tags("at most 127 characters", lambda tag: len(tag) >= 128),
    ),
    Variant(
        "tags-without-leading-underscore", "tags starting with '_' are refused",
        select="test_valid_tag_edges_are_accepted",
        must_fail=("test_valid_tag_edges_are_accepted[separators]",),
        middleware=refuse_tags("no leading underscore", lambda tag: tag.startswith("_")),
    ),
    Variant(
        "chunked-manifest-put-411", "a manifest PUT with Transfer-Encoding: chunked is refused (411)",
        select="test_manifest_put_chunked_transfer",
        must_fail=("test_manifest_put_chunked_transfer",),
        middleware=chunked_put_411,
    ),
    Variant(
        "malformed-manifest-digest-500", "manifests/sha256:not-a-digest answers 500 (as Distribution 2.8.2 does)",
        select="test_malformed_digest_reference",
        must_fail=("test_malformed_digest_reference[GET]", "test_malformed_digest_reference[HEAD]",
                   "test_malformed_digest_reference[PUT]", "test_malformed_digest_reference[DELETE]"),
        middleware=malformed_digest_500,
    ),
    Variant(
        "index-delete-is-noop", "DELETE of an index answers 202 but the index stays",
        select="test_delete_index_then_children",
        must_fail=("test_delete_index_then_children",),
        middleware=index_delete_is_noop,
    ),
]
