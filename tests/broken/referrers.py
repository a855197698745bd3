"""Broken referrers: a descriptor missing, a wrong filter (with or without OCI-Filters-Applied),
404 for a subject nothing refers to, a wrong Content-Type, artifactType not derived from the
config, annotations dropped, pages that repeat a descriptor, a malformed digest answered with an
empty index, deleted referrers that stay listed.
"""

from __future__ import annotations

import json

from aiohttp import web

from reference_server.context import CONTEXT_KEY
from reference_server.errors import RegistryError
from reference_server.manifests import subject_of
from registry_harness import spec
from tests.broken import Variant, on_error, rewrite


def is_referrers(request: web.Request) -> bool:
    return request.method == "GET" and "/referrers/" in request.path


def edit_index(response: web.StreamResponse, change) -> None:
    if isinstance(response, web.Response) and response.status == 200 and response.body:
        index = json.loads(response.body)
        index["manifests"] = change(index["manifests"])
        response.body = json.dumps(index).encode()


def drop_last_descriptor(request, response):
    if "n" not in request.query:
        edit_index(response, lambda manifests: manifests[:-1])


def filtered(claim: bool, invert: bool):
    """Do the artifactType filtering in front of the registry: keep the matching referrers (or,
    with ``invert``, the others) and send OCI-Filters-Applied only when ``claim``."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        wanted = request.query.get("artifactType") if is_referrers(request) else None
        if wanted is None:
            return await handler(request)
        kept = {k: v for k, v in request.query.items() if k != "artifactType"}
        response = await handler(request.clone(rel_url=request.rel_url.with_query(kept)))
        edit_index(response, lambda manifests: [m for m in manifests if (m.get("artifactType") == wanted) != invert])
        response.headers.pop("OCI-Filters-Applied", None)
        if claim:
            response.headers["OCI-Filters-Applied"] = "artifactType"
        return response

    return middleware


def empty_is_404(request, response):
    if response.status == 200 and isinstance(response, web.Response) and response.body:
        if not json.loads(response.body)["manifests"]:
            return web.json_response(
                {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "no referrers", "detail": {}}]}, status=404
            )
    return None


def plain_json_content_type(request, response):
    if response.status == 200:
        response.headers["Content-Type"] = "application/json"


def artifact_type_only_when_declared(request, response):
    """Leave artifactType out where it would come from the config mediaType (no fallback)."""
    edit_index(response, lambda manifests: [
        {k: v for k, v in m.items() if k != "artifactType"} if m.get("artifactType", "").endswith("config.v1+json")
        else m for m in manifests])


def drop_annotations(request, response):
    edit_index(response, lambda manifests: [{k: v for k, v in m.items() if k != "annotations"} for m in manifests])


def repeat_across_pages(request, response):
    """Every page after the first starts again with the descriptor the previous page ended on."""
    last = request.query.get("last")
    if last:
        edit_index(response, lambda manifests: [{**manifests[0], "digest": last}, *manifests] if manifests
                   else manifests)


@on_error
def malformed_digest_empty_index(request: web.Request, exc: RegistryError) -> web.StreamResponse | None:
    """The subject digest is never validated: referrers of ``sha256:not-a-digest`` are an empty index."""
    if is_referrers(request) and exc.code == "DIGEST_INVALID":
        index = {"schemaVersion": 2, "mediaType": spec.OCI_INDEX, "manifests": []}
        return web.Response(body=json.dumps(index).encode(), headers={"Content-Type": spec.OCI_INDEX})


def stale_referrers_index():
    """Deleting a manifest removes it but not its entry in the referrers index of its subject."""
    stale: dict[tuple[str, str], list[dict]] = {}

    @web.middleware
    async def middleware(request: web.Request, handler):
        path = request.path
        if request.method == "DELETE" and "/manifests/" in path:
            name, _, reference = path.removeprefix("/v2/").rpartition("/manifests/")
            storage = request.app[CONTEXT_KEY].storage
            record = storage.manifest_get(name, reference) if ":" in reference else None
            subject = subject_of(record) if record is not None else None
            listed = [d for d in storage.referrers(name, subject) if d["digest"] == reference] if subject else []
            response = await handler(request)
            if listed and response.status == 202:
                stale.setdefault((name, subject), []).extend(listed)
            return response
        if not is_referrers(request):
            return await handler(request)
        response = await handler(request)
        name, _, subject = path.removeprefix("/v2/").rpartition("/referrers/")
        edit_index(response, lambda manifests: manifests + [d for d in stale.get((name, subject), [])
                                                            if d["digest"] not in {m["digest"] for m in manifests}])
        return response

    return middleware


VARIANTS: list[Variant] = [
    Variant(
        name="referrers-missing-descriptor",
        description="the referrers list leaves out one referrer",
        select="test_referrers_list_every_referrer",
        must_fail=("test_referrers_list_every_referrer",),
        middleware=rewrite(is_referrers, drop_last_descriptor),
    ),
    Variant(
        name="referrers-filter-wrong",
        description="?artifactType= answers the non-matching referrers under OCI-Filters-Applied: artifactType",
        select="test_referrers_filter_by_artifact_type",
        must_fail=("test_referrers_filter_by_artifact_type",),
        middleware=filtered(claim=True, invert=True),
    ),
    Variant(
        name="referrers-filter-unannounced",
        description="?artifactType= filters the list but sends no OCI-Filters-Applied header",
        select="test_referrers_filter_by_artifact_type",
        must_fail=("test_referrers_filter_by_artifact_type",),
        middleware=filtered(claim=False, invert=False),
    ),
    Variant(
        name="referrers-unknown-subject-404",
        description="referrers of a digest nothing refers to answer 404 instead of an empty index",
        select="test_referrers_of_unknown_subject_is_empty_index",
        must_fail=("test_referrers_of_unknown_subject_is_empty_index",),
        middleware=rewrite(is_referrers, empty_is_404),
    ),
    Variant(
        name="referrers-wrong-content-type",
        description="the referrers index is served as application/json",
        select="test_referrers_list_every_referrer",
        must_fail=("test_referrers_list_every_referrer",),
        middleware=rewrite(is_referrers, plain_json_content_type),
    ),
    Variant(
        name="referrers-no-config-artifact-type",
        description="a referrer without artifactType is listed without the config mediaType as artifactType",
        select="test_referrers_list_every_referrer",
        must_fail=("test_referrers_list_every_referrer",),
        middleware=rewrite(is_referrers, artifact_type_only_when_declared),
    ),
    Variant(
        name="referrers-annotations-dropped",
        description="referrer descriptors carry no annotations",
        select="test_referrers_list_every_referrer",
        must_fail=("test_referrers_list_every_referrer",),
        middleware=rewrite(is_referrers, drop_annotations),
    ),
    Variant(
        name="referrers-pages-repeat",
        description="each referrers page repeats the descriptor the previous page ended with",
        select="test_referrers_pages_cover_every_referrer_once",
        must_fail=("test_referrers_pages_cover_every_referrer_once",),
        middleware=rewrite(is_referrers, repeat_across_pages),
    ),
    Variant(
        name="referrers-malformed-digest-empty-index",
        description="referrers of a malformed digest answer 200 with an empty index instead of 400",
        select="test_referrers_with_malformed_digest_is_400",
        must_fail=("test_referrers_with_malformed_digest_is_400",),
        middleware=malformed_digest_empty_index,
    ),
    Variant(
        name="referrers-stale-after-delete",
        description="a deleted referrer stays in the referrers list of its subject",
        select="test_deleted_referrer_leaves_the_list",
        must_fail=("test_deleted_referrer_leaves_the_list",),
        middleware=stale_referrers_index(),
    ),
]
