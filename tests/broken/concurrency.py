"""Broken under parallel clients: overlapping pushes of one blob that lose it, manifest reads by
tag served from a cache that a PUT never refreshes, upload sessions of one repository merged into
one, and deletes that are acknowledged at once but applied later (over a newer push)."""

from __future__ import annotations

import asyncio
import re
import time

from aiohttp import web

from reference_server.context import CONTEXT_KEY
from tests.broken import Variant

_UPLOAD_RE = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<uuid>[^/]+)$")
_BLOB_RE = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[^/]+)$")
_TAG_RE = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]*)$")
STALE_SECONDS = 5.0
LATE_DELETE = 0.3
_PENDING: set[asyncio.Future] = set()  # late unlinks in flight (kept referenced until they run)


def overlapping_pushes_lose_the_blob():
    """Closing PUTs of one digest that overlap corrupt the repository's link of it: from then on,
    each closing PUT of that digest answers 201 and leaves the blob unlinked."""
    in_flight: dict[tuple[str, str], int] = {}
    overlapped: set[tuple[str, str]] = set()

    @web.middleware
    async def middleware(request: web.Request, handler):
        match = _UPLOAD_RE.match(request.path)
        digest = request.query.get("digest")
        if request.method != "PUT" or match is None or not digest:
            return await handler(request)
        key = (match["name"], digest)
        in_flight[key] = in_flight.get(key, 0) + 1
        if in_flight[key] > 1:
            overlapped.add(key)
        try:
            await asyncio.sleep(0.05)  # the window in which the temporary files clash
            response = await handler(request)
        finally:
            in_flight[key] -= 1
        if in_flight[key] == 0 and key in overlapped:
            await request.app[CONTEXT_KEY].storage.unlink_blob(*key)
        return response

    return middleware


def stale_tag_reads():
    """Manifest GET/HEAD by tag come from a cache filled on first read and kept for a few seconds;
    a PUT of the tag does not refresh it."""
    cache: dict[tuple[str, str, str], tuple[float, bytes, dict[str, str], int]] = {}

    @web.middleware
    async def middleware(request: web.Request, handler):
        match = _TAG_RE.match(request.path)
        if request.method not in ("GET", "HEAD") or match is None or match["tag"].startswith("sha"):
            return await handler(request)
        key = (request.method, match["name"], match["tag"])
        hit = cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < STALE_SECONDS:
            return web.Response(status=hit[3], body=hit[1] if request.method == "GET" else None, headers=hit[2])
        response = await handler(request)
        if isinstance(response, web.Response) and response.status == 200:
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            cache[key] = (time.monotonic(), bytes(response.body or b""), headers, response.status)
        return response

    return middleware


def merged_upload_sessions():
    """Every PATCH in a repository lands in the first upload session still open there."""
    first_open: dict[str, str] = {}

    @web.middleware
    async def middleware(request: web.Request, handler):
        match = _UPLOAD_RE.match(request.path)
        if match is None:
            return await handler(request)
        name, uuid = match["name"], match["uuid"]
        if request.method == "PATCH":
            first = first_open.setdefault(name, uuid)
            if first != uuid:
                request = request.clone(rel_url=request.rel_url.with_path(f"/v2/{name}/blobs/uploads/{first}"))
        elif request.method in ("PUT", "DELETE") and first_open.get(name) == uuid:
            del first_open[name]
        return await handler(request)

    return middleware


@web.middleware
async def late_deletes(request: web.Request, handler):
    """A blob DELETE answers 202 at once; the unlink runs a moment later, whatever was pushed since."""
    match = _BLOB_RE.match(request.path)
    if request.method != "DELETE" or match is None:
        return await handler(request)
    storage = request.app[CONTEXT_KEY].storage
    name, digest = match["name"], match["digest"]
    if not storage.repo_has_blob(name, digest):
        return await handler(request)

    async def unlink_later() -> None:
        await asyncio.sleep(LATE_DELETE)
        await storage.unlink_blob(name, digest)
        _PENDING.discard(asyncio.current_task())

    _PENDING.add(asyncio.ensure_future(unlink_later()))
    return web.Response(status=202, headers={"Docker-Content-Digest": digest})


VARIANTS: list[Variant] = [
    Variant(
        name="overlapping-pushes-lose-the-blob",
        description="closing PUTs of one digest that overlap leave the repository without the blob",
        select="test_concurrency and test_same_blob_pushed_at_once",
        must_fail=("test_same_blob_pushed_at_once",),
        middleware=overlapping_pushes_lose_the_blob(),
        server_args=("--storage", "memory"),
    ),
    Variant(
        name="stale-tag-reads",
        description="manifest reads by tag are cached for 5 s and a PUT of the tag does not refresh them",
        select="test_concurrency and test_racing_tag_moves",
        must_fail=("test_racing_tag_moves",),
        middleware=stale_tag_reads(),
        server_args=("--storage", "memory"),
    ),
    Variant(
        name="merged-upload-sessions",
        description="every PATCH of a repository is written into the first upload session open there",
        select="test_concurrency and test_concurrent_sessions_same_digest",
        must_fail=("test_concurrent_sessions_same_digest",),
        middleware=merged_upload_sessions(),
        server_args=("--storage", "memory"),
    ),
    Variant(
        name="late-deletes",
        description="a blob DELETE answers 202 at once and unlinks 0.3 s later, over any newer push",
        select="test_concurrency and test_push_while_deleting",
        must_fail=("test_push_while_deleting",),
        middleware=late_deletes,
        server_args=("--storage", "memory"),
    ),
]
