"""Broken content kinds and referrers: registries that refuse nested or empty indexes, artifact
indexes, the empty descriptor as a layer, an index with a subject or as a subject, the descriptor
``data`` field; that drop ``urls`` or unknown fields; and referrers lists gathered across
repositories, refused for unknown repositories, empty for subjects never pushed, or without indexes.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable

from aiohttp import streams, web

from reference_server import errors
from reference_server.context import CONTEXT_KEY
from registry_harness import spec
from tests.broken import Variant, rewrite
from tests.broken.push_pull import MANIFEST, on

REFERRERS = r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)$"
KNOWN_FIELDS = {"schemaVersion", "mediaType", "artifactType", "config", "layers", "manifests", "subject",
                "annotations"}


def replay(request: web.Request, body: bytes) -> web.Request:
    """A copy of ``request`` whose body (already read here) the handler can read again."""
    reader = streams.StreamReader(request.protocol, 2 ** 16, loop=asyncio.get_running_loop())
    reader.feed_data(body)
    reader.feed_eof()
    clone = request.clone()
    clone._payload = reader  # noqa: SLF001 - aiohttp offers no public way to give a request a new body
    return clone


def refuse_manifests(why: str, refused: Callable[[dict], bool]):
    """Manifest PUTs whose JSON body satisfies ``refused`` are answered 400 MANIFEST_INVALID."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        if not on("PUT", MANIFEST)(request):
            return await handler(request)
        body = await request.read()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and refused(parsed):
            raise errors.manifest_invalid({"reason": why})
        return await handler(replay(request, body))

    return middleware


def descriptors(body: dict) -> list[dict]:
    found = [body.get("config"), body.get("subject"), *(body.get("layers") or []), *(body.get("manifests") or [])]
    return [d for d in found if isinstance(d, dict)]


def served_without(change: Callable[[dict], None]):
    """Manifests are served re-serialised after ``change`` drops what this registry does not keep."""

    def alter(request, response):
        if response.status == 200 and isinstance(response, web.Response) and response.body:
            body = json.loads(response.body)
            change(body)
            response.body = json.dumps(body, separators=(",", ":")).encode()

    return alter


def drop_urls(body: dict) -> None:
    for descriptor in descriptors(body):
        descriptor.pop("urls", None)


def drop_unknown_fields(body: dict) -> None:
    for key in set(body) - KNOWN_FIELDS:
        del body[key]
    for descriptor in descriptors(body):
        for key in set(descriptor) - {"mediaType", "digest", "size", "annotations", "artifactType", "platform",
                                      "urls", "data"}:
            del descriptor[key]


def referrers_answer(change: Callable[[web.Request, str, str], list[dict] | None]):
    """GET referrers answered with the index ``change(request, name, digest)`` lists (None: unchanged)."""
    pattern = re.compile(REFERRERS)

    @web.middleware
    async def middleware(request: web.Request, handler):
        match = pattern.match(request.path)
        if request.method == "GET" and match:
            listed = change(request, match["name"], match["digest"])
            if listed is not None:
                index = {"schemaVersion": 2, "mediaType": spec.OCI_INDEX, "manifests": listed}
                return web.Response(body=json.dumps(index).encode(), headers={"Content-Type": spec.OCI_INDEX})
        return await handler(request)

    return middleware


def across_repositories(request: web.Request, name: str, digest: str) -> list[dict]:
    """Referrers of a digest gathered from every repository that holds one."""
    storage = request.app[CONTEXT_KEY].storage
    found: dict[str, dict] = {}
    for repo in storage.repositories():
        for descriptor in storage.referrers(repo, digest):
            found[descriptor["digest"]] = descriptor
    return [found[d] for d in sorted(found)]


def unknown_repository_404(request: web.Request, name: str, digest: str) -> None:
    if not request.app[CONTEXT_KEY].storage.repo_exists(name):
        raise errors.name_unknown(name)
    return None


def missing_subject_empty(request: web.Request, name: str, digest: str) -> list[dict] | None:
    """Referrers are only looked up for subjects the repository holds."""
    return [] if request.app[CONTEXT_KEY].storage.manifest_get(name, digest) is None else None


def without_indexes(request: web.Request, name: str, digest: str) -> list[dict]:
    return [d for d in request.app[CONTEXT_KEY].storage.referrers(name, digest)
            if d.get("mediaType") not in spec.INDEX_MEDIA_TYPES]


def is_index(body: dict) -> bool:
    return body.get("mediaType") in spec.INDEX_MEDIA_TYPES


ROUND_TRIP = "test_content_round_trip"

VARIANTS: list[Variant] = [
    Variant(
        "nested-index-refused", "an index listing another index is refused (400)",
        select=ROUND_TRIP, must_fail=(f"{ROUND_TRIP}[nested-index]",),
        middleware=refuse_manifests("indexes may list images only", lambda b: is_index(b) and any(
            d.get("mediaType") in spec.INDEX_MEDIA_TYPES for d in b.get("manifests") or [])),
    ),
    Variant(
        "empty-index-refused", "an index without manifests is refused (400)",
        select=ROUND_TRIP, must_fail=(f"{ROUND_TRIP}[empty-index]",),
        middleware=refuse_manifests("an index must list something", lambda b: is_index(b) and not b.get("manifests")),
    ),
    Variant(
        "artifact-index-refused", "an index with artifactType is refused (400)",
        select=ROUND_TRIP, must_fail=(f"{ROUND_TRIP}[artifact-index]",),
        middleware=refuse_manifests("artifactType only on image manifests", lambda b: is_index(b) and
                                    "artifactType" in b),
    ),
    Variant(
        "empty-descriptor-layer-refused", "a manifest whose layer is the empty descriptor is refused (400)",
        select=ROUND_TRIP, must_fail=(f"{ROUND_TRIP}[empty-descriptor-layer]",),
        middleware=refuse_manifests("layers must be layers", lambda b: any(
            d.get("mediaType") == spec.OCI_EMPTY for d in b.get("layers") or [])),
    ),
    Variant(
        "index-subject-refused", "an index carrying a subject is refused (400)",
        select="test_content_round_trip or test_content_referrers",
        must_fail=(f"{ROUND_TRIP}[index-as-referrer]", "test_content_referrers[index-as-referrer]"),
        middleware=refuse_manifests("subject only on image manifests", lambda b: is_index(b) and "subject" in b),
    ),
    Variant(
        "index-as-subject-refused", "a manifest whose subject is an index is refused (400)",
        select="test_content_round_trip or test_content_referrers",
        must_fail=(f"{ROUND_TRIP}[index-as-subject]", "test_content_referrers[index-as-subject]"),
        middleware=refuse_manifests("a subject must be an image", lambda b: isinstance(b.get("subject"), dict) and
                                    b["subject"].get("mediaType") in spec.INDEX_MEDIA_TYPES),
    ),
    Variant(
        "descriptor-data-refused", "a descriptor carrying the data field is refused (400)",
        select=ROUND_TRIP, must_fail=(f"{ROUND_TRIP}[descriptor-data]",),
        middleware=refuse_manifests("unknown descriptor field data",
                                    lambda b: any("data" in d for d in descriptors(b))),
    ),
    Variant(
        "urls-dropped", "non-distributable layers are served without their urls",
        select=ROUND_TRIP, must_fail=(f"{ROUND_TRIP}[non-distributable-layer]",),
        middleware=rewrite(on("GET", MANIFEST), served_without(drop_urls)),
    ),
    Variant(
        "unknown-fields-dropped", "manifests are served without the fields the registry does not know",
        select=ROUND_TRIP, must_fail=(f"{ROUND_TRIP}[custom-fields]",),
        middleware=rewrite(on("GET", MANIFEST), served_without(drop_unknown_fields)),
    ),
    Variant(
        "referrers-across-repositories", "referrers of a digest are gathered from every repository",
        select="test_referrers_are_per_repository", must_fail=("test_referrers_are_per_repository",),
        middleware=referrers_answer(across_repositories),
    ),
    Variant(
        "referrers-unknown-repository-404", "referrers in a repository that does not exist answer 404 NAME_UNKNOWN",
        select="test_referrers_in_unknown_repository_is_empty_index",
        must_fail=("test_referrers_in_unknown_repository_is_empty_index",),
        middleware=referrers_answer(unknown_repository_404),
    ),
    Variant(
        "referrers-need-the-subject", "referrers of a subject the repository lacks are always an empty index",
        select="test_referrers_of_subject_never_pushed", must_fail=("test_referrers_of_subject_never_pushed",),
        middleware=referrers_answer(missing_subject_empty),
    ),
    Variant(
        "referrers-without-indexes", "indexes that name a subject are left out of its referrers",
        select="test_content_referrers", must_fail=("test_content_referrers[index-as-referrer]",),
        middleware=referrers_answer(without_indexes),
    ),
]
